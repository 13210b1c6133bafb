"""A small, deterministic catalog over Charente-Maritime for the STAC API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

LA_ROCHELLE = (-1.24, 46.13, -1.11, 46.19)
EXTENT = {
    "spatial": {"bbox": [[-2.0, 45.0, 0.0, 47.0]]},
    "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
}


def collection(identifier: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": identifier,
        "title": identifier,
        "description": f"Test scenes of {identifier}",
        "license": "proprietary",
        "extent": EXTENT,
        "links": [],
    }


def scene(collection_id: str, index: int) -> dict[str, Any]:
    """Footprints step east across the département; every third one covers La Rochelle."""
    day = datetime(2024, 1, 1, 10, 30, tzinfo=UTC) + timedelta(days=3 * index)
    west = -1.3 if index % 3 == 0 else -0.9 + 0.01 * index
    box = [west, 45.9, west + 0.3, 46.3]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "id": f"{collection_id}-{index:03d}",
        "collection": collection_id,
        "bbox": box,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [box[0], box[1]],
                    [box[2], box[1]],
                    [box[2], box[3]],
                    [box[0], box[3]],
                    [box[0], box[1]],
                ]
            ],
        },
        "properties": {
            "datetime": day.isoformat().replace("+00:00", "Z"),
            "eo:cloud_cover": (index * 37) % 100,
            "platform": "sentinel-2a" if index % 2 else "sentinel-2b",
            "gsd": 10,
            # Two properties outside the queryables: a string and a number.
            "grid:code": "MGRS-30TXS" if index % 2 else "MGRS-30TYT",
            "sat:absolute_orbit": 40_000 + index,
        },
        "assets": {
            "visual": {
                "href": f"/data/{collection_id}/{index:03d}.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
            }
        },
        "links": [],
    }


COLLECTIONS = ("sentinel-2-l2a", "landsat-c2-l2")
SCENES = {"sentinel-2-l2a": 90, "landsat-c2-l2": 30}


def all_items() -> list[dict[str, Any]]:
    return [scene(c, i) for c in COLLECTIONS for i in range(SCENES[c])]
