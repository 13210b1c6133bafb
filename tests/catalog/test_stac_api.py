"""The STAC API through the gateway, with pystac-client as users run it, and bad input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from pystac_client import Client
from shapely.geometry import box, shape
from validate import format_error, validate_document

from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from .stac_data import LA_ROCHELLE, all_items


def assert_valid(document: dict[str, Any], schema: str) -> None:
    errors = validate_document(document, schema)
    assert not errors, [format_error(e) for e in errors][:5]


def link_href(document: dict[str, Any], rel: str) -> str | None:
    return next((link["href"] for link in document["links"] if link["rel"] == rel), None)


def expected(
    collection: str, area: tuple[float, ...], start: str, end: str, max_cloud: float
) -> list[dict[str, Any]]:
    """The search answer computed in Python from the test data: newest first, then id."""
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
    found = [
        item
        for item in all_items()
        if item["collection"] == collection
        and shape(item["geometry"]).intersects(box(*area))
        and low <= datetime.fromisoformat(item["properties"]["datetime"]) <= high
        and item["properties"]["eo:cloud_cover"] < max_cloud
    ]
    return sorted(found, key=lambda i: (i["properties"]["datetime"], i["id"]), reverse=True)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pystac_client_searches_and_pages_through_the_gateway(
    gateway_url: str, method: str
) -> None:
    client = Client.open(f"{gateway_url}/stac")
    assert_valid(client.to_dict(), "stac-api-1.0:landingPage")
    search = client.search(
        method=method,
        collections=["sentinel-2-l2a"],
        bbox=list(LA_ROCHELLE),
        datetime="2024-01-01T00:00:00Z/2024-12-31T23:59:59Z",
        filter="eo:cloud_cover < 60",
        sortby="-datetime",
        limit=4,
    )
    pages = list(search.pages_as_dicts())
    ids = [f["id"] for page in pages for f in page["features"]]
    want = expected(
        "sentinel-2-l2a",
        LA_ROCHELLE,
        "2024-01-01T00:00:00+00:00",
        "2024-12-31T23:59:59+00:00",
        60,
    )
    assert ids == [i["id"] for i in want]
    assert len(pages) > 3
    for page in pages:
        assert_valid(page, "stac-api-1.0:itemCollection")
        for feature in page["features"]:
            assert_valid(feature, "stac-1.0:item")
            assert feature["links"][0]["href"].startswith(f"{gateway_url}/stac/collections/")


def test_collections_validate_and_link_to_the_public_url(gateway_url: str) -> None:
    client = Client.open(f"{gateway_url}/stac")
    collections = list(client.get_collections())
    assert {c.id for c in collections} == {"sentinel-2-l2a", "landsat-c2-l2"}
    for c in collections:  # as served: pystac's to_dict() would migrate them to STAC 1.1
        assert_valid(httpx.get(c.get_self_href()).json(), "stac-1.0:collection")
    landsat = client.get_collection("landsat-c2-l2")
    items = list(landsat.get_items())
    assert len(items) == 30
    assert all(i.get_self_href().startswith(f"{gateway_url}/stac/") for i in items)


def test_previous_links_walk_back_to_the_same_pages(gateway_url: str) -> None:
    url = f"{gateway_url}/stac/search?collections=sentinel-2-l2a&limit=7&sortby=+eo:cloud_cover"
    forward = []
    while url:
        page = httpx.get(url).json()
        forward.append([f["id"] for f in page["features"]])
        url = link_href(page, "next")
    assert sum(len(p) for p in forward) == 90
    backward = [forward[-1]]
    url = link_href(page, "prev")
    while url:
        page = httpx.get(url).json()
        backward.append([f["id"] for f in page["features"]])
        url = link_href(page, "prev")
    assert list(reversed(backward)) == forward
    clouds = [
        c
        for p in forward
        for c in sorted(i["properties"]["eo:cloud_cover"] for i in all_items() if i["id"] in p)
    ]
    assert clouds == sorted(clouds)


@pytest.mark.parametrize(
    ("query", "cql2"),
    [
        ("ids", None),
        ("cql2-text", "platform = 'sentinel-2a' AND eo:cloud_cover BETWEEN 10 AND 40"),
        ("cql2-json", None),
    ],
)
def test_ids_and_filters(gateway_url: str, query: str, cql2: str | None) -> None:
    client = Client.open(f"{gateway_url}/stac")
    if query == "ids":
        found = {
            i.id for i in client.search(ids=["sentinel-2-l2a-001", "landsat-c2-l2-002"]).items()
        }
        assert found == {"sentinel-2-l2a-001", "landsat-c2-l2-002"}
        return
    if query == "cql2-json":
        expression: Any = {
            "op": "and",
            "args": [
                {"op": "in", "args": [{"property": "collection"}, ["landsat-c2-l2"]]},
                {
                    "op": "t_intersects",
                    "args": [
                        {"property": "datetime"},
                        {"interval": ["2024-02-01T00:00:00Z", "2024-02-28T00:00:00Z"]},
                    ],
                },
                {
                    "op": "s_intersects",
                    "args": [{"property": "geometry"}, {"bbox": list(LA_ROCHELLE)}],
                },
            ],
        }
        found = {i.id for i in client.search(filter=expression, filter_lang="cql2-json").items()}
        want = {
            i["id"]
            for i in expected(
                "landsat-c2-l2",
                LA_ROCHELLE,
                "2024-02-01T00:00:00+00:00",
                "2024-02-28T00:00:00+00:00",
                101,
            )
        }
        assert found == want and want
        return
    found = {i.id for i in client.search(filter=cql2, max_items=None).items()}
    want = {
        i["id"]
        for i in all_items()
        if i["properties"]["platform"] == "sentinel-2a"
        and 10 <= i["properties"]["eo:cloud_cover"] <= 40
    }
    assert found == want and want


def test_fields_extension(gateway_url: str) -> None:
    page = httpx.post(
        f"{gateway_url}/stac/search",
        json={
            "limit": 2,
            "fields": {"include": ["properties.eo:cloud_cover"], "exclude": ["assets"]},
        },
    ).json()
    feature = page["features"][0]
    assert set(feature) == {"type", "id", "collection", "links", "properties"}
    assert set(feature["properties"]) == {"eo:cloud_cover"}


def test_queryables(gateway_url: str) -> None:
    for path in ("/stac/queryables", "/stac/collections/sentinel-2-l2a/queryables"):
        response = httpx.get(f"{gateway_url}{path}")
        assert response.status_code == 200
        assert "eo:cloud_cover" in response.json()["properties"]
    assert httpx.get(f"{gateway_url}/stac/collections/nope/queryables").status_code == 404


BAD_REQUESTS = [
    ("GET", "/stac/search?bbox=a,b,c,d", None, 400),
    ("GET", "/stac/search?bbox=1,2,3", None, 400),
    ("GET", "/stac/search?bbox=-1,46,-2,47", None, 400),
    ("GET", "/stac/search?bbox=-1,46,0,95", None, 400),
    ("GET", "/stac/search?datetime=yesterday", None, 400),
    ("GET", "/stac/search?datetime=2024-02-01T00:00:00Z/2024-01-01T00:00:00Z", None, 400),
    ("GET", "/stac/search?collections=no-such-collection", None, 404),
    ("GET", "/stac/collections/no-such-collection", None, 404),
    ("GET", "/stac/collections/no-such-collection/items", None, 404),
    ("GET", "/stac/collections/sentinel-2-l2a/items/no-such-item", None, 404),
    ("GET", "/stac/search?filter=eo:cloud_cover <<< 3", None, 400),
    ("GET", "/stac/search?filter=eo:cloud_cover = 'cloudy'", None, 400),
    ("GET", "/stac/search?filter=nonsense_property > DATE('2024-01-01')", None, 400),
    ("GET", "/stac/search?limit=0", None, 400),
    ("GET", "/stac/search?limit=-3", None, 400),
    ("GET", "/stac/search?sortby=-no_such_field", None, 400),
    ("GET", "/stac/search?token=garbage", None, 400),
    ("GET", '/stac/search?intersects={"type":"Polygon"}', None, 400),
    (
        "POST",
        "/stac/search",
        {"intersects": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
        400,
    ),
    ("POST", "/stac/search", {"bbox": [10, 10, 0, 0]}, 400),
    ("POST", "/stac/search", {"limit": 0}, 400),
    ("POST", "/stac/search", {"fields": None}, 400),
    ("POST", "/stac/search", {"filter": {"op": "nope", "args": []}}, 400),
    ("POST", "/stac/search", {"sortby": [{"field": "bogus", "direction": "asc"}]}, 400),
    ("POST", "/stac/search", "not json", 400),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD_REQUESTS)
def test_bad_input_is_a_problem_not_a_crash(
    gateway_url: str, method: str, path: str, body: Any, status: int
) -> None:
    if isinstance(body, str):
        response = httpx.request(
            method,
            f"{gateway_url}{path}",
            content=body,
            headers={"content-type": "application/json"},
        )
    else:
        response = httpx.request(method, f"{gateway_url}{path}", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


def test_transactions_need_a_key_with_the_ingest_scope(
    gateway_url: str, catalog_settings: Settings
) -> None:
    engine = create_sync_database(catalog_settings)
    pepper = catalog_settings.api_key_pepper.get_secret_value()
    ingest = create_key(engine, "partner-ingest", [Scope.INGEST], pepper)
    execute_only = create_key(engine, "partner-execute", [Scope.EXECUTE], pepper)
    engine.dispose()
    base = f"{gateway_url}/stac/collections/sentinel-2-l2a/items"
    item = all_items()[0] | {"id": "posted-item"}

    assert httpx.post(base, json=item).status_code == 401
    assert httpx.post(base, json=item, headers={"X-API-Key": "trr_bad_key"}).status_code == 401
    assert httpx.post(base, json=item, headers={"X-API-Key": execute_only}).status_code == 403

    headers = {"X-API-Key": ingest}
    created = httpx.post(base, json=item, headers=headers)
    assert created.status_code in (200, 201), created.text
    assert_valid(created.json(), "stac-1.0:item")
    assert httpx.post(base, json=item, headers=headers).status_code == 409
    assert httpx.get(f"{base}/posted-item").json()["properties"]["eo:cloud_cover"] == 0

    item["properties"]["eo:cloud_cover"] = 42
    assert httpx.put(f"{base}/posted-item", json=item, headers=headers).status_code == 200
    assert httpx.get(f"{base}/posted-item").json()["properties"]["eo:cloud_cover"] == 42

    broken = item | {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}}
    assert httpx.put(f"{base}/posted-item", json=broken, headers=headers).status_code == 400
    assert httpx.get(f"{base}/posted-item").json()["geometry"] == item["geometry"]

    assert httpx.delete(f"{base}/posted-item", headers=headers).status_code in (200, 204)
    assert httpx.get(f"{base}/posted-item").status_code == 404
    assert httpx.delete(f"{base}/posted-item", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("headers", "base"),
    [
        (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "geo.example.fr"},
            "https://geo.example.fr/",
        ),
        (
            {"X-Forwarded-Prefix": "/territoires", "X-Forwarded-Host": "portal.fr"},
            "http://portal.fr/territoires/",
        ),
        ({"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "a b"}, None),
    ],
)
def test_links_follow_valid_forwarding_headers_only(
    catalog_url: str, headers: dict[str, str], base: str | None
) -> None:
    response = httpx.get(
        f"{catalog_url}/stac/collections/landsat-c2-l2/items?limit=1", headers=headers
    )
    assert response.status_code == 200
    self_href = response.json()["features"][0]["links"][0]["href"]
    expected_base = base or f"{catalog_url}/"
    assert self_href == f"{expected_base}stac/collections/landsat-c2-l2/items/landsat-c2-l2-029"
