"""Load test of the gateway: 200 concurrent clients asking for tiles for 30 s, on loopback.

Usage: uv run python bench/gateway_load.py [--clients 200] [--seconds 30] [--size 4096]

Serves a synthetic NDVI COG through our tiles service behind our gateway (the same setup as
bench/tiles.py), runs the clients through the gateway, and prints errors, throughput, p50 and
p99; then shows that a partner key past its rate limit gets 429 with Retry-After. It also
prints the tiles service measured alone in the same run, as the baseline of what the gateway
adds. Goal (issue 6): 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from tiles import (
    ROOT,
    bench_database,
    load,
    sample_tiles,
    service_environment,
    uvicorn,
    warm_up,
    write_cog,
)

from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database


def rate_limited_key(database_url: str, gateway: str, limit: int) -> None:
    """A key with a small budget: the request after it must be a 429 with Retry-After (the
    catalog is not started here, so the answers before are 503s: the limit applies first)."""
    engine = create_sync_database(database_url)
    key = create_key(engine, f"bench-{uuid.uuid4().hex[:6]}", [Scope.EXECUTE], "bench-pepper")
    engine.dispose()
    statuses = [
        httpx.get(f"{gateway}/stac/collections", headers={"X-API-Key": key})
        for _ in range(limit + 1)
    ]
    refused = statuses[-1]
    print(
        f"key limited to {limit}/min: answers {[r.status_code for r in statuses]}; "
        f"last Retry-After={refused.headers.get('Retry-After')} "
        f"RateLimit-Remaining={refused.headers.get('RateLimit-Remaining')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=4096, help="COG width and height (pixels)")
    parser.add_argument("--key-limit", type=int, default=5)
    arguments = parser.parse_args()

    cog = write_cog(ROOT / ".data" / "bench" / f"ndvi-{arguments.size}.tif", arguments.size)
    tiles = sample_tiles(cog, range(10, 15), random.Random(7))
    with tempfile.TemporaryDirectory() as scratch, bench_database(cog, arguments.size) as url:
        env = service_environment(url, cog.parent, scratch) | {
            "TERRITOIRES_API_KEY_PEPPER": "bench-pepper",
            "TERRITOIRES_RATE_LIMIT_KEY_PER_MINUTE": str(arguments.key_limit),
        }
        with (
            uvicorn("territoires.tiles.app:create_app", env, factory=True) as ours,
            uvicorn(
                "territoires.gateway.app:create_app",
                {**env, "TERRITOIRES_TILES_URL": ours},
                factory=True,
            ) as gateway,
        ):
            path = "/tiles/collections/ndvi/items/bench/tiles/WebMercatorQuad/{z}/{x}/{y}.png"
            direct = [ours + path.format(z=t.z, x=t.x, y=t.y) for t in tiles]
            fronted = [gateway + path.format(z=t.z, x=t.x, y=t.y) for t in tiles]
            asyncio.run(warm_up(fronted, 16))
            alone = asyncio.run(load("tiles service alone", direct, arguments.clients, 10))
            result = asyncio.run(
                load("through the gateway", fronted, arguments.clients, arguments.seconds)
            )
            rate_limited_key(url, gateway, arguments.key_limit)

    print(
        f"\n{arguments.clients} clients, {len(tiles)} tiles of zooms 10–14 of a "
        f"{arguments.size}² COG, {os.cpu_count()} CPUs, one uvicorn worker per service"
    )
    print(
        f"{'target':24} {'seconds':>8} {'requests':>9} {'errors':>7} {'tiles/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    for r in (alone, result):
        print(
            f"{r.name:24} {r.seconds:8.1f} {r.requests:9d} {r.errors:7d} {r.throughput:8.1f} "
            f"{r.percentile(50):8.1f} {r.percentile(99):8.1f}"
        )
    print(
        f"\nerrors through the gateway: {result.errors} (goal 0: "
        f"{'met' if result.errors == 0 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
