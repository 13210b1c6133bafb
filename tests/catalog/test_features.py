"""OGC API Features at /features: the official schemas, CQL2, CSV and HTML, public links,
bad input as Problem Details, and the clients people use (OWSLib, GDAL's OAPIF driver)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pyogrio
import pytest
import shapely
from fastapi import FastAPI
from owslib.ogcapi.features import Features
from sqlalchemy import insert
from starlette.requests import Request
from validate import format_error, validate_document

from territoires.catalog.app import create_app
from territoires.gateway.app import create_app as create_gateway
from territoires.shared.database import create_sync_database
from territoires.shared.indicators import INDICATORS
from territoires.shared.models import IndicatorStatistic
from territoires.shared.public_url import public_base_url
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.territories import load_territories, read_demo_territories

from ..servers import serve

BASE = "http://catalog.test"
ITEMS = "/features/collections/territories/items"
STATS = "/features/collections/indicator-statistics/items"
SUMMER_2024 = (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 8, 31, 23, 59, 59, tzinfo=UTC))
SUMMER_2023 = (datetime(2023, 7, 1, tzinfo=UTC), datetime(2023, 8, 31, 23, 59, 59, tzinfo=UTC))
STATISTICS = [
    ("commune", "17300", "lst", SUMMER_2024, {"mean": 31.5, "max": 44.2}),
    ("commune", "17300", "ndvi", SUMMER_2024, {"mean": 0.31}),
    ("commune", "17300", "lst", SUMMER_2023, {"mean": 30.2, "max": 41.0}),
    ("commune", "13055", "lst", SUMMER_2024, {"mean": 35.1, "max": 51.0}),
    ("departement", "17", "lst", SUMMER_2024, {"mean": 29.0}),
]


def assert_valid(document: Any, schema: str) -> None:
    errors = validate_document(document, schema)
    assert not errors, [format_error(e) for e in errors][:5]


def link(document: dict[str, Any], rel: str, kind: str | None = None) -> str:
    return next(
        item["href"]
        for item in document["links"]
        if item["rel"] == rel and (kind is None or item["type"] == kind)
    )


@pytest.fixture(scope="module")
def features_settings(empty_database_factory, redis_url: str) -> Settings:
    """A database of its own: the demo territories and a few statistics."""
    url = empty_database_factory("features")
    upgrade(url)
    settings = Settings(DATABASE_URL=url, REDIS_URL=redis_url, redis_prefix="territoires-test-oaf")
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    rows = [
        {
            "territory_level": level,
            "territory_code": code,
            "indicator": indicator,
            "period_start": start,
            "period_end": end,
            "figures": figures,
        }
        for level, code, indicator, (start, end), figures in STATISTICS
    ]
    with engine.begin() as connection:
        connection.execute(insert(IndicatorStatistic), rows)
    engine.dispose()
    return settings


@pytest.fixture(scope="module")
def app(features_settings: Settings) -> FastAPI:
    return create_app(features_settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


@pytest.fixture(scope="module")
def catalog_url(features_settings: Settings) -> Iterator[str]:
    with serve(create_app(features_settings)) as url:
        yield url


@pytest.fixture(scope="module")
def gateway_url(features_settings: Settings, catalog_url: str) -> Iterator[str]:
    settings = features_settings.model_copy(update={"catalog_url": catalog_url})
    with serve(create_gateway(settings)) as url:
        yield url


# --- documents against the official schemas ------------------------------------------------


async def test_landing_page_is_valid_and_links_only_to_what_it_serves(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/features", "/features/"):
        response = await client.get(path)
        assert response.status_code == 200
        document = response.json()
        assert_valid(document, "features-1.0:landingPage")
        assert_valid(document, "common-1.0:landingPage")
        rels = {item["rel"] for item in document["links"]}
        assert {"self", "service-desc", "conformance", "data"} <= rels
        assert all(item["href"].startswith(f"{BASE}/features") for item in document["links"])
        assert not any("processes" in rel or "job" in rel or "tiling" in rel for rel in rels)
        for href in {item["href"] for item in document["links"]}:
            assert (await client.get(href)).status_code == 200, href


async def test_conformance_states_features_filter_and_cql2(client: httpx.AsyncClient) -> None:
    document = (await client.get("/features/conformance")).json()
    assert_valid(document, "features-1.0:confClasses")
    classes = set(document["conformsTo"])
    assert {
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    } <= classes
    assert not any("create-replace-delete" in c for c in classes)
    again = (await client.get("/features/conformance")).json()
    assert again == document  # pygeoapi's own list grows on every call


async def test_collections_and_each_collection_are_valid(client: httpx.AsyncClient) -> None:
    document = (await client.get("/features/collections")).json()
    assert_valid(document, "features-1.0:collections")
    vectors = [i.id for i in INDICATORS.values() if i.form == "vector"]  # night-lighting…
    assert [c["id"] for c in document["collections"]] == [
        "territories",
        "indicator-statistics",
        *vectors,
    ]
    for summary in document["collections"]:
        collection = (await client.get(f"/features/collections/{summary['id']}")).json()
        assert_valid(collection, "features-1.0:collection")
        assert collection["itemType"] == "feature"
        items = link(collection, "items", "application/geo+json")
        assert items.startswith(f"{BASE}/features/collections/{summary['id']}/items")


async def test_items_are_valid_geojson_and_page_through_every_territory(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(ITEMS, params={"limit": 5})
    assert response.headers["content-type"] == "application/geo+json"
    first = response.json()
    assert_valid(first, "features-1.0:featureCollectionGeoJSON")
    assert first["numberMatched"] == 710
    assert first["numberReturned"] == 5
    for feature in first["features"]:
        assert_valid(feature, "features-1.0:featureGeoJSON")
        assert feature["geometry"]["type"] == "MultiPolygon"
        assert list(feature["properties"]) == [
            "level",
            "code",
            "name",
            "parent_code",
            "epci_code",
            "population",
        ]
    ids: list[str] = []
    url: str | None = f"{BASE}{ITEMS}?limit=100&skipGeometry=true"
    while url:
        page = (await client.get(url)).json()
        ids += [feature["id"] for feature in page["features"]]
        url = next((i["href"] for i in page["links"] if i["rel"] == "next"), None)
    assert len(ids) == len(set(ids)) == 710
    second = (await client.get(ITEMS, params={"limit": 5, "offset": 5})).json()
    ten = (await client.get(ITEMS, params={"limit": 10})).json()
    assert [f["id"] for f in second["features"]] == [f["id"] for f in ten["features"][5:]]


async def test_one_item_by_id(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ITEMS}/commune-17300")
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert_valid(feature, "features-1.0:featureGeoJSON")
    assert feature["id"] == "commune-17300"
    assert feature["properties"]["name"] == "La Rochelle"
    assert feature["properties"]["parent_code"] == "17"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert link(feature, "collection") == f"{BASE}/features/collections/territories"


async def test_queryables_schema_and_openapi_use_the_public_url(
    client: httpx.AsyncClient,
) -> None:
    queryables = (await client.get("/features/collections/territories/queryables")).json()
    assert {"code", "name", "level", "parent_code", "population"} <= set(queryables["properties"])
    assert queryables["$id"] == f"{BASE}/features/collections/territories/queryables"
    schema = await client.get("/features/collections/indicator-statistics/schema")
    assert {"figures", "period_start", "indicator"} <= set(schema.json()["properties"])
    openapi = (await client.get("/features/openapi")).json()
    assert openapi["openapi"].startswith("3.0")
    assert openapi["servers"][0]["url"] == f"{BASE}/features"
    assert "/collections/territories/items" in openapi["paths"]
    assert not any(path.startswith("/jobs") for path in openapi["paths"])


# --- query parameters ----------------------------------------------------------------------


async def items(client: httpx.AsyncClient, path: str = ITEMS, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    document = response.json()
    # The OGC schema wants a geometry; RFC 7946 allows the null that skipGeometry gives.
    skipped = params.get("skipGeometry") == "true"
    assert_valid(
        document,
        "geojson:FeatureCollection" if skipped else "features-1.0:featureCollectionGeoJSON",
    )
    return document


async def test_cql2_text_filter_on_the_insee_code_returns_exactly_that_commune(
    client: httpx.AsyncClient,
) -> None:
    document = await items(client, filter="code = '17300'")
    assert document["numberMatched"] == 1
    [feature] = document["features"]
    assert feature["id"] == "commune-17300"
    assert feature["properties"]["name"] == "La Rochelle"
    # The filter stays in the paging links.
    assert "filter=code" in link(document, "self", "application/geo+json")


@pytest.mark.parametrize(
    ("cql2", "expected"),
    [
        ("code IN ('17300', '13055') AND level = 'commune'", {"commune-17300", "commune-13055"}),
        ("name LIKE 'La Roch%'", {"commune-17300"}),
        ("population BETWEEN 800000 AND 900000", {"commune-13055"}),
        ("level = 'departement' AND NOT (code <> '974')", {"departement-974"}),
        ("S_INTERSECTS(geometry, POINT(-1.1517 46.1591))", {"commune-17300", "departement-17"}),
        (
            "S_WITHIN(geometry, POLYGON((-1.3 46.1, -1.0 46.1, -1.0 46.2, -1.3 46.2, -1.3 46.1)))"
            " AND population > 60000",
            {"commune-17300"},
        ),
        ("parent_code IS NULL AND code = '13'", {"departement-13"}),
    ],
)
async def test_cql2_text_operators(
    client: httpx.AsyncClient, cql2: str, expected: set[str]
) -> None:
    document = await items(client, filter=cql2, skipGeometry="true", limit=50)
    assert {f["id"] for f in document["features"]} == expected


async def test_cql2_json_in_the_query_and_in_a_post_body(client: httpx.AsyncClient) -> None:
    cql2 = {"op": "=", "args": [{"property": "code"}, "13055"]}
    by_query = await items(client, filter=json.dumps(cql2), **{"filter-lang": "cql2-json"})
    response = await client.post(
        ITEMS, content=json.dumps(cql2), headers={"Content-Type": "application/query-cql-json"}
    )
    assert response.status_code == 200
    for document in (by_query, response.json()):
        assert [f["properties"]["name"] for f in document["features"]] == ["Marseille"]


async def test_bbox_properties_sortby_and_property_queries(client: httpx.AsyncClient) -> None:
    near_la_rochelle = await items(
        client,
        bbox="-1.2,46.12,-1.1,46.2",
        properties="name,population",
        sortby="-population",
        limit=50,
    )
    found = [f["properties"] for f in near_la_rochelle["features"]]
    assert {"La Rochelle", "Aytré", "Charente-Maritime"} <= {p["name"] for p in found}
    assert all(set(p) == {"name", "population"} for p in found)
    populations = [p["population"] for p in found]
    assert found[-1]["name"] == "Charente-Maritime"  # no population: last
    assert populations[:-1] == sorted(populations[:-1], reverse=True)
    largest = await items(client, sortby="-population", limit=1, skipGeometry="true")
    assert largest["features"][0]["properties"]["name"] == "Marseille"
    by_name = await items(client, sortby="name", limit=3, level="departement")
    assert [f["properties"]["name"] for f in by_name["features"]] == ["Ain", "Aisne", "Allier"]
    assert (await items(client, code="17300"))["numberMatched"] == 1


async def test_statistics_carry_figures_periods_and_their_territory_outline(
    client: httpx.AsyncClient,
) -> None:
    document = await items(client, STATS, filter="indicator = 'lst' AND territory_code = '17300'")
    assert document["numberMatched"] == 2
    for feature in document["features"]:
        assert feature["geometry"]["type"] == "MultiPolygon"
        assert feature["properties"]["territory_name"] == "La Rochelle"
        assert feature["properties"]["geography_year"] == 2026
        assert set(feature["properties"]["figures"]) == {"mean", "max"}
    summer = await items(
        client, STATS, datetime="2024-06-01T00:00:00Z/2024-12-31T00:00:00Z", skipGeometry="true"
    )
    assert summer["numberMatched"] == 4
    assert all(f["geometry"] is None for f in summer["features"])
    assert all(f["properties"]["period_start"].startswith("2024-07-01") for f in summer["features"])
    one = summer["features"][0]
    response = await client.get(f"{STATS}/{one['id']}")
    assert response.status_code == 200
    assert response.json()["properties"]["indicator"] == one["properties"]["indicator"]


# --- other formats ---------------------------------------------------------------------------


async def test_csv_by_parameter_and_by_accept_header(client: httpx.AsyncClient) -> None:
    by_f = await client.get(ITEMS, params={"f": "csv", "filter": "code = '17300'"})
    by_accept = await client.get(
        ITEMS, params={"filter": "code = '17300'"}, headers={"Accept": "text/csv"}
    )
    for response in (by_f, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "territories.csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows == [
            {
                "id": "commune-17300",
                "level": "commune",
                "code": "17300",
                "name": "La Rochelle",
                "parent_code": "17",
                "epci_code": "",
                "population": rows[0]["population"],
            }
        ]
        assert int(rows[0]["population"]) > 70_000
    stats = await client.get(STATS, params={"f": "csv", "filter": "indicator = 'lst'"})
    rows = list(csv.DictReader(io.StringIO(stats.text)))
    assert len(rows) == 4
    assert {"figures.mean", "figures.max", "territory_code", "period_start"} <= set(rows[0])
    nothing = await client.get(ITEMS, params={"f": "csv", "filter": "code = 'none'"})
    assert nothing.status_code == 200 and nothing.text.strip() == "id"


async def test_geopackage_by_parameter_and_by_accept_header(
    client: httpx.AsyncClient, tmp_path: Any
) -> None:
    """The page as a GeoPackage that OGR reads back: outlines, typed columns, accents kept."""
    wanted = {"filter": "code IN ('17004', '17300')", "sortby": "code"}
    by_f = await client.get(ITEMS, params={**wanted, "f": "gpkg"})
    by_accept = await client.get(
        ITEMS, params=wanted, headers={"Accept": "application/geopackage+sqlite3"}
    )
    geojson = (await client.get(ITEMS, params={**wanted, "f": "json"})).json()
    for number, response in enumerate((by_f, by_accept)):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/geopackage+sqlite3"
        assert 'filename="territories.gpkg"' in response.headers["content-disposition"]
        path = tmp_path / f"page-{number}.gpkg"
        path.write_bytes(response.content)
        info = pyogrio.read_info(path)
        assert info["layer_name"] == "territories" and info["crs"] == "EPSG:4326"
        assert info["geometry_type"] == "MultiPolygon"
        _, _, shapes, fields = pyogrio.raw.read(path)
        columns = dict(zip(info["fields"], fields, strict=True))
        assert list(columns["code"]) == ["17004", "17300"]
        assert columns["name"][0] == "Île-d'Aix"
        assert columns["population"].dtype.kind == "i" and columns["population"][1] > 70_000
        for shape, feature in zip(shapes, geojson["features"], strict=True):
            served = shapely.geometry.shape(feature["geometry"])
            assert shapely.from_wkb(shape).symmetric_difference(served).area < 1e-12
    if shutil.which("ogrinfo"):
        ogrinfo = ["ogrinfo", "-ro", "-so", "-al", str(tmp_path / "page-0.gpkg")]
        run = partial(subprocess.run, capture_output=True, text=True, check=True)
        listed = (await asyncio.to_thread(run, ogrinfo)).stdout
        assert "Feature Count: 2" in listed
    stats = await client.get(STATS, params={"f": "gpkg", "filter": "indicator = 'lst'"})
    path = tmp_path / "statistics.gpkg"
    path.write_bytes(stats.content)
    info = pyogrio.read_info(path)
    assert info["features"] == 4
    assert "figures.mean" in list(info["fields"])
    nothing = await client.get(ITEMS, params={"f": "gpkg", "filter": "code = 'none'"})
    path = tmp_path / "nothing.gpkg"
    path.write_bytes(nothing.content)
    assert nothing.status_code == 200 and pyogrio.read_info(path)["features"] == 0


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/features", "Territoires"),
        ("/features/collections", "Territories"),
        ("/features/collections/territories", "Territories"),
        (f"{ITEMS}?filter=code%3D%2717300%27", "La Rochelle"),
        (f"{ITEMS}/commune-17300", "La Rochelle"),
        ("/features/collections/territories/queryables", "population"),
        ("/features/conformance", "cql2-text"),
    ],
)
async def test_html_pages_by_parameter_and_by_accept(
    client: httpx.AsyncClient, path: str, text: str
) -> None:
    separator = "&" if "?" in path else "?"
    for response in (
        await client.get(f"{path}{separator}f=html"),
        await client.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert text in response.text
        assert "unpkg.com" not in response.text  # nothing from a CDN
    assert (await client.get("/features/static/css/default.css")).status_code == 200


# --- links behind a proxy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "base"),
    [
        ({"X-Forwarded-Host": "gw.example", "X-Forwarded-Proto": "https"}, "https://gw.example"),
        (
            {"X-Forwarded-Host": "localhost:8000", "X-Forwarded-Proto": "http"},
            "http://localhost:8000",
        ),
        ({"Forwarded": "for=1.2.3.4;proto=https;host=maps.example.fr"}, "https://maps.example.fr"),
        (
            {
                "X-Forwarded-Host": "gw.example",
                "X-Forwarded-Port": "8443",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Prefix": "/api",
            },
            "https://gw.example:8443/api",
        ),
    ],
)
async def test_links_follow_the_proxy_headers(
    client: httpx.AsyncClient, headers: dict[str, str], base: str
) -> None:
    for path in ("/features", "/features/collections", f"{ITEMS}?limit=2"):
        document = (await client.get(path, headers=headers)).json()
        hrefs = [item["href"] for item in document["links"]]
        assert hrefs and all(href.startswith(f"{base}/features") for href in hrefs), hrefs
    html = (await client.get("/features?f=html", headers=headers)).text
    assert f"{base}/features/static/css/default.css" in html


@pytest.mark.parametrize(
    ("headers", "base"),
    [
        ([(b"host", b"catalog:8001")], "http://catalog:8001/features"),
        (
            [(b"host", b"catalog:8001"), (b"x-forwarded-host", b'evil"><script>')],
            "http://catalog:8001/features",
        ),
        (
            [(b"host", b"catalog:8001"), (b"x-forwarded-proto", b"javascript")],
            "http://catalog:8001/features",
        ),
        (
            [(b"host", b"catalog:8001"), (b"x-forwarded-prefix", b"/a b")],
            "http://catalog:8001/features",
        ),
        (
            [
                (b"host", b"c"),
                (b"x-forwarded-host", b"a.fr, b.fr"),
                (b"x-forwarded-proto", b"https,http"),
            ],
            "https://a.fr/features",
        ),
        (
            [
                (b"host", b"c"),
                (b"forwarded", b'for=1.1.1.1;host="a.fr:8080";proto=http, for=2.2.2.2'),
            ],
            "http://a.fr:8080/features",
        ),
        (
            [
                (b"host", b"c"),
                (b"x-forwarded-host", b"a.fr"),
                (b"x-forwarded-port", b"443"),
                (b"x-forwarded-proto", b"https"),
            ],
            "https://a.fr/features",
        ),
    ],
)
def test_public_base_url_ignores_what_does_not_look_like_a_url(
    headers: list[tuple[bytes, bytes]], base: str
) -> None:
    scope = {"type": "http", "scheme": "http", "path": "/", "headers": headers, "root_path": ""}
    assert public_base_url(Request(scope), "/features") == base


def test_public_base_url_falls_back_to_the_server_address() -> None:
    """What a proxy-header middleware leaves after rewriting scheme and Host from bad headers."""
    scope = {
        "type": "http",
        "scheme": "javascript",
        "server": ("10.0.0.5", 8001),
        "path": "/",
        "headers": [(b"host", b"a b")],
        "root_path": "/root",
    }
    assert public_base_url(Request(scope), "/features") == "http://10.0.0.5:8001/root/features"


# --- bad input ---------------------------------------------------------------------------------


BAD_INPUT = [
    ("/features/collections/nope", {}, 404),
    ("/features/collections/nope/items", {}, 404),
    ("/features/collections/nope/queryables", {}, 404),
    (f"{ITEMS}/commune-99999", {}, 404),
    (f"{STATS}/not-a-number", {}, 404),
    (f"{STATS}/99999", {}, 404),
    ("/features/nope", {}, 404),
    (ITEMS, {"bbox": "1,2,3"}, 400),
    (ITEMS, {"bbox": "a,b,c,d"}, 400),
    (ITEMS, {"bbox": "3,0,1,1"}, 400),
    (ITEMS, {"bbox": "0,1,1,0"}, 400),
    (ITEMS, {"bbox": "0,-95,1,1"}, 400),
    (ITEMS, {"bbox": "0,0,1,91"}, 400),
    (ITEMS, {"bbox": "-181,0,1,1"}, 400),
    (ITEMS, {"bbox": "nan,0,1,1"}, 400),
    (ITEMS, {"bbox": "0,0,5,1,1,2"}, 400),
    (ITEMS, {"bbox": "0,0,1,1", "bbox-crs": "EPSG:2154"}, 400),
    (ITEMS, {"filter": "code ="}, 400),
    (ITEMS, {"filter": "nope = 1"}, 400),
    (ITEMS, {"filter": "code = 17300"}, 400),
    (ITEMS, {"filter": "population = 'many'"}, 400),
    (ITEMS, {"filter": "CASEI(name) = 'la rochelle'"}, 400),
    (ITEMS, {"filter": "code = '17300'", "filter-lang": "cql2-json"}, 400),
    (ITEMS, {"filter": '{"op": "="', "filter-lang": "cql2-json"}, 400),
    (ITEMS, {"filter": '{"op": "=", "args": []}'}, 400),
    (ITEMS, {"filter": "code = '17300'", "filter-lang": "sql"}, 400),
    (ITEMS, {"limit": "10001"}, 400),
    (ITEMS, {"limit": "0"}, 400),
    (ITEMS, {"limit": "ten"}, 400),
    (ITEMS, {"offset": "-1"}, 400),
    (ITEMS, {"offset": "x"}, 400),
    (ITEMS, {"sortby": "nope"}, 400),
    (ITEMS, {"sortby": ""}, 400),
    (ITEMS, {"sortby": "name,,code"}, 400),
    (ITEMS, {"properties": "nope"}, 400),
    (ITEMS, {"datetime": "2024-01-01T00:00:00Z"}, 400),
    (STATS, {"datetime": "not-a-date"}, 400),
    (ITEMS, {"population": "many"}, 400),
    (ITEMS, {"crs": "EPSG:2154"}, 400),
    (ITEMS, {"f": "xml"}, 400),
    ("/features/collections", {"f": "xml"}, 400),
    ("/features/collections/territories/queryables", {"properties": "nope"}, 400),
]


@pytest.mark.parametrize(("path", "params", "status"), BAD_INPUT)
async def test_bad_input_is_problem_details(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert_valid(body, "common-1.0:exception")
    assert body["status"] == status
    assert body["detail"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("code = '17300'", "text/plain"),
        ('{"op": "="', "application/query-cql-json"),
        ('{"op": "=", "args": [{"property": "nope"}, 1]}', "application/query-cql-json"),
    ],
)
async def test_bad_post_bodies_are_problem_details(
    client: httpx.AsyncClient, content: str, content_type: str
) -> None:
    response = await client.post(ITEMS, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert_valid(response.json(), "features-1.0:exception")


async def test_a_database_that_is_down_is_503(features_settings: Settings) -> None:
    down = features_settings.model_copy(
        update={"database_url": "postgresql://postgres@127.0.0.1:1/none", "readiness_timeout_s": 1}
    )
    transport = httpx.ASGITransport(app=create_app(down))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        assert (await client.get("/features/collections")).status_code == 200
        for path in (ITEMS, f"{ITEMS}/commune-17300", "/features/openapi"):
            response = await client.get(path)
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"


# --- real clients over HTTP ----------------------------------------------------------------


def test_owslib_lists_collections_and_filters_on_the_insee_code(catalog_url: str) -> None:
    api = Features(f"{catalog_url}/features")
    vectors = [i.id for i in INDICATORS.values() if i.form == "vector"]
    assert api.feature_collections() == ["territories", "indicator-statistics", *vectors]
    found = api.collection_items("territories", filter="code = '17300'")
    assert found["numberMatched"] == 1
    assert [f["properties"]["name"] for f in found["features"]] == ["La Rochelle"]
    page = api.collection_items("territories", limit=20, offset=600)
    assert page["numberReturned"] == 20
    assert api.collection_item("territories", "departement-974")["properties"]["name"] == (
        "La Réunion"
    )
    assert "code" in api.collection_queryables("territories")["properties"]


def test_owslib_through_the_gateway_gets_gateway_links(gateway_url: str) -> None:
    api = Features(f"{gateway_url}/features")
    found = api.collection_items("territories", filter="code = '13055'")
    assert [f["properties"]["name"] for f in found["features"]] == ["Marseille"]
    assert all(item["href"].startswith(f"{gateway_url}/features/") for item in found["links"])


GDAL = pytest.mark.skipif(
    shutil.which("ogrinfo") is None, reason="GDAL's ogrinfo is missing (Debian: gdal-bin)"
)


def ogrinfo(*args: str) -> str:
    done = subprocess.run(
        ["ogrinfo", *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@GDAL
def test_gdal_oapif_lists_the_layers(catalog_url: str) -> None:
    listing = ogrinfo("-ro", f"OAPIF:{catalog_url}/features")
    assert "1: territories" in listing
    assert "2: indicator-statistics" in listing


@GDAL
def test_gdal_oapif_reads_the_territories(catalog_url: str) -> None:
    summary = ogrinfo("-ro", "-al", "-so", f"OAPIF:{catalog_url}/features", "territories")
    assert "Feature Count: 710" in summary
    assert "Geometry: Multi Polygon" in summary
    for field in ("code: String", "name: String", "population: Integer"):
        assert field in summary
    one = ogrinfo(
        "-ro", "-al", "-geom=SUMMARY", f"OAPIF:{catalog_url}/features", "territories",
        "-where", "code = '17300'",
    )  # fmt: skip
    assert one.count("OGRFeature(territories)") == 1
    assert "name (String) = La Rochelle" in one
    assert "MULTIPOLYGON" in one


@GDAL
def test_gdal_oapif_through_the_gateway(gateway_url: str) -> None:
    summary = ogrinfo("-ro", "-al", "-so", f"OAPIF:{gateway_url}/features", "indicator-statistics")
    assert "Feature Count: 5" in summary
