"""ASGI middleware of the tiles service: links built for the client's URL, tiles made cacheable.

Behind the gateway, TiTiler's links (TileJSON, tilesets, WMTS) must name the gateway's host and
scheme, which the proxy gives in `Forwarded` or `X-Forwarded-Host/-Proto`. Tiles get a strong
ETag of their bytes and a Cache-Control lifetime, and a matching `If-None-Match` is answered 304
without the body, so browsers and CDNs revalidate cheaply.
"""

from __future__ import annotations

import hashlib
import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
SCHEMES = ("http", "https")
# Responses that are tiles or legends: images, raw arrays and vector tiles.
CACHEABLE_TYPES = ("image/", "application/x-binary", "application/vnd.mapbox-vector-tile")


def _first(value: str | None) -> str:
    return value.split(",")[0].strip() if value else ""


def _forwarded(value: str | None) -> dict[str, str]:
    """The first hop of an RFC 7239 `Forwarded` header (`for=…;proto=https;host=a.fr`)."""
    pairs = (item.split("=", 1) for item in _first(value).split(";") if "=" in item)
    return {key.strip().lower(): val.strip().strip('"') for key, val in pairs}


class ForwardedHeadersMiddleware:
    """Sets the scheme and Host the client used, from the proxy's headers when they are sane."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            forwarded = _forwarded(headers.get("forwarded"))
            proto = forwarded.get("proto") or _first(headers.get("x-forwarded-proto"))
            host = forwarded.get("host") or _first(headers.get("x-forwarded-host"))
            if proto in SCHEMES or HOST.match(host):
                scope = {**scope, "headers": list(scope["headers"])}
                if proto in SCHEMES:
                    scope["scheme"] = proto
                if HOST.match(host):
                    mutable = MutableHeaders(scope=scope)
                    mutable["host"] = host
        await self.app(scope, receive, send)


class TileCacheMiddleware:
    """ETag and Cache-Control on successful tile-like GET answers under `prefix`; 304 when the
    client already holds the same bytes."""

    def __init__(self, app: ASGIApp, prefix: str, max_age_s: int) -> None:
        self.app = app
        self.prefix = prefix
        self.cache_control = f"public, max-age={max_age_s}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match", "")
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message["headers"]).get("content-type", "")
                if message["status"] == 200 and content_type.startswith(CACHEABLE_TYPES):
                    start = message
                    return
                await send(message)
            elif start is None:
                await send(message)
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._send_cached(start, b"".join(chunks), if_none_match, send)

        await self.app(scope, receive, capture)

    async def _send_cached(
        self, start: Message, body: bytes, if_none_match: str, send: Send
    ) -> None:
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["etag"] = etag
        headers["cache-control"] = self.cache_control
        held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if etag in held or "*" in held:
            del headers["content-length"]
            del headers["content-type"]
            await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})
