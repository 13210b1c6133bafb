"""`imperviousness`: the sealed (impervious) share of each 10 m cell from Sentinel-2 L2A, by
linear spectral unmixing against water, trees, herbaceous plants, bare soil, roofs and asphalt
(`kernels/unmixing.py`), with the sealed area and share of each territory — the figures a
commune tracks under the net-zero land-take law (ZAN).

Each cloud-free observation of a cell (SCL: no cloud, shadow, cirrus or no data) is unmixed on
its own and the cell's share is the mean over the period's scenes: sealing changes slowly, and
the mean of several dates damps the sensor noise each fit carries. The 20 m SWIR bands are
resampled bilinearly onto the 10 m grid of the visible and NIR bands.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from territoires.compute.blocks import (
    Grid,
    Output,
    Source,
    for_each_block,
    open_raster,
    zone_raster,
)
from territoires.compute.inputs import text
from territoires.compute.kernels import endmembers, lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import RunningJob
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
)
from territoires.compute.readers import by_common_name, opened, quality_asset, scaling
from territoires.compute.sources import Scene, Zone
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS

masks, unmixing = lazy("masks"), lazy("unmixing")

SENTINEL2 = "sentinel-2-l2a"
CLOUDY_PERCENT = 99.9
"""A scene whose eo:cloud_cover reaches this shows no ground worth unmixing."""
NO_OBSERVATION = (
    "no cloud-free observation of the territory in the period's scenes (every cell is masked "
    "as cloud, cloud shadow, cirrus or no data in the scene classification)"
)

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "imperviousness",
    "title": "Sealed soil (imperviousness)",
    "description": "Sealed share of each 10 m cell (0–100 %) from Sentinel-2 L2A by linear "
    "spectral unmixing: each cloud-free cell's reflectance in blue, green, red, NIR, SWIR1 and "
    "SWIR2 is fitted as a non-negative mix of water, trees, herbaceous plants, bare soil, roofs "
    "and asphalt endmembers (water only where MNDWI > 0), the abundances normalised to sum to "
    "one; sealed = roofs + asphalt, averaged over the period's cloud-free scenes. A COG in the "
    "imperviousness collection, with each territory's sealed area (ha) and share.",
    "keywords": ["imperviousness", "sealed soil", "ZAN", "land take", "Sentinel-2", "unmixing"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT,
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
            "description": "sealed_share (0–1, mean over the observed cells), sealed_area_ha "
            "(sealed_share × the territory's area in the scenes), area_ha, observed_area_ha, "
            "valid_share, the statistics of the sealed percent, and `reason` when no cell was "
            "observed.",
            "schema": {"type": "object"},
        },
    },
    "example": {
        "inputs": {"territory": "17300", "datetime": "2021-06-01/2023-08-31"},
    },
}


@dataclass(frozen=True)
class Bands:
    """Where a scene's six unmixed bands and its scene classification are."""

    keys: tuple[str, ...]
    mask: str | None

    @classmethod
    def of(cls, scene: Scene) -> Bands:
        assets = scene.content.get("assets", {})
        keys = [by_common_name(assets, (name,)) for name in endmembers.BANDS]
        missing = [name for name, key in zip(endmembers.BANDS, keys, strict=True) if key is None]
        if missing:
            raise BadRequestError(
                f"scene {scene.id} of {scene.collection} lacks the bands {', '.join(missing)} "
                f"(eo:bands common names); unmixing needs {', '.join(endmembers.BANDS)}"
            )
        return cls(tuple(key for key in keys if key is not None), quality_asset(scene))


class SceneReader:
    """A scene's six bands and SCL mask on the output grid, folded a block at a time."""

    def __init__(self, scene: Scene, grid: Grid, stack: ExitStack, guard: AssetGuard) -> None:
        bands = Bands.of(scene)
        self.sources = [
            opened(stack, Source(scene.raster(key, guard), grid, Resampling.bilinear))
            for key in bands.keys
        ]
        scalings = [scaling(scene.asset(key)) for key in bands.keys]
        self.scales = np.array([scale for scale, _, _ in scalings], np.float64)
        self.offsets = np.array([offset for _, offset, _ in scalings], np.float64)
        self.nodata = np.array([source.nodata for source in self.sources], np.float64)
        self.mask = (
            opened(stack, Source(scene.raster(bands.mask, guard), grid, Resampling.nearest))
            if bands.mask
            else None
        )
        self.scl_table = masks.class_table(masks.SCL_REJECTED)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """The block's six bands (digital numbers) and where the SCL keeps the cell."""
        bands = np.stack([source.read(window) for source in self.sources])
        valid = np.ones(bands.shape[1:], np.bool_)
        if self.mask is not None:
            masks.reject_classes(self.mask.read(window), self.scl_table, valid)
        return bands, valid

    def fold(self, window: Window, tables: Tables, sums: np.ndarray, counts: np.ndarray) -> None:
        """Adds this scene's sealed share of the block's cloud-free cells."""
        bands, valid = self.read(window)
        unmixing.fold_sealed(
            bands, valid, self.scales, self.offsets, self.nodata, tables.solvers, tables.members,
            tables.endmembers, tables.weights, unmixing.WATER, unmixing.MAX_RESIDUAL, sums, counts,
        )  # fmt: skip


@dataclass(frozen=True)
class Tables:
    """The unmixing's endmembers and per-subset solvers, computed once per job."""

    endmembers: np.ndarray
    weights: np.ndarray
    solvers: np.ndarray
    members: np.ndarray

    @classmethod
    def make(cls) -> Tables:
        endmembers = unmixing.endmember_matrix()
        solvers, members = unmixing.subset_solvers(endmembers)
        return cls(endmembers, unmixing.sealed_weights(), solvers, members)


class Imperviousness(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("imperviousness",)
    statistics_indicator = "imperviousness"
    kernels = (unmixing, masks)
    collections = (SENTINEL2,)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "sealed_share": None,
        "sealed_area_ha": None,
        "valid_share": 0.0,
        "reason": "no scene of the period covers the territory",
    }

    async def searched_collections(self, inputs: dict[str, Any], connection: Any) -> list[str]:
        chosen = text(inputs, "collection")
        return [chosen] if chosen else list(self.collections)

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        """Checks the scenes have the bands unmixing needs, and are not all cloud."""
        check_unmixable(scenes)
        return {}

    def resolution(self, scene: Scene) -> float:
        key = Bands.of(scene).keys[endmembers.BANDS.index("red")]
        band = (scene.asset(key).get("raster:bands") or [{}])[0]
        return float(band.get("spatial_resolution") or scene.content["properties"].get("gsd", 10))

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        red = Bands.of(scenes[0]).keys[endmembers.BANDS.index("red")]
        with open_raster(scenes[0].raster(red, guard)) as reference:
            crs, transform = reference.crs, reference.transform
        grid, shapes = output_grid(
            zones, scenes, crs, self.resolution(scenes[0]), (transform.c, transform.f)
        )
        indicator = INDICATORS["imperviousness"]
        path = job.scratch / "imperviousness.tif"
        statistics = ZonalAccumulator(len(zones), grid.pixels)
        zone_pixels = np.zeros(len(zones) + 1, np.int64)
        tables = Tables.make()

        with ExitStack() as stack:
            readers = await job.in_thread(
                lambda: [SceneReader(s, grid, stack, guard) for s in scenes]
            )
            output = Output(path, grid, "float32", indicator.nodata)
            stack.callback(output.close)

            def block(window: Window) -> None:
                shape = (int(window.height), int(window.width))
                sums = np.zeros(shape, np.float32)
                counts = np.zeros(shape, np.uint16)
                for reader in readers:
                    reader.fold(window, tables, sums, counts)
                sealed = np.full(shape, np.nan, np.float32)
                np.divide(sums, counts, out=sealed, where=counts > 0)
                zones_block = zone_raster(shapes, grid, window)
                zone_pixels[:] += np.bincount(zones_block.ravel(), minlength=len(zones) + 1)
                sealed[zones_block == 0] = np.nan
                statistics.add(sealed, zones_block, np.nan)
                output.write(window, np.nan_to_num(sealed, nan=indicator.nodata))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 80.0))

        cell_ha = grid.resolution * grid.resolution / 10_000.0
        figures = [
            territory_figures(zone_figures, int(zone_pixels[number]), cell_ha)
            for number, zone_figures in enumerate(statistics.figures(), start=1)
        ]
        return Computed(figures=figures, grid=grid, rasters={"imperviousness": path})


def check_unmixable(scenes: list[Scene]) -> None:
    """A 400 when a scene lacks a band unmixing needs, or every scene is cloud."""
    for scene in scenes:
        Bands.of(scene)
    covers = [scene.content["properties"].get("eo:cloud_cover") for scene in scenes]
    if all(cover is not None and cover >= CLOUDY_PERCENT for cover in covers):
        listed = ", ".join(
            f"{scene.id} ({cover:g} %)" for scene, cover in zip(scenes, covers, strict=True)
        )
        raise BadRequestError(
            f"every scene found in the period is cloud (eo:cloud_cover): {listed}; ask for "
            "a longer period or another season"
        )


def territory_figures(percent: dict[str, Any], cells: int, cell_ha: float) -> dict[str, Any]:
    """A territory's sealed share and area from the statistics of its observed cells' sealed
    percent: the unobserved cells (clouds) are taken to be sealed like the observed ones."""
    area_ha = cells * cell_ha
    figures: dict[str, Any] = {
        "area_ha": round(area_ha, 2),
        "observed_area_ha": round(percent["count"] * cell_ha, 2),
        "valid_share": percent["count"] / cells if cells else 0.0,
        "sealed_percent": percent,
        "definitions": {
            "sealed_share": "mean sealed fraction of the territory's cloud-free cells",
            "sealed_area_ha": "sealed_share × area_ha (the territory's cells in the scenes)",
        },
    }
    if not percent["count"]:
        return figures | {"sealed_share": None, "sealed_area_ha": None, "reason": NO_OBSERVATION}
    share = percent["mean"] / 100.0
    return figures | {"sealed_share": share, "sealed_area_ha": round(share * area_ha, 2)}


PROCESS = Imperviousness()
