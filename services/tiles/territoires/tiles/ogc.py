"""The OGC API - Tiles documents around the tiles: landing page, conformance, collections.

A client (QGIS, GDAL's OGCAPI driver, our map pages) starts at `/tiles`, finds the collections,
and follows each one's links to its tilesets, its TileJSON and, for indicators, its legend; the
collection document also lists the dates that have items, which is what a time slider needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from titiler.core.models.common import Link
from titiler.core.models.OGC import Conformance, Landing

from territoires.shared.indicators import INDICATORS, Indicator
from territoires.tiles.catalog import CollectionSummary
from territoires.tiles.dependencies import State

JSON = "application/json"
TILESETS_MAP = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = sorted(
    {
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
        "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/datetime",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/jpeg",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tiff",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
        "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
        "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
    }
)


class SpatialExtent(BaseModel):
    bbox: list[list[float]]
    crs: str = CRS84


class TemporalExtent(BaseModel):
    interval: list[list[datetime | None]]
    trs: str = GREGORIAN


class Extent(BaseModel):
    spatial: SpatialExtent | None = None
    temporal: TemporalExtent | None = None


class CamelModel(BaseModel):
    """OGC documents spell their members in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class TilesCollection(CamelModel):
    """An OGC API collection, with what a map needs beside: kind, dates, indicator."""

    id: str
    title: str | None = None
    description: str | None = None
    links: list[Link]
    extent: Extent | None = None
    data_type: str = "map"
    crs: list[str] = Field(default_factory=lambda: [CRS84])
    kind: str = Field(description="`source` (scenes, true colour) or `indicator` (a result)")
    indicator: str | None = Field(default=None, description="The indicator id, for results")
    item_count: int
    datetimes: list[datetime] = Field(description="Dates with items, newest first (at most 200)")


class TilesCollections(CamelModel):
    links: list[Link]
    collections: list[TilesCollection]
    number_matched: int
    number_returned: int


def _link(href: str, rel: str, type_: str, title: str) -> Link:
    return Link(href=href, rel=rel, type=type_, title=title)


def collection_document(summary: CollectionSummary, base: str) -> TilesCollection:
    href = f"{base}/tiles/collections/{summary.id}"
    links = [
        _link(href, "self", JSON, "This collection"),
        _link(f"{href}/tiles", TILESETS_MAP, JSON, "Map tilesets of this collection"),
        _link(
            f"{href}/WebMercatorQuad/tilejson.json",
            "alternate",
            JSON,
            "TileJSON of this collection's newest items",
        ),
    ]
    indicator = INDICATORS.get(summary.id)
    if indicator:
        links.append(
            _link(f"{base}/tiles/legend/{summary.id}", "describedby", JSON, "Legend of the layer")
        )
    extent = None
    if summary.bbox and summary.interval:
        extent = Extent(
            spatial=SpatialExtent(bbox=[list(summary.bbox)]),
            temporal=TemporalExtent(interval=[list(summary.interval)]),
        )
    return TilesCollection(
        id=summary.id,
        title=summary.title or (indicator.title if indicator else summary.id),
        description=summary.description,
        links=links,
        extent=extent,
        kind=summary.kind,
        indicator=indicator.id if indicator else None,
        item_count=summary.item_count,
        datetimes=list(summary.datetimes),
    )


def vector_collection_document(indicator: Indicator, base: str) -> TilesCollection:
    """A vector indicator: its features are tiled as vector tilesets, it has no STAC items."""
    href = f"{base}/tiles/vector/collections/{indicator.id}"
    return TilesCollection(
        id=indicator.id,
        title=indicator.title,
        description=indicator.description,
        links=[
            _link(f"{base}/tiles/collections/{indicator.id}", "self", JSON, "This collection"),
            _link(f"{href}/tiles", TILESETS_VECTOR, JSON, "Vector tilesets of this collection"),
            _link(
                f"{href}/WebMercatorQuad/tilejson.json",
                "alternate",
                JSON,
                "TileJSON of the features",
            ),
            _link(
                f"{href}/WebMercatorQuad/style.json",
                "stylesheet",
                "application/vnd.mapbox.style+json",
                "MapLibre style coloured from the legend",
            ),
            _link(
                f"{base}/tiles/legend/{indicator.id}", "describedby", JSON, "Legend of the layer"
            ),
        ],
        data_type="vector",
        kind="indicator",
        indicator=indicator.id,
        item_count=0,
        datetimes=[],
    )


def vector_indicators() -> list[Indicator]:
    return [indicator for indicator in INDICATORS.values() if indicator.form == "vector"]


def ogc_router() -> APIRouter:
    router = APIRouter(prefix="/tiles", tags=["OGC API - Tiles"])

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @router.get("", response_model=Landing, response_model_exclude_none=True)
    def landing(request: Request) -> Any:
        """Landing page of the tiles API."""
        base = base_of(request)
        return Landing(
            title="Territoires tiles",
            description="Map tiles, TileJSON and WMTS of catalogued scenes and indicator results.",
            links=[
                _link(f"{base}/tiles", "self", JSON, "This document"),
                _link(f"{base}/tiles/conformance", "conformance", JSON, "Conformance classes"),
                _link(f"{base}/tiles/collections", "data", JSON, "Collections with tiles"),
                _link(
                    f"{base}/tiles/tileMatrixSets",
                    "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                    JSON,
                    "Tile matrix sets",
                ),
                _link(f"{base}/tiles/legend", "describedby", JSON, "Legends of the indicators"),
                _link(f"{base}/map", "alternate", "text/html", "Map of every layer"),
                _link(
                    f"{base}/api",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0",
                    "The API definition",
                ),
            ],
        )

    @router.get("/conformance", response_model=Conformance)
    def conformance() -> Any:
        """OGC API conformance classes of the tiles API."""
        return Conformance(conformsTo=CONFORMANCE)

    @router.get("/collections", response_model=TilesCollections, response_model_exclude_none=True)
    async def collections(request: Request, state: State) -> Any:
        """Every collection with its tiles: scenes, raster results and vector indicators."""
        base = base_of(request)
        documents = [collection_document(s, base) for s in await state.catalog.collections()]
        documents += [vector_collection_document(i, base) for i in vector_indicators()]
        return TilesCollections(
            links=[_link(f"{base}/tiles/collections", "self", JSON, "This document")],
            collections=documents,
            number_matched=len(documents),
            number_returned=len(documents),
        )

    @router.get(
        "/collections/{collectionId}",
        response_model=TilesCollection,
        response_model_exclude_none=True,
    )
    async def collection(
        request: Request,
        state: State,
        collection_id: Annotated[str, Path(alias="collectionId", max_length=128)],
    ) -> Any:
        """One collection: extent, dates with items, links to its tilesets and legend."""
        if collection_id in {indicator.id for indicator in vector_indicators()}:
            return vector_collection_document(INDICATORS[collection_id], base_of(request))
        return collection_document(await state.catalog.collection(collection_id), base_of(request))

    return router
