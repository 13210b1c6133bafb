"""Jobs partners can share a platform with: each key sees and dismisses only its own jobs, a
retried submission is one job, quotas and a full queue answer with Retry-After, a dismissal in
any state never harms the worker, and a stale attempt never touches the winner's results."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import Popen

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import text

from territoires.compute.app import create_app as create_compute
from territoires.compute.lifecycle import Submission
from territoires.compute.manager import JobManager
from territoires.compute.processes import PROCESSES
from territoires.compute.processes.base import Services
from territoires.compute.worker import JobRunner
from territoires.shared.apikeys import Scope
from territoires.shared.database import create_async_database, create_sync_database
from territoires.shared.models import JobStatus
from territoires.shared.settings import Settings
from territoires.shared.storage import storage_from_settings

from ..servers import serve
from ..stack import SUMMER_2023, issue_key, key_row, written_by
from .test_vegetation import assert_valid, follow

VEGETATION = {"inputs": {"territory": "17300", "datetime": SUMMER_2023}}
ZONAL = {
    "inputs": {
        "territory": "17300",
        "datetime": SUMMER_2023,
        "collection": "sentinel-2-l2a",
        "asset": "B04",
    }
}
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def partners(platform_settings: Settings) -> dict[str, str]:
    """Two partners with the execute scope, and an operator's admin key."""
    return {
        "a": issue_key(platform_settings, "partner-a", Scope.EXECUTE),
        "b": issue_key(platform_settings, "partner-b", Scope.EXECUTE),
        "admin": issue_key(platform_settings, "operator", Scope.ADMIN),
    }


def as_key(platform_url: str, key: str | None) -> httpx.Client:
    headers = {"X-API-Key": key} if key else {}
    return httpx.Client(base_url=platform_url, headers=headers, timeout=60)


def test_a_partner_sees_and_dismisses_only_its_own_jobs(
    platform_url: str, platform_settings: Settings, partners: dict[str, str], worker: Popen
) -> None:
    with (
        as_key(platform_url, partners["a"]) as a,
        as_key(platform_url, partners["b"]) as b,
        as_key(platform_url, partners["admin"]) as admin,
        as_key(platform_url, None) as anonymous,
    ):
        accepted = a.post("/processes/vegetation/execution", json=VEGETATION, headers=ASYNC)
        assert accepted.status_code == 201, accepted.text
        job_id = accepted.json()["jobID"]
        assert follow(a, f"/jobs/{job_id}")[-1]["status"] == "successful"
        assert written_by(platform_settings, job_id) == (2, 1)

        for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/results"):
            refused = b.get(path)
            assert refused.status_code == 404, refused.text
            assert refused.json()["type"].endswith("/no-such-job")
            assert anonymous.get(path).status_code == 404
        assert b.delete(f"/jobs/{job_id}").status_code == 404
        assert anonymous.delete(f"/jobs/{job_id}").status_code == 401
        assert written_by(platform_settings, job_id) == (2, 1)

        listed_by_b = b.get("/jobs", params={"limit": 1000}).json()
        assert job_id not in {j["jobID"] for j in listed_by_b["jobs"]}
        anonymous_list = anonymous.get("/jobs").json()
        assert_valid(anonymous_list, "processes-1.0:jobList")
        assert anonymous_list["jobs"] == []
        assert job_id in {j["jobID"] for j in a.get("/jobs", params={"limit": 1000}).json()["jobs"]}
        assert admin.get(f"/jobs/{job_id}").json()["status"] == "successful"

        dismissed = a.delete(f"/jobs/{job_id}")
        assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
        assert written_by(platform_settings, job_id) == (0, 0)


def test_concurrent_retries_with_one_idempotency_key_make_one_job(
    platform_url: str, platform_settings: Settings, partners: dict[str, str], worker: Popen
) -> None:
    idempotency_key = str(uuid.uuid4())
    headers = ASYNC | {"Idempotency-Key": idempotency_key}

    def submit(_: int) -> httpx.Response:
        with as_key(platform_url, partners["a"]) as a:
            return a.post("/processes/zonal-statistics/execution", json=ZONAL, headers=headers)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(submit, range(20)))
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    assert len({r.json()["jobID"] for r in answers}) == 1
    assert len({r.headers["Location"] for r in answers}) == 1
    engine = create_sync_database(platform_settings)
    with engine.connect() as connection:
        made = connection.scalar(
            text("SELECT count(*) FROM jobs WHERE idempotency_key = :key"),
            {"key": idempotency_key},
        )
    engine.dispose()
    assert made == 1

    with as_key(platform_url, partners["a"]) as a:
        other = {"inputs": {**ZONAL["inputs"], "asset": "B08"}}
        reused = a.post("/processes/zonal-statistics/execution", json=other, headers=headers)
        assert reused.status_code == 422, reused.text
        assert "Idempotency-Key" in reused.json()["detail"]
        too_long = a.post(
            "/processes/zonal-statistics/execution",
            json=ZONAL,
            headers={"Idempotency-Key": "x" * 300},
        )
        assert too_long.status_code == 400
    with as_key(platform_url, partners["b"]) as b:  # keys are per partner
        own = b.post("/processes/zonal-statistics/execution", json=ZONAL, headers=headers)
        assert own.status_code == 201 and own.json()["jobID"] != answers[0].json()["jobID"]


@pytest.fixture
def unworked_compute(platform_settings: Settings) -> Iterator[str]:
    """Compute with small quotas on a queue no worker takes from: submitted jobs stay queued."""
    settings = platform_settings.model_copy(
        update={
            "redis_prefix": f"{platform_settings.redis_prefix}-{os.getpid()}-quota",
            "max_active_jobs_per_key": 2,
            "max_queue_depth": 3,
        }
    )
    with serve(create_compute(settings)) as url:
        yield url


def test_quotas_and_a_full_queue_answer_with_retry_after(
    unworked_compute: str, platform_settings: Settings
) -> None:
    keys = [issue_key(platform_settings, f"quota-{n}", Scope.EXECUTE) for n in range(3)]
    url = f"{unworked_compute}/processes/zonal-statistics/execution"

    def post(key: str) -> httpx.Response:
        return httpx.post(url, json=ZONAL, headers=ASYNC | {"X-API-Key": key}, timeout=30)

    assert [post(keys[0]).status_code for _ in range(2)] == [201, 201]
    over = post(keys[0])
    assert over.status_code == 429, over.text
    assert int(over.headers["Retry-After"]) > 0
    assert "at most 2" in over.json()["detail"]
    assert post(keys[1]).status_code == 201  # another partner still has its quota
    full = post(keys[2])  # three jobs queued: the queue is full for everyone
    assert full.status_code == 503, full.text
    assert int(full.headers["Retry-After"]) > 0


def test_dismissing_at_random_moments_never_harms_the_worker(
    platform_url: str, partners: dict[str, str], worker: Popen
) -> None:
    """20 submit-then-dismiss rounds, dismissed queued, starting, running or finishing."""
    rng = random.Random(15)
    with as_key(platform_url, partners["a"]) as a:
        for _ in range(20):
            accepted = a.post("/processes/vegetation/execution", json=VEGETATION, headers=ASYNC)
            assert accepted.status_code == 201, accepted.text
            time.sleep(rng.uniform(0, 0.6))
            dismissed = a.delete(accepted.headers["Location"])
            assert dismissed.status_code == 200, dismissed.text
            assert dismissed.json()["status"] == "dismissed"
            assert worker.poll() is None, "the worker died"
        time.sleep(1)
        assert worker.poll() is None, "the worker died"
        after = a.post("/processes/vegetation/execution", json=VEGETATION, headers=ASYNC)
        assert follow(a, after.headers["Location"])[-1]["status"] == "successful"


async def test_a_stale_attempt_never_touches_the_winners_results(
    platform_settings: Settings, api_key: str
) -> None:
    """A run whose lease lapsed while it lived (a second worker took the job) finishes after
    the winner: it registers nothing and removes only its own files."""
    settings = platform_settings.model_copy(
        update={"redis_prefix": f"{platform_settings.redis_prefix}-{os.getpid()}-stale"}
    )
    owner = key_row(settings, api_key)
    engine = create_async_database(settings)
    queue = await create_pool(RedisSettings.from_dsn(settings.redis_url or ""))
    services = Services(settings, engine, storage_from_settings(settings))
    try:
        process = PROCESSES["vegetation"]
        manager = JobManager(services, queue)
        plan = await manager.plan(process, VEGETATION["inputs"])
        job = await manager.jobs.submit(
            process, plan, None, "http://platform.test", Submission(owner, None, "stale")
        )
        stale = await JobRunner(services, queue).start(job.id)
        winner = await JobRunner(services, queue).start(job.id)
        assert stale is not None and winner is not None
        assert (stale.attempts, winner.attempts) == (1, 2)
        assert await JobRunner(services, queue).attempt(winner) == JobStatus.SUCCESSFUL
        assert await JobRunner(services, queue).attempt(stale) == "stopped"
        ended = await manager.get(str(job.id), owner)
    finally:
        await queue.aclose()
        await engine.dispose()
    assert ended.status == JobStatus.SUCCESSFUL and ended.attempts == 2
    assert attempt_files(settings, job.id) == {"2": ["ndvi.tif", "vegetation-cover.tif"]}
    assert written_by(settings, str(job.id)) == (2, 1)


def attempt_files(settings: Settings, job_id: uuid.UUID) -> dict[str, list[str]]:
    """The files each attempt of a job left in the storage."""
    folder = Path(settings.storage_url, "jobs", str(job_id), str(job_id))
    return {a.name: sorted(f.name for f in a.iterdir()) for a in folder.iterdir()}
