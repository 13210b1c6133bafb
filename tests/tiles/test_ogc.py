"""The OGC API - Tiles documents validate against the official schemas, and their links name
the gateway when they are read through it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from validate import format_error, validate_document

from territoires.tiles.grids import LAMBERT_93_ID

from .pixels import GRIDS

ITEM = "/tiles/collections/ndvi/items/ndvi-2025"


@pytest.fixture(scope="module")
def gateway(tiles_gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiles_gateway_url, timeout=30) as http:
        yield http


def valid(document: object, schema: str) -> None:
    errors = validate_document(document, schema)
    assert not errors, [format_error(e) for e in errors]


def links_of(document: object) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "href":
                yield value
            else:
                yield from links_of(value)
    elif isinstance(document, list):
        for value in document:
            yield from links_of(value)


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/tiles", "tiles-1.0:landingPage"),
        ("/tiles/conformance", "tiles-1.0:confClasses"),
        # The Tiles bundle's collectionInfo takes its extent from extent-uad.yaml, whose
        # `additionalProperties` (beside no `properties`) would also demand an `interval` of the
        # spatial extent; the Features schemas hold the same collection members without that.
        ("/tiles/collections", "features-1.0:collections"),
        ("/tiles/collections/ndvi", "features-1.0:collection"),
        (f"{ITEM}/tiles", "tiles-1.0:tileSetsList"),
        ("/tiles/collections/ndvi/tiles", "tiles-1.0:tileSetsList"),
        ("/tiles/tileMatrixSets", "tiles-1.0:tileMatrixSetsList"),
    ],
)
def test_documents_validate_and_link_through_the_gateway(
    gateway: httpx.Client, path: str, schema: str
) -> None:
    response = gateway.get(path)
    assert response.status_code == 200, response.text
    document = response.json()
    valid(document, schema)
    hrefs = list(links_of(document))
    assert all(href.startswith(str(gateway.base_url)) for href in hrefs), hrefs


@pytest.mark.parametrize("grid", GRIDS.list())
def test_tilesets_and_grids_validate(gateway: httpx.Client, grid: str) -> None:
    for prefix in (ITEM, "/tiles/collections/ndvi"):
        tileset = gateway.get(f"{prefix}/tiles/{grid}").json()
        valid(tileset, "tiles-1.0:tileSet")
        assert any(link["rel"] == "item" or link["rel"] == "tile" for link in tileset["links"])
    valid(gateway.get(f"/tiles/tileMatrixSets/{grid}").json(), "tms-2.0:tileMatrixSet")


def test_the_grids_french_users_need(gateway: httpx.Client) -> None:
    ids = {entry["id"] for entry in gateway.get("/tiles/tileMatrixSets").json()["tileMatrixSets"]}
    assert {"WebMercatorQuad", "WorldCRS84Quad", LAMBERT_93_ID, "UTM30WGS84Quad"} <= ids
    assert {"UTM20WGS84Quad", "UTM22WGS84Quad", "UTM40SWGS84Quad"} <= ids  # overseas
    lambert = gateway.get(f"/tiles/tileMatrixSets/{LAMBERT_93_ID}").json()
    assert lambert["crs"].endswith("/2154")


def test_collections_list_their_dates_and_legends(gateway: httpx.Client) -> None:
    ndvi = gateway.get("/tiles/collections/ndvi").json()
    assert ndvi["kind"] == "indicator" and ndvi["indicator"] == "ndvi" and ndvi["itemCount"] == 2
    assert ndvi["datetimes"] == ["2025-07-15T11:00:00Z", "2024-07-15T11:00:00Z"]
    rels = {link["rel"]: link["href"] for link in ndvi["links"]}
    assert rels["describedby"].endswith("/tiles/legend/ndvi")
    scenes = gateway.get("/tiles/collections/sentinel-2-l2a").json()
    assert scenes["kind"] == "source" and "indicator" not in scenes
    assert gateway.get("/tiles/collections/nope").status_code == 404


def test_tilejson_and_wmts_through_the_gateway(gateway: httpx.Client) -> None:
    tilejson = gateway.get("/tiles/collections/ndvi/WebMercatorQuad/tilejson.json").json()
    assert tilejson["tiles"][0].startswith(f"{gateway.base_url}/tiles/collections/ndvi/tiles/")
    capabilities = gateway.get(f"{ITEM}/WMTSCapabilities.xml")
    assert capabilities.headers["content-type"].startswith("application/xml")
    assert f'template="{gateway.base_url}{ITEM}/tiles/WebMercatorQuad/' in capabilities.text
    forwarded = gateway.get(
        "/tiles/collections/ndvi/WebMercatorQuad/tilejson.json",
        headers={"X-Forwarded-Host": "territoires.example.fr", "X-Forwarded-Proto": "https"},
    ).json()
    assert forwarded["tiles"][0].startswith("https://territoires.example.fr/tiles/")


def test_the_openapi_document_lists_the_tile_routes(tiles_url: str) -> None:
    paths = httpx.get(f"{tiles_url}/api", timeout=30).json()["paths"]
    for path in (
        "/tiles/collections/{collectionId}/items/{itemId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
        "/tiles/collections/{collectionId}/items/{itemId}/{tileMatrixSetId}/tilejson.json",
        "/tiles/collections/{collectionId}/items/{itemId}/WMTSCapabilities.xml",
        "/tiles/collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
        "/tiles/legend/{indicator}",
        "/embed",
    ):
        assert path in paths, path
