"""Tiles made cacheable by browsers and CDNs; the pages' content-security policy.

Tiles get a strong ETag of their bytes and a Cache-Control lifetime, and a matching
`If-None-Match` is answered 304 without the body. Hashing the bytes rather than deriving a tag
from the catalog keeps the tag right whatever changed: the item, its COG, or the style.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Responses that are tiles or legends: images, raw arrays and vector tiles.
CACHEABLE_TYPES = ("image/", "application/x-binary", "application/vnd.mapbox-vector-tile")


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


# The map pages' own sources: their scripts, styles, tiles and MapLibre's workers are served here.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors "
)


class PagePolicyMiddleware:
    """A Content-Security-Policy on the HTML answers of the pages under `prefixes`: `/embed` may
    be framed by the configured portals (`frame_ancestors`), the other pages by this origin only
    (no clickjacking of the commune pages)."""

    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...], frame_ancestors: list[str]) -> None:
        self.app = app
        self.prefixes = prefixes
        self.embed_policy = PAGE_POLICY + (" ".join(frame_ancestors) or "'none'")
        self.page_policy = PAGE_POLICY + "'self'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        policy = self.embed_policy if path.startswith("/embed") else self.page_policy

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    headers["content-security-policy"] = policy
                    headers["x-content-type-options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, with_policy)
