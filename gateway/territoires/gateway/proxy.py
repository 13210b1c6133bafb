"""A streaming reverse proxy: public path prefixes to the services behind the gateway."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

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
    if "accept-encoding" not in request.headers:
        # Else httpx would ask for gzip on the client's behalf, and relay bytes it cannot read.
        headers.append(("accept-encoding", "identity"))
    return headers


def _route_path(request: Request) -> str:
    """The path below the public prefix: the same at the service as at the gateway."""
    root_path = request.scope.get("root_path", "").rstrip("/")
    return request.url.path.removeprefix(root_path) if root_path else request.url.path


def proxy_router(
    client: httpx.AsyncClient,
    services: Mapping[str, str],
    on_upstream_error: Callable[[str, str], None],
) -> APIRouter:
    """Routes for every prefix of ROUTES, forwarding method, path, query and body as streams.

    `on_upstream_error(service, kind)` hears of every request a service could not answer.
    """
    router = APIRouter()

    def forwarder(route: Route):
        async def forward(request: Request, path: str = "") -> Response:
            request_id = request.state.request_id  # set by the gateway middleware
            target = f"{services[route.service]}{_route_path(request)}"
            try:
                upstream = client.build_request(
                    request.method,
                    target,
                    params=request.url.query.encode(),
                    headers=_forwarded_headers(request, request_id),
                    content=request.stream() if _has_body(request) else None,
                    timeout=route.timeout_s,
                )
            except httpx.InvalidURL:
                raise BadRequestError(
                    "the request's path or query holds characters no URL may hold"
                ) from None
            try:
                response = await client.send(upstream, stream=True)
            except ClientDisconnect:
                # Gone while its body was passed on: nobody to answer, nothing to log as ours.
                return Response(status_code=CLIENT_CLOSED_REQUEST)
            except httpx.TimeoutException:
                on_upstream_error(route.service, "timeout")
                return problem(
                    504,
                    f"the {route.service} service did not answer in {route.timeout_s:.0f} s",
                    request_id=request_id,
                )
            except httpx.TransportError:
                on_upstream_error(route.service, "unavailable")
                return problem(
                    503,
                    f"the {route.service} service is unavailable; retry shortly",
                    request_id=request_id,
                )
            streamed = StreamingResponse(
                response.aiter_raw(),
                status_code=response.status_code,
                background=BackgroundTask(response.aclose),
            )
            # Raw pairs keep repeated headers (Link, Set-Cookie) as the service sent them.
            streamed.raw_headers = [
                (k, v)
                for k, v in response.headers.raw
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
