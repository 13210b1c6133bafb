"""STAC 1.0.0 Items and Collections for the synthetic scenes, with the eo, projection, sar and
raster extensions, so the catalog ingests them like real products."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.polygon import orient

from territoires.synth.grid import Grid

STAC_VERSION = "1.0.0"
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "projection": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
}
COLLECTIONS = {
    "sentinel-2-l2a": "Sentinel-2 Level-2A surface reflectance (synthetic, with planted truth)",
    "landsat-c2-l2": "Landsat 8 red, near infrared and thermal scenes (synthetic, with planted "
    "land surface temperature)",
    "sentinel-1-grd": "Sentinel-1 IW GRD backscatter in dB (synthetic, pre- and post-flood)",
    "imperviousness-density": "Sealed share of each 10 m pixel in % (synthetic, HRL "
    "Imperviousness Density-like, at the flood date)",
    "population-grid": "Residents per 100 m cell (synthetic, GHS-POP-like, from the built-up "
    "land and urban density)",
    "buildings": "Building footprints with heights, BD TOPO batiment-like GeoPackage (hauteur), "
    "and streets (synthetic, from the city blocks of the optical scenes)",
    "buildings-osm": "Building footprints, OpenStreetMap-like GeoJSON (height, building:levels), "
    "and streets (synthetic, the same buildings as `buildings`)",
    "viirs-dnb-night": "VIIRS Day/Night Band nightly radiance, VNP46A2-like (synthetic, with "
    "planted street-light extinctions)",
}
LICENSE = "CC0-1.0"


@dataclass
class Asset:
    """One file of an item, with what a reader needs to decode it."""

    path: Path
    title: str
    grid: Grid
    raster_bands: list[dict[str, Any]]
    eo_bands: list[dict[str, Any]] | None = None
    roles: tuple[str, ...] = ("data",)
    media_type: str = COG_MEDIA_TYPE
    fields: dict[str, Any] = field(default_factory=dict)  # more asset fields (landsat:k1_constant)


@dataclass
class Item:
    """A scene as the catalog will see it."""

    id: str
    collection: str
    folder: Path
    grid: Grid
    when: date | tuple[date, date]
    properties: dict[str, Any] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    extensions: tuple[str, ...] = ("projection", "raster")

    def document(self, root: Path, base: Path) -> dict[str, Any]:
        """The STAC Item; hrefs relative to the folder `base`, the output folder being `root`."""
        footprint = orient(self.grid.footprint(), 1.0)
        properties: dict[str, Any] = {}
        if isinstance(self.when, tuple):
            properties["datetime"] = None
            properties["start_datetime"] = timestamp(self.when[0])
            properties["end_datetime"] = timestamp(self.when[1], time(23, 59, 59))
        else:
            properties["datetime"] = timestamp(self.when, time(10, 30))
        properties |= self.properties
        properties |= projection(self.grid)
        assets = {}
        for key, asset in self.assets.items():
            document: dict[str, Any] = {
                "href": _relative(asset.path, base),
                "type": asset.media_type,
                "title": asset.title,
                "roles": list(asset.roles),
            }
            if asset.grid != self.grid:
                document |= projection(asset.grid, with_epsg=False)
            if asset.eo_bands is not None:
                document["eo:bands"] = asset.eo_bands
            if asset.raster_bands:
                document["raster:bands"] = asset.raster_bands
            document |= asset.fields
            assets[key] = document
        collection = _relative(collection_path(root, self.collection), base)
        return {
            "type": "Feature",
            "stac_version": STAC_VERSION,
            "stac_extensions": [EXTENSIONS[name] for name in self.extensions],
            "id": self.id,
            "collection": self.collection,
            "geometry": mapping(footprint),
            "bbox": [round(value, 7) for value in footprint.bounds],
            "properties": properties,
            "links": [
                {"rel": "collection", "href": collection, "type": "application/json"},
                {"rel": "parent", "href": collection, "type": "application/json"},
            ],
            "assets": assets,
        }

    @property
    def path(self) -> Path:
        return self.folder / f"{self.id}.json"


def collection_document(root: Path, collection: str, items: list[Item]) -> dict[str, Any]:
    """The STAC Collection of some items: their joint extent and a link to each."""
    documents = [item.document(root, root) for item in items]
    boxes = [document["bbox"] for document in documents]
    starts = [
        document["properties"]["datetime"] or document["properties"]["start_datetime"]
        for document in documents
    ]
    ends = [
        document["properties"]["datetime"] or document["properties"]["end_datetime"]
        for document in documents
    ]
    base = collection_path(root, collection).parent
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "stac_extensions": [],
        "id": collection,
        "title": collection,
        "description": COLLECTIONS[collection],
        "license": LICENSE,
        "providers": [{"name": "territoires synth", "roles": ["producer", "processor"]}],
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        min(box[0] for box in boxes),
                        min(box[1] for box in boxes),
                        max(box[2] for box in boxes),
                        max(box[3] for box in boxes),
                    ]
                ]
            },
            "temporal": {"interval": [[min(starts), max(ends)]]},
        },
        "summaries": {
            name: sorted({document["properties"][name] for document in documents})
            for name in ("platform", "constellation")
            if all(name in document["properties"] for document in documents)
        },
        "links": [
            {"rel": "item", "href": _relative(item.path, base), "type": "application/geo+json"}
            for item in items
        ],
    }


def write_catalog(root: Path, items: list[Item]) -> list[Path]:
    """Writes each item beside its files, a collection per collection and items.ndjson (whose
    hrefs are relative to the output folder); returns the JSON files written."""
    written = []
    for item in items:
        _dump(item.path, item.document(root, item.folder))
        written.append(item.path)
    lines = [json.dumps(item.document(root, root), separators=(",", ":")) for item in items]
    (root / "items.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for collection in sorted({item.collection for item in items}):
        members = [item for item in items if item.collection == collection]
        path = collection_path(root, collection)
        path.parent.mkdir(parents=True, exist_ok=True)
        _dump(path, collection_document(root, collection, members))
        written.append(path)
    return written


def projection(grid: Grid, with_epsg: bool = True) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "proj:shape": [grid.height, grid.width],
        "proj:transform": [round(value, 10) for value in list(grid.transform)[:6]],
    }
    if with_epsg:
        fields = {"proj:epsg": grid.epsg} | fields
    return fields


def timestamp(day: date, at: time = time(0, 0)) -> str:
    return datetime.combine(day, at).strftime("%Y-%m-%dT%H:%M:%SZ")


def collection_path(root: Path, collection: str) -> Path:
    return root / "collections" / f"{collection}.json"


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def _dump(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
