"""`territoires run` end to end: a private PostGIS, an embedded Redis, four services and a worker,
started, checked over real HTTP, survived a PostgreSQL restart, stopped, and started again."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from territoires.cli.local.allocator import jemalloc_library
from territoires.cli.local.postgres import PrivateCluster
from territoires.compute.processes import land_cover_change as change
from territoires.compute.processes import local_climate_zones as lcz
from territoires.compute.processes import vegetation_strata as strata
from territoires.shared.database import create_sync_database
from territoires.shared.territories import count_territories

from ..compute.test_plugins import tile_url
from ..compute.test_s3_storage import RASTERS, pixels
from ..compute.test_vegetation import executed
from ..conftest import ROOT
from ..s3 import ACCESS_KEY, SECRET_KEY, S3Server
from ..stack import SUMMER_2023

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_processes(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for task in tasks for c in (task / "children").read_text().split()]


class Platform:
    """One `territoires run` process whose merged output is read line by line."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "territoires.cli.main", "run"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"never saw {text!r}; output:\n{''.join(self.output)}")

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 60) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout_s)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code


@pytest.fixture
def local_environment() -> Iterator[dict[str, str]]:
    local_dir = ROOT / ".data" / f"test-local-{uuid.uuid4().hex[:6]}"
    environment = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")
    } | {
        "TERRITOIRES_LOCAL_DIR": str(local_dir),
        "TERRITOIRES_STORAGE_URL": str(local_dir / "storage"),
        "TERRITOIRES_DEMO_SCENE_SIZE": "512",
        "TERRITOIRES_LOCAL_POSTGRES_PORT": str(free_port()),
        "TERRITOIRES_LOCAL_REDIS_PORT": str(free_port()),
        **{
            f"TERRITOIRES_{s}_PORT": str(free_port())
            for s in ("GATEWAY", "CATALOG", "COMPUTE", "TILES")
        },
    }
    yield environment
    PrivateCluster(local_dir / "pg", int(environment["TERRITOIRES_LOCAL_POSTGRES_PORT"])).destroy()


def all_ports_free(environment: dict[str, str]) -> bool:
    ports = [int(v) for k, v in environment.items() if k.endswith("_PORT")]
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


def test_run_serves_the_demo_survives_postgres_restart_and_restarts_fast(
    local_environment: dict[str, str],
) -> None:
    gateway = f"http://127.0.0.1:{local_environment['TERRITOIRES_GATEWAY_PORT']}"
    cluster = PrivateCluster(
        Path(local_environment["TERRITOIRES_LOCAL_DIR"]) / "pg",
        int(local_environment["TERRITOIRES_LOCAL_POSTGRES_PORT"]),
    )
    first = Platform(local_environment)
    try:
        first.wait_for("Territoires is up", timeout_s=240)
        ready = httpx.get(f"{gateway}/readyz").json()
        assert ready["status"] == "ok", ready
        assert {name for name, c in ready["checks"].items() if c["status"] == "ok"} == {
            "database",
            "redis",
            "catalog",
            "compute",
            "tiles",
        }
        landing = httpx.get(f"{gateway}/").json()
        assert [s["status"] for s in landing["services"]] == ["ok", "ok", "ok"]
        forged = httpx.get(
            f"{gateway}/stac/", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        ).text
        assert "evil.example" not in forged
        assert f"http://localhost:{local_environment['TERRITOIRES_GATEWAY_PORT']}/stac" in forged
        if jemalloc_library():
            children = [
                pid
                for pid in child_processes(first.process.pid)
                if b"territoires" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
            assert len(children) == 5, children  # four services and the worker
            assert all("jemalloc" in Path(f"/proc/{pid}/maps").read_text() for pid in children)
        scenes = httpx.get(
            f"{gateway}/stac/search", params={"bbox": "-1.2,46.14,-1.1,46.18", "limit": 50}
        ).json()
        collections = {f["collection"] for f in scenes["features"]}
        assert {"sentinel-2-l2a", "landsat-c2-l2"} <= collections, collections
        engine = create_sync_database(cluster.url)
        assert count_territories(engine) == {"commune": 609, "departement": 101}
        engine.dispose()
        # A second terminal: commands find the running platform's database, no DATABASE_URL.
        beside = make_key(local_environment, "beside-local-mode")
        assert beside.startswith("trr_"), beside

        cluster.stop()
        down = httpx.get(f"{gateway}/readyz", timeout=10)
        assert down.status_code == 503
        assert "database" in down.json()["detail"]
        cluster.start()
        deadline = time.monotonic() + 30
        while httpx.get(f"{gateway}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "readiness did not recover"
            time.sleep(0.5)
        assert first.process.poll() is None, "the platform died while PostgreSQL was down"
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0, "".join(first.output)
    assert all_ports_free(local_environment)
    assert not (Path(local_environment["TERRITOIRES_LOCAL_DIR"]) / "local-mode.env").exists()
    assert not cluster.running()

    second = Platform(local_environment)
    try:
        second.wait_for("Territoires is up", timeout_s=120)
        assert httpx.get(f"{gateway}/readyz").status_code == 200
    finally:
        assert second.stop(signal.SIGTERM) == 0
    output = "".join(second.output)
    assert "loading the demo territories" not in output  # the data was reused
    assert "initdb" not in output


def test_the_demo_runs_vegetation_strata_out_of_the_box(local_environment: dict[str, str]) -> None:
    """The demo scenes hold spring, summer and autumn 2023 and the town's buildings: the
    examples of vegetation-strata and local-climate-zones run."""
    gateway = f"http://127.0.0.1:{local_environment['TERRITOIRES_GATEWAY_PORT']}"
    platform = Platform(local_environment)
    try:
        platform.wait_for("Territoires is up", timeout_s=240)
        key = make_key(local_environment, "strata")
        with httpx.Client(base_url=gateway, headers={"X-API-Key": key}, timeout=120) as http:
            _, results = executed(
                http, "vegetation-strata", strata.PROCESS_METADATA["example"]["inputs"]
            )
            _, zones = executed(
                http, "local-climate-zones", lcz.PROCESS_METADATA["example"]["inputs"]
            )
        figures = results["figures"]["value"]["17300"]
        assert sorted(figures["scenes"]) == ["autumn", "spring", "summer"]
        assert 0.0 < figures["vegetated_share"] < 1.0
        assert zones["figures"]["value"]["17300"]["buildings"] > 0
    finally:
        assert platform.stop(signal.SIGINT) == 0, "".join(platform.output)


def test_the_demo_runs_land_cover_change_out_of_the_box(
    local_environment: dict[str, str],
) -> None:
    """The demo scenes hold three scenes each of the summers 2022 and 2023, and parcels that
    changed in between: the process's own example runs and finds them."""
    gateway = f"http://127.0.0.1:{local_environment['TERRITOIRES_GATEWAY_PORT']}"
    platform = Platform(local_environment)
    try:
        platform.wait_for("Territoires is up", timeout_s=240)
        key = make_key(local_environment, "changes")
        with httpx.Client(base_url=gateway, headers={"X-API-Key": key}, timeout=120) as http:
            _, results = executed(
                http, "land-cover-change", change.PROCESS_METADATA["example"]["inputs"]
            )
        figures = results["figures"]["value"]["17300"]
        assert (figures["before"]["scenes"], figures["after"]["scenes"]) == (3, 3)
        assert figures["sealed_ha"] + figures["desealed_ha"] > 0
        assert figures["change_polygons"] > 0
    finally:
        assert platform.stop(signal.SIGINT) == 0, "".join(platform.output)


def test_port_in_use_is_a_one_line_error(local_environment: dict[str, str]) -> None:
    port = int(local_environment["TERRITOIRES_GATEWAY_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "-m", "territoires.cli.main", "run"],
            env=local_environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {port} (gateway) is already in use" in lines[0]


def make_key(environment: dict[str, str], name: str) -> str:
    """An execute key made as the README has it, beside the running platform."""
    command = ["keys", "create", "--name", name, "--scopes", "execute"]
    made = subprocess.run(
        [sys.executable, "-m", "territoires.cli.main", *command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def vegetation_pixels(gateway: str, key: str) -> tuple[str, dict[str, str]]:
    """A vegetation job over the demo commune run through the gateway: its id and the pixel
    digest of each result COG as downloaded, after a tile of each was drawn (200, a PNG)."""
    with httpx.Client(base_url=gateway, headers={"X-API-Key": key}, timeout=120) as http:
        job_id, results = executed(
            http, "vegetation", {"territory": "17300", "datetime": SUMMER_2023}
        )
        digests = {}
        for name in RASTERS:
            digests[name] = pixels(http, results[name]["href"])
            tilejson = http.get(results[f"{name}-tiles"]["href"]).json()
            lon, lat = tilejson["center"][:2]
            tile = http.get(tile_url(tilejson["tiles"][0], lon, lat, tilejson["minzoom"] + 2))
            assert tile.status_code == 200 and tile.content.startswith(b"\x89PNG"), tile.text
        return job_id, digests


def test_run_with_results_in_a_bucket_equals_the_folder(
    local_environment: dict[str, str], s3_server: S3Server
) -> None:
    """`make run` (`territoires run`) with TERRITOIRES_STORAGE_URL=s3://… and a local
    S3-compatible server (moto's, as the README says): the bucket is made, a vegetation job's
    COGs land in it and are served from it (tiles, downloads); the same job once the platform
    is started again on a folder (same database, same demo scenes) gives the same pixels."""
    gateway = f"http://127.0.0.1:{local_environment['TERRITOIRES_GATEWAY_PORT']}"
    bucket = f"local-{uuid.uuid4().hex[:10]}"
    on_s3 = local_environment | {
        "TERRITOIRES_STORAGE_URL": f"s3://{bucket}/results",
        "TERRITOIRES_S3_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    first = Platform(on_s3)
    try:
        first.wait_for("Territoires is up", timeout_s=300)
        assert any(f"created bucket {bucket!r}" in line for line in first.output), first.output
        job, on_bucket = vegetation_pixels(gateway, make_key(on_s3, "on-s3"))
        listed = client.list_objects_v2(Bucket=bucket, Prefix=f"results/jobs/{job}/")
        names = sorted(entry["Key"].rsplit("/", 1)[-1] for entry in listed.get("Contents", []))
        assert names == sorted(f"{name}.tif" for name in RASTERS), names
    finally:
        assert first.stop(signal.SIGINT) == 0, "".join(first.output)
    storage = Path(local_environment["TERRITOIRES_STORAGE_URL"])
    assert not (storage / "jobs").exists(), "results of the bucket's run were written locally"

    second = Platform(local_environment)
    try:
        second.wait_for("Territoires is up", timeout_s=240)
        again, in_folder = vegetation_pixels(gateway, make_key(local_environment, "in-folder"))
    finally:
        assert second.stop(signal.SIGINT) == 0, "".join(second.output)
    assert any((storage / "jobs" / again).rglob("ndvi.tif"))
    assert in_folder == on_bucket
