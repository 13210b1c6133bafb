"""Workers as operators run them (`territoires worker` processes): a worker killed with SIGKILL
mid-job loses nothing — another takes the job again and it succeeds exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import text

from territoires.compute.lifecycle import Submission
from territoires.compute.manager import JobManager
from territoires.compute.processes import PROCESSES
from territoires.compute.processes.base import Services
from territoires.shared.database import create_async_database, create_sync_database
from territoires.shared.models import JobStatus
from territoires.shared.settings import Settings
from territoires.shared.storage import storage_from_settings

from ..stack import key_row, start_worker, stop_worker, wait_for_worker

EVERY_SUMMER = "2021-01-01/2023-12-31"


@pytest.fixture
def own_queue(platform_settings: Settings) -> Settings:
    """The platform's database with a queue no other worker of the suite listens to."""
    return platform_settings.model_copy(
        update={"redis_prefix": f"{platform_settings.redis_prefix}-{os.getpid()}-kill"}
    )


async def test_a_killed_worker_loses_nothing(
    own_queue: Settings, api_key: str, tmp_path: Path
) -> None:
    owner = key_row(own_queue, api_key)
    engine = create_async_database(own_queue)
    queue = await create_pool(RedisSettings.from_dsn(own_queue.redis_url or ""))
    manager = JobManager(Services(own_queue, engine, storage_from_settings(own_queue)), queue)
    process = PROCESSES["vegetation"]
    log = tmp_path / "workers.log"
    workers: list[subprocess.Popen] = []
    try:
        for _ in range(3):  # a tiny job may end before the kill lands: then try another
            first = start_worker(own_queue, log)
            workers.append(first)
            wait_for_worker(own_queue, first, log)
            plan = await manager.plan(
                process, {"territory": ["17300", "17299"], "datetime": EVERY_SUMMER}
            )
            job = await manager.jobs.submit(
                process, plan, None, "http://platform.test", Submission(owner, None, "kill")
            )
            for _ in range(6000):  # 30 s
                if (await manager.get(str(job.id), owner)).status != JobStatus.ACCEPTED:
                    break
                await asyncio.sleep(0.005)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            if (await manager.get(str(job.id), owner)).status == JobStatus.RUNNING:
                break
        else:
            pytest.fail("the job always ended before its worker could be killed")

        second = start_worker(own_queue, log)
        workers.append(second)
        ended = await manager.wait(job.id, timeout_s=90)
        assert ended.status == JobStatus.SUCCESSFUL, (ended.message, log.read_text()[-3000:])
        assert ended.attempts == 2
    finally:
        for worker in workers:
            stop_worker(worker)
        await queue.aclose()
        await engine.dispose()

    sync = create_sync_database(own_queue)
    with sync.connect() as connection:
        items = connection.execute(
            text(
                "SELECT collection_id, count(*) FROM items WHERE "
                "content->'properties'->>'territoires:job_id' = :id GROUP BY 1"
            ),
            {"id": str(job.id)},
        ).all()
        rows = connection.scalar(
            text("SELECT count(*) FROM indicator_statistics WHERE job_id = :id"),
            {"id": str(job.id)},
        )
    sync.dispose()
    assert dict(items) == {"ndvi": 1, "vegetation-cover": 1}
    assert rows == 2
    assert stored_cogs(own_queue, str(job.id)) == ["ndvi.tif", "vegetation-cover.tif"]


def stored_cogs(settings: Settings, job_id: str) -> list[str]:
    return sorted(p.name for p in Path(settings.storage_url, "jobs", job_id).rglob("*.tif"))
