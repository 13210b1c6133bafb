"""STAC documents ↔ database rows: what is stored, what is indexed, what is derived on output."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely
from shapely import set_srid, to_wkb
from shapely.geometry import shape
from shapely.validation import explain_validity

from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS
from territoires.shared.models import SRID, CollectionKind

STAC_VERSION = "1.0.0"
# Links a response derives from where it is served; stored links keep only the others.
DERIVED_RELS = frozenset({"self", "parent", "collection", "root", "items"})
ITEM_ID_MAX = 256
COLLECTION_ID_MAX = 128


def parse_datetime(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise BadRequestError(f"{field} must be an RFC 3339 date-time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(f"{field} is not an RFC 3339 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _kept_links(links: Any) -> list[dict[str, Any]]:
    return [link for link in links or [] if link.get("rel") not in DERIVED_RELS]


def geometry_wkb(geometry: Any, what: str) -> bytes:
    """EWKB of a GeoJSON geometry; BadRequestError saying why when it is not a valid one."""
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise BadRequestError(f"{what} has no GeoJSON geometry")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise BadRequestError(f"{what} has an invalid GeoJSON geometry: {error}") from None
    if geom.is_empty:
        raise BadRequestError(f"{what} has an empty geometry")
    if not geom.is_valid:
        raise BadRequestError(f"{what} has an invalid geometry: {explain_validity(geom)}")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise BadRequestError(f"{what} has coordinates outside longitude/latitude (EPSG:4326)")
    return to_wkb(set_srid(geom, SRID), hex=False, include_srid=True)


def polygons_wkb(geometries: Sequence[Any]) -> list[bytes | None]:
    """`geometry_wkb` of many geometries at once, for those that are plain polygons (closed
    rings of 2D numeric points) and pass its checks; None for all the others.

    A bulk load spends most of its conversion time building one shapely object per footprint;
    here GEOS builds, validates and encodes a whole batch in a few vectorised calls. Anything
    unusual — another type, 3D points, an open ring, an invalid or out-of-range polygon — is
    left to `geometry_wkb`, so its result and its error messages stay the reference.
    """
    result: list[bytes | None] = [None] * len(geometries)
    chosen: list[int] = []
    points: list[Any] = []
    ring_sizes: list[int] = []
    ring_counts: list[int] = []
    for index, geometry in enumerate(geometries):
        if type(geometry) is not dict or geometry.get("type") != "Polygon":
            continue
        rings = geometry.get("coordinates")
        if type(rings) is not list or not rings:
            continue
        simple = all(
            type(ring) is list and len(ring) >= 4 and ring[0] == ring[-1] for ring in rings
        )
        if not simple:
            continue
        chosen.append(index)
        ring_counts.append(len(rings))
        for ring in rings:
            ring_sizes.append(len(ring))
            points += ring
    if not chosen:
        return result
    try:
        coordinates = np.array(points)
    except (ValueError, TypeError):  # ragged: mixed dimensions, or points that are no lists
        return result
    if coordinates.ndim != 2 or coordinates.shape[1] != 2 or coordinates.dtype.kind not in "fi":
        return result
    rings = shapely.linearrings(
        coordinates.astype(np.float64, copy=False),
        indices=np.repeat(np.arange(len(ring_sizes)), ring_sizes),
    )
    polygons = shapely.polygons(rings, indices=np.repeat(np.arange(len(chosen)), ring_counts))
    minx, miny, maxx, maxy = shapely.bounds(polygons).T
    accepted = (
        shapely.is_valid(polygons)
        & (minx >= -180)
        & (minx <= maxx)
        & (maxx <= 180)
        & (miny >= -90)
        & (miny <= maxy)
        & (maxy <= 90)
    )
    encoded = to_wkb(set_srid(polygons[accepted], SRID), hex=False, include_srid=True)
    for index, wkb in zip(np.asarray(chosen)[accepted].tolist(), encoded, strict=True):
        result[index] = wkb
    return result


def item_row(
    item: dict[str, Any], collection_id: str | None = None, geometry: bytes | None = None
) -> dict[str, Any]:
    """The row of a STAC item; BadRequestError naming what makes it unacceptable.

    `geometry` is the EWKB of the item's geometry when a batch has already made it
    (`polygons_wkb`); None has it made and checked here."""
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise BadRequestError("a STAC item is a GeoJSON Feature ('type': 'Feature')")
    identifier = item.get("id")
    if not isinstance(identifier, str) or not identifier or len(identifier) > ITEM_ID_MAX:
        raise BadRequestError(f"item id must be a non-empty string of at most {ITEM_ID_MAX} chars")
    what = f"item {identifier!r}"
    collection = collection_id or item.get("collection")
    if not isinstance(collection, str) or not collection:
        raise BadRequestError(f"{what} names no collection")
    if item.get("collection") not in (None, collection):
        raise BadRequestError(
            f"{what} says collection {item['collection']!r} but is posted to {collection!r}"
        )
    properties = item.get("properties")
    if not isinstance(properties, dict):
        raise BadRequestError(f"{what} has no properties object")
    if properties.get("datetime") is not None:
        instant = parse_datetime(properties["datetime"], f"{what} datetime")
        start = end = instant
        if "start_datetime" in properties:
            start = parse_datetime(properties["start_datetime"], f"{what} start_datetime")
        if "end_datetime" in properties:
            end = parse_datetime(properties["end_datetime"], f"{what} end_datetime")
    elif "start_datetime" in properties and "end_datetime" in properties:
        start = parse_datetime(properties["start_datetime"], f"{what} start_datetime")
        end = parse_datetime(properties["end_datetime"], f"{what} end_datetime")
        instant = start
    else:
        raise BadRequestError(f"{what} needs datetime, or start_datetime and end_datetime")
    if start > end:
        raise BadRequestError(f"{what} starts after it ends")
    if geometry is None:
        geometry = geometry_wkb(item.get("geometry"), what)
    content = {
        "type": "Feature",
        "stac_version": item.get("stac_version", STAC_VERSION),
        "stac_extensions": item.get("stac_extensions", []),
        "id": identifier,
        "collection": collection,
        "geometry": item["geometry"],
        "bbox": item.get("bbox") or _bbox(item["geometry"]),
        "properties": properties,
        "assets": item.get("assets", {}),
        "links": _kept_links(item.get("links")),
    }
    return {
        "collection_id": collection,
        "id": identifier,
        "geometry": geometry,
        "datetime": instant,
        "start_datetime": start,
        "end_datetime": end,
        "content": content,
    }


def _bbox(geometry: dict[str, Any]) -> list[float]:
    return list(shape(geometry).bounds)


def collection_row(collection: dict[str, Any]) -> dict[str, Any]:
    """The row of a STAC collection; an indicator's id makes it an indicator result collection."""
    if not isinstance(collection, dict) or collection.get("type") != "Collection":
        raise BadRequestError("a STAC collection has 'type': 'Collection'")
    identifier = collection.get("id")
    if not isinstance(identifier, str) or not identifier or len(identifier) > COLLECTION_ID_MAX:
        raise BadRequestError(
            f"collection id must be a non-empty string of at most {COLLECTION_ID_MAX} chars"
        )
    for required in ("description", "extent", "license"):
        if required not in collection:
            raise BadRequestError(f"collection {identifier!r} lacks {required!r}")
    content = {
        **collection,
        "stac_version": collection.get("stac_version", STAC_VERSION),
        "links": _kept_links(collection.get("links")),
    }
    return {
        "id": identifier,
        "kind": CollectionKind.INDICATOR if identifier in INDICATORS else CollectionKind.SOURCE,
        "title": collection.get("title"),
        "description": collection["description"],
        "content": content,
    }
