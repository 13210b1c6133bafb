"""Engines and sessions on PostGIS: async for the services, sync for migrations and bulk loads."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from territoires.shared.settings import Settings

ASYNC_DRIVER = "postgresql+asyncpg"
SYNC_DRIVER = "postgresql+psycopg2"


def database_url(raw: str, driver: str) -> URL:
    """The same database through another driver; accepts postgres://, postgresql://, …+driver."""
    url = make_url(raw.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    return url.set(drivername=driver)


CONNECT_TIMEOUT_S = 10.0
DEAD_CLIENT_SETTINGS = {
    # A client host lost mid-transaction (a worker's node gone, its link cut) would keep its
    # row locks, a fanned-out job's parent row among them, until the server's OS gives up on
    # the silent connection: two hours by default. Probing an idle connection after 5 s, every
    # 2 s, three times, the server ends such a session (and its locks) within about 11 s.
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


def create_async_database(settings: Settings, **kwargs: object) -> AsyncEngine:
    """The services' engine: pings pooled connections so it recovers when PostgreSQL restarts."""
    url = database_url(settings.require_database_url(), ASYNC_DRIVER)
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        # Readiness checks bound themselves; a request waits longer for a connection under load.
        connect_args={"timeout": CONNECT_TIMEOUT_S, "server_settings": DEAD_CLIENT_SETTINGS},
        **kwargs,
    )


def create_sync_database(settings: Settings | str, **kwargs: object) -> Engine:
    raw = settings if isinstance(settings, str) else settings.require_database_url()
    return create_engine(
        database_url(raw, SYNC_DRIVER),
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
        **kwargs,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
