"""`territoires harvest URL --collection C` or `--sources FILE`: public STAC APIs into the catalog,
with a progress bar and a summary per source.

Exit status: 0 when every source was harvested, 1 when a source failed (it is reported, the
others go on) or the setup is wrong, 2 when the command is given wrongly (bad datetime, bad
source file, no source).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from territoires.cli.ingest import _engine
from territoires.cli.output import USAGE_ERROR, console, fail
from territoires.shared.settings import ConfigurationError, get_settings

SOURCE_FAILED = 1


def harvest_command(
    url: Annotated[str | None, typer.Argument(help="A STAC API's root URL")] = None,
    collection: Annotated[
        list[str] | None, typer.Option(help="The API's collection to harvest (repeatable)")
    ] = None,
    into: Annotated[
        str | None, typer.Option(help="Our collection the items go into (default: the same id)")
    ] = None,
    territory: Annotated[
        list[str] | None, typer.Option(help="Territory code to cover (repeatable)")
    ] = None,
    datetime_: Annotated[
        str | None, typer.Option("--datetime", help="Acquisition period START/END (ISO 8601)")
    ] = None,
    max_cloud: Annotated[
        float | None, typer.Option(help="Cloud-cover ceiling, percent (eo:cloud_cover)")
    ] = None,
    mirror: Annotated[
        bool, typer.Option(help="Jobs copy the assets they read into our storage (LRU budget)")
    ] = False,
    sources: Annotated[
        Path | None, typer.Option(help="YAML or JSON file listing sources, instead of URL")
    ] = None,
) -> None:
    """Catalogue the new items of public STAC APIs, keeping their remote hrefs."""
    from territoires.catalog.harvest import load_sources, make_source
    from territoires.shared.assets import AssetGuard

    try:
        if sources is not None:
            if url is not None:
                raise ValueError("give a URL or --sources FILE, not both")
            chosen = load_sources(sources)
        elif url is None or not collection:
            raise ValueError("give a STAC API URL and --collection, or --sources FILE")
        else:
            chosen = [
                make_source(url, c, into, tuple(territory or ()), datetime_, max_cloud, mirror)
                for c in collection
            ]
    except ValueError as error:
        fail(str(error), USAGE_ERROR)
    try:
        engine = _engine()
        settings = get_settings()
        guard = AssetGuard.from_settings(settings)
    except ConfigurationError as error:
        fail(str(error))
    failed = 0
    try:
        for source in chosen:
            failed += not _harvest_one(engine, source, guard, settings.harvest_timeout_s)
    finally:
        engine.dispose()
    if failed:
        if len(chosen) == 1:
            raise typer.Exit(SOURCE_FAILED)
        fail(f"{failed} of {len(chosen)} sources failed")


def _harvest_one(engine, source, guard, timeout_s: float) -> bool:
    """Harvests one source and prints its summary; False when it failed."""
    from territoires.catalog.harvest import HarvestError, harvest

    name = f"{source.url} {source.collection}"
    with _progress() as progress:
        task = progress.add_task(escape(name), total=None, found=0)
        try:
            report = harvest(
                engine,
                source,
                guard,
                timeout_s,
                lambda found, total: progress.update(
                    task, completed=found, total=total, found=found
                ),
            )
        except HarvestError as error:
            console.print(
                f"[red]failed[/] {escape(name)}: {escape(str(error))}",
                highlight=False,
                soft_wrap=True,
            )
            return False
    refused = sum(report.refused.values())
    console.print(
        f"{escape(name)} → {escape(source.into)}: {report.found} found, {report.new} new, "
        f"{report.updated} updated, {report.unchanged} unchanged, {refused} refused",
        highlight=False,
        soft_wrap=True,
    )
    for reason, count in report.refused.most_common():
        console.print(f"  refused {count}: {escape(reason)}", highlight=False, soft_wrap=True)
    return True


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[found]:,} items"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
