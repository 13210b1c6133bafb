"""Prometheus metrics of the gateway: its traffic, its upstreams, and the job queue."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from territoires.shared.models import Job, JobStatus


class GatewayMetrics:
    """One registry per app, so that several apps in one process (tests) do not collide."""

    def __init__(self) -> None:
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
        """The exposition text, with queue and job gauges read now (skipped when unreachable)."""
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
        return generate_latest(self.registry)
