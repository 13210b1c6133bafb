"""Windowed raster I/O that every process shares: an output grid, sources read onto it one
window at a time, outputs written block by block and made into COGs.

A raster larger than memory is never read whole: a process walks the grid's windows, and each
source resamples or reprojects only the window asked for (GDAL's warper), so memory is bounded
by the block size times the number of bands in use.

Every input raster is opened through `open_raster` and read under `unreadable`: a GDAL failure
becomes an UnreadableAssetError naming the raster, never GDAL's text (which quotes the path).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import rasterio
from affine import Affine
from rasterio._err import CPLE_BaseError
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import CRSError, RasterioError, RasterioIOError
from rasterio.features import rasterize
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from rio_cogeo.cogeo import cog_translate
from rio_cogeo.profiles import cog_profiles
from rio_cogeo.utils import get_maximum_overview_level
from shapely.geometry.base import BaseGeometry

from territoires.compute.errors import UnreadableAssetError
from territoires.shared.errors import TerritoiresError
from territoires.shared.settings import get_settings

BLOCK = 1024
"""Side of a processing block in pixels: 1024² float32 is 4 MiB per band."""
COG_BLOCK = 256
MEDIA_TYPE_COG = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: where output pixels are, and what sources are resampled onto."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def resolution(self) -> float:
        return self.transform.a

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return (
            left,
            top + self.height * self.transform.e,
            left + self.width * self.transform.a,
            top,
        )

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def windows(self, size: int = BLOCK) -> list[Window]:
        return [
            Window(col, row, min(size, self.width - col), min(size, self.height - row))
            for row in range(0, self.height, size)
            for col in range(0, self.width, size)
        ]

    def window_transform(self, window: Window) -> Affine:
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    @classmethod
    def covering(
        cls,
        bounds: tuple[float, float, float, float],
        crs: CRS,
        resolution: float,
        anchor: tuple[float, float] = (0.0, 0.0),
    ) -> Grid:
        """The smallest grid of `resolution` covering `bounds`, its pixel edges on the lattice
        through `anchor` (a source's origin): a source on that lattice is read unresampled."""
        left, bottom, right, top = bounds
        ax, ay = anchor
        left = ax + math.floor((left - ax) / resolution) * resolution
        top = ay + math.ceil((top - ay) / resolution) * resolution
        width = max(1, math.ceil((right - left) / resolution))
        height = max(1, math.ceil((top - bottom) / resolution))
        return cls(crs, Affine(resolution, 0.0, left, 0.0, -resolution, top), width, height)


def _pixel_offset(source: Affine, grid: Affine) -> tuple[int, int] | None:
    """(columns, rows) from the source's origin to the grid's, when both grids share pixel size
    and lattice; None when the source must be resampled."""
    if (source.b, source.d, grid.b, grid.d) != (0.0, 0.0, 0.0, 0.0):
        return None
    if not (math.isclose(source.a, grid.a) and math.isclose(source.e, grid.e)):
        return None
    columns = (grid.c - source.c) / source.a
    rows = (grid.f - source.f) / source.e
    if abs(columns - round(columns)) > 1e-6 or abs(rows - round(rows)) > 1e-6:
        return None
    return round(columns), round(rows)


@dataclass(frozen=True)
class Raster:
    """An input raster: an href the asset guard let through, and what messages call it."""

    href: str
    name: str  # "scene S2A_… asset B04": never the href


GDAL_ERRORS = (RasterioError, CPLE_BaseError, CRSError, OSError)


@contextmanager
def unreadable(raster: Raster) -> Iterator[None]:
    """GDAL's failures on `raster` as UnreadableAssetError naming it: one message whether the
    file is missing, forbidden, truncated or not a raster (GDAL's own is in the log's chain)."""
    try:
        yield
    except GDAL_ERRORS as error:
        raise UnreadableAssetError(f"{raster.name} cannot be read") from error


def gdal_threads() -> str:
    """GDAL's NUM_THREADS for a job: the process's `compute_threads`, else every CPU."""
    return str(get_settings().compute_threads or "ALL_CPUS")


def open_raster(raster: Raster, **options: Any) -> DatasetReader:
    """The one way a process opens an input raster (a context manager, like rasterio.open)."""
    with unreadable(raster):
        return rasterio.open(raster.href, **options)


class Source:
    """One band of a raster read onto a grid, a window at a time.

    A source on the grid's lattice is read as stored; any other (another CRS, pixel size or
    origin) goes through a warped VRT with `resampling`. Pixels outside the source read as its
    nodata value.
    """

    def __init__(
        self, raster: Raster, grid: Grid, resampling: Resampling = Resampling.nearest, band: int = 1
    ) -> None:
        self.raster = raster
        self.band = band
        # GeoTIFF tiles decoded on several cores (GDAL ≥ 3.6); other drivers ignore the option.
        self.dataset = open_raster(raster, NUM_THREADS=gdal_threads())
        with unreadable(raster):
            self._prepare(grid, resampling)

    def _prepare(self, grid: Grid, resampling: Resampling) -> None:
        band = self.band
        stored = self.dataset.nodata
        self.dtype = np.dtype(self.dataset.dtypes[band - 1])
        self.nodata = stored if stored is not None else _default_nodata(self.dtype)
        offset = (
            _pixel_offset(self.dataset.transform, grid.transform)
            if self.dataset.crs == grid.crs
            else None
        )
        self.offset = offset
        self.reader: Any = self.dataset
        if offset is None:
            self.reader = WarpedVRT(
                self.dataset,
                crs=grid.crs,
                transform=grid.transform,
                width=grid.width,
                height=grid.height,
                resampling=resampling,
                src_nodata=self.nodata,
                nodata=self.nodata,
            )

    def read(self, window: Window) -> np.ndarray:
        with unreadable(self.raster):
            return self._read(window)

    def _read(self, window: Window) -> np.ndarray:
        if self.offset is None:
            return self.reader.read(self.band, window=window)
        columns, rows = self.offset
        shifted = Window(
            window.col_off + columns, window.row_off + rows, window.width, window.height
        )
        inside = (
            shifted.col_off >= 0
            and shifted.row_off >= 0
            and shifted.col_off + shifted.width <= self.dataset.width
            and shifted.row_off + shifted.height <= self.dataset.height
        )
        if inside:
            return self.dataset.read(self.band, window=shifted)
        return self.dataset.read(self.band, window=shifted, boundless=True, fill_value=self.nodata)

    def close(self) -> None:
        if self.reader is not self.dataset:
            self.reader.close()
        self.dataset.close()


def _default_nodata(dtype: np.dtype) -> float:
    return float("nan") if dtype.kind == "f" else 0


class ResultWriteError(TerritoiresError, OSError):
    """A result raster the worker could not write: its disk (or a size quota) is full. Its
    message is the job's (the platform's own words, not GDAL's)."""

    def __init__(self) -> None:
        super().__init__(
            "could not write the result raster: the worker's disk is full (or the file is over "
            "its size limit); nothing was catalogued, submit the job again once there is room"
        )


class Output:
    """A single-band tiled GeoTIFF written block by block: the scratch copy a COG is made from."""

    def __init__(self, path: Path, grid: Grid, dtype: str, nodata: float) -> None:
        self.path = path
        self.nodata = nodata
        self.dataset = rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=1,
            dtype=dtype,
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
            tiled=True,
            blockxsize=COG_BLOCK,
            blockysize=COG_BLOCK,
            compress="deflate",
            predictor=1,
            zlevel=1,
            BIGTIFF="IF_SAFER",
        )

    def write(self, window: Window, values: np.ndarray) -> None:
        try:
            self.dataset.write(values, 1, window=window)
        except RasterioIOError as error:  # GDAL says only "Write failed"
            raise ResultWriteError from error

    def close(self) -> None:
        try:
            self.dataset.close()
        except RasterioIOError as error:
            raise ResultWriteError from error


def write_cog(source: Path, target: Path, tags: dict[str, str], resampling: str) -> None:
    """A Cloud-Optimized GeoTIFF of `source`: deflate, 256² tiles, overviews down to one tile
    (at least one level), nodata kept, `tags` in its metadata."""
    with rasterio.open(source) as dataset:
        width, height, nodata = dataset.width, dataset.height, dataset.nodata
    levels = max(1, get_maximum_overview_level(width, height, minsize=COG_BLOCK))
    profile = cog_profiles.get("deflate")
    profile.update(blockxsize=COG_BLOCK, blockysize=COG_BLOCK, BIGTIFF="IF_SAFER")
    try:
        cog_translate(
            source,
            target,
            profile,
            nodata=nodata,
            overview_level=levels,
            overview_resampling=resampling,
            additional_cog_metadata=tags,
            in_memory=False,
            quiet=True,
            config={"GDAL_NUM_THREADS": gdal_threads()},
        )
    except RasterioIOError as error:
        raise ResultWriteError from error


def zone_raster(
    shapes: Iterable[tuple[BaseGeometry, int]], grid: Grid, window: Window
) -> np.ndarray:
    """Zone ids of a window's pixels (0 outside every zone) by the pixel-centre rule: a pixel
    belongs to the zone that contains its centre. `shapes` are in the grid's CRS."""
    left, bottom, right, top = window_bounds(window, grid.transform)
    touching = [
        (geometry, zone)
        for geometry, zone in shapes
        if geometry.bounds[0] <= right
        and geometry.bounds[2] >= left
        and geometry.bounds[1] <= top
        and geometry.bounds[3] >= bottom
    ]
    shape = (int(window.height), int(window.width))
    if not touching:
        return np.zeros(shape, dtype=np.int32)
    return rasterize(
        touching,
        out_shape=shape,
        transform=grid.window_transform(window),
        fill=0,
        all_touched=False,
        dtype=np.int32,
    )


Progress = Callable[[float], Awaitable[None]]
Params = ParamSpec("Params")
Result = TypeVar("Result")


async def in_thread(
    executor: Executor,
    function: Callable[Params, Result],
    *args: Params.args,
    **kwargs: Params.kwargs,
) -> Result:
    """`function` in `executor`. When the caller is cancelled meanwhile (a timeout, the worker
    shutting down), the call is waited for before the cancellation goes on: the datasets it
    reads are closed on the way out, never under a thread still reading them (GDAL and numba
    crash the process when they are)."""
    call = asyncio.get_running_loop().run_in_executor(executor, lambda: function(*args, **kwargs))
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        await asyncio.wait([call])
        raise


async def for_each_block(
    windows: list[Window],
    compute: Callable[[Window], None],
    executor: Executor,
    progress: Progress,
    span: tuple[float, float] = (0.0, 100.0),
) -> None:
    """Runs `compute(window)` for every window in `executor` (never on the event loop), and
    reports progress within `span` as blocks finish."""
    start, end = span
    for done, window in enumerate(windows, start=1):
        await in_thread(executor, compute, window)
        await progress(start + (end - start) * done / len(windows))
