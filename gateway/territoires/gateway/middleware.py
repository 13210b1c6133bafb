"""The gateway's request pipeline as one ASGI middleware: request ids, rate limits, metrics, logs.

Limits count per partner key, else per client address: the TCP peer, or the address a trusted
proxy forwarded (public_url.client_address). A presented key the gateway has not verified lately
is first checked against its address's failed-key budget, so guessing keys is limited too.

Pure ASGI rather than BaseHTTPMiddleware, so that streamed responses pass through untouched.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from territoires.gateway.keys import KeyCache
from territoires.gateway.metrics import GatewayMetrics
from territoires.gateway.proxy import REQUEST_ID, ROUTES
from territoires.gateway.ratelimit import Decision, RateLimiter
from territoires.shared.errors import UnauthorizedError, problem
from territoires.shared.public_url import TrustedProxies, client_address
from territoires.shared.settings import Settings

log = structlog.get_logger("territoires.gateway.access")

TILE_SERVICES = frozenset({"tiles"})
# A response sent instead of the request's.
Responder = Callable[[Scope, Receive, Send], Awaitable[None]]


def route_of(path: str) -> tuple[str, str | None]:
    """(metrics label, rate-limit class) of a path; own routes (health, landing) are unlimited."""
    for route in ROUTES:
        if path == route.prefix or path.startswith(f"{route.prefix}/"):
            return route.prefix, "tiles" if route.service in TILE_SERVICES else "api"
    return (path if path in ("/", "/api", "/conformance", "/metrics") else "other"), None


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        limiter: RateLimiter,
        keys: KeyCache,
        metrics: GatewayMetrics,
    ) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.keys = keys
        self.metrics = metrics
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.failed_key_limit = settings.rate_limit_failed_keys_per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        request_id = headers.get(REQUEST_ID) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        label, route_class = route_of(scope["path"])
        client = client_address(scope, self.trusted)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        try:
            decision, refusal = await self._admit(headers, client, route_class)
            extra = {REQUEST_ID: request_id, **(decision.headers() if decision else {})}

            async def send_with_headers(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    response_headers = MutableHeaders(scope=message)
                    for name, value in extra.items():
                        response_headers[name] = value
                    self.metrics.latency.labels(label).observe(time.perf_counter() - started)
                await send(message)

            if refusal is not None:
                await refusal(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self.metrics.requests.labels(label, scope["method"], str(status)).inc()
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                client=client,
            )
            structlog.contextvars.unbind_contextvars("request_id")

    async def _admit(
        self, headers: Headers, client: str, route_class: str | None
    ) -> tuple[Decision | None, Responder | None]:
        """The rate-limit decision, and a response to send instead of the request's, if any."""
        if route_class is None:
            return None, None
        presented = headers.get(self.settings.api_key_header)
        if presented:
            name = self.keys.known(presented)
            if name is None:
                failed_keys = f"failed-key:ip:{client}"
                failures = await self.limiter.peek(failed_keys, self.failed_key_limit)
                if not failures.allowed:
                    self.metrics.rate_limited.labels("failed-key").inc()
                    return failures, problem(
                        429,
                        f"more than {self.failed_key_limit} invalid API keys a minute from this "
                        f"address; retry in {failures.reset_s} s",
                    )
                try:
                    name = await self.keys.name_of(presented)
                except UnauthorizedError as error:
                    await self.limiter.check(failed_keys, self.failed_key_limit)
                    return None, problem(401, str(error))
            bucket = f"key:{name}"
            limit = self.settings.rate_limit_key_per_minute
        else:
            bucket = f"ip:{client}"
            limit = self.settings.rate_limit_per_minute
        if route_class == "tiles":
            limit = self.settings.rate_limit_tiles_per_minute
        decision = await self.limiter.check(f"{route_class}:{bucket}", limit)
        if decision.allowed:
            return decision, None
        self.metrics.rate_limited.labels(route_class).inc()
        return decision, problem(
            429, f"rate limit of {limit} requests a minute reached; retry in {decision.reset_s} s"
        )
