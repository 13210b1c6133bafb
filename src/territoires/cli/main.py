"""The `territoires` command: run the platform locally, migrate, seed, run a worker, synthesise."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from territoires.cli.harvest import harvest_command
from territoires.cli.ingest import ingest_command
from territoires.cli.keys import keys_app
from territoires.cli.output import console, fails_cleanly
from territoires.cli.synth import synth_command
from territoires.cli.territories import territories_app
from territoires.shared.settings import get_settings

app = typer.Typer(
    name="territoires",
    help="Territoires: satellite indicators for French local authorities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(territories_app, name="territories")


@app.command()
@fails_cleanly
def run() -> None:
    """Start the whole platform with its demo data on http://localhost:8000 (local mode)."""
    from territoires.cli.local.platform import run_platform

    run_platform(get_settings(), console)


@db_app.command("upgrade")
@fails_cleanly
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Migrate the database at DATABASE_URL to the latest schema."""
    from territoires.shared.schema import upgrade

    reached = upgrade(get_settings().require_database_url(), revision)
    console.print(f"database at revision {reached}")


@db_app.command("downgrade")
@fails_cleanly
def db_downgrade(
    revision: Annotated[str, typer.Argument(help='Target revision ("base" empties it)')],
) -> None:
    """Migrate the database at DATABASE_URL down to an earlier schema."""
    from territoires.shared.schema import downgrade

    reached = downgrade(get_settings().require_database_url(), revision)
    console.print(f"database at revision {reached}")


@app.command()
@fails_cleanly
def seed() -> None:
    """Load the demo territories (communes of 17, 13, 974 and the 101 départements)."""
    from territoires.shared.database import create_sync_database
    from territoires.shared.territories import (
        count_territories,
        load_territories,
        read_demo_territories,
    )

    settings = get_settings()
    engine = create_sync_database(settings)
    try:
        written = load_territories(engine, read_demo_territories(settings.data_dir))
        console.print(f"{written} territories written; now {count_territories(engine)}")
    finally:
        engine.dispose()


@app.command()
@fails_cleanly
def worker(
    burst: Annotated[bool, typer.Option(help="Stop when the queue is empty")] = False,
) -> None:
    """Run an arq worker taking indicator jobs off the Redis queue."""
    from arq.worker import run_worker

    from territoires.compute.worker import WorkerSettings

    get_settings().require_redis_url()
    run_worker(WorkerSettings, burst=burst)  # type: ignore[arg-type]


app.command(name="synth")(synth_command)
app.command(name="ingest")(ingest_command)
app.command(name="harvest")(harvest_command)


if __name__ == "__main__":
    sys.exit(app())
