"""Bulk ingest throughput: `territoires ingest` on NDJSON items vs. a plain executemany INSERT.

    uv run python bench/ingest.py [--items 100000] [--baseline-items 20000] [--workers N]

Writes N Sentinel-2-like items the way `territoires synth` writes items.ndjson (six band assets
with eo/raster fields, hrefs relative to the file, collection and parent links), then, each into
a fresh migrated database on the test server (TERRITOIRES_TEST_DATABASE_URL, DATABASE_URL or
postgres@127.0.0.1:5432):

- baseline: one process reads each line, validates it with `records.item_row` and writes it
  with an `INSERT … ON CONFLICT DO UPDATE` executemany, in batches of 5,000 per transaction;
- ingest: `loader.ingest` on the file, as the command runs it; then again on the same file (every
  item replaced).

Prints items/s of each and the ratios to the baseline. The baseline runs on fewer items (it is
slow); rates, not totals, are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.shared.database import create_sync_database, database_url
from territoires.shared.schema import upgrade
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections

BANDS = {
    "B02": ("blue", 0.49),
    "B03": ("green", 0.56),
    "B04": ("red", 0.665),
    "B08": ("nir", 0.842),
    "B11": ("swir16", 1.61),
    "B12": ("swir22", 2.19),
}
COLLECTION = "sentinel-2-l2a"
BATCH = 5000

_INSERT = text(
    """
INSERT INTO items (collection_id, id, geometry, datetime, start_datetime, end_datetime, content)
VALUES (:collection_id, :id, ST_GeomFromEWKB(:geometry), :datetime, :start_datetime,
        :end_datetime, CAST(:content AS jsonb))
ON CONFLICT (collection_id, id) DO UPDATE SET
  geometry = excluded.geometry, datetime = excluded.datetime,
  start_datetime = excluded.start_datetime, end_datetime = excluded.end_datetime,
  content = excluded.content, updated_at = now()
"""
)


def synthetic_item(index: int, rng: random.Random) -> dict[str, Any]:
    """A Sentinel-2 L2A scene somewhere over mainland France, as synth's items.ndjson has it."""
    west, south = rng.uniform(-4.5, 7.0), rng.uniform(42.5, 50.5)
    ring = [[west, south], [west + 0.3, south], [west + 0.3, south + 0.2], [west, south + 0.2]]
    day = f"2023-{1 + index % 12:02d}-{1 + index % 28:02d}"
    identifier = f"S2B_MSIL2A_{day.replace('-', '')}_{index:08d}"
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": identifier,
        "collection": COLLECTION,
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        "bbox": [west, south, west + 0.3, south + 0.2],
        "properties": {
            "datetime": f"{day}T10:30:00Z",
            "platform": "sentinel-2b",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": round(rng.uniform(0, 100), 2),
            "proj:epsg": 32631,
            "proj:shape": [2048, 2048],
            "proj:transform": [10.0, 0.0, 600000.0, 0.0, -10.0, 5100000.0],
        },
        "links": [
            {"rel": "collection", "href": f"collections/{COLLECTION}.json"},
            {"rel": "parent", "href": f"collections/{COLLECTION}.json"},
        ],
        "assets": {
            band: {
                "href": f"{COLLECTION}/{identifier}/{band}.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "title": f"{band} ({name})",
                "roles": ["data"],
                "eo:bands": [{"name": band, "common_name": name, "center_wavelength": centre}],
                "raster:bands": [
                    {"data_type": "uint16", "nodata": 0, "scale": 0.0001, "spatial_resolution": 10}
                ],
            }
            for band, (name, centre) in BANDS.items()
        },
    }


def write_items(path: Path, count: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as file:
        for index in range(count):
            file.write(json.dumps(synthetic_item(index, rng), separators=(",", ":")) + "\n")


def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"territoires_bench_ingest_{uuid.uuid4().hex[:8]}"
    engine = create_sync_database(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = database_url(admin_url, "postgresql").set(database=name).render_as_string(False)
    upgrade(url)
    return name, url


def drop_database(admin_url: str, name: str) -> None:
    engine = create_sync_database(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def baseline(url: str, path: Path, count: int) -> float:
    """Items/s of a straightforward loader: parse, validate, executemany, commit per batch."""
    engine = create_sync_database(url)
    started = time.perf_counter()
    with path.open(encoding="utf-8") as file, engine.connect() as connection:
        _collection(connection)
        batch: list[dict[str, Any]] = []
        for _, line in zip(range(count), file, strict=False):
            row = item_row(json.loads(line))
            batch.append(row | {"content": json.dumps(row["content"])})
            if len(batch) == BATCH:
                _insert(connection, batch)
                batch = []
        _insert(connection, batch)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return count / elapsed


def _collection(connection: Any) -> None:
    document = {
        "type": "Collection",
        "id": COLLECTION,
        "description": "bench",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-5, 42, 8, 51]]},
            "temporal": {"interval": [[None, None]]},
        },
    }
    with connection.begin():
        upsert_collections(connection, [collection_row(document)])


def _insert(connection: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        with connection.begin():
            connection.execute(_INSERT, rows)


def ingest_rate(url: str, path: Path, workers: int | None) -> tuple[float, int, int]:
    engine = create_sync_database(url)
    options = IngestOptions(workers=workers)
    report = ingest(engine, find_inputs([path], options), options)
    engine.dispose()
    assert not report.problems, report.problems[:3]
    return report.items_per_s, report.inserted, report.updated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--baseline-items", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=None, help="default: as the command")
    arguments = parser.parse_args()
    admin = (
        os.environ.get("TERRITOIRES_TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "items.ndjson"
        write_items(path, arguments.items)
        size_mb = path.stat().st_size / 1e6
        print(f"{arguments.items:,} items, {size_mb:.0f} MB NDJSON, {os.cpu_count()} CPUs")
        names = []
        try:
            name, url = fresh_database(admin)
            names.append(name)
            base = baseline(url, path, min(arguments.baseline_items, arguments.items))
            print(f"baseline (executemany INSERT, 1 process): {base:9,.0f} items/s")
            name, url = fresh_database(admin)
            names.append(name)
            for label in ("ingest, new items", "ingest, same items again"):
                rate, inserted, updated = ingest_rate(url, path, arguments.workers)
                print(
                    f"{label:<40} {rate:9,.0f} items/s  ({rate / base:.1f}× baseline; "
                    f"{inserted:,} added, {updated:,} replaced)"
                )
        finally:
            for name in names:
                drop_database(admin, name)


if __name__ == "__main__":
    main()
