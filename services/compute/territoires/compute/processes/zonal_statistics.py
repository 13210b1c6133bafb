"""`zonal-statistics`: any catalogued raster over territories — count, mean, min, max, std,
p10/p50/p90 and, for categorical rasters, the share of each class — as indicator-statistics rows.

Pixels belong to a territory when their centre is inside it (GDAL's rasterisation rule, the one
rasterstats uses); the raster is read on its own grid, so values are the stored ones. When
several items are found, the newest value of each pixel is used (a mosaic, newest on top).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from contextlib import ExitStack
from typing import Any, ClassVar

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import (
    Grid,
    Raster,
    Source,
    for_each_block,
    in_thread,
    open_raster,
    zone_raster,
)
from territoires.compute.inputs import flag, text
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
from territoires.compute.sources import Scene, Zone
from territoires.compute.statistics import ZonalAccumulator
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS
from territoires.shared.models import Collection

zonal = lazy("zonal")

INDICATOR_MAX = 64

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "zonal-statistics",
    "title": "Zonal statistics of a catalogued raster",
    "description": "Count, mean, min, max, standard deviation, 10th/50th/90th percentiles and "
    "(for categorical rasters) class shares of a catalogued raster over each territory, by the "
    "pixel-centre rule, written to indicator-statistics.",
    "keywords": ["statistics", "territories", "zonal"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT,
        "collection": {
            "title": "Collection",
            "description": "Any catalogued collection: a result (ndvi, lst, lcz, …) or a "
            "source product (sentinel-2-l2a, …).",
            "schema": {"type": "string"},
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "asset": {
            "title": "Asset",
            "description": "The asset (band) to summarise; by default the one named after the "
            "collection, else `data`, else the only raster asset.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "classes": {
            "title": "Class shares",
            "description": "Report the share of each distinct value (true by default for "
            "categorical indicators such as lcz and flood-extent).",
            "schema": {"type": "boolean"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "example": {
        "inputs": {"territory": "17300", "collection": "ndvi", "datetime": "2023-01-01/2023-12-31"}
    },
}

Progress = Callable[[float], Awaitable[None]]


def raster_asset(scene: Scene, asset: str | None) -> str:
    """The asset to summarise: the one asked for, else the collection's, `data`, or the only
    raster; BadRequestError listing the choices when it is ambiguous or absent."""
    assets = scene.content.get("assets", {})
    rasters = [k for k, a in assets.items() if "tiff" in str(a.get("type", "image/tiff")).lower()]
    if asset is not None:
        if asset not in assets:
            raise BadRequestError(
                f"input 'asset': {scene.id} has no asset {asset!r}; it has {', '.join(assets)}"
            )
        return asset
    for key in (scene.collection, "data"):
        if key in rasters:
            return key
    if len(rasters) == 1:
        return rasters[0]
    raise BadRequestError(
        f"input 'asset' is needed: items of {scene.collection} have several rasters "
        f"({', '.join(rasters)})"
    )


def indicator_name(collection: str, asset: str) -> str:
    """The statistics rows' indicator: the collection for a result collection, else
    collection:asset."""
    name = (
        collection if collection == asset or collection in INDICATORS else f"{collection}:{asset}"
    )
    return name[:INDICATOR_MAX]


async def zonal_figures(
    rasters: list[Raster],
    shapes: list[tuple[BaseGeometry, int]],
    grid: Grid,
    classes: bool,
    executor: Executor,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Statistics of `rasters` (newest first, mosaicked) over zones 1…n, read
    block by block on `grid`."""
    with ExitStack() as stack:

        def open_all() -> list[Source]:
            sources = [Source(raster, grid, Resampling.nearest) for raster in rasters]
            for source in sources:
                stack.callback(source.close)
            return sources

        sources = await in_thread(executor, open_all)
        first = sources[0]
        wide = first.dtype.itemsize >= 4 and first.dtype != np.float32
        accumulator = ZonalAccumulator(len(shapes), grid.pixels, np.float64 if wide else np.float32)

        def block(window: Window) -> None:
            values = first.read(window)
            for other in sources[1:]:
                missing = (values == first.nodata) | (values != values)
                if not missing.any():
                    break
                values = np.where(missing, other.read(window).astype(values.dtype), values)
            accumulator.add(values, zone_raster(shapes, grid, window), first.nodata)

        await for_each_block(grid.windows(), block, executor, progress, (2.0, 85.0))
    return await in_thread(executor, accumulator.figures, classes)


class ZonalStatistics(TerritorialProcess):
    metadata = PROCESS_METADATA
    kernels = (zonal,)
    no_data_figures: ClassVar[dict[str, Any]] = {"count": 0}

    async def searched_collections(
        self, inputs: dict[str, Any], connection: AsyncConnection
    ) -> list[str]:
        collection = text(inputs, "collection")
        exists = await connection.scalar(select(Collection.id).where(Collection.id == collection))
        if exists is None:
            raise BadRequestError(
                f"input 'collection': no collection {collection!r} in the catalog"
            )
        return [collection]

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        asset = raster_asset(scenes[0], text(inputs, "asset"))
        classes = flag(inputs, "classes")
        indicator = INDICATORS.get(scenes[0].collection)
        if classes is None:
            classes = indicator is not None and indicator.kind == "categorical"
        return {"asset": asset, "classes": classes}

    def resolution(self, scene: Scene) -> float:
        transform = scene.content["properties"].get("proj:transform")
        return abs(transform[0]) if transform else float(scene.content["properties"].get("gsd", 10))

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        asset = job.inputs["asset"]
        guard = AssetGuard.from_settings(job.services.settings)
        rasters = [
            scene.raster(asset, guard) for scene in scenes if asset in scene.content["assets"]
        ]
        if not rasters:
            return Computed(figures=[dict(self.no_data_figures) for _ in zones])
        with open_raster(rasters[0]) as reference:
            crs, transform = reference.crs, reference.transform
        grid, shapes = output_grid(zones, scenes, crs, abs(transform.a), (transform.c, transform.f))
        figures = await zonal_figures(
            rasters, shapes, grid, job.inputs["classes"], job.executor, job.progress
        )
        return Computed(
            figures=figures,
            statistics_indicator=indicator_name(job.inputs["collection"], asset),
        )


PROCESS = ZonalStatistics()
