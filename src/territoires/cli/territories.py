"""`territoires territories load`: the national geography of 2026 from the data kit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import inspect

from territoires.cli.output import console, fails_cleanly
from territoires.shared.settings import ConfigurationError, get_settings

territories_app = typer.Typer(help="Territories: the national geography.", no_args_is_help=True)


@territories_app.command("load")
@fails_cleanly
def load(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder of communes-france.geojson and cog-2026/ (or the data kit above it); "
            "default: TERRITOIRES_KIT_DIR"
        ),
    ] = None,
    departement: Annotated[
        list[str] | None,
        typer.Option(
            "--departement", "-d", help="Load only this département's communes (repeatable)"
        ),
    ] = None,
) -> None:
    """Load every commune of France (2026, overseas included), the EPCIs, départements and
    régions, and the former commune codes: all or nothing; a second run changes nothing."""
    from territoires.shared.geography import (
        GEOGRAPHY_YEAR,
        STEPS,
        find_national_dir,
        load_national,
        read_national,
    )
    from territoires.shared.schema import connect_checked
    from territoires.shared.territories import count_territories

    started = time.monotonic()
    settings = get_settings()
    folder = find_national_dir([data] if data else [settings.kit_dir])
    engine = connect_checked(settings.require_database_url())
    schema = inspect(engine)
    if not schema.has_table("former_communes") or "postcodes" not in {
        column["name"] for column in schema.get_columns("territories")
    }:
        engine.dispose()
        raise ConfigurationError(
            "the database lacks the territory tables and columns of revision 0010: run "
            "`territoires db upgrade` first"
        )
    try:
        with _progress() as progress:
            task = progress.add_task(f"reading {folder}", total=len(STEPS) + 1)
            geography = read_national(folder, departement or None)
            progress.advance(task)

            def step(name: str) -> None:
                progress.update(task, description=name, completed=STEPS.index(name) + 1)

            report = load_national(engine, geography, step)
            progress.update(task, completed=len(STEPS) + 1)
        counts = count_territories(engine)
    finally:
        engine.dispose()
    for unit in geography.without_outline:
        console.print(
            f"[yellow]skipped[/] commune {unit.code} {unit.name}: no outline in the kit "
            "(restored after 2016 from a commune whose outline holds it)",
            highlight=False,
            soft_wrap=True,
        )
    written = ", ".join(f"{level} {count}" for level, count in report.written.items())
    removed = ", ".join(f"{level} {n}" for level, n in report.removed.items() if n)
    console.print(
        f"geography {GEOGRAPHY_YEAR} loaded in {time.monotonic() - started:.1f} s: "
        f"written {written}; {f'removed {removed}; ' if removed else ''}now {counts}",
        highlight=False,
        soft_wrap=True,
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
