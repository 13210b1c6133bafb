"""Workers SIGKILLed at random points while they run 50 small jobs: every job ends successful,
once — one NDVI item, one cover item, one statistics row and two COGs each, nothing twice."""

from __future__ import annotations

import random
import time

import pytest
from sqlalchemy import text

from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from ..stack import WORKER_COMMAND
from .jobs import JobsClient, Workers, duplicates, summer, vegetation_complete

pytestmark = pytest.mark.slow

JOBS = 50
WORKERS = 3
KILLS = 3
FLEET = 2  # a killed worker is replaced when fewer remain (each start costs ~6 CPU-s)


def attempts(settings: Settings, job_ids: list[str]) -> dict[str, int]:
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id::text, attempts FROM jobs WHERE id::text = ANY(:ids)"),
                {"ids": job_ids},
            )
            return dict(rows.all())
    finally:
        engine.dispose()


def test_workers_killed_at_random_lose_and_duplicate_nothing(
    fault_settings: Settings, jobs: JobsClient, workers: Workers
) -> None:
    workers.command = WORKER_COMMAND  # recovery by the lease alone, no sweep
    workers.wait_started([workers.start(wait=False) for _ in range(WORKERS)])
    submitted = [jobs.submit({"territory": "17300", "datetime": summer()}) for _ in range(JOBS)]
    chance = random.Random()
    for _ in range(KILLS):
        time.sleep(chance.uniform(0.2, 2.0))
        ready = [p for p in workers.alive() if workers.started(p)] or workers.alive()[:1]
        workers.wait_started(ready)
        workers.kill(chance.choice(ready))
        if len(workers.alive()) < FLEET:
            workers.start(wait=False)
    ended = jobs.wait(submitted, timeout_s=180)

    statuses = {job: status["status"] for job, status in ended.items()}
    assert statuses == dict.fromkeys(submitted, "successful"), (
        {j: ended[j]["message"] for j, s in statuses.items() if s != "successful"},
        workers.tail(),
    )
    incomplete = {job: p for job in submitted if (p := vegetation_complete(fault_settings, job))}
    assert not incomplete, incomplete
    assert duplicates(fault_settings) == {"items": [], "statistics": []}
    assert max(attempts(fault_settings, submitted).values()) >= 2, "no kill hit a running job"
