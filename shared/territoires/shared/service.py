"""The frame every service shares: settings, database, Redis, health routes, Problem Details."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from territoires.shared import __version__
from territoires.shared.database import create_async_database
from territoires.shared.errors import add_exception_handlers
from territoires.shared.health import Check, database_check, health_router, redis_check
from territoires.shared.logs import configure_logging
from territoires.shared.plugins import load_plugins
from territoires.shared.public_url import ForwardedHeadersMiddleware
from territoires.shared.request_limits import RequestLimitsMiddleware
from territoires.shared.settings import Settings, settings_or_exit

# How long a service's uvicorn keeps an idle connection. Far above the gateway's pool expiry
# (UPSTREAM_KEEPALIVE_S, 4 s): the gateway drops an idle connection long before the service
# would close it, even when its event loop lags by seconds under load; at uvicorn's default 5 s
# a request sent on a connection the service was closing failed as a 503.
KEEP_ALIVE_S = 75


@dataclass
class Resources:
    """Connections a service opens once at start-up and closes at shutdown."""

    settings: Settings
    engine: AsyncEngine
    redis: Redis


def create_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.require_redis_url(),
        socket_connect_timeout=settings.readiness_timeout_s,
        socket_timeout=settings.readiness_timeout_s,
    )


def create_service_app(
    name: str,
    title: str,
    description: str,
    settings: Settings | None = None,
    checks: Mapping[str, Check] | None = None,
    informational_checks: Mapping[str, Check] | None = None,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    openapi_url: str | None = "/api",
) -> FastAPI:
    """A FastAPI app with the platform's lifespan, `/healthz`, `/readyz` and error handling.

    Connections open lazily, so a service starts (and answers 503 on `/readyz`) while the
    database or Redis is down, and recovers when they come back. `checks` are the service's
    own dependencies besides those two (the S3 store).
    """
    settings = settings or settings_or_exit()
    configure_logging(settings)
    load_plugins(settings)
    resources = Resources(settings, create_async_database(settings), create_redis(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if on_startup:
            await on_startup()
        yield
        if on_shutdown:
            await on_shutdown()
        await resources.redis.aclose()
        await resources.engine.dispose()

    app = FastAPI(
        title=title,
        description=description,
        version=__version__,
        lifespan=lifespan,
        openapi_url=openapi_url,
        docs_url="/api.html" if openapi_url else None,
        redoc_url=None,
    )
    app.state.resources = resources
    app.add_middleware(ForwardedHeadersMiddleware, settings=settings)
    app.add_middleware(
        RequestLimitsMiddleware,
        max_bytes=settings.max_request_body_bytes,
        max_depth=settings.max_json_depth,
    )
    required = {
        "database": database_check(resources.engine),
        "redis": redis_check(resources.redis),
        **(checks or {}),
    }
    app.include_router(
        health_router(name, required, settings.readiness_timeout_s, informational_checks)
    )
    add_exception_handlers(app)
    return app


def resources_of(request: Request) -> Resources:
    """FastAPI dependency: the connections of the app serving `request`."""
    return request.app.state.resources
