"""`territoires ingest PATH…`: GeoTIFFs and STAC JSON into the catalog, with a progress bar.

Exit status: 0 when everything found went in, 1 when some inputs were refused (they are listed,
the rest is in the catalog) or the database went away midway (each batch written is whole: run
the command again), 2 when the command cannot start (no such path, GeoTIFFs without
--collection, no or unreachable DATABASE_URL, an unmigrated database).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import InterfaceError, OperationalError

from territoires.cli.output import USAGE_ERROR, console, fail
from territoires.shared.settings import ConfigurationError, get_settings

SOME_FAILED = 1
# Problems printed in full; beyond, a count (the first ones usually say what is wrong).
SHOWN_PROBLEMS = 50


def ingest_command(
    paths: Annotated[
        list[Path], typer.Argument(help="GeoTIFF/COG files, STAC JSON or NDJSON files, folders")
    ],
    collection: Annotated[
        str | None,
        typer.Option(help="Collection of the GeoTIFFs' items (and of STAC items naming none)"),
    ] = None,
    datetime_: Annotated[
        str | None,
        typer.Option(
            "--datetime", help="Acquisition time of the GeoTIFFs (ISO 8601), overriding theirs"
        ),
    ] = None,
    nodata: Annotated[
        float | None, typer.Option(help="Fill value of GeoTIFFs that declare none")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Conversion processes (0: none; default: from the work)"),
    ] = None,
    writers: Annotated[
        int | None,
        typer.Option(min=1, help="Database connections writing at once (default: from the CPUs)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per transaction")] = 5000,
) -> None:
    """Ingest GeoTIFFs and STAC items or collections into the catalog (same id = replaced)."""
    from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest

    try:
        options = IngestOptions(
            collection, _parse_datetime(datetime_), nodata, batch_size, workers, writers
        )
        inputs = find_inputs(paths, options)
        engine = _engine()
    except (ValueError, ConfigurationError) as error:  # UsageError is a ValueError
        fail(str(error), USAGE_ERROR)
    try:
        with _progress() as progress:
            task = progress.add_task("ingesting", total=inputs.weight, items=0)
            report = ingest(
                engine,
                inputs,
                options,
                lambda done, total, items: progress.update(task, completed=done, items=items),
            )
    except (OperationalError, InterfaceError) as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        fail(
            f"the database connection was lost during the ingest ({reason}): the batches "
            "written before are in the catalog, each whole; run the same command again to "
            "finish (items already there are replaced, not duplicated)"
        )
    finally:
        engine.dispose()
    for problem in report.problems[:SHOWN_PROBLEMS]:
        console.print(
            f"[red]failed[/] {escape(problem.where)}: {escape(problem.reason)}",
            highlight=False,
            soft_wrap=True,
        )
    if len(report.problems) > SHOWN_PROBLEMS:
        console.print(f"… and {len(report.problems) - SHOWN_PROBLEMS} more failures")
    for reason, count in Counter(skip.reason for skip in report.skipped).items():
        console.print(f"skipped {count}: {escape(reason)}", highlight=False, soft_wrap=True)
    for identifier in report.created_collections:
        console.print(
            f"created collection {escape(identifier)!r} (it did not exist): "
            "ingest its collection document to describe it",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"{report.inserted} items added, {report.updated} replaced, "
        f"{len(report.problems)} failed in {report.elapsed_s:.1f} s "
        f"({report.items_per_s:,.0f} items/s)",
        highlight=False,
    )
    if report.problems:
        raise typer.Exit(SOME_FAILED)


def _parse_datetime(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--datetime is not an ISO 8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _engine() -> Engine:
    """An engine on the reachable, migrated database of DATABASE_URL; ConfigurationError else."""
    from territoires.shared.schema import connect_checked

    engine = connect_checked(get_settings().require_database_url())
    if not inspect(engine).has_table("items"):
        engine.dispose()
        raise ConfigurationError(
            "the database has no catalog tables: run `territoires db upgrade` first"
        )
    return engine


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[items]:,} items"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
