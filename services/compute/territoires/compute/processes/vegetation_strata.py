"""`vegetation-strata`: the shares of trees, shrubs and herbaceous plants in each 10 m cell from
Sentinel-2 L2A scenes of several seasons of one year, by spectral unmixing with phenological
endmembers (`kernels/strata.py`), with each territory's tree canopy, herbaceous and vegetated
shares and the share of its people living where the canopy within 300 m is under 10 % (a
heat-comfort figure: the 3-30-300 rule's "30" asks for 30 % canopy in every neighbourhood).

One scene a season (spring, summer, autumn; the least cloudy of each) of the year the period
covers in most seasons. One season alone cannot tell grass from shrubs (they look the same from
above in summer), so a period of a single season is refused with what is missing.

The canopy within 300 m is the mean tree share of the 100 m cells whose centres lie within
300 m, from the fitted cells of the grid widened by 300 m around the territories. People are
counted on those 100 m cells: from a population grid when the request names one (residents per
cell, as `flood-extent` reads it), else each territory's census population spread evenly over
its cells, so the share is that of its 100 m cells under 10 % (the result says which).
"""

from __future__ import annotations

from calendar import month_name
from contextlib import ExitStack
from typing import Any, ClassVar

import numpy as np
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import Grid, Output, for_each_block, zone_raster
from territoires.compute.inputs import Interval, text
from territoires.compute.kernels import endmembers, lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import Plan, RunningJob
from territoires.compute.processes.flood_extent import EARLIEST, POPULATION, Exposure
from territoires.compute.processes.imperviousness import (
    SENTINEL2,
    Imperviousness,
    SceneReader,
    check_unmixable,
    optical_frame,
)
from territoires.compute.processes.territorial import (
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
    planned_area,
)
from territoires.compute.sources import (
    Scene,
    Zone,
    census_populations,
    find_scenes,
    scenes_by_id,
)
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS

masks, strata = lazy("masks"), lazy("strata")

RASTERS = {"trees": "tree-canopy", "shrubs": "shrub-cover", "herbaceous": "herbaceous-cover"}
"""Each stratum's registry indicator (a COG each)."""
NEIGHBOURHOOD_M = 300.0
LOW_CANOPY_PERCENT = 10.0
COARSE = 10
"""Cells of 10 m in a side of the 100 m cells the neighbourhood canopy is computed on."""
NO_FIT = (
    "no cell of the territory seen cloud-free in two seasons at least (masked as cloud, cloud "
    "shadow, cirrus or no data in the scene classification) and fitted by the unmixing"
)
CENSUS_SOURCE = (
    "territory: no population grid given, the census population of the territory is spread "
    "evenly over its 100 m cells"
)

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "vegetation-strata",
    "title": "Vegetation strata (trees, shrubs, herbaceous)",
    "description": "Share of trees, shrubs and herbaceous plants in each 10 m cell (0–100 % "
    "each, the rest not vegetated) from Sentinel-2 L2A scenes of two or three seasons of one "
    "year (spring March–May, summer June–August, autumn September–November; the least cloudy "
    "scene of each): each cell's blue, green, red, NIR, SWIR1 and SWIR2 reflectances at the "
    "dates it is seen cloud-free (two at least) are unmixed together against phenological "
    "endmembers (trees stay green, grass dries or is mown by autumn, shrubs in between) plus "
    "water, bare soil, roofs and asphalt, by non-negative least squares, abundances normalised "
    "to sum to one. COGs in the tree-canopy, shrub-cover and herbaceous-cover collections; per "
    "territory the tree canopy, shrub, herbaceous and vegetated shares and the share of the "
    "population living in cells with less than 10 % canopy within 300 m.",
    "keywords": ["vegetation", "tree canopy", "shrubs", "grass", "Sentinel-2", "phenology"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": {
            "title": "Period",
            "description": "start/end of one year's growing season, e.g. "
            "2023-03-01/2023-11-30: it must hold Sentinel-2 scenes of at least two of spring, "
            "summer and autumn of one year (the year covered in most seasons is used).",
            "schema": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "population": {
            "title": "Population grid",
            "description": "A catalogued collection of residents per cell (e.g. "
            f"{POPULATION}), its newest item up to the period's end covering the area; "
            "without it each territory's census population is spread evenly over its cells.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "collection": {
            "title": "Source collection",
            "description": f"A catalogued Sentinel-2 L2A collection (default {SENTINEL2}) whose "
            "items have blue, green, red, nir, swir16 and swir22 bands (eo:bands common names) "
            "and an SCL scene classification.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "tree_canopy_share, shrub_share, herbaceous_share, vegetated_share "
            "(0–1, means over the fitted cells), low_canopy_population_share (0–1) and "
            "low_canopy_population with population_source, area_ha, observed_area_ha, "
            "valid_share, the seasons' scenes, the statistics of each stratum's percent, and "
            "`reason` when no cell was fitted.",
            "schema": {"type": "object"},
        },
    },
    "example": {"inputs": {"territory": "17300", "datetime": "2023-03-01/2023-11-30"}},
}


def months(season: str) -> str:
    """A season's months in words, as the 400s name them ("March–May")."""
    first, *_, last = endmembers.SEASONS[season]
    return f"{month_name[first]}–{month_name[last]}"


def scene_season(scene: Scene) -> str | None:
    """The season of endmembers.SEASONS a scene was taken in (six months on south)."""
    southern = shape(scene.content["geometry"]).centroid.y < 0
    return endmembers.season(scene.datetime.month, southern)


def cloud_cover(scene: Scene) -> float:
    cover = scene.content["properties"].get("eo:cloud_cover")
    return 100.0 if cover is None else float(cover)


def seasons_of_one_year(scenes: list[Scene]) -> dict[str, Scene]:
    """The least cloudy scene of each season of the year most seasons are seen in (the latest
    on a tie); a 400 saying what is missing when that is fewer than two seasons."""
    years: dict[int, dict[str, Scene]] = {}
    for scene in scenes:
        season = scene_season(scene)
        if season is None:
            continue
        chosen = years.setdefault(scene.datetime.year, {})
        if season not in chosen or cloud_cover(scene) < cloud_cover(chosen[season]):
            chosen[season] = scene
    best = max(years, key=lambda year: (len(years[year]), year), default=None)
    if best is None or len(years[best]) < endmembers.MIN_SEASONS:
        found = ", ".join(
            f"{scene.id} ({scene.datetime:%Y-%m-%d}, {scene_season(scene) or 'winter'})"
            for scene in scenes
        )
        seen = sorted(years.get(best, {})) if best is not None else []
        year = best or scenes[0].datetime.year
        missing = [name for name in endmembers.SEASONS if name not in seen]
        raise BadRequestError(
            "vegetation-strata needs Sentinel-2 scenes of at least two seasons of one year to "
            "tell trees, shrubs and grass apart by their phenology; missing: "
            + ", ".join(f"{name} ({months(name)})" for name in missing)
            + (f" of {best}" if best is not None else "")
            + f". The period's scenes: {found}. Ask for a period such as "
            f"{year}-03-01/{year}-11-30."
        )
    return {name: years[best][name] for name in endmembers.SEASONS if name in years[best]}


class VegetationStrata(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = tuple(RASTERS.values())
    statistics_indicator = "tree-canopy"
    kernels = (strata, masks)
    collections = (SENTINEL2,)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "tree_canopy_share": None,
        "shrub_share": None,
        "herbaceous_share": None,
        "vegetated_share": None,
        "valid_share": 0.0,
        "reason": "no scene of the period covers the territory",
    }

    resolution = Imperviousness.resolution

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """The territorial checks, then the population grid named pinned (a 400 when none of
        its items covers the area up to the period's end)."""
        plan = await super().validate(inputs, connection)
        given = text(inputs, "population")
        if given:
            normalised = plan.inputs
            area = await planned_area(normalised, connection)
            until = Interval(EARLIEST, Interval.parse(normalised["datetime"]).end)
            found = await find_scenes(connection, [given], area, until, limit=1)
            if not found:
                raise BadRequestError(
                    f"input 'population': no item of collection {given!r} covers the area up "
                    f"to {until.end:%Y-%m-%d}"
                )
            normalised["population"] = [found[0].collection, found[0].id]
        return plan

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        """Pins one scene a season of one year, checked for bands and clouds."""
        check_unmixable(scenes)
        chosen = seasons_of_one_year(scenes)
        check_unmixable(list(chosen.values()))
        return {
            "scenes": [[scene.collection, scene.id] for scene in chosen.values()],
            "seasons": {scene.id: season for season, scene in chosen.items()},
        }

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        seasons = job.inputs["seasons"]
        scenes = sorted(scenes, key=lambda s: list(endmembers.SEASONS).index(seasons[s.id]))
        crs, resolution, anchor = await job.in_thread(optical_frame, scenes[0], guard)
        grid, shapes = output_grid(zones, scenes, crs, resolution, anchor, NEIGHBOURHOOD_M)
        coarse = Grid(
            grid.crs,
            grid.transform * Affine.scale(COARSE),
            -(-grid.width // COARSE),
            -(-grid.height // COARSE),
        )
        canopy_sums = np.zeros((coarse.height, coarse.width))
        canopy_counts = np.zeros((coarse.height, coarse.width))
        accumulators = {name: ZonalAccumulator(len(zones), grid.pixels) for name in RASTERS}
        zone_pixels = np.zeros(len(zones) + 1, np.int64)
        paths = {name: job.scratch / f"{indicator}.tif" for name, indicator in RASTERS.items()}
        nodata = INDICATORS["tree-canopy"].nodata
        fit = strata.endmember_matrix(tuple(seasons[s.id] for s in scenes))
        solvers, members = strata.date_solvers(fit, len(scenes))
        async with job.services.engine.connect() as connection:
            census = await census_populations(connection, [z.code for z in zones if z.code])
            pinned = job.inputs.get("population")
            grids = await scenes_by_id(connection, [pinned]) if pinned else []
        residents = np.zeros((coarse.height, coarse.width)) if grids else None

        with ExitStack() as stack:
            readers = await job.in_thread(
                lambda: [SceneReader(s, grid, stack, guard) for s in scenes]
            )
            outputs = {name: Output(path, grid, "float32", nodata) for name, path in paths.items()}
            for output in outputs.values():
                stack.callback(output.close)
            scales = np.stack([reader.scales for reader in readers])
            offsets = np.stack([reader.offsets for reader in readers])
            nodatas = np.stack([reader.nodata for reader in readers])
            people = Exposure(None, grids[0], grid, stack, guard) if grids else None

            def block(window: Window) -> None:
                read = [reader.read(window) for reader in readers]
                bands = np.stack([bands for bands, _ in read])
                valid = np.stack([valid for _, valid in read])
                fractions = np.empty((len(RASTERS), *valid.shape[1:]), np.float32)
                strata.strata_fractions(
                    bands, valid, scales, offsets, nodatas, solvers, members, fit,
                    strata.STRATUM_INDEX, strata.WATER, strata.MIN_DATES,
                    strata.MAX_RESIDUAL_PER_DATE, fractions,
                )  # fmt: skip
                add_coarse(fractions[0], window, canopy_sums, canopy_counts)
                if people is not None:
                    add_coarse(people.residents(window), window, residents)
                zones_block = zone_raster(shapes, grid, window)
                zone_pixels[:] += np.bincount(zones_block.ravel(), minlength=len(zones) + 1)
                fractions[:, zones_block == 0] = np.nan
                for (name, output), values in zip(outputs.items(), fractions, strict=True):
                    accumulators[name].add(values, zones_block, np.nan)
                    output.write(window, np.nan_to_num(values, nan=nodata))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 80.0))

        neighbourhood = neighbourhood_canopy(canopy_sums, canopy_counts, coarse.resolution)
        coarse_zones = zone_raster(shapes, coarse, Window(0, 0, coarse.width, coarse.height))
        weights = np.ones(neighbourhood.shape) if residents is None else residents
        low, counted = low_canopy_people(neighbourhood, coarse_zones, weights, len(zones))
        source = (
            f"grid: residents of {grids[0].collection} item {grids[0].id} on the 100 m cells"
            if grids
            else CENSUS_SOURCE
        )
        dates = {seasons[s.id]: f"{s.datetime:%Y-%m-%d}" for s in scenes}
        cell_ha = grid.resolution * grid.resolution / 10_000.0
        percents = zip(*(accumulators[name].figures() for name in RASTERS), strict=True)
        figures = [
            territory_figures(
                dict(zip(RASTERS, stats, strict=True)),
                int(zone_pixels[number]),
                cell_ha,
                (float(low[number]), float(counted[number])),
                None if grids or not zone.code else census.get(zone.code),
                dates,
                source,
            )
            for number, (zone, stats) in enumerate(zip(zones, percents, strict=True), start=1)
        ]
        rasters = {RASTERS[name]: path for name, path in paths.items()}
        return Computed(figures=figures, grid=grid, rasters=rasters)


def add_coarse(
    values: np.ndarray, window: Window, sums: np.ndarray, counts: np.ndarray | None = None
) -> None:
    """Adds a block's finite values to the sums (and their number to the counts) of their
    100 m cells."""
    rows = (int(window.row_off) + np.arange(values.shape[0])) // COARSE
    columns = (int(window.col_off) + np.arange(values.shape[1])) // COARSE
    top, left = rows[0], columns[0]
    shape = (rows[-1] - top + 1, columns[-1] - left + 1)
    cells = ((rows - top)[:, None] * shape[1] + (columns - left)[None, :]).ravel()
    finite = np.isfinite(values).ravel()
    size = shape[0] * shape[1]
    area = (slice(top, top + shape[0]), slice(left, left + shape[1]))
    sums[area] += np.bincount(cells[finite], values.ravel()[finite], size).reshape(shape)
    if counts is not None:
        counts[area] += np.bincount(cells[finite], minlength=size).reshape(shape)


def neighbourhood_canopy(sums: np.ndarray, counts: np.ndarray, resolution: float) -> np.ndarray:
    """Mean tree percent of the fitted cells of the 100 m cells whose centres lie within
    NEIGHBOURHOOD_M of each one's (NaN where none is fitted)."""
    reach = int(NEIGHBOURHOOD_M // resolution)
    padded_sums = np.pad(sums, reach)
    padded_counts = np.pad(counts, reach)
    total, seen = np.zeros_like(sums), np.zeros_like(counts)
    rows, columns = sums.shape
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if (dy * dy + dx * dx) * resolution * resolution > NEIGHBOURHOOD_M**2:
                continue
            area = (slice(reach + dy, reach + dy + rows), slice(reach + dx, reach + dx + columns))
            total += padded_sums[area]
            seen += padded_counts[area]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(seen > 0, total / seen, np.nan)


def low_canopy_people(
    canopy: np.ndarray, zones: np.ndarray, people: np.ndarray, zone_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per zone (index = zone id), the people (`people` per 100 m cell) under
    LOW_CANOPY_PERCENT of neighbourhood canopy, and those with a neighbourhood canopy at all."""
    known = np.isfinite(canopy)
    low = known & (canopy < LOW_CANOPY_PERCENT)
    return (
        np.bincount(zones[low], people[low], zone_count + 1),
        np.bincount(zones[known], people[known], zone_count + 1),
    )


def territory_figures(
    percents: dict[str, dict[str, Any]],
    cells: int,
    cell_ha: float,
    low_canopy: tuple[float, float],
    census: int | None,
    dates: dict[str, str],
    source: str,
) -> dict[str, Any]:
    """A territory's strata shares from the statistics of its fitted cells' percents, and its
    people's exposure to low canopy: `low_canopy` holds residents under low canopy and in all
    from a grid, or 100 m cells when `census` (the territory's population) spreads people."""
    count = percents["trees"]["count"]
    figures: dict[str, Any] = {
        "area_ha": round(cells * cell_ha, 2),
        "observed_area_ha": round(count * cell_ha, 2),
        "valid_share": count / cells if cells else 0.0,
        "scenes": dates,
        **{f"{name}_percent": stats for name, stats in percents.items()},
        "population_source": source,
        "definitions": {
            "tree_canopy_share": "mean tree fraction of the territory's fitted cells",
            "vegetated_share": "trees + shrubs + herbaceous",
            "low_canopy_population_share": f"share of the population in 100 m cells with less "
            f"than {LOW_CANOPY_PERCENT:g} % tree canopy within {NEIGHBOURHOOD_M:g} m",
        },
    }
    low, counted = low_canopy
    if not count:
        return figures | {
            "tree_canopy_share": None,
            "shrub_share": None,
            "herbaceous_share": None,
            "vegetated_share": None,
            "low_canopy_population_share": None,
            "low_canopy_population": None,
            "reason": NO_FIT,
        }
    shares = {name: percents[name]["mean"] / 100.0 for name in RASTERS}
    exposed = low / counted if counted else None
    people = low if source != CENSUS_SOURCE else (exposed or 0.0) * (census or 0)
    return figures | {
        "tree_canopy_share": shares["trees"],
        "shrub_share": shares["shrubs"],
        "herbaceous_share": shares["herbaceous"],
        "vegetated_share": sum(shares.values()),
        "low_canopy_population_share": exposed,
        "low_canopy_population": round(people) if exposed is not None and people else None,
    }


PROCESS = VegetationStrata()
