"""`land-surface-temperature`: LST in °C from Landsat 8/9 over territories, with per territory
its mean and 90th percentile, its hot spots and its surface urban heat island, over one or
several summers.

The product level is read from each item: an `ST_B10` asset is a Collection 2 Level-2 surface
temperature (kelvin = DN × scale + offset); otherwise band 10 with the MTL constants the
catalog put on its asset (K1, K2, radiance multiplier and offset) is a Level-1 product, turned
into LST by the single-channel method of DESIGN.md with an emissivity from NDVI (the LST
kernel, `kernels/lst.py`). Clouds, their shadows and fill are masked from the QA band.

Scenes are grouped by summer (the calendar year; south of the equator July to June, named by
the year its December–February summer ends). A scene is clear when at least `min_clear_share`
of the territories' cells are observed; each summer keeps its `hottest_per_summer` clear
scenes (by mean LST over the territories), and the LST raster is the per-cell mean of the
kept scenes. Per territory:

- mean, p10/p50/p90 and the other statistics of that raster;
- the surface urban heat island (SUHI): the mean LST of the territory's land cells (its outline
  is the urban footprint) minus the mean LST of the rural ring, the land cells within `ring_m`
  outside the outline; water (the QA_PIXEL water flag, else NDVI < 0) is left out of both;
- hot spots: 4-connected cells hotter than the territory's p90, each of at least
  `hot_spot_min_area_m2`, as vector results (`lst-hot-spots`);
- the series per summer: the mean LST and the SUHI of that summer's kept scenes, its cloud gaps
  filled from every summer's mean (shifted by the mean difference where both are observed).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import shapely
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.features import shapes as outlines
from rasterio.windows import Window
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import Grid, Output, Source, for_each_block, open_raster
from territoires.compute.blocks import zone_raster as rasterised
from territoires.compute.inputs import Interval, number
from territoires.compute.kernels import lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import Plan, RunningJob
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
)
from territoires.compute.readers import (
    by_common_name,
    landsat_quality_rules,
    opened,
    quality_asset,
    scaling,
)
from territoires.compute.results import Feature, in_lonlat
from territoires.compute.sources import Scene, Zone
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS

lst_kernel, masks = lazy("lst"), lazy("masks")

LANDSAT = "landsat-c2-l2"
RED = ("red",)
NIR = ("nir", "nir08")
THERMAL = ("lwir11", "lwir")
# USGS Collection 2 Level-2 surface temperature scaling, when the item does not state it.
ST_SCALE, ST_OFFSET = 0.00341802, 149.0
QA_PIXEL_WATER = 1 << 7
LEVEL1_CONSTANTS = ("radiance_mult", "radiance_add", "k1_constant", "k2_constant")
SUMMER_SHIFT_SOUTH = timedelta(days=184)  # July–June south, named by the year it ends

RING_M = 2000.0
HOT_SPOT_MIN_AREA_M2 = 10_000.0
HOTTEST_PER_SUMMER = 3
MIN_CLEAR_SHARE = 0.5
BYTES_PER_CELL = 64
"""Memory of the analysis per grid cell besides the scenes' LST (4 bytes a scene): measured
4.35 GB peak for two scenes on a 7,800² grid."""
MAX_JOB_BYTES = 1.5e9
"""What one sub-job may need, within a compose worker's 2 GB."""


def suhi_definition(ring_m: float) -> str:
    return (
        "mean LST of the territory's land cells (its outline is the urban footprint) minus the "
        f"mean LST of the rural ring: the land cells within {ring_m:g} m outside the outline; "
        "water (QA_PIXEL water flag, else NDVI < 0) excluded from both, cloud-free cells only"
    )


def _number_input(title: str, description: str, default: float, low: float, high: float) -> dict:
    return {
        "title": title,
        "description": description,
        "schema": {"type": "number", "minimum": low, "maximum": high, "default": default},
        "minOccurs": 0,
        "maxOccurs": 1,
    }


PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "land-surface-temperature",
    "title": "Land surface temperature, hot spots and surface urban heat island",
    "description": "LST in °C from Landsat 8/9 — Level-1 band 10 with the MTL constants and an "
    "NDVI-based emissivity (L = ML·DN + AL; BT = K2/ln(K1/L + 1); ε = 0.004·Pv + 0.986; "
    "LST = BT/(1 + (λ·BT/ρ)·ln ε)), or Collection 2 Level-2 ST_B10 — clouds and shadow masked "
    "from the QA band; the mean of the hottest clear scenes of each summer as a COG in the lst "
    "collection; per territory its mean, p90, hot spots (connected cells above its p90) and "
    "surface urban heat island (SUHI: "
    + suhi_definition(RING_M).replace(f"{RING_M:g} m", "ring_m")
    + "), with a series per summer.",
    "keywords": ["heat", "land surface temperature", "urban heat island", "Landsat"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT,
        "collection": {
            "title": "Source collection",
            "description": f"A catalogued Landsat 8/9 collection (default {LANDSAT}): "
            "Collection 2 Level-2 (ST_B10) or Level-1 (B10 with its MTL constants) items.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "ring_m": _number_input(
            "Rural ring width (m)",
            "Cells within this distance outside a territory form its rural reference.",
            RING_M,
            30,
            20_000,
        ),
        "hot_spot_min_area_m2": _number_input(
            "Smallest hot spot (m²)",
            "Connected hot cells covering less than this are not hot spots.",
            HOT_SPOT_MIN_AREA_M2,
            0,
            1e8,
        ),
        "hottest_per_summer": _number_input(
            "Scenes kept per summer",
            "How many of a summer's clear scenes (the hottest) make its LST.",
            HOTTEST_PER_SUMMER,
            1,
            16,
        ),
        "min_clear_share": _number_input(
            "Clear-scene threshold",
            "Share of the territories' cells a scene must observe cloud-free to count.",
            MIN_CLEAR_SHARE,
            0,
            1,
        ),
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "LST statistics (°C: mean, min, max, std, p10, p50, p90), valid_share, "
            "suhi_c with urban_mean_c and rural_mean_c, hot_spots and hot_spot_area_m2, the "
            "scenes kept, the series per summer and the definitions used.",
            "schema": {"type": "object"},
        },
    },
    "example": {
        "inputs": {"territory": "17300", "datetime": "2021-06-01/2023-08-31"},
    },
}


@dataclass(frozen=True)
class ThermalBands:
    """Where a Landsat item's thermal, red, NIR and QA bands are, and the thermal constants:
    (ML, AL, K1, K2) for Level-1, (scale, offset, 0, 0) for Level-2."""

    level: int
    thermal: str
    red: str | None
    nir: str | None
    mask: str | None
    constants: tuple[float, float, float, float]

    @classmethod
    def of(cls, scene: Scene) -> ThermalBands:
        """The item's product level, from its assets; BadRequestError when LST cannot be made."""
        assets = scene.content.get("assets", {})
        upper = {key.upper(): key for key in assets}
        red, nir = by_common_name(assets, RED), by_common_name(assets, NIR)
        mask = quality_asset(scene)
        if "ST_B10" in upper:
            key = upper["ST_B10"]
            band = (assets[key].get("raster:bands") or [{}])[0]
            scale = float(band.get("scale", ST_SCALE))
            offset = float(band.get("offset", ST_OFFSET))
            return cls(2, key, red, nir, mask, (scale, offset, 0.0, 0.0))
        key = upper.get("B10") or by_common_name(assets, THERMAL)
        if key is None:
            raise BadRequestError(
                f"scene {scene.id} of {scene.collection} has no thermal band: land surface "
                "temperature needs ST_B10 (Collection 2 Level-2) or band 10 with its MTL "
                "constants (Level-1)"
            )
        constants = [scene.asset(key).get(f"landsat:{name}") for name in LEVEL1_CONSTANTS]
        missing = [
            name for name, value in zip(LEVEL1_CONSTANTS, constants, strict=True) if value is None
        ]
        if missing:
            raise BadRequestError(
                f"scene {scene.id}: its thermal band {key} lacks the MTL constants "
                f"{', '.join(f'landsat:{name}' for name in missing)}; ingest the scene with its "
                "_MTL.txt beside the bands"
            )
        if red is None or nir is None:
            raise BadRequestError(
                f"scene {scene.id}: a Level-1 scene needs red and NIR bands (eo:bands common "
                "names red and nir/nir08) for the emissivity"
            )
        ml, al, k1, k2 = (float(value) for value in constants)
        return cls(1, key, red, nir, mask, (ml, al, k1, k2))

    def keys(self) -> list[str]:
        return [key for key in (self.thermal, self.red, self.nir, self.mask) if key is not None]

    def check_crs(self, scene: Scene) -> None:
        """The bands read together must share a CRS (an item's `proj:` fields, per asset where
        an asset states its own)."""
        item = scene.content.get("properties", {})
        found = {}
        for key in self.keys():
            asset = scene.asset(key)
            crs = asset.get("proj:epsg", asset.get("proj:code", item.get("proj:epsg")))
            if crs is not None:
                found[key] = str(crs).removeprefix("EPSG:")
        if len(set(found.values())) > 1:
            listed = ", ".join(f"{key} in EPSG:{crs}" for key, crs in found.items())
            raise BadRequestError(
                f"scene {scene.id}: its bands are in different CRSs ({listed}); the bands of "
                "one scene must share a CRS"
            )


class ThermalReader:
    """A scene's LST (°C, NaN where masked) and water flags on the output grid, a block at a
    time."""

    def __init__(
        self, scene: Scene, bands: ThermalBands, grid: Grid, stack: ExitStack, guard: AssetGuard
    ) -> None:
        self.bands = bands

        def source(key: str | None, resampling: Resampling) -> Source | None:
            if key is None:
                return None
            return opened(stack, Source(scene.raster(key, guard), grid, resampling))

        self.thermal = source(bands.thermal, Resampling.bilinear)
        self.red = source(bands.red, Resampling.bilinear)
        self.nir = source(bands.nir, Resampling.bilinear)
        self.mask = source(bands.mask, Resampling.nearest)
        self.rules = landsat_quality_rules(scene, bands.mask or "")
        self.water_flag = (bands.mask or "").upper() == "QA_PIXEL"
        self.red_scaling = scaling(scene.asset(bands.red))[:2] if bands.red else (1.0, 0.0)
        self.nir_scaling = scaling(scene.asset(bands.nir))[:2] if bands.nir else (1.0, 0.0)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        assert self.thermal is not None
        shape_ = (int(window.height), int(window.width))
        valid = np.ones(shape_, np.bool_)
        water = np.zeros(shape_, np.bool_)
        if self.mask is not None:
            flags = self.mask.read(window)
            masks.reject_bits(flags, *self.rules, valid)
            if self.water_flag:
                water = (flags & QA_PIXEL_WATER) != 0
        thermal = self.thermal.read(window)
        red = self.red.read(window) if self.red is not None else None
        nir = self.nir.read(window) if self.nir is not None else None
        out = np.empty(shape_, np.float32)
        nodata = thermal.dtype.type(self.thermal.nodata)
        if self.bands.level == 2:
            scale, offset, _, _ = self.bands.constants
            lst_kernel.lst_level2(thermal, valid, scale, offset, nodata, out)
        else:
            assert red is not None and nir is not None and self.red and self.nir
            lst_kernel.lst_level1(
                thermal,
                red,
                nir,
                valid,
                *self.bands.constants,
                *self.red_scaling,
                *self.nir_scaling,
                nodata,
                red.dtype.type(self.red.nodata),
                nir.dtype.type(self.nir.nodata),
                out,
            )
        if not self.water_flag and red is not None and nir is not None:
            r = red * self.red_scaling[0] + self.red_scaling[1]
            n = nir * self.nir_scaling[0] + self.nir_scaling[1]
            water = n < r  # NDVI < 0
        return out, water & np.isfinite(out)


@dataclass(frozen=True)
class Options:
    ring_m: float
    min_area_m2: float
    hottest: int
    min_clear_share: float

    @classmethod
    def of(cls, inputs: dict[str, Any]) -> Options:
        return cls(
            inputs["ring_m"],
            inputs["hot_spot_min_area_m2"],
            inputs["hottest_per_summer"],
            inputs["min_clear_share"],
        )


def summer_of(when: datetime, south: bool) -> int:
    """The summer a date belongs to: its year, or south of the equator the year its July–June
    span ends in (the summer December–February in the middle)."""
    return (when + SUMMER_SHIFT_SOUTH).year if south else when.year


def choose_scenes(
    scenes: list[Scene], clear_share: np.ndarray, means: np.ndarray, options: Options, south: bool
) -> dict[int, list[int]]:
    """Per summer, the indexes of its hottest clear scenes (the clearest scene when none is
    clear, none when no scene sees the territories)."""
    clear = [
        i for i, share in enumerate(clear_share) if share > 0 and share >= options.min_clear_share
    ]
    if not clear and len(clear_share) and clear_share.max() > 0:
        clear = [int(np.argmax(clear_share))]
    by_summer: dict[int, list[int]] = defaultdict(list)
    for index in clear:
        by_summer[summer_of(scenes[index].datetime, south)].append(index)
    return {
        summer: sorted(indexes, key=lambda i: -means[i])[: options.hottest]
        for summer, indexes in sorted(by_summer.items())
    }


def mean_of(stack: np.ndarray) -> np.ndarray:
    """Per-cell mean of the finite values of scenes × rows × columns (NaN where none)."""
    finite = np.isfinite(stack)
    count = finite.sum(axis=0)
    total = np.where(finite, stack, 0.0).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def fill_gaps(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`values` where observed; elsewhere `reference` shifted by the mean difference over the
    cells both observe. A summer's clouds then do not change which cells its figures cover
    (a cloud over the town alone would drag its heat island down)."""
    both = np.isfinite(values) & np.isfinite(reference)
    if not both.any():
        return values
    offset = np.float32((values[both] - reference[both]).mean(dtype=np.float64))
    return np.where(np.isfinite(values), values, reference + offset)


def mean_within(values: np.ndarray, inside: np.ndarray) -> float | None:
    """Mean of the finite values of `inside` cells (None when there is none)."""
    chosen = values[inside & np.isfinite(values)]
    return float(chosen.mean(dtype=np.float64)) if chosen.size else None


def heat_island(
    temperature: np.ndarray, urban: np.ndarray, rural: np.ndarray, water: np.ndarray
) -> dict[str, Any]:
    """The SUHI figures of one territory: urban and rural-ring means and their difference."""
    land = np.isfinite(temperature) & ~water
    urban_mean, rural_mean = (
        mean_within(temperature, urban & land),
        mean_within(temperature, rural & land),
    )
    return {
        "suhi_c": None if urban_mean is None or rural_mean is None else urban_mean - rural_mean,
        "urban_mean_c": urban_mean,
        "rural_mean_c": rural_mean,
        "urban_cells": int(np.count_nonzero(urban & land)),
        "rural_cells": int(np.count_nonzero(rural & land)),
    }


def hot_spots(
    temperature: np.ndarray, inside: np.ndarray, threshold: float, grid: Grid, min_area_m2: float
) -> list[tuple[BaseGeometry, dict[str, Any]]]:
    """Polygons (grid CRS) of the 4-connected cells of `inside` hotter than `threshold`
    covering at least `min_area_m2`, largest first, with their figures."""
    hot = inside & np.isfinite(temperature) & (temperature > threshold)
    if not hot.any():
        return []
    polygons = [
        shape(geometry)
        for geometry, _ in outlines(
            hot.astype(np.uint8), mask=hot, connectivity=4, transform=grid.transform
        )
    ]
    polygons = [polygon for polygon in polygons if polygon.area >= min_area_m2]
    if not polygons:
        return []
    labels = rasterize(
        [(polygon, number) for number, polygon in enumerate(polygons, start=1)],
        out_shape=temperature.shape,
        transform=grid.transform,
        fill=0,
        dtype=np.int32,
    )
    labels[~hot] = 0
    cells = np.bincount(labels.ravel(), minlength=len(polygons) + 1)
    totals = np.bincount(
        labels[hot], weights=temperature[hot].astype(np.float64), minlength=len(polygons) + 1
    )
    highest = np.full(len(polygons) + 1, -np.inf)
    np.maximum.at(highest, labels[hot], temperature[hot])
    found = [
        (
            polygon,
            {
                "area_m2": round(polygon.area, 1),
                "cells": int(cells[number]),
                "mean_c": round(float(totals[number] / cells[number]), 3),
                "max_c": round(float(highest[number]), 3),
                "threshold_c": round(threshold, 3),
            },
        )
        for number, polygon in enumerate(polygons, start=1)
        if cells[number]
    ]
    found.sort(key=lambda spot: -spot[0].area)
    for rank, (_, properties) in enumerate(found, start=1):
        properties["rank"] = rank
    return found


class LandSurfaceTemperature(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("lst",)
    vector_outputs = ("lst-hot-spots",)
    statistics_indicator = "lst"
    kernels = (lst_kernel, masks)
    collections = (LANDSAT,)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "valid_share": 0.0,
        "suhi_c": None,
        "hot_spots": 0,
    }

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """The territorial checks, and a bound on what one sub-job holds: every scene's LST
        on its grid is kept in memory to choose each summer's scenes."""
        plan = await super().validate(inputs, connection)
        scenes = len(plan.inputs["scenes"])
        needed = plan.pixels / scenes / plan.parts * (BYTES_PER_CELL + 4 * scenes)
        if needed > MAX_JOB_BYTES:
            raise BadRequestError(
                f"the area and period need about {needed / 1e9:.1f} GB of memory for one job "
                f"(at most {MAX_JOB_BYTES / 1e9:.1f} GB): ask for territories (they are split "
                "into batches of communes), a smaller area or a shorter period"
            )
        return plan

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        for scene in scenes:
            ThermalBands.of(scene).check_crs(scene)
        hottest = number(inputs, "hottest_per_summer", HOTTEST_PER_SUMMER, 1, 16)
        if not hottest.is_integer():
            raise BadRequestError(
                f"input 'hottest_per_summer' must be a whole number, got {hottest}"
            )
        return {
            "ring_m": number(inputs, "ring_m", RING_M, 30, 20_000),
            "hot_spot_min_area_m2": number(
                inputs, "hot_spot_min_area_m2", HOT_SPOT_MIN_AREA_M2, 0, 1e8
            ),
            "hottest_per_summer": int(hottest),
            "min_clear_share": number(inputs, "min_clear_share", MIN_CLEAR_SHARE, 0, 1),
        }

    def resolution(self, scene: Scene) -> float:
        band = (scene.asset(ThermalBands.of(scene).thermal).get("raster:bands") or [{}])[0]
        return float(band.get("spatial_resolution") or scene.content["properties"].get("gsd", 30))

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        options = Options.of(job.inputs)
        bands = [ThermalBands.of(scene) for scene in scenes]
        with open_raster(scenes[0].raster(bands[0].thermal, guard)) as reference:
            crs, transform = reference.crs, reference.transform
        grid, shapes = output_grid(
            zones,
            scenes,
            crs,
            self.resolution(scenes[0]),
            (transform.c, transform.f),
            margin=options.ring_m,
        )
        temperatures = np.full((len(scenes), grid.height, grid.width), np.nan, np.float32)
        water = np.zeros((grid.height, grid.width), np.bool_)
        zone_ids = np.zeros((grid.height, grid.width), np.int32)

        with ExitStack() as stack:
            readers = await job.in_thread(
                lambda: [
                    ThermalReader(scene, scene_bands, grid, stack, guard)
                    for scene, scene_bands in zip(scenes, bands, strict=True)
                ]
            )

            def block(window: Window) -> None:
                cells = window.toslices()
                zone_ids[cells] = rasterised(shapes, grid, window)
                for index, reader in enumerate(readers):
                    values, wet = reader.read(window)
                    temperatures[index][cells] = values
                    water[cells] |= wet

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 60.0))

        south = shapely.union_all([zone.geometry for zone in zones]).centroid.y < 0
        period = Interval.parse(job.inputs["datetime"])
        figures, composite, features = await job.in_thread(
            self.analyse, zones, scenes, shapes, grid, temperatures, water, zone_ids, options,
            south, period,
        )  # fmt: skip
        await job.progress(75.0)
        path = job.scratch / "lst.tif"
        await job.in_thread(write_raster, path, grid, composite)
        return Computed(figures=figures, grid=grid, rasters={"lst": path}, features=features)

    def analyse(
        self,
        zones: list[Zone],
        scenes: list[Scene],
        shapes: list[tuple[BaseGeometry, int]],
        grid: Grid,
        temperatures: np.ndarray,
        water: np.ndarray,
        zone_ids: np.ndarray,
        options: Options,
        south: bool,
        period: Interval,
    ) -> tuple[list[dict[str, Any]], np.ndarray, list[Feature]]:
        """The figures of each zone, the LST raster and the hot spots, from every scene's LST
        on the grid."""
        in_zones = zone_ids > 0
        zone_cells = np.bincount(zone_ids.ravel(), minlength=len(zones) + 1)
        observed = np.isfinite(temperatures) & in_zones
        seen = observed.sum(axis=(1, 2))
        clear_share = seen / max(int(in_zones.sum()), 1)
        sums = np.where(observed, temperatures, 0.0).sum(axis=(1, 2), dtype=np.float64)
        means = np.divide(sums, seen, out=np.full(len(scenes), -np.inf), where=seen > 0)
        summers = choose_scenes(scenes, clear_share, means, options, south)
        kept = sorted(index for indexes in summers.values() for index in indexes)
        composite = mean_of(temperatures[kept]) if kept else temperatures[0] * np.nan
        by_summer = {
            summer: fill_gaps(mean_of(temperatures[indexes]), composite)
            for summer, indexes in summers.items()
        }

        statistics = ZonalAccumulator(len(zones), grid.pixels)
        statistics.add(composite, zone_ids, np.nan)
        figures = statistics.figures()
        features: list[Feature] = []
        whole = Window(0, 0, grid.width, grid.height)
        for (geometry, number_), zone, zone_figures in zip(shapes, zones, figures, strict=True):
            inside = zone_ids == number_
            ring = geometry.buffer(options.ring_m).difference(geometry)
            rural = (
                rasterised([(ring, 1)], grid, whole) == 1
                if not ring.is_empty
                else np.zeros_like(inside)
            )
            zone_figures["valid_share"] = (
                zone_figures["count"] / int(zone_cells[number_]) if zone_cells[number_] else 0.0
            )
            zone_figures |= heat_island(composite, inside, rural, water)
            spots = []
            if zone_figures["count"]:
                spots = hot_spots(composite, inside, zone_figures["p90"], grid, options.min_area_m2)
            zone_figures["hot_spots"] = len(spots)
            zone_figures["hot_spot_area_m2"] = round(sum(p["area_m2"] for _, p in spots), 1)
            zone_figures["scenes"] = [scenes[index].datetime.date().isoformat() for index in kept]
            zone_figures["summers"] = [
                {
                    "summer": summer,
                    "scenes": [scenes[index].datetime.date().isoformat() for index in indexes],
                    "mean_c": mean_within(by_summer[summer], inside),
                    "suhi_c": heat_island(by_summer[summer], inside, rural, water)["suhi_c"],
                }
                for summer, indexes in summers.items()
            ]
            zone_figures["definitions"] = {
                "suhi": suhi_definition(options.ring_m),
                "ring_m": options.ring_m,
                "hot_spots": "4-connected cells of the territory hotter than its p90, each at "
                f"least {options.min_area_m2:g} m²",
                "scenes": "per summer the mean of its "
                f"{options.hottest} hottest scenes observing at least "
                f"{options.min_clear_share:.0%} of the territories cloud-free",
                "summers": "a summer's cells under cloud in all its scenes take the LST of "
                "every summer's mean, shifted by the mean difference over the cells both observe",
            }
            features += [
                Feature(
                    indicator="lst-hot-spots",
                    geometry=in_lonlat(polygon, grid.crs),
                    properties=properties,
                    period=period,
                    territory=zone.code,
                )
                for polygon, properties in spots
            ]
        return figures, composite, features


def write_raster(path: Path, grid: Grid, values: np.ndarray, indicator: str = "lst") -> None:
    """A float raster held in memory (the LST by default), NaN written as the indicator's
    nodata."""
    nodata = INDICATORS[indicator].nodata
    output = Output(path, grid, "float32", nodata)
    try:
        for window in grid.windows():
            output.write(window, np.nan_to_num(values[window.toslices()], nan=nodata))
    finally:
        output.close()


PROCESS = LandSurfaceTemperature()
