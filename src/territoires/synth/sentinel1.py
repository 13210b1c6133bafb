"""Sentinel-1 IW GRD-like backscatter: VV and VH in dB (float32, 10 m) before and after the
planted flood, with multiplicative gamma speckle applied in linear power as on real images."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from territoires.synth.cog import CogWriter, Conversions
from territoires.synth.grid import Grid
from territoires.synth.landscape import Cover, Ground, Landscape
from territoires.synth.stac import Asset, Item

COLLECTION = "sentinel-1-grd"
POLARISATIONS = ("VV", "VH")
EQUIVALENT_LOOKS = 4.4
FLOOD_TRUTH = "truth/flood.tif"

# Backscatter (dB) of each pure cover in VV and VH; the noise floor is added in linear power.
WATER_DB = (-22.0, -29.0)
TREE_DB = (-7.5, -13.0)
LOW_VEGETATION_DB = (-9.5, -16.5)
BARE_DB = (-12.0, -19.5)
BUILT_DB = (-1.0, -9.0)
NOISE_FLOOR_DB = (-25.0, -30.0)
WET_SOIL_GAIN_DB = 1.0
FLOODED_BUILT_CHANGE_DB = -6.0


def linear(decibels: float) -> np.float32:
    return np.float32(10.0 ** (decibels / 10.0))


@dataclass(frozen=True)
class Acquisition:
    id: str
    when: date
    flooded: bool
    stream: int


@dataclass
class FloodTally:
    """What the flood truth adds up to on the 10 m grid."""

    pixels: int = 0
    built_pixels: float = 0.0  # built shares of the flooded pixels, summed


def backscatter(
    cover: Cover, ground: Ground, flooded: np.ndarray | None, polarisation: int
) -> np.ndarray:
    """Mean linear backscatter of each pixel: cover shares times each cover's σ0; on flooded
    pixels the ground turns to open water and the buildings keep a weaker echo (so a flooded
    town stays brighter than a flooded field, as on real images)."""
    water = cover.water
    tree, low, bare = cover.tree, cover.low_vegetation, cover.bare
    wet = built_echo = np.float32(1.0)
    if flooded is not None:
        wet_pixel = flooded.astype(np.float32)
        dry = np.float32(1.0) - wet_pixel
        water = water + (tree + low + bare) * wet_pixel
        tree, low, bare = tree * dry, low * dry, bare * dry
        wet = linear(WET_SOIL_GAIN_DB)
        built_echo = dry + wet_pixel * linear(FLOODED_BUILT_CHANGE_DB)
    sigma = water * linear(WATER_DB[polarisation])
    sigma += tree * linear(TREE_DB[polarisation])
    sigma += low * (linear(LOW_VEGETATION_DB[polarisation]) * wet)
    sigma += bare * (linear(BARE_DB[polarisation]) * wet) * ground.brightness
    sigma += cover.built * linear(BUILT_DB[polarisation]) * ground.brightness * built_echo
    sigma += linear(NOISE_FLOOR_DB[polarisation])
    return sigma


class Sentinel1Writer:
    """Writes the pre- and post-event acquisitions, and the flood truth, block by block."""

    def __init__(
        self,
        root: Path,
        grid: Grid,
        landscape: Landscape,
        acquisitions: list[Acquisition],
        seed: int,
        conversions: Conversions,
    ) -> None:
        self.root = root
        self.conversions = conversions
        self.grid = grid
        self.landscape = landscape
        self.acquisitions = acquisitions
        self.seed = seed
        self.tally = FloodTally()
        self.writers: dict[tuple[str, str], CogWriter] = {}
        for acquisition in acquisitions:
            folder = self.folder(acquisition)
            folder.mkdir(parents=True)
            for polarisation in POLARISATIONS:
                self.writers[acquisition.id, polarisation] = CogWriter(
                    folder / f"{polarisation.lower()}.tif",
                    grid,
                    dtype="float32",
                    nodata=float("nan"),
                    descriptions=[polarisation],
                )
        (root / FLOOD_TRUTH).parent.mkdir(parents=True, exist_ok=True)
        self.truth = CogWriter(
            root / FLOOD_TRUTH,
            grid,
            dtype="uint8",
            nodata=255,
            descriptions=["flooded (1) at the post-event acquisition"],
            resampling="NEAREST",
        )

    def folder(self, acquisition: Acquisition) -> Path:
        return self.root / COLLECTION / acquisition.id

    def write_block(
        self, block: int, start: int, x: np.ndarray, y: np.ndarray, ground: Ground, last: bool
    ) -> None:
        """Writes one block of rows of the flood truth and of both acquisitions; files go to
        COG conversion as soon as their last block is written."""
        flood_event = self.landscape.flood.event
        event_cover = self.landscape.cover(ground, flood_event)
        flooded = self.landscape.flooded(ground, event_cover)
        self.truth.write(start, flooded.astype(np.uint8))
        self.tally.pixels += int(np.count_nonzero(flooded))
        self.tally.built_pixels += float(event_cover.built[flooded].sum(dtype=np.float64))
        if last:
            self.truth.finish(self.conversions)
        for acquisition in self.acquisitions:
            rng = np.random.default_rng([self.seed, acquisition.stream, block])
            cover = self.landscape.cover(ground, acquisition.when)
            for index, polarisation in enumerate(POLARISATIONS):
                sigma = backscatter(cover, ground, flooded if acquisition.flooded else None, index)
                sigma *= rng.standard_gamma(EQUIVALENT_LOOKS, sigma.shape, dtype=np.float32)
                sigma *= np.float32(1.0 / EQUIVALENT_LOOKS)
                decibels = np.log10(np.maximum(sigma, np.float32(1e-6)), out=sigma)
                decibels *= np.float32(10.0)
                writer = self.writers[acquisition.id, polarisation]
                writer.write(start, decibels)
                if last:
                    writer.finish(self.conversions)

    def items(self) -> list[Item]:
        """Each acquisition as a STAC item (once every block is written)."""
        return [self._item(acquisition) for acquisition in self.acquisitions]

    def flood_truth(self) -> dict[str, float | int | str]:
        pixel_area = self.grid.resolution**2
        return {
            "pixels": self.tally.pixels,
            "area_m2": self.tally.pixels * pixel_area,
            "built_up_area_m2": round(self.tally.built_pixels * pixel_area, 1),
        }

    def _item(self, acquisition: Acquisition) -> Item:
        folder = self.folder(acquisition)
        assets = {
            polarisation.lower(): Asset(
                folder / f"{polarisation.lower()}.tif",
                f"{polarisation} backscatter (σ0, dB)",
                self.grid,
                raster_bands=[
                    {
                        "nodata": "nan",
                        "data_type": "float32",
                        "unit": "dB",
                        "spatial_resolution": 10,
                    }
                ],
            )
            for polarisation in POLARISATIONS
        }
        return Item(
            id=acquisition.id,
            collection=COLLECTION,
            folder=folder,
            grid=self.grid,
            when=acquisition.when,
            properties={
                "platform": "sentinel-1a",
                "constellation": "sentinel-1",
                "instruments": ["c-sar"],
                "gsd": 10,
                "sar:instrument_mode": "IW",
                "sar:frequency_band": "C",
                "sar:center_frequency": 5.405,
                "sar:polarizations": list(POLARISATIONS),
                "sar:product_type": "GRD",
                "sar:resolution_range": 20,
                "sar:resolution_azimuth": 22,
                "sar:pixel_spacing_range": 10,
                "sar:pixel_spacing_azimuth": 10,
                "sar:looks_equivalent_number": EQUIVALENT_LOOKS,
                "sar:observation_direction": "right",
                "sat:orbit_state": "ascending",
                "sat:relative_orbit": 59,
            },
            assets=assets,
            extensions=("projection", "raster", "sar", "sat"),
        )
