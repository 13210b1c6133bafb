"""The gateway as partners meet it: keys, rate limits, CORS, metrics, a service down."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import httpx
import pytest

from territoires.gateway.app import create_app as create_gateway
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from ..servers import free_port, serve


@pytest.fixture(scope="module")
def strict_gateway(catalog_settings: Settings, catalog_url: str) -> Iterator[tuple[str, str]]:
    """A gateway with small limits and a portal origin, the tiles service down; and a key."""
    settings = catalog_settings.model_copy(
        update={
            "catalog_url": catalog_url,
            "tiles_url": f"http://127.0.0.1:{free_port()}",
            "redis_prefix": "territoires-test-front-door",
            "rate_limit_per_minute": 5,
            "rate_limit_key_per_minute": 8,
            "cors_origins": ["https://www.larochelle.fr"],
        }
    )
    engine = create_sync_database(settings)
    key = create_key(engine, "partner-front-door", [Scope.INGEST], "territoires-local-pepper")
    engine.dispose()
    with serve(create_gateway(settings)) as url:
        yield url, key
    from redis import Redis

    client = Redis.from_url(settings.redis_url)
    keys = list(client.scan_iter("territoires-test-front-door*"))
    if keys:
        client.delete(*keys)


def test_anonymous_clients_are_limited_with_headers_and_retry_after(
    strict_gateway: tuple[str, str],
) -> None:
    url, _ = strict_gateway
    with httpx.Client(base_url=url, headers={"X-Forwarded-For": "203.0.113.7"}) as client:
        answers = [client.get("/stac/collections") for _ in range(7)]
    statuses = [a.status_code for a in answers]
    first_refused = statuses.index(429)
    assert statuses[:first_refused] == [200] * first_refused and first_refused <= 5
    refused = answers[first_refused]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert answers[0].headers["RateLimit-Limit"] == "5"
    # Health and landing pages are never limited.
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_key_has_its_own_budget_and_a_bad_key_is_refused(
    strict_gateway: tuple[str, str],
) -> None:
    url, key = strict_gateway
    answers = [httpx.get(f"{url}/stac/collections", headers={"X-API-Key": key}) for _ in range(10)]
    assert answers[0].headers["RateLimit-Limit"] == "8"
    assert [a.status_code for a in answers].count(429) == 2
    refused = next(a for a in answers if a.status_code == 429)
    assert "Retry-After" in refused.headers
    bad = httpx.get(f"{url}/stac/collections", headers={"X-API-Key": "trr_0000_nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"


def test_tiles_down_is_503_while_the_catalog_still_answers(
    strict_gateway: tuple[str, str],
) -> None:
    url, key = strict_gateway
    headers = {"X-API-Key": key, "X-Request-ID": "trace-me-please"}
    tiles = httpx.get(f"{url}/tiles/tileMatrixSets", headers={"X-Forwarded-For": "198.51.100.1"})
    assert tiles.status_code == 503
    assert tiles.headers["content-type"] == "application/problem+json"
    assert "tiles" in tiles.json()["detail"]
    catalog = httpx.get(f"{url}/healthz", headers=headers)
    assert catalog.status_code == 200
    assert catalog.headers["X-Request-ID"] == "trace-me-please"
    ready = httpx.get(f"{url}/readyz").json()
    assert ready["status"] == "degraded" and ready["checks"]["tiles"]["status"] == "error"


def test_cors_for_a_portal_origin_only(strict_gateway: tuple[str, str]) -> None:
    url, _ = strict_gateway
    preflight = httpx.options(
        f"{url}/stac/search",
        headers={
            "Origin": "https://www.larochelle.fr",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://www.larochelle.fr"
    other = httpx.options(
        f"{url}/stac/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_metrics_count_requests_and_upstream_errors(strict_gateway: tuple[str, str]) -> None:
    url, _ = strict_gateway
    httpx.get(f"{url}/tiles/anything", headers={"X-Forwarded-For": "198.51.100.2"})
    text = httpx.get(f"{url}/metrics").text
    assert 'territoires_upstream_errors_total{kind="unavailable",service="tiles"}' in text
    assert 'territoires_http_requests_total{method="GET",route="/stac",status="200"}' in text
    assert "territoires_http_request_duration_seconds_bucket" in text
    assert "territoires_queue_depth" in text
    assert 'territoires_jobs{status="running"}' in text


def test_a_client_that_asks_for_no_compression_gets_none(gateway_url: str) -> None:
    # urllib sends no Accept-Encoding at all (httpx always does).
    url = f"{gateway_url}/stac/collections/landsat-c2-l2/items?limit=50"
    with urllib.request.urlopen(url) as response:
        assert response.headers.get("content-encoding") is None
        assert json.loads(response.read())["type"] == "FeatureCollection"
