"""`vegetation`: NDVI and fractional vegetation cover over territories, from Sentinel-2 L2A (or
Landsat Collection 2 L2 where Sentinel-2 has nothing), with the vegetated share per territory.

Several scenes in the period make a greenest-pixel composite (the highest NDVI of the valid
observations of each pixel), the usual way to see through clouds the masks missed.
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
from territoires.compute.kernels import lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import RunningJob
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
from territoires.compute.sources import Scene, Zone
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS

masks, spectral = lazy("masks"), lazy("spectral")

SENTINEL2 = "sentinel-2-l2a"
LANDSAT = "landsat-c2-l2"
RED = ("red",)
NIR = ("nir", "nir08")


PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "vegetation",
    "title": "Vegetation: NDVI and fractional cover",
    "description": "NDVI = (NIR − Red) / (NIR + Red) as a greenest-pixel composite of the "
    "cloud-free observations in the period, and fractional vegetation cover as the scaled NDVI "
    "(NDVI − 0.211) / (0.846 − 0.211) clipped to [0, 1], linear in a pixel's green share "
    "between the NDVI of bare soil and of full green cover (the soil, tree and herbaceous "
    "endmember spectra of the imperviousness unmixing), as COGs registered in the ndvi and "
    "vegetation-cover collections, with the vegetated share (mean cover) of each territory.",
    "keywords": ["vegetation", "NDVI", "Sentinel-2", "Landsat"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT,
        "collection": {
            "title": "Source collection",
            "description": "sentinel-2-l2a (10 m) or landsat-c2-l2 (30 m); by default "
            "Sentinel-2, else Landsat where Sentinel-2 has no scene in the period.",
            "schema": {"type": "string", "enum": [SENTINEL2, LANDSAT]},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "vegetated_share (mean cover), valid_share (share of the territory's "
            "pixels with a cloud-free observation), and NDVI and cover statistics.",
            "schema": {"type": "object"},
        },
    },
    "example": {
        "inputs": {"territory": "17300", "datetime": "2023-06-01/2023-08-31"},
    },
}


@dataclass(frozen=True)
class Bands:
    """Where a scene's red, NIR and quality mask are, and how to read them; `red` and `nir`
    are the low and high bands of any normalised difference (NIR − red) / (NIR + red)."""

    red: str
    nir: str
    mask: str | None

    @classmethod
    def of(cls, scene: Scene, low: tuple[str, ...] = RED, high: tuple[str, ...] = NIR) -> Bands:
        assets = scene.content.get("assets", {})
        red = by_common_name(assets, low)
        nir = by_common_name(assets, high)
        if red is None or nir is None:
            raise BadRequestError(
                f"scene {scene.id} of {scene.collection} has no {low[0]} and {high[0]} bands "
                f"(eo:bands common names {'/'.join(low)} and {'/'.join(high)})"
            )
        return cls(red, nir, quality_asset(scene))


class SceneReader:
    """A scene's red, NIR and mask on the output grid, for one block at a time (other bands
    of a normalised difference when given `bands`; averaged onto a coarser grid when given
    `resampling`, so that each output pixel mixes the ground it covers)."""

    def __init__(
        self,
        scene: Scene,
        grid: Grid,
        stack: ExitStack,
        guard: AssetGuard,
        bands: Bands | None = None,
        resampling: Resampling = Resampling.bilinear,
    ) -> None:
        bands = bands or Bands.of(scene)
        red_asset, nir_asset = scene.asset(bands.red), scene.asset(bands.nir)
        self.red = opened(stack, Source(scene.raster(bands.red, guard), grid, resampling))
        self.nir = opened(stack, Source(scene.raster(bands.nir, guard), grid, resampling))
        self.red_scale, self.red_offset, _ = scaling(red_asset)
        self.nir_scale, self.nir_offset, _ = scaling(nir_asset)
        self.mask = (
            opened(stack, Source(scene.raster(bands.mask, guard), grid, Resampling.nearest))
            if bands.mask
            else None
        )
        self.mask_kind = bands.mask.upper() if bands.mask else None
        self.scl_table = masks.class_table(masks.SCL_REJECTED)
        self.qa_masks, self.qa_values = landsat_quality_rules(scene, self.mask_kind or "")

    def fold(self, window: Window, composite: np.ndarray) -> None:
        """Folds this scene's valid NDVI into the block's composite."""
        red, nir = self.red.read(window), self.nir.read(window)
        valid = np.ones(composite.shape, np.bool_)
        if self.mask is not None:
            flags = self.mask.read(window)
            if self.mask_kind == "SCL":
                masks.reject_classes(flags, self.scl_table, valid)
            else:
                masks.reject_bits(flags, self.qa_masks, self.qa_values, valid)
        spectral.greenest_ndvi(
            red,
            nir,
            valid,
            self.red_scale,
            self.red_offset,
            self.nir_scale,
            self.nir_offset,
            red.dtype.type(self.red.nodata),
            nir.dtype.type(self.nir.nodata),
            composite,
        )


class Vegetation(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("ndvi", "vegetation-cover")
    statistics_indicator = "vegetation-cover"
    kernels = (spectral, masks)
    collections = (SENTINEL2, LANDSAT)
    no_data_figures: ClassVar[dict[str, Any]] = {"vegetated_share": None, "valid_share": 0.0}

    async def searched_collections(self, inputs: dict[str, Any], connection: Any) -> list[str]:
        chosen = text(inputs, "collection")
        if chosen is None:
            return list(self.collections)
        if chosen not in self.collections:
            raise BadRequestError(
                f"input 'collection' must be one of {', '.join(self.collections)}, got {chosen!r}"
            )
        return [chosen]

    def resolution(self, scene: Scene) -> float:
        band = (scene.asset(Bands.of(scene).red).get("raster:bands") or [{}])[0]
        return float(band.get("spatial_resolution") or scene.content["properties"].get("gsd", 10))

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        with open_raster(scenes[0].raster(Bands.of(scenes[0]).red, guard)) as reference:
            crs, transform = reference.crs, reference.transform
        grid, shapes = output_grid(
            zones, scenes, crs, self.resolution(scenes[0]), (transform.c, transform.f)
        )
        ndvi_indicator, cover_indicator = INDICATORS["ndvi"], INDICATORS["vegetation-cover"]
        paths = {name: job.scratch / f"{name}.tif" for name in self.raster_outputs}
        ndvi_figures = ZonalAccumulator(len(zones), grid.pixels)
        cover_figures = ZonalAccumulator(len(zones), grid.pixels)
        zone_pixels = np.zeros(len(zones) + 1, np.int64)

        with ExitStack() as stack:
            readers = await job.in_thread(
                lambda: [SceneReader(s, grid, stack, guard) for s in scenes]
            )
            ndvi_out = Output(paths["ndvi"], grid, "float32", ndvi_indicator.nodata)
            cover_out = Output(paths["vegetation-cover"], grid, "float32", cover_indicator.nodata)
            stack.callback(ndvi_out.close)
            stack.callback(cover_out.close)

            def block(window: Window) -> None:
                shape = (int(window.height), int(window.width))
                composite = np.full(shape, np.nan, np.float32)
                for reader in readers:
                    reader.fold(window, composite)
                zones_block = zone_raster(shapes, grid, window)
                zone_pixels[:] += np.bincount(zones_block.ravel(), minlength=len(zones) + 1)
                composite[zones_block == 0] = np.nan
                cover = np.empty(shape, np.float32)
                spectral.vegetation_cover(
                    composite, spectral.COVER_NDVI_SOIL, spectral.COVER_NDVI_VEGETATION, cover
                )
                ndvi_figures.add(composite, zones_block, np.nan)
                cover_figures.add(cover, zones_block, np.nan)
                ndvi_out.write(window, np.nan_to_num(composite, nan=ndvi_indicator.nodata))
                cover_out.write(window, np.nan_to_num(cover, nan=cover_indicator.nodata))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 80.0))

        ndvi_stats = ndvi_figures.figures()
        cover_stats = cover_figures.figures()
        figures = [
            {
                "vegetated_share": cover.get("mean"),
                "valid_share": ndvi["count"] / int(zone_pixels[number])
                if zone_pixels[number]
                else 0.0,
                "ndvi": ndvi,
                "cover": cover,
            }
            for number, (ndvi, cover) in enumerate(zip(ndvi_stats, cover_stats, strict=True), 1)
        ]
        return Computed(figures=figures, grid=grid, rasters=paths)


PROCESS = Vegetation()
