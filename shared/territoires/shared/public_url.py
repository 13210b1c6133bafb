"""The URL a client reached the service at, for the links in responses.

Behind the gateway (or any reverse proxy) the Host the service sees is not the one the client
used: the proxy says which in `Forwarded` (RFC 7239) or `X-Forwarded-Host/-Proto/-Port/-Prefix`.
Values that do not look like a host or a path are ignored rather than echoed into links.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

DEFAULT_PORTS = {"http": "80", "https": "443"}
HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
PATH_PREFIX = re.compile(r"^(/[A-Za-z0-9._~\-]+)*$")


def _first(value: str | None) -> str:
    return value.split(",")[0].strip() if value else ""


def _forwarded(value: str | None) -> dict[str, str]:
    """The first hop of an RFC 7239 `Forwarded` header, e.g. `for=…;proto=https;host=a.fr`."""
    pairs = (item.split("=", 1) for item in _first(value).split(";") if "=" in item)
    return {key.strip().lower(): val.strip().strip('"') for key, val in pairs}


def _own_host(request: Request) -> str:
    """The Host the request came with, else the server's address (never request.url, which
    fails on a scheme it does not know)."""
    host = request.headers.get("host", "")
    if HOST.match(host):
        return host
    name, port = request.scope.get("server") or ("localhost", None)
    name = f"[{name}]" if ":" in name else name
    return f"{name}:{port}" if port else name


def public_base_url(request: Request, prefix: str) -> str:
    """The URL clients reach this API at, from the proxy's headers when there are any."""
    headers = request.headers
    forwarded = _forwarded(headers.get("forwarded"))
    proto = forwarded.get("proto") or _first(headers.get("x-forwarded-proto"))
    if proto not in DEFAULT_PORTS:
        scheme = request.scope.get("scheme", "http")
        proto = scheme if scheme in DEFAULT_PORTS else "http"
    host = forwarded.get("host") or _first(headers.get("x-forwarded-host"))
    if not HOST.match(host):
        host = _own_host(request)
    port = _first(headers.get("x-forwarded-port"))
    if port.isdigit() and not re.search(r":\d+$", host) and port != DEFAULT_PORTS[proto]:
        host = f"{host}:{port}"
    path_prefix = _first(headers.get("x-forwarded-prefix")).rstrip("/")
    if not PATH_PREFIX.match(path_prefix):
        path_prefix = ""
    root_path = request.scope.get("root_path", "").rstrip("/")
    return f"{proto}://{host}{path_prefix}{root_path}{prefix}"


class ForwardedHeadersMiddleware:
    """Applies a proxy's forwarding headers to the request itself, once, validated.

    Afterwards `request.base_url` and `request.url` are the public ones, so every link a
    library builds (stac-fastapi, TiTiler) is right; the forwarding headers are removed so that
    nothing downstream applies them a second time.
    """

    FORWARDING = (
        b"forwarded",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(name in self.FORWARDING for name, _ in scope["headers"]):
            public = urlsplit(public_base_url(Request(scope), ""))
            # public.path is the proxy's prefix followed by our own root path.
            prefix = public.path.removesuffix(scope.get("root_path", "").rstrip("/"))
            scope = dict(scope)
            scope["scheme"] = public.scheme
            scope["root_path"] = public.path
            scope["path"] = prefix + scope["path"]
            scope["headers"] = [
                (name, value)
                for name, value in scope["headers"]
                if name not in self.FORWARDING and name != b"host"
            ] + [(b"host", public.netloc.encode("latin-1"))]
        await self.app(scope, receive, send)
