"""Real PostgreSQL/PostGIS and Redis for the suite: given by the environment, found on localhost,
or started privately; each run gets its own database and Redis key prefix."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import text

from territoires.catalog.app import create_app as create_catalog
from territoires.cli.local.postgres import PrivateCluster
from territoires.cli.local.redis import EmbeddedRedis
from territoires.gateway.app import create_app as create_gateway
from territoires.shared.database import create_sync_database, database_url
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items

from .catalog.stac_data import COLLECTIONS, all_items, collection
from .servers import serve

ROOT = Path(__file__).resolve().parents[1]


def find_kit() -> Path:
    """The team's data kit (schemas, real scenes): beside the checkout, or where
    TERRITOIRES_KIT_DIR says, or at the workplace's fixed place when CI clones elsewhere."""
    candidates = [os.environ.get("TERRITOIRES_KIT_DIR"), ROOT.parent / "shared", "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "schemas" / "validate.py").is_file():
            return Path(candidate)
    raise RuntimeError("the data kit (../shared) is missing: set TERRITOIRES_KIT_DIR to it")


KIT = find_kit()
RUN_ID = uuid.uuid4().hex[:8]
# The whole platform (compute, catalog, tiles, gateway, workers) and an S3-compatible server for
# any test folder.
pytest_plugins = ["tests.stack", "tests.s3"]

sys.path.insert(0, str(KIT / "schemas"))


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL with the right to create databases, on a server that has PostGIS."""
    given = os.environ.get("TERRITOIRES_TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if given:
        yield given
    elif reachable("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
    else:
        cluster = PrivateCluster(ROOT / ".data" / f"test-pg-{RUN_ID}", 54330)
        cluster.start()
        try:
            yield cluster.url
        finally:
            cluster.destroy()


def create_database(admin_url: str, name: str) -> str:
    engine = create_sync_database(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return database_url(admin_url, "postgresql").set(database=name).render_as_string(False)


def drop_database(admin_url: str, name: str) -> None:
    engine = create_sync_database(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def empty_database_factory(postgres_admin_url: str) -> Iterator:
    """Makes fresh, empty databases on the test server; drops them all at the end."""
    names: list[str] = []

    def make(label: str) -> str:
        name = f"territoires_test_{RUN_ID}_{label}_{len(names)}"
        names.append(name)
        return create_database(postgres_admin_url, name)

    yield make
    for name in names:
        drop_database(postgres_admin_url, name)


@pytest.fixture(scope="session")
def database_url_migrated(empty_database_factory) -> str:
    """The suite's main database, at the latest schema."""
    url = empty_database_factory("main")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("TERRITOIRES_TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    if given:
        yield given
    elif reachable("127.0.0.1", 6379):
        yield "redis://127.0.0.1:6379/0"
    else:
        server = EmbeddedRedis(ROOT / ".data" / f"test-redis-{RUN_ID}", 56380)
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture
def settings(database_url_migrated: str, redis_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings on the test database, with a Redis key prefix of this test's own."""
    prefix = f"territoires-test-{RUN_ID}-{uuid.uuid4().hex[:6]}"
    yield Settings(
        DATABASE_URL=database_url_migrated,
        REDIS_URL=redis_url,
        redis_prefix=prefix,
        storage_url=str(tmp_path / "storage"),
        readiness_timeout_s=2.0,
    )
    client = Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def seed_catalog(url: str, items: list[dict]) -> None:
    """Migrates a database and stores the test collections and `items` in it."""
    upgrade(url)
    engine = create_sync_database(url)
    with engine.begin() as connection:
        upsert_collections(connection, [collection_row(collection(c)) for c in COLLECTIONS])
        upsert_items(connection, [item_row(i) for i in items])
    engine.dispose()


@pytest.fixture(scope="session")
def catalog_settings(empty_database_factory, redis_url: str) -> Settings:
    url = empty_database_factory("stac")
    seed_catalog(url, all_items())
    return Settings(DATABASE_URL=url, REDIS_URL=redis_url, redis_prefix="territoires-test-stac")


@pytest.fixture(scope="session")
def catalog_url(catalog_settings: Settings) -> Iterator[str]:
    with serve(create_catalog(catalog_settings)) as url:
        yield url


@pytest.fixture(scope="session")
def gateway_url(catalog_settings: Settings, catalog_url: str) -> Iterator[str]:
    settings = catalog_settings.model_copy(update={"catalog_url": catalog_url})
    with serve(create_gateway(settings)) as url:
        yield url
