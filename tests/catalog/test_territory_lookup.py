"""Territory look-up for the map pages: by INSEE code, and by name prefix for an autocomplete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from validate import format_error, validate_document

from territoires.catalog.app import create_app
from territoires.shared.database import create_sync_database
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.territories import load_territories, read_demo_territories

BASE = "http://catalog.test"


def assert_valid(document: Any, schema: str) -> None:
    errors = validate_document(document, schema)
    assert not errors, [format_error(e) for e in errors][:5]


@pytest.fixture(scope="module")
def app(empty_database_factory, redis_url: str) -> FastAPI:
    url = empty_database_factory("lookup")
    upgrade(url)
    settings = Settings(DATABASE_URL=url, REDIS_URL=redis_url, redis_prefix="territoires-test-look")
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    engine.dispose()
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/territories", params=params)
    assert response.status_code == 200, response.text
    document = response.json()
    assert_valid(document, "geojson:FeatureCollection")
    assert document["numberReturned"] == len(document["features"])
    return [feature["properties"]["name"] for feature in document["features"]]


async def test_a_commune_by_insee_code_with_its_outline(client: httpx.AsyncClient) -> None:
    response = await client.get("/territories/17300")
    assert response.status_code == 200
    feature = response.json()
    assert_valid(feature, "features-1.0:featureGeoJSON")
    assert feature["id"] == "commune-17300"
    assert feature["properties"] == {
        "level": "commune",
        "code": "17300",
        "name": "La Rochelle",
        "parent_code": "17",
        "population": feature["properties"]["population"],
        "postcodes": ["17000"],
    }
    assert feature["properties"]["population"] > 70_000
    assert feature["geometry"]["type"] == "MultiPolygon"
    minx, miny, maxx, maxy = feature["bbox"]
    assert -1.3 < minx < maxx < -1.0 and 46.1 < miny < maxy < 46.2
    alternate = next(link for link in feature["links"] if link["rel"] == "alternate")
    assert alternate["href"] == f"{BASE}/features/collections/territories/items/commune-17300"
    assert (await client.get(alternate["href"])).json()["properties"]["name"] == "La Rochelle"


async def test_levels_when_codes_repeat(client: httpx.AsyncClient) -> None:
    departement = (await client.get("/territories/17")).json()
    assert departement["id"] == "departement-17"
    assert departement["properties"]["name"] == "Charente-Maritime"
    corsica = (await client.get("/territories/2a", params={"level": "departement"})).json()
    assert corsica["properties"]["code"] == "2A"
    missing = await client.get("/territories/17300", params={"level": "departement"})
    assert missing.status_code == 404
    assert "departement" in missing.json()["detail"]


async def test_links_follow_the_proxy(client: httpx.AsyncClient) -> None:
    headers = {"X-Forwarded-Host": "gw.example", "X-Forwarded-Proto": "https"}
    feature = (await client.get("/territories/13055", headers=headers)).json()
    hrefs = {link["rel"]: link["href"] for link in feature["links"]}
    assert hrefs["alternate"].startswith("https://gw.example/features/")
    suggestion = (await client.get("/territories", params={"q": "mars"}, headers=headers)).json()
    assert suggestion["features"][0]["links"][0]["href"].startswith("https://gw.example/")


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("la roch", "La Rochelle"),
        ("LA ROCHELLE", "La Rochelle"),
        ("eguilles", "Éguilles"),  # accents ignored
        ("ÉGUILLES", "Éguilles"),
        ("ile d'aix", "Île-d'Aix"),  # punctuation ignored
        ("ile d’aix", "Île-d'Aix"),
        ("ile-d-aix", "Île-d'Aix"),
        ("saint etienne", "Saint-Étienne-du-Grès"),
        ("berre l'et", "Berre-l'Étang"),
        ("1730", "La Rochelle"),  # code prefixes too
        ("974", "Saint-Denis"),
        ("17000", "La Rochelle"),  # a postcode (no INSEE code starts so)
        ("13001", "Marseille"),  # one of its 16 postcodes, before Aix-en-Provence's INSEE code
    ],
)
async def test_name_prefix_ignores_case_accents_and_punctuation(
    client: httpx.AsyncClient, query: str, first: str
) -> None:
    assert (await names(client, q=query))[0] == first


async def test_suggestions_rank_by_population_and_carry_no_outline(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/territories", params={"q": "saint", "limit": 20})
    features = response.json()["features"]
    assert len(features) == 20
    populations = [f["properties"]["population"] for f in features]
    assert populations == sorted(populations, reverse=True)
    assert features[0]["properties"]["name"] == "Saint-Denis"  # La Réunion's largest
    for feature in features:
        assert feature["geometry"] is None
        assert len(feature["bbox"]) == 4
    assert len(response.content) < 20_000


async def test_level_filter_and_limit(client: httpx.AsyncClient) -> None:
    assert await names(client, q="charente", level="departement") == [
        "Charente",
        "Charente-Maritime",
    ]
    both = await names(client, q="charente", level=["departement", "commune"], limit=50)
    assert {"Charente", "Charente-Maritime"} <= set(both)
    assert len(await names(client, q="s", limit=3)) == 3
    assert await names(client, q="zzz") == []


@pytest.mark.parametrize("query", ["%", "_", "'", "--", "%rochelle", "_a rochelle"])
async def test_like_wildcards_are_plain_characters(client: httpx.AsyncClient, query: str) -> None:
    assert await names(client, q=query) == []


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/territories/99999", {}, 404),
        ("/territories/nope", {}, 404),
        ("/territories/17300", {"level": "canton"}, 400),
        ("/territories/a%20b", {}, 400),
        ("/territories/" + "1" * 17, {}, 400),
        ("/territories", {}, 400),
        ("/territories", {"q": ""}, 400),
        ("/territories", {"q": "x" * 101}, 400),
        ("/territories", {"q": "la", "limit": "0"}, 400),
        ("/territories", {"q": "la", "limit": "51"}, 400),
        ("/territories", {"q": "la", "limit": "many"}, 400),
        ("/territories", {"q": "la", "level": "canton"}, 400),
    ],
)
async def test_bad_input_is_problem_details(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert_valid(body, "common-1.0:exception")
    assert body["status"] == status and body["detail"]


async def test_a_database_that_is_down_is_503(redis_url: str) -> None:
    down = Settings(
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/none",
        REDIS_URL=redis_url,
        readiness_timeout_s=1,
    )
    transport = httpx.ASGITransport(app=create_app(down))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        for path, params in (("/territories/17300", {}), ("/territories", {"q": "la"})):
            response = await client.get(path, params=params)
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"


async def test_only_five_digits_are_a_postcode(client: httpx.AsyncClient) -> None:
    assert await names(client, q="13001") == ["Marseille", "Aix-en-Provence"]
    assert "Marseille" not in await names(client, q="1300")  # a code prefix, not a postcode
    assert await names(client, q="99999") == []
