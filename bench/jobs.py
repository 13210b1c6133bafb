"""Jobs of a trivial process through the Processes API: ours (jobs table + arq queue + a
`territoires worker`) against pygeoapi's stock TinyDB manager, measured in the same run.

    uv run python bench/jobs.py [--jobs 300] [--clients 8] [--latency 50]

Both run a process that returns its input at once, asynchronously (`Prefer: respond-async`):
jobs per second is N jobs submitted by concurrent clients (each submits its share, then polls
each job every 50 ms and fetches its results) until the last results are in; submit→result is
one job at a time, from the POST to the results document, polling the status every 2 ms.
Needs PostgreSQL/PostGIS and Redis: DATABASE_URL and REDIS_URL, else the servers on
127.0.0.1:5432 and :6379; it creates a database of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from sqlalchemy import text

ECHO_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "echo",
    "title": "Echo",
    "description": "Returns its input: what a job costs when the work costs nothing.",
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value"],
    "inputs": {"message": {"title": "Message", "schema": {"type": "string"}}},
    "outputs": {"echo": {"title": "The message", "schema": {"type": "string"}}},
}


def register_echo() -> None:
    """Adds the trivial process to this interpreter's registry (API and worker alike)."""
    from territoires.compute.processes import PROCESSES
    from territoires.compute.processes.base import IndicatorProcess, Outcome, Plan

    class Echo(IndicatorProcess):
        metadata = ECHO_METADATA

        async def validate(self, inputs: dict[str, Any], connection: Any) -> Plan:
            return Plan(inputs=inputs, pixels=1)

        async def run(self, job: Any) -> Outcome:
            return Outcome(results={"echo": {"value": job.inputs["message"]}})

    PROCESSES["echo"] = Echo()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app: Any) -> Iterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def our_platform() -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh database, the compute app in this process and a worker process (this script
    with --worker, so that it knows the echo process too)."""
    from territoires.compute.app import create_app
    from territoires.shared.apikeys import Scope, create_key
    from territoires.shared.database import create_sync_database, database_url
    from territoires.shared.schema import upgrade
    from territoires.shared.settings import Settings

    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"territoires_bench_{uuid.uuid4().hex[:8]}"
    engine = create_sync_database(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = database_url(admin, "postgresql").set(database=name).render_as_string(False)
    storage = tempfile.mkdtemp(prefix="bench-jobs-")
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        storage_url=storage,
        redis_prefix=f"bench-{uuid.uuid4().hex[:6]}",
        log_level="WARNING",
        max_active_jobs_per_key=100_000,  # a burst of one client, as pygeoapi's gets
    )
    upgrade(url)
    own = create_sync_database(url)
    key = create_key(own, "bench", [Scope.EXECUTE], settings.api_key_pepper.get_secret_value())
    own.dispose()
    environment = os.environ | {
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "TERRITOIRES_REDIS_PREFIX": settings.redis_prefix,
        "TERRITOIRES_STORAGE_URL": storage,
        "TERRITOIRES_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen([sys.executable, __file__, "--worker"], env=environment)
    try:
        register_echo()
        with serve(create_app(settings)) as base:
            yield base, {"X-API-Key": key}
    finally:
        worker.terminate()
        worker.wait(30)
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextmanager
def pygeoapi_platform() -> Iterator[tuple[str, dict[str, str]]]:
    """pygeoapi's Starlette app with its TinyDB manager and its hello-world process."""
    folder = Path(tempfile.mkdtemp(prefix="bench-pygeoapi-"))
    port = free_port()
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 1000},
            "map": {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "OpenStreetMap",
            },
            "manager": {
                "name": "TinyDB",
                "connection": str(folder / "jobs.db"),
                "output_dir": str(folder),
            },
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "bench",
                "description": "bench",
                "keywords": ["bench"],
                "keywords_type": "theme",
                "terms_of_service": "",
                "url": "https://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "bench", "url": "https://example.org"},
            "contact": {"name": "bench"},
        },
        "resources": {
            "hello-world": {"type": "process", "processor": {"name": "HelloWorld"}},
        },
    }
    config_path = folder / "config.yml"
    config_path.write_text(yaml.safe_dump(config))
    os.environ["PYGEOAPI_CONFIG"] = str(config_path)
    from pygeoapi.openapi import get_oas

    openapi_path = folder / "openapi.yml"
    openapi_path.write_text(yaml.safe_dump(get_oas(config)))
    os.environ["PYGEOAPI_OPENAPI"] = str(openapi_path)
    from pygeoapi.starlette_app import APP

    config_uvicorn = uvicorn.Config(
        APP, host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config_uvicorn)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", {}
    finally:
        server.should_exit = True
        thread.join(30)


Submit = Callable[[httpx.Client], str]


def submit(client: httpx.Client, base: str, process: str, inputs: dict[str, Any]) -> str:
    """Submits a job asynchronously; returns its status URL."""
    accepted = client.post(
        f"{base}/processes/{process}/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    location = accepted.headers["Location"]
    return location if location.startswith("http") else f"{base}{location}"


def results(client: httpx.Client, location: str, poll_s: float) -> None:
    """Polls a job every `poll_s` until it is successful, then fetches its results."""
    while True:
        status = client.get(location, params={"f": "json"}).json()["status"]
        if status == "successful":
            break
        assert status in ("accepted", "running"), status
        time.sleep(poll_s)
    answer = client.get(f"{location}/results", params={"f": "json"})
    assert answer.status_code == 200, answer.text


def one_job(client: httpx.Client, base: str, process: str, inputs: dict[str, Any]) -> float:
    """Seconds from submitting a job to holding its results, polling every 2 ms."""
    began = time.perf_counter()
    results(client, submit(client, base, process, inputs), 0.002)
    return time.perf_counter() - began


def measure(
    name: str,
    platform: Callable,
    process: str,
    inputs: dict[str, Any],
    jobs: int,
    clients: int,
    latency_runs: int,
) -> tuple[float, float]:
    with platform() as (base, headers):
        with httpx.Client(headers=headers, timeout=60) as client:
            for _ in range(5):  # warm up connections, caches and the worker
                one_job(client, base, process, inputs)
            latencies = [one_job(client, base, process, inputs) for _ in range(latency_runs)]

        def share(count: int) -> None:
            """One client's part: submit its jobs, then collect their results."""
            with httpx.Client(headers=headers, timeout=120) as client:
                locations = [submit(client, base, process, inputs) for _ in range(count)]
                for location in locations:
                    results(client, location, 0.05)

        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for future in [pool.submit(share, jobs // clients) for _ in range(clients)]:
                future.result()
        rate = (jobs // clients * clients) / (time.perf_counter() - began)
    p50 = statistics.median(latencies)
    print(
        f"  {name:<34} {rate:8.1f} jobs/s   submit→result p50 {p50 * 1000:7.1f} ms, "
        f"p90 {statistics.quantiles(latencies, n=10)[-1] * 1000:7.1f} ms"
    )
    return rate, p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--latency", type=int, default=50)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        from arq.worker import run_worker

        register_echo()
        from territoires.compute.worker import WorkerSettings

        run_worker(WorkerSettings)  # type: ignore[arg-type]
        return

    print(
        f"{args.jobs} trivial jobs from {args.clients} clients; latency over {args.latency} "
        "jobs one at a time"
    )
    theirs = measure(
        "pygeoapi 0.21, TinyDB manager",
        pygeoapi_platform,
        "hello-world",
        {"name": "bench"},
        args.jobs,
        args.clients,
        args.latency,
    )
    ours = measure(
        "territoires, PostgreSQL + arq",
        our_platform,
        "echo",
        {"message": "bench"},
        args.jobs,
        args.clients,
        args.latency,
    )
    print(
        f"  jobs per second: {ours[0] / theirs[0]:.1f}× pygeoapi's (goal ≥ 5×); "
        f"our p50 {ours[1] * 1000:.0f} ms (goal < 100 ms)"
    )


if __name__ == "__main__":
    main()
