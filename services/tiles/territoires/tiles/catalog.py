"""Items and collections as the catalog's tables hold them, read directly and cached.

Tiles come by the hundred for one map view: resolving an item's assets once and reusing the
answer for `catalog_ttl_s` spares the database a query per tile. A change the database announces
(`territoires.tiles.changes`) drops the collection's answers at once, so an item rewritten by a
new job or a re-ingest shows through on the next request; the lifetime bounds staleness only
while the announcements cannot be heard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import pystac
from sqlalchemy import func, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from territoires.shared.errors import NotFoundError, ServiceUnavailableError
from territoires.shared.models import Collection, Item
from territoires.tiles.cache import TTLCache
from territoires.tiles.intervals import Interval
from territoires.tiles.styles import Style, style_of

# Distinct dates offered by a collection's time slider.
MAX_DATETIMES = 200


@dataclass(frozen=True)
class CatalogItem:
    """One STAC item of the catalog, parsed once per cache period."""

    collection_id: str
    id: str
    content: dict[str, Any] = field(repr=False)
    bbox: tuple[float, float, float, float]
    updated_at: datetime
    # Zoom range per tile matrix set, worked out by the first reader that needs it.
    zooms: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def version(self) -> str:
        """Changes whenever the item's row is written again (re-ingested, re-computed)."""
        return self.updated_at.isoformat()

    @cached_property
    def stac(self) -> pystac.Item:
        return pystac.Item.from_dict(self.content, preserve_dict=False)

    @cached_property
    def style(self) -> Style:
        return style_of(self.collection_id, self.stac)


@dataclass(frozen=True)
class CollectionSummary:
    """What a map needs to offer a collection: its extent and the dates it has items for."""

    id: str
    title: str | None
    description: str
    kind: str
    bbox: tuple[float, float, float, float] | None
    interval: tuple[datetime, datetime] | None
    item_count: int
    datetimes: tuple[datetime, ...]


@dataclass(frozen=True)
class CollectionItems:
    """The items of a collection over an interval, newest first: a mosaic's input."""

    collection_id: str
    interval: Interval | None
    items: tuple[CatalogItem, ...]
    truncated: bool

    @property
    def bbox(self) -> tuple[float, float, float, float] | None:
        if not self.items:
            return None
        boxes = [item.bbox for item in self.items]
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )


def _catalog_item(collection_id: str, content: dict[str, Any], updated_at: datetime) -> CatalogItem:
    bbox = content["bbox"]  # 2D, or 3D (xmin, ymin, zmin, xmax, ymax, zmax)
    half = len(bbox) // 2
    return CatalogItem(
        collection_id=collection_id,
        id=content["id"],
        content=content,
        bbox=(bbox[0], bbox[1], bbox[half], bbox[half + 1]),
        updated_at=updated_at,
    )


@asynccontextmanager
async def database_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection, or a 503 Problem Details when the database cannot be reached."""
    try:
        async with engine.connect() as connection:
            yield connection
    except (OSError, OperationalError, InterfaceError):
        raise ServiceUnavailableError("the database is unavailable; retry shortly") from None


class Catalog:
    """Reads items and collections; every answer is cached for `ttl_s`, or until `forget`."""

    def __init__(self, engine: AsyncEngine, ttl_s: float, max_mosaic_items: int) -> None:
        self.engine = engine
        self.max_mosaic_items = max_mosaic_items
        self._items: TTLCache[tuple[str, str], CatalogItem] = TTLCache(ttl_s, 4096)
        self._mosaics: TTLCache[tuple[str, Interval | None], CollectionItems] = TTLCache(ttl_s, 256)
        self._collections: TTLCache[str, CollectionSummary] = TTLCache(ttl_s, 256)

    def forget(self, collection_id: str | None) -> None:
        """Drops what is cached of a collection whose items changed (of all, given None)."""
        self._items.forget(lambda key: collection_id in (None, key[0]))
        self._mosaics.forget(lambda key: collection_id in (None, key[0]))
        self._collections.forget(lambda key: collection_id in (None, key))

    def _connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return database_connection(self.engine)

    async def item(self, collection_id: str, item_id: str) -> CatalogItem:
        async def load() -> CatalogItem:
            statement = select(Item.content, Item.updated_at).where(
                Item.collection_id == collection_id, Item.id == item_id
            )
            async with self._connection() as connection:
                row = (await connection.execute(statement)).first()
            if row is None:
                raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
            return _catalog_item(collection_id, row.content, row.updated_at)

        return await self._items.get((collection_id, item_id), load)

    async def collection_items(
        self, collection_id: str, interval: Interval | None
    ) -> CollectionItems:
        async def load() -> CollectionItems:
            await self.collection(collection_id)
            statement = (
                select(Item.content, Item.updated_at)
                .where(Item.collection_id == collection_id)
                .order_by(Item.datetime.desc(), Item.id)
                .limit(self.max_mosaic_items + 1)
            )
            if interval is not None:
                if interval.end is not None:
                    statement = statement.where(Item.start_datetime <= interval.end)
                if interval.start is not None:
                    statement = statement.where(Item.end_datetime >= interval.start)
            async with self._connection() as connection:
                rows = (await connection.execute(statement)).all()
            items = tuple(_catalog_item(collection_id, r.content, r.updated_at) for r in rows)
            return CollectionItems(
                collection_id,
                interval,
                items[: self.max_mosaic_items],
                truncated=len(items) > self.max_mosaic_items,
            )

        return await self._mosaics.get((collection_id, interval), load)

    async def collection(self, collection_id: str) -> CollectionSummary:
        async def load() -> CollectionSummary:
            summaries = await self._summaries([collection_id])
            if not summaries:
                raise NotFoundError(f"no collection {collection_id!r}")
            return summaries[0]

        return await self._collections.get(collection_id, load)

    async def collections(self) -> list[CollectionSummary]:
        return await self._summaries(None)

    async def _summaries(self, ids: list[str] | None) -> list[CollectionSummary]:
        extent = func.ST_Extent(Item.geometry)
        statistics = (
            select(
                Item.collection_id,
                func.count().label("count"),
                func.min(Item.start_datetime).label("first"),
                func.max(Item.end_datetime).label("last"),
                func.ST_XMin(extent).label("xmin"),
                func.ST_YMin(extent).label("ymin"),
                func.ST_XMax(extent).label("xmax"),
                func.ST_YMax(extent).label("ymax"),
            )
            .group_by(Item.collection_id)
            .subquery()
        )
        statement = (
            select(
                Collection.id, Collection.title, Collection.description, Collection.kind, statistics
            )
            .outerjoin(statistics, statistics.c.collection_id == Collection.id)
            .order_by(Collection.id)
        )
        ranked = select(
            Item.collection_id,
            Item.datetime,
            func.dense_rank()
            .over(partition_by=Item.collection_id, order_by=Item.datetime.desc())
            .label("rank"),
        ).distinct()
        if ids is not None:
            statement = statement.where(Collection.id.in_(ids))
            ranked = ranked.where(Item.collection_id.in_(ids))
        ranked_query = ranked.subquery()
        dates = (
            select(ranked_query.c.collection_id, ranked_query.c.datetime)
            .where(ranked_query.c.rank <= MAX_DATETIMES)
            .order_by(ranked_query.c.collection_id, ranked_query.c.datetime.desc())
        )
        async with self._connection() as connection:
            rows = (await connection.execute(statement)).all()
            date_rows = (await connection.execute(dates)).all()
        by_collection: dict[str, list[datetime]] = {}
        for collection_id, instant in date_rows:
            by_collection.setdefault(collection_id, []).append(instant)
        return [
            CollectionSummary(
                id=row.id,
                title=row.title,
                description=row.description,
                kind=row.kind.value,
                bbox=(row.xmin, row.ymin, row.xmax, row.ymax) if row.count else None,
                interval=(row.first, row.last) if row.count else None,
                item_count=row.count or 0,
                datetimes=tuple(by_collection.get(row.id, ())),
            )
            for row in rows
        ]
