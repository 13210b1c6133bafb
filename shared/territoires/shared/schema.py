"""Bringing a database to the current schema, with one-line errors for the usual setup mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from territoires.shared.database import create_sync_database
from territoires.shared.settings import ConfigurationError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def shown(engine: Engine) -> str:
    """The URL as the operator wrote it: no driver suffix, no password."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=True)


def connect_checked(database_url: str) -> Engine:
    """An engine on a reachable database; otherwise a ConfigurationError saying what to fix."""
    engine = create_sync_database(database_url)
    where = shown(engine)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise ConfigurationError(
            f"cannot connect to the database {where}: {reason} — check DATABASE_URL "
            "(host, port, user, database name) and that PostgreSQL is running"
        ) from None
    return engine


def ensure_postgis(engine: Engine) -> None:
    """Creates the PostGIS extension, or says how to get it when the server lacks it."""
    where = shown(engine)
    with engine.connect() as connection:
        installed = connection.execute(
            text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
        ).scalar()
        if installed:
            return
        available = connection.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        ).scalar()
        if not available:
            raise ConfigurationError(
                f"the database server of {where} has no PostGIS: install it there "
                "(Debian: apt-get install -y postgresql-15-postgis-3) or point DATABASE_URL "
                "at a PostGIS server"
            )
        try:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            connection.commit()
        except ProgrammingError:
            raise ConfigurationError(
                f"PostGIS is installed on the server but not enabled in {where}, and this user "
                "may not enable it: run `CREATE EXTENSION postgis;` there as a superuser"
            ) from None


def upgrade(database_url: str, revision: str = "head") -> str:
    """Migrates up to `revision`; returns the revision the database is at afterwards."""
    return _migrate(database_url, command.upgrade, revision)


def downgrade(database_url: str, revision: str) -> str:
    """Migrates down to `revision` ("base" removes every table)."""
    return _migrate(database_url, command.downgrade, revision)


def _migrate(database_url: str, action: Callable[[Config, str], None], revision: str) -> str:
    engine = connect_checked(database_url)
    try:
        ensure_postgis(engine)
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            action(config, revision)
        return current_revision(engine) or "base"
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


if __name__ == "__main__":
    from territoires.shared.settings import settings_or_exit

    print(upgrade(settings_or_exit().require_database_url()))
