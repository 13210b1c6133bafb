"""Tiles and a vegetation job on COGs read in place over HTTP, against the same on local disk.

    uv run python bench/remote_cogs.py [--size 4096] [--latency-ms 20] [--zooms 11-14]
                                       [--scene 2000] [--communes 8] [--rounds 2]
                                       [--skip-tiles] [--skip-jobs]

Writes (once, cached under .data/bench/, as bench/tiles.py does) a size² float32 NDVI COG in UTM
30N at 10 m, catalogues it as item `bench` of collection `ndvi` in a fresh database, and serves
its folder over HTTP from this process (Starlette's static files: Range requests answered 206)
with `latency-ms` added before each answer — the round trip to an archive. Not `tc netem`: on
loopback it would slow every other process of the machine, and on a veth pair into a network
namespace (root) the kernel here refuses it ("Specified qdisc kind is unknown": no sch_netem).
Then one tiles service (a uvicorn process) answers the same shuffled sample of PNG tiles
twice, one client at a time: first with the item's href on disk, then (a fresh process, so no
GDAL cache carries over) with it on the HTTP server, the prefix trusted. Prints p50/p95
latency of each, their ratio, and the HTTP requests per tile and bytes per tile the remote
reads cost.

Then the job: bench/scaling.py's synthetic Sentinel-2 scene (`scene`² at 10 m, cached), the
demo territories and the scene catalogued in a fresh database, one `territoires worker`
(single-threaded, as in bench/scaling.py) and the compute API; a `vegetation` job over the first
`communes` communes lying in the scene, `rounds` times on the scene's files on disk and as many
times with the items' hrefs on the same delayed HTTP server, alternating. Prints each job's wall
time (after a warm-up job), the ratio of the medians and the HTTP requests and bytes of each
remote job (each under URLs of its own, so that none reads bytes the worker cached). A measurement:
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn as uvicorn_server
from fastapi import FastAPI, Request
from jobs import serve
from scaling import PEPPER, PERIOD, drop_keys, run_job, scene, seed, worker_environment, workers
from sqlalchemy import text
from starlette.staticfiles import StaticFiles
from tiles import (
    bench_database,
    free_port,
    fresh_database,
    sample_tiles,
    service_environment,
    uvicorn,
    write_cog,
)

from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COLD = re.compile(r"^/cold-\d+/")
TILE = "/tiles/collections/ndvi/items/bench/tiles/WebMercatorQuad/{z}/{x}/{y}.png"


class FileServer:
    """A folder over HTTP with a fixed delay per answer; counts requests and bytes sent."""

    def __init__(self, root: Path, latency_s: float) -> None:
        self.requests: Counter[str] = Counter()
        self.bytes = 0
        app = FastAPI()

        @app.middleware("http")
        async def delayed(request: Request, call_next: Any) -> Any:
            await asyncio.sleep(latency_s)
            # `/cold-N/…` is `/…`: URLs that no reader has cached bytes of, for the same files.
            request.scope["path"] = COLD.sub("/", request.scope["path"], count=1)
            response = await call_next(request)
            self.requests[f"{request.method} {response.status_code}"] += 1
            if request.method == "GET":  # a HEAD's Content-Length is the file's, not sent
                self.bytes += int(response.headers.get("content-length", 0))
            return response

        app.mount("/", StaticFiles(directory=root))
        self.port = free_port()
        config = uvicorn_server.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn_server.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def timed(base: str, paths: list[str]) -> list[float]:
    """Seconds per tile, one request at a time (each must be a 200 PNG)."""
    seconds = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for path in paths:
            began = time.perf_counter()
            answer = client.get(path)
            seconds.append(time.perf_counter() - began)
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    return seconds


def describe(name: str, seconds: list[float]) -> float:
    ordered = sorted(seconds)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(f"{name:>7}: p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  ({len(ordered)} tiles)")
    return p50


def point_items(database: str, before: str, after: str) -> None:
    """Every catalogued href starting with `before` made to start with `after`."""
    engine = create_sync_database(database)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE items SET content = replace(content::text, :before, :after)::jsonb"),
            {"before": before, "after": after},
        )
    engine.dispose()


def job_figures(arguments: argparse.Namespace) -> None:
    """A vegetation job on local files, then on the same files over the delayed HTTP server."""
    from territoires.compute.app import create_app

    scenes = scene(arguments.scene)
    server = FileServer(scenes, arguments.latency_ms / 1000)
    logs = ROOT / ".data" / "bench" / "remote-logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (
        fresh_database("remote-job") as database,
        tempfile.TemporaryDirectory(prefix="bench-remote-") as storage,
        server as files,
    ):
        codes, key = seed(database, scenes, arguments.communes)
        prefix = f"bench-remote-{uuid.uuid4().hex[:6]}"
        environment = worker_environment(database, storage, scenes, prefix, len(codes))
        environment["TERRITOIRES_ASSET_PREFIXES"] = json.dumps([str(scenes), f"{files}/"])
        settings = Settings(
            DATABASE_URL=database,
            REDIS_URL=environment["REDIS_URL"],
            redis_prefix=prefix,
            storage_url=storage,
            asset_prefixes=[str(scenes), f"{files}/"],
            api_key_pepper=PEPPER,
            log_level="WARNING",
        )
        inputs = {"territory": codes, "datetime": PERIOD}
        walls: dict[str, list[float]] = {"local": [], "remote": []}
        requests: list[int] = []
        sent: list[int] = []
        try:
            with workers(1, environment, logs, 0) as _, serve(create_app(settings)) as api:
                run_job(api, key, "vegetation", inputs)  # warm-up: the worker's first job
                for number in range(arguments.rounds):
                    walls["local"].append(run_job(api, key, "vegetation", inputs)[1])
                    # Each remote job under URLs of its own: the worker's GDAL cache (bytes
                    # of files it read) does not carry over, every job reads the archive.
                    cold = f"{files}/cold-{number}"
                    point_items(database, str(scenes), cold)
                    server.requests.clear()
                    server.bytes = 0
                    walls["remote"].append(run_job(api, key, "vegetation", inputs)[1])
                    requests.append(sum(server.requests.values()))
                    sent.append(server.bytes)
                    point_items(database, cold, str(scenes))
        finally:
            drop_keys(settings)
    print(
        f"vegetation job, {len(codes)} communes, scene {arguments.scene}² at 10 m, "
        f"{arguments.latency_ms:g} ms added, one single-threaded worker"
    )
    for name, seconds in walls.items():
        print(f"{name:>7}: " + ", ".join(f"{s:.2f} s" for s in seconds))
    ratio = statistics.median(walls["remote"]) / statistics.median(walls["local"])
    print(f"remote/local median: {ratio:.2f}")
    print(
        f"HTTP requests per remote job: {requests}; "
        f"{statistics.median(sent) / 2**20:.1f} MiB per job"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--zooms", default="11-14")
    parser.add_argument("--tiles", type=int, default=60, help="tiles in the sample")
    parser.add_argument("--scene", type=int, default=2000, help="the job's scene, pixels a side")
    parser.add_argument("--communes", type=int, default=8, help="communes of the job")
    parser.add_argument("--rounds", type=int, default=2, help="jobs of each kind")
    parser.add_argument("--skip-tiles", action="store_true")
    parser.add_argument("--skip-jobs", action="store_true")
    arguments = parser.parse_args()
    if not arguments.skip_tiles:
        tile_figures(arguments)
    if not arguments.skip_jobs:
        job_figures(arguments)


def tile_figures(arguments: argparse.Namespace) -> None:
    low, high = (int(z) for z in arguments.zooms.split("-"))
    folder = ROOT / ".data" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    cog = write_cog(folder / f"ndvi-{arguments.size}.tif", arguments.size)
    rng = random.Random(7)
    tiles = sample_tiles(cog, range(low, high + 1), rng)
    rng.shuffle(tiles)
    paths = [TILE.format(z=t.z, x=t.x, y=t.y) for t in tiles[: arguments.tiles]]
    scratch = folder / "scratch"
    server = FileServer(cog.parent, arguments.latency_ms / 1000)
    with (
        bench_database(cog, arguments.size) as database,
        server as files,
    ):
        environment = service_environment(database, folder / "storage", str(scratch))
        environment["TERRITOIRES_ASSET_PREFIXES"] = f'["{cog.parent}", "{files}/"]'
        with uvicorn("territoires.tiles.app:create_app", environment, factory=True) as tiles_url:
            local = timed(tiles_url, paths)
        point_items(database, str(cog.parent), files)
        with uvicorn("territoires.tiles.app:create_app", environment, factory=True) as tiles_url:
            remote = timed(tiles_url, paths)
        requests = sum(server.requests.values())
        statuses = dict(server.requests)
    print(f"COG {arguments.size}² float32, zooms {low}-{high}, {arguments.latency_ms:g} ms added")
    local_p50 = describe("local", local)
    remote_p50 = describe("remote", remote)
    print(f"remote/local p50: {remote_p50 / local_p50:.1f}")
    print(
        f"HTTP requests per tile: {requests / len(paths):.2f} ({statuses}); "
        f"{server.bytes / len(paths) / 1024:.0f} KiB per tile"
    )


if __name__ == "__main__":
    main()
