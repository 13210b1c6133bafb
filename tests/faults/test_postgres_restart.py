"""PostgreSQL crashes and comes back (an immediate stop: no checkpoint, WAL replayed at start)
while a job runs and while `territoires ingest` writes; the cluster is durable (fsync on), as
local mode runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import text

from territoires.cli.local.postgres import PrivateCluster
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from ..stack import worker_environment
from .jobs import JobsClient, Workers, Written, summer, vegetation_complete, written

pytestmark = pytest.mark.slow
ITEMS = 20000
BATCH = 500


def test_local_postgres_is_durable_unless_asked(fault_postgres: PrivateCluster) -> None:
    engine = create_sync_database(fault_postgres.url)
    try:
        with engine.connect() as connection:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                assert connection.scalar(text(f"SHOW {setting}")) == "on", setting
    finally:
        engine.dispose()
    throwaway = PrivateCluster(fault_postgres.directory, fault_postgres.port, durable=False)
    assert "-c fsync=off" in throwaway.server_options()
    assert "fsync" not in fault_postgres.server_options()
    assert PrivateCluster(fault_postgres.directory, fault_postgres.port).durable
    assert Settings.model_fields["local_postgres_durable"].default is True


def test_postgres_crash_during_a_job(
    fault_postgres: PrivateCluster, fault_settings: Settings, jobs: JobsClient, workers: Workers
) -> None:
    """Ideally the job ends successful; else it fails with a clear message, nothing written,
    and the same request submitted again succeeds."""
    workers.start()
    inputs = {"territory": "17300", "datetime": summer()}
    job = jobs.submit(inputs)
    jobs.wait_running(job, timeout_s=30)
    fault_postgres.stop("immediate")
    time.sleep(1.0)
    fault_postgres.start()
    ended = jobs.wait([job], timeout_s=20)[job]

    if ended["status"] == "failed":
        message = ended["message"]
        assert not any(raw in message for raw in ("internal error", "SQL", "sqlalche")), message
        assert written(fault_settings, job) == Written({}, 0, [])
        job = jobs.submit(inputs)
        ended = jobs.wait([job], timeout_s=20)[job]
    assert ended["status"] == "successful", (ended, workers.tail())
    assert not vegetation_complete(fault_settings, job)


def write_items(path: Path, collection: str, count: int) -> Path:
    """`count` STAC items (NDJSON) of one collection: small squares over La Rochelle."""
    with path.open("w") as out:
        for number in range(count):
            west = -1.2 + (number % 100) * 0.001
            south = 46.1 + (number // 100) * 0.001
            bbox = [west, south, west + 0.001, south + 0.001]
            item = {
                "type": "Feature",
                "stac_version": "1.0.0",
                "id": f"tile-{number:06d}",
                "collection": collection,
                "geometry": mapping(box(*bbox)),
                "bbox": bbox,
                "properties": {"datetime": "2023-07-01T10:00:00Z", "number": number},
                "assets": {"data": {"href": f"/data/{number}.tif", "type": "image/tiff"}},
                "links": [],
            }
            out.write(json.dumps(item) + "\n")
    return path


def catalogued(settings: Settings, collection: str) -> list[dict]:
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            return list(
                connection.scalars(
                    text("SELECT content FROM items WHERE collection_id = :c"), {"c": collection}
                )
            )
    finally:
        engine.dispose()


def ingest_process(settings: Settings, path: Path) -> subprocess.Popen:
    """`territoires ingest` as an operator runs it, one writer and small batches: the crash
    lands between batches written and batches to come."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "territoires.cli.main", "ingest", str(path)),
            *("--batch-size", str(BATCH), "--writers", "1", "--workers", "0"),
        ],
        env=worker_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_postgres_crash_during_ingest(
    fault_postgres: PrivateCluster, fault_settings: Settings, tmp_path: Path
) -> None:
    """A clear one-line failure, whole batches only in the catalog, and a rerun that finishes."""
    collection = f"faults-ingest-{uuid.uuid4().hex[:6]}"
    items = write_items(tmp_path / "items.ndjson", collection, ITEMS)
    first = ingest_process(fault_settings, items)
    while not catalogued(fault_settings, collection):
        assert first.poll() is None, first.communicate()
        time.sleep(0.02)
    fault_postgres.stop("immediate")
    output, _ = first.communicate(timeout=60)
    fault_postgres.start()

    assert first.returncode == 1, output
    assert "Traceback" not in output, output
    assert "the database connection was lost during the ingest" in output, output
    assert "run the same command again" in output, output
    stored = catalogued(fault_settings, collection)
    assert len(stored) < ITEMS, "the crash came too late to test anything"
    assert len(stored) % BATCH == 0, f"{len(stored)} items: a batch was written in part"
    for content in stored:
        number = content["properties"]["number"]
        assert content["assets"]["data"]["href"] == f"/data/{number}.tif"

    second = ingest_process(fault_settings, items)
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 0, output
    assert f"{ITEMS - len(stored)} items added, {len(stored)} replaced, 0 failed" in output
    assert len(catalogued(fault_settings, collection)) == ITEMS
