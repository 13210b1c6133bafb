"""What a filter or a sort may name: item columns, and the STAC properties the catalog indexes.

A sort on a name outside this table is a client error (400), so a typo is noticed. A filter may
name any other item property too, as the filter extension lets a server say with
`additionalProperties: true`: it is compared as the value it meets (a string or a number), and
an item without it, or with a value of another type, does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, Integer, String, case, cast, func

from territoires.shared.errors import BadRequestError
from territoires.shared.models import Item

JsonType = Literal["string", "number", "integer", "datetime", "geometry"]


@dataclass(frozen=True)
class Queryable:
    name: str
    type: JsonType
    description: str
    listed: bool = True  # False: an item property outside QUERYABLES, typed by its filter

    @property
    def is_column(self) -> bool:
        return self.name in _COLUMNS

    def expression(self) -> ColumnElement[Any]:
        """The SQL value of this queryable on an item row."""
        if self.name in _COLUMNS:
            return _COLUMNS[self.name]
        value = Item.content["properties"][self.name].astext
        if not self.listed and self.type == "number":
            # Unlisted, a property may hold text where another item holds a number: only
            # numbers are cast, the others are null (no match) rather than a cast error.
            kind = func.jsonb_typeof(Item.content["properties"][self.name])
            return case((kind == "number", cast(value, Float)))
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


def filter_property(name: str, compared_with: Any) -> Queryable:
    """What a filter names: a queryable, or another item property, a number when compared with
    a number and a string otherwise."""
    name = name.removeprefix("properties.")
    if name in QUERYABLES:
        return QUERYABLES[name]
    if isinstance(compared_with, dict | list) or compared_with is None:
        raise BadRequestError(
            f"{name!r} is not in /queryables: it can be compared with strings and numbers only"
        )
    number = isinstance(compared_with, int | float) and not isinstance(compared_with, bool)
    return Queryable(name, "number" if number else "string", "", listed=False)


UNLISTED = (
    "Other item properties may be filtered on too, compared as the string or number they are "
    "compared with; items without them do not match. Sorting takes the properties listed here."
)


def queryables_document(url: str, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": title,
        "description": UNLISTED,
        "properties": {name: q.schema() for name, q in QUERYABLES.items()},
        "additionalProperties": True,
    }
