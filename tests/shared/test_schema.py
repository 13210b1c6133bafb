"""Migrations on a real PostGIS, and the one-line errors of a bad database setup."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from territoires.shared.database import create_sync_database
from territoires.shared.schema import current_revision, downgrade, head_revision, upgrade
from territoires.shared.settings import ConfigurationError

TABLES = {
    "collections",
    "items",
    "territories",
    "indicator_statistics",
    "jobs",
    "mirrored_assets",
}


def test_upgrade_creates_every_table_and_is_idempotent(empty_database_factory) -> None:
    url = empty_database_factory("schema")
    assert upgrade(url) == head_revision()
    assert upgrade(url) == head_revision()  # a second run is a no-op
    engine = create_sync_database(url)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) >= TABLES
    indexes = {i["name"] for i in inspector.get_indexes("items")}
    assert {"ix_items_geometry", "ix_items_collection_datetime"} <= indexes
    with engine.connect() as connection:
        kinds = dict(
            connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE indexname IN ('ix_items_geometry', 'ix_territories_geometry')"
                )
            ).all()
        )
    assert all("USING gist" in definition for definition in kinds.values()), kinds
    engine.dispose()


def test_downgrade_to_base_and_back(empty_database_factory) -> None:
    url = empty_database_factory("downgrade")
    upgrade(url)
    assert downgrade(url, "base") == "base"
    engine = create_sync_database(url)
    assert not TABLES & set(inspect(engine).get_table_names())
    assert current_revision(engine) is None
    engine.dispose()
    assert upgrade(url) == head_revision()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:1/territoires", "cannot connect to the database"),
        ("postgresql://postgres@no-such-host.invalid/territoires", "cannot connect"),
        ("mysql://root@127.0.0.1/territoires", "not a PostgreSQL URL"),
    ],
)
def test_unreachable_or_wrong_database_is_one_actionable_line(url: str, expected: str) -> None:
    with pytest.raises((ConfigurationError, ValueError)) as raised:
        upgrade(url)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_missing_database_names_it(postgres_admin_url: str) -> None:
    from territoires.shared.database import database_url

    url = database_url(postgres_admin_url, "postgresql").set(database="no_such_database_xyz")
    with pytest.raises(ConfigurationError, match="no_such_database_xyz"):
        upgrade(url.render_as_string(False))


def test_database_without_postgis_says_how_to_enable_it(
    postgres_admin_url: str, empty_database_factory
) -> None:
    """A role that may not create extensions, on a database without PostGIS."""
    from territoires.shared.database import database_url

    url = empty_database_factory("nopostgis")
    name = database_url(url, "postgresql").database
    role = f"{name}_owner"
    admin = create_sync_database(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(text(f'ALTER DATABASE "{name}" OWNER TO "{role}"'))
    try:
        as_owner = database_url(url, "postgresql").set(username=role).render_as_string(False)
        with pytest.raises(ConfigurationError, match="CREATE EXTENSION postgis"):
            upgrade(as_owner)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" OWNER TO CURRENT_USER'))
            connection.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_the_previous_release_with_data_upgrades_without_a_manual_step(
    empty_database_factory,
) -> None:
    """A database at 0004 (the release before job ownership), with a key, a job, a collection
    and an item in it, upgrades to the head; the rows are kept and the old job has no owner."""
    url = empty_database_factory("previous")
    upgrade(url, "0004")
    engine = create_sync_database(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_keys (id, name, prefix, secret_hash, scopes) VALUES "
                "('00000000-0000-0000-0000-00000000000a', 'partner', 'abcd', 'x', "
                "'[\"execute\"]')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO jobs (id, process_id, status, progress, inputs, attempts) VALUES "
                "('00000000-0000-0000-0000-0000000000b1', 'vegetation', 'successful', 100, "
                '\'{"territory": ["17300"]}\', 1)'
            )
        )
        connection.execute(
            text(
                "INSERT INTO collections (id, kind, description, content) VALUES ('ndvi', "
                '\'indicator\', \'NDVI\', \'{"id": "ndvi", "type": "Collection"}\')'
            )
        )
    assert upgrade(url) == head_revision()
    with engine.connect() as connection:
        job = connection.execute(
            text("SELECT status::text, inputs, owner_key_id, idempotency_key FROM jobs")
        ).one()
        keys = connection.scalar(text("SELECT count(*) FROM api_keys"))
        collections = connection.scalar(text("SELECT count(*) FROM collections"))
    engine.dispose()
    assert job == ("successful", {"territory": ["17300"]}, None, None)
    assert (keys, collections) == (1, 1)
