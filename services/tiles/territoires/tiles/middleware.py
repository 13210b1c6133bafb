"""Tiles made cacheable by browsers, CDNs and the server itself; the pages' content-security
policy.

An item's tiles get an ETag derived from the item's version and the request, known before any
pixel is read: a matching `If-None-Match` is answered 304 at once, and a tile drawn before for
this version comes from the Redis tile cache (`territoires.tiles.tile_cache`). A re-ingested or
re-computed item has a new version, hence new tags and cache entries, as soon as the catalog
hears of it (`territoires.tiles.changes`). Other tile-like answers (mosaics, legends, vector
tiles) get a strong ETag of their bytes, which stays right whatever changed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from territoires.shared import __version__
from territoires.shared.errors import TerritoiresError
from territoires.tiles.catalog import Catalog
from territoires.tiles.tile_cache import TileCache

# Responses that are tiles or legends: images, raw arrays and vector tiles.
CACHEABLE_TYPES = ("image/", "application/x-binary", "application/vnd.mapbox-vector-tile")
# TiTiler's tile route of one item: `…/tiles[/{tms}]/{z}/{x}/{y}[@{scale}x][.{format}]`.
ITEM_TILE = re.compile(
    r"^/tiles/collections/(?P<collection>[^/]+)/items/(?P<item>[^/]+)/tiles/"
    r"(?:[^/]+/)?\d+/\d+/\d+(?:@[0-9.]+x)?(?:\.\w+)?$"
)

Finish = Callable[[Message, bytes], Awaitable[None]]


class TileCacheMiddleware:
    """ETag and Cache-Control on successful tile-like GET answers under `prefix`, 304 when the
    client already holds the same tile, and item tiles served from and kept in `tiles`."""

    def __init__(
        self, app: ASGIApp, prefix: str, max_age_s: int, catalog: Catalog, tiles: TileCache
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.cache_control = f"public, max-age={max_age_s}"
        self.catalog = catalog
        self.tiles = tiles

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match", "")
        name = await self._item_tile_name(scope)
        if name is None:

            async def hashed(start: Message, body: bytes) -> None:
                etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
                await self._answer(start, body, etag, if_none_match, send)

            await self.app(scope, receive, self._capture(send, hashed))
            return

        etag = f'"{name}"'
        if _held(if_none_match, etag):
            await self._not_modified(etag, [], send)
            return
        hit = await self.tiles.get(name) if self.tiles.enabled else None
        if hit is not None:
            media_type, body = hit
            start = {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", media_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
            await self._answer(start, body, etag, if_none_match, send)
            return

        async def keep(start: Message, body: bytes) -> None:
            await self._answer(start, body, etag, if_none_match, send)
            if self.tiles.enabled:
                media_type = Headers(raw=start["headers"])["content-type"]
                await self.tiles.put(name, media_type, body)

        await self.app(scope, receive, self._capture(send, keep))

    async def _item_tile_name(self, scope: Scope) -> str | None:
        """The cache name (and ETag) of an item tile request: its item's version, its path and
        its parameters in a fixed order; None for other requests and unknown items (the app
        answers those)."""
        match = ITEM_TILE.match(scope["path"])
        if match is None:
            return None
        try:
            item = await self.catalog.item(match["collection"], match["item"])
        except TerritoiresError:
            return None
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        key = "\n".join((__version__, item.version, scope["path"], urlencode(sorted(query))))
        return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def _capture(self, send: Send, finish: Finish) -> Send:
        """A `send` that passes anything but a successful tile through, and hands the latter,
        whole, to `finish`."""
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
                    await finish(start, b"".join(chunks))

        return capture

    async def _answer(
        self, start: Message, body: bytes, etag: str, if_none_match: str, send: Send
    ) -> None:
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["etag"] = etag
        headers["cache-control"] = self.cache_control
        if _held(if_none_match, etag):
            del headers["content-length"]
            del headers["content-type"]
            await self._not_modified(etag, headers.raw, send)
            return
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})

    async def _not_modified(self, etag: str, raw: list[tuple[bytes, bytes]], send: Send) -> None:
        headers = MutableHeaders(raw=raw)
        headers["etag"] = etag
        headers["cache-control"] = self.cache_control
        await send({"type": "http.response.start", "status": 304, "headers": headers.raw})
        await send({"type": "http.response.body", "body": b""})


def _held(if_none_match: str, etag: str) -> bool:
    held = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in held or "*" in held


# The map pages' own sources: their scripts, styles, tiles and MapLibre's workers are served
# here; `{images}` adds the origins of a configured base map (MapLibre fetches its tiles).
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:{images}; worker-src 'self' blob:; connect-src 'self'{images}; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors "
)


class PagePolicyMiddleware:
    """A Content-Security-Policy on the HTML answers of the pages under `prefixes`: `/embed` may
    be framed by the configured portals (`frame_ancestors`), the other pages by this origin only
    (no clickjacking of the commune pages). `image_sources`: origins the pages may also fetch
    images from (the IGN base map's, when configured)."""

    def __init__(
        self,
        app: ASGIApp,
        prefixes: tuple[str, ...],
        frame_ancestors: list[str],
        image_sources: list[str] | None = None,
    ) -> None:
        self.app = app
        self.prefixes = prefixes
        policy = PAGE_POLICY.format(images="".join(f" {s}" for s in image_sources or []))
        self.embed_policy = policy + (" ".join(frame_ancestors) or "'none'")
        self.page_policy = policy + "'self'"

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
