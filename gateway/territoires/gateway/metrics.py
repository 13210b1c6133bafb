"""Prometheus metrics of the gateway: its traffic, its upstreams, and the job queue.

`/metrics` is public (a Prometheus in another pod scrapes it), so the queue and job gauges are
read at most once per `metrics_refresh_s`, by one request at a time, and otherwise served as
last read: scraping it in a loop costs the database and Redis nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from territoires.shared.models import Job, JobStatus


class GatewayMetrics:
    """One registry per app, so that several apps in one process (tests) do not collide."""

    def __init__(self, refresh_s: float, timeout_s: float) -> None:
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self._refreshed_at = -float("inf")
        self._refreshing = asyncio.Lock()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "territoires_http_requests",
            "Requests answered by the gateway",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "territoires_http_request_duration_seconds",
            "Time to the response's first byte",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "territoires_upstream_errors",
            "Requests a service could not answer (unavailable or timed out)",
            ["service", "kind"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "territoires_rate_limited",
            "Requests refused by a rate limit",
            ["route_class"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "territoires_queue_depth", "Jobs waiting in the arq queue", registry=self.registry
        )
        self.jobs = Gauge("territoires_jobs", "Jobs by state", ["status"], registry=self.registry)

    async def render(self, engine: AsyncEngine, redis: Redis, queue: str) -> bytes:
        """The exposition text; queue and job gauges as last read (skipped when unreachable)."""
        due = time.monotonic() - self._refreshed_at >= self.refresh_s
        if due and not self._refreshing.locked():
            async with self._refreshing:
                self._refreshed_at = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._read_gauges(engine, redis, queue), self.timeout_s)
        return generate_latest(self.registry)

    async def _read_gauges(self, engine: AsyncEngine, redis: Redis, queue: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            self.queue_depth.set(await redis.zcard(queue))
        try:
            async with engine.connect() as connection:
                counts = dict(
                    (
                        await connection.execute(
                            select(Job.status, func.count()).group_by(Job.status)
                        )
                    ).all()
                )
            for status in JobStatus:
                self.jobs.labels(status.value).set(counts.get(status, 0))
        except (SQLAlchemyError, OSError):
            pass
