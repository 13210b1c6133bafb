"""The catalog's limits, each reproducing the hole it closes: CQL2 filters too long or nested
too deep (a few kilobytes of parentheses used to kill the process), geometries with too many
vertices, ItemCollections too large for one transaction, and searches past the statement
timeout (504, not a 500 or a connection held for minutes). Real PostGIS, real HTTP."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from territoires.catalog.app import create_app
from territoires.catalog.limits import count_vertices
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items
from territoires.shared.territories import load_territories, read_demo_territories

from ..servers import serve
from .stac_data import COLLECTIONS, LA_ROCHELLE, all_items, collection, scene

SEARCH = "/stac/search"
FEATURES = "/features/collections/territories/items"
# Small limits, so that the tests cross each one cheaply.
SMALL = {
    "cql2_max_chars": 3_000,
    "cql2_max_depth": 4,
    "geometry_max_vertices": 100,
    "stac_transaction_max_items": 5,
    "catalog_statement_timeout_s": 0.5,
}


@pytest.fixture(scope="module")
def limits_settings(empty_database_factory, redis_url: str) -> Settings:
    """A database of its own: the STAC test scenes and the demo territories."""
    url = empty_database_factory("limits")
    upgrade(url)
    settings = Settings(DATABASE_URL=url, REDIS_URL=redis_url, redis_prefix="territoires-limits")
    engine = create_sync_database(url)
    with engine.begin() as connection:
        upsert_collections(connection, [collection_row(collection(c)) for c in COLLECTIONS])
        upsert_items(connection, [item_row(i) for i in all_items()])
    load_territories(engine, read_demo_territories(settings.data_dir))
    engine.dispose()
    return settings


@pytest.fixture(scope="module")
def default_url(limits_settings: Settings) -> Iterator[str]:
    """The catalog with the default limits."""
    with serve(create_app(limits_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def small_url(limits_settings: Settings) -> Iterator[str]:
    with serve(create_app(limits_settings.model_copy(update=SMALL))) as url:
        yield url


def assert_problem(response: httpx.Response, status: int, names: str | None = None) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    if names:
        assert names in detail, detail


def ring(vertices: int, centre: tuple[float, float] = (-1.17, 46.16)) -> list[list[float]]:
    """A closed ring of `vertices` positions (the last repeats the first) around La Rochelle."""
    points = [
        [
            round(centre[0] + 0.05 * math.cos(2 * math.pi * i / (vertices - 1)), 4),
            round(centre[1] + 0.05 * math.sin(2 * math.pi * i / (vertices - 1)), 4),
        ]
        for i in range(vertices - 1)
    ]
    return [*points, points[0]]


def polygon(vertices: int) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring(vertices)]}


def wkt(vertices: int) -> str:
    return "POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring(vertices)) + "))"


def nots(depth: int, leaf: dict[str, Any] | None = None) -> dict[str, Any]:
    """A CQL2-JSON filter whose operations nest `depth` deep: NOT … NOT (eo:cloud_cover < 50)."""
    node = leaf or {"op": "<", "args": [{"property": "eo:cloud_cover"}, 50]}
    for _ in range(depth - 1):
        node = {"op": "not", "args": [node]}
    return node


def search(base: str, method: str, **query: Any) -> httpx.Response:
    """GET with the query's values as parameters (JSON ones written out), or POST it."""
    if method == "POST":
        return httpx.post(f"{base}{SEARCH}", json=query, timeout=30)
    params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in query.items()}
    return httpx.get(f"{base}{SEARCH}", params=params, timeout=30)


# --- CQL2 nesting: the process used to die -------------------------------------------------

PATHOLOGICAL_TEXT = [
    "(" * 3000 + "eo:cloud_cover < 50" + ")" * 3000,  # cql2: SIGSEGV (stack overflow)
    "NOT " * 16000 + "eo:cloud_cover < 50",  # likewise
    "eo:cloud_cover = 1" + "-1" * 16000,  # likewise
    "eo:cloud_cover = " + "- " * 5000 + "1",  # likewise
    "gsd = " + "casei(" * 200 + "'a'" + ")" * 200,  # a schema check slower at each level
]


@pytest.mark.parametrize("expression", PATHOLOGICAL_TEXT, ids=lambda e: e[:12])
def test_deeply_nested_cql2_text_is_400_and_the_service_lives(
    default_url: str, expression: str
) -> None:
    started = time.monotonic()
    response = httpx.get(f"{default_url}{SEARCH}", params={"filter": expression}, timeout=30)
    assert_problem(response, 400, "TERRITOIRES_CQL2_MAX_DEPTH")
    assert time.monotonic() - started < 5
    assert httpx.get(f"{default_url}{SEARCH}", params={"filter": "gsd = 10"}).status_code == 200


def test_deeply_nested_cql2_json_is_400_in_get_and_post(default_url: str) -> None:
    """In a query the CQL2 depth limit answers; in a body the JSON depth limit every service
    applies answers first (TERRITOIRES_MAX_JSON_DEPTH)."""
    deep = nots(200)
    get = search(default_url, "GET", filter=deep, **{"filter-lang": "cql2-json"})
    assert_problem(get, 400, "TERRITOIRES_CQL2_MAX_DEPTH")
    assert_problem(search(default_url, "POST", filter=deep), 400, "nested deeper than")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_cql2_depth_at_the_limit_passes_and_one_more_is_400(small_url: str, method: str) -> None:
    extra = {"filter-lang": "cql2-json"} if method == "GET" else {}
    ok = search(small_url, method, filter=nots(4), **extra)
    assert ok.status_code == 200, ok.text
    assert ok.json()["features"]
    assert_problem(search(small_url, method, filter=nots(5), **extra), 400, "nests 5 operations")
    if method == "GET":  # and in CQL2 text
        text_ok = "NOT (NOT (NOT (eo:cloud_cover < 50)))"
        assert search(small_url, "GET", filter=text_ok).status_code == 200
        response = search(small_url, "GET", filter=f"NOT ({text_ok})")
        assert_problem(response, 400, "TERRITOIRES_CQL2_MAX_DEPTH")


def test_long_runs_of_and_are_one_level(small_url: str) -> None:
    """Depth counts nesting, not length: 60 comparisons joined by AND are 2 levels."""
    expression = " AND ".join(f"eo:cloud_cover <> {n}" for n in range(100, 160))
    response = search(small_url, "GET", filter=expression)
    assert response.status_code == 200, response.text
    assert len(response.json()["features"]) == 10


# --- CQL2 length ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "language"), [("GET", "cql2-text"), ("GET", "cql2-json"), ("POST", "cql2-json")]
)
def test_cql2_longer_than_the_limit_is_400(small_url: str, method: str, language: str) -> None:
    values = list(range(800))  # about 3,900 characters of `IN` list either way
    if language == "cql2-text":
        response = search(small_url, method, filter=f"gsd IN ({', '.join(map(str, values))})")
    else:
        expression = {"op": "in", "args": [{"property": "gsd"}, values]}
        extra = {"filter-lang": "cql2-json"} if method == "GET" else {}
        response = search(small_url, method, filter=expression, **extra)
    assert_problem(response, 400, "TERRITOIRES_CQL2_MAX_CHARS")
    short = search(small_url, "GET", filter=f"gsd IN ({', '.join(map(str, values[:100]))})")
    assert short.status_code == 200


# --- geometry vertices and bbox ------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_intersects_with_too_many_vertices_is_400(small_url: str, method: str) -> None:
    ok = search(small_url, method, intersects=polygon(100))
    assert ok.status_code == 200, ok.text
    assert ok.json()["features"]
    response = search(small_url, method, intersects=polygon(101))
    assert_problem(response, 400, "TERRITOIRES_GEOMETRY_MAX_VERTICES")
    assert "101 vertices" in response.json()["detail"]


def test_intersects_past_the_default_vertex_limit_is_400(default_url: str) -> None:
    many = {"type": "MultiPoint", "coordinates": [[-1.17, 46.16]] * 10_001}
    response = httpx.post(f"{default_url}{SEARCH}", json={"intersects": many}, timeout=60)
    assert_problem(response, 400, "10,001 vertices")


def test_every_territory_outline_served_fits_the_default_vertex_limit() -> None:
    """Any commune or département outline the platform serves can be searched by (the largest,
    a département, has 6,781 vertices)."""
    limit = Settings.model_fields["geometry_max_vertices"].default
    folder = Settings.model_fields["data_dir"].default / "territories"
    largest = max(
        count_vertices(feature["geometry"])
        for path in folder.glob("*.geojson")
        for feature in json.loads(path.read_text())["features"]
    )
    assert 1_000 < largest <= limit


def test_filter_geometries_count_towards_the_vertex_limit(small_url: str) -> None:
    for vertices, status in ((100, 200), (101, 400)):
        text_filter = f"S_INTERSECTS(geometry, {wkt(vertices)})"
        json_filter = {
            "op": "s_intersects",
            "args": [{"property": "geometry"}, polygon(vertices)],
        }
        for response in (
            search(small_url, "GET", filter=text_filter),
            search(small_url, "POST", filter=json_filter),
        ):
            assert response.status_code == status, response.text
    response = search(small_url, "GET", filter=f"S_INTERSECTS(geometry, {wkt(101)})")
    assert "TERRITOIRES_GEOMETRY_MAX_VERTICES" in response.json()["detail"]


@pytest.mark.parametrize(
    "bbox",
    [
        [float("nan")] * 4,
        [-1e308, -1e308, 1e308, 1e308],
        [-1.0, 46.0, float("inf"), 47.0],
        [-1.0, 47.0, 0.0, 46.0],
        [-181.0, 46.0, 0.0, 47.0],
    ],
    ids=["nan", "huge", "inf", "inverted", "outside"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_insane_bboxes_are_400(default_url: str, method: str, bbox: list[float]) -> None:
    if method == "GET":
        response = httpx.get(
            f"{default_url}{SEARCH}", params={"bbox": ",".join(str(v) for v in bbox)}
        )
    else:  # NaN and Infinity as Python's JSON writes them, which Python's JSON reads back
        response = httpx.post(
            f"{default_url}{SEARCH}",
            content=json.dumps({"bbox": bbox}),
            headers={"Content-Type": "application/json"},
        )
    assert_problem(response, 400)


# --- bulk transactions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ingest_key(limits_settings: Settings) -> str:
    engine = create_sync_database(limits_settings)
    pepper = limits_settings.api_key_pepper.get_secret_value()
    key = create_key(engine, "limits-ingest", [Scope.INGEST], pepper)
    engine.dispose()
    return key


def stored_ids(settings: Settings, prefix: str) -> set[str]:
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        ids = connection.execute(
            text("SELECT id FROM items WHERE id LIKE :prefix"), {"prefix": f"{prefix}%"}
        )
        found = set(ids.scalars())
    engine.dispose()
    return found


def item_collection(prefix: str, count: int) -> dict[str, Any]:
    items = [
        scene("sentinel-2-l2a", i) | {"id": f"{prefix}-{i:04d}", "collection": "sentinel-2-l2a"}
        for i in range(count)
    ]
    return {"type": "FeatureCollection", "features": items}


def test_item_collections_past_the_limit_are_413_and_write_nothing(
    small_url: str, limits_settings: Settings, ingest_key: str
) -> None:
    url = f"{small_url}/stac/collections/sentinel-2-l2a/items"
    headers = {"X-API-Key": ingest_key}
    response = httpx.post(url, json=item_collection("bulk-over", 6), headers=headers)
    assert_problem(response, 413, "TERRITOIRES_STAC_TRANSACTION_MAX_ITEMS")
    assert stored_ids(limits_settings, "bulk-over") == set()

    # Within the limit, one bad item or one already there: nothing half-written either.
    broken = item_collection("bulk-broken", 5)
    broken["features"][3]["geometry"] = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}
    assert_problem(httpx.post(url, json=broken, headers=headers), 400)
    assert stored_ids(limits_settings, "bulk-broken") == set()

    created = httpx.post(url, json=item_collection("bulk-ok", 5), headers=headers)
    assert created.status_code in (200, 201, 204), created.text
    assert len(stored_ids(limits_settings, "bulk-ok")) == 5

    again = item_collection("bulk-ok", 5)
    for index, feature in enumerate(again["features"][1:], 1):
        feature["id"] = f"bulk-again-{index}"
    assert_problem(httpx.post(url, json=again, headers=headers), 409)
    assert stored_ids(limits_settings, "bulk-again") == set()


def test_items_nested_too_deep_to_store_are_400(
    default_url: str, limits_settings: Settings, ingest_key: str
) -> None:
    """A property nested 300 levels parses (Python reads ~1,000) but pydantic writes ~250:
    that was a 500; now the body is refused before it is parsed, and nothing is stored."""
    url = f"{default_url}/stac/collections/sentinel-2-l2a/items"
    item = item_collection("bulk-deep", 1)["features"][0]
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    item["properties"]["deep"] = deep
    headers = {"X-API-Key": ingest_key}
    # The JSON depth limit of every service answers before the catalog's own storage check.
    assert_problem(httpx.post(url, json=item, headers=headers), 400, "nested deeper than")
    assert_problem(httpx.put(f"{url}/bulk-deep-0000", json=item, headers=headers), 400)
    assert stored_ids(limits_settings, "bulk-deep") == set()


def test_an_item_collection_at_the_default_limit_is_written(
    default_url: str, limits_settings: Settings, ingest_key: str
) -> None:
    """1,000 items (the default) go in one INSERT, within what PostgreSQL's protocol allows."""
    url = f"{default_url}/stac/collections/landsat-c2-l2/items"
    items = item_collection("bulk-thousand", 1000)
    for feature in items["features"]:
        feature["collection"] = "landsat-c2-l2"
    response = httpx.post(url, json=items, headers={"X-API-Key": ingest_key}, timeout=120)
    assert response.status_code in (200, 201, 204), response.text
    assert len(stored_ids(limits_settings, "bulk-thousand")) == 1000
    one_more = item_collection("bulk-1001", 1001)
    response = httpx.post(url, json=one_more, headers={"X-API-Key": ingest_key}, timeout=120)
    assert_problem(response, 413, "at most 1,000")


# --- statement timeout ---------------------------------------------------------------------


class TableLock:
    """Holds an ACCESS EXCLUSIVE lock on a table from another session, as a long migration or
    a REINDEX would: any statement reading it waits, and a wait counts towards
    statement_timeout exactly as computing does."""

    def __init__(self, settings: Settings, table: str) -> None:
        self.engine = create_sync_database(settings)
        self.table = table
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE"))
            self.locked.set()
            self.release.wait(60)

    def __enter__(self) -> TableLock:
        self.thread.start()
        assert self.locked.wait(30)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(30)
        self.engine.dispose()


def test_a_search_past_the_statement_timeout_is_504_and_the_service_recovers(
    small_url: str, limits_settings: Settings
) -> None:
    item = f"{small_url}/stac/collections/sentinel-2-l2a/items/sentinel-2-l2a-001"
    with TableLock(limits_settings, "items"):
        for response in (
            search(small_url, "GET", bbox=",".join(map(str, LA_ROCHELLE))),
            search(small_url, "POST", filter={"op": "<", "args": [{"property": "gsd"}, 20]}),
            httpx.get(item, timeout=30),
        ):
            assert_problem(response, 504, "TERRITOIRES_CATALOG_STATEMENT_TIMEOUT_S")
            assert response.elapsed.total_seconds() < 5
    assert search(small_url, "GET", bbox=",".join(map(str, LA_ROCHELLE))).status_code == 200
    assert httpx.get(item).status_code == 200


def test_a_features_query_past_the_statement_timeout_is_504(
    small_url: str, limits_settings: Settings
) -> None:
    url = f"{small_url}{FEATURES}"
    assert httpx.get(url, params={"limit": 1}).status_code == 200  # pygeoapi's set-up done
    with TableLock(limits_settings, "territories"):
        response = httpx.get(url, params={"filter": "code = '17300'"}, timeout=30)
        assert_problem(response, 504, "TERRITOIRES_CATALOG_STATEMENT_TIMEOUT_S")
        assert response.elapsed.total_seconds() < 5
    assert httpx.get(url, params={"filter": "code = '17300'"}).status_code == 200


# --- Features filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"filter": "(" * 3000 + "code = '17300'" + ")" * 3000}, "TERRITOIRES_CQL2_MAX_DEPTH"),
        ({"filter": "population > 0" + " + 1" * 3000}, "TERRITOIRES_CQL2_MAX_DEPTH"),
        (
            {"filter": json.dumps(nots(200, {"op": "=", "args": [{"property": "code"}, "1"]}))},
            "TERRITOIRES_CQL2_MAX_DEPTH",
        ),
    ],
    ids=["parentheses", "arithmetic", "json"],
)
def test_deep_features_filters_are_400(
    default_url: str, params: dict[str, str], names: str
) -> None:
    if params["filter"].startswith("{"):
        params = {**params, "filter-lang": "cql2-json"}
    response = httpx.get(f"{default_url}{FEATURES}", params=params, timeout=30)
    assert_problem(response, 400, names)


def test_features_filters_take_the_same_limits(small_url: str) -> None:
    url = f"{small_url}{FEATURES}"
    code = {"op": "=", "args": [{"property": "code"}, "17300"]}
    # pygeofilter's CQL2 text reads no NOT before a parenthesis holding a NOT, AND or OR.
    four = "code = '1' OR (code = '17300' AND (code = '2' OR code = '17300'))"
    five = "code = '1' OR (code = '17300' AND (code = '2' OR (code = '17300' AND code <> '3')))"
    ok = httpx.get(url, params={"filter": four})
    assert ok.json()["numberReturned"] == 1, ok.text
    cases = [
        ({"filter": five}, "nests 5 operations"),
        (
            {"filter": " AND ".join(["code = '17300'"] * 200)},
            "TERRITOIRES_CQL2_MAX_CHARS",
        ),
        ({"filter": f"S_INTERSECTS(geometry, {wkt(101)})"}, "TERRITOIRES_GEOMETRY_MAX_VERTICES"),
        (
            {"filter": json.dumps(nots(5, code)), "filter-lang": "cql2-json"},
            "TERRITOIRES_CQL2_MAX_DEPTH",
        ),
    ]
    for params, names in cases:
        assert_problem(httpx.get(url, params=params), 400, names)
    and_run = " AND ".join(["code = '17300'"] * 30)  # 2 levels, however long
    assert httpx.get(url, params={"filter": and_run}).json()["numberReturned"] == 1
    inside = httpx.get(url, params={"filter": f"S_INTERSECTS(geometry, {wkt(100)})"})
    assert inside.status_code == 200, inside.text
    posted = httpx.post(
        url,
        content=json.dumps(nots(5, code)),
        headers={"Content-Type": "application/query-cql-json"},
    )
    assert_problem(posted, 400, "TERRITOIRES_CQL2_MAX_DEPTH")
