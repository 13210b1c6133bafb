"""The five typical searches of `bench/catalog.py`, and a client timing them over HTTP.

Each search is a family of request bodies drawn from real territories (communes and
départements of the demo data) and from the generated items, different on every repetition:
a benchmark that repeats one body would measure caches (pgstac keeps a table of past searches)
rather than searching. Both APIs get the very same bodies, through the same client, and must
return the same ids in the same order.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from catalog_items import COLLECTIONS, END, NORTH, SOUTH, START, sample_ids

DATA = Path(__file__).resolve().parents[1] / "data" / "territories"
MAINLAND_COMMUNES = (
    "communes-17-charente-maritime.geojson",
    "communes-13-bouches-du-rhone.geojson",
)
PAGES = 5
IDS_PER_SEARCH = 50
Body = dict[str, Any]


@dataclass(frozen=True)
class Search:
    """One kind of search: its label and a maker of its request bodies."""

    name: str
    label: str
    bodies: Callable[[random.Random], Body]
    pages: int = 1


@dataclass
class Timing:
    """Latencies (s) of one search against one API, and the ids each request returned."""

    seconds: list[float] = field(default_factory=list)
    ids: list[list[str]] = field(default_factory=list)


def _features(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as file:
        return json.load(file)["features"]


def _bbox(geometry: dict[str, Any]) -> list[float]:
    points: list[list[float]] = []

    def walk(node: Any) -> None:
        if isinstance(node[0], int | float):
            points.append(node)
        else:
            for child in node:
                walk(child)

    walk(geometry["coordinates"])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs), min(ys), max(xs), max(ys)]


def _month(rng: random.Random) -> str:
    year = rng.randrange(START.year, END.year)
    month = rng.randrange(1, 13)
    following = f"{year + month // 12}-{month % 12 + 1:02d}-01T00:00:00Z"
    return f"{year}-{month:02d}-01T00:00:00Z/{following}"


def searches(count: int, limit: int) -> list[Search]:
    """The five searches over a catalog of `count` generated items, pages of `limit` items."""
    communes = [f["geometry"] for name in MAINLAND_COMMUNES for f in _features(name)]
    departements = [
        f["geometry"]
        for f in _features("departements-avec-outre-mer.geojson")
        if len(f["properties"]["code"]) == 2 and SOUTH < _bbox(f["geometry"])[1] < NORTH
    ]

    def commune_month(rng: random.Random) -> Body:
        bbox = [round(v, 6) for v in _bbox(rng.choice(communes))]
        return {"bbox": bbox, "datetime": _month(rng), "limit": limit}

    def polygon_cloud(rng: random.Random) -> Body:
        return {
            "intersects": rng.choice(departements),
            "filter-lang": "cql2-json",
            "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
            "limit": limit,
        }

    def sorted_pages(rng: random.Random) -> Body:
        year = rng.randrange(START.year, END.year)
        return {
            "collections": [rng.choice(COLLECTIONS).id],
            "datetime": f"{year}-01-01T00:00:00Z/{year + 1}-01-01T00:00:00Z",
            "sortby": [{"field": "properties.datetime", "direction": "asc"}],
            "limit": limit,
        }

    def by_ids(rng: random.Random) -> Body:
        return {"ids": [i for _, i in sample_ids(count, IDS_PER_SEARCH, rng)], "limit": limit}

    def cql2_property(rng: random.Random) -> Body:
        return {
            "filter-lang": "cql2-json",
            "filter": {
                "op": "=",
                "args": [{"property": "sat:relative_orbit"}, rng.randint(2, 140)],
            },
            "limit": limit,
        }

    return [
        Search("commune-month", "commune bbox + month", commune_month),
        Search("polygon-cloud", "département polygon + cloud < 10 %", polygon_cloud),
        Search("sorted-pages", f"sort by date, pages 1–{PAGES}", sorted_pages, pages=PAGES),
        Search("ids", f"{IDS_PER_SEARCH} ids", by_ids),
        Search("cql2-property", "CQL2 sat:relative_orbit = N", cql2_property),
    ]


def _next(page: dict[str, Any], body: Body, url: str) -> tuple[str, Body] | None:
    """The request the page's `next` link describes (POST body merged, or a GET URL)."""
    for link in page.get("links", []):
        if link.get("rel") != "next":
            continue
        if link.get("method", "GET").upper() == "POST":
            given = link.get("body") or {}
            return link.get("href") or url, {**body, **given} if link.get("merge") else given
        return link["href"], {}
    return None


def run(client: httpx.Client, url: str, body: Body, pages: int) -> tuple[float, list[str]]:
    """Seconds for `pages` pages of the search (following `next` links), and the ids returned.

    A response other than 200 stops the benchmark: a fast error is no result.
    """
    ids: list[str] = []
    request_url, request_body = url, body
    elapsed = 0.0
    for _ in range(pages):
        started = time.perf_counter()
        if request_body:
            response = client.post(request_url, json=request_body)
        else:
            response = client.get(request_url)
        elapsed += time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(
                f"{request_url} answered {response.status_code}: {response.text[:500]}\n"
                f"body: {json.dumps(request_body)[:500]}"
            )
        page = response.json()
        ids += [feature["id"] for feature in page["features"]]
        following = _next(page, request_body or body, url)
        if following is None:
            break
        request_url, request_body = following
    return elapsed, ids


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: a value actually observed, no interpolation."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
