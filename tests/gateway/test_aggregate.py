"""The gateway's merged documents, with a real catalog behind it."""

from __future__ import annotations

import httpx
import pytest

from territoires.catalog.app import create_app as create_catalog
from territoires.gateway import aggregate
from territoires.shared.settings import Settings

from ..servers import serve


def test_merged_openapi_holds_every_public_catalog_route(gateway_url: str) -> None:
    document = httpx.get(f"{gateway_url}/api").json()
    paths = set(document["paths"])
    assert {"/stac/search", "/stac/collections/{collection_id}/items", "/healthz"} <= paths
    assert any(p.startswith("/features") for p in paths)
    assert not any(p in ("/readyz",) and "catalog" in str(document["paths"][p]) for p in paths)
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for ref in _refs(operation):
                name = ref.rsplit("/", 1)[-1]
                assert name in document["components"]["schemas"], ref


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_conformance_is_the_union_of_the_services(gateway_url: str) -> None:
    classes = httpx.get(f"{gateway_url}/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core" in classes
    assert "https://api.stacspec.org/v1.0.0/item-search" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes


async def test_a_service_gone_keeps_its_last_good_part(
    catalog_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregate, "CACHE_TTL_S", 0.0)  # every call asks the service again
    async with httpx.AsyncClient() as client:
        with serve(create_catalog(catalog_settings)) as catalog_url:
            documents = aggregate.ServiceDocuments(client, {"catalog": catalog_url})
            seen = await documents.openapi({"paths": {}})
        gone = await documents.openapi({"paths": {}})
    assert "/stac/search" in seen["paths"] and gone == seen
