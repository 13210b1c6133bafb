"""Decoding tiles and locating their pixels, to compare them with the values the COGs hold."""

from __future__ import annotations

import io
from collections.abc import Iterator

import morecantile
import numpy
from pyproj import Transformer
from rasterio.io import MemoryFile

from territoires.tiles.grids import supported_tms

GRIDS = supported_tms()


def decode_png(content: bytes) -> numpy.ndarray:
    """RGBA bands of a PNG tile, shape (4, height, width)."""
    with MemoryFile(content) as memory, memory.open() as dataset:
        return dataset.read()


def decode_npy(content: bytes) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Values and mask (True where valid) of an NPY tile (TiTiler appends the mask band)."""
    array = numpy.load(io.BytesIO(content))
    return array[:-1], array[-1] > 0


def pixel_centres(
    grid: str, tile: morecantile.Tile, size: int, step: int
) -> Iterator[tuple[int, int, float, float]]:
    """(row, col, lon, lat) of every `step`-th pixel of a `size`-pixel tile of `grid`."""
    tms = GRIDS.get(grid)
    west, south, east, north = tms.xy_bounds(tile)
    to_lonlat = Transformer.from_crs(tms.rasterio_crs, "EPSG:4326", always_xy=True)
    cell_x, cell_y = (east - west) / size, (north - south) / size
    for row in range(step // 2, size, step):
        for col in range(step // 2, size, step):
            x, y = west + (col + 0.5) * cell_x, north - (row + 0.5) * cell_y
            lon, lat = to_lonlat.transform(x, y)
            yield row, col, lon, lat


def cell_size_m(grid: str, zoom: int, size: int = 256) -> float:
    """A tile pixel's size in metres (Web Mercator's shrink with latitude: an upper bound)."""
    tms = GRIDS.get(grid)
    return tms.matrix(zoom).cellSize * tms.matrix(zoom).tileWidth / size
