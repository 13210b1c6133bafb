"""Cloud Optimized GeoTIFF output in bounded memory: blocks of rows go into a tiled scratch
GeoTIFF, which GDAL's COG driver then copies (in the background) with deflate, 512-pixel tiles
and overviews."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from territoires.synth.grid import Grid

BLOCK_SIZE = 512
GDAL_CACHE_MB = 512


def cog_options(
    blocksize: int, resampling: str, interleave: str, overviews: bool = True
) -> dict[str, str]:
    return {
        "COMPRESS": "DEFLATE",
        "LEVEL": "1",
        "PREDICTOR": "YES",
        "BLOCKSIZE": str(blocksize),
        "OVERVIEWS": "AUTO" if overviews else "NONE",
        "OVERVIEW_RESAMPLING": resampling,
        "RESAMPLING": resampling,
        "INTERLEAVE": interleave,
        "NUM_THREADS": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }


class CogWriter:
    """Writes one raster block by block, then turns it into a COG when finished.

    `resampling` picks how overviews summarise pixels: "AVERAGE" for measurements, "NEAREST"
    (or "MODE") for classes and masks. `overviews=False` leaves them out: GDAL takes minutes
    to build them over a thousand bands, and a raster under 512 pixels a side needs none.
    """

    def __init__(
        self,
        path: Path,
        grid: Grid,
        *,
        dtype: str,
        nodata: float | None,
        descriptions: list[str],
        resampling: str = "AVERAGE",
        blocksize: int = BLOCK_SIZE,
        interleave: str = "BAND",
        overviews: bool = True,
    ) -> None:
        self.path = path
        self.scratch = path.with_name(f".{path.name}.scratch.tif")
        self.options = cog_options(blocksize, resampling, interleave, overviews)
        profile = {
            "driver": "GTiff",
            "width": grid.width,
            "height": grid.height,
            "count": len(descriptions),
            "dtype": dtype,
            "crs": f"EPSG:{grid.epsg}",
            "transform": grid.transform,
            "nodata": nodata,
            "tiled": True,
            "blockxsize": blocksize,
            "blockysize": blocksize,
            "interleave": interleave.lower(),
            "BIGTIFF": "IF_SAFER",
        }
        self.dataset = rasterio.open(self.scratch, "w", **profile)
        for index, description in enumerate(descriptions, start=1):
            self.dataset.set_band_description(index, description)

    def write(self, row: int, values: np.ndarray) -> None:
        """Writes rows starting at `row`; `values` is (rows, columns) or (bands, rows, columns)."""
        if values.ndim == 2:
            values = values[None]
        window = Window(0, row, values.shape[2], values.shape[1])
        self.dataset.write(values.astype(self.dataset.dtypes[0], copy=False), window=window)

    def finish(self, conversions: Conversions) -> None:
        """Closes the scratch file and hands its conversion to COG to the background."""
        self.dataset.close()
        conversions.submit(self._convert)

    def _convert(self) -> Path:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            rasterio.shutil.copy(self.scratch, self.path, driver="COG", **self.options)
        self.scratch.unlink()
        return self.path


class Conversions:
    """COG conversions running on background threads while generation goes on: GDAL releases
    the GIL, so compressing one scene overlaps computing the next."""

    def __init__(self, workers: int = 2) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cog")
        self.pending: list[Future[Path]] = []

    def submit(self, convert: Callable[[], Path]) -> None:
        self.pending.append(self.pool.submit(convert))

    def wait(self) -> list[Path]:
        """Every COG written so far; re-raises the first conversion error."""
        return [future.result() for future in self.pending]

    def __enter__(self) -> Conversions:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.pool.shutdown(wait=True, cancel_futures=kind is not None)


def write_cog(
    path: Path,
    grid: Grid,
    values: np.ndarray,
    conversions: Conversions,
    *,
    nodata: float | None,
    descriptions: list[str],
    resampling: str = "AVERAGE",
    blocksize: int = BLOCK_SIZE,
    interleave: str = "BAND",
    overviews: bool = True,
) -> None:
    """Writes a raster held whole in memory (small ones: VIIRS, truth masks) as a COG."""
    writer = CogWriter(
        path,
        grid,
        dtype=str(values.dtype),
        nodata=nodata,
        descriptions=descriptions,
        resampling=resampling,
        blocksize=blocksize,
        interleave=interleave,
        overviews=overviews,
    )
    writer.write(0, values)
    writer.finish(conversions)
