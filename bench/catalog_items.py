"""Synthetic STAC items over mainland France for `bench/catalog.py`: 4 collections, 10 years.

Each item is a pure function of its index, so the file can be written by several processes and
a search's expected answers can be reasoned about without reading it back. Datetimes are unique
(a permutation of evenly spaced instants), so that "sorted by date" has one answer whatever
tie-break an API uses, and both APIs can be checked to return the very same ids.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

# Mainland France and Corsica, lon/lat.
WEST, SOUTH, EAST, NORTH = -5.2, 41.3, 9.6, 51.1
START = datetime(2016, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
# A prime that divides no item count we use: index → time slot is a permutation of the slots.
STRIDE = 2_654_435_761


@dataclass(frozen=True)
class CollectionSpec:
    """A collection's share of the items, footprint size (degrees) and what its items carry."""

    id: str
    title: str
    share: float
    width: float
    height: float
    platforms: tuple[str, ...]
    constellation: str
    instrument: str
    gsd: float
    assets: tuple[str, ...]
    optical: bool
    orbits: int


COLLECTIONS = (
    CollectionSpec(
        "sentinel-2-l2a",
        "Sentinel-2 L2A",
        0.5,
        1.4,
        1.0,
        ("sentinel-2a", "sentinel-2b"),
        "sentinel-2",
        "msi",
        10.0,
        ("B02", "B03", "B04", "B08", "B11", "B12", "SCL"),
        True,
        143,
    ),
    CollectionSpec(
        "sentinel-1-grd",
        "Sentinel-1 GRD",
        0.25,
        3.2,
        1.9,
        ("sentinel-1a", "sentinel-1b"),
        "sentinel-1",
        "c-sar",
        10.0,
        ("vv", "vh"),
        False,
        175,
    ),
    CollectionSpec(
        "landsat-c2-l2",
        "Landsat Collection 2 L2",
        0.15,
        2.4,
        1.7,
        ("landsat-8", "landsat-9"),
        "landsat",
        "oli",
        30.0,
        ("blue", "green", "red", "nir08", "swir16", "qa_pixel"),
        True,
        233,
    ),
    CollectionSpec(
        "viirs-dnb-monthly",
        "VIIRS Day/Night Band",
        0.1,
        2.0,
        2.0,
        ("suomi-npp", "noaa-20"),
        "jpss",
        "viirs",
        500.0,
        ("radiance", "cloud_mask"),
        True,
        1,
    ),
)


def collection_of(index: int) -> CollectionSpec:
    """The collection of item `index`: shares interleaved, so any prefix of the file is mixed."""
    slot = (index * 7919) % 100
    bound = 0.0
    for spec in COLLECTIONS:
        bound += spec.share * 100
        if slot < bound:
            return spec
    return COLLECTIONS[-1]


def instant_of(index: int, count: int) -> datetime:
    """A unique instant per index (millisecond precision), spread over the 10 years."""
    slot = (index * STRIDE) % count
    step_ms = (END - START) / timedelta(milliseconds=1) / count
    return START + timedelta(milliseconds=int(slot * step_ms) + 1)


def item(index: int, count: int) -> dict[str, Any]:
    """Item `index` of `count`: a scene as its provider's STAC API would describe it."""
    spec = collection_of(index)
    rng = random.Random(index)
    when = instant_of(index, count)
    west = rng.uniform(WEST - spec.width / 2, EAST - spec.width / 2)
    south = rng.uniform(SOUTH - spec.height / 2, NORTH - spec.height / 2)
    skew = rng.uniform(-0.08, 0.08)  # footprints of swaths are slanted, not boxes
    ring = [
        [round(west + skew, 6), round(south, 6)],
        [round(west + spec.width + skew, 6), round(south, 6)],
        [round(west + spec.width - skew, 6), round(south + spec.height, 6)],
        [round(west - skew, 6), round(south + spec.height, 6)],
    ]
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    stamp = when.strftime("%Y%m%dT%H%M%S")
    platform = spec.platforms[index % len(spec.platforms)]
    orbit = 1 + rng.randrange(spec.orbits)
    identifier = f"{spec.id.split('-')[0].upper()}_{stamp}_R{orbit:03d}_{index:08d}"
    properties: dict[str, Any] = {
        "datetime": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "platform": platform,
        "constellation": spec.constellation,
        "instruments": [spec.instrument],
        "gsd": spec.gsd,
        "proj:epsg": 32630 + int((west + spec.width / 2 + 6) // 6) % 3,
        "sat:relative_orbit": orbit,
        "sat:orbit_state": "descending" if orbit % 2 else "ascending",
        "created": "2026-01-15T12:00:00Z",
    }
    if spec.optical:
        properties["eo:cloud_cover"] = round(rng.betavariate(0.6, 0.9) * 100, 2)
        properties["view:sun_elevation"] = round(rng.uniform(15, 65), 2)
    else:
        properties["sar:instrument_mode"] = "IW"
        properties["sar:product_type"] = "GRD"
        properties["sar:polarizations"] = ["VV", "VH"]
    base = f"https://data.example.org/{spec.id}/{stamp[:4]}/{identifier}"
    assets = {
        name: {
            "href": f"{base}/{name}.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": name,
            "roles": ["data"],
        }
        for name in spec.assets
    }
    assets["thumbnail"] = {
        "href": f"{base}/preview.png",
        "type": "image/png",
        "roles": ["thumbnail"],
    }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
            if spec.optical
            else "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
        ],
        "id": identifier,
        "collection": spec.id,
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        "bbox": [min(xs), min(ys), max(xs), max(ys)],
        "properties": properties,
        "links": [],
        "assets": assets,
    }


def collection_document(spec: CollectionSpec) -> dict[str, Any]:
    """The collection's STAC document, as both catalogs are given it."""
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": spec.id,
        "title": spec.title,
        "description": f"{spec.title} scenes over mainland France (synthetic, bench/catalog.py)",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[WEST, SOUTH, EAST, NORTH]]},
            "temporal": {"interval": [["2016-01-01T00:00:00Z", "2025-12-31T23:59:59Z"]]},
        },
        "links": [],
    }


def _write_part(path: Path, start: int, stop: int, count: int) -> None:
    with path.open("wb") as file:
        for index in range(start, stop):
            file.write(orjson.dumps(item(index, count)))
            file.write(b"\n")


def write_items(path: Path, count: int, workers: int = 2) -> None:
    """Writes items 0…count-1 as NDJSON to `path`, in `workers` processes."""
    bounds = [count * part // workers for part in range(workers + 1)]
    parts = [path.with_suffix(f".part{part}") for part in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        jobs = [
            pool.submit(_write_part, part, bounds[n], bounds[n + 1], count)
            for n, part in enumerate(parts)
        ]
        for job in jobs:
            job.result()
    with path.open("wb") as out:
        for part in parts:
            with part.open("rb") as file:
                while block := file.read(1 << 24):
                    out.write(block)
            part.unlink()


def write_collections(path: Path) -> None:
    """The four collection documents, one per line (the form pypgstac loads)."""
    with path.open("w", encoding="utf-8") as file:
        for spec in COLLECTIONS:
            file.write(json.dumps(collection_document(spec)) + "\n")


def sample_ids(count: int, how_many: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(collection, id) of `how_many` distinct random items among the first `count`."""
    for index in rng.sample(range(count), how_many):
        document = item(index, count)
        yield document["collection"], document["id"]
