"""Sentinel-2 L2A-like scenes: B02 B03 B04 B08 at 10 m, B11 B12 and the scene classification
(SCL) at 20 m, uint16 reflectance × 10000 with nodata 0, clouds and their shadows included."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from territoires.synth.cog import CogWriter, Conversions
from territoires.synth.grid import Grid
from territoires.synth.landscape import Ground, Landscape
from territoires.synth.spectra import (
    BANDS,
    CLOUD,
    SHADOW_TRANSMISSION,
    season,
    surface_reflectance,
)
from territoires.synth.stac import Asset, Item
from territoires.synth.texture import FractalNoise, clip01, smoothstep

COLLECTION = "sentinel-2-l2a"
BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B11", "B12")
SCALE = 0.0001
NOISE_REFLECTANCE = 0.003

# Scene classification codes, as in the real L2A product (0 is no data).
SCL_CLOUD_SHADOW = 3
SCL_VEGETATION = 4
SCL_NOT_VEGETATED = 5
SCL_WATER = 6
SCL_CLOUD_MEDIUM = 8
SCL_CLOUD_HIGH = 9
CLOUD_OPACITY = 0.35
"""A pixel at least this much veiled by cloud is classified as cloud (SCL 8)."""
CLOUD_OPAQUE = 0.8
"""From this opacity on, high-probability cloud (SCL 9)."""


@dataclass(frozen=True)
class Clouds:
    """A scene's clouds: where a fractal field passes a threshold, and their shadows cast aside
    by the sun (local landscape coordinates)."""

    noise: FractalNoise
    threshold: float | None  # None: a clear sky
    shadow_shift: tuple[float, float]

    @classmethod
    def draw(
        cls, rng: np.random.Generator, landscape: Landscape, grid: Grid, cover: float | None = None
    ) -> Clouds:
        """`cover`: the share of the grid under cloud; drawn (mostly clear summers) when None."""
        noise = FractalNoise.draw(rng, 8000.0, 60.0)
        left, bottom, right, top = grid.bounds
        extent = (
            left - landscape.origin_x,
            bottom - landscape.origin_y,
            right - landscape.origin_x,
            top - landscape.origin_y,
        )
        if cover is None:
            cover = float(rng.choice([0.0, 0.02, 0.08, 0.15, 0.3]))  # summers: mostly clear
        threshold = noise.quantile(extent, 1.0 - cover) if cover > 0 else None
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(300, 900)
        return cls(noise, threshold, (distance * np.cos(angle), distance * np.sin(angle)))

    def opacity(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """How much of the ground each pixel's cloud hides, 0 to 1."""
        if self.threshold is None:
            return np.zeros((y.size, x.size), np.float32)
        veil = self.noise.grid(x, y)
        veil -= np.float32(self.threshold)
        veil *= np.float32(6.0)
        return smoothstep(clip01(veil))


@dataclass(frozen=True)
class Scene:
    """One acquisition: its item id, date, clouds and random stream."""

    id: str
    when: date
    clouds: Clouds
    stream: int


def aggregate(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean over factor × factor pixels (the last axes), edges repeated when they do not divide."""
    rows, columns = values.shape[-2:]
    pad_rows, pad_columns = -rows % factor, -columns % factor
    if pad_rows or pad_columns:
        padding = [(0, 0)] * (values.ndim - 2) + [(0, pad_rows), (0, pad_columns)]
        values = np.pad(values, padding, mode="edge")
    shape = (*values.shape[:-2], values.shape[-2] // factor, factor, values.shape[-1] // factor)
    return values.reshape((*shape, factor)).mean(axis=(-3, -1), dtype=np.float32)


def sensor_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    noise = rng.standard_normal(shape, dtype=np.float32)
    noise *= np.float32(NOISE_REFLECTANCE)
    return noise


def to_digital_numbers(reflectance: np.ndarray) -> np.ndarray:
    scaled = np.rint(reflectance / np.float32(SCALE))
    return np.clip(scaled, 1, 65535, out=scaled).astype(np.uint16)


class Sentinel2Writer:
    """Writes every scene of the product block by block as the 10 m landscape is sampled."""

    def __init__(
        self,
        root: Path,
        grid: Grid,
        landscape: Landscape,
        scenes: list[Scene],
        seed: int,
        conversions: Conversions,
    ) -> None:
        self.root = root
        self.conversions = conversions
        self.grid = grid
        self.grid_20m = grid.resampled(20.0)
        self.landscape = landscape
        self.scenes = scenes
        self.seed = seed
        self.writers: dict[tuple[str, str], CogWriter] = {}
        self.cloud_pixels = dict.fromkeys([scene.id for scene in scenes], 0)
        for scene in scenes:
            folder = self.folder(scene)
            folder.mkdir(parents=True)
            for band in BANDS_10M:
                self.writers[scene.id, band] = self._writer(folder, band, grid, "uint16")
            for band in BANDS_20M:
                self.writers[scene.id, band] = self._writer(folder, band, self.grid_20m, "uint16")
            self.writers[scene.id, "SCL"] = self._writer(
                folder, "SCL", self.grid_20m, "uint8", resampling="NEAREST"
            )

    def folder(self, scene: Scene) -> Path:
        return self.root / COLLECTION / scene.id

    @staticmethod
    def _writer(
        folder: Path, band: str, grid: Grid, dtype: str, resampling: str = "AVERAGE"
    ) -> CogWriter:
        return CogWriter(
            folder / f"{band}.tif",
            grid,
            dtype=dtype,
            nodata=0,
            descriptions=[band],
            resampling=resampling,
        )

    def write_block(
        self, block: int, start: int, x: np.ndarray, y: np.ndarray, ground: Ground, last: bool
    ) -> None:
        """Writes one block of rows of every scene; after the last, each scene's files go to
        COG conversion while the next scene is computed."""
        local_x, local_y = self.landscape.local(x, y)
        for scene in self.scenes:
            rng = np.random.default_rng([self.seed, scene.stream, block])
            cover = self.landscape.cover(ground, scene.when)
            cloud = scene.clouds.opacity(local_x, local_y)
            shift_x, shift_y = scene.clouds.shadow_shift
            shadow = scene.clouds.opacity(local_x - shift_x, local_y - shift_y)
            shadow *= np.float32(1.0) - cloud
            seen = {}
            phase = season(scene.when, self.landscape.latitude)
            for index, band in enumerate(BANDS):
                reflectance = surface_reflectance(cover, ground, band, phase)
                reflectance *= np.float32(1.0) - shadow * np.float32(
                    1.0 - SHADOW_TRANSMISSION[index]
                )
                reflectance += (np.float32(CLOUD[index]) - reflectance) * cloud
                seen[band] = reflectance
            for band in BANDS_10M:
                noisy = seen[band] + sensor_noise(rng, cloud.shape)
                self.writers[scene.id, band].write(start, to_digital_numbers(noisy))
            for band in BANDS_20M:
                coarse = aggregate(seen[band], 2)
                coarse += sensor_noise(rng, coarse.shape)
                self.writers[scene.id, band].write(start // 2, to_digital_numbers(coarse))
            classes = self._classify(
                aggregate(cloud, 2),
                aggregate(shadow, 2),
                aggregate(cover.water, 2),
                aggregate(seen["B04"], 2),
                aggregate(seen["B08"], 2),
            )
            self.cloud_pixels[scene.id] += int(np.count_nonzero(classes >= SCL_CLOUD_MEDIUM))
            self.writers[scene.id, "SCL"].write(start // 2, classes)
            if last:
                for (scene_id, _), writer in self.writers.items():
                    if scene_id == scene.id:
                        writer.finish(self.conversions)

    @staticmethod
    def _classify(
        cloud: np.ndarray, shadow: np.ndarray, water: np.ndarray, red: np.ndarray, nir: np.ndarray
    ) -> np.ndarray:
        """The SCL of 20 m pixels, decided in the order the real processor gives precedence."""
        vegetation_index = (nir - red) / np.maximum(nir + red, np.float32(1e-6))
        classes = np.full(cloud.shape, SCL_NOT_VEGETATED, np.uint8)
        classes[vegetation_index >= 0.4] = SCL_VEGETATION
        classes[water >= 0.5] = SCL_WATER
        classes[shadow >= CLOUD_OPACITY] = SCL_CLOUD_SHADOW
        classes[cloud >= CLOUD_OPACITY] = SCL_CLOUD_MEDIUM
        classes[cloud >= CLOUD_OPAQUE] = SCL_CLOUD_HIGH
        return classes

    def items(self) -> list[Item]:
        """Each scene as a STAC item (once every block is written)."""
        pixels_20m = self.grid_20m.width * self.grid_20m.height
        items = []
        for scene in self.scenes:
            folder = self.folder(scene)
            cloud_cover = round(100.0 * self.cloud_pixels[scene.id] / pixels_20m, 2)
            assets = {
                band: Asset(
                    folder / f"{band}.tif",
                    f"{band} ({BANDS[band].common_name}) reflectance",
                    self.grid if band in BANDS_10M else self.grid_20m,
                    raster_bands=[
                        {
                            "nodata": 0,
                            "data_type": "uint16",
                            "scale": SCALE,
                            "offset": 0,
                            "spatial_resolution": 10 if band in BANDS_10M else 20,
                        }
                    ],
                    eo_bands=[
                        {
                            "name": band,
                            "common_name": BANDS[band].common_name,
                            "center_wavelength": BANDS[band].centre_um,
                            "full_width_half_max": BANDS[band].width_um,
                        }
                    ],
                )
                for band in BANDS_10M + BANDS_20M
            }
            assets["SCL"] = Asset(
                folder / "SCL.tif",
                "Scene classification (SCL codes)",
                self.grid_20m,
                raster_bands=[{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
            )
            items.append(
                Item(
                    id=scene.id,
                    collection=COLLECTION,
                    folder=folder,
                    grid=self.grid,
                    when=scene.when,
                    properties={
                        "platform": "sentinel-2a",
                        "constellation": "sentinel-2",
                        "instruments": ["msi"],
                        "gsd": 10,
                        "eo:cloud_cover": cloud_cover,
                    },
                    assets=assets,
                    extensions=("eo", "projection", "raster"),
                )
            )
        return items
