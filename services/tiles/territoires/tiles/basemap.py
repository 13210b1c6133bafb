"""A base layer that needs no internet: département and commune outlines as vector tiles.

The map pages must work offline, so no OpenStreetMap raster tiles: PostGIS cuts the territories
table into Mapbox Vector Tiles (départements at every zoom, communes from zoom 7), simplified to
the tile's resolution. Territories change once a year; tiles are kept in memory for an hour.

Where the pages may reach the internet, `TERRITOIRES_BASE_MAP` puts IGN Géoplateforme's WMTS
(Plan IGN or the orthophotos) under the outlines instead of the plain land fill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Path
from sqlalchemy import text
from starlette.responses import Response

from territoires.shared.errors import NotFoundError
from territoires.shared.settings import Settings
from territoires.tiles.cache import TTLCache
from territoires.tiles.catalog import database_connection
from territoires.tiles.dependencies import State

MVT = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 14
COMMUNES_FROM_ZOOM = 7
EXTENT = 4096
CACHE_TTL_S = 3600.0


@dataclass(frozen=True)
class IgnLayer:
    """A layer of IGN Géoplateforme's WMTS, in its Web Mercator tile matrix set (PM)."""

    layer: str
    format: str
    name: str
    max_zoom: int


IGN_LAYERS = {
    "plan-ign": IgnLayer("GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2", "image/png", "Plan IGN", 19),
    "orthophotos-ign": IgnLayer("ORTHOIMAGERY.ORTHOPHOTOS", "image/jpeg", "orthophotos", 19),
}


def base_map_source(settings: Settings) -> dict[str, Any] | None:
    """The configured IGN WMTS layer as the map pages' raster source (a MapLibre tile URL
    template, KVP GetTile), or None for the offline outlines alone."""
    ign = IGN_LAYERS.get(settings.base_map)
    if ign is None:
        return None
    query = urlencode(
        {
            "SERVICE": "WMTS",
            "REQUEST": "GetTile",
            "VERSION": "1.0.0",
            "LAYER": ign.layer,
            "STYLE": "normal",
            "FORMAT": ign.format,
            "TILEMATRIXSET": "PM",
        }
    )
    endpoint = str(settings.ign_wmts_url)
    parts = urlsplit(endpoint)
    return {
        "id": settings.base_map,
        "tiles": [f"{endpoint}?{query}&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}"],
        "tileSize": 256,
        "maxzoom": ign.max_zoom,
        "attribution": f"© IGN – Géoplateforme ({ign.name})",
        "origin": f"{parts.scheme}://{parts.netloc}",
    }


# One query, two layers; geometries simplified to about one tile pixel before clipping.
TILE_QUERY = text(
    """
    WITH tile AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS envelope,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326) AS lonlat
    ),
    shapes AS (
        SELECT t.level::text AS level, t.code, t.name,
               ST_AsMVTGeom(
                   ST_Transform(ST_SimplifyPreserveTopology(t.geometry, :tolerance), 3857),
                   tile.envelope, :extent, 64, true
               ) AS geom
        FROM territories AS t, tile
        WHERE t.geometry && tile.lonlat
          AND (t.level = 'departement' OR (t.level = 'commune' AND :z >= :communes_from))
    )
    SELECT coalesce((SELECT ST_AsMVT(d, 'departements', :extent, 'geom')
                     FROM (SELECT code, name, geom FROM shapes
                           WHERE level = 'departement' AND geom IS NOT NULL) AS d), '')
        || coalesce((SELECT ST_AsMVT(c, 'communes', :extent, 'geom')
                     FROM (SELECT code, name, geom FROM shapes
                           WHERE level = 'commune' AND geom IS NOT NULL) AS c), '')
    """
)


def basemap_router() -> APIRouter:
    router = APIRouter(prefix="/tiles/basemap", tags=["base map"])
    cache: TTLCache[tuple[int, int, int], bytes] = TTLCache(CACHE_TTL_S, 4096)

    @router.get(
        "/{z}/{x}/{y}.mvt",
        summary="Outlines of départements and communes (WebMercatorQuad vector tile)",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}},
    )
    async def outlines(
        z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
        x: Annotated[int, Path(ge=0)],
        y: Annotated[int, Path(ge=0)],
        state: State,
    ) -> Response:
        if x >= 2**z or y >= 2**z:
            raise NotFoundError(f"no tile {z}/{x}/{y}: x and y stay below {2**z} at zoom {z}")

        async def load() -> bytes:
            parameters = {
                "z": z,
                "x": x,
                "y": y,
                "extent": EXTENT,
                "tolerance": 360 / 2**z / EXTENT,
                "communes_from": COMMUNES_FROM_ZOOM,
            }
            async with database_connection(state.catalog.engine) as connection:
                return bytes((await connection.execute(TILE_QUERY, parameters)).scalar_one())

        return Response(await cache.get((z, x, y), load), media_type=MVT)

    return router
