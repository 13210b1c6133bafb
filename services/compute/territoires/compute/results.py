"""A job's outputs in the catalog: STAC items of result COGs and per-territory statistics,
written in the transaction that marks the job successful, and removed when it is dismissed.

Every write is keyed so that running the job again rewrites instead of adding: items by
(collection, id) with the job id in the id, statistics by (territory, indicator, period).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import MEDIA_TYPE_COG, Grid
from territoires.compute.inputs import Interval
from territoires.shared.indicators import INDICATORS
from territoires.shared.models import (
    SRID,
    Collection,
    IndicatorStatistic,
    Item,
    Job,
    JobStatus,
    ResultFeature,
    TerritoryLevel,
)
from territoires.shared.stac.records import collection_row, item_row

STAC_EXTENSIONS = [
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
]
JOB_PROPERTY = "territoires:job_id"
STATISTICS_COLLECTION = "indicator-statistics"
# The unique key of a statistics row: a job run again rewrites its rows.
STATISTIC_KEY = ("territory_level", "territory_code", "indicator", "period_start", "period_end")
# Rows of one INSERT: asyncpg takes at most 32,767 parameters a statement (about ten a row).
ROWS_PER_STATEMENT = 2000


class JobNotRunning(Exception):  # noqa: N818 - a state the run stops on, not an error
    """The job was dismissed, finished elsewhere or taken by another attempt while this run
    went on: this run's outputs must go, and nothing else."""


@dataclass(frozen=True)
class Statistic:
    level: TerritoryLevel
    code: str
    indicator: str
    period: Interval
    figures: dict[str, Any]
    item: tuple[str, str] | None = None  # (collection, id) of the result item


@dataclass(frozen=True)
class Feature:
    """A feature of a vector result, in longitude/latitude."""

    indicator: str
    geometry: BaseGeometry
    properties: dict[str, Any]
    period: Interval
    territory: str | None = None


def in_lonlat(geometry: BaseGeometry, crs: Any) -> BaseGeometry:
    """A geometry drawn on a result's grid (`crs`) in longitude/latitude, as features hold it."""
    return shape(transform_geom(crs, "EPSG:4326", mapping(geometry)))


MEDIA_TYPE_GEOPACKAGE = "application/geopackage+sqlite3"


def features_url(base_url: str, indicator: str, job_id: uuid.UUID) -> str:
    return f"{base_url}/features/collections/{indicator}/items?job_id={job_id}"


def feature_links(base_url: str, indicator: str, job_id: uuid.UUID, title: str) -> dict[str, Any]:
    """A vector result's outputs: its features in GeoJSON (`<id>`) and as a GeoPackage."""
    href = features_url(base_url, indicator, job_id)
    return {
        indicator: {
            "href": href,
            "rel": "items",
            "type": "application/geo+json",
            "title": f"{title} (features)",
        },
        f"{indicator}-gpkg": {
            "href": f"{href}&f=gpkg",
            "rel": "items",
            "type": MEDIA_TYPE_GEOPACKAGE,
            "title": f"{title} (GeoPackage)",
        },
    }


def tiles_url(base_url: str, collection: str, item_id: str) -> str:
    return (
        f"{base_url}/tiles/collections/{collection}/items/{item_id}/WebMercatorQuad/tilejson.json"
    )


def statistics_url(base_url: str, job_id: uuid.UUID) -> str:
    return f"{base_url}/features/collections/{STATISTICS_COLLECTION}/items?job_id={job_id}"


def result_item(
    *,
    indicator: str,
    item_id: str,
    href: str,
    grid: Grid,
    period: Interval,
    job_id: uuid.UUID,
    process_id: str,
    process_version: str,
    inputs: dict[str, Any],
    base_url: str,
    sources: Iterable[tuple[str, str]],
    territories: list[str],
) -> dict[str, Any]:
    """The STAC item of a result COG: footprint of its grid, the period it stands for, its
    asset with nodata and type, links to its tiles, and its provenance: the job, the process
    and its version, the inputs as the job ran them and the scenes it comes from."""
    registered = INDICATORS[indicator]
    footprint = transform_geom(grid.crs, "EPSG:4326", mapping(box(*grid.bounds)), precision=7)
    job_link = f"{base_url}/jobs/{job_id}"
    sources = list(sources)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": STAC_EXTENSIONS,
        "id": item_id,
        "collection": indicator,
        "geometry": footprint,
        "bbox": list(shape(footprint).bounds),
        "properties": {
            "datetime": None,
            "start_datetime": _iso(period.start),
            "end_datetime": _iso(period.end),
            "created": _iso(datetime.now(UTC)),
            "title": f"{registered.title}, {', '.join(territories[:5]) or 'area'}",
            "proj:epsg": grid.crs.to_epsg(),
            "proj:shape": [grid.height, grid.width],
            "proj:transform": list(grid.transform)[:6],
            JOB_PROPERTY: str(job_id),
            "territoires:process": process_id,
            "territoires:process_version": process_version,
            "territoires:inputs": inputs,
            "territoires:territories": territories,
            "processing:software": {f"territoires:{process_id}": process_version},
            "processing:lineage": f"{process_id} {process_version} over {len(sources)} "
            f"scene(s): {', '.join(scene for _, scene in sources[:20])}",
        },
        "assets": {
            indicator: {
                "href": href,
                "type": MEDIA_TYPE_COG,
                "title": registered.title,
                "roles": ["data"],
                "raster:bands": [
                    {
                        "nodata": registered.nodata,
                        "data_type": registered.dtype,
                        "unit": registered.unit,
                    }
                ],
            }
        },
        "links": [
            {
                "rel": "tilejson",
                "href": tiles_url(base_url, indicator, item_id),
                "type": "application/json",
                "title": "TileJSON",
            },
            {
                "rel": "via",
                "href": job_link,
                "type": "application/json",
                "title": "the job that made this item",
            },
            *(
                {
                    "rel": "derived_from",
                    "type": "application/geo+json",
                    "href": f"{base_url}/stac/collections/{collection}/items/{scene}",
                }
                for collection, scene in sources
            ),
        ],
    }


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def indicator_collection(indicator_id: str) -> dict[str, Any]:
    """The result collection of an indicator, from the registry (created on first result)."""
    indicator = INDICATORS[indicator_id]
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": indicator.id,
        "title": indicator.title,
        "description": indicator.description,
        "keywords": list(indicator.keywords),
        "license": "etalab-2.0",
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
        "links": [],
    }


async def lock_running(connection: AsyncConnection, job_id: uuid.UUID, attempt: int) -> Job:
    """Locks the job's row until the transaction ends; JobNotRunning unless it is running this
    attempt, so outputs are never registered for a job dismissed meanwhile (dismissal takes the
    same lock), nor by a stale run whose job another worker has taken since (its lease lapsed
    while it lived)."""
    job = (await connection.execute(select(Job).where(Job.id == job_id).with_for_update())).first()
    if job is None or job.status != JobStatus.RUNNING or job.attempts != attempt:
        raise JobNotRunning(str(job_id))
    return job


async def publish(
    connection: AsyncConnection,
    items: list[dict[str, Any]],
    statistics: list[Statistic],
    features: list[Feature],
    job_id: uuid.UUID,
) -> None:
    """Upserts result items (creating their indicator collections when missing) and statistics
    rows, and writes vector result features, within the caller's transaction."""
    for first in range(0, len(features), ROWS_PER_STATEMENT):
        await connection.execute(
            insert(ResultFeature).values(
                [
                    {
                        "indicator": f.indicator,
                        "job_id": job_id,
                        "territory_code": f.territory,
                        "period_start": f.period.start,
                        "period_end": f.period.end,
                        "properties": f.properties,
                        "geometry": func.ST_GeomFromWKB(shapely.to_wkb(f.geometry), SRID),
                    }
                    for f in features[first : first + ROWS_PER_STATEMENT]
                ]
            )
        )
    collections = sorted({item["collection"] for item in items})
    if collections:
        rows = [collection_row(indicator_collection(c)) for c in collections]
        await connection.execute(
            insert(Collection).values(rows).on_conflict_do_nothing(index_elements=[Collection.id])
        )
    for item in items:
        row = item_row(item)
        values = {**row, "geometry": func.ST_GeomFromEWKB(row["geometry"])}
        statement = insert(Item).values(values)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[Item.collection_id, Item.id],
                set_={
                    "geometry": statement.excluded.geometry,
                    "datetime": statement.excluded.datetime,
                    "start_datetime": statement.excluded.start_datetime,
                    "end_datetime": statement.excluded.end_datetime,
                    "content": statement.excluded.content,
                    "updated_at": func.now(),
                },
            )
        )
    if statistics:
        rows = [
            {
                "territory_level": s.level,
                "territory_code": s.code,
                "indicator": s.indicator,
                "period_start": s.period.start,
                "period_end": s.period.end,
                "figures": s.figures,
                "item_collection_id": s.item[0] if s.item else None,
                "item_id": s.item[1] if s.item else None,
                "job_id": job_id,
            }
            for s in statistics
        ]
        for first in range(0, len(rows), ROWS_PER_STATEMENT):
            statement = insert(IndicatorStatistic).values(rows[first : first + ROWS_PER_STATEMENT])
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=list(STATISTIC_KEY),
                    set_={
                        column: statement.excluded[column]
                        for column in ("figures", "item_collection_id", "item_id", "job_id")
                    }
                    | {"created_at": func.now()},
                )
            )


async def discard(connection: AsyncConnection, job_ids: list[uuid.UUID]) -> None:
    """Removes the items, statistics rows and features that jobs wrote (storage is the
    caller's)."""
    made_by = [Item.content["properties"].contains({JOB_PROPERTY: str(j)}) for j in job_ids]
    await connection.execute(delete(Item).where(or_(*made_by)))
    await connection.execute(delete(ResultFeature).where(ResultFeature.job_id.in_(job_ids)))
    await connection.execute(
        delete(IndicatorStatistic).where(IndicatorStatistic.job_id.in_(job_ids))
    )


async def finish(connection: AsyncConnection, job_id: uuid.UUID, outputs: dict[str, Any]) -> None:
    """Marks a locked running job successful with its results document."""
    now = datetime.now(UTC)
    await connection.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            status=JobStatus.SUCCESSFUL,
            progress=100.0,
            outputs=outputs,
            message="done",
            finished_at=now,
            updated_at=now,
        )
    )
