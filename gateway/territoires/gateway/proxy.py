"""A streaming reverse proxy: public path prefixes to the services behind the gateway.

The hop to the services is aiohttp's: its C parser and connection pool cost about half the
CPU httpx's did on a proxied tile, and the gateway's CPU is taken from the services it shares
a node with (bench/tiles.py, "CPU ms/tile" of target (c)).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from yarl import URL

from territoires.shared.errors import BadRequestError, problem
from territoires.shared.public_url import FORWARDING

# Headers that describe one hop, not the message: never forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Content-Length is kept: the body is relayed as the service sent it (raw bytes), and clients
# reading files in ranges (GDAL's /vsicurl/, QGIS) learn a file's size from it.
# Headers the gateway's own server sets on every response; the service's copies would repeat them.
OWN_HEADERS = frozenset({"date", "server"})
REQUEST_ID = "x-request-id"
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a client that left before the answer
# Request headers the gateway sets itself, whatever the client sent.
NOT_PASSED_ON = HOP_BY_HOP | {name.decode() for name in FORWARDING} | {REQUEST_ID}


class Upstream:
    """The pooled connections to the services, opened in the serving event loop on first use."""

    def __init__(self, max_connections: int, keepalive_s: float) -> None:
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.max_connections, keepalive_timeout=self.keepalive_s
                ),
                # The body is relayed as the service sent it, compressed or not.
                auto_decompress=False,
                # Only the client's headers go on: no default User-Agent, Accept or encoding.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    timeout_s: float


ROUTES = (
    Route("/stac", "catalog", 30.0),
    Route("/features", "catalog", 30.0),
    Route("/territories", "catalog", 10.0),
    Route("/processes", "compute", 120.0),
    Route("/jobs", "compute", 30.0),
    Route("/tiles", "tiles", 30.0),
    Route("/assets", "tiles", 300.0),
    Route("/map", "tiles", 10.0),
    Route("/embed", "tiles", 10.0),
    Route("/accessibilite", "tiles", 10.0),
    Route("/communes", "tiles", 30.0),
    Route("/epci", "tiles", 30.0),
    Route("/departements", "tiles", 30.0),
    Route("/regions", "tiles", 30.0),
)


def _has_body(request: Request) -> bool:
    return "content-length" in request.headers or "transfer-encoding" in request.headers


def _forwarded_headers(request: Request, request_id: str) -> list[tuple[str, str]]:
    """The request's headers for the service, with the gateway's own forwarding headers.

    The client's forwarding headers never pass: ForwardedHeadersMiddleware has already applied
    those of a trusted proxy (or the public URL) to the request, whose scheme, Host, root path
    and client are now the public ones, and these are what the service is told.
    """
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in NOT_PASSED_ON]
    headers += [
        ("x-forwarded-for", request.client.host if request.client else ""),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-host", request.headers.get("host", "")),
        (REQUEST_ID, request_id),
    ]
    root_path = request.scope.get("root_path", "").rstrip("/")
    if root_path:
        headers.append(("x-forwarded-prefix", root_path))
    return headers


def _route_path(request: Request) -> str:
    """The path below the public prefix, percent-encoded as the client sent it: the same at the
    service as at the gateway."""
    root_path = request.scope.get("root_path", "").rstrip("/")
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else quote(request.url.path)
    return path.removeprefix(quote(root_path)) if root_path else path


async def _relayed(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The service's body as it comes; a body cut short (the service stalled past the route's
    timeout, or left) drops its connection rather than handing it back to the pool."""
    try:
        async for chunk in response.content.iter_any():
            yield chunk
    except BaseException:
        response.close()
        raise


async def _release(response: aiohttp.ClientResponse) -> None:
    """Hands the connection back to the pool; a coroutine, since Starlette runs a plain function
    given as a background task in a worker thread (a thread hop per request)."""
    response.release()


def proxy_router(
    upstream: Upstream,
    services: Mapping[str, str],
    on_upstream_error: Callable[[str, str], None],
) -> APIRouter:
    """Routes for every prefix of ROUTES, forwarding method, path, query and body as streams.

    `on_upstream_error(service, kind)` hears of every request a service could not answer.
    """
    router = APIRouter()

    def forwarder(route: Route):
        # The route's timeout bounds connecting and each wait for the service's bytes.
        timeout = aiohttp.ClientTimeout(sock_connect=route.timeout_s, sock_read=route.timeout_s)

        async def forward(request: Request, path: str = "") -> Response:
            request_id = request.state.request_id  # set by the gateway middleware
            query = request.scope["query_string"].decode("latin-1")
            try:
                target = URL(
                    f"{services[route.service]}{_route_path(request)}"
                    + (f"?{query}" if query else ""),
                    encoded=True,
                )
            except ValueError:
                raise BadRequestError(
                    "the request's path or query holds characters no URL may hold"
                ) from None
            try:
                response = await upstream.session.request(
                    request.method,
                    target,
                    headers=_forwarded_headers(request, request_id),
                    data=request.stream() if _has_body(request) else None,
                    timeout=timeout,
                    allow_redirects=False,
                )
            except aiohttp.InvalidURL:
                raise BadRequestError(
                    "the request's path or query holds characters no URL may hold"
                ) from None
            except ClientDisconnect:
                # Gone while its body was passed on: nobody to answer, nothing to log as ours.
                return Response(status_code=CLIENT_CLOSED_REQUEST)
            except (TimeoutError, aiohttp.ServerTimeoutError):
                on_upstream_error(route.service, "timeout")
                return problem(
                    504,
                    f"the {route.service} service did not answer in {route.timeout_s:.0f} s",
                    request_id=request_id,
                )
            except aiohttp.ClientError:
                on_upstream_error(route.service, "unavailable")
                return problem(
                    503,
                    f"the {route.service} service is unavailable; retry shortly",
                    request_id=request_id,
                )
            streamed = StreamingResponse(
                _relayed(response),
                status_code=response.status,
                background=BackgroundTask(_release, response),
            )
            # Raw pairs keep repeated headers (Link, Set-Cookie) as the service sent them.
            streamed.raw_headers = [
                (k, v)
                for k, v in response.raw_headers
                if k.decode("latin-1").lower() not in HOP_BY_HOP | OWN_HEADERS
            ] + [(REQUEST_ID.encode(), request_id.encode())]
            return streamed

        return forward

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    for route in ROUTES:
        endpoint = forwarder(route)
        router.add_api_route(route.prefix, endpoint, methods=methods, include_in_schema=False)
        router.add_api_route(
            f"{route.prefix}/{{path:path}}", endpoint, methods=methods, include_in_schema=False
        )
    return router
