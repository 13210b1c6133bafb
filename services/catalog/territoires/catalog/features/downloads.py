"""Downloads of a features page: CSV (a spreadsheet's table) and GeoPackage (`f=gpkg`, the file
QGIS and ArcGIS open as is).

pygeoapi's CSV writer drops ids and fails without geometry, and it has no GeoPackage writer;
OGR's, through pyogrio, writes the page in memory. GeoPackage columns keep their types
(integers stay integers, figures stay numbers, nulls stay nulls) so that a choropleth can be
drawn from the file without conversion.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from typing import Any

import numpy as np
import shapely
from pygeoapi.util import get_choice_from_headers
from pyogrio.raw import write
from starlette.requests import Request


class Download(StrEnum):
    """The formats served beside pygeoapi's own (JSON, HTML), by `f=` value."""

    CSV = "csv"
    GEOPACKAGE = "gpkg"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self]

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8" if self is Download.CSV else self.media_type

    def content(self, collection: dict[str, Any], layer: str) -> bytes:
        if self is Download.CSV:
            return feature_collection_csv(collection).encode("utf-8")
        return feature_collection_geopackage(collection, layer)


MEDIA_TYPES = {Download.CSV: "text/csv", Download.GEOPACKAGE: "application/geopackage+sqlite3"}
SERVED = ("text/html", "application/json", "application/geo+json", *MEDIA_TYPES.values())


def requested_download(request: Request) -> Download | None:
    """`f=csv` or `f=gpkg`, or an Accept header that ranks one of them first among those served."""
    requested = request.query_params.get("f")
    if requested is not None:
        return next((d for d in Download if d.value == requested.strip().lower()), None)
    accepted = get_choice_from_headers(dict(request.headers), "accept", all=True) or []
    best = next((kind for kind in accepted if kind in SERVED), None)
    return next((d for d in Download if d.media_type == best), None)


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """One column per value: nested objects (statistics figures) become `figures.mean`."""
    row: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            row.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            row[f"{prefix}{key}"] = json.dumps(value, ensure_ascii=False)
        else:
            row[f"{prefix}{key}"] = value
    return row


def _rows(collection: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    rows = [
        _flatten({"id": feature.get("id"), **(feature.get("properties") or {})})
        for feature in collection.get("features", [])
    ]
    return rows, list(dict.fromkeys(key for row in rows for key in row)) or ["id"]


def feature_collection_csv(collection: dict[str, Any]) -> str:
    """A table of the features' ids and properties; shapes stay in GeoJSON."""
    rows, columns = _rows(collection)
    output = io.StringIO()
    writer = csv.DictWriter(output, columns)
    writer.writeheader()
    writer.writerows(rows)
    return output.getvalue()


def feature_collection_geopackage(collection: dict[str, Any], layer: str) -> bytes:
    """One layer named after the collection, in WGS 84, with the features' ids as a column."""
    rows, names = _rows(collection)
    shapes = [
        shapely.geometry.shape(feature["geometry"]) if feature.get("geometry") else None
        for feature in collection.get("features", [])
    ]
    columns, masks = zip(*(_typed([row.get(name) for row in rows]) for name in names), strict=True)
    geometry_type, promote = _geometry_type(shapes)
    output = io.BytesIO()
    write(
        output,
        np.array([None if s is None else shapely.to_wkb(s) for s in shapes], dtype=object),
        list(columns),
        names,
        field_mask=list(masks),
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        promote_to_multi=promote,
        crs="EPSG:4326",
    )
    return output.getvalue()


def _typed(values: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """A column's numpy array and null mask: booleans, integers, reals, or text."""
    present = [v for v in values if v is not None]
    missing = np.array([v is None for v in values], dtype=bool)
    if present and all(isinstance(v, bool) for v in present):
        return np.array([bool(v) for v in values], dtype=bool), missing
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return np.array([v or 0 for v in values], dtype=np.int64), missing
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64), missing
    return np.array([None if v is None else str(v) for v in values], dtype=object), None


def _geometry_type(shapes: list[Any]) -> tuple[str, bool]:
    """One declared type where the page has one kind of shape (promoted to multi where mixed)."""
    kinds = {s.geom_type for s in shapes if s is not None}
    bases = {kind.removeprefix("Multi") for kind in kinds}
    if len(bases) != 1 or "GeometryCollection" in bases:
        return "Unknown", False
    if len(kinds) == 1:
        return kinds.pop(), False
    return f"Multi{bases.pop()}", True
