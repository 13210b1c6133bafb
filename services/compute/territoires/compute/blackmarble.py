"""Black Marble files read for night lighting: rasterio's HDF5 driver opens each layer, the
fill value and scale come from the layer's own attributes, the tile's place from the item
(ingest read it from the file's bounding coordinates), and one pass over each file gives every
commune's radiance (`kernels.lighting.zone_means`).

A commune's radiance in a file is the mean of its lit cells with a good observation, kept when
at least MIN_COVERAGE of its lit cells have one. Lit cells are those whose mean over the
reference year's good observations exceeds LIT_THRESHOLD: what switches off later must have been
on then (for the daily products, one night a week of that year: `reference_night`). A month's
value is the file's for the monthly product, the median of the good nights' for the daily ones.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import rasterio
import rasterio.features
import shapely
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window

from territoires.compute.blocks import Raster, unreadable
from territoires.compute.kernels import lazy
from territoires.compute.sources import Scene, Zone
from territoires.shared.assets import AssetGuard
from territoires.shared.blackmarble import PRODUCTS, TILE_CELLS, Product, subdataset

lighting_kernels = lazy("lighting")

LIT_THRESHOLD = 1.0  # nW·cm⁻²·sr⁻¹: unlit land with moonlight residue stays under it
MIN_COVERAGE = 0.5
ASSET = "data"
REFERENCE_NIGHT_STEP = 7
# A folder of daily files holds thousands: GDAL would list it at every open to look for
# sidecar files these products never have.
READ_OPTIONS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}


def reference_night(day: date) -> bool:
    """Whether a daily file of `day` serves the reference year: one night a week (52, every
    moon phase) says which cells are lit as well as 365, and each yearly part of a job reads
    the reference again."""
    return day.timetuple().tm_yday % REFERENCE_NIGHT_STEP == 1


@dataclass(frozen=True)
class Granule:
    """A catalogued file: its product, tile, month and where it is."""

    scene: Scene
    product: Product
    tile: str
    month: date
    day: date
    transform: Affine

    @classmethod
    def of(cls, scene: Scene) -> Granule:
        properties = scene.content["properties"]
        product = PRODUCTS[properties["blackmarble:product"]]
        day = scene.datetime.date()
        return cls(
            scene,
            product,
            properties["blackmarble:tile"],
            date(day.year, day.month, 1),
            day,
            Affine(*properties["proj:transform"][:6]),
        )

    def raster(self, guard: AssetGuard) -> Raster:
        return self.scene.raster(ASSET, guard)


@dataclass
class TileZones:
    """The communes rasterised on one tile's grid, over the window they cover."""

    window: Window
    zones: np.ndarray  # int32: 0 outside, else the commune's number (1…)
    lit: np.ndarray | None = None


def tile_zones(zones: list[Zone], transform: Affine) -> TileZones | None:
    """Communes meeting the tile whose grid is `transform`, rasterised (cell-centre rule) over
    the window covering them; a commune smaller than a cell gets the cell of its inner point."""
    west, north = transform.c, transform.f
    cell = transform.a
    tile = shapely.box(west, north - TILE_CELLS * cell, west + TILE_CELLS * cell, north)
    shapes = [
        (zone.geometry, number)
        for number, zone in enumerate(zones, start=1)
        if zone.geometry.intersects(tile)
    ]
    if not shapes:
        return None
    left, bottom, right, top = shapely.total_bounds([g for g, _ in shapes])
    left, bottom = max(left, tile.bounds[0]), max(bottom, tile.bounds[1])
    right, top = min(right, tile.bounds[2]), min(top, tile.bounds[3])
    col0, row0 = max(0, int((left - west) / cell)), max(0, int((north - top) / cell))
    col1 = min(TILE_CELLS, math.ceil((right - west) / cell) + 1)
    row1 = min(TILE_CELLS, math.ceil((north - bottom) / cell) + 1)
    window = Window(col0, row0, col1 - col0, row1 - row0)
    grid = transform @ Affine.translation(col0, row0)
    raster = rasterio.features.rasterize(
        shapes, (row1 - row0, col1 - col0), transform=grid, dtype="int32"
    )
    present = np.zeros(len(zones) + 1, np.bool_)
    present[np.unique(raster)] = True
    for geometry, number in shapes:
        if not present[number]:
            point = shapely.point_on_surface(geometry)
            col, row = int((point.x - grid.c) / cell), int((grid.f - point.y) / cell)
            if 0 <= row < raster.shape[0] and 0 <= col < raster.shape[1]:
                raster[row, col] = number
    return TileZones(window, raster)


def read_layers(
    granule: Granule, guard: AssetGuard, names: Iterable[str], window: Window
) -> list[tuple[np.ndarray, float, int]]:
    """Each layer's window as stored, with the scale and fill its attributes give (the
    product's published ones when a file leaves them out)."""
    raster = granule.raster(guard)
    read = []
    with unreadable(raster), warnings.catch_warnings(), rasterio.Env(**READ_OPTIONS):
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the item has the grid
        for name in names:
            layer = granule.product.layer(name)
            with rasterio.open(subdataset(raster.href, granule.product, name)) as dataset:
                values = dataset.read(1, window=window)
                scale = dataset.scales[0] if dataset.scales[0] not in (None, 0) else layer.scale
                fill = int(dataset.nodata) if dataset.nodata is not None else layer.fill
            read.append((values, float(scale), fill))
    return read


def good_observations(granule: Granule, guard: AssetGuard, window: Window) -> tuple:
    """The radiance layer and a quality layer whose good values `good_table` lists: the
    product's quality flag, and for daily files the cloud mask and snow flag folded in."""
    product = granule.product
    if not product.daily:
        (values, scale, fill), (quality, _, _) = read_layers(
            granule, guard, (product.radiance, product.quality), window
        )
        return (
            values,
            scale,
            fill,
            quality.astype(np.uint8),
            lighting_kernels.good_table(product.good_quality),
        )
    layers = read_layers(
        granule, guard, (product.radiance, product.quality, "QF_Cloud_Mask", "Snow_Flag"), window
    )
    (values, scale, fill), (quality, _, _), (cloud, _, _), (snow, _, _) = layers
    confident_clear = ((cloud.astype(np.int64) >> 6) & 3) <= 1
    ok = np.isin(quality, product.good_quality) & confident_clear & (snow == 0)
    return values, scale, fill, ok.astype(np.uint8), lighting_kernels.good_table((1,))


def reference_lit(granules: list[Granule], tiles: dict[str, TileZones], guard: AssetGuard) -> None:
    """Sets each tile's lit cells from the mean of its reference granules."""
    by_tile: dict[str, list[Granule]] = defaultdict(list)
    for granule in granules:
        by_tile[granule.tile].append(granule)
    for tile, zones in tiles.items():
        shape = zones.zones.shape
        sums, counts = np.zeros(shape), np.zeros(shape, np.int32)
        scale = 1.0
        for granule in by_tile.get(tile, []):
            values, scale, fill, quality, good = good_observations(granule, guard, zones.window)
            lighting_kernels.add_cells(values, quality, good, values.dtype.type(fill), sums, counts)
        with np.errstate(all="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1) * scale, 0.0)
        zones.lit = (mean > LIT_THRESHOLD) & (zones.zones > 0)


@dataclass
class Series:
    """Per commune (rows, in the zones' order) and month (columns): radiance (NaN without a
    good value), good nights (daily) or good months (1/0), and each commune's lit cells."""

    months: list[date]
    radiance: np.ndarray
    good: np.ndarray
    lit_cells: np.ndarray


def reduce(
    granules: list[Granule],
    zone_count: int,
    tiles: dict[str, TileZones],
    months: list[date],
    guard: AssetGuard,
    progress: Callable[[float], None] | None = None,
) -> Series:
    """Reads each granule once and makes every commune's monthly series."""
    lit_cells = np.zeros(zone_count + 1, np.int64)
    for zones in tiles.values():
        if zones.lit is not None:
            lit_cells += np.bincount(zones.zones[zones.lit], minlength=zone_count + 1)
    column = {month: k for k, month in enumerate(months)}
    by_day: dict[date, list[Granule]] = defaultdict(list)
    for granule in granules:
        if granule.month in column and granule.tile in tiles:
            by_day[granule.day].append(granule)
    nights: dict[date, list[np.ndarray]] = defaultdict(list)
    done = 0
    for day in sorted(by_day):
        sums, counts = np.zeros(zone_count + 1), np.zeros(zone_count + 1, np.int64)
        scale = 1.0
        for granule in by_day[day]:
            zones = tiles[granule.tile]
            values, scale, fill, quality, good = good_observations(granule, guard, zones.window)
            lighting_kernels.zone_means(
                values,
                quality,
                good,
                values.dtype.type(fill),
                zones.zones,
                zones.lit,
                sums,
                counts,
            )
            done += 1
            if progress:
                progress(done / len(granules))
        with np.errstate(all="ignore"):
            value = np.where(
                (counts >= MIN_COVERAGE * lit_cells) & (lit_cells > 0),
                sums / np.maximum(counts, 1) * scale,
                np.nan,
            )
        nights[date(day.year, day.month, 1)].append(value[1:])
    radiance = np.full((zone_count, len(months)), np.nan)
    good = np.zeros((zone_count, len(months)), np.int32)
    for month, values in nights.items():
        stack = np.vstack(values)
        good[:, column[month]] = np.isfinite(stack).sum(axis=0)
        seen = good[:, column[month]] > 0
        radiance[seen, column[month]] = np.nanmedian(stack[:, seen], axis=0)
    return Series(months, radiance, good, lit_cells[1:])


def monthly_series(
    zones: list[Zone],
    granules: list[Granule],
    reference: list[Granule],
    months: list[date],
    guard: AssetGuard,
    progress: Callable[[float], None] | None = None,
) -> Series:
    """The communes' monthly series from `granules`, lit cells from `reference`."""
    tiles: dict[str, TileZones] = {}
    for granule in [*reference, *granules]:
        if granule.tile not in tiles and (found := tile_zones(zones, granule.transform)):
            tiles[granule.tile] = found
    reference_lit(reference, tiles, guard)
    return reduce(granules, len(zones), tiles, months, guard, progress)
