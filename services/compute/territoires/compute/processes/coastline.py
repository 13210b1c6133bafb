"""`coastline`: shoreline change over a period from a time series of Sentinel-2 L2A or Landsat
scenes, after the USGS Digital Shoreline Analysis System (`compute/coastline.py`).

Each scene's MNDWI (green and SWIR1, the flood-extent optical member's readers) is read on the
clear pixels (SCL or QA masked) of a grid at the SWIR band's own resolution, both bands
averaged onto it so that each pixel mixes the ground it covers; its sea–land line is drawn at
sub-pixel precision. The scenes are read twice: a first pass gathers each pixel's land
spectrum over the dates it was pure land (the land end of its mix), the second draws the
lines. The mean shoreline (where the sea is seen half the time), simplified,
is the baseline; transects every 200 m perpendicular to it, turned towards the sea, cross
each date's line, and per transect NSM, SCE, EPR, LRR (R², 95 % CI) and WLR are computed.
Shorelines and transects are vector results; each commune gets its coast length in retreat
and mean LRR (transects belong to the commune their origin lies in, or is nearest to).

One scene a year is used (the clearest of each year, by eo:cloud_cover): the rate is over
years, and a tide or a storm on one date is noise the regression absorbs.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute import coastline
from territoires.compute.blocks import Grid, open_raster
from territoires.compute.inputs import Interval
from territoires.compute.kernels import lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import RunningJob
from territoires.compute.processes.flood_extent import GREEN, SWIR, mndwi
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    GEOMETRY_INPUT,
    MAX_SCENES,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
)
from territoires.compute.processes.vegetation import LANDSAT, SENTINEL2, Bands, SceneReader
from territoires.compute.results import Feature, in_lonlat
from territoires.compute.sources import Scene, Zone, find_scenes
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError

masks, sar, spectral = lazy("masks"), lazy("sar"), lazy("spectral")

CLOUDY_PERCENT = 99.9
"""A scene whose eo:cloud_cover reaches this shows no ground: none is picked."""
MIN_CLEAR_SHARE = 0.2
"""A scene clear over less than this share of the grid gives no shoreline (a cloud's rim is
no coast)."""
OUTLIER_PX = 2.0
"""A crossing further than this many pixels off its transect's trend is an outlier."""
TRANSECT_MARGIN_M = 100.0
"""A transect is drawn this far beyond the outermost shorelines it crosses."""
NO_COAST = "no transect: the territory has no sea–land boundary seen in two or more dates"

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "coastline",
    "title": "Coastline change (DSAS transects)",
    "description": "Shorelines from a time series of Sentinel-2 L2A or Landsat scenes (the "
    "clearest of each year): MNDWI on the clear pixels (SCL or QA masked), Otsu's threshold "
    "per scene, each pixel's sea fraction unmixed between the local sea and the pixel's own "
    "land spectrum (from the dates it was pure land), its 0.5 contour (marching squares, "
    "crossings placed by the sea's area), the rim of the sea only (lakes and rivers "
    "excluded, crossings at river mouths left out). Transects every 200 m perpendicular to "
    "the smoothed mean shoreline carry the USGS DSAS statistics: NSM, SCE, EPR, LRR with R² "
    "and 95 % confidence interval, WLR. "
    "Shorelines and transects as vector results; per commune the coast length in retreat and "
    "the mean LRR.",
    "keywords": ["coastline", "shoreline", "erosion", "DSAS", "MNDWI", "Sentinel-2", "Landsat"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT
        | {
            "description": "start/end over several years, e.g. 2014-01-01/2023-12-31: the "
            "clearest scene of each year is a date of the series (two at least, three for "
            "the regression rates)."
        },
        "collection": {
            "title": "Source collection",
            "description": f"A catalogued collection whose items have green and swir16 bands "
            f"(eo:bands common names) and an SCL or QA mask: {SENTINEL2} (SWIR 20 m) or "
            f"{LANDSAT} (30 m); by default Sentinel-2, else Landsat where Sentinel-2 has no "
            "scene in the period.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "transects, coast_length_km (transects × 200 m), "
            "retreat_length_km and accretion_length_km (transects whose LRR 95 % interval is "
            "all below / above zero, × 200 m), retreat_share, mean_lrr_m_per_year, "
            "shorelines (dates used), and `reason` when there is no rate, `notes` on the "
            "dates left out.",
            "schema": {"type": "object"},
        },
    },
    "example": {"inputs": {"territory": "17300", "datetime": "2014-01-01/2023-12-31"}},
}


def yearly(scenes: list[Scene]) -> list[Scene]:
    """The clearest scene of each year (least eo:cloud_cover, then the newest), newest first."""
    best: dict[int, Scene] = {}
    for scene in scenes:
        kept = best.get(scene.datetime.year)
        if kept is None or _cover(scene) < _cover(kept):
            best[scene.datetime.year] = scene
    return sorted(best.values(), key=lambda scene: scene.datetime, reverse=True)


def cloudy(scene: Scene) -> bool:
    """eo:cloud_cover says the scene shows no ground."""
    cover = scene.content["properties"].get("eo:cloud_cover")
    return cover is not None and cover >= CLOUDY_PERCENT


def _cover(scene: Scene) -> float:
    cover = scene.content["properties"].get("eo:cloud_cover")
    return math.inf if cover is None else float(cover)


def scene_bands(
    scene: Scene, grid: Grid, stack: ExitStack, guard: AssetGuard
) -> tuple[np.ndarray, np.ndarray]:
    """A scene's MNDWI on the grid's clear pixels (NaN elsewhere) and its green + SWIR1."""
    bands = Bands.of(scene, SWIR, GREEN)
    reader = SceneReader(scene, grid, stack, guard, bands, Resampling.average)
    whole = Window(0, 0, grid.width, grid.height)
    index = mndwi(reader, whole)
    green = reader.nir.read(whole).astype(np.float32) * reader.nir_scale + reader.nir_offset
    swir = reader.red.read(whole).astype(np.float32) * reader.red_scale + reader.red_offset
    return index, np.where(np.isfinite(index), green + swir, np.nan)


def land_spectra(
    scenes: list[Scene], grid: Grid, stack: ExitStack, guard: AssetGuard
) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's land spectrum over the dates it was pure land (`LandReference`): a first
    pass over the scenes, so that memory holds three grids, not every date's bands."""
    reference = coastline.LandReference((grid.height, grid.width))
    for scene in scenes:
        reference.add(*scene_bands(scene, grid, stack, guard))
    return reference.spectra()


class SceneLine:
    """One scene's shoreline on the grid, and where it saw the sea (for the mean shoreline)."""

    def __init__(
        self,
        scene: Scene,
        grid: Grid,
        stack: ExitStack,
        guard: AssetGuard,
        land: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        index, brightness = scene_bands(scene, grid, stack, guard)
        self.scene = scene
        self.found = coastline.shoreline(index, brightness, grid.transform, land)
        if self.found.line is not None and self.found.clear_share < MIN_CLEAR_SHARE:
            self.found = coastline.Shoreline(
                None,
                self.found.threshold,
                self.found.clear_share,
                f"clear over {self.found.clear_share:.0%} of the area only (under "
                f"{MIN_CLEAR_SHARE:.0%})",
            )
        self.clear = np.isfinite(index)
        threshold = self.found.threshold
        self.water = self.clear & (index > threshold) if threshold is not None else None


class Coastline(TerritorialProcess):
    metadata = PROCESS_METADATA
    vector_outputs = ("coastline", "shorelines")
    statistics_indicator = "coastline"
    kernels = (sar, spectral, masks)
    collections = (SENTINEL2, LANDSAT)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "transects": 0,
        "reason": "no scene of the period covers the territory",
    }

    async def candidate_scenes(
        self,
        inputs: dict[str, Any],
        connection: AsyncConnection,
        collections: list[str],
        area: BaseGeometry,
        period: Interval,
    ) -> list[Scene]:
        """The clearest scene of each year of the period, year by year (a decade of
        Sentinel-2 holds hundreds of scenes: the newest alone would all be of one year), of
        the first collection that has any."""
        for collection in collections:
            found = []
            for year in range(period.start.year, period.end.year + 1):
                span = Interval(
                    max(period.start, datetime(year, 1, 1, tzinfo=UTC)),
                    min(period.end, datetime(year + 1, 1, 1, tzinfo=UTC) - timedelta(seconds=1)),
                )
                found += await find_scenes(
                    connection, [collection], area, span, limit=MAX_SCENES * 4
                )
            if found:
                return yearly(found)
        return []

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        """One scene a year, with green and SWIR1 bands; a 400 when the period gives fewer
        than two dates that are not all cloud."""
        picked = sorted(yearly([s for s in scenes if not cloudy(s)]), key=lambda s: s.datetime)
        if not picked:
            listed = ", ".join(f"{s.id} ({_cover(s):g} %)" for s in scenes)
            raise BadRequestError(
                f"every scene found in the period is cloud (eo:cloud_cover): {listed}; ask for "
                "a longer period or another season"
            )
        if len({scene.datetime.date() for scene in picked}) < 2:
            raise BadRequestError(
                f"a single date ({picked[0].datetime:%Y-%m-%d}, {picked[0].id}) in the period: "
                "shoreline change needs scenes of two years at least (three for the regression "
                "rates); widen input 'datetime' over several years"
            )
        for scene in picked:
            Bands.of(scene, SWIR, GREEN)
        return {"scenes": [[s.collection, s.id] for s in picked]}

    def resolution(self, scene: Scene) -> float:
        """The SWIR1 band's: MNDWI is no sharper than it."""
        band = (scene.asset(Bands.of(scene, SWIR, GREEN).red).get("raster:bands") or [{}])[0]
        return float(band.get("spatial_resolution") or scene.content["properties"].get("gsd", 20))

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        swir = Bands.of(scenes[0], SWIR, GREEN).red
        with open_raster(scenes[0].raster(swir, guard)) as reference:
            crs, transform = reference.crs, reference.transform
        resolution = self.resolution(scenes[0])
        grid, shapes = output_grid(
            zones, scenes, crs, resolution, (transform.c, transform.f), coastline.TRANSECT_REACH_M
        )
        period = Interval.parse(job.inputs["datetime"])
        await job.progress(5.0)
        with ExitStack() as stack:
            land = await job.in_thread(land_spectra, scenes, grid, stack, guard)
            await job.progress(35.0)
            found = []
            for number, scene in enumerate(scenes, start=1):
                found.append(await job.in_thread(SceneLine, scene, grid, stack, guard, land))
                await job.progress(35.0 + 40.0 * number / len(scenes))
        return await job.in_thread(self._changes, found, grid, shapes, zones, period)

    def _changes(
        self,
        found: list[SceneLine],
        grid: Grid,
        shapes: list[tuple[Any, int]],
        zones: list[Zone],
        period: Interval,
    ) -> Computed:
        """Baseline, transects and their statistics, figures per zone, vector features."""
        notes = [
            f"{line.scene.datetime:%Y-%m-%d} ({line.scene.id}) left out: {line.found.reason}"
            for line in found
            if line.found.line is None
        ]
        used = [line for line in found if line.found.line is not None]
        if len({line.scene.datetime.date() for line in used}) < 2:
            reason = (
                "fewer than two dates show a sea–land boundary, so no change can be measured"
                if used or any(line.water is not None for line in found)
                else "no water seen in any scene: there is no coast in the area"
            )
            every = {"transects": 0, "shorelines": len(used), "reason": reason, "notes": notes}
            return Computed(figures=[dict(every) for _ in zones])
        transects, years, crossings = crossed(used, grid)
        dates = [line.scene.datetime.date() for line in used]
        uncertainty = np.full(len(used), grid.resolution)
        owners = _owners(transects, shapes)
        features: list[Feature] = []
        rates: list[list[tuple[float, float]]] = [[] for _ in zones]
        for number, (transect, owner, positions) in enumerate(
            zip(transects, owners, crossings, strict=True), 1
        ):
            if owner is None:
                continue
            measured = coastline.change(years, positions, uncertainty)
            if measured is None:
                continue
            zone = zones[owner - 1]
            if measured.lrr is not None and measured.lrr_ci95 is not None:
                rates[owner - 1].append((measured.lrr, measured.lrr_ci95))
            features.append(
                _transect_feature(transect, number, positions, measured, grid, zone, period)
            )
        features += [
            Feature(
                indicator="shorelines",
                geometry=in_lonlat(line.found.line, grid.crs),
                properties={
                    "date": line.scene.datetime.date().isoformat(),
                    "year": line.scene.datetime.year,
                    "scene": line.scene.id,
                    "mndwi_threshold": round(line.found.threshold or 0.0, 4),
                    "clear_share": round(line.found.clear_share, 4),
                },
                period=Interval(line.scene.datetime, line.scene.datetime),
            )
            for line in used
        ]
        figures = [_zone_figures(zone_rates, dates, notes) for zone_rates in rates]
        return Computed(figures=figures, grid=grid, features=features)


def crossed(
    used: list[SceneLine], grid: Grid
) -> tuple[list[coastline.Transect], np.ndarray, np.ndarray]:
    """The transects on the scenes' mean shoreline (turned to the side seen as sea more
    often), the dates' decimal years, and each transect's crossings with each date's line
    (transects × dates, metres seaward, NaN: not crossed or an outlier)."""
    water = sum(line.water.astype(np.float32) for line in used if line.water is not None)
    clear = sum(line.clear.astype(np.float32) for line in used)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(clear > 0, water / clear, np.nan).astype(np.float32)

    def seaward(point: Point) -> float:
        return sampled(share, grid, point)

    baselines = coastline.baselines(coastline.mean_shoreline(share, grid.transform))
    transects = [t for line in baselines for t in coastline.transects(line, seaward)]
    years = coastline.decimal_years([line.scene.datetime.date() for line in used])
    crossings = np.array(
        [
            coastline.despiked(
                years,
                np.array([_position(transect, line.found) for line in used]),
                OUTLIER_PX * grid.resolution,
            )
            for transect in transects
        ]
    ).reshape(len(transects), len(used))
    return transects, years, crossings


def _position(transect: coastline.Transect, found: coastline.Shoreline) -> float:
    """The transect's crossing with the line, NaN when it is within a channel's width of a
    river mouth (the line there closes the channel: DSAS leaves out transects at inlets)."""
    position = transect.position(found.line)
    if math.isnan(position) or found.mouths is None:
        return position
    (x, y), (dx, dy) = transect.origin, transect.direction
    crossing = Point(x + dx * position, y + dy * position)
    return math.nan if found.mouths.distance(crossing) < coastline.CHANNEL_WIDTH_M else position


def sampled(values: np.ndarray, grid: Grid, point: Point) -> float:
    """The value of the pixel under a point; 0.5 (undecided) off the grid or unseen."""
    col, row = ~grid.transform @ (point.x, point.y)
    r, c = math.floor(row), math.floor(col)
    if 0 <= r < values.shape[0] and 0 <= c < values.shape[1] and np.isfinite(values[r, c]):
        return float(values[r, c])
    return 0.5


def _owners(transects: list[coastline.Transect], shapes: list[tuple[Any, int]]) -> list[int | None]:
    """The zone (1, 2, …) of each transect: the one its origin lies in, else the nearest
    within the transect's reach (a coast drawn just off a commune's outline)."""
    owners: list[int | None] = []
    for transect in transects:
        origin = Point(transect.origin)
        distances = [(geometry.distance(origin), zone) for geometry, zone in shapes]
        distance, zone = min(distances, key=lambda pair: pair[0])
        owners.append(zone if distance <= coastline.TRANSECT_REACH_M else None)
    return owners


def _transect_feature(
    transect: coastline.Transect,
    number: int,
    positions: np.ndarray,
    measured: coastline.Change,
    grid: Grid,
    zone: Zone,
    period: Interval,
) -> Feature:
    """The transect over the span its shorelines cross (and a margin), with its statistics."""
    seen = positions[np.isfinite(positions)]
    (x, y), (dx, dy) = transect.origin, transect.direction
    near = float(seen.min()) - TRANSECT_MARGIN_M
    far = float(seen.max()) + TRANSECT_MARGIN_M
    line = LineString([(x + dx * near, y + dy * near), (x + dx * far, y + dy * far)])
    rounded = {
        name: None if value is None else round(value, 4)
        for name, value in (
            ("nsm_m", measured.nsm),
            ("sce_m", measured.sce),
            ("epr_m_per_year", measured.epr),
            ("lrr", measured.lrr),
            ("lrr_r2", measured.lrr_r2),
            ("lrr_ci95", measured.lrr_ci95),
            ("wlr", measured.wlr),
            ("wlr_ci95", measured.wlr_ci95),
        )
    }
    return Feature(
        indicator="coastline",
        geometry=in_lonlat(line, grid.crs),
        properties={"transect": number, "shorelines": measured.count, **rounded},
        period=period,
        territory=zone.code,
    )


def _zone_figures(
    rates: list[tuple[float, float]], dates: list[date], notes: list[str]
) -> dict[str, Any]:
    """A territory's coast in retreat and mean LRR over its transects with a rate."""
    spacing_km = coastline.TRANSECT_SPACING_M / 1000.0
    figures: dict[str, Any] = {
        "transects": len(rates),
        "shorelines": len(dates),
        "dates": [day.isoformat() for day in dates],
        "notes": notes,
    }
    if not rates:
        return figures | {"reason": NO_COAST}
    lrr = np.array([rate for rate, _ in rates])
    ci = np.array([half for _, half in rates])
    retreat = int(np.count_nonzero(lrr + ci < 0))
    accretion = int(np.count_nonzero(lrr - ci > 0))
    return figures | {
        "coast_length_km": round(len(rates) * spacing_km, 2),
        "retreat_length_km": round(retreat * spacing_km, 2),
        "accretion_length_km": round(accretion * spacing_km, 2),
        "retreat_share": retreat / len(rates),
        "mean_lrr_m_per_year": round(float(lrr.mean()), 3),
    }


PROCESS = Coastline()
