"""Scaling out: the same fan-out job run by 1, 2 and 4 single-threaded worker processes.

    uv run python bench/scaling.py [--workers 1,2,4] [--communes 192] [--batch 12]
                                   [--size 6000] [--rounds 1] [--process vegetation]
                                   [--nice 0] [--own-postgres]

Writes (once, cached under .data/bench/scaling/) a synthetic Sentinel-2 scene of size² 10 m
pixels over inland Charente-Maritime, then on a fresh database of the test server (as
bench/tiles.py: TERRITOIRES_TEST_DATABASE_URL, DATABASE_URL or postgres@127.0.0.1:5432; REDIS_URL
or 127.0.0.1:6379) loads the demo territories and catalogues the scene. The compute API runs in
this process; the workers are `territoires worker` processes, each single-threaded so that the
figure is about the queue and not about threads: NUMBA_NUM_THREADS=1, GDAL on one thread
(TERRITOIRES_COMPUTE_THREADS=1) and one job at a time (TERRITOIRES_WORKER_MAX_JOBS=1).

The job: `vegetation` (or `zonal-statistics` of B08) over `communes` communes lying wholly in
the scene, fanned out into sub-jobs of `batch` communes (TERRITOIRES_FANOUT_COMMUNES). For each
worker count, the workers are started and warmed first; the time is from the POST to the
parent's `successful`. Prints wall time, speed-up and efficiency against one worker measured in
the same run, with the parts' own durations (from the jobs table), how many parts each worker
ran, the workers' peak RSS and the load average before each run. Beside each speed-up, the machine's
own ceiling measured right after each job: the speed-up the same number of processes of plain
deflate work (what GDAL spends a part on, without queue, database or files) get at the same
priority. For the capacity model
(README, Performance): from the one-worker run, a part's cost fitted as fixed + per-pixel
(least squares over the parts, their pixels read from the NDVI COG each wrote), the cost per
commune, and the cost of opening a COG and reading one 256² block on one thread.

On a machine shared with other work, `--nice -10` (root) gives the workers the cores while
they run (each worker in a session of its own, its autogroup at that niceness), so that the
figure is about the queue rather than about the neighbours; `--own-postgres` runs the database
as a private cluster started by the bench, at the same priority (the machine's PostgreSQL
serves everyone's work at normal priority, so prioritised workers would wait on it).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy
import rasterio
from rasterio.windows import Window
from redis import Redis
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))

from jobs import serve
from tiles import ROOT, free_port, fresh_database

from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.cli.local.postgres import PrivateCluster
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings
from territoires.shared.territories import load_territories, read_demo_territories
from territoires.synth import generate

CACHE = ROOT / ".data" / "bench" / "scaling"
CENTRE = (-0.7, 45.85)  # inland Charente-Maritime: many small communes
PERIOD = "2023-06-01/2023-08-31"
PEPPER = "bench-pepper"
STARTED = re.compile(r"job started.*parent_id=[0-9a-f]")  # a sub-job, not the parent


@dataclass(frozen=True)
class Timing:
    workers: int
    wall_s: float
    parts: int
    part_s: list[float]  # each sub-job's own run (started_at → finished_at)
    per_worker: list[int]  # parts each worker started
    load: float  # 1-minute load average when the run began
    part_pixels: list[int]  # each part's output grid (the NDVI COG's pixels), same order
    peak_rss: list[int]  # each worker's peak resident set (bytes)
    cpu_s: float  # CPU time the workers used for the job, all together
    ceiling_s: float  # `count` processes of plain deflate work, right after the job


def scene(size: int) -> Path:
    """The Sentinel-2 scene of summer 2023 (one date), size² at 10 m around CENTRE."""
    folder = CACHE / f"s2-{size}"
    if (folder / "items.ndjson").exists():
        return folder
    half_km = size * 10 / 2000
    dx = half_km / (111.32 * math.cos(math.radians(CENTRE[1])))
    dy = half_km / 111.32
    bbox = (CENTRE[0] - dx, CENTRE[1] - dy, CENTRE[0] + dx, CENTRE[1] + dy)
    began = time.perf_counter()
    generate(
        bbox, folder, size=size, sensors=["s2"], start=_date("2023-06-01"), end=_date("2023-08-31")
    )
    print(f"synthesised {folder} in {time.perf_counter() - began:.0f} s")
    return folder


def _date(value: str) -> Any:
    from datetime import date

    return date.fromisoformat(value)


def seed(url: str, scenes: Path, count: int) -> tuple[list[str], str]:
    """Territories and the scene catalogued; the `count` communes wholly inside the scene
    (by code) and an execute key."""
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(Settings(DATABASE_URL=url).data_dir))
    report = ingest(engine, find_inputs([scenes], IngestOptions()), IngestOptions())
    if report.problems:
        raise SystemExit(f"scene not catalogued: {report.problems[0]}")
    with engine.connect() as connection:
        codes = list(
            connection.scalars(
                text(
                    "SELECT t.code FROM territories t, items i WHERE t.level = 'commune'"
                    " AND i.collection_id = 'sentinel-2-l2a'"
                    " AND ST_Within(t.geometry, i.geometry) ORDER BY t.code LIMIT :n"
                ),
                {"n": count},
            )
        )
    key = create_key(engine, f"bench-scaling-{uuid.uuid4().hex[:6]}", [Scope.EXECUTE], PEPPER)
    engine.dispose()
    if len(codes) < count:
        raise SystemExit(f"only {len(codes)} communes lie in the scene: a larger --size")
    return codes, key


def worker_environment(url: str, storage: str, scenes: Path, prefix: str, batch: int) -> dict:
    return os.environ | {
        "DATABASE_URL": url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "TERRITOIRES_REDIS_PREFIX": prefix,
        "TERRITOIRES_STORAGE_URL": storage,
        "TERRITOIRES_ASSET_PREFIXES": f'["{scenes}"]',
        "TERRITOIRES_API_KEY_PEPPER": PEPPER,
        "TERRITOIRES_LOG_JSON": "false",
        "TERRITOIRES_FANOUT_COMMUNES": str(batch),
        "TERRITOIRES_WORKER_MAX_JOBS": "1",
        "TERRITOIRES_COMPUTE_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
    }


@dataclass
class Fleet:
    logs: list[Path]
    processes: list[subprocess.Popen]

    def cpu_s(self) -> float:
        """CPU time (user + system) the workers have used so far, in seconds."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = 0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return used / ticks

    def peak_rss(self) -> list[int]:
        """VmHWM of each live worker, in bytes."""
        peaks = []
        for process in self.processes:
            status = Path(f"/proc/{process.pid}/status").read_text()
            kilobytes = re.search(r"VmHWM:\s+(\d+) kB", status)
            peaks.append(int(kilobytes.group(1)) * 1024 if kilobytes else 0)
        return peaks


@contextmanager
def workers(count: int, env: dict[str, str], logs: Path, nice: int) -> Iterator[Fleet]:
    """`count` worker processes, warmed (each has logged "worker started"), at niceness
    `nice`; stopped after."""
    processes: list[subprocess.Popen] = []
    paths = [logs / f"worker-{count}-{n}.log" for n in range(count)]
    try:
        for path in paths:
            with path.open("wb") as output:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "territoires.cli.main", "worker"],
                        env=env,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # an autogroup of its own, see `prioritise`
                    )
                )
                if nice:
                    prioritise(processes[-1].pid, nice)
        deadline = time.monotonic() + 300
        for process, path in zip(processes, paths, strict=True):
            while "worker started" not in path.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start: {path.read_text()[-2000:]}")
                time.sleep(0.1)
        yield Fleet(paths, processes)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def prioritise(pid: int, nice: int) -> None:
    """With the kernel's autogroups, niceness only ranks a process within its session's group,
    and each session's group gets an equal share of the CPUs; a worker in a session of its own
    takes its group's niceness (Linux ≥ 2.6.38, root for < 0)."""
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        autogroup.write_text(str(nice))
    os.setpriority(os.PRIO_PROCESS, pid, nice)


# The machine's own ceiling: deflate, what GDAL spends most of a part on, with no queue, no
# database and no files; each process does the same work whatever their number.
DEFLATE_WORK = (
    "import os, zlib\n"
    "data = os.urandom(1 << 20) + bytes(3 << 20)\n"
    "for _ in range({rounds}):\n"
    "    zlib.decompress(zlib.compress(data, 6))\n"
)


def ceiling(count: int, nice: int, rounds: int = 40) -> float:
    """Seconds `count` processes take to each compress and decompress the same buffers, at the
    workers' priority."""
    began = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", DEFLATE_WORK.format(rounds=rounds)], start_new_session=True
        )
        for _ in range(count)
    ]
    if nice:
        for process in processes:
            prioritise(process.pid, nice)
    for process in processes:
        process.wait()
    return time.perf_counter() - began


def run_job(api: str, key: str, process: str, inputs: dict[str, Any]) -> tuple[str, float]:
    """Submits the job and polls it to its end; (job id, seconds from POST to the end)."""
    with httpx.Client(base_url=api, headers={"X-API-Key": key}, timeout=60) as http:
        began = time.perf_counter()
        response = http.post(
            f"/processes/{process}/execution",
            json={"inputs": inputs},
            headers={"Prefer": "respond-async"},
        )
        if response.status_code != 201:
            raise SystemExit(f"submission refused: {response.status_code} {response.text}")
        job_id = response.json()["jobID"]
        while True:
            status = http.get(f"/jobs/{job_id}").json()
            if status["status"] in ("successful", "failed", "dismissed"):
                break
            time.sleep(0.05)
        wall = time.perf_counter() - began
    if status["status"] != "successful":
        raise SystemExit(f"job {job_id} ended {status['status']}: {status.get('message')}")
    return job_id, wall


def serial_s(url: str, job_id: str) -> tuple[float, float]:
    """What no worker count shortens: from the job's creation to its first part's start
    (queueing, the split, the sub-jobs written and queued), and from its last part's end to
    the job's end."""
    engine = create_sync_database(url)
    with engine.connect() as connection:
        before, after = connection.execute(
            text(
                "SELECT extract(epoch FROM min(p.started_at) - j.created_at),"
                " extract(epoch FROM j.finished_at - max(p.finished_at))"
                " FROM jobs j JOIN jobs p ON p.parent_id = j.id WHERE j.id = :id"
                " GROUP BY j.created_at, j.finished_at"
            ),
            {"id": job_id},
        ).one()
    engine.dispose()
    return float(before), float(after)


def parts_of(url: str, storage: str, job_id: str) -> tuple[list[float], list[int]]:
    """Each sub-job's own run (seconds) and the pixels of the NDVI grid it wrote (0 for a
    zonal-statistics part, which writes none)."""
    engine = create_sync_database(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id::text, attempts, extract(epoch FROM finished_at - started_at)"
                " FROM jobs WHERE parent_id = :id ORDER BY started_at"
            ),
            {"id": job_id},
        ).all()
    engine.dispose()
    pixels = []
    for part, attempt, _ in rows:
        cog = Path(storage, "jobs", job_id, part, str(attempt), "ndvi.tif")
        if cog.exists():
            with rasterio.open(cog) as dataset:
                pixels.append(dataset.width * dataset.height)
        else:
            pixels.append(0)
    return [float(row[2]) for row in rows], pixels


def block_read_s(scenes: Path, reads: int = 60) -> float:
    """Median time to open a band of the scene and read one 256² window, on one thread (a
    different window each time, the file opened afresh): what a part pays per input file."""
    band = next(scenes.rglob("*B08*.tif"), None) or next(scenes.rglob("*.tif"))
    times = []
    with rasterio.Env(GDAL_NUM_THREADS="1", GDAL_CACHEMAX=64):
        for number in range(reads):
            began = time.perf_counter()
            with rasterio.open(band, NUM_THREADS="1") as dataset:
                column = (number * 997) % max(1, dataset.width - 256)
                row = (number * 613) % max(1, dataset.height - 256)
                dataset.read(1, window=Window(column, row, 256, 256))
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure(arguments: argparse.Namespace) -> list[Timing]:
    from territoires.compute.app import create_app

    scenes = scene(arguments.size)
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    counts = [int(n) for n in arguments.workers.split(",")]
    timings: list[Timing] = []
    with (
        fresh_database("scaling") as url,
        tempfile.TemporaryDirectory(prefix="bench-scaling-") as storage,
    ):
        codes, key = seed(url, scenes, arguments.communes)
        inputs: dict[str, Any] = {"territory": codes, "datetime": PERIOD}
        if arguments.process == "zonal-statistics":
            inputs |= {"collection": "sentinel-2-l2a", "asset": "B08"}
        for round_number in range(arguments.rounds):
            for count in counts:
                prefix = f"bench-scaling-{uuid.uuid4().hex[:6]}"
                env = worker_environment(url, storage, scenes, prefix, arguments.batch)
                settings = Settings(
                    DATABASE_URL=url,
                    REDIS_URL=env["REDIS_URL"],
                    redis_prefix=prefix,
                    storage_url=storage,
                    asset_prefixes=[str(scenes)],
                    api_key_pepper=PEPPER,
                    log_level="WARNING",
                )
                try:
                    with (
                        workers(count, env, logs, arguments.nice) as fleet,
                        serve(create_app(settings)) as api,
                    ):
                        load, cpu = os.getloadavg()[0], fleet.cpu_s()
                        job_id, wall = run_job(api, key, arguments.process, inputs)
                        cpu = fleet.cpu_s() - cpu
                        ran = [
                            len(STARTED.findall(p.read_text(errors="replace"))) for p in fleet.logs
                        ]
                        peaks = fleet.peak_rss()
                finally:
                    drop_keys(settings)
                machine = ceiling(count, arguments.nice)
                parts, pixels = parts_of(url, storage, job_id)
                before, after = serial_s(url, job_id)
                timings.append(
                    Timing(count, wall, len(parts), parts, ran, load, pixels, peaks, cpu, machine)
                )
                print(
                    f"round {round_number + 1}: {count} worker(s): {wall:.2f} s, "
                    f"{len(parts)} parts (each {statistics.median(parts):.2f} s median, "
                    f"{sum(parts):.1f} s in all, workers' CPU {cpu:.1f} s), "
                    f"parts per worker {ran}, {before:.2f} s before the first part and "
                    f"{after:.2f} s after the last, peak RSS "
                    f"{max(peaks) / 2**20:.0f} MB, load {load:.2f}"
                )
        costs(timings, len(codes), communes_area_km2(url, codes), block_read_s(scenes))
    return timings


def communes_area_km2(url: str, codes: list[str]) -> float:
    engine = create_sync_database(url)
    with engine.connect() as connection:
        area = connection.scalar(
            text(
                "SELECT sum(ST_Area(geometry::geography)) / 1e6 FROM territories"
                " WHERE level = 'commune' AND code = ANY(:codes)"
            ),
            {"codes": codes},
        )
    engine.dispose()
    return float(area)


def costs(timings: list[Timing], communes: int, area_km2: float, block_s: float) -> None:
    """What the capacity model is built on, from the one-worker runs (no contention)."""
    alone = [t for t in timings if t.workers == 1]
    if not alone:
        return
    seconds = [s for t in alone for s in t.part_s]
    pixels = [p for t in alone for p in t.part_pixels]
    per_commune = sum(seconds) / (communes * len(alone))
    cpu = sum(t.cpu_s for t in alone) / len(alone)
    print(f"\none worker: {cpu / communes:.3f} CPU-s per commune ({cpu:.1f} CPU-s the job)")
    median = statistics.median(seconds)
    print(f"one worker: {per_commune:.3f} s per commune, {median:.2f} s per part")
    if all(pixels) and len(set(pixels)) > 1:
        per_pixel, fixed = numpy.polyfit(numpy.array(pixels) / 1e6, seconds, 1)
        print(
            f"part cost ≈ {fixed:.2f} s + {per_pixel:.3f} s per Mpx of output grid "
            f"(parts of {min(pixels) / 1e6:.2f}–{max(pixels) / 1e6:.2f} Mpx)"
        )
        read = sum(pixels) / len(alone) / 1e4  # km² of 10 m pixels
        print(
            f"the parts' grids cover {read:.0f} km² for {area_km2:.0f} km² of communes "
            f"({read / area_km2:.1f}×)"
        )
    print(f"opening a COG and reading one 256² block: {block_s * 1000:.1f} ms (median)")


def drop_keys(settings: Settings) -> None:
    client = Redis.from_url(settings.redis_url or "")
    keys = list(client.scan_iter(f"{settings.redis_prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def report(timings: list[Timing]) -> None:
    """Best wall time of each worker count against one worker's best; beside it, the speed-up
    the machine gave plain deflate processes in the same runs (count × one's time / count's
    time), the most a queue could get here."""
    best = {t.workers: min(x.wall_s for x in timings if x.workers == t.workers) for t in timings}
    plain = {
        t.workers: min(x.ceiling_s for x in timings if x.workers == t.workers) for t in timings
    }
    baseline = best.get(1)
    print("\nworkers  wall (best)  speed-up  efficiency  machine's ceiling (deflate)")
    for count, wall in sorted(best.items()):
        if baseline is None:
            print(f"{count:7d}  {wall:9.2f} s")
            continue
        speedup = baseline / wall
        machine = count * plain[1] / plain[count] if 1 in plain else float("nan")
        print(
            f"{count:7d}  {wall:9.2f} s  {speedup:7.2f}×  {speedup / count:9.0%}  "
            f"{machine:10.2f}× (jobs at {speedup / machine:.0%} of it)"
        )
    shares = Counter(t.workers for t in timings)
    print(f"(runs per count: {dict(shares)}; baseline: 1 worker in the same run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--communes", type=int, default=192)
    parser.add_argument("--batch", type=int, default=12, help="communes per sub-job")
    parser.add_argument("--size", type=int, default=6000, help="scene side in 10 m pixels")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--nice", type=int, default=0, help="the workers' niceness (root: <0)")
    parser.add_argument(
        "--own-postgres", action="store_true", help="a private PostgreSQL at this priority"
    )
    parser.add_argument(
        "--process", default="vegetation", choices=["vegetation", "zonal-statistics"]
    )
    arguments = parser.parse_args()
    if arguments.nice:
        # This process too (the API, the block reads), in a session and autogroup of its own.
        with contextlib.suppress(PermissionError):
            os.setsid()
        prioritise(os.getpid(), arguments.nice)
    if not arguments.own_postgres:
        report(measure(arguments))
        return
    # A private PostgreSQL at the workers' priority (pg_ctl starts it in a session of its own;
    # its backends share the postmaster's autogroup): the workers' database calls are not left
    # to wait behind the machine's other work.
    cluster = PrivateCluster(CACHE / "pg", free_port(), durable=False)
    cluster.start()
    try:
        if arguments.nice:
            postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
            prioritise(postmaster, arguments.nice)
        admin = cluster.url.rsplit("/", 1)[0] + "/postgres"
        os.environ["TERRITOIRES_TEST_DATABASE_URL"] = admin
        report(measure(arguments))
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
