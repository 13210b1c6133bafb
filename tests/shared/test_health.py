"""`/healthz` and `/readyz` of every service, on real PostgreSQL and Redis, down and back up."""

from __future__ import annotations

import importlib
import uuid

import httpx
import pytest

from territoires.cli.local.postgres import PrivateCluster
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings

from ..conftest import ROOT

SERVICES = ["catalog", "compute", "tiles", "gateway"]


def client_for(service: str, settings: Settings) -> httpx.AsyncClient:
    app = importlib.import_module(f"territoires.{service}.app").create_app(settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize("service", SERVICES)
async def test_ready_when_database_and_redis_answer(service: str, settings: Settings) -> None:
    async with client_for(service, settings) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": service}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["redis"]["status"] == "ok"


@pytest.mark.parametrize("service", SERVICES)
async def test_unreachable_dependencies_give_503_problem(service: str, settings: Settings) -> None:
    broken = settings.model_copy(
        update={
            "database_url": "postgresql://postgres@127.0.0.1:1/territoires",
            "redis_url": "redis://127.0.0.1:1/0",
        }
    )
    async with client_for(service, broken) as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert alive.status_code == 200  # liveness does not depend on the database
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    body = ready.json()
    assert body["status"] == 503
    assert "database" in body["detail"] and "redis" in body["detail"]


async def test_readiness_recovers_when_postgresql_comes_back(redis_url: str) -> None:
    """Stops a real PostgreSQL under a running service, then starts it again."""
    cluster = PrivateCluster(ROOT / ".data" / f"test-pg-restart-{uuid.uuid4().hex[:6]}", 54339)
    cluster.start()
    try:
        url = cluster.url
        upgrade(url)
        settings = Settings(DATABASE_URL=url, REDIS_URL=redis_url, readiness_timeout_s=2.0)
        async with client_for("catalog", settings) as client:
            assert (await client.get("/readyz")).status_code == 200
            cluster.stop()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["database"]["status"] == "error"
            assert down.json()["checks"]["redis"]["status"] == "ok"
            assert "database" in down.json()["detail"]
            cluster.start()
            assert (await client.get("/readyz")).status_code == 200
    finally:
        cluster.destroy()
