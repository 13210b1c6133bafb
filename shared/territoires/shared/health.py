"""Liveness and readiness: `/healthz` = the process answers, `/readyz` = its dependencies do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import JSONResponse

from territoires.shared.errors import PROBLEM_JSON
from territoires.shared.storage import S3Storage, Storage

Check = Callable[[], Awaitable[Any]]


def database_check(engine: AsyncEngine) -> Check:
    async def check() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return check


def redis_check(redis: Redis) -> Check:
    async def check() -> None:
        await redis.ping()

    return check


def storage_checks(storage: Storage) -> dict[str, Check]:
    """The bucket results go to, when they go to one: a store that is down or a bucket that is
    missing makes the service not ready, rather than failing every job or tile."""
    if not isinstance(storage, S3Storage):
        return {}

    async def check() -> None:
        await asyncio.to_thread(storage.client.head_bucket, Bucket=storage.bucket)

    return {"storage": check}


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    message = str(getattr(error, "orig", None) or error).strip().splitlines()
    return message[0][:300] if message else type(error).__name__


async def run_checks(checks: Mapping[str, Check], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Runs every check concurrently, each bounded by `timeout_s`; never raises."""

    async def one(check: Check) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            detail = await asyncio.wait_for(check(), timeout_s)
        except Exception as error:
            return {"status": "error", "error": _reason(error)}
        result: dict[str, Any] = {
            "status": "ok",
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if isinstance(detail, dict):
            result.update(detail)
        return result

    results = await asyncio.gather(*(one(c) for c in checks.values()))
    return dict(zip(checks, results, strict=True))


def health_router(
    service: str,
    checks: Mapping[str, Check],
    timeout_s: float,
    informational: Mapping[str, Check] | None = None,
) -> APIRouter:
    """`checks` must pass for the service to be ready; `informational` ones are only reported
    (the gateway stays ready when one upstream is down, so the others remain reachable)."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="Readiness: the database, Redis (and the S3 store) answer",
        responses={503: {"description": "A dependency is down"}},
    )
    async def readyz() -> JSONResponse:
        results = await run_checks({**checks, **(informational or {})}, timeout_s)
        failing = [name for name in checks if results[name]["status"] != "ok"]
        degraded = [name for name in informational or {} if results[name]["status"] != "ok"]
        body: dict[str, Any] = {
            "status": "degraded" if degraded else "ok",
            "service": service,
            "checks": results,
        }
        if not failing:
            return JSONResponse(body)
        body.update(
            status=503,
            type="about:blank",
            title="Service Unavailable",
            detail=f"{service} is not ready: {', '.join(failing)} unreachable",
        )
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)

    return router
