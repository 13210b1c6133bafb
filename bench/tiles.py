"""Tile throughput: our tiles service (tiles drawn, and from its tile cache) vs. stock
titiler.application on the same COG, and the same tiles through our gateway.

    uv run python bench/tiles.py [--size 10980] [--clients 16] [--seconds 20] [--rounds 5]
                                 [--single-seconds 2] [--zooms 10-14] [--tilesize 256]

Writes (once, cached under .data/bench/) a size² float32 NDVI COG in UTM 30N with 10 m pixels
over Charente-Maritime, registers it as item `bench` of collection `ndvi` in a fresh migrated
database on the test server (TERRITOIRES_TEST_DATABASE_URL, DATABASE_URL or
postgres@127.0.0.1:5432; REDIS_URL or 127.0.0.1:6379), then starts four uvicorn processes of
one worker each:

- (a) our tiles service with its tile cache off (TERRITOIRES_TILE_CACHE_MAX_BYTES=0): every
  request draws its tile,
  `/tiles/collections/ndvi/items/bench/tiles/WebMercatorQuad/{z}/{x}/{y}.png` (the indicator's
  colours, range and nodata by default);
- (a') the same service with its Redis tile cache on (the default): after the warm-up pass,
  every tile comes from the cache;
- (b) stock titiler.application, `/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png?url=…` with the
  same work asked for in parameters (`rescale=-1,1&colormap_name=rdylgn`); it has no tile cache;
- (c) our gateway in front of (a).

All four get one warm-up pass over the tiles (so GDAL's caches are warm everywhere: "drawn"
means no tile cache, not a cold disk). Then, in each of `rounds` rounds, the targets take turns:
`clients` concurrent clients request a fixed, shuffled sample of the tiles of zooms 10–14 over
the COG for `seconds / rounds`, then one client requests them one after the other for
`single_seconds` (latency without queueing), the server processes' CPU time read from /proc
meanwhile. Prints, per target, the median over rounds of throughput (with its range), of the
single-client p50 latency and of the server CPU time per single-client request (what a tile
costs, whatever else the machine runs), p50/p95 under load, then the ratios against the goals
of issue 17 (drawn a/b ≥ 1.5 in throughput; a cached tile in under 5 ms;
gateway overhead ≤ 5 %).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
import morecantile
import numpy
import rasterio
from rasterio.shutil import copy as copy_dataset
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from sqlalchemy import text

from territoires.shared.database import create_sync_database, database_url
from territoires.shared.schema import upgrade
from territoires.shared.service import KEEP_ALIVE_S
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = (560_000.0, 5_170_000.0)  # UTM 30N, north-west of La Rochelle
PIXEL = 10.0
NODATA = -9999.0
TILES_PER_ZOOM = 40
# Issue 17's goals.
DRAWN_GOAL = 1.5
CACHED_GOAL_MS = 5.0
GATEWAY_GOAL = 0.05
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


def ndvi_rows(top: int, rows: int, size: int) -> numpy.ndarray:
    """A smooth NDVI-like field (fields, towns, water) with a nodata margin: varied tiles that
    compress like real results."""
    y, x = numpy.mgrid[top : top + rows, 0:size].astype("float32")
    field = (
        0.35 + 0.4 * numpy.sin(x / 410.0) * numpy.cos(y / 530.0) + 0.2 * numpy.sin((x + y) / 97.0)
    )
    field = numpy.clip(field, -1, 1).astype("float32")
    field[(x < 200) | (y < 200)] = NODATA
    return field


def write_cog(path: Path, size: int) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = path.with_suffix(".plain.tif")
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32630",
        "transform": from_origin(*ORIGIN, PIXEL, PIXEL),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    started = time.perf_counter()
    with rasterio.open(plain, "w", **profile) as dataset:
        for top in range(0, size, 1024):
            rows = min(1024, size - top)
            dataset.write(ndvi_rows(top, rows, size), 1, window=Window(0, top, size, rows))
    copy_dataset(
        plain,
        path,
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR="YES",
        BLOCKSIZE=512,
        OVERVIEW_RESAMPLING="NEAREST",
        NUM_THREADS="ALL_CPUS",
    )
    plain.unlink()
    megabytes = path.stat().st_size / 1e6
    print(f"wrote {path} ({megabytes:.0f} MB) in {time.perf_counter() - started:.0f} s")
    return path


def bench_item(cog: Path, size: int) -> tuple[dict, dict]:
    with rasterio.open(cog) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/projection/v1.1.0/schema.json"],
        "id": "bench",
        "collection": "ndvi",
        "bbox": [west, south, east, north],
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "datetime": "2025-07-15T11:00:00Z",
            "proj:epsg": 32630,
            "proj:shape": [size, size],
            "proj:transform": list(from_origin(*ORIGIN, PIXEL, PIXEL))[:6],
        },
        "assets": {
            "ndvi": {
                "href": str(cog),
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
            }
        },
        "links": [],
    }
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "ndvi",
        "description": "Benchmark NDVI",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[west, south, east, north]]},
            "temporal": {"interval": [["2025-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }
    return collection, item


@contextmanager
def fresh_database(label: str) -> Iterator[str]:
    """A migrated database of this run's own on the test server; dropped afterwards."""
    admin = (
        os.environ.get("TERRITOIRES_TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"territoires_bench_{label}_{uuid.uuid4().hex[:8]}"
    server = create_sync_database(admin, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = database_url(admin, "postgresql").set(database=name).render_as_string(False)
    try:
        upgrade(url)
        yield url
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@contextmanager
def bench_database(cog: Path, size: int) -> Iterator[str]:
    """A fresh database holding the COG as item `bench` of collection `ndvi`."""
    with fresh_database("tiles") as url:
        engine = create_sync_database(url)
        collection, item = bench_item(cog, size)
        with engine.begin() as connection:
            upsert_collections(connection, [collection_row(collection)])
            upsert_items(connection, [item_row(item)])
        engine.dispose()
        yield url


def service_environment(database_url: str, storage: Path, scratch: str) -> dict[str, str]:
    """What the services under test read: the bench database, a Redis prefix of their own,
    `storage` (where COGs are read and results written)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "TERRITOIRES_REDIS_PREFIX": f"territoires-bench-{uuid.uuid4().hex[:6]}",
        "TERRITOIRES_STORAGE_URL": str(storage),
        "TERRITOIRES_LOCAL_DIR": scratch,
        "TERRITOIRES_LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def uvicorn_process(
    app: str, env: dict[str, str], factory: bool, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """One uvicorn process of one worker; yields its URL and process once /healthz answers.
    Its output goes to `log` when given, else to this process's."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning", *(["--factory"] if factory else [])]
    command += ["--timeout-keep-alive", str(KEEP_ALIVE_S)]
    with log.open("ab") if log else nullcontext() as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT if log else None,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # imports take a minute on a loaded machine
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def uvicorn(app: str, env: dict[str, str], factory: bool) -> Iterator[str]:
    with uvicorn_process(app, env, factory) as (url, _):
        yield url


def sample_tiles(cog: Path, zooms: range, rng: random.Random) -> list[morecantile.Tile]:
    """Up to TILES_PER_ZOOM tiles per zoom, inside the COG (edge tiles can be empty)."""
    with rasterio.open(cog) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    inset_x, inset_y = (east - west) * 0.05, (north - south) * 0.05
    bounds = (west + inset_x, south + inset_y, east - inset_x, north - inset_y)
    tiles: list[morecantile.Tile] = []
    for zoom in zooms:
        candidates = list(WEB_MERCATOR.tiles(*bounds, zooms=[zoom]))
        tiles += rng.sample(candidates, min(TILES_PER_ZOOM, len(candidates)))
    rng.shuffle(tiles)
    return tiles


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User and system CPU time the processes have used so far (Linux /proc)."""
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """One target's load in one round, and the CPU time its server processes spent on it."""

    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu_s: float = 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s / self.requests * 1000

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return float(numpy.percentile(self.latencies, q)) * 1000


@dataclass
class Rounds:
    """One target's rounds: loaded, and single-client."""

    name: str
    loaded: list[Result]
    single: list[Result]

    @property
    def throughputs(self) -> list[float]:
        return [r.throughput for r in self.loaded]

    @property
    def throughput(self) -> float:
        return statistics.median(self.throughputs)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.loaded + self.single)

    def loaded_percentile(self, q: float) -> float:
        return float(numpy.percentile([t for r in self.loaded for t in r.latencies], q)) * 1000

    @property
    def single_cpu_ms(self) -> float:
        """Median over rounds of the server CPU time per single-client request, in ms: what a
        request costs, whatever else the machine runs."""
        return statistics.median(r.cpu_ms_per_request for r in self.single)

    @property
    def single_p50(self) -> float:
        """Median over rounds of each round's single-client p50, in ms."""
        return statistics.median(r.percentile(50) for r in self.single)


async def warm_up(urls: list[str], clients: int) -> None:
    """One pass over the tiles, so that every target starts with its caches filled."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await asyncio.gather(*(http.get(url) for url in urls))


async def load(name: str, urls: list[str], clients: int, seconds: float) -> Result:
    """`clients` concurrent clients cycling through `urls` (each from its own offset)."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        latencies: list[float] = []
        errors = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def client(offset: int) -> None:
            nonlocal errors
            index = offset
            while time.perf_counter() < deadline:
                url = urls[index % len(urls)]
                index += clients
                begin = time.perf_counter()
                response = await http.get(url)
                latencies.append(time.perf_counter() - begin)
                if (
                    response.status_code != 200
                    or response.headers.get("content-type") != "image/png"
                ):
                    errors += 1

        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), errors, elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980, help="COG width and height (pixels)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0, help="loaded time per target")
    parser.add_argument(
        "--single-seconds", type=float, default=2.0, help="single-client time per target, round"
    )
    parser.add_argument("--zooms", default="10-14")
    parser.add_argument("--rounds", type=int, default=5, help="turns each target takes (≥ 5)")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--tilesize", type=int, default=256, help="tile size in pixels (the map pages use 512)"
    )
    arguments = parser.parse_args()
    low, high = (int(z) for z in arguments.zooms.split("-"))

    cog = write_cog(ROOT / ".data" / "bench" / f"ndvi-{arguments.size}.tif", arguments.size)
    tiles = sample_tiles(cog, range(low, high + 1), random.Random(arguments.seed))
    with tempfile.TemporaryDirectory() as scratch, bench_database(cog, arguments.size) as url:
        env = service_environment(url, cog.parent, scratch)
        factory = "territoires.tiles.app:create_app"
        no_cache = {**env, "TERRITOIRES_TILE_CACHE_MAX_BYTES": "0"}
        with (
            uvicorn_process(factory, no_cache, factory=True) as (drawn, drawn_process),
            uvicorn_process(factory, env, factory=True) as (cached, cached_process),
            uvicorn_process("titiler.application.main:app", {}, False) as (stock, stock_process),
            uvicorn_process(
                "territoires.gateway.app:create_app",
                {**env, "TERRITOIRES_TILES_URL": drawn},
                factory=True,
            ) as (gateway, gateway_process),
        ):
            size = f"tilesize={arguments.tilesize}"
            path = "/tiles/collections/ndvi/items/bench/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
            path += f"?{size}"
            stock_path = "/cog/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
            stock_query = f"?url={cog}&rescale=-1,1&colormap_name=rdylgn&{size}"
            targets = {
                "(a) territoires, drawn": [drawn + path.format(z=t.z, x=t.x, y=t.y) for t in tiles],
                "(a') territoires, tile cache": [
                    cached + path.format(z=t.z, x=t.x, y=t.y) for t in tiles
                ],
                "(b) stock titiler.application": [
                    stock + stock_path.format(z=t.z, x=t.x, y=t.y) + stock_query for t in tiles
                ],
                "(c) territoires via gateway": [
                    gateway + path.format(z=t.z, x=t.x, y=t.y) for t in tiles
                ],
            }
            processes = {
                name: process
                for name, process in zip(
                    targets,
                    [
                        [drawn_process],
                        [cached_process],
                        [stock_process],
                        [gateway_process, drawn_process],
                    ],
                    strict=True,
                )
            }
            for urls in targets.values():
                asyncio.run(warm_up(urls, arguments.clients))
            # Targets take turns in short rounds, so that whatever else the machine does
            # weighs on all of them alike; each round is one repeat.
            results = {name: Rounds(name, [], []) for name in targets}
            for _ in range(arguments.rounds):
                for name, urls in targets.items():
                    seconds = arguments.seconds / arguments.rounds
                    results[name].loaded.append(
                        asyncio.run(load(name, urls, arguments.clients, seconds))
                    )
                    before = cpu_seconds(processes[name])
                    single = asyncio.run(load(name, urls, 1, arguments.single_seconds))
                    single.cpu_s = cpu_seconds(processes[name]) - before
                    results[name].single.append(single)
    report(results, tiles, arguments, low, high)


def report(
    results: dict[str, Rounds], tiles: list, arguments: argparse.Namespace, low: int, high: int
) -> None:
    print(
        f"\n{len(tiles)} tiles of zooms {low}–{high} over a {arguments.size}² float32 COG, "
        f"{arguments.tilesize} px, {arguments.clients} clients, {arguments.rounds} rounds of "
        f"{arguments.seconds / arguments.rounds:.1f} s loaded + {arguments.single_seconds:.1f} s "
        f"single-client per target, {os.cpu_count()} CPUs, one uvicorn worker each"
    )
    print(
        f"{'target':30} {'errors':>6} {'tiles/s (median, range)':>26} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'1-client p50 ms':>16} {'CPU ms/tile':>12}"
    )
    for r in results.values():
        spread = f"{r.throughput:7.1f} ({min(r.throughputs):.0f}–{max(r.throughputs):.0f})"
        print(
            f"{r.name:30} {r.errors:6d} {spread:>26} {r.loaded_percentile(50):7.1f} "
            f"{r.loaded_percentile(95):7.1f} {r.single_p50:16.2f} {r.single_cpu_ms:12.2f}"
        )
    drawn, cached, stock, gateway = results.values()
    ratio = drawn.throughput / stock.throughput
    cached_ratio = cached.throughput / stock.throughput
    overhead = 1 - gateway.throughput / drawn.throughput
    p50_added = gateway.loaded_percentile(50) - drawn.loaded_percentile(50)
    print(
        f"\ndrawn a/b throughput: {ratio:.2f} (goal ≥ {DRAWN_GOAL}: "
        f"{'met' if ratio >= DRAWN_GOAL else 'NOT met'})"
    )
    print(
        f"tile cache a'/b throughput: {cached_ratio:.2f}; a cached tile, one client: "
        f"{cached.single_p50:.2f} ms at p50 (goal < {CACHED_GOAL_MS} ms: "
        f"{'met' if cached.single_p50 < CACHED_GOAL_MS else 'NOT met'}), "
        f"{cached.single_cpu_ms:.2f} ms of server CPU, "
        f"{cached.loaded_percentile(50):.1f} ms at p50 under {arguments.clients} clients"
    )
    print(
        f"gateway overhead: {overhead:.1%} of throughput, +{p50_added:.1f} ms at p50 "
        f"(goal ≤ {GATEWAY_GOAL:.0%}: {'met' if overhead <= GATEWAY_GOAL else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
