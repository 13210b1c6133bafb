"""The worker's job lifecycle on a real Redis queue and a real jobs table."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from sqlalchemy import select

from territoires.compute import processes, worker
from territoires.shared.database import create_async_database, session_factory
from territoires.shared.models import Job
from territoires.shared.settings import Settings, get_settings


@pytest.fixture
def worker_environment(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("TERRITOIRES_REDIS_PREFIX", settings.redis_prefix)
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


async def run_jobs(settings: Settings, process_id: str, count: int = 1) -> list[Job]:
    """Creates `count` job rows, enqueues their ids, runs a burst worker, returns the rows."""
    engine = create_async_database(settings)
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        jobs = [Job(process_id=process_id, inputs={"n": i}) for i in range(count)]
        session.add_all(jobs)
    redis_settings = RedisSettings.from_dsn(settings.redis_url)
    queue = settings.queue_name
    pool = await create_pool(redis_settings)
    for job in jobs:
        await pool.enqueue_job("run_job", str(job.id), _queue_name=queue)
    await pool.aclose()
    burst = Worker(
        functions=[worker.run_job],
        queue_name=queue,
        redis_settings=redis_settings,
        on_startup=worker.startup,
        on_shutdown=worker.shutdown,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
    )
    await burst.main()
    await burst.close()
    async with sessions() as session:
        rows = (await session.scalars(select(Job).where(Job.id.in_([j.id for j in jobs])))).all()
    await engine.dispose()
    return sorted(rows, key=lambda j: j.inputs["n"])


async def test_successful_job_reports_progress_and_outputs(
    worker_environment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []

    async def double(inputs: dict[str, Any], report) -> dict[str, Any]:
        for step in (25.0, 50.0, 75.0):
            await report(step)
            seen.append(step)
        return {"double": inputs["n"] * 2}

    monkeypatch.setitem(processes.PROCESSES, "double", double)
    jobs = await run_jobs(worker_environment, "double", count=3)
    assert [j.status for j in jobs] == ["successful"] * 3
    assert [j.outputs for j in jobs] == [{"double": 0}, {"double": 2}, {"double": 4}]
    assert all(j.progress == 100 and j.attempts == 1 for j in jobs)
    assert all(j.started_at <= j.finished_at for j in jobs)
    assert sorted(seen) == [25.0] * 3 + [50.0] * 3 + [75.0] * 3


async def test_failing_process_ends_failed_with_its_message(
    worker_environment: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(inputs: dict[str, Any], report) -> dict[str, Any]:
        raise ValueError("no scene covers commune 17300 between 2020-01-01 and 2020-01-02")

    monkeypatch.setitem(processes.PROCESSES, "broken", broken)
    (job,) = await run_jobs(worker_environment, "broken")
    assert job.status == "failed"
    assert job.message.startswith("no scene covers commune 17300")


async def test_unknown_process_fails_clearly(worker_environment: Settings) -> None:
    (job,) = await run_jobs(worker_environment, f"absent-{uuid.uuid4().hex[:4]}")
    assert job.status == "failed"
    assert "is not installed on this worker" in job.message
