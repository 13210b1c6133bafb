"""VIIRS Day/Night Band nightly radiance like VNP46A2 (15″ lon/lat grid, uint16 DN = radiance /
0.1 in nW·cm⁻²·sr⁻¹, fill 65535) as one COG with a band per night, lights following the towns,
cloudy nights filled, and per commune a planted street-light extinction from a given month."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio.features
import rasterio.warp
from shapely.geometry.base import BaseGeometry

from territoires.synth.cog import Conversions, write_cog
from territoires.synth.grid import Grid
from territoires.synth.landscape import Landscape
from territoires.synth.stac import Asset, Item

COLLECTION = "viirs-dnb-night"
RESOLUTION_DEG = 1.0 / 240.0
SCALE = 0.1
FILL = 65535
UNIT = "nW cm-2 sr-1"
COMMUNES_TRUTH = "truth/viirs_communes.tif"
NATURAL_RADIANCE = 0.25
CITY_CENTRE_RADIANCE = 60.0
POINT_SPREAD_M = 400.0
HELPER_RESOLUTION_M = 100.0
NIGHTS_PER_CHUNK = 64
BLOCK_SIZE = 128
"""Tiles of 128 pixels × every night (pixel interleaved): one tile read gives a whole time
series of a town. No overviews: the grid stays under 512 pixels a side up to 110 km below
about 62° of latitude, and GDAL needs minutes to build them over a thousand bands."""

EXTINCTION_CLASSES = {  # class: (probability, smallest drop, largest drop)
    "total": (0.45, 0.70, 0.90),
    "partial": (0.20, 0.30, 0.50),
    "none": (0.35, 0.0, 0.0),
}


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    geometry: BaseGeometry  # lon/lat


@dataclass(frozen=True)
class Extinction:
    """The planted street-lighting change of a commune."""

    kind: str
    start: date | None
    drop: float


def viirs_grid(footprint_bounds: tuple[float, float, float, float]) -> Grid:
    """The 15″ grid, aligned on the global VNP46 lattice, that covers lon/lat bounds."""
    west, south, east, north = footprint_bounds
    left = math.floor(west / RESOLUTION_DEG) * RESOLUTION_DEG
    right = math.ceil(east / RESOLUTION_DEG) * RESOLUTION_DEG
    bottom = math.floor(south / RESOLUTION_DEG) * RESOLUTION_DEG
    top = math.ceil(north / RESOLUTION_DEG) * RESOLUTION_DEG
    width = round((right - left) / RESOLUTION_DEG)
    height = round((top - bottom) / RESOLUTION_DEG)
    return Grid(4326, left, top, RESOLUTION_DEG, width, height)


def nights(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def draw_extinctions(
    seed: int, communes: list[Commune], start: date, end: date
) -> dict[str, Extinction]:
    """A class, a start month and a drop per commune; starts leave six months either side when
    the period allows, and favour September–December as the 2022 wave of switch-offs did."""
    months = _months(start, end)
    eligible = [
        month
        for month in months
        if month >= _add_months(start, 6) and _add_months(month, 6) <= end + timedelta(days=1)
    ] or months[len(months) // 2 : len(months) // 2 + 1]
    weights = np.array([3.0 if month.month >= 9 else 1.0 for month in eligible])
    kinds = list(EXTINCTION_CLASSES)
    probabilities = [EXTINCTION_CLASSES[kind][0] for kind in kinds]
    extinctions = {}
    for commune in communes:
        rng = np.random.default_rng([seed, 40, _code_number(commune.code)])
        kind = kinds[rng.choice(len(kinds), p=probabilities)]
        month = eligible[rng.choice(len(eligible), p=weights / weights.sum())]
        _, low, high = EXTINCTION_CLASSES[kind]
        if kind == "none":
            extinctions[commune.code] = Extinction(kind, None, 0.0)
        else:
            extinctions[commune.code] = Extinction(kind, month, round(rng.uniform(low, high), 3))
    return extinctions


def _code_number(code: str) -> int:
    return int.from_bytes(code.encode(), "big")


def _months(start: date, end: date) -> list[date]:
    months, month = [], date(start.year, start.month, 1)
    while month <= end:
        months.append(month)
        month = _add_months(month, 1)
    return months


def _add_months(day: date, count: int) -> date:
    index = day.year * 12 + day.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


class ViirsProduct:
    """The nightly cube over the landscape and the per-commune extinction truth."""

    def __init__(
        self,
        root: Path,
        item_id: str,
        grid_10m: Grid,
        landscape: Landscape,
        communes: list[Commune],
        start: date,
        end: date,
        seed: int,
    ) -> None:
        self.root = root
        self.item_id = item_id
        self.landscape = landscape
        self.grid = viirs_grid(grid_10m.footprint().bounds)
        self.utm_epsg = grid_10m.epsg
        self.communes = communes
        self.start, self.end = start, end
        self.nights = nights(start, end)
        self.seed = seed
        self.extinctions = draw_extinctions(seed, communes, start, end)
        self.fill_share = 0.0
        self.noise_free_lights = np.zeros(self.grid.shape, np.float32)
        self.pixel_commune = np.zeros(self.grid.shape, np.uint16)

    @property
    def folder(self) -> Path:
        return self.root / COLLECTION / self.item_id

    def lights(self) -> np.ndarray:
        """Noise-free radiance of each VIIRS pixel before any extinction (nW·cm⁻²·sr⁻¹)."""
        west, north = self.grid.left, self.grid.top
        east, south = self.grid.right, self.grid.bottom
        left, bottom, right, top = rasterio.warp.transform_bounds(
            "EPSG:4326", f"EPSG:{self.utm_epsg}", west, south, east, north, densify_pts=21
        )
        helper = Grid(
            self.utm_epsg,
            math.floor(left / HELPER_RESOLUTION_M) * HELPER_RESOLUTION_M,
            math.ceil(top / HELPER_RESOLUTION_M) * HELPER_RESOLUTION_M,
            HELPER_RESOLUTION_M,
            math.ceil((right - left) / HELPER_RESOLUTION_M) + 2,
            math.ceil((top - bottom) / HELPER_RESOLUTION_M) + 2,
        )
        x, y = helper.column_centres(), helper.row_centres(0, helper.height)
        density = self.landscape.urban_density(x, y, POINT_SPREAD_M)
        land = 1.0 - self.landscape.sea_fraction(x, y, HELPER_RESOLUTION_M, self.start)
        radiance = np.float32(CITY_CENTRE_RADIANCE) * np.minimum(density, 1.2) * land
        lights = np.zeros(self.grid.shape, np.float32)
        rasterio.warp.reproject(
            radiance,
            lights,
            src_transform=helper.transform,
            src_crs=f"EPSG:{self.utm_epsg}",
            dst_transform=self.grid.transform,
            dst_crs="EPSG:4326",
            resampling=rasterio.warp.Resampling.average,
        )
        return lights

    def commune_index(self) -> np.ndarray:
        """Which commune (1-based position in `communes`, 0 for none) holds each pixel centre."""
        if not self.communes:
            return np.zeros(self.grid.shape, np.uint16)
        return rasterio.features.rasterize(
            [(commune.geometry, index) for index, commune in enumerate(self.communes, start=1)],
            out_shape=self.grid.shape,
            transform=self.grid.transform,
            fill=0,
            dtype="uint16",
        )

    def generate(self, progress: Callable[[], None], conversions: Conversions) -> Item:
        """Writes the nightly COG and the commune truth raster; `progress` after each chunk."""
        lights = self.noise_free_lights = self.lights()
        index = self.pixel_commune = self.commune_index()
        drops = np.zeros((len(self.communes) + 1,), np.float32)
        starts = np.full((len(self.communes) + 1,), len(self.nights), np.int64)
        for position, commune in enumerate(self.communes, start=1):
            extinction = self.extinctions[commune.code]
            drops[position] = extinction.drop
            if extinction.start is not None:
                starts[position] = (extinction.start - self.start).days
        pixel_drop = drops[index]
        pixel_start = starts[index]
        cube = np.empty((len(self.nights), *self.grid.shape), np.uint16)
        filled = 0
        for first in range(0, len(self.nights), NIGHTS_PER_CHUNK):
            count = min(NIGHTS_PER_CHUNK, len(self.nights) - first)
            rng = np.random.default_rng([self.seed, 50, first])
            radiance = self._radiance(rng, lights, pixel_drop, pixel_start, first, count)
            cloudy = self._clouds(rng, count)
            numbers = np.clip(np.rint(radiance / np.float32(SCALE)), 0, FILL - 1)
            numbers[cloudy] = FILL
            cube[first : first + count] = numbers.astype(np.uint16)
            filled += int(np.count_nonzero(cloudy))
            progress()
        self.fill_share = filled / cube.size
        self.folder.mkdir(parents=True)
        path = self.folder / "radiance.tif"
        write_cog(
            path,
            self.grid,
            cube,
            conversions,
            nodata=FILL,
            descriptions=[night.isoformat() for night in self.nights],
            blocksize=BLOCK_SIZE,
            interleave="PIXEL",
            overviews=False,
        )
        (self.root / COMMUNES_TRUTH).parent.mkdir(parents=True, exist_ok=True)
        write_cog(
            self.root / COMMUNES_TRUTH,
            self.grid,
            index,
            conversions,
            nodata=0,
            descriptions=["commune position in truth.json night_lighting.communes (1-based)"],
            resampling="NEAREST",
        )
        return self._item(path)

    def _radiance(
        self,
        rng: np.random.Generator,
        lights: np.ndarray,
        pixel_drop: np.ndarray,
        pixel_start: np.ndarray,
        first: int,
        count: int,
    ) -> np.ndarray:
        """Nights first…first+count: lights cut from each commune's start, a seasonal swing,
        night-to-night haze over the whole scene and pixel noise."""
        days = np.arange(first, first + count)
        after = days[:, None, None] >= pixel_start[None]
        artificial = lights[None] * (np.float32(1.0) - pixel_drop[None] * after)
        day_of_year = np.array([self.nights[day].timetuple().tm_yday for day in days])
        season = 1.0 + 0.08 * np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
        haze = np.exp(rng.normal(0.0, 0.1, count)) * season
        noise = np.exp(rng.normal(0.0, 0.15, (count, *lights.shape))).astype(np.float32)
        radiance = artificial * noise
        radiance *= haze.astype(np.float32)[:, None, None]
        radiance += np.float32(NATURAL_RADIANCE) * noise
        return radiance

    def _clouds(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """Cloudy pixel-nights: some nights clear, some overcast, the rest patchy (smooth
        fields from a coarse random lattice), and a few nights missing altogether."""
        rows, columns = self.grid.shape
        nodes = (max(2, rows // 16 + 2), max(2, columns // 16 + 2))
        lattice = rng.uniform(0.0, 1.0, (count, *nodes)).astype(np.float32)
        down = _interpolation_matrix(rows, nodes[0])
        across = _interpolation_matrix(columns, nodes[1])
        field = down @ lattice @ across.T
        kind = rng.uniform(0.0, 1.0, count)
        cover = np.where(kind < 0.35, 0.0, np.where(kind < 0.62, 1.0, rng.uniform(0.1, 0.9, count)))
        cover[rng.uniform(0.0, 1.0, count) < 0.02] = 1.0
        thresholds = np.array(
            [
                np.quantile(night, 1.0 - share) if 0 < share < 1 else 2.0 - 3.0 * share
                for night, share in zip(field, cover, strict=True)
            ]
        )
        return field > thresholds.astype(np.float32)[:, None, None]

    def extinction_truth(self) -> list[dict[str, Any]]:
        """Per commune: the planted class, start month and drop of its artificial light, and
        what the noise-free mean radiance of its pixels does (natural light included)."""
        truth = []
        for position, commune in enumerate(self.communes, start=1):
            extinction = self.extinctions[commune.code]
            lights = self.noise_free_lights[self.pixel_commune == position]
            before = after = None
            if lights.size:
                before = float(lights.mean()) + NATURAL_RADIANCE
                after = float(lights.mean()) * (1.0 - extinction.drop) + NATURAL_RADIANCE
            truth.append(
                {
                    "position": position,
                    "code": commune.code,
                    "name": commune.name,
                    "class": extinction.kind,
                    "start_month": None
                    if extinction.start is None
                    else extinction.start.strftime("%Y-%m"),
                    "artificial_light_drop": extinction.drop,
                    "pixels": int(lights.size),
                    "mean_radiance_before": None if before is None else round(before, 3),
                    "mean_radiance_after": None if after is None else round(after, 3),
                    "mean_drop_percent": None
                    if before is None or after is None
                    else round(100.0 * (before - after) / before, 1),
                }
            )
        return truth

    def _item(self, path: Path) -> Item:
        band = {"nodata": FILL, "data_type": "uint16", "scale": SCALE, "offset": 0, "unit": UNIT}
        asset = Asset(
            path,
            "DNB BRDF-corrected nightly radiance, one band per night (description = date)",
            self.grid,
            raster_bands=[dict(band) for _ in self.nights],
            eo_bands=[
                {
                    "name": night.isoformat(),
                    "description": f"Day/Night Band radiance, night of {night.isoformat()}",
                    "center_wavelength": 0.7,
                    "full_width_half_max": 0.4,
                }
                for night in self.nights
            ],
        )
        return Item(
            id=self.item_id,
            collection=COLLECTION,
            folder=self.folder,
            grid=self.grid,
            when=(self.start, self.end),
            properties={
                "platform": "suomi-npp",
                "constellation": "jpss",
                "instruments": ["viirs"],
                "gsd": 463.3,
                "eo:cloud_cover": round(100.0 * self.fill_share, 2),
            },
            assets={"radiance": asset},
            extensions=("eo", "projection", "raster"),
        )


def _interpolation_matrix(size: int, nodes: int) -> np.ndarray:
    """Linear interpolation weights from `nodes` evenly spread values to `size` positions."""
    position = np.linspace(0.0, nodes - 1.0, size)
    lower = np.minimum(position.astype(int), nodes - 2)
    weight = position - lower
    matrix = np.zeros((size, nodes), np.float32)
    matrix[np.arange(size), lower] = 1.0 - weight
    matrix[np.arange(size), lower + 1] = weight
    return matrix
