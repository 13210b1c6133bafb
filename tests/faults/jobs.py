"""What the fault tests do to jobs and check of them: submit over the API, follow until the end
(through errors while a server is down), count what a job left in the catalog and the storage,
and run, kill and replace worker processes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy import text

from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from ..stack import WORKER_COMMAND, start_worker, stop_worker

FINAL = ("successful", "failed", "dismissed")
SWEEPING_WORKER = (WORKER_COMMAND[0], str(Path(__file__).with_name("sweeping_worker.py")))


PERIODS = itertools.count()


def summer() -> str:
    """Summer 2023 (one synthetic scene of each collection) ending a few seconds earlier at each
    call: a period of its own, hence statistics rows of its own (they are unique by territory,
    indicator and period), for every job of the suite."""
    number = next(PERIODS)
    return f"2023-06-01T00:00:00Z/2023-08-31T23:{59 - number // 60:02d}:{59 - number % 60:02d}Z"


class JobsClient:
    """The Processes API of one compute service, with an execute key."""

    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30)

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.http.close()

    def submit(self, inputs: dict[str, Any], process: str = "vegetation") -> str:
        response = self.http.post(
            f"/processes/{process}/execution",
            json={"inputs": inputs},
            headers={"Prefer": "respond-async"},
        )
        assert response.status_code == 201, response.text
        return response.json()["jobID"]

    def status(self, job_id: str) -> dict[str, Any] | None:
        """The job's status document; None while the API cannot answer (a server is down)."""
        try:
            response = self.http.get(f"/jobs/{job_id}")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def wait(self, job_ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
        """Every job's final status document; AssertionError naming those still going."""
        ended: dict[str, dict[str, Any]] = {}
        last: dict[str, Any] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for job_id in [j for j in job_ids if j not in ended]:
                status = self.status(job_id)
                last[job_id] = status
                if status and status["status"] in FINAL:
                    ended[job_id] = status
            if len(ended) == len(job_ids):
                return ended
            time.sleep(0.2)
        going = {j: last.get(j) for j in job_ids if j not in ended}
        raise AssertionError(f"{len(going)} jobs did not end in {timeout_s:.0f} s: {going}")

    def wait_running(self, job_id: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status(job_id)
            if status and status["status"] != "accepted":
                return
            time.sleep(0.005)
        raise AssertionError(f"job {job_id} never started")


@dataclass(frozen=True)
class Written:
    """What a job left behind: items by collection, statistics rows, stored files."""

    items: dict[str, int]
    statistics: int
    files: list[str]


def written(settings: Settings, job_id: str) -> Written:
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            items = connection.execute(
                text(
                    "SELECT collection_id, count(*) FROM items WHERE "
                    "content->'properties'->>'territoires:job_id' = :id GROUP BY 1"
                ),
                {"id": job_id},
            ).all()
            rows = connection.scalar(
                text("SELECT count(*) FROM indicator_statistics WHERE job_id = :id"),
                {"id": job_id},
            )
    finally:
        engine.dispose()
    folder = Path(settings.storage_url, "jobs", job_id)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return Written(dict(items), rows or 0, files)


def vegetation_complete(settings: Settings, job_id: str) -> list[str]:
    """What is wrong with a successful vegetation job of one commune's outputs (empty: nothing):
    one NDVI and one cover item, one statistics row, and their two COGs."""
    found = written(settings, job_id)
    problems = []
    if found.items != {"ndvi": 1, "vegetation-cover": 1}:
        problems.append(f"items {found.items}")
    if found.statistics != 1:
        problems.append(f"{found.statistics} statistics rows")
    if sorted(Path(f).name for f in found.files) != ["ndvi.tif", "vegetation-cover.tif"]:
        problems.append(f"files {found.files}")
    return problems


def duplicates(settings: Settings) -> dict[str, list[Any]]:
    """Result items or statistics rows that appear more than once for one job and indicator."""
    engine = create_sync_database(settings)
    try:
        with engine.connect() as connection:
            items = connection.execute(
                text(
                    "SELECT content->'properties'->>'territoires:job_id', collection_id, count(*)"
                    " FROM items WHERE content->'properties' ? 'territoires:job_id'"
                    " GROUP BY 1, 2 HAVING count(*) > 1"
                )
            ).all()
            rows = connection.execute(
                text(
                    "SELECT job_id, indicator, territory_code, count(*) FROM indicator_statistics"
                    " GROUP BY 1, 2, 3 HAVING count(*) > 1"
                )
            ).all()
    finally:
        engine.dispose()
    return {"items": list(items), "statistics": list(rows)}


@dataclass
class Workers:
    """`territoires worker` processes on one queue, each logging to a file of its own."""

    settings: Settings
    logs: Path
    command: tuple[str, ...] = SWEEPING_WORKER
    processes: dict[subprocess.Popen, Path] = field(default_factory=dict)

    def start(self, wait: bool = True, **popen: Any) -> subprocess.Popen:
        log = self.logs / f"worker-{len(self.processes)}.log"
        process = start_worker(self.settings, log, self.command, **popen)
        self.processes[process] = log
        if wait:
            self.wait_started([process])
        return process

    def started(self, process: subprocess.Popen) -> bool:
        """Whether it has warmed its kernels and takes jobs (it logs "worker started")."""
        return "worker started" in self.processes[process].read_text(errors="replace")

    def wait_started(self, processes: list[subprocess.Popen], timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        for process in processes:
            while not self.started(process):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a worker did not start:\n{self.tail()}")
                time.sleep(0.05)

    def kill(self, process: subprocess.Popen) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.processes if p.poll() is None]

    def stop_all(self) -> None:
        for process in self.processes:
            stop_worker(process)

    def tail(self, characters: int = 3000) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-characters:]}"
            for log in self.processes.values()
            if log.exists()
        )
