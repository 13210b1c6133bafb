"""A fanned-out vegetation job spread over worker hosts, one of which is cut off mid-job (its
link down while it runs a part: a partition, or a machine that froze; its worker lives on,
reaching nothing): the job still ends `successful` once, with one result set, and more than one
host did its work."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import text

from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings
from territoires.shared.storage import storage_from_settings

from ..faults.jobs import JobsClient, duplicates
from ..s3 import object_keys
from .conftest import COMMUNES_PER_PART, Platform

PARTS = 4
STARTED = re.compile(r"job started\s.*?attempt=(\d+).*?job_id=(\S+)\s.*?parent_id=(\S+)")


def communes_in_scene(settings: Settings, count: int) -> list[str]:
    """`count` communes wholly inside the Sentinel-2 scene."""
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            codes = connection.scalars(
                text(
                    "SELECT t.code FROM territories t, items i WHERE t.level = 'commune'"
                    " AND i.collection_id = 'sentinel-2-l2a'"
                    " AND ST_Within(t.geometry, i.geometry) ORDER BY t.code LIMIT :n"
                ),
                {"n": count},
            ).all()
    finally:
        engine.dispose()
    assert len(codes) == count, f"only {len(codes)} communes in the scene"
    return list(codes)


def runs(log: Path) -> list[tuple[str, int]]:
    """(sub-job, attempt) of each part a worker started, in order."""
    found = STARTED.findall(log.read_text(errors="replace"))
    return [(job, int(attempt)) for attempt, job, parent in found if parent != "None"]


def sub_jobs(settings: Settings, parent: str) -> dict[str, tuple[str, int]]:
    """Each sub-job's status and attempts."""
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id::text, status, attempts FROM jobs WHERE parent_id = :id"),
                {"id": parent},
            ).all()
    finally:
        engine.dispose()
    return {row[0]: (row[1], row[2]) for row in rows}


def results_of(settings: Settings, parent: str) -> tuple[dict[str, int], int]:
    """Items per collection and statistics rows the job filed."""
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            items = connection.execute(
                text(
                    "SELECT collection_id, count(*) FROM items WHERE "
                    "content->'properties'->>'territoires:job_id' = :id GROUP BY 1"
                ),
                {"id": parent},
            ).all()
            rows = connection.scalar(
                text("SELECT count(*) FROM indicator_statistics WHERE job_id = :id"),
                {"id": parent},
            )
    finally:
        engine.dispose()
    return dict(items), rows or 0


def test_a_fanned_out_job_survives_a_lost_worker_host(platform: Platform, jobs: JobsClient) -> None:
    settings, workers = platform.settings, platform.workers
    communes = communes_in_scene(settings, PARTS * COMMUNES_PER_PART)
    job = jobs.submit({"territory": communes, "datetime": "2023-06-01/2023-08-31"})

    # The first worker host seen running a part is the one lost, while that part runs.
    deadline = time.monotonic() + 120
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, f"no part started:\n{workers.tail()}"
        for process, log in workers.processes.items():
            if runs(log):
                victim = process
                break
        else:
            time.sleep(0.02)
    platform.hosts[victim].cut()
    lost_part = runs(workers.processes[victim])[-1][0]
    status_at_loss = sub_jobs(settings, job).get(lost_part)

    ended = jobs.wait([job], timeout_s=150)[job]
    assert ended["status"] == "successful", (ended.get("message"), workers.tail())

    parts = sub_jobs(settings, job)
    assert len(parts) == PARTS
    assert {status for status, _ in parts.values()} == {"successful"}, parts
    assert status_at_loss == ("running", 1), f"the lost host had finished its part: {parts}"
    assert parts[lost_part][1] == 2, "the lost part was not run again"
    survivors = {
        process: [part for part, _ in runs(log)]
        for process, log in workers.processes.items()
        if process is not victim
    }
    assert lost_part in {part for done in survivors.values() for part in done}
    assert sum(1 for done in survivors.values() if done) >= 2, survivors

    items, statistics = results_of(settings, job)
    assert items == {"ndvi": PARTS, "vegetation-cover": PARTS}, items
    assert statistics == len(communes)
    assert duplicates(settings)["statistics"] == []  # items: one per part, counted above
    storage = storage_from_settings(settings)
    attempts: dict[str, set[str]] = {}
    for key in object_keys(storage, f"{storage.prefix}/jobs/{job}/"):
        part, attempt = key.split("/")[-3:-1]
        attempts.setdefault(part, set()).add(attempt)
    assert attempts == {part: {str(tries)} for part, (_, tries) in parts.items()}, attempts
