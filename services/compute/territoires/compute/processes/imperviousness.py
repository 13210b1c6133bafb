"""`imperviousness`: the sealed (impervious) share of each 10 m cell from Sentinel-2 L2A, by
linear spectral unmixing against water, trees, herbaceous plants, bare soil, roofs and asphalt
(`kernels/unmixing.py`), with the sealed area and share of each territory — the figures a
commune tracks under the net-zero land-take law (ZAN).

Each cloud-free observation of a cell (SCL: no cloud, shadow, cirrus or no data) is unmixed on
its own and the cell's share is the mean over the period's scenes: sealing changes slowly, and
the mean of several dates damps the sensor noise each fit carries. The 20 m SWIR bands are
resampled bilinearly onto the 10 m grid of the visible and NIR bands.

A partner who holds an imperviousness density layer (Copernicus HRL Imperviousness Density:
sealed percent per cell, 254 unclassifiable, 255 outside) names its collection as `density`:
the sealed share is then read from its newest item up to the period's end instead of unmixed,
on the layer's own grid when it is projected, else averaged onto the territory's UTM grid.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import (
    Grid,
    Output,
    Source,
    for_each_block,
    open_raster,
    zone_raster,
)
from territoires.compute.inputs import Interval, text
from territoires.compute.kernels import endmembers, lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import RunningJob
from territoires.compute.processes.flood_extent import EARLIEST, layer_asset, utm_crs
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
)
from territoires.compute.readers import by_common_name, opened, quality_asset, scaling
from territoires.compute.sources import Scene, Zone, find_scenes
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS

masks, unmixing = lazy("masks"), lazy("unmixing")

SENTINEL2 = "sentinel-2-l2a"
CLOUDY_PERCENT = 99.9
"""A scene whose eo:cloud_cover reaches this shows no ground worth unmixing."""
DENSITY_RESOLUTION_M = 10.0
"""The grid a density layer in degrees is averaged onto (HRL Imperviousness Density's 10 m)."""
DENSITY_MAX_PERCENT = 100
"""Above it a density layer's codes say unclassifiable (254) or outside (255), not a share."""
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
        "density": {
            "title": "Imperviousness density layer",
            "description": "A catalogued collection of imperviousness density rasters "
            "(Copernicus HRL Imperviousness Density: sealed percent 0–100 per cell, 254 "
            "unclassifiable, 255 outside) to take the sealed share from instead of unmixing "
            "Sentinel-2: its newest item up to the period's end that covers the area, read on "
            "its own grid when projected, else averaged onto the area's UTM zone at 10 m.",
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
            "valid_share, the statistics of the sealed percent, `source` (the density layer "
            "read, when one was given) and `reason` when no cell was observed.",
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

    def fold(self, window: Window, folds: list[tuple[Tables, np.ndarray, np.ndarray]]) -> None:
        """Adds this scene's share of the block's cloud-free cells to each (tables, sums,
        counts): the sealed share, or another group of endmembers' by the tables' weights, the
        bands read once for all."""
        bands, valid = self.read(window)
        for tables, sums, counts in folds:
            unmixing.fold_sealed(
                bands, valid, self.scales, self.offsets, self.nodata, tables.solvers,
                tables.members, tables.endmembers, tables.weights, unmixing.WATER,
                unmixing.MAX_RESIDUAL, sums, counts,
            )  # fmt: skip


@dataclass(frozen=True)
class Tables:
    """The unmixing's endmembers and per-subset solvers, computed once per job."""

    endmembers: np.ndarray
    weights: np.ndarray
    solvers: np.ndarray
    members: np.ndarray

    @classmethod
    def make(cls, weights: np.ndarray | None = None) -> Tables:
        """The tables of the share of the endmembers `weights` marks (the sealed ones by
        default)."""
        endmembers = unmixing.endmember_matrix()
        solvers, members = unmixing.subset_solvers(endmembers)
        chosen = unmixing.sealed_weights() if weights is None else weights
        return cls(endmembers, chosen, solvers, members)


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
        density = text(inputs, "density")
        return [density] if density else await super().searched_collections(inputs, connection)

    async def candidate_scenes(
        self,
        inputs: dict[str, Any],
        connection: AsyncConnection,
        collections: list[str],
        area: BaseGeometry,
        period: Interval,
    ) -> list[Scene]:
        """A density layer's newest item up to the period's end (layers are made every few
        years); else the period's scenes."""
        if text(inputs, "density"):
            until = Interval(EARLIEST, period.end)
            return await find_scenes(connection, collections, area, until, limit=1)
        return await super().candidate_scenes(inputs, connection, collections, area, period)

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        """Checks the scenes have the bands unmixing needs, and are not all cloud."""
        if text(inputs, "density"):
            layer = scenes[0]
            if layer_asset(layer) not in layer.content.get("assets", {}):
                raise BadRequestError(
                    f"input 'density': item {layer.id} of {layer.collection} is not a "
                    "single-layer raster (a `data` asset, or one asset), as a density layer is"
                )
            return {"density": True}
        check_unmixable(scenes)
        return {}

    def resolution(self, scene: Scene) -> float:
        return scene_resolution(scene)

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        sealed_of: SealedSource = (
            DensityLayer(scenes[0], guard) if job.inputs.get("density") else Unmixed(scenes, guard)
        )
        crs, resolution, anchor = await job.in_thread(sealed_of.frame, zones)
        grid, shapes = output_grid(zones, scenes, crs, resolution, anchor)
        indicator = INDICATORS["imperviousness"]
        path = job.scratch / "imperviousness.tif"
        statistics = ZonalAccumulator(len(zones), grid.pixels)
        zone_pixels = np.zeros(len(zones) + 1, np.int64)

        with ExitStack() as stack:
            await job.in_thread(sealed_of.open, grid, stack)
            output = Output(path, grid, "float32", indicator.nodata)
            stack.callback(output.close)

            def block(window: Window) -> None:
                sealed = sealed_of.read(window)
                zones_block = zone_raster(shapes, grid, window)
                zone_pixels[:] += np.bincount(zones_block.ravel(), minlength=len(zones) + 1)
                sealed[zones_block == 0] = np.nan
                statistics.add(sealed, zones_block, np.nan)
                output.write(window, np.nan_to_num(sealed, nan=indicator.nodata))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 80.0))

        cell_ha = grid.resolution * grid.resolution / 10_000.0
        figures = [
            territory_figures(zone_figures, int(zone_pixels[number]), cell_ha)
            | sealed_of.described()
            for number, zone_figures in enumerate(statistics.figures(), start=1)
        ]
        return Computed(figures=figures, grid=grid, rasters={"imperviousness": path})


class SealedSource(Protocol):
    """Where a job's sealed percent comes from, block by block (NaN where unobserved)."""

    def frame(self, zones: list[Zone]) -> tuple[CRS, float, tuple[float, float]]:
        """The output grid's CRS, cell size and lattice anchor."""
        ...

    def open(self, grid: Grid, stack: ExitStack) -> None: ...

    def read(self, window: Window) -> np.ndarray: ...

    def described(self) -> dict[str, Any]:
        """What the figures say of the source."""
        ...


class Unmixed:
    """The period's Sentinel-2 scenes unmixed, each cell the mean of its clear observations."""

    def __init__(
        self, scenes: list[Scene], guard: AssetGuard, groups: list[np.ndarray] | None = None
    ) -> None:
        """`groups`: the endmember weights of each share `shares` gives (the sealed one
        alone by default)."""
        self.scenes, self.guard = scenes, guard
        self.readers: list[SceneReader] = []
        self.tables = [Tables.make(weights) for weights in groups or [None]]

    def frame(self, zones: list[Zone]) -> tuple[CRS, float, tuple[float, float]]:
        return optical_frame(self.scenes[0], self.guard)

    def open(self, grid: Grid, stack: ExitStack) -> None:
        self.readers = [SceneReader(s, grid, stack, self.guard) for s in self.scenes]

    def read(self, window: Window) -> np.ndarray:
        return self.shares(window)[0]

    def shares(self, window: Window) -> list[np.ndarray]:
        """Each group's percent of the block's cells, the mean over their clear observations
        (NaN where none)."""
        shape = (int(window.height), int(window.width))
        folds = [
            (tables, np.zeros(shape, np.float32), np.zeros(shape, np.uint16))
            for tables in self.tables
        ]
        for reader in self.readers:
            reader.fold(window, folds)
        found = []
        for _, sums, counts in folds:
            share = np.full(shape, np.nan, np.float32)
            np.divide(sums, counts, out=share, where=counts > 0)
            found.append(share)
        return found

    def described(self) -> dict[str, Any]:
        return {}


class DensityLayer:
    """A catalogued imperviousness density raster (HRL-like), read rather than unmixed."""

    def __init__(self, scene: Scene, guard: AssetGuard) -> None:
        self.scene = scene
        self.raster = scene.raster(layer_asset(scene), guard)
        self.source: Source | None = None

    def frame(self, zones: list[Zone]) -> tuple[CRS, float, tuple[float, float]]:
        """The layer's own grid when it is projected; in degrees (or without a CRS), the
        zones' UTM zone at 10 m, the layer averaged onto it."""
        with open_raster(self.raster) as dataset:
            crs, transform = dataset.crs, dataset.transform
        if crs is None or not crs.is_projected:
            return utm_crs(zones), DENSITY_RESOLUTION_M, (0.0, 0.0)
        return crs, abs(transform.a), (transform.c, transform.f)

    def open(self, grid: Grid, stack: ExitStack) -> None:
        self.source = opened(stack, Source(self.raster, grid, Resampling.average))

    def read(self, window: Window) -> np.ndarray:
        assert self.source is not None
        values = self.source.read(window).astype(np.float32)
        known = np.isfinite(values) & (values >= 0) & (values <= DENSITY_MAX_PERCENT)
        if self.source.nodata is not None:
            known &= values != self.source.nodata
        return np.where(known, values, np.float32(np.nan))

    def described(self) -> dict[str, Any]:
        return {"source": f"imperviousness density layer {self.scene.collection}/{self.scene.id}"}


def optical_frame(scene: Scene, guard: AssetGuard) -> tuple[CRS, float, tuple[float, float]]:
    """The grid a Sentinel-2 scene's outputs are made on: its 10 m bands' CRS, cell size and
    lattice anchor."""
    red = Bands.of(scene).keys[endmembers.BANDS.index("red")]
    with open_raster(scene.raster(red, guard)) as reference:
        crs, transform = reference.crs, reference.transform
    return crs, scene_resolution(scene), (transform.c, transform.f)


def scene_resolution(scene: Scene) -> float:
    """Cell size of a Sentinel-2 scene's 10 m bands, or of a density layer's grid."""
    properties = scene.content["properties"]
    if by_common_name(scene.content.get("assets", {}), ("red",)) is None:  # a density layer
        return abs(float((properties.get("proj:transform") or [DENSITY_RESOLUTION_M])[0]))
    key = Bands.of(scene).keys[endmembers.BANDS.index("red")]
    band = (scene.asset(key).get("raster:bands") or [{}])[0]
    return float(band.get("spatial_resolution") or properties.get("gsd", 10))


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
