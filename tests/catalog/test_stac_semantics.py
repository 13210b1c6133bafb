"""What the STAC API specification and its extensions ask of a search, one case per finding of
stac-api-validator (issue 18), through the gateway, by httpx and by pystac-client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pystac_client import Client
from shapely.geometry import box, mapping, shape

from territoires.catalog.stac.documents import collection_document

from .stac_data import LA_ROCHELLE, all_items

SENTINEL = [i for i in all_items() if i["collection"] == "sentinel-2-l2a"]
OVER_LA_ROCHELLE = mapping(box(*LA_ROCHELLE))


def search(gateway_url: str, method: str, **query: Any) -> dict[str, Any]:
    """One search page; GET takes the query string as the validator sends it."""
    if method == "GET":
        response = httpx.get(f"{gateway_url}/stac/search", params=query)
    else:
        response = httpx.post(f"{gateway_url}/stac/search", json=query)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [feature["id"] for feature in page["features"]]


def test_intersects_by_get_and_post_find_the_same_items(gateway_url: str) -> None:
    client = Client.open(f"{gateway_url}/stac")
    found = {
        method: [
            item.id
            for item in client.search(
                method=method, intersects=OVER_LA_ROCHELLE, collections=["sentinel-2-l2a"]
            ).items()
        ]
        for method in ("GET", "POST")
    }
    want = {i["id"] for i in SENTINEL if shape(i["geometry"]).intersects(box(*LA_ROCHELLE))}
    assert found["GET"] == found["POST"]
    assert set(found["GET"]) == want and want


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pystac_client_intersects_fields_and_sortby_together(gateway_url: str, method: str) -> None:
    client = Client.open(f"{gateway_url}/stac")
    found = list(
        client.search(
            method=method,
            intersects=OVER_LA_ROCHELLE,
            collections=["sentinel-2-l2a"],
            fields=["properties.eo:cloud_cover", "-assets"],
            sortby="-properties.eo:cloud_cover",
            limit=5,
        ).items_as_dicts()
    )
    over = [i for i in SENTINEL if shape(i["geometry"]).intersects(box(*LA_ROCHELLE))]
    want = sorted(over, key=lambda i: (i["properties"]["eo:cloud_cover"], i["id"]), reverse=True)
    assert [f["id"] for f in found] == [i["id"] for i in want]
    for feature in found:
        assert set(feature) == {"type", "id", "collection", "links", "properties"}
        assert set(feature["properties"]) == {"eo:cloud_cover"}


@pytest.mark.parametrize("geometry_type", ["Point", "LineString", "Polygon", "MultiPolygon"])
def test_get_intersects_takes_every_geometry_type(gateway_url: str, geometry_type: str) -> None:
    west, south, east, north = LA_ROCHELLE
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    coordinates = {
        "Point": [west, south],
        "LineString": ring[:2],
        "Polygon": [ring],
        "MultiPolygon": [[ring]],
    }[geometry_type]
    geometry = {"type": geometry_type, "coordinates": coordinates}
    page = search(
        gateway_url,
        "GET",
        intersects=json.dumps(geometry),
        collections="sentinel-2-l2a",
        limit=100,
    )
    want = {i["id"] for i in SENTINEL if shape(i["geometry"]).intersects(shape(geometry))}
    assert set(ids(page)) == want and want


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("limit", [100_000, 1_000_000])
def test_a_limit_above_the_maximum_is_served_as_the_maximum(
    gateway_url: str, method: str, limit: int
) -> None:
    page = search(gateway_url, method, collections=["sentinel-2-l2a"], limit=limit)
    items = httpx.get(
        f"{gateway_url}/stac/collections/sentinel-2-l2a/items", params={"limit": limit}
    ).json()
    for answer in (page, items):
        assert len(answer["features"]) == len(SENTINEL)
        assert not [link for link in answer["links"] if link["rel"] == "next"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_lower_case_t_and_z_are_rfc_3339(gateway_url: str, method: str) -> None:
    item = SENTINEL[5]
    instant = item["properties"]["datetime"].replace("T", "t").replace("Z", "z")
    page = search(gateway_url, method, datetime=instant, collections=["sentinel-2-l2a"])
    assert ids(page) == [item["id"]]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_ids_and_bbox_both_apply(gateway_url: str, method: str) -> None:
    """STAC API 1.0.0 applies every parameter with `ids` (it ignored the others before
    1.0.0-beta.1): stac-api-validator checks that an item outside the bbox is not returned."""
    inside, outside = "sentinel-2-l2a-000", "sentinel-2-l2a-001"  # -000 covers La Rochelle
    bbox = list(LA_ROCHELLE)
    page = search(
        gateway_url,
        method,
        ids=[inside, outside] if method == "POST" else f"{inside},{outside}",
        bbox=bbox if method == "POST" else ",".join(map(str, bbox)),
    )
    assert ids(page) == [inside]


def test_sortby_takes_the_properties_prefix_and_post_a_single_collection(
    gateway_url: str,
) -> None:
    by_date = sorted(SENTINEL, key=lambda i: i["properties"]["datetime"])
    get = search(
        gateway_url,
        "GET",
        sortby="+properties.datetime",
        collections="sentinel-2-l2a",
        limit=5,
    )
    post = search(
        gateway_url,
        "POST",
        sortby=[{"field": "properties.datetime", "direction": "asc"}],
        collections="sentinel-2-l2a",  # a string, as stac-api-validator sends it
        limit=5,
    )
    assert ids(get) == ids(post) == [i["id"] for i in by_date[:5]]
    client = Client.open(f"{gateway_url}/stac")
    newest = client.search(
        method="GET", collections=["sentinel-2-l2a"], sortby="-properties.datetime", max_items=3
    )
    assert [i.id for i in newest.items()] == [i["id"] for i in by_date[::-1][:3]]


def test_between_takes_its_bounds_as_an_array(gateway_url: str) -> None:
    cloud = {"property": "eo:cloud_cover"}
    pages = [
        search(gateway_url, "POST", filter=expression, limit=100, **{"filter-lang": "cql2-json"})
        for expression in (
            {"op": "between", "args": [cloud, [10, 40]]},
            {"op": "between", "args": [cloud, 10, 40]},
        )
    ]
    want = {i["id"] for i in all_items() if 10 <= i["properties"]["eo:cloud_cover"] <= 40}
    assert set(ids(pages[0])) == set(ids(pages[1])) == want
    negated = search(
        gateway_url,
        "POST",
        filter={"op": "not", "args": [{"op": "between", "args": [cloud, [10, 40]]}]},
        limit=200,
    )
    assert not set(ids(negated)) & want


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        ("grid:code LIKE 'MGRS-30TX%'", lambda p: p["grid:code"] == "MGRS-30TXS"),
        ("grid:code NOT LIKE 'MGRS-30TX%'", lambda p: p["grid:code"] != "MGRS-30TXS"),
        ("sat:absolute_orbit >= 40100", lambda p: p["sat:absolute_orbit"] >= 40100),
        ("mission LIKE 'sentinel%'", lambda p: False),  # on no item: nothing matches
        ("grid:code > 3", lambda p: False),  # text where a number is asked: no match
        ("mission IS NULL", lambda p: True),
    ],
)
def test_filters_name_properties_outside_the_queryables(
    gateway_url: str, expression: str, matches: Any
) -> None:
    page = search(gateway_url, "GET", filter=expression, limit=200)
    assert set(ids(page)) == {i["id"] for i in all_items() if matches(i["properties"])}


def test_queryables_say_other_properties_may_be_filtered(gateway_url: str) -> None:
    document = httpx.get(f"{gateway_url}/stac/queryables").json()
    assert document["additionalProperties"] is True
    assert "Other item properties" in document["description"]
    sort = httpx.get(f"{gateway_url}/stac/search", params={"sortby": "grid:code"})
    assert sort.status_code == 400  # a sort still takes the listed properties only


FIELDS_CASES = [
    # (POST fields, GET fields or None, top-level keys, properties kept or None)
    ({"include": ["bbox"]}, "bbox", {"type", "id", "collection", "links", "bbox"}, None),
    ({}, None, {"type", "stac_version", "stac_extensions", "id", "collection", "geometry",
                "bbox", "links", "assets", "properties"}, {"datetime"}),
    ({"include": None, "exclude": None}, None, {"type", "stac_version", "stac_extensions", "id",
     "collection", "geometry", "bbox", "links", "assets", "properties"}, {"datetime"}),
    ({"exclude": ["geometry"]}, "-geometry", {"type", "stac_version", "stac_extensions", "id",
     "collection", "bbox", "links", "assets", "properties"}, "all"),
    ({"exclude": ["geometry"], "include": []}, None, {"type", "stac_version", "stac_extensions",
     "id", "collection", "bbox", "links", "assets", "properties"}, {"datetime"}),
    ({"exclude": ["properties"], "include": ["properties.eo:cloud_cover"]},
     "-properties,+properties.eo:cloud_cover", {"type", "id", "collection", "links",
     "properties"}, {"eo:cloud_cover"}),
    ({"exclude": ["geometry"], "include": ["geometry"]}, "+geometry,-geometry",
     {"type", "id", "collection", "links", "geometry"}, None),
    ({"include": ["properties"], "exclude": ["properties.gsd"]}, "properties,-properties.gsd",
     {"type", "id", "collection", "links", "properties"}, "all but gsd"),
]  # fmt: skip


@pytest.mark.parametrize(("post", "get", "keys", "properties"), FIELDS_CASES)
def test_fields_extension_semantics(
    gateway_url: str, post: dict, get: str | None, keys: set[str], properties: Any
) -> None:
    every = set(all_items()[0]["properties"])
    want = (
        {"all": every, "all but gsd": every - {"gsd"}}[properties]
        if isinstance(properties, str)
        else properties
    )
    pages = [search(gateway_url, "POST", fields=post, limit=3)]
    if get is not None:
        pages.append(search(gateway_url, "GET", fields=get, limit=3))
    for page in pages:
        for feature in page["features"]:
            assert set(feature) == keys
            assert set(feature.get("properties", {})) == (want or set())


def test_null_fields_is_a_bad_request(gateway_url: str) -> None:
    response = httpx.post(f"{gateway_url}/stac/search", json={"fields": None})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_the_landing_page_links_every_collection_as_a_child(gateway_url: str) -> None:
    landing = httpx.get(f"{gateway_url}/stac/").json()
    assert "https://api.stacspec.org/v1.0.0/browseable" in landing["conformsTo"]
    assert landing["id"] == "territoires"
    assert not [c for c in landing["conformsTo"] if "collection-search" in c]  # not offered
    children = [link["href"] for link in landing["links"] if link["rel"] == "child"]
    assert children == [
        f"{gateway_url}/stac/collections/landsat-c2-l2",
        f"{gateway_url}/stac/collections/sentinel-2-l2a",
    ]
    client = Client.open(f"{gateway_url}/stac")
    assert {child.id for child in client.get_children()} == {"landsat-c2-l2", "sentinel-2-l2a"}


def test_collections_drop_the_file_links_of_the_catalog_they_came_from() -> None:
    """`territoires ingest` of a static catalog keeps a collection's links; its `item` and
    `child` hrefs point into that catalog's files, which the API does not serve (pystac's
    crawler, following them from the landing page's children, failed on them)."""
    stored = {
        "id": "landsat-c2-l2",
        "links": [
            {"rel": "item", "href": "./landsat-c2-l2-1/landsat-c2-l2-1.json"},
            {"rel": "child", "href": "./2023/catalog.json"},
            {
                "rel": "license",
                "href": "https://www.usgs.gov/information-policies-and-instructions",
            },
        ],
    }
    document = collection_document(stored, "http://geo.example.fr/stac/")
    rels = [link["rel"] for link in document["links"]]
    assert "item" not in rels and "child" not in rels
    assert "license" in rels and "items" in rels
