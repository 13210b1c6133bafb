"""Local mode survives a crashed worker: its supervisor starts it again, with a delay that
doubles with each crash in a row up to a bound, and says so; the platform stays up."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from territoires.cli.local.supervisor import Supervisor
from territoires.shared.settings import Settings

from ..cli.test_local_mode import Platform
from ..servers import free_port
from .jobs import JobsClient, summer, vegetation_complete

pytestmark = pytest.mark.slow


def crashes(supervisor: Supervisor, messages: list[str], count: int) -> list[float]:
    """The restart delays the supervisor announced for the first `count` crashes."""
    deadline = time.monotonic() + 60
    while sum("restarting it in" in m for m in messages) < count:
        assert time.monotonic() < deadline, messages
        supervisor.tend()
        time.sleep(0.01)
    supervisor.stop()
    delays = [re.search(r"restarting it in ([\d.]+) s", m) for m in messages]
    return [float(d.group(1)) for d in delays if d][:count]


def test_crash_loop_backs_off_exponentially_up_to_the_bound() -> None:
    messages: list[str] = []
    supervisor = Supervisor(
        {}, restart_delay_s=0.05, max_restart_delay_s=0.2, stable_after_s=60, log=messages.append
    )
    supervisor.start("broken", [sys.executable, "-c", "raise SystemExit(3)"])
    assert crashes(supervisor, messages, 5) == [0.05, 0.1, 0.2, 0.2, 0.2]
    assert "broken exited with status 3" in messages[0]
    assert "broken restarted (pid" in messages[1]


def test_a_child_that_ran_long_enough_starts_its_streak_again() -> None:
    messages: list[str] = []
    supervisor = Supervisor(
        {}, restart_delay_s=0.05, max_restart_delay_s=1, stable_after_s=0.2, log=messages.append
    )
    supervisor.start("flaky", [sys.executable, "-c", "import time; time.sleep(0.3)"])
    assert crashes(supervisor, messages, 3) == [0.05, 0.05, 0.05]


def test_local_mode_restarts_a_killed_worker(
    fault_settings: Settings, fault_key: str, tmp_path: Path
) -> None:
    """`territoires run` on the fault suite's PostgreSQL and Redis (given, so nothing is
    initialised or seeded): its worker SIGKILLed, a new one runs the next job."""
    ports = {
        f"TERRITOIRES_{s}_PORT": str(free_port())
        for s in ("GATEWAY", "CATALOG", "COMPUTE", "TILES")
    }
    environment = (
        os.environ
        | ports
        | {
            "DATABASE_URL": fault_settings.database_url or "",
            "REDIS_URL": fault_settings.redis_url or "",
            "TERRITOIRES_REDIS_PREFIX": fault_settings.redis_prefix,
            "TERRITOIRES_STORAGE_URL": fault_settings.storage_url,
            "TERRITOIRES_ASSET_PREFIXES": json.dumps(fault_settings.asset_prefixes),
            "TERRITOIRES_LOCAL_DIR": str(tmp_path),
            "TERRITOIRES_LOG_JSON": "false",
        }
    )
    gateway = f"http://127.0.0.1:{ports['TERRITOIRES_GATEWAY_PORT']}"
    platform = Platform(environment)
    try:
        platform.wait_for("Territoires is up", timeout_s=180)
        first = worker_pid(platform)
        os.kill(first, signal.SIGKILL)
        platform.wait_for("worker exited with signal SIGKILL", timeout_s=30)
        platform.wait_for("worker restarted", timeout_s=30)
        assert platform.process.poll() is None, "the platform stopped"
        assert worker_pid(platform) != first
        assert httpx.get(f"{gateway}/readyz", timeout=10).status_code == 200

        with JobsClient(gateway, fault_key) as jobs:
            job = jobs.submit({"territory": "17300", "datetime": summer()})
            ended = jobs.wait([job], timeout_s=120)[job]
        assert ended["status"] == "successful", (ended, "".join(platform.output)[-3000:])
        assert not vegetation_complete(fault_settings, job)
    finally:
        code = platform.stop(signal.SIGINT)
    assert code == 0, "".join(platform.output)[-3000:]


def worker_pid(platform: Platform) -> int:
    """The one `territoires worker` process the platform runs (from /proc: its children)."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
        if parent == platform.process.pid and b"worker" in command:
            workers.append(int(stat.parent.name))
    assert len(workers) == 1, workers
    return workers[0]
