"""Where each synthetic product lies: north-up UTM grids at each sensor's pixel size."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Polygon

GRID_ALIGNMENT_M = 60.0
"""Grid corners fall on multiples of 60 m, so the 10, 20 and 30 m grids share their edges."""


def utm_epsg(longitude: float, latitude: float) -> int:
    """The WGS 84 / UTM zone of a point: EPSG:326xx north of the equator, 327xx south of it."""
    zone = min(int((longitude + 180.0) // 6.0) + 1, 60)
    return (32600 if latitude >= 0 else 32700) + zone


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: its CRS, upper-left corner, square pixel size and shape."""

    epsg: int
    left: float
    top: float
    resolution: float
    width: int
    height: int

    @classmethod
    def centred(cls, epsg: int, easting: float, northing: float, resolution: float, size: int):
        """A size × size grid centred on a point, its corner snapped to the common alignment."""
        half = size * resolution / 2.0
        left = round((easting - half) / GRID_ALIGNMENT_M) * GRID_ALIGNMENT_M
        top = round((northing + half) / GRID_ALIGNMENT_M) * GRID_ALIGNMENT_M
        return cls(epsg, left, top, resolution, size, size)

    @property
    def transform(self) -> Affine:
        return Affine(self.resolution, 0.0, self.left, 0.0, -self.resolution, self.top)

    @property
    def right(self) -> float:
        return self.left + self.width * self.resolution

    @property
    def bottom(self) -> float:
        return self.top - self.height * self.resolution

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.left, self.bottom, self.right, self.top)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def resampled(self, resolution: float) -> Grid:
        """The grid over the same corner at another pixel size, covering at least the same area."""
        width = math.ceil(self.width * self.resolution / resolution - 1e-9)
        height = math.ceil(self.height * self.resolution / resolution - 1e-9)
        return Grid(self.epsg, self.left, self.top, resolution, width, height)

    def column_centres(self) -> np.ndarray:
        return self.left + (np.arange(self.width) + 0.5) * self.resolution

    def row_centres(self, start: int, stop: int) -> np.ndarray:
        return self.top - (np.arange(start, stop) + 0.5) * self.resolution

    def row_blocks(self, pixels_per_block: int = 2048 * 2048) -> list[tuple[int, int]]:
        """Row ranges of whole 512-row tile bands holding about `pixels_per_block` pixels each."""
        rows = max(512, (pixels_per_block // self.width) // 512 * 512)
        return [(start, min(start + rows, self.height)) for start in range(0, self.height, rows)]

    def footprint(self, points_per_side: int = 8) -> Polygon:
        """The grid outline in lon/lat (EPSG:4326), edges densified so the UTM curvature shows."""
        steps = np.linspace(0.0, 1.0, points_per_side, endpoint=False)
        left, bottom, right, top = self.bounds
        width, height = right - left, top - bottom
        xs = np.concatenate(
            [
                left + steps * width,
                np.full_like(steps, right),
                right - steps * width,
                np.full_like(steps, left),
            ]
        )
        ys = np.concatenate(
            [
                np.full_like(steps, top),
                top - steps * height,
                np.full_like(steps, bottom),
                bottom + steps * height,
            ]
        )
        longitudes, latitudes = to_lonlat(self.epsg).transform(xs, ys)
        return Polygon(zip(np.round(longitudes, 7), np.round(latitudes, 7), strict=True))


def to_lonlat(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, 4326, always_xy=True)


def from_lonlat(epsg: int) -> Transformer:
    return Transformer.from_crs(4326, epsg, always_xy=True)
