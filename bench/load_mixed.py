"""Mixed load through the gateway: tile reads, STAC searches and indicator jobs at once, for
5 minutes, with each service's memory over the run.

    uv run python bench/load_mixed.py [--duration 300] [--clients 24] [--tile-share 0.6]
                                      [--jobs-per-minute 12] [--jobs-in-flight 4]
                                      [--scene-size 1024] [--tiles-cache-mb 64]
                                      [--allocator jemalloc|system]

Starts the platform as operators run it, on a database and a Redis prefix of its own (the
helpers of bench/tiles.py): gateway, catalog, compute and tiles as uvicorn processes of one
worker each and one `territoires worker` process, on the demo territories and the synthetic
scenes over La Rochelle seeded as local mode seeds them. Rate limits are raised out of the way:
the services are under test, not the limiter. The tiles service's GDAL block cache is bounded
at `tiles-cache-mb` (512 MB as shipped): each of its reading threads holds its own handles, so
the cache fills with per-thread copies of the same blocks for over ten minutes of this load,
which would read as growth when the question is whether anything leaks. The processes run
under jemalloc as local mode and the images run them (`--allocator system` for glibc's malloc,
under which the tiles service's RSS keeps climbing: memory its reading threads freed stays with
the allocator).

`clients` concurrent clients each send, one after another, a tile read (a fixed sample of
z12–z15 tiles of the scenes and of the summer mosaic; `tile-share` of their requests) or a STAC
search (bbox, intersects, datetime, CQL2, sort, ids, item pages). Beside them, a partner key
with the execute scope submits `vegetation` and `zonal-statistics` jobs over 17300, at most
`jobs-per-minute` and never more than `jobs-in-flight` unfinished (the queue stays bounded),
polls each every second until it ends and fetches its results. After `duration`, the clients
stop and the jobs still running are waited for (up to `drain` seconds).

Prints per request class the requests, errors, p50 and p99; jobs submitted and successful; and
each process's RSS, sampled every `sample-every` seconds: after warm-up (at 20 % of the run)
against the end of the run. Exits 1 on any error (a transport error, or an answer >= 400 other
than a job submission refused with Retry-After, which the platform's job limits may answer), a
job that did not succeed, or RSS growth >= 10 % (issue 15: 0 errors, growth < 10 %).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy
import psutil
from redis import Redis
from rich.console import Console
from shapely.geometry import mapping
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))

from tiles import ROOT, WEB_MERCATOR, fresh_database, service_environment, uvicorn_process

from territoires.cli.local.allocator import allocator_environment
from territoires.cli.local.platform import DEMO_TERRITORY, seed_demo
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.models import TerritoryLevel
from territoires.shared.settings import Settings
from territoires.shared.territories import read_demo_territories

LOGS = ROOT / ".data" / "bench" / "load-mixed"  # each process's output, kept after the run
PEPPER = "bench-pepper"
SUMMER_2023 = "2023-06-01/2023-08-31"
TILE_ZOOMS = range(12, 16)
TILES_PER_ZOOM = 12
WARM_UP_SHARE = 0.2  # RSS "after warm-up" is the sample at this share of the run
GROWTH_LIMIT = 0.10
JOB_ENDS = ("successful", "failed", "dismissed")
JOBS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("vegetation", {"territory": DEMO_TERRITORY, "datetime": SUMMER_2023}),
    (
        "zonal-statistics",
        {
            "territory": DEMO_TERRITORY,
            "datetime": SUMMER_2023,
            "collection": "sentinel-2-l2a",
            "asset": "B08",
        },
    ),
)
# Generous on purpose: a request slower than this is an error, not a statistic.
CLIENT_TIMEOUT_S = 120.0
UNLIMITED = str(10**9)
# Below uvicorn's 5 s keep-alive: with equal timers the gateway may close an idle connection
# just as a request leaves on it, and httpx does not retry (a ReadError on the client's side,
# which browsers would retry). The gateway's own pool towards the services is as it ships.
KEEPALIVE_S = 2.0


@dataclass
class Scene:
    collection: str
    id: str
    datetime: str | None
    bbox: list[float]


@dataclass
class Platform:
    """What the load needs to know of the running platform."""

    gateway: str
    key: str
    processes: dict[str, int]
    scenes: list[Scene]
    territory: dict[str, Any]


@dataclass
class RequestClass:
    """Latencies (s) and outcomes of one class of request."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    examples: list[str] = field(default_factory=list)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {detail[:300]}")

    def percentile(self, q: float) -> float:
        return float(numpy.percentile(self.latencies, q)) * 1000 if self.latencies else 0.0


@dataclass(frozen=True)
class Sample:
    """Each process's resident set size (bytes) and threads, `seconds` into the load."""

    seconds: float
    rss: dict[str, int]
    threads: dict[str, int]


@dataclass
class Run:
    """Everything measured in one run."""

    classes: dict[str, RequestClass] = field(default_factory=dict)
    submitted: Counter[str] = field(default_factory=Counter)
    ended: Counter[str] = field(default_factory=Counter)
    unfinished: int = 0
    samples: list[Sample] = field(default_factory=list)

    def of(self, name: str) -> RequestClass:
        return self.classes.setdefault(name, RequestClass())

    @property
    def errors(self) -> int:
        return sum(c.errors.total() for c in self.classes.values())


def start_worker(env: dict[str, str], settings: Settings, log: Path) -> subprocess.Popen:
    """`territoires worker` as operators run it, logging to `log`; returns once it has
    reported its health (it has warmed its kernels)."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "territoires.cli.main", "worker"],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    queue = Redis.from_url(settings.redis_url or "")
    deadline = time.monotonic() + 180
    try:
        while not queue.exists(f"{settings.queue_name}:health-check"):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the worker did not start")
            time.sleep(0.2)
    finally:
        queue.close()
    return process


@contextmanager
def stopping(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drop_redis_keys(settings: Settings) -> None:
    client = Redis.from_url(settings.redis_url or "")
    keys = list(client.scan_iter(f"{settings.redis_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def catalogued_scenes(url: str) -> list[Scene]:
    engine = create_sync_database(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT collection_id, id, content->'properties'->>'datetime', content->'bbox' "
                "FROM items ORDER BY collection_id, id"
            )
        ).all()
    engine.dispose()
    return [Scene(*row) for row in rows]


def demo_territory(settings: Settings) -> dict[str, Any]:
    """The demo commune's outline, simplified to a few hundred vertices (a portal's query)."""
    for record in read_demo_territories(settings.data_dir):
        if record.level == TerritoryLevel.COMMUNE and record.code == DEMO_TERRITORY:
            return dict(mapping(record.geometry.simplify(0.0005)))
    raise RuntimeError(f"commune {DEMO_TERRITORY} is not in the demo territories")


@contextmanager
def platform(scene_size: int, tiles_cache_mb: int, allocator: str) -> Iterator[Platform]:
    """The seeded database, the four services, a worker; everything but their logs (LOGS)
    removed afterwards."""
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-load-storage-") as storage,
        tempfile.TemporaryDirectory(prefix="bench-load-local-") as scratch,
        fresh_database("load") as url,
        ExitStack() as stack,
    ):
        env = (
            service_environment(url, Path(storage), scratch)
            | {
                "TERRITOIRES_API_KEY_PEPPER": PEPPER,
                "TERRITOIRES_RATE_LIMIT_PER_MINUTE": UNLIMITED,
                "TERRITOIRES_RATE_LIMIT_KEY_PER_MINUTE": UNLIMITED,
                "TERRITOIRES_RATE_LIMIT_TILES_PER_MINUTE": UNLIMITED,
                "TERRITOIRES_LOG_JSON": "false",
                "TERRITOIRES_TILES_GDAL_CACHEMAX_MB": str(tiles_cache_mb),
            }
            | allocator_environment(Settings(local_allocator=allocator))
        )
        settings = Settings(
            DATABASE_URL=url,
            REDIS_URL=env["REDIS_URL"],
            redis_prefix=env["TERRITOIRES_REDIS_PREFIX"],
            storage_url=storage,
            demo_scene_size=scene_size,
        )
        stack.callback(drop_redis_keys, settings)
        seed_demo(settings, url, Console())
        engine = create_sync_database(url)
        key = create_key(engine, f"bench-load-{uuid.uuid4().hex[:6]}", [Scope.EXECUTE], PEPPER)
        engine.dispose()

        processes: dict[str, int] = {}
        urls: dict[str, str] = {}
        for name in ("catalog", "compute", "tiles"):
            urls[name], process = stack.enter_context(
                uvicorn_process(
                    f"territoires.{name}.app:create_app", env, True, LOGS / f"{name}.log"
                )
            )
            processes[name] = process.pid
        gateway, process = stack.enter_context(
            uvicorn_process(
                "territoires.gateway.app:create_app",
                env | {f"TERRITOIRES_{n.upper()}_URL": u for n, u in urls.items()},
                True,
                LOGS / "gateway.log",
            )
        )
        processes["gateway"] = process.pid
        processes["worker"] = stack.enter_context(
            stopping(start_worker(env, settings, LOGS / "worker.log"))
        ).pid
        yield Platform(gateway, key, processes, catalogued_scenes(url), demo_territory(settings))


def tile_paths(scenes: list[Scene], rng: random.Random) -> list[str]:
    """Up to TILES_PER_ZOOM tiles a zoom of each optical scene and of the summer mosaic."""
    sources = [
        f"/tiles/collections/{s.collection}/items/{s.id}"
        for s in scenes
        if s.collection in ("sentinel-2-l2a", "landsat-c2-l2")
    ]
    sources.append("/tiles/collections/sentinel-2-l2a")
    west, south, east, north = scenes[0].bbox
    inset_x, inset_y = (east - west) * 0.1, (north - south) * 0.1
    bounds = (west + inset_x, south + inset_y, east - inset_x, north - inset_y)
    paths = []
    for zoom in TILE_ZOOMS:
        candidates = list(WEB_MERCATOR.tiles(*bounds, zooms=[zoom]))
        for source in sources:
            for tile in rng.sample(candidates, min(TILES_PER_ZOOM, len(candidates))):
                path = f"{source}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.png"
                paths.append(path + ("" if "/items/" in source else f"?datetime={SUMMER_2023}"))
    rng.shuffle(paths)
    return paths


Search = tuple[str, str, dict[str, Any]]  # method, path, query parameters or JSON body


def search(site: Platform, rng: random.Random) -> Search:
    """One STAC search a portal or a partner's script could send, chosen at random."""
    scene = rng.choice(site.scenes)
    west, south, east, north = scene.bbox
    dx, dy = (east - west) * rng.uniform(0, 0.4), (north - south) * rng.uniform(0, 0.4)
    year = rng.choice((2021, 2022, 2023))
    kind = rng.randrange(7)
    if kind == 0:
        body = {
            "bbox": [west + dx, south + dy, east - dx, north - dy],
            "datetime": f"{year}-01-01T00:00:00Z/{year}-12-31T23:59:59Z",
            "limit": 10,
        }
        return "POST", "/stac/search", body
    if kind == 1:
        cloud = rng.choice((1, 5, 10, 20))
        body = {
            "intersects": site.territory,
            "collections": ["sentinel-2-l2a", "landsat-c2-l2"],
            "filter-lang": "cql2-json",
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, cloud]},
            "limit": 10,
        }
        return "POST", "/stac/search", body
    if kind == 2:
        body = {
            "collections": [scene.collection],
            "sortby": [{"field": "properties.datetime", "direction": rng.choice(("asc", "desc"))}],
            "limit": rng.choice((1, 5, 20)),
        }
        return "POST", "/stac/search", body
    if kind == 3:
        ids = [s.id for s in rng.sample(site.scenes, 3)]
        return "POST", "/stac/search", {"ids": ids, "limit": 10}
    if kind == 4:
        query = {"filter-lang": "cql2-text", "filter": f"eo:cloud_cover < {rng.randint(1, 30)}"}
        return "GET", "/stac/search", query | {"limit": "10"}
    if kind == 5:
        query = {"limit": str(rng.choice((1, 10))), "datetime": f"{year}-01-01T00:00:00Z/.."}
        return "GET", f"/stac/collections/{scene.collection}/items", query
    return "GET", f"/stac/collections/{scene.collection}/items/{scene.id}", {}


async def call(
    run: Run,
    name: str,
    http: httpx.AsyncClient,
    method: str,
    url: str,
    refusable: bool = False,
    **arguments: Any,
) -> httpx.Response | None:
    """One timed request; records its latency and whether it is an error."""
    record = run.of(name)
    began = time.perf_counter()
    try:
        response = await http.request(method, url, **arguments)
    except httpx.TransportError as error:
        record.error(f"transport {type(error).__name__}", f"{method} {url}: {error!r}")
        return None
    record.latencies.append(time.perf_counter() - began)
    status = response.status_code
    if refusable and status in (429, 503) and "retry-after" in response.headers:
        record.refused += 1
    elif status >= 400:
        record.error(str(status), f"{method} {url}: {response.text}")
    return response


async def client(
    site: Platform,
    http: httpx.AsyncClient,
    run: Run,
    tiles: list[str],
    tile_share: float,
    seed: int,
    deadline: float,
) -> None:
    """One client: a tile or a search, one after another, until the deadline."""
    rng = random.Random(seed)
    index = seed
    while time.monotonic() < deadline:
        if rng.random() < tile_share:
            index += 1
            path = tiles[index % len(tiles)]
            response = await call(run, "tile", http, "GET", site.gateway + path)
            kind = response.headers.get("content-type") if response else None
            if response is not None and response.status_code == 200 and kind != "image/png":
                run.of("tile").error("not a PNG", f"{path}: {kind}")
        else:
            method, path, payload = search(site, rng)
            options = {"json": payload} if method == "POST" else {"params": payload}
            await call(run, "search", http, method, site.gateway + path, **options)


async def follow(site: Platform, http: httpx.AsyncClient, run: Run, job: str, until: float) -> None:
    """Polls a job every second until it ends (or `until`); fetches its results if it succeeded.
    Jobs are the submitting key's: it reads them with that key."""
    owner = {"X-API-Key": site.key}
    while time.monotonic() < until:
        await asyncio.sleep(1.0)
        response = await call(
            run, "job status", http, "GET", f"{site.gateway}/jobs/{job}", headers=owner
        )
        if response is None or response.status_code != 200:
            continue
        status = response.json()["status"]
        if status not in JOB_ENDS:
            continue
        run.ended[status] += 1
        if status == "successful":
            await call(
                run, "job results", http, "GET", f"{site.gateway}/jobs/{job}/results", headers=owner
            )
        else:
            run.of("job").error(status, f"job {job}: {response.json().get('message')}")
        return
    run.unfinished += 1
    run.of("job").error("unfinished", f"job {job} still running after the drain")


async def submitter(
    site: Platform,
    http: httpx.AsyncClient,
    run: Run,
    per_minute: float,
    in_flight: int,
    deadline: float,
    drain_until: float,
) -> None:
    """Jobs at most `per_minute`, never more than `in_flight` unfinished; then waits for them."""
    slots = asyncio.Semaphore(in_flight)
    followers: set[asyncio.Task] = set()
    headers = {"X-API-Key": site.key, "Prefer": "respond-async"}
    next_at = time.monotonic()
    count = 0
    while True:
        await slots.acquire()
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= deadline:
            break
        next_at = max(next_at, time.monotonic()) + 60.0 / per_minute
        process, inputs = JOBS[count % len(JOBS)]
        count += 1
        url = f"{site.gateway}/processes/{process}/execution"
        response = await call(
            run, "job submit", http, "POST", url, True, json={"inputs": inputs}, headers=headers
        )
        if response is None or response.status_code != 201:
            slots.release()
            continue
        run.submitted[process] += 1
        task = asyncio.create_task(follow(site, http, run, response.json()["jobID"], drain_until))
        followers.add(task)
        task.add_done_callback(lambda done: (followers.discard(done), slots.release()))
    if followers:
        await asyncio.gather(*followers)


async def sample_memory(run: Run, pids: dict[str, int], every: float, stop: asyncio.Event) -> None:
    """Each process's RSS and threads every `every` seconds, from the start of the load."""
    processes = {name: psutil.Process(pid) for name, pid in pids.items()}
    began = time.monotonic()
    while True:
        rss = {name: process.memory_info().rss for name, process in processes.items()}
        threads = {name: process.num_threads() for name, process in processes.items()}
        run.samples.append(Sample(time.monotonic() - began, rss, threads))
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            pass


async def warm_up(site: Platform, tiles: list[str], clients: int) -> None:
    """One pass over the tiles, so that the run starts with the caches filled."""
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=CLIENT_TIMEOUT_S) as http:
        semaphore = asyncio.Semaphore(clients)

        async def get(path: str) -> None:
            async with semaphore:
                await http.get(site.gateway + path)

        await asyncio.gather(*(get(path) for path in tiles))


async def load(site: Platform, tiles: list[str], arguments: argparse.Namespace) -> Run:
    run = Run()
    connections = arguments.clients + arguments.jobs_in_flight + 1
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_S,
    )
    async with httpx.AsyncClient(limits=limits, timeout=CLIENT_TIMEOUT_S) as http:
        stop = asyncio.Event()
        sampler = asyncio.create_task(
            sample_memory(run, site.processes, arguments.sample_every, stop)
        )
        deadline = time.monotonic() + arguments.duration
        jobs = asyncio.create_task(
            submitter(
                site,
                http,
                run,
                arguments.jobs_per_minute,
                arguments.jobs_in_flight,
                deadline,
                deadline + arguments.drain,
            )
        )
        clients = [
            client(site, http, run, tiles, arguments.tile_share, seed, deadline)
            for seed in range(arguments.clients)
        ]
        # The sampler stops with the clients (the end of the load), not after the drain.
        await asyncio.gather(*clients)
        stop.set()
        await asyncio.gather(jobs, sampler)
    return run


def write_samples(run: Run, path: Path) -> None:
    """The samples as CSV (seconds, then each process's RSS in MB and threads)."""
    names = list(run.samples[0].rss)
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["seconds", *(f"{n}_mb" for n in names), *(f"{n}_threads" for n in names)])
        for sample in run.samples:
            out.writerow(
                [
                    f"{sample.seconds:.1f}",
                    *(f"{sample.rss[n] / 1e6:.1f}" for n in names),
                    *(sample.threads[n] for n in names),
                ]
            )


def memory_report(run: Run, duration: float) -> float:
    """Prints RSS after warm-up and at the end of each process; returns the largest growth."""
    warm = min(run.samples, key=lambda sample: abs(sample.seconds - WARM_UP_SHARE * duration))
    end = run.samples[-1]
    print(
        f"\nRSS (MB), sampled {len(run.samples)} times; after warm-up = at {warm.seconds:.0f} s, "
        f"end = at {end.seconds:.0f} s (threads at those times)"
    )
    print(
        f"{'process':10} {'start':>8} {'warm-up':>8} {'end':>8} {'min':>8} {'max':>8} "
        f"{'growth':>8} {'threads':>9}"
    )
    largest = -1.0
    for name in end.rss:
        series = [sample.rss[name] / 1e6 for sample in run.samples]
        before, after = warm.rss[name] / 1e6, end.rss[name] / 1e6
        growth = after / before - 1
        largest = max(largest, growth)
        print(
            f"{name:10} {series[0]:8.1f} {before:8.1f} {after:8.1f} {min(series):8.1f} "
            f"{max(series):8.1f} {growth:+8.1%} {warm.threads[name]:4d}→{end.threads[name]:<4d}"
        )
    return largest


def report(run: Run, arguments: argparse.Namespace) -> bool:
    """Prints the figures; True when the goals are met."""
    print(
        f"\n{arguments.duration:.0f} s, {arguments.clients} clients ({arguments.tile_share:.0%} "
        f"tiles), jobs ≤ {arguments.jobs_per_minute:g}/min and ≤ {arguments.jobs_in_flight} "
        f"unfinished, {arguments.scene_size}² scenes, tiles' GDAL cache "
        f"{arguments.tiles_cache_mb} MB, {arguments.allocator} allocator, "
        f"{os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'class':12} {'requests':>9} {'per s':>7} {'errors':>7} {'p50 ms':>9} {'p99 ms':>9}")
    for name, record in run.classes.items():
        if not record.latencies and not record.errors:
            continue
        print(
            f"{name:12} {len(record.latencies):9d} "
            f"{len(record.latencies) / arguments.duration:7.1f} {record.errors.total():7d} "
            f"{record.percentile(50):9.1f} {record.percentile(99):9.1f}"
            + (f"   ({record.refused} refused with Retry-After)" if record.refused else "")
        )
    submitted = run.submitted.total()
    print(
        f"\njobs submitted {submitted} ({dict(run.submitted)}), successful "
        f"{run.ended['successful']}, failed {run.ended['failed']}, unfinished {run.unfinished}"
    )
    for name, record in run.classes.items():
        for example in record.examples:
            print(f"  {name} error: {example}")
    write_samples(run, LOGS / "memory.csv")
    print(f"each process's output, and memory.csv: {LOGS}/")
    growth = memory_report(run, arguments.duration)
    met = run.errors == 0 and growth < GROWTH_LIMIT and run.ended["successful"] == submitted
    print(
        f"\nerrors {run.errors}, largest RSS growth after warm-up {growth:+.1%} "
        f"(goals 0 and < {GROWTH_LIMIT:.0%}: {'met' if met else 'NOT met'})"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=24, help="concurrent tile/search clients")
    parser.add_argument("--tile-share", type=float, default=0.6, help="share of tile requests")
    parser.add_argument("--jobs-per-minute", type=float, default=12.0)
    parser.add_argument("--jobs-in-flight", type=int, default=4, help="most unfinished jobs")
    parser.add_argument("--drain", type=float, default=180.0, help="seconds to let jobs end")
    parser.add_argument("--sample-every", type=float, default=5.0, help="RSS sampling (s)")
    parser.add_argument("--scene-size", type=int, default=1024, help="demo scenes' side (px)")
    parser.add_argument(
        "--tiles-cache-mb",
        type=int,
        default=64,
        help="the tiles service's GDAL block cache (512 as shipped: it fills for over 10 "
        "minutes of this load, which would read as growth)",
    )
    parser.add_argument(
        "--allocator",
        choices=["jemalloc", "system"],
        default="jemalloc",
        help="the services' and worker's malloc (jemalloc as shipped, or glibc's)",
    )
    parser.add_argument("--seed", type=int, default=15)
    arguments = parser.parse_args()

    with platform(arguments.scene_size, arguments.tiles_cache_mb, arguments.allocator) as site:
        tiles = tile_paths(site.scenes, random.Random(arguments.seed))
        print(f"platform up: {site.processes}; {len(tiles)} tiles; warming up")
        asyncio.run(warm_up(site, tiles, arguments.clients))
        print(f"load for {arguments.duration:.0f} s")
        run = asyncio.run(load(site, tiles, arguments))
    sys.exit(0 if report(run, arguments) else 1)


if __name__ == "__main__":
    main()
