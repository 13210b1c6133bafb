"""A toy indicator plug-in, as a partner team would write one: its registry entries, its
kernel and its process — nothing else of the platform is touched. Loaded by naming this module
in TERRITOIRES_PLUGINS.

`toy-brightness` is the red reflectance clipped to [0, 1]; `toy-bright-spots` are the outlines
of each territory's pixels brighter than its 90th percentile.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from typing import Any, ClassVar

import numpy as np
import shapely
from numba import njit, prange
from rasterio.enums import Resampling
from rasterio.features import shapes as outlines
from rasterio.warp import transform_geom
from rasterio.windows import Window

from territoires.compute.blocks import Output, Source, for_each_block, open_raster, zone_raster
from territoires.compute.inputs import Interval
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import RunningJob
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
)
from territoires.compute.results import Feature
from territoires.compute.sources import Scene, Zone
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.indicators import Indicator, LegendEntry, register

BRIGHTNESS = register(
    Indicator(
        id="toy-brightness",
        title="Toy brightness",
        description="Red reflectance clipped to [0, 1].",
        unit="1",
        kind="continuous",
        value_range=(0.0, 1.0),
        legend=(LegendEntry(0.0, "#000000", "dark"), LegendEntry(0.3, "#ffffff", "bright")),
        process="toy",
    )
)
SPOTS = register(
    Indicator(
        id="toy-bright-spots",
        title="Toy bright spots",
        description="Pixels brighter than their territory's 90th percentile.",
        unit="m2",
        kind="continuous",
        value_range=(0.0, 1e7),
        legend=(LegendEntry(0.0, "#ffffcc", "small"), LegendEntry(1e6, "#bd0026", "large")),
        process="toy",
        form="vector",
        geometry_type="Polygon",
        colour_by="area_m2",
    )
)


@njit(parallel=True, cache=True)
def brightness(red: np.ndarray, scale: float, offset: float, nodata: int, out: np.ndarray) -> None:
    for row in prange(red.shape[0]):
        for column in range(red.shape[1]):
            value = red[row, column]
            if value == nodata:
                out[row, column] = np.nan
            else:
                out[row, column] = min(1.0, max(0.0, value * scale + offset))


def warm_up() -> None:
    brightness(np.ones((2, 2), np.uint16), 1.0, 0.0, 0, np.empty((2, 2), np.float32))


class Toy(TerritorialProcess):
    metadata: ClassVar[dict[str, Any]] = {
        "version": "0.1.0",
        "id": "toy",
        "title": "Toy brightness",
        "description": "A plug-in's process: brightness and its bright spots.",
        "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
        "outputTransmission": ["value", "reference"],
        "links": [],
        "inputs": {"territory": TERRITORY_INPUT, "datetime": DATETIME_INPUT},
    }
    raster_outputs = ("toy-brightness",)
    vector_outputs = ("toy-bright-spots",)
    statistics_indicator = "toy-brightness"
    kernels = (sys.modules[__name__],)
    collections = ("sentinel-2-l2a",)

    def resolution(self, scene: Scene) -> float:
        return 10.0

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        red = scenes[0].raster("B04", guard)
        band = scenes[0].asset("B04")["raster:bands"][0]
        with open_raster(red) as reference:
            crs, transform = reference.crs, reference.transform
        grid, zone_shapes = output_grid(zones, scenes, crs, 10.0, (transform.c, transform.f))
        path = job.scratch / "toy-brightness.tif"
        figures = ZonalAccumulator(len(zones), grid.pixels)
        whole = np.full((grid.height, grid.width), np.nan, np.float32)
        with ExitStack() as stack:
            source = Source(red, grid, Resampling.nearest)
            stack.callback(source.close)
            out = Output(path, grid, "float32", BRIGHTNESS.nodata)
            stack.callback(out.close)

            def block(window: Window) -> None:
                values = np.empty((int(window.height), int(window.width)), np.float32)
                brightness(
                    source.read(window), band["scale"], band["offset"], band["nodata"], values
                )
                zones_block = zone_raster(zone_shapes, grid, window)
                values[zones_block == 0] = np.nan
                figures.add(values, zones_block, np.nan)
                whole[window.toslices()] = values
                out.write(window, np.nan_to_num(values, nan=BRIGHTNESS.nodata))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 80.0))
        period = Interval.parse(job.inputs["datetime"])
        spots = []
        for zone, number in zone_shapes:
            inside = zone_raster([(zone, number)], grid, Window(0, 0, grid.width, grid.height))
            values = np.where(inside == number, whole, np.nan)
            if np.isnan(values).all():
                continue
            bright = values > np.nanpercentile(values, 90)
            for geometry, _ in outlines(
                bright.astype(np.uint8), mask=bright, transform=grid.transform
            ):
                area = shapely.geometry.shape(geometry).area
                lonlat = transform_geom(grid.crs, "EPSG:4326", geometry)
                spots.append(
                    Feature(
                        indicator=SPOTS.id,
                        geometry=shapely.geometry.shape(lonlat),
                        properties={"area_m2": area},
                        period=period,
                        territory=zones[number - 1].code,
                    )
                )
        return Computed(
            figures=figures.figures(), grid=grid, rasters={BRIGHTNESS.id: path}, features=spots
        )


PROCESS = Toy()
