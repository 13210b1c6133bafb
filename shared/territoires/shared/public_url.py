"""The URL a client reached the service at, and the client's address, for links and rate limits.

Behind the gateway (or any reverse proxy) the Host the service sees is not the one the client
used: the proxy says which in `Forwarded` (RFC 7239) or `X-Forwarded-Host/-Proto/-Port/-Prefix`,
and who the client is in `X-Forwarded-For`. Any client can send those headers too, so they are
believed only from the TCP peers of the `trusted_proxies` setting, and the `public_url` setting,
when set, wins over all of them. Values that do not look like a host or a path are ignored
rather than echoed into links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from territoires.shared.settings import Settings

DEFAULT_PORTS = {"http": "80", "https": "443"}
HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
PATH_PREFIX = re.compile(r"^(/[A-Za-z0-9._~\-]+)*$")
# Headers by which a proxy describes the request it passes on.
FORWARDING = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
    }
)


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
    """The URL clients reach this API at, from the proxy's headers when there are any.

    Reads the headers as they are: behind ForwardedHeadersMiddleware, which has already
    applied (or dropped) them, this is the request's own scheme, Host and root path.
    """
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


class TrustedProxies:
    """Membership of an address in the configured proxy networks."""

    def __init__(self, networks: Iterable[IPv4Network | IPv6Network]) -> None:
        self.networks = tuple(networks)

    def __contains__(self, host: str | IPv4Address | IPv6Address) -> bool:
        address = _address(host) if isinstance(host, str) else host
        return address is not None and any(address in network for network in self.networks)


def _address(hop: str) -> IPv4Address | IPv6Address | None:
    """The IP address of a forwarding hop (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`), if any."""
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        hop = hop[1:].partition("]")[0]
    elif hop.count(":") == 1:
        hop = hop.partition(":")[0]
    try:
        address = ip_address(hop)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
    return mapped or address


def _hops(scope: Scope) -> list[str]:
    """Addresses the proxies say the request passed through, the client's first."""
    forwarded_for = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    if forwarded_for:
        return [hop for value in forwarded_for for hop in value.split(",")]
    forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"forwarded"]
    return [
        pair.split("=", 1)[1]
        for value in forwarded
        for element in value.split(",")
        for pair in element.split(";")
        if pair.strip().lower().startswith("for=")
    ]


def client_address(scope: Scope, trusted: TrustedProxies) -> str:
    """The client's address: the TCP peer, or when the peer is a trusted proxy, the nearest
    forwarded hop that is not itself a trusted proxy."""
    peer = (scope.get("client") or ("", 0))[0]
    if peer not in trusted:
        return peer
    client = peer
    for hop in reversed(_hops(scope)):
        address = _address(hop)
        if address is None:
            break  # what a client wrote, not a proxy: keep the last proxy's word
        client = str(address)
        if address not in trusted:
            break
    return client


class ForwardedHeadersMiddleware:
    """Applies the public URL and a trusted proxy's forwarding headers to the request, once.

    Afterwards `request.base_url`, `request.url` and `request.client` are the public ones, so
    every link a library builds (stac-fastapi, TiTiler) is right; the forwarding headers are
    removed, from trusted and untrusted peers alike, so that nothing downstream applies them.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.trusted = TrustedProxies(settings.trusted_proxies)
        self.public = urlsplit(settings.public_url) if settings.public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        forwarding = any(name in FORWARDING for name, _ in scope["headers"])
        if not forwarding and self.public is None:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        peer = (scope.get("client") or ("", 0))[0]
        public = self.public
        if public is None and peer in self.trusted:
            public = urlsplit(public_base_url(Request(scope), ""))
            # Its path is the proxy's prefix followed by our own root path.
            public = public._replace(
                path=public.path.removesuffix(scope.get("root_path", "").rstrip("/"))
            )
        if forwarding:
            client = client_address(scope, self.trusted)
            if client != peer:
                scope["client"] = (client, 0)
        headers = [(k, v) for k, v in scope["headers"] if k not in FORWARDING]
        if public is not None:
            root_path = scope.get("root_path", "").rstrip("/")
            scope["scheme"] = public.scheme
            scope["root_path"] = public.path + root_path
            scope["path"] = public.path + scope["path"]
            headers = [(k, v) for k, v in headers if k != b"host"]
            headers.append((b"host", public.netloc.encode("latin-1")))
        scope["headers"] = headers
        await self.app(scope, receive, send)
