"""Tiles of a COG read in place over HTTP against the same COG on local disk.

    uv run python bench/remote_cogs.py [--size 4096] [--latency-ms 20] [--zooms 11-14]

Writes (once, cached under .data/bench/, as bench/tiles.py does) a size² float32 NDVI COG in UTM
30N at 10 m, catalogues it as item `bench` of collection `ndvi` in a fresh database, and serves
its folder over HTTP from this process (Starlette's static files: Range requests answered 206)
with `latency-ms` added before each answer — the round trip to an archive, without `tc netem`,
which needs privileges and would slow every other process on loopback. Then one tiles service
(a uvicorn process) answers the same shuffled sample of PNG tiles twice, one client at a time:
first with the item's href on disk, then (a fresh process, so no GDAL cache carries over) with
it on the HTTP server, the prefix trusted. Prints p50/p95 latency of each, their ratio, and the
HTTP requests per tile and bytes per tile the remote reads cost. A measurement: asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn as uvicorn_server
from fastapi import FastAPI, Request
from sqlalchemy import text
from starlette.staticfiles import StaticFiles
from tiles import bench_database, free_port, sample_tiles, service_environment, uvicorn, write_cog

from territoires.shared.database import create_sync_database

ROOT = Path(__file__).resolve().parents[1]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--zooms", default="11-14")
    parser.add_argument("--tiles", type=int, default=60, help="tiles in the sample")
    arguments = parser.parse_args()
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
        engine = create_sync_database(database)
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE items SET content = replace(content::text, :path, :url)::jsonb"),
                {"path": str(cog.parent), "url": files},
            )
        engine.dispose()
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
