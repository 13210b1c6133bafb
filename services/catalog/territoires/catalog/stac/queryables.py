"""What a filter or a sort may name: item columns, and the STAC properties the catalog indexes.

A name outside this table is a client error (400), not a silent null, so a typo is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, Integer, String, cast

from territoires.shared.errors import BadRequestError
from territoires.shared.models import Item

JsonType = Literal["string", "number", "integer", "datetime", "geometry"]


@dataclass(frozen=True)
class Queryable:
    name: str
    type: JsonType
    description: str

    @property
    def is_column(self) -> bool:
        return self.name in _COLUMNS

    def expression(self) -> ColumnElement[Any]:
        """The SQL value of this queryable on an item row."""
        if self.name in _COLUMNS:
            return _COLUMNS[self.name]
        value = Item.content["properties"][self.name].astext
        if self.type in ("number", "integer"):
            return cast(value, Float if self.type == "number" else Integer)
        return cast(value, String)

    def schema(self) -> dict[str, Any]:
        if self.type == "geometry":
            return {
                "description": self.description,
                "$ref": "https://geojson.org/schema/Geometry.json",
            }
        if self.type == "datetime":
            return {"description": self.description, "type": "string", "format": "date-time"}
        return {"description": self.description, "type": self.type}


_COLUMNS: dict[str, ColumnElement[Any]] = {
    "id": Item.id,
    "collection": Item.collection_id,
    "geometry": Item.geometry,
    "datetime": Item.datetime,
    "start_datetime": Item.start_datetime,
    "end_datetime": Item.end_datetime,
}

QUERYABLES: dict[str, Queryable] = {
    q.name: q
    for q in (
        Queryable("id", "string", "Item identifier"),
        Queryable("collection", "string", "Collection identifier"),
        Queryable("geometry", "geometry", "Footprint"),
        Queryable("datetime", "datetime", "Acquisition time (start of the range for ranges)"),
        Queryable("start_datetime", "datetime", "Start of the time range"),
        Queryable("end_datetime", "datetime", "End of the time range"),
        Queryable("platform", "string", "Satellite (sentinel-2a, landsat-8, …)"),
        Queryable("constellation", "string", "Constellation (sentinel-2, landsat, …)"),
        Queryable("gsd", "number", "Ground sample distance in metres"),
        Queryable("eo:cloud_cover", "number", "Cloud cover of the scene, %"),
        Queryable("proj:epsg", "integer", "EPSG code of the native grid"),
        Queryable("sar:instrument_mode", "string", "SAR instrument mode (IW, EW, …)"),
        Queryable("sar:product_type", "string", "SAR product type (GRD, SLC)"),
        Queryable("sat:orbit_state", "string", "Orbit direction (ascending, descending)"),
        Queryable("sat:relative_orbit", "integer", "Relative orbit number"),
        Queryable("view:sun_elevation", "number", "Sun elevation, degrees"),
        Queryable("territoires:indicator", "string", "Indicator of a result item"),
        Queryable("territoires:territory", "string", "INSEE code of a result's territory"),
        Queryable("territoires:job", "string", "Job that produced a result item"),
    )
}


def queryable(name: str) -> Queryable:
    try:
        return QUERYABLES[name.removeprefix("properties.")]
    except KeyError:
        raise BadRequestError(
            f"unknown property {name!r}: see /queryables for the ones you may filter and sort on"
        ) from None


def queryables_document(url: str, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": title,
        "properties": {name: q.schema() for name, q in QUERYABLES.items()},
        "additionalProperties": False,
    }
