"""A catalog database with the test scenes, and the catalog and gateway served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from territoires.catalog.app import create_app as create_catalog
from territoires.catalog.stac.records import collection_row, item_row
from territoires.catalog.stac.store import upsert_collections, upsert_items
from territoires.gateway.app import create_app as create_gateway
from territoires.shared.database import create_sync_database
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings

from ..servers import serve
from .stac_data import COLLECTIONS, all_items, collection


@pytest.fixture(scope="session")
def catalog_settings(empty_database_factory, redis_url: str) -> Settings:
    url = empty_database_factory("stac")
    upgrade(url)
    engine = create_sync_database(url)
    with engine.begin() as connection:
        upsert_collections(connection, [collection_row(collection(c)) for c in COLLECTIONS])
        upsert_items(connection, [item_row(i) for i in all_items()])
    engine.dispose()
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
