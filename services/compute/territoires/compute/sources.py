"""What processes read from the database: territories (the zones of statistics) and the
catalogued scenes over an area and a period (a search on the catalog's items table).

Compute reads the tables the catalog writes rather than calling the catalog over HTTP: one query
instead of paging through STAC search, and the same transaction rules as the rest of the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import Raster
from territoires.compute.errors import UnreadableAssetError
from territoires.compute.inputs import Interval
from territoires.shared import territories
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError, ConflictError, ForbiddenError
from territoires.shared.mirror import MIRROR_PROPERTY, MirrorError
from territoires.shared.models import SRID, Item, Territory, TerritoryLevel
from territoires.shared.territories import parse_reference


@dataclass(frozen=True)
class Zone:
    """An area statistics are computed over: a territory, or the request's own geometry."""

    geometry: BaseGeometry  # longitude/latitude
    level: TerritoryLevel | None = None
    code: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        return self.code or "area"


async def communes_of(connection: AsyncConnection, codes: list[str]) -> list[str]:
    """The 2026 communes the request covers (checked codes: `inputs.territory_codes`)."""
    return await territories.communes_of(
        connection, [ref for code in codes if (ref := parse_reference(code))]
    )


def among(column: Any, codes: list[str]) -> Any:
    """`column = ANY(:codes)` with one array parameter: `in_` binds one parameter a code, and
    asyncpg takes at most 32,767 (France has 34,969 communes)."""
    return column == any_(bindparam(None, list(codes), type_=ARRAY(String)))


async def commune_zones(connection: AsyncConnection, codes: list[str]) -> list[Zone]:
    """The communes' outlines, in the order of `codes`."""
    rows = await connection.execute(
        select(Territory.code, Territory.name, func.ST_AsBinary(Territory.geometry)).where(
            Territory.level == TerritoryLevel.COMMUNE, among(Territory.code, codes)
        )
    )
    found = {
        code: Zone(shapely.from_wkb(bytes(wkb)), TerritoryLevel.COMMUNE, code, name)
        for code, name, wkb in rows
    }
    return [found[code] for code in codes if code in found]


async def census_populations(
    connection: AsyncConnection, codes: list[str]
) -> dict[str, int | None]:
    """Each commune's census population (None where the territories file gives none)."""
    rows = await connection.execute(
        select(Territory.code, Territory.population).where(
            Territory.level == TerritoryLevel.COMMUNE, among(Territory.code, codes)
        )
    )
    return dict(rows.tuples().all())


@dataclass(frozen=True)
class Scene:
    """A catalogued item: its STAC document, from which assets and their scaling are read."""

    collection: str
    id: str
    datetime: datetime
    content: dict[str, Any]

    def asset(self, key: str) -> dict[str, Any]:
        return self.content["assets"][key]

    def raster(self, key: str, guard: AssetGuard) -> Raster:
        """Asset `key` as a raster a job may open: its href passed through the asset guard
        (anyone with an ingest key writes hrefs), or its local copy when the item comes from a
        `mirror` source. Refused, it is the same UnreadableAssetError as a missing or broken
        file, so a job's message tells nothing of the server's files."""
        name = f"scene {self.id} asset {key}"
        href = self.content.get("assets", {}).get(key, {}).get("href")
        mirrored = self.content.get("properties", {}).get(MIRROR_PROPERTY) is True
        try:
            if not isinstance(href, str):
                raise ForbiddenError("asset href refused: the asset has no href")
            return Raster(guard.for_job(href, mirrored), name)
        except (ForbiddenError, MirrorError) as error:
            raise UnreadableAssetError(f"{name} cannot be read") from error


def _intersecting(area: BaseGeometry):
    return func.ST_Intersects(Item.geometry, func.ST_GeomFromWKB(shapely.to_wkb(area), SRID))


async def find_scenes(
    connection: AsyncConnection,
    collections: list[str],
    area: BaseGeometry,
    period: Interval,
    limit: int,
) -> list[Scene]:
    """Items of `collections` whose footprint meets `area` and whose time meets `period`,
    newest first, at most `limit`."""
    rows = await connection.execute(
        select(Item.collection_id, Item.id, Item.datetime, Item.content)
        .where(
            Item.collection_id.in_(collections),
            Item.start_datetime <= period.end,
            Item.end_datetime >= period.start,
            _intersecting(area),
        )
        .order_by(Item.datetime.desc(), Item.id)
        .limit(limit)
    )
    return [Scene(*row) for row in rows]


async def scenes_by_id(connection: AsyncConnection, keys: list[list[str]]) -> list[Scene]:
    """Items by (collection, id), in the order given; a missing one is an error (it was
    catalogued when the job was accepted, so it has been deleted since)."""
    wanted = [tuple(key) for key in keys]
    rows = await connection.execute(
        select(Item.collection_id, Item.id, Item.datetime, Item.content).where(
            func.row(Item.collection_id, Item.id).in_(wanted)  # type: ignore[arg-type]
        )
    )
    found = {(row.collection_id, row.id): Scene(*row) for row in rows}
    missing = [f"{c}/{i}" for c, i in wanted if (c, i) not in found]
    if missing:
        raise ConflictError(
            f"scene(s) {', '.join(missing)} left the catalog after the job was accepted; "
            "submit the job again"
        )
    return [found[key] for key in wanted]


async def explain_no_scenes(
    connection: AsyncConnection, collections: list[str], area: BaseGeometry, period: Interval
) -> BadRequestError:
    """Why a search found nothing: the area is outside every scene of the collections, or
    scenes cover it at other dates (which, so the client can pick a period)."""
    row = (
        await connection.execute(
            select(func.count(), func.min(Item.datetime), func.max(Item.datetime)).where(
                Item.collection_id.in_(collections), _intersecting(area)
            )
        )
    ).one()
    names = ", ".join(collections)
    if not row[0]:
        extent = (
            await connection.execute(
                select(func.ST_Extent(Item.geometry)).where(Item.collection_id.in_(collections))
            )
        ).scalar()
        where = f"the catalogued scenes cover {extent}" if extent else "none is catalogued"
        return BadRequestError(
            f"the requested area is outside the data: no scene of {names} covers it ({where})"
        )
    return BadRequestError(
        f"no scene of {names} covers the area between {period.start:%Y-%m-%d} and "
        f"{period.end:%Y-%m-%d}; {row[0]} scene(s) cover it from {row[1]:%Y-%m-%d} to "
        f"{row[2]:%Y-%m-%d}"
    )
