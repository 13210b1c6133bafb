"""A catalog database with the tiles test results and the demo territories, and the catalog,
tiles and gateway served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from territoires.catalog.app import create_app as create_catalog
from territoires.gateway.app import create_app as create_gateway
from territoires.shared.database import create_sync_database
from territoires.shared.models import IndicatorStatistic, TerritoryLevel
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items
from territoires.shared.territories import load_territories, read_demo_territories
from territoires.tiles.app import create_app as create_tiles

from ..servers import serve
from .data import write_test_catalog

# La Rochelle has the figures of a vegetation run, stored as the run stores them: under
# `vegetation-cover`, which NDVI's pages show. Rochefort (17299) has none yet.
FIGURES = {
    "vegetated_share": 0.37,
    "valid_share": 0.92,
    "ndvi": {"count": 132_000, "mean": 0.41},
    "cover": {"count": 132_000, "mean": 0.37},
}


@pytest.fixture(scope="session")
def tiles_settings(empty_database_factory, redis_url: str, tmp_path_factory) -> Settings:
    url = empty_database_factory("tiles")
    upgrade(url)
    storage = tmp_path_factory.mktemp("tiles-storage")
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix="territoires-test-tiles",
        storage_url=str(storage),
    )
    collections, items = write_test_catalog(storage)
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    with engine.begin() as connection:
        upsert_collections(connection, [collection_row(c) for c in collections])
        upsert_items(connection, [item_row(i) for i in items])
        connection.execute(
            insert(IndicatorStatistic).values(
                territory_level=TerritoryLevel.COMMUNE,
                territory_code="17300",
                indicator="vegetation-cover",
                period_start=datetime(2025, 7, 1, tzinfo=UTC),
                period_end=datetime(2025, 7, 31, tzinfo=UTC),
                figures=FIGURES,
                item_collection_id="ndvi",
                item_id="ndvi-2025",
            )
        )
    engine.dispose()
    return settings


@pytest.fixture(scope="session")
def tiles_url(tiles_settings: Settings) -> Iterator[str]:
    with serve(create_tiles(tiles_settings)) as url:
        yield url


@pytest.fixture(scope="session")
def tiles_catalog_url(tiles_settings: Settings) -> Iterator[str]:
    with serve(create_catalog(tiles_settings)) as url:
        yield url


@pytest.fixture(scope="session")
def tiles_gateway_url(
    tiles_settings: Settings, tiles_catalog_url: str, tiles_url: str
) -> Iterator[str]:
    settings = tiles_settings.model_copy(
        update={"catalog_url": tiles_catalog_url, "tiles_url": tiles_url}
    )
    with serve(create_gateway(settings)) as url:
        yield url
