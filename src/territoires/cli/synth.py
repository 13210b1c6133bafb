"""`territoires synth`: write synthetic scenes with planted truth over a territory or a bbox."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from territoires.cli.output import USAGE_ERROR, console, fail
from territoires.shared.settings import ConfigurationError

DEFAULT_SENSORS = "s2,landsat,s1,viirs"


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r} is not a date (YYYY-MM-DD)", USAGE_ERROR)


def synth_command(
    territory: Annotated[
        str | None,
        typer.Option("--territory", help="INSEE code of a demo commune or département (17300)"),
    ] = None,
    bbox: Annotated[
        str | None,
        typer.Option("--bbox", help="lon/lat box minx,miny,maxx,maxy instead of a territory"),
    ] = None,
    size: Annotated[
        int, typer.Option("--size", help="Pixels per side of the 10 m grid (512 to 10980)")
    ] = 2048,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same bytes")] = 0,
    sensors: Annotated[
        str, typer.Option("--sensors", help="Comma-separated: s2, landsat, s1, viirs")
    ] = DEFAULT_SENSORS,
    start: Annotated[str, typer.Option("--start", help="First day (YYYY-MM-DD)")] = "2021-01-01",
    end: Annotated[str, typer.Option("--end", help="Last day (YYYY-MM-DD)")] = "2023-12-31",
    landsat_level: Annotated[
        int,
        typer.Option(
            "--landsat-level",
            help="Landsat product: 1 (B4, B5, B10 + MTL, clear) or 2 (Collection 2 Level-2: "
            "SR_B2-SR_B7, ST_B10, QA_PIXEL with clouds)",
        ),
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: .data/synth/TARGET-SIZE-SEED)"),
    ] = None,
    seasons: Annotated[
        bool,
        typer.Option(
            "--seasons",
            help="Sentinel-2 spring and autumn scenes beside the last summer's (vegetation "
            "strata: trees, shrubs, grass by their phenology), their truth in truth.json "
            "vegetation_strata",
        ),
    ] = False,
    changes: Annotated[
        bool,
        typer.Option(
            "--changes",
            help="Parcels (0.1 to 4 ha) whose ground changes between the last two summers: "
            "fields built on, car parks greened, trees felled, bare ground planted; their "
            "polygons and per-commune hectares in truth.json land_cover_change",
        ),
    ] = False,
    with_buildings: Annotated[
        bool,
        typer.Option(
            "--buildings",
            help="Buildings with heights and streets of the town blocks (BD TOPO-like "
            "GeoPackage and OSM-like GeoJSON, collections buildings and buildings-osm), the "
            "planted Local Climate Zone of each unit in truth/lcz_units.geojson",
        ),
    ] = False,
    night_lights: Annotated[
        bool,
        typer.Option(
            "--night-lights",
            help="Black Marble VNP46A3 monthly HDF5 files of whole départements instead "
            "(--territory 17,13 or france), with a planted lighting history per commune",
        ),
    ] = False,
) -> None:
    """Synthesise Sentinel-2, Landsat 8, Sentinel-1 and VIIRS scenes with a known truth."""
    from territoires.synth import SynthInputError, generate, parse_bbox, parse_sensors

    if night_lights:
        _night_lights(territory, start, end, seed, out)
        return
    if (territory is None) == (bbox is None):
        fail("give exactly one of --territory CODE or --bbox minx,miny,maxx,maxy", USAGE_ERROR)
    try:
        target = territory if territory is not None else parse_bbox(bbox or "")
        chosen = parse_sensors(sensors)
        first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
        with Progress(
            TextColumn("[bold]synth[/]"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar:
            task = bar.add_task("starting", total=None)

            def advance(description: str, done: int, total: int) -> None:
                bar.update(task, description=description, completed=done, total=total)

            summary = generate(
                target,
                out,
                size=size,
                seed=seed,
                sensors=chosen,
                start=first,
                end=last,
                progress=advance,
                landsat_level=landsat_level,
                seasons=seasons,
                changes=changes,
                with_buildings=with_buildings,
            )
    except SynthInputError as error:
        fail(str(error), USAGE_ERROR)
    except ConfigurationError as error:  # a setup problem, not the input: status 1 as elsewhere
        fail(str(error))
    total = sum(summary.timings.values())
    console.print(
        f"[green]wrote[/] {len(summary.items)} scenes over {summary.target.name} "
        f"({summary.size}² at 10 m, seed {summary.seed}) to {summary.out_dir} in {total:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    for stage, seconds in summary.timings.items():
        console.print(f"  {stage:<22} {seconds:7.2f} s", highlight=False)


def _night_lights(territory: str | None, start: str, end: str, seed: int, out: Path | None) -> None:
    """`--night-lights`: the national mode (`territoires.synth.blackmarble`)."""
    from territoires.shared.geography import find_national_dir
    from territoires.shared.settings import get_settings
    from territoires.synth.blackmarble import TRUTH_FILE, generate_night_lights

    if not territory:
        fail("--night-lights needs --territory: département codes (17,13) or france", USAGE_ERROR)
    departements = None if territory.lower() == "france" else territory.split(",")
    folder = out or Path(".data/synth") / f"night-lights-{territory.replace(',', '-')}-{seed}"
    try:
        data = find_national_dir([get_settings().kit_dir])
    except ConfigurationError as error:
        fail(str(error))
    with Progress(
        TextColumn("[bold]synth[/]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=None)
        try:
            summary = generate_night_lights(
                folder,
                data,
                departements,
                _parse_date(start, "--start"),
                _parse_date(end, "--end"),
                seed,
                lambda text, done, total: bar.update(
                    task, description=text, completed=done, total=total
                ),
            )
        except ValueError as error:
            fail(str(error), USAGE_ERROR)
    console.print(
        f"[green]wrote[/] {len(summary.files)} Black Marble files ({summary.communes} communes "
        f"× {summary.months} months) to {folder}; truth in {folder / TRUTH_FILE}",
        highlight=False,
        soft_wrap=True,
    )
