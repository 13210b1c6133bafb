"""The platform spread over hosts (network namespaces on this machine, see network.py): a
PostgreSQL host and a Redis host (private servers listening on their host's address), an S3
host (moto's server: the results' bucket), an API host running the compute service, and worker
hosts each running `territoires worker`. The input scenes are a folder every host sees
(namespaces share the filesystem); results go to the S3 host only, so a host cut off writes
nowhere. The client, pytest, reaches them from the machine's own address on the bridge.

Skipped, with the reason in one line, where namespaces cannot be made (not root, no `ip`, a
sandbox refusing them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from territoires.cli.local.platform import uvicorn_command
from territoires.cli.local.postgres import PrivateCluster
from territoires.cli.local.redis import EmbeddedRedis
from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate

from ..conftest import ROOT, RUN_ID
from ..faults.jobs import JobsClient, Workers
from ..s3 import S3Server, new_bucket, wait_for
from ..stack import WORKER_COMMAND, issue_key, prepare_database, worker_environment
from .network import Host, Network, network, unavailable

pytestmark = pytest.mark.slow

WORKER_HOSTS = 3
SCENE_SIZE = 2048  # 20 km of Sentinel-2 at 10 m: about 30 communes wholly inside
SCENE_BBOX = (-0.83, 45.76, -0.57, 45.94)  # inland Charente-Maritime, many small communes
COMMUNES_PER_PART = 4
COMPUTE_PORT = 8002
S3_PORT = 5000


@pytest.fixture(scope="module")
def lan() -> Iterator[Network]:
    reason = unavailable()
    if reason:
        pytest.skip(f"no separate hosts on this machine: {reason}")
    with network() as made:
        yield made


@pytest.fixture(scope="module")
def inland_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Sentinel-2 scene of summer 2023 over many small communes: parts with real work."""
    folder = tmp_path_factory.mktemp("hosts-scene") / "s2"
    summer = {"start": date(2023, 6, 1), "end": date(2023, 8, 31)}
    generate(SCENE_BBOX, folder, size=SCENE_SIZE, sensors=["s2"], **summer)
    return folder


@dataclass
class Platform:
    settings: Settings  # as every host sees it: database, Redis and S3 at their hosts' addresses
    api: str
    key: str
    workers: Workers
    hosts: dict[object, Host]  # worker process → its host


@pytest.fixture(scope="module")
def platform(
    lan: Network, inland_scene: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    state = ROOT / ".data" / f"test-hosts-{RUN_ID}"
    database, queue, store, api = (lan.add(role) for role in ("db", "redis", "s3", "api"))
    cluster = PrivateCluster(state / "pg", 5432, durable=False, host=database.address)
    redis = EmbeddedRedis(state / "redis", 6379, host=queue.address)
    try:
        with database.inside():
            cluster.start()
        with queue.inside():
            redis.start()
        logs = tmp_path_factory.mktemp("hosts-logs")
        with store.inside(), (logs / "s3.log").open("wb") as output:
            command = [sys.executable, "-m", "moto.server", "-H", store.address, "-p", str(S3_PORT)]
            s3 = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        s3_server = S3Server(f"http://{store.address}:{S3_PORT}")
        wait_for(s3_server.endpoint, s3, logs / "s3.log")
        plain = Settings(
            DATABASE_URL=cluster.url,
            REDIS_URL=redis.url,
            redis_prefix=f"territoires-hosts-{RUN_ID}",
            # The backends are on other hosts: a development pepper would be refused.
            api_key_pepper=SecretStr(f"territoires-hosts-{RUN_ID}-pepper"),
            asset_prefixes=[str(inland_scene)],
            host=api.address,
            compute_port=COMPUTE_PORT,
            worker_max_jobs=1,
            fanout_communes=COMMUNES_PER_PART,
        )
        settings = s3_server.settings(plain, new_bucket(s3_server, plain).bucket)
        prepare_database(settings, inland_scene)
        key = issue_key(settings, "hosts", Scope.EXECUTE)
        with api.inside(), (logs / "compute.log").open("wb") as output:
            service = subprocess.Popen(
                uvicorn_command("compute", settings),
                env=worker_environment(settings),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        workers = Workers(settings, logs, command=WORKER_COMMAND)
        hosts = {}
        for number in range(WORKER_HOSTS):
            host = lan.add(f"worker{number + 1}")
            with host.inside():
                hosts[workers.start(wait=False)] = host
        url = f"http://{api.address}:{COMPUTE_PORT}"
        try:
            wait_healthy(url, service, logs / "compute.log")
            workers.wait_started(list(hosts), timeout_s=240)
            yield Platform(settings, url, key, workers, hosts)
        finally:
            for host in hosts.values():
                host.kill_all()  # a cut-off worker would wait out its graceful stop
            workers.stop_all()
            service.terminate()
            service.wait(30)
            s3.terminate()
            s3.wait(30)
            redis.stop()
    finally:
        cluster.destroy()
        shutil.rmtree(state, ignore_errors=True)


def wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180  # imports take a minute on a loaded machine
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the compute service did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture
def jobs(platform: Platform) -> Iterator[JobsClient]:
    with JobsClient(platform.api, platform.key) as client:
        yield client
