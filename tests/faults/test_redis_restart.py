"""Redis crashes with jobs queued and running, and comes back empty (no persistence): the jobs
table is the source of truth, and the workers' stale-job sweep queues them again."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from territoires.cli.local.redis import EmbeddedRedis
from territoires.cli.local.supervisor import Supervisor
from territoires.shared.settings import Settings

from ..stack import wait_for_worker, worker_environment
from .jobs import SWEEPING_WORKER, JobsClient, duplicates, summer, vegetation_complete

pytestmark = pytest.mark.slow


@contextmanager
def supervised_worker(settings: Settings) -> Iterator[Supervisor]:
    supervisor = Supervisor(worker_environment(settings), restart_delay_s=0.5)
    supervisor.start("worker", SWEEPING_WORKER)
    watching = threading.Event()
    watching.set()

    def watch() -> None:
        while watching.is_set():
            supervisor.tend()
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield supervisor
    finally:
        watching.clear()
        watcher.join()
        supervisor.stop()


def crash(server: EmbeddedRedis) -> None:
    """SIGKILL, and its snapshot gone: Redis comes back without a key."""
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    (server.directory / "dump.rdb").unlink(missing_ok=True)
    server.start()


def test_redis_crash_with_jobs_queued(
    fault_redis: EmbeddedRedis, fault_settings: Settings, jobs: JobsClient
) -> None:
    """The worker loses its Redis connection and exits (arq does not reconnect); local mode's
    supervisor starts it again, as an orchestrator would."""
    with supervised_worker(fault_settings) as supervisor:
        # Its output goes to ours (the supervisor relays it): nothing to read back on failure.
        wait_for_worker(fault_settings, supervisor.children[0].process, Path(os.devnull))
        submitted = [jobs.submit({"territory": "17300", "datetime": summer()}) for _ in range(6)]
        jobs.wait_running(submitted[0], timeout_s=30)
        crash(fault_redis)
        ended = jobs.wait(submitted, timeout_s=90)
    assert {j: e["status"] for j, e in ended.items()} == dict.fromkeys(submitted, "successful")
    incomplete = {job: p for job in submitted if (p := vegetation_complete(fault_settings, job))}
    assert not incomplete, incomplete
    assert duplicates(fault_settings) == {"items": [], "statistics": []}
