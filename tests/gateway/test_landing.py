"""The gateway's landing page and conformance, against the official OGC API Common schemas."""

from __future__ import annotations

import httpx
import pytest
from validate import format_error, validate_document

from territoires.gateway.app import create_app
from territoires.shared.settings import Settings


@pytest.fixture
async def gateway(settings: Settings):
    # The upstream services are not started here: the gateway must report, not fail.
    settings = settings.model_copy(
        update={"catalog_url": "http://127.0.0.1:1", "compute_url": "http://127.0.0.1:1"}
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.example") as client:
        yield client


def assert_valid(document: dict, schema: str) -> None:
    errors = validate_document(document, schema)
    assert not errors, [format_error(e) for e in errors]


async def test_landing_page_is_valid_and_lists_services(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/")
    assert response.status_code == 200
    document = response.json()
    assert_valid(document, "common-1.0:landingPage")
    rels = {link["rel"] for link in document["links"]}
    assert {"self", "service-desc", "conformance"} <= rels
    assert all(link["href"].startswith("http://gw.example/") for link in document["links"])
    services = {s["name"]: s["status"] for s in document["services"]}
    assert services == {"catalog": "error", "compute": "error", "tiles": "error"}


async def test_landing_page_as_html(gateway: httpx.AsyncClient) -> None:
    by_param = await gateway.get("/", params={"f": "html"})
    by_accept = await gateway.get("/", headers={"accept": "text/html,*/*"})
    for response in (by_param, by_accept):
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Territoires</h1>" in response.text
        assert "catalog" in response.text


async def test_conformance_is_valid(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/conformance")
    assert_valid(response.json(), "common-1.0:confClasses")


async def test_gateway_stays_ready_but_degraded_when_a_service_is_down(
    gateway: httpx.AsyncClient,
) -> None:
    response = await gateway.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["catalog"]["status"] == "error"


async def test_service_description_is_openapi_3(gateway: httpx.AsyncClient) -> None:
    landing = (await gateway.get("/")).json()
    href = next(link["href"] for link in landing["links"] if link["rel"] == "service-desc")
    document = (await gateway.get(href)).json()
    assert document["openapi"].startswith("3.")
    assert {"/", "/conformance", "/healthz", "/readyz"} <= set(document["paths"])
