"""Our STAC API against stac-fastapi-pgstac: same items, same PostgreSQL, same run, same client.

    uv run python bench/catalog.py [--items 1000000 | --quick] [--requests 40] [--keep]

1. Writes N items over mainland France in 4 collections and 10 years (`catalog_items`;
   the NDJSON is kept under .data/bench-catalog and reused by later runs of the same size).
2. Loads them into two databases of the same server (TERRITOIRES_TEST_DATABASE_URL,
   DATABASE_URL or postgres@127.0.0.1:5432): ours with `territoires ingest`'s loader, pgstac's
   with `pypgstac load items --method insert_ignore`; prints both rates, then VACUUM ANALYZE
   both, as autovacuum would have done on a live catalog.
3. Serves each with uvicorn, one worker, on loopback, and times five typical searches
   (`catalog_searches`) with one HTTP client, requests interleaved between the two APIs so that
   load from anything else on the machine falls on both alike; warm-up requests first.
4. Checks that both return the same ids in the same order for every request, and prints p50/p95
   of each search on each side and our/their ratio (below 1.0: we are faster).

The databases are dropped at the end unless --keep; --reuse skips steps 1–2 when they exist
(to iterate on query speed). This is a measurement, not a test: it asserts no timing.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import catalog_pgstac
import httpx
from catalog_items import write_collections, write_items
from catalog_searches import Search, Timing, percentile, run, searches
from sqlalchemy import text
from sqlalchemy.engine import make_url

from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.shared.database import create_sync_database, database_url
from territoires.shared.schema import upgrade

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data" / "bench-catalog"
OURS_DB = "bench_territoires"
THEIRS_DB = "bench_pgstac"
HOST = "127.0.0.1"


def admin_url() -> str:
    return (
        os.environ.get("TERRITOIRES_TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )


def url_of(database: str) -> str:
    return database_url(admin_url(), "postgresql").set(database=database).render_as_string(False)


def autocommit(url: str, *statements: str) -> None:
    engine = create_sync_database(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def exists(database: str) -> bool:
    engine = create_sync_database(admin_url())
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
        ).scalar()
    engine.dispose()
    return found is not None


def recreate(database: str) -> str:
    autocommit(
        admin_url(),
        f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
        f'CREATE DATABASE "{database}"',
    )
    return url_of(database)


def items_file(count: int) -> Path:
    """The NDJSON of `count` items, written once per size (writing 1M items takes minutes)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"items-{count}.ndjson"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial")
        write_items(partial, count, workers=os.cpu_count() or 1)
        partial.rename(path)
        print(f"wrote {count:,} items in {time.perf_counter() - started:.0f} s")
    return path


def load_ours(items: Path, collections: Path) -> float:
    """items/s of `territoires ingest`'s loader into a fresh, migrated database."""
    url = recreate(OURS_DB)
    upgrade(url)
    engine = create_sync_database(url)
    options = IngestOptions()
    ingest(engine, find_inputs([collections], options), options)
    report = ingest(engine, find_inputs([items], options), options)
    engine.dispose()
    if report.problems:
        raise RuntimeError(f"our ingest refused items: {report.problems[:3]}")
    return report.items_per_s


def load_theirs(items: Path, collections: Path, count: int) -> float:
    """items/s of pypgstac's loader into a fresh pgstac database."""
    dsn = recreate(THEIRS_DB)
    catalog_pgstac.migrate(dsn)
    return count / catalog_pgstac.load(dsn, collections, items)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve_ours(port: int) -> subprocess.Popen[bytes]:
    """Our catalog service as local mode runs it: uvicorn, one worker."""
    environment = {
        **os.environ,
        "DATABASE_URL": url_of(OURS_DB),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "TERRITOIRES_REDIS_PREFIX": f"bench-catalog-{os.getpid()}",
        "TERRITOIRES_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "territoires.catalog.app:create_app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=environment,
        cwd=ROOT,
    )


def serve_theirs(port: int) -> subprocess.Popen[bytes]:
    url = make_url(url_of(THEIRS_DB))
    return catalog_pgstac.serve(
        HOST,
        port,
        url.username or "postgres",
        url.password or "",
        url.host or HOST,
        url.port or 5432,
        url.database or THEIRS_DB,
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def measure(
    bench: list[Search], apis: dict[str, str], requests: int, warmup: int
) -> dict[str, dict[str, Timing]]:
    """Each search `warmup` + `requests` times on each API, the same bodies in alternating
    order; only the `requests` are kept. Different bodies every time (a seeded draw)."""
    timings = {search.name: {api: Timing() for api in apis} for search in bench}
    order = list(apis)
    with httpx.Client(timeout=120, headers={"Accept-Encoding": "gzip"}) as client:
        for search in bench:
            rng = random.Random(search.name)
            for repetition in range(warmup + requests):
                body = search.bodies(rng)
                order.reverse()
                for api in order:
                    seconds, ids = run(client, f"{apis[api]}/search", body, search.pages)
                    if repetition >= warmup:
                        timings[search.name][api].seconds.append(seconds)
                        timings[search.name][api].ids.append(ids)
    return timings


def differences(timing: dict[str, Timing]) -> int:
    """How many requests returned other ids (or another order) on the two sides."""
    ours, theirs = timing["ours"].ids, timing["pgstac"].ids
    return sum(a != b for a, b in zip(ours, theirs, strict=True))


def report(bench: list[Search], timings: dict[str, dict[str, Timing]]) -> None:
    header = f"{'search':<38}{'ours p50/p95 ms':>18}{'pgstac p50/p95 ms':>20}{'ratio p50/p95':>16}"
    print(header)
    print("-" * len(header))
    for search in bench:
        timing = timings[search.name]
        ours, theirs = timing["ours"].seconds, timing["pgstac"].seconds
        o50, o95 = percentile(ours, 0.5) * 1e3, percentile(ours, 0.95) * 1e3
        t50, t95 = percentile(theirs, 0.5) * 1e3, percentile(theirs, 0.95) * 1e3
        returned = sum(map(len, timing["ours"].ids)) / len(ours)
        different = differences(timing)
        note = f"  ({returned:.0f} items/request" + (
            f"; {different} requests with OTHER ids)" if different else ", same ids)"
        )
        print(
            f"{search.label:<38}{o50:>8.1f} /{o95:>7.1f}{t50:>10.1f} /{t95:>7.1f}"
            f"{o50 / t50:>8.2f} /{o95 / t95:>5.2f}{note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 items")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per search")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per search")
    parser.add_argument("--limit", type=int, default=50, help="items per page")
    parser.add_argument("--keep", action="store_true", help="keep both databases")
    parser.add_argument("--reuse", action="store_true", help="search databases kept by --keep")
    arguments = parser.parse_args()
    # Stopped by SIGTERM, still stop the servers and drop the databases (the `finally` below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    count = 100_000 if arguments.quick else arguments.items
    print(f"{count:,} items, {os.cpu_count()} CPUs; {catalog_pgstac.version()}")

    if not (arguments.reuse and exists(OURS_DB) and exists(THEIRS_DB)):
        items = items_file(count)
        collections = DATA / "collections.ndjson"
        write_collections(collections)
        ours_rate = load_ours(items, collections)
        print(f"bulk ingest, ours (territoires ingest):       {ours_rate:9,.0f} items/s")
        theirs_rate = load_theirs(items, collections, count)
        print(f"bulk ingest, pgstac (pypgstac load items):    {theirs_rate:9,.0f} items/s")
        started = time.perf_counter()
        autocommit(url_of(OURS_DB), "VACUUM ANALYZE")
        autocommit(url_of(THEIRS_DB), "VACUUM ANALYZE")
        print(f"VACUUM ANALYZE of both: {time.perf_counter() - started:.0f} s")

    ports = {"ours": free_port(), "pgstac": free_port()}
    processes = {"ours": serve_ours(ports["ours"]), "pgstac": serve_theirs(ports["pgstac"])}
    apis = {
        "ours": f"http://{HOST}:{ports['ours']}/stac",
        "pgstac": f"http://{HOST}:{ports['pgstac']}",
    }
    try:
        for name, api in apis.items():
            wait_ready(f"{api}/collections", processes[name])
        bench = searches(count, arguments.limit)
        timings = measure(bench, apis, arguments.requests, arguments.warmup)
        print(
            f"\n{arguments.requests} requests per search and API after {arguments.warmup} "
            f"warm-up, limit {arguments.limit}, 1 uvicorn worker each, HTTP on loopback"
        )
        report(bench, timings)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=30)
        if not arguments.keep:
            autocommit(
                admin_url(),
                f'DROP DATABASE IF EXISTS "{OURS_DB}" WITH (FORCE)',
                f'DROP DATABASE IF EXISTS "{THEIRS_DB}" WITH (FORCE)',
            )


if __name__ == "__main__":
    main()
