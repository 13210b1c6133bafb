"""EXPLAIN ANALYZE of the SQL our API runs for the searches of `bench/catalog.py`.

    uv run python bench/catalog.py --keep ...      # leaves bench_territoires loaded
    uv run python bench/catalog_explain.py [--items N] [--search NAME] [--repeat 3]

Builds each search's first request body as the benchmark does, turns it into the statement
`territoires.catalog.stac.search` would execute, and prints PostgreSQL's plan with timings and
buffers: where a slow search spends its time, without the HTTP layers around it.
"""

from __future__ import annotations

import argparse
import random
import re
from typing import Any

from catalog import OURS_DB, url_of
from catalog_searches import Body, searches
from sqlalchemy.dialects import postgresql

from territoires.catalog.limits import Limits
from territoires.catalog.stac.client import SESSION_SETTINGS
from territoires.catalog.stac.filters import parse_filter
from territoires.catalog.stac.search import (
    SearchQuery,
    search_plan,
    window_edge,
    windowed,
    windowed_statement,
)
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

LIMITS = Limits.of(Settings())  # the API's, at their defaults
# Geometry literals print as kilobytes of hex EWKB.
HEX = re.compile(r"[0-9A-F]{40,}'")


def query_of(body: Body) -> SearchQuery:
    """The SearchQuery the API builds from a POST /search body."""
    sortby = [(s["field"], s["direction"]) for s in body.get("sortby", [])]
    return SearchQuery(
        collections=body.get("collections"),
        ids=body.get("ids"),
        bbox=body.get("bbox"),
        intersects=body.get("intersects"),
        datetime=body.get("datetime"),
        filter=parse_filter(body["filter"], "cql2-json", LIMITS) if "filter" in body else None,
        sortby=sortby,  # type: ignore[arg-type]
        limit=body.get("limit", 10),
    )


def explain(connection: Any, body: Body) -> str:
    """The plan of the statement the API runs first for this body: the search bounded to its
    window when it has one (`search.window_edge`), else the search."""
    query = query_of(body)
    plan = search_plan(query)
    statement = plan.statement
    if windowed(query, plan.keys):
        edge = connection.scalar(window_edge(plan))
        if edge is not None:
            statement = windowed_statement(plan, edge)
    compiled = statement.compile(
        dialect=postgresql.psycopg2.dialect(),  # type: ignore[attr-defined]
        compile_kwargs={"render_postcompile": True},
    )
    plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params)
    return "\n".join(HEX.sub("…'", row[0]) for row in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="as the benchmark ran")
    parser.add_argument("--search", default=None, help="one search by name (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="bodies per search")
    arguments = parser.parse_args()
    engine = create_sync_database(url_of(OURS_DB))
    with engine.connect() as connection:
        for setting in SESSION_SETTINGS:  # as the API's connections
            connection.exec_driver_sql(setting)
        for search in searches(arguments.items, 50):
            if arguments.search and search.name != arguments.search:
                continue
            rng = random.Random(search.name)
            for _ in range(arguments.repeat):
                body = search.bodies(rng)
                shown = {k: v for k, v in body.items() if k != "intersects"}
                print(f"== {search.label}: {shown}")
                print(explain(connection, body), end="\n\n")
    engine.dispose()


if __name__ == "__main__":
    main()
