"""Forwarding headers believed from trusted proxies only: for links, stored or served, and for
the client address the rate limits count.

Every address of 127.0.0.0/8 is this machine, so a client bound to 127.0.0.2 stands for one
on the internet (the default trusts 127.0.0.1 and ::1 only), or for an ingress when the
gateway is told to trust it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from redis import Redis

from territoires.gateway.app import create_app as create_gateway
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from ..catalog.stac_data import all_items
from ..servers import serve
from ..stack import SUMMER_2023

# Every way a client could claim another public URL.
FORGED = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "6666",
    "X-Forwarded-Prefix": "/evil",
    "Forwarded": "for=192.0.2.1;host=evil.example;proto=https",
}


def client_from(address: str, **options: Any) -> httpx.Client:
    """An HTTP client whose connections come from `address`."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60, **options)


def hrefs(document: Any) -> list[str]:
    """Every web link of a document (asset paths on storage left out)."""
    if isinstance(document, dict):
        href = document.get("href")
        found = [href] if isinstance(href, str) and href.startswith("http") else []
        return found + [h for value in document.values() for h in hrefs(value)]
    if isinstance(document, list):
        return [h for value in document for h in hrefs(value)]
    return []


def ingest_key(settings: Settings) -> str:
    engine = create_sync_database(settings)
    key = create_key(
        engine,
        f"proxies-{uuid.uuid4().hex[:6]}",
        [Scope.INGEST],
        settings.api_key_pepper.get_secret_value(),
    )
    engine.dispose()
    return key


def test_a_stac_item_written_with_forged_headers_links_to_the_gateway(
    gateway_url: str, catalog_settings: Settings
) -> None:
    key = ingest_key(catalog_settings)
    base = f"{gateway_url}/stac/collections/sentinel-2-l2a/items"
    item = all_items()[0] | {"id": f"forged-{uuid.uuid4().hex[:6]}"}
    with client_from("127.0.0.2", headers=FORGED) as outsider:
        created = outsider.post(base, json=item, headers={"X-API-Key": key})
        assert created.status_code in (200, 201), created.text
        answers = [
            created,
            outsider.get(f"{base}/{item['id']}"),
            outsider.get(f"{gateway_url}/stac/search", params={"ids": item["id"]}),
            outsider.get(f"{gateway_url}/stac/collections/sentinel-2-l2a"),
            outsider.get(f"{gateway_url}/features/collections/territories/items?limit=1"),
        ]
    try:
        for answer in answers:
            assert answer.status_code in (200, 201), answer.text
            assert "evil" not in answer.text and "6666" not in answer.text
            links = hrefs(answer.json())
            assert links and all(h.startswith(gateway_url) for h in links), links
        # As anyone reads it later, stored: the same links.
        stored = httpx.get(f"{base}/{item['id']}").json()
        assert all(h.startswith(gateway_url) for h in hrefs(stored))
        # The same headers from a trusted proxy are believed: the test would see the hole.
        proxied = httpx.get(f"{base}/{item['id']}", headers=FORGED).json()
        assert all(
            h.startswith("https://evil.example:6666/evil/stac/") for h in hrefs(proxied["links"])
        )
    finally:
        assert httpx.delete(f"{base}/{item['id']}", headers={"X-API-Key": key}).is_success


def test_a_job_submitted_with_forged_headers_stores_no_forged_link(
    platform_url: str, api_key: str, worker: Any
) -> None:
    # The partner's own key throughout: its job is visible to it alone.
    with client_from("127.0.0.2", headers=FORGED | {"X-API-Key": api_key}) as outsider:
        accepted = outsider.post(
            f"{platform_url}/processes/vegetation/execution",
            json={"inputs": {"territory": "17300", "datetime": SUMMER_2023}},
            headers={"Prefer": "respond-async"},
        )
        assert accepted.status_code == 201, accepted.text
        location = accepted.headers["Location"]
        assert location.startswith(f"{platform_url}/jobs/")
        deadline = time.monotonic() + 300
        while (status := outsider.get(location).json())["status"] not in ("successful", "failed"):
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["status"] == "successful", status
        results = outsider.get(f"{location}/results")
        documents = [accepted, outsider.get(location), results]
        # The job's STAC items (links written by the worker, long after the request) and the
        # other documents its results point to.
        documents += [
            outsider.get(href)
            for href in hrefs(results.json())
            if href.startswith(platform_url) and not href.endswith((".tif", ".png"))
        ]
    for answer in documents:
        assert answer.status_code in (200, 201), answer.text
        assert "evil" not in answer.text and "6666" not in answer.text
        links = hrefs(answer.json())
        assert all(h.startswith(platform_url) for h in links), links
    items = [d.json() for d in documents if d.json().get("type") == "Feature"]
    assert {"tilejson", "via"} <= {link["rel"] for item in items for link in item["links"]}


def test_a_service_reached_directly_drops_forged_headers(catalog_url: str) -> None:
    # In docker-compose or Kubernetes other containers reach the services without the gateway.
    with client_from("127.0.0.2", headers=FORGED) as neighbour:
        document = neighbour.get(f"{catalog_url}/stac/collections/sentinel-2-l2a").json()
    links = hrefs(document["links"])
    assert links and all(h.startswith(f"{catalog_url}/stac") for h in links), links


@pytest.fixture(scope="module")
def public_gateway(catalog_settings: Settings, catalog_url: str) -> Iterator[str]:
    settings = catalog_settings.model_copy(
        update={"catalog_url": catalog_url, "public_url": "https://territoires.example.org/geo"}
    )
    with serve(create_gateway(settings)) as url:
        yield url


def test_the_public_url_wins_over_any_header(public_gateway: str) -> None:
    # Even from a trusted proxy: the operator said where the platform is.
    for address in ("127.0.0.1", "127.0.0.2"):
        with client_from(address, headers=FORGED) as client:
            document = client.get(f"{public_gateway}/stac/collections/sentinel-2-l2a").json()
            landing = client.get(f"{public_gateway}/").json()
        for href in hrefs(document["links"]) + hrefs(landing["links"]):
            assert href.startswith("https://territoires.example.org/geo/"), href


@pytest.fixture(scope="module")
def ingress_gateway(catalog_settings: Settings, catalog_url: str) -> Iterator[str]:
    """A gateway behind an ingress at 127.0.0.2, five anonymous requests a minute."""
    prefix = f"territoires-test-ingress-{uuid.uuid4().hex[:6]}"
    settings = catalog_settings.model_copy(
        update={
            "catalog_url": catalog_url,
            "redis_prefix": prefix,
            "rate_limit_per_minute": 5,
            "trusted_proxies": [ip_network("127.0.0.2/32")],
        }
    )
    with serve(create_gateway(settings)) as url:
        yield url
    redis = Redis.from_url(settings.redis_url or "")
    keys = list(redis.scan_iter(f"{prefix}*"))
    if keys:
        redis.delete(*keys)
    redis.close()


def statuses(client: httpx.Client, url: str, count: int, forwarded_for: str | None) -> list[int]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return [client.get(url, headers=headers).status_code for _ in range(count)]


def test_behind_an_ingress_each_client_has_its_own_budget(ingress_gateway: str) -> None:
    url = f"{ingress_gateway}/stac/collections"
    with client_from("127.0.0.2") as ingress:
        assert statuses(ingress, url, 6, "203.0.113.30") == [200] * 5 + [429]
        # Another client behind the same ingress is not refused for the first one's traffic.
        assert statuses(ingress, url, 5, "203.0.113.31") == [200] * 5
        # What a client writes in front of the ingress's hop does not give it a new budget.
        assert statuses(ingress, url, 1, "192.0.2.99, 203.0.113.30") == [429]


def test_an_untrusted_peer_cannot_choose_its_bucket(ingress_gateway: str) -> None:
    url = f"{ingress_gateway}/stac/collections"
    with client_from("127.0.0.3") as direct:
        answers = [
            direct.get(url, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(7)
        ]
    assert answers == [200] * 5 + [429] * 2
