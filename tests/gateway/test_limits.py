"""The gateway's limits where they used to give way: Redis down, invalid keys, /metrics, request
bodies too large or too deeply nested (chunked or not, whatever their Content-Type)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import event

from territoires.cli.local.redis import EmbeddedRedis
from territoires.gateway.app import create_app as create_gateway
from territoires.gateway.ratelimit import RETRY_REDIS_S
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings

from ..servers import free_port, serve

MAX_BODY = 64 * 1024
_clients = itertools.count(1)


def new_client() -> dict[str, str]:
    """Headers of a client no other request of this module came from (through the loopback,
    a trusted proxy), so that the body tests stay under the address limit."""
    n = next(_clients)
    return {"X-Forwarded-For": f"198.18.{n // 250}.{n % 250 + 1}"}


@dataclass
class Gateway:
    url: str
    redis: EmbeddedRedis
    prefix: str
    key: str
    job_queries: list[str]


@pytest.fixture(scope="module")
def gateway(
    catalog_settings: Settings, catalog_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """A gateway on a Redis of its own (to stop), with small limits, counting its job queries."""
    redis = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")), free_port())
    redis.start()
    prefix = f"territoires-test-limits-{uuid.uuid4().hex[:6]}"
    settings = catalog_settings.model_copy(
        update={
            "catalog_url": catalog_url,
            "redis_url": redis.url,
            "redis_prefix": prefix,
            "rate_limit_per_minute": 5,
            "rate_limit_failed_keys_per_minute": 3,
            "metrics_refresh_s": 60.0,
            "max_request_body_bytes": MAX_BODY,
        }
    )
    engine = create_sync_database(settings)
    key = create_key(engine, f"limits-{prefix}", [Scope.INGEST], "territoires-local-pepper")
    engine.dispose()
    app = create_gateway(settings)
    queries: list[str] = []
    event.listen(
        app.state.resources.engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: queries.append(statement),
    )
    with serve(app) as url:
        yield Gateway(url, redis, prefix, key, queries)
    redis.stop()


def statuses(url: str, count: int, client: str, **headers: str) -> list[int]:
    """Answers to `count` requests of one client (a trusted proxy's X-Forwarded-For)."""
    with httpx.Client(headers={"X-Forwarded-For": client, **headers}, timeout=30) as http:
        return [http.get(url).status_code for _ in range(count)]


def test_rate_limits_hold_while_redis_is_down(gateway: Gateway) -> None:
    url = f"{gateway.url}/stac/collections"
    assert statuses(url, 6, "203.0.113.10") == [200] * 5 + [429]
    counter = Redis.from_url(gateway.redis.url)
    assert counter.exists(f"{gateway.prefix}:ratelimit:api:ip:203.0.113.10")
    counter.close()

    gateway.redis.stop()
    try:
        started = time.monotonic()
        # Counted in the gateway's memory: the same limit, and no wait on a Redis that is gone.
        assert statuses(url, 7, "203.0.113.11") == [200] * 5 + [429] * 2
        assert time.monotonic() - started < 10
        refused = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.11"})
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["content-type"] == "application/problem+json"
    finally:
        gateway.redis.start()
    # Back on Redis once it answers again.
    time.sleep(RETRY_REDIS_S + 0.5)
    assert statuses(url, 1, "203.0.113.12") == [200]
    counter = Redis.from_url(gateway.redis.url)
    assert counter.exists(f"{gateway.prefix}:ratelimit:api:ip:203.0.113.12")
    counter.close()


def test_invalid_keys_are_counted_then_refused(gateway: Gateway) -> None:
    url = f"{gateway.url}/stac/collections"
    guesser = "203.0.113.20"
    assert statuses(url, 1, guesser, **{"X-API-Key": gateway.key}) == [200]
    guesses = [
        statuses(url, 1, guesser, **{"X-API-Key": f"trr_{n:08x}_guess"})[0] for n in range(5)
    ]
    assert guesses == [401] * 3 + [429] * 2
    refused = httpx.get(url, headers={"X-Forwarded-For": guesser, "X-API-Key": "trr_0_x"})
    assert "invalid API keys" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    # A key it already proved stays usable, and so does the address without a key.
    assert statuses(url, 1, guesser, **{"X-API-Key": gateway.key}) == [200]
    assert statuses(url, 1, guesser) == [200]
    # Another address has a budget of its own.
    assert statuses(url, 1, "203.0.113.21", **{"X-API-Key": "trr_0_guess"}) == [401]


def test_metrics_read_the_database_at_most_once_per_refresh(gateway: Gateway) -> None:
    for _ in range(20):
        answer = httpx.get(f"{gateway.url}/metrics")
        assert answer.status_code == 200 and "territoires_jobs" in answer.text
    assert len([q for q in gateway.job_queries if "FROM jobs" in q]) <= 1


def test_a_body_over_the_limit_is_413_declared_or_chunked(gateway: Gateway) -> None:
    url = f"{gateway.url}/stac/search"
    body = b'{"collections": ["sentinel-2-l2a"], "ids": ["' + b"x" * (MAX_BODY + 1000) + b'"]}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start : start + 4096]

    json_type = {"content-type": "application/json"}
    declared = httpx.post(url, content=body, headers=json_type | new_client())
    chunked = httpx.post(url, content=chunks(), headers=json_type | new_client())
    assert chunked.request.headers["transfer-encoding"] == "chunked"
    for answer in (declared, chunked):
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert str(MAX_BODY) in answer.json()["detail"]
    # Under the limit, the catalog answers.
    small = httpx.post(
        url, json={"collections": ["sentinel-2-l2a"], "limit": 1}, headers=new_client()
    )
    assert small.status_code == 200


def nested(levels: int) -> bytes:
    return b'{"filter": ' + b"[" * (levels - 1) + b"1" + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (nested(33), "application/json"),
        (nested(33), "text/plain"),  # parsers read JSON whatever the header says
        (nested(33), None),
        (b"\xef\xbb\xbf\n" + nested(100_000)[: MAX_BODY - 10], "application/json"),
    ],
)
def test_json_nested_too_deep_is_400_at_the_gateway_and_at_each_service(
    gateway: Gateway, catalog_url: str, body: bytes, content_type: str | None
) -> None:
    headers = new_client() | ({"content-type": content_type} if content_type else {})
    for base in (gateway.url, catalog_url):
        answer = httpx.post(f"{base}/stac/search", content=body, headers=headers)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "nested deeper than 32 levels" in answer.json()["detail"]


def test_json_at_the_depth_limit_or_in_utf16_is_not_scanned_wrongly(gateway: Gateway) -> None:
    url = f"{gateway.url}/stac/search"
    json_type = {"content-type": "application/json"}
    answer = httpx.post(url, content=nested(32), headers=json_type | new_client())
    assert "nested deeper" not in answer.text  # the catalog's own verdict on the filter
    utf16 = nested(33).decode().encode("utf-16")
    refused = httpx.post(url, content=utf16, headers=json_type | new_client())
    assert refused.status_code == 415
    assert refused.headers["content-type"] == "application/problem+json"
