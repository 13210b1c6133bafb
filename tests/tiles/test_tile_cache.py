"""The server-side tile cache: keyed by the item's version, so a re-ingested item draws anew at
once (not after the catalog cache's lifetime, set to an hour here), and bounded in bytes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy
import pytest
from redis.asyncio import Redis

from territoires.shared.database import create_sync_database
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items
from territoires.tiles.app import create_app as create_tiles
from territoires.tiles.settings import TilesSettings
from territoires.tiles.tile_cache import TileCache

from ..servers import serve
from .data import NDVI_NODATA, NEWEST, Raster, cog_asset, collection_document, stac_item, write_cog
from .pixels import GRIDS, decode_npy

SHAPE = (1024, 1280)


def write_constant(path: Path, value: float) -> Raster:
    return Raster(
        write_cog(path, numpy.full(SHAPE, value, "float32"), 10.0, NDVI_NODATA), SHAPE, 10.0
    )


@pytest.fixture
def reingest(empty_database_factory, redis_url: str, tmp_path: Path) -> Iterator[tuple]:
    """A tiles service over one NDVI item, and a function that re-ingests it with a COG of
    another value written over the first (as a job re-computing it in place would)."""
    url = empty_database_factory("tile_cache")
    upgrade(url)
    cog = tmp_path / "ndvi" / "item.tif"
    raster = write_constant(cog, 0.2)
    engine = create_sync_database(url)

    def ingest(value: float) -> None:
        write_constant(cog, value)
        item = stac_item("ndvi", "item", NEWEST, raster, {"ndvi": cog_asset(str(cog))})
        with engine.begin() as connection:
            upsert_items(connection, [item_row(item)])

    with engine.begin() as connection:
        upsert_collections(connection, [collection_row(collection_document("ndvi"))])
    ingest(0.2)
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix=f"territoires-test-tile-cache-{uuid.uuid4().hex[:8]}",
        storage_url=str(tmp_path),
    )
    app = create_tiles(settings, TilesSettings(catalog_ttl_s=3600))
    lon = (raster.lonlat_bbox[0] + raster.lonlat_bbox[2]) / 2
    lat = (raster.lonlat_bbox[1] + raster.lonlat_bbox[3]) / 2
    tile = GRIDS.get("WebMercatorQuad").tile(lon, lat, 13)
    path = f"/tiles/collections/ndvi/items/item/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}"
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        deadline = time.monotonic() + 10
        while not app.state.item_changes.listening.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.item_changes.listening.is_set()
        yield client, path, ingest, settings
    engine.dispose()


def values(response: httpx.Response) -> set[float]:
    data, valid = decode_npy(response.content)
    assert response.status_code == 200 and valid.all()
    return {round(float(v), 4) for v in numpy.unique(data)}


def test_reingested_item_changes_etag_and_draws_new_data(reingest) -> None:
    client, path, ingest, settings = reingest
    first = client.get(f"{path}.npy")
    assert values(first) == {0.2}
    etag = first.headers["etag"]
    again = client.get(f"{path}.npy")
    assert again.content == first.content and again.headers["etag"] == etag
    assert client.get(f"{path}.npy", headers={"If-None-Match": etag}).status_code == 304
    # The tile is held in Redis under its ETag.
    name = etag.strip('"')
    key = f"{settings.redis_prefix}:tiles:tile:{name}"
    held = asyncio.run(_exists(settings.redis_url, key))
    assert held

    ingest(0.7)
    deadline = time.monotonic() + 5  # the notification's delivery; the catalog TTL is an hour
    while (after := client.get(f"{path}.npy", headers={"If-None-Match": etag})).status_code == 304:
        assert time.monotonic() < deadline, "the re-ingest was not heard"
        time.sleep(0.02)
    assert after.headers["etag"] != etag
    assert values(after) == {0.7}
    png = client.get(f"{path}.png")
    assert png.status_code == 200 and png.headers["etag"] not in (etag, after.headers["etag"])


async def _exists(redis_url: str, key: str) -> bool:
    async with Redis.from_url(redis_url) as redis:
        return bool(await redis.exists(key))


async def _fill(redis_url: str, prefix: str) -> None:
    async with Redis.from_url(redis_url) as redis:
        cache = TileCache(redis, prefix, max_bytes=5_000, ttl_s=1)
        for index in range(20):
            await cache.put(f"t{index}", "image/png", bytes([index]) * 990)
            assert await cache.held_bytes() <= 5_000
        # The newest are kept, the oldest went first; each value is 990 bytes and its type.
        assert await cache.get("t19") == ("image/png", bytes([19]) * 990)
        assert await cache.get("t0") is None
        assert await cache.held_bytes() == 5 * (990 + len(b"image/png\n"))
        await cache.put("huge", "image/png", b"x" * 6_000)
        assert await cache.get("huge") is None
        # Entries past their lifetime leave the count with the next write.
        await asyncio.sleep(1.1)
        await cache.put("late", "image/png", b"y" * 10)
        assert await cache.held_bytes() == 10 + len(b"image/png\n")
        assert await cache.get("late") == ("image/png", b"y" * 10)
        await redis.delete(*[key async for key in redis.scan_iter(f"{prefix}:*")])


def test_tile_cache_is_bounded(redis_url: str) -> None:
    asyncio.run(_fill(redis_url, f"territoires-test-tile-bound-{uuid.uuid4().hex[:8]}"))
