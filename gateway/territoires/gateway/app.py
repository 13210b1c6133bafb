"""The gateway's ASGI app: `uvicorn --factory territoires.gateway.app:create_app`."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.middleware.cors import CORSMiddleware

from territoires.gateway.aggregate import ServiceDocuments
from territoires.gateway.keys import KeyCache
from territoires.gateway.landing import landing_router
from territoires.gateway.metrics import GatewayMetrics
from territoires.gateway.middleware import GatewayMiddleware
from territoires.gateway.proxy import Upstream, proxy_router
from territoires.gateway.ratelimit import RateLimiter
from territoires.shared.health import Check
from territoires.shared.service import create_service_app
from territoires.shared.settings import SERVICE_NAMES, Settings, settings_or_exit

UPSTREAM_KEEPALIVE_S = 4.0


def upstream_check(client: httpx.AsyncClient, url: str) -> Check:
    """A service counts as up when its own `/readyz` answers 200."""

    async def check() -> None:
        response = await client.get(f"{url}/readyz")
        if response.status_code != 200:
            detail = response.json().get("detail") if response.content else None
            raise RuntimeError(detail or f"{url}/readyz answered {response.status_code}")

    return check


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or settings_or_exit()
    client = httpx.AsyncClient(timeout=settings.readiness_timeout_s)
    # One pool for proxied traffic; each route sets its own timeout. The keep-alive is far
    # below the services' (KEEP_ALIVE_S): an idle connection is dropped here before the service
    # closes it, else a request sent on it as it closes fails.
    upstream = Upstream(max_connections=512, keepalive_s=UPSTREAM_KEEPALIVE_S)

    async def close_clients() -> None:
        await client.aclose()
        await upstream.aclose()

    services = {name: upstream_check(client, settings.service_url(name)) for name in SERVICE_NAMES}
    app = create_service_app(
        "gateway",
        title="Territoires",
        description="One OGC API front door to the catalog, compute and tiles services.",
        settings=settings,
        informational_checks=services,
        on_shutdown=close_clients,
        openapi_url=None,  # /api is the merged document of every service (landing.py)
    )
    resources = app.state.resources
    metrics = GatewayMetrics(settings.metrics_refresh_s, settings.readiness_timeout_s)
    app.include_router(landing_router(services, ServiceDocuments(client, settings.services)))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body = await metrics.render(resources.engine, resources.redis, settings.queue_name)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(
        proxy_router(
            upstream,
            settings.services,
            lambda service, kind: metrics.upstream_errors.labels(service, kind).inc(),
        )
    )
    app.add_middleware(
        GatewayMiddleware,
        settings=settings,
        limiter=RateLimiter(resources.redis, settings.redis_prefix),
        keys=KeyCache(resources.engine, settings.api_key_pepper.get_secret_value()),
        metrics=metrics,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
                "Retry-After",
                "Location",
            ],
            max_age=600,
        )
    return app
