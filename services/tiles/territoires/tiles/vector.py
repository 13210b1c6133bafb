"""Vector results as Mapbox Vector Tiles, cut by PostGIS from `result_features`.

Each vector indicator of the registry (hot spots, LCZ units, transects, a class per commune)
is an OGC API - Tiles vector tileset at `/tiles/vector/collections/{indicator}/tiles/
WebMercatorQuad`, with a TileJSON and a MapLibre style coloured from its legend. A tile holds
one layer named after the indicator; its features carry their stored properties plus `job_id`,
`territory_code`, `period_start` and `period_end`, and can be narrowed to a job or a period.

A tile with no feature answers 204 No Content (as OGC API - Tiles allows for an empty tile
inside the tileset), which map clients draw as empty. Results change as jobs finish, so tiles
are not kept in memory: the ETag of the tile middleware lets clients revalidate cheaply.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import text
from starlette.responses import Response

from territoires.shared.errors import BadRequestError, NotFoundError
from territoires.shared.indicators import INDICATORS, Indicator
from territoires.tiles.catalog import database_connection
from territoires.tiles.dependencies import State
from territoires.tiles.intervals import parse_interval
from territoires.tiles.tilesets import OGC_TEMPLATE, TileSetDocument, TileSetListDocument
from territoires.tiles.vector_style import maplibre_style

MVT = "application/vnd.mapbox-vector-tile"
JSON = "application/json"
TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
WEB_MERCATOR = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
WORLD = (-180.0, -85.0511287798066, 180.0, 85.0511287798066)
# Properties every feature carries beside its own, and their TileJSON field descriptions.
FEATURE_FIELDS = {
    "job_id": "The job that computed the feature",
    "territory_code": "The territory it belongs to",
    "period_start": "Start of the observed period",
    "period_end": "End of the observed period",
}

IndicatorId = Annotated[str, Path(max_length=64, description="A vector indicator's id")]
JobFilter = Annotated[uuid.UUID | None, Query(description="Only the features of this job")]
DatetimeFilter = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Only features whose period overlaps this instant, day or interval a/b",
    ),
]

# `{filters}` is filled from fixed clauses only; every value is a bound parameter.
TILE_QUERY = """
    WITH tile AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS envelope,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4326) AS lonlat
    ),
    features AS (
        SELECT f.id, f.properties, f.job_id::text AS job_id, f.territory_code,
               to_json(f.period_start) #>> '{{}}' AS period_start,
               to_json(f.period_end) #>> '{{}}' AS period_end,
               ST_AsMVTGeom(ST_Transform(f.geometry, 3857), tile.envelope, :extent, :buffer, true)
                   AS geom
        FROM result_features AS f, tile
        WHERE f.indicator = :indicator AND f.geometry && tile.lonlat {filters}
    )
    SELECT ST_AsMVT(features, :layer, :extent, 'geom', 'id')
    FROM features WHERE geom IS NOT NULL
"""
EXTENT_QUERY = """
    SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax,
           keys
    FROM (SELECT ST_Extent(f.geometry) AS e FROM result_features AS f
          WHERE f.indicator = :indicator {filters}) AS extent,
         LATERAL (SELECT array(SELECT DISTINCT jsonb_object_keys(f.properties)
                               FROM result_features AS f
                               WHERE f.indicator = :indicator {filters}
                               ORDER BY 1 LIMIT 100) AS keys) AS properties
"""


@dataclass(frozen=True)
class Filters:
    """A request's `job_id` and `datetime`, as SQL clauses, parameters and a query string."""

    job_id: uuid.UUID | None
    datetime: str | None

    def __post_init__(self) -> None:
        if self.datetime is not None:
            parse_interval(self.datetime)  # a 400 saying what is wrong, before any query

    def sql(self) -> tuple[str, dict[str, Any]]:
        clauses, parameters = [], {}
        if self.job_id is not None:
            clauses.append("AND f.job_id = :job_id")
            parameters["job_id"] = self.job_id
        if self.datetime is not None:
            interval = parse_interval(self.datetime)
            if interval.end is not None:
                clauses.append("AND f.period_start <= :period_to")
                parameters["period_to"] = interval.end
            if interval.start is not None:
                clauses.append("AND f.period_end >= :period_from")
                parameters["period_from"] = interval.start
        return " ".join(clauses), parameters

    def query_string(self) -> str:
        pairs = {"job_id": self.job_id, "datetime": self.datetime}
        kept = {key: str(value) for key, value in pairs.items() if value is not None}
        return f"?{urlencode(kept)}" if kept else ""


def vector_indicator(indicator_id: str) -> Indicator:
    """The registry entry of a vector indicator; 404 naming the vector ones otherwise."""
    indicator = INDICATORS.get(indicator_id)
    if indicator is None or indicator.form != "vector":
        known = ", ".join(sorted(i.id for i in INDICATORS.values() if i.form == "vector"))
        raise NotFoundError(
            f"no vector indicator {indicator_id!r}; vector indicators: {known or 'none'}"
        )
    return indicator


def tile_parameters(indicator: Indicator, z: int, x: int, y: int) -> dict[str, Any]:
    if x >= 2**z or y >= 2**z:
        raise BadRequestError(f"no tile {z}/{x}/{y}: x and y stay below {2**z} at zoom {z}")
    return {
        "indicator": indicator.id,
        "layer": indicator.id,
        "z": z,
        "x": x,
        "y": y,
        "extent": EXTENT,
        "buffer": BUFFER,
        "margin": BUFFER / EXTENT,
    }


def vector_router() -> APIRouter:
    router = APIRouter(prefix="/tiles/vector/collections/{indicator}", tags=["vector tiles"])

    def collection_href(request: Request, indicator: Indicator) -> str:
        return f"{str(request.base_url).rstrip('/')}/tiles/vector/collections/{indicator.id}"

    async def data_extent(
        state: State, indicator: Indicator, filters: Filters
    ) -> tuple[tuple[float, float, float, float], list[str]]:
        clauses, parameters = filters.sql()
        async with database_connection(state.catalog.engine) as connection:
            row = (
                await connection.execute(
                    text(EXTENT_QUERY.format(filters=clauses)),
                    {"indicator": indicator.id, **parameters},
                )
            ).one()
        bounds = WORLD if row.xmin is None else (row.xmin, row.ymin, row.xmax, row.ymax)
        return bounds, list(row.keys)

    def tileset(
        request: Request, indicator: Indicator, state: State, filters: Filters
    ) -> TileSetDocument:
        href = f"{collection_href(request, indicator)}/tiles/{TMS}"
        query = filters.query_string()
        base = str(request.base_url).rstrip("/")
        return TileSetDocument.model_validate(
            {
                "title": indicator.title,
                "description": indicator.description,
                "dataType": "vector",
                "crs": WEB_MERCATOR,
                "tileMatrixSetURI": TMS_URI,
                "attribution": state.settings.attribution,
                "mediaTypes": [MVT],
                "keywords": list(indicator.keywords),
                "layers": [
                    {
                        "id": indicator.id,
                        "title": indicator.title,
                        "description": indicator.description,
                        "dataType": "vector",
                        "geometryDimension": _dimension(indicator.geometry_type),
                        "minTileMatrix": "0",
                        "maxTileMatrix": str(MAX_ZOOM),
                    }
                ],
                "links": [
                    {
                        "href": f"{href}{query}",
                        "rel": "self",
                        "type": JSON,
                        "title": "This tileset",
                    },
                    {
                        "href": f"{base}/tiles/tileMatrixSets/{TMS}",
                        "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                        "type": JSON,
                        "title": "The tile matrix set",
                    },
                    {
                        "href": f"{href}/{OGC_TEMPLATE}{query}",
                        "rel": "item",
                        "type": MVT,
                        "templated": True,
                        "title": "Tiles as Mapbox Vector Tiles",
                    },
                    {
                        "href": f"{collection_href(request, indicator)}/{TMS}/style.json{query}",
                        "rel": "stylesheet",
                        "type": "application/vnd.mapbox.style+json",
                        "title": "MapLibre style coloured from the legend",
                    },
                    {
                        "href": f"{base}/tiles/legend/{indicator.id}",
                        "rel": "describedby",
                        "type": JSON,
                        "title": "Legend of the layer",
                    },
                ],
            }
        )

    @router.get(
        "/tiles",
        summary="The vector tilesets of a vector indicator",
        response_model=TileSetListDocument,
        response_model_exclude_none=True,
    )
    def tilesets(
        request: Request,
        indicator: IndicatorId,
        state: State,
        job_id: JobFilter = None,
        datetime: DatetimeFilter = None,
    ) -> Any:
        entry = vector_indicator(indicator)
        return TileSetListDocument(
            tilesets=[tileset(request, entry, state, Filters(job_id, datetime))]
        )

    @router.get(
        f"/tiles/{TMS}",
        summary="A vector indicator's OGC API - Tiles vector tileset",
        response_model=TileSetDocument,
        response_model_exclude_none=True,
    )
    def tileset_document(
        request: Request,
        indicator: IndicatorId,
        state: State,
        job_id: JobFilter = None,
        datetime: DatetimeFilter = None,
    ) -> Any:
        return tileset(request, vector_indicator(indicator), state, Filters(job_id, datetime))

    @router.get(
        f"/tiles/{TMS}/{{z}}/{{x}}/{{y}}",
        summary="A Mapbox Vector Tile of a vector indicator's features (204 when empty)",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}, 204: {"description": "No feature in the tile"}},
    )
    async def tile(
        indicator: IndicatorId,
        z: Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Zoom level (tile matrix)")],
        x: Annotated[int, Path(ge=0, description="Column (tile col)")],
        y: Annotated[int, Path(ge=0, description="Row (tile row)")],
        state: State,
        job_id: JobFilter = None,
        datetime: DatetimeFilter = None,
    ) -> Response:
        entry = vector_indicator(indicator)
        parameters = tile_parameters(entry, z, x, y)
        clauses, filter_parameters = Filters(job_id, datetime).sql()
        async with database_connection(state.catalog.engine) as connection:
            content = (
                await connection.execute(
                    text(TILE_QUERY.format(filters=clauses)), {**parameters, **filter_parameters}
                )
            ).scalar_one()
        if not content:
            return Response(status_code=204)
        return Response(bytes(content), media_type=MVT)

    @router.get(f"/{TMS}/tilejson.json", summary="TileJSON of a vector indicator's tiles")
    async def tilejson(
        request: Request,
        indicator: IndicatorId,
        state: State,
        job_id: JobFilter = None,
        datetime: DatetimeFilter = None,
    ) -> dict[str, Any]:
        entry = vector_indicator(indicator)
        filters = Filters(job_id, datetime)
        bounds, keys = await data_extent(state, entry, filters)
        query = filters.query_string()
        fields = {
            key: f"Coloured by the legend ({entry.unit})" if key == entry.colour_by else ""
            for key in keys
        }
        return {
            "tilejson": "3.0.0",
            "name": entry.title,
            "description": entry.description,
            "attribution": state.settings.attribution,
            "scheme": "xyz",
            "tiles": [f"{collection_href(request, entry)}/tiles/{TMS}/{{z}}/{{x}}/{{y}}{query}"],
            "minzoom": 0,
            "maxzoom": MAX_ZOOM,
            "bounds": list(bounds),
            "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 0],
            "vector_layers": [
                {
                    "id": entry.id,
                    "description": entry.description,
                    "minzoom": 0,
                    "maxzoom": MAX_ZOOM,
                    "fields": {**fields, **FEATURE_FIELDS},
                }
            ],
        }

    @router.get(
        f"/{TMS}/style.json",
        summary="A MapLibre style of a vector indicator, coloured from its legend",
    )
    def style(
        request: Request,
        indicator: IndicatorId,
        state: State,
        job_id: JobFilter = None,
        datetime: DatetimeFilter = None,
    ) -> dict[str, Any]:
        entry = vector_indicator(indicator)
        query = Filters(job_id, datetime).query_string()
        tilejson_url = f"{collection_href(request, entry)}/{TMS}/tilejson.json{query}"
        return maplibre_style(entry, tilejson_url, state.settings.attribution)

    return router


def _dimension(geometry_type: str | None) -> int | None:
    """0 for points, 1 for lines, 2 for polygons (OGC `geometryDimension`)."""
    return {"Point": 0, "LineString": 1, "Polygon": 2}.get(
        (geometry_type or "").removeprefix("Multi")
    )
