"""The fault suite's own PostgreSQL and Redis, private servers on free ports that the tests crash
and start again, with the demo territories and the synthetic scenes catalogued; the compute API
over real HTTP on them, and `territoires worker` processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from territoires.cli.local.postgres import PrivateCluster
from territoires.cli.local.redis import EmbeddedRedis
from territoires.compute.app import create_app as create_compute
from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings

from ..conftest import ROOT, RUN_ID
from ..servers import free_port, serve
from ..stack import issue_key, prepare_database
from .jobs import JobsClient, Workers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def fault_postgres() -> Iterator[PrivateCluster]:
    """Durable (fsync on), as local mode runs it: a crash loses no committed row."""
    cluster = PrivateCluster(ROOT / ".data" / f"test-faults-{RUN_ID}" / "pg", free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def fault_redis() -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(ROOT / ".data" / f"test-faults-{RUN_ID}" / "redis", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fault_platform(
    fault_postgres: PrivateCluster,
    fault_redis: EmbeddedRedis,
    scenes_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    settings = Settings(
        DATABASE_URL=fault_postgres.url,
        REDIS_URL=fault_redis.url,
        storage_url=str(tmp_path_factory.mktemp("faults-storage")),
        asset_prefixes=[str(scenes_dir)],
    )
    prepare_database(settings, scenes_dir)
    return settings


@pytest.fixture(scope="session")
def fault_key(fault_platform: Settings) -> str:
    return issue_key(fault_platform, "faults", Scope.EXECUTE)


@pytest.fixture
def fault_settings(fault_platform: Settings) -> Iterator[Settings]:
    """The fault platform with a queue of this test's own (workers of other tests never see
    its jobs)."""
    prefix = f"territoires-faults-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    yield fault_platform.model_copy(update={"redis_prefix": prefix})
    try:
        client = Redis.from_url(fault_platform.redis_url or "")
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception:  # a test that left Redis down has nothing to clean
        pass


@pytest.fixture
def jobs(fault_settings: Settings, fault_key: str) -> Iterator[JobsClient]:
    """The compute API over HTTP on the fault platform."""
    with serve(create_compute(fault_settings)) as url, JobsClient(url, fault_key) as client:
        yield client


@pytest.fixture
def workers(fault_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(fault_settings, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
