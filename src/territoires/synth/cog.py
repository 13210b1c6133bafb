"""Cloud Optimized GeoTIFF output in bounded memory: blocks of rows go into a tiled scratch
GeoTIFF, which GDAL's COG driver then copies with deflate, 512-pixel tiles and overviews."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

from territoires.synth.grid import Grid

BLOCK_SIZE = 512
GDAL_CACHE_MB = 512


def cog_options(blocksize: int, resampling: str, interleave: str) -> dict[str, str]:
    return {
        "COMPRESS": "DEFLATE",
        "LEVEL": "6",
        "PREDICTOR": "YES",
        "BLOCKSIZE": str(blocksize),
        "OVERVIEWS": "AUTO",
        "OVERVIEW_RESAMPLING": resampling,
        "RESAMPLING": resampling,
        "INTERLEAVE": interleave,
        "NUM_THREADS": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }


class CogWriter:
    """Writes one raster block by block, then turns it into a COG when closed.

    `resampling` picks how overviews summarise pixels: "AVERAGE" for measurements, "NEAREST"
    (or "MODE") for classes and masks.
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
    ) -> None:
        self.path = path
        self.scratch = path.with_name(f".{path.name}.scratch.tif")
        self.options = cog_options(blocksize, resampling, interleave)
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

    def close(self) -> Path:
        """Copies the scratch file as a COG beside it and removes the scratch file."""
        self.dataset.close()
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
            rasterio.shutil.copy(self.scratch, self.path, driver="COG", **self.options)
        self.scratch.unlink()
        return self.path

    def __enter__(self) -> CogWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.dataset.close()


def write_cog(
    path: Path,
    grid: Grid,
    values: np.ndarray,
    *,
    nodata: float | None,
    descriptions: list[str],
    resampling: str = "AVERAGE",
    blocksize: int = BLOCK_SIZE,
    interleave: str = "BAND",
) -> Path:
    """Writes a raster held whole in memory (small ones: VIIRS, truth masks) as a COG."""
    with CogWriter(
        path,
        grid,
        dtype=str(values.dtype),
        nodata=nodata,
        descriptions=descriptions,
        resampling=resampling,
        blocksize=blocksize,
        interleave=interleave,
    ) as writer:
        writer.write(0, values)
    return path
