"""Landsat 8-like scenes (30 m), one per summer, at either product level:

- Level-1 (the default): red B4 and near-infrared B5 as DN, thermal B10 as DN that encodes a
  planted land surface temperature through the inverse of the indicator's own chain, and the
  _MTL.txt carrying the constants that chain needs (also on the item's band assets, as the
  catalog puts them when it ingests an MTL); a clear sky;
- Collection 2 Level-2: surface reflectance SR_B2–SR_B7, surface temperature ST_B10 (the
  planted LST in kelvin, scale 0.00341802, offset 149.0) and QA_PIXEL, with clouds and their
  shadows (flagged, and seen in the bands: cold cloud tops, cooler shadows).

The truth of each scene is its planted LST raster and, per commune of the grid, the surface
urban heat island under the `land-surface-temperature` process's definition."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from rasterio.features import rasterize
from shapely.geometry.base import BaseGeometry

from territoires.synth.cog import CogWriter, Conversions
from territoires.synth.grid import Grid, from_lonlat, to_lonlat
from territoires.synth.landscape import Landscape
from territoires.synth.sentinel2 import Clouds
from territoires.synth.spectra import (
    BAND_INDEX,
    CLOUD,
    SHADOW_TRANSMISSION,
    surface_reflectance,
)
from territoires.synth.stac import Asset, Item

COLLECTION = "landsat-c2-l2"
RESOLUTION = 30.0
LEVELS = (1, 2)
RING_M = 2000.0
"""The rural ring of the heat island truth: the `land-surface-temperature` process's default."""
SUHI_DEFINITION = (
    "mean planted LST of the commune's land cells (water share below one half, cell centre in "
    f"the commune's outline) minus that of the land cells within {RING_M:g} m outside the "
    "outline, on the scene's 30 m grid, every cell (clouds do not hide the truth)"
)

REFLECTANCE_MULT = 2.0e-05
REFLECTANCE_ADD = -0.1
RADIANCE = {  # band: (mult, add), as in a real Landsat 8 MTL
    4: (9.7350e-03, -48.67504),
    5: (5.9573e-03, -29.78670),
    10: (3.3420e-04, 0.10000),
}
K1_BAND_10 = 774.8853
K2_BAND_10 = 1321.0789
WAVELENGTH_M = 10.895e-6
RHO_M_K = 1.4388e-2
KELVIN = 273.15
NOISE_REFLECTANCE = 0.003
NDVI_SOIL = 0.2
NDVI_VEGETATION = 0.5
URBAN_DENSITY = 0.5
RURAL_DENSITY = 0.15
# Collection 2 Level-2 scaling (USGS) and what Level-2 files hold.
SR_SCALE, SR_OFFSET = 2.75e-05, -0.2
ST_SCALE, ST_OFFSET = 0.00341802, 149.0
SR_BANDS = {
    "SR_B2": "B02",
    "SR_B3": "B03",
    "SR_B4": "B04",
    "SR_B5": "B08",
    "SR_B6": "B11",
    "SR_B7": "B12",
}
"""Level-2 reflectance assets and the synthetic spectrum band each one samples."""
SPECTRA = {  # asset: eo:bands common name, centre and full width at half maximum (µm)
    "B4": ("red", 0.655, 0.04),
    "B5": ("nir08", 0.865, 0.03),
    "B10": ("lwir11", 10.895, 0.59),
    "SR_B2": ("blue", 0.48, 0.06),
    "SR_B3": ("green", 0.56, 0.06),
    "SR_B4": ("red", 0.655, 0.03),
    "SR_B5": ("nir08", 0.865, 0.03),
    "SR_B6": ("swir16", 1.61, 0.08),
    "SR_B7": ("swir22", 2.2, 0.18),
    "ST_B10": ("lwir11", 10.895, 0.59),
}
LEVEL2_CLOUD_COVERS = (0.05, 0.1, 0.2)
CLOUD_TOP_COOLING_C = 20.0  # a cloud top is this much colder than the day's air
SHADOW_COOLING_C = 3.0
# QA_PIXEL bits (Landsat 8-9 Collection 2): 0 fill, 1 dilated cloud, 3 cloud, 4 cloud shadow,
# 6 clear, 7 water; 8–9 cloud, 10–11 shadow, 12–13 snow, 14–15 cirrus confidence (1 = low).
QA_FILL = 1
QA_LOW_CONFIDENCES = (1 << 8) | (1 << 10) | (1 << 12) | (1 << 14)
QA_DILATED, QA_CLOUD, QA_SHADOW, QA_CLEAR, QA_WATER = 1 << 1, 1 << 3, 1 << 4, 1 << 6, 1 << 7
QA_CLOUD_HIGH, QA_SHADOW_HIGH = 3 << 8, 3 << 10
CLOUD_OPACITY = 0.35  # flagged cloud from this opacity, dilated cloud from DILATED_OPACITY
DILATED_OPACITY = 0.005
SHADOW_OPACITY = 0.05


def lst_truth_path(when: date) -> str:
    """Where the planted LST of a scene's date is written, relative to the output folder."""
    return f"truth/lst_celsius_{when:%Y%m%d}.tif"


@dataclass(frozen=True)
class LandsatScene:
    id: str
    product_id: str
    when: date
    stream: int
    clouds: Clouds | None = None  # Level-2 only


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    geometry: BaseGeometry  # lon/lat


class HeatTruth:
    """The planted LST of a scene on its whole grid, and the figures scored against it: range,
    the old density-based heat island, and the surface urban heat island of each commune."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.temperature = np.empty(grid.shape, np.float32)
        self.water = np.zeros(grid.shape, np.bool_)
        self.density = np.empty(grid.shape, np.float32)

    def add(self, start: int, temperature: np.ndarray, water: np.ndarray, density: np.ndarray):
        rows = slice(start, start + temperature.shape[0])
        self.temperature[rows] = temperature
        self.water[rows] = water
        self.density[rows] = density

    def communes(self, communes: list[Commune]) -> list[dict[str, Any]]:
        """Per commune with cells on the grid: SUHI under SUHI_DEFINITION."""
        to_grid = from_lonlat(self.grid.epsg)
        land = ~self.water
        found = []
        for commune in communes:
            outline = shapely.transform(commune.geometry, to_grid.transform, interleaved=False)
            inside = self._cells(outline)
            if not inside.any():
                continue
            rural = self._cells(outline.buffer(RING_M).difference(outline))
            urban_mean = _mean(self.temperature[inside & land])
            rural_mean = _mean(self.temperature[rural & land])
            found.append(
                {
                    "code": commune.code,
                    "name": commune.name,
                    "suhi_c": None
                    if urban_mean is None or rural_mean is None
                    else round(urban_mean - rural_mean, 4),
                    "urban_mean_c": None if urban_mean is None else round(urban_mean, 4),
                    "rural_mean_c": None if rural_mean is None else round(rural_mean, 4),
                    "urban_cells": int(np.count_nonzero(inside & land)),
                    "rural_cells": int(np.count_nonzero(rural & land)),
                }
            )
        return found

    def _cells(self, geometry: BaseGeometry) -> np.ndarray:
        if geometry.is_empty:
            return np.zeros(self.grid.shape, np.bool_)
        return rasterize(
            [(geometry, 1)], out_shape=self.grid.shape, transform=self.grid.transform, fill=0
        ).astype(np.bool_)

    def summary(self) -> dict[str, Any]:
        temperature, land = self.temperature, ~self.water
        urban = _mean(temperature[land & (self.density >= URBAN_DENSITY)])
        rural = _mean(temperature[land & (self.density < RURAL_DENSITY)])
        return {
            "minimum_c": round(float(temperature.min()), 3),
            "mean_c": round(float(temperature.mean(dtype=np.float64)), 3),
            "maximum_c": round(float(temperature.max()), 3),
            "urban_mean_c": None if urban is None else round(urban, 3),
            "rural_mean_c": None if rural is None else round(rural, 3),
            "density_heat_island_c": None
            if urban is None or rural is None
            else round(urban - rural, 3),
        }


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean(dtype=np.float64)) if values.size else None


def emissivity(red_dn: np.ndarray, nir_dn: np.ndarray) -> np.ndarray:
    """ε = 0.004·Pv + 0.986, Pv = clip((NDVI − 0.2)/(0.5 − 0.2), 0, 1)², NDVI from the
    reflectance the MTL constants give back from the DN (what the LST indicator computes)."""
    red = REFLECTANCE_MULT * red_dn.astype(np.float64) + REFLECTANCE_ADD
    nir = REFLECTANCE_MULT * nir_dn.astype(np.float64) + REFLECTANCE_ADD
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    vegetation = np.clip((ndvi - NDVI_SOIL) / (NDVI_VEGETATION - NDVI_SOIL), 0.0, 1.0) ** 2
    return 0.004 * vegetation + 0.986


def thermal_digital_numbers(temperature_c: np.ndarray, surface_emissivity: np.ndarray):
    """Inverts the DESIGN chain L = ML·DN + AL; BT = K2 / ln(K1/L + 1);
    LST = BT / (1 + (λ·BT/ρ)·ln ε): BT = LST / (1 − LST·λ·ln ε/ρ), L = K1 / (e^(K2/BT) − 1)."""
    surface = temperature_c.astype(np.float64) + KELVIN
    brightness = surface / (1.0 - surface * WAVELENGTH_M * np.log(surface_emissivity) / RHO_M_K)
    radiance = K1_BAND_10 / np.expm1(K2_BAND_10 / brightness)
    multiply, add = RADIANCE[10]
    return np.clip(np.rint((radiance - add) / multiply), 1, 65535).astype(np.uint16)


def sun_elevation_deg(latitude: float, when: date) -> float:
    """Sun elevation at a 10:30 solar-time overpass (Cooper's declination formula)."""
    day = when.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365)
    hour_angle = math.radians(-22.5)
    latitude_rad = math.radians(latitude)
    sine = math.sin(latitude_rad) * math.sin(declination) + math.cos(latitude_rad) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(sine))


def earth_sun_distance_au(when: date) -> float:
    day = when.timetuple().tm_yday
    return 1.0 - 0.01672 * math.cos(2 * math.pi * (day - 4) / 365.256)


@dataclass
class LandsatProduct:
    """Generates one scene and its LST truth block by block on the 30 m grid."""

    root: Path
    grid_10m: Grid
    landscape: Landscape
    scene: LandsatScene
    seed: int
    level: int = 1
    communes: list[Commune] = field(default_factory=list)
    cloud_pixels: int = 0

    @property
    def grid(self) -> Grid:
        return self.grid_10m.resampled(RESOLUTION)

    @property
    def folder(self) -> Path:
        return self.root / COLLECTION / self.scene.id

    def blocks(self) -> list[tuple[int, int]]:
        return self.grid.row_blocks()

    def band_names(self) -> list[str]:
        if self.level == 1:
            return ["B4", "B5", "B10"]
        return [*SR_BANDS, "ST_B10", "QA_PIXEL"]

    def generate(self, progress: Callable[[], None], conversions: Conversions) -> Item:
        """Writes the bands (and the MTL of a Level-1 scene) and the LST truth; `progress` is
        called after each block."""
        grid, scene = self.grid, self.scene
        self.folder.mkdir(parents=True)
        (self.root / "truth").mkdir(parents=True, exist_ok=True)
        sun = math.sin(math.radians(sun_elevation_deg(self.landscape.latitude, scene.when)))
        files = {name: self.folder / f"{scene.product_id}_{name}.TIF" for name in self.band_names()}
        writers = {
            name: CogWriter(
                path,
                grid,
                dtype="uint16",
                nodata=QA_FILL if name == "QA_PIXEL" else 0,
                descriptions=[name],
                resampling="NEAREST" if name == "QA_PIXEL" else "AVERAGE",
            )
            for name, path in files.items()
        }
        truth = CogWriter(
            self.root / lst_truth_path(scene.when),
            grid,
            dtype="float32",
            nodata=float("nan"),
            descriptions=["planted land surface temperature (°C)"],
        )
        heat = HeatTruth(grid)
        x = grid.column_centres()
        for block, (start, stop) in enumerate(self.blocks()):
            rng = np.random.default_rng([self.seed, scene.stream, block])
            y = grid.row_centres(start, stop)
            ground = self.landscape.ground(x, y, RESOLUTION)
            cover = self.landscape.cover(ground, scene.when)
            temperature = self.landscape.land_surface_temperature_c(x, y, ground, cover, scene.when)
            if self.level == 1:
                numbers = self._level1(rng, ground, cover, sun, temperature)
            else:
                numbers = self._level2(rng, x, y, ground, cover, temperature)
            for name, writer in writers.items():
                writer.write(start, numbers[name])
            truth.write(start, temperature)
            heat.add(start, temperature, cover.water >= 0.5, ground.urban_density)
            progress()
        for writer in [*writers.values(), truth]:
            writer.finish(conversions)
        self.heat = heat
        mtl = None
        if self.level == 1:
            mtl = self.folder / f"{scene.product_id}_MTL.txt"
            numbered = {int(name[1:]): path for name, path in files.items()}
            mtl.write_text(self.metadata_text(numbered), encoding="utf-8")
        return self._item(files, mtl)

    def _level1(self, rng, ground, cover, sun: float, temperature) -> dict[str, np.ndarray]:
        """B4 and B5 as TOA digital numbers, B10 encoding the planted LST."""
        numbers = {}
        for name, band in (("B4", "B04"), ("B5", "B08")):
            reflectance = surface_reflectance(cover, ground, band)
            noise = rng.standard_normal(reflectance.shape, dtype=np.float32)
            reflectance += noise * np.float32(NOISE_REFLECTANCE)
            toa = (reflectance * sun - REFLECTANCE_ADD) / REFLECTANCE_MULT
            numbers[name] = np.clip(np.rint(toa), 1, 65535).astype(np.uint16)
        numbers["B10"] = thermal_digital_numbers(
            temperature, emissivity(numbers["B4"], numbers["B5"])
        )
        return numbers

    def _level2(self, rng, x, y, ground, cover, temperature) -> dict[str, np.ndarray]:
        """Surface reflectance and temperature as the sky lets them be seen, and QA_PIXEL."""
        clouds = self.scene.clouds
        local_x, local_y = self.landscape.local(x, y)
        cloud = np.zeros(temperature.shape, np.float32)
        shadow = np.zeros(temperature.shape, np.float32)
        if clouds is not None:
            cloud = clouds.opacity(local_x, local_y)
            shift_x, shift_y = clouds.shadow_shift
            shadow = clouds.opacity(local_x - shift_x, local_y - shift_y)
            shadow *= np.float32(1.0) - cloud
        numbers = {}
        for name, band in SR_BANDS.items():
            index = BAND_INDEX[band]
            reflectance = surface_reflectance(cover, ground, band)
            reflectance *= np.float32(1.0) - shadow * np.float32(1.0 - SHADOW_TRANSMISSION[index])
            reflectance += (np.float32(CLOUD[index]) - reflectance) * cloud
            reflectance += rng.standard_normal(reflectance.shape, dtype=np.float32) * np.float32(
                NOISE_REFLECTANCE
            )
            scaled = np.rint((reflectance - np.float32(SR_OFFSET)) / np.float32(SR_SCALE))
            numbers[name] = np.clip(scaled, 1, 65535).astype(np.uint16)
        cloud_top = np.float32(
            self.landscape.air_temperature_c(self.scene.when) - CLOUD_TOP_COOLING_C
        )
        seen = temperature + (cloud_top - temperature) * cloud
        seen -= np.float32(SHADOW_COOLING_C) * shadow
        kelvin = seen.astype(np.float64) + KELVIN
        numbers["ST_B10"] = np.clip(np.rint((kelvin - ST_OFFSET) / ST_SCALE), 1, 65535).astype(
            np.uint16
        )
        clouded = cloud >= CLOUD_OPACITY
        shaded = (shadow >= SHADOW_OPACITY) & ~clouded
        dilated = cloud > DILATED_OPACITY
        qa = np.full(temperature.shape, QA_LOW_CONFIDENCES, np.uint16)
        qa[dilated] |= QA_DILATED
        qa[clouded] |= QA_CLOUD | QA_CLOUD_HIGH
        qa[shaded] |= QA_SHADOW | QA_SHADOW_HIGH
        qa[~(dilated | shaded)] |= QA_CLEAR
        qa[cover.water >= 0.5] |= QA_WATER
        numbers["QA_PIXEL"] = qa
        self.cloud_pixels += int(np.count_nonzero(clouded))
        return numbers

    def temperature_truth(self) -> dict[str, Any]:
        """The scene's entry in truth.json's land_surface_temperature.scenes."""
        grid = self.grid
        return {
            "id": self.scene.id,
            "date": self.scene.when.isoformat(),
            "raster": lst_truth_path(self.scene.when),
            "level": self.level,
            "cloud_cover": round(100.0 * self.cloud_pixels / (grid.width * grid.height), 2),
            **self.heat.summary(),
            "communes": self.heat.communes(self.communes),
        }

    def metadata_text(self, files: dict[int, Path]) -> str:
        """The _MTL.txt, laid out as a Landsat 8 Collection 1 Level-1 metadata file."""
        grid, scene = self.grid, self.scene
        centre_left = grid.left + grid.resolution / 2
        centre_top = grid.top - grid.resolution / 2
        centre_right = centre_left + (grid.width - 1) * grid.resolution
        centre_bottom = centre_top - (grid.height - 1) * grid.resolution
        corners = {
            "UL": (centre_left, centre_top),
            "UR": (centre_right, centre_top),
            "LL": (centre_left, centre_bottom),
            "LR": (centre_right, centre_bottom),
        }
        transformer = to_lonlat(grid.epsg)
        lines = [
            "GROUP = L1_METADATA_FILE",
            "  GROUP = METADATA_FILE_INFO",
            '    ORIGIN = "Synthetic scene from territoires synth (planted truth)"',
            f'    LANDSAT_PRODUCT_ID = "{scene.product_id}"',
            "    COLLECTION_NUMBER = 02",
            '    PROCESSING_SOFTWARE_VERSION = "territoires-synth"',
            "  END_GROUP = METADATA_FILE_INFO",
            "  GROUP = PRODUCT_METADATA",
            '    DATA_TYPE = "L1TP"',
            '    COLLECTION_CATEGORY = "T1"',
            '    OUTPUT_FORMAT = "GEOTIFF"',
            '    SPACECRAFT_ID = "LANDSAT_8"',
            '    SENSOR_ID = "OLI_TIRS"',
            f"    DATE_ACQUIRED = {scene.when.isoformat()}",
            '    SCENE_CENTER_TIME = "10:30:00.0000000Z"',
        ]
        for corner, (easting, northing) in corners.items():
            longitude, latitude = transformer.transform(easting, northing)
            lines.append(f"    CORNER_{corner}_LAT_PRODUCT = {latitude:.5f}")
            lines.append(f"    CORNER_{corner}_LON_PRODUCT = {longitude:.5f}")
        for corner, (easting, northing) in corners.items():
            lines.append(f"    CORNER_{corner}_PROJECTION_X_PRODUCT = {easting:.3f}")
            lines.append(f"    CORNER_{corner}_PROJECTION_Y_PRODUCT = {northing:.3f}")
        lines += [
            f"    REFLECTIVE_LINES = {grid.height}",
            f"    REFLECTIVE_SAMPLES = {grid.width}",
            f"    THERMAL_LINES = {grid.height}",
            f"    THERMAL_SAMPLES = {grid.width}",
        ]
        lines += [f'    FILE_NAME_BAND_{band} = "{path.name}"' for band, path in files.items()]
        lines += [
            f'    METADATA_FILE_NAME = "{scene.product_id}_MTL.txt"',
            "  END_GROUP = PRODUCT_METADATA",
            "  GROUP = IMAGE_ATTRIBUTES",
            "    CLOUD_COVER = 0.00",
            "    CLOUD_COVER_LAND = 0.00",
            "    IMAGE_QUALITY_OLI = 9",
            "    IMAGE_QUALITY_TIRS = 9",
            f"    SUN_AZIMUTH = {135.0 if self.landscape.latitude >= 0 else 45.0:.8f}",
            f"    SUN_ELEVATION = {sun_elevation_deg(self.landscape.latitude, scene.when):.8f}",
            f"    EARTH_SUN_DISTANCE = {earth_sun_distance_au(scene.when):.7f}",
            "  END_GROUP = IMAGE_ATTRIBUTES",
            "  GROUP = MIN_MAX_PIXEL_VALUE",
        ]
        for band in files:
            lines.append(f"    QUANTIZE_CAL_MAX_BAND_{band} = 65535")
            lines.append(f"    QUANTIZE_CAL_MIN_BAND_{band} = 1")
        lines += ["  END_GROUP = MIN_MAX_PIXEL_VALUE", "  GROUP = RADIOMETRIC_RESCALING"]
        lines += [f"    RADIANCE_MULT_BAND_{band} = {RADIANCE[band][0]:.4E}" for band in files]
        lines += [f"    RADIANCE_ADD_BAND_{band} = {RADIANCE[band][1]:.5f}" for band in files]
        for band in (4, 5):
            lines.append(f"    REFLECTANCE_MULT_BAND_{band} = {REFLECTANCE_MULT:.4E}")
        for band in (4, 5):
            lines.append(f"    REFLECTANCE_ADD_BAND_{band} = {REFLECTANCE_ADD:.6f}")
        zone = grid.epsg % 100
        lines += [
            "  END_GROUP = RADIOMETRIC_RESCALING",
            "  GROUP = TIRS_THERMAL_CONSTANTS",
            f"    K1_CONSTANT_BAND_10 = {K1_BAND_10:.4f}",
            f"    K2_CONSTANT_BAND_10 = {K2_BAND_10:.4f}",
            "  END_GROUP = TIRS_THERMAL_CONSTANTS",
            "  GROUP = PROJECTION_PARAMETERS",
            '    MAP_PROJECTION = "UTM"',
            '    DATUM = "WGS84"',
            '    ELLIPSOID = "WGS84"',
            f"    UTM_ZONE = {zone}",
            f"    GRID_CELL_SIZE_REFLECTIVE = {RESOLUTION:.2f}",
            f"    GRID_CELL_SIZE_THERMAL = {RESOLUTION:.2f}",
            '    ORIENTATION = "NORTH_UP"',
            '    RESAMPLING_OPTION = "CUBIC_CONVOLUTION"',
            "  END_GROUP = PROJECTION_PARAMETERS",
            "END_GROUP = L1_METADATA_FILE",
            "END",
        ]
        return "\n".join(lines) + "\n"

    def _item(self, files: dict[str, Path], mtl: Path | None) -> Item:
        assets = {name: self._asset(name, path) for name, path in files.items()}
        if mtl is not None:
            assets["MTL"] = Asset(
                mtl, "Metadata (MTL)", self.grid, [], roles=("metadata",), media_type="text/plain"
            )
        grid = self.grid
        return Item(
            id=self.scene.id,
            collection=COLLECTION,
            folder=self.folder,
            grid=grid,
            when=self.scene.when,
            properties={
                "platform": "landsat-8",
                "constellation": "landsat",
                "instruments": ["oli", "tirs"],
                "gsd": RESOLUTION,
                "eo:cloud_cover": round(100.0 * self.cloud_pixels / (grid.width * grid.height), 2),
                "landsat:collection_number": "02",
                "landsat:correction": "L1TP" if self.level == 1 else "L2SP",
            },
            assets=assets,
            extensions=("eo", "projection", "raster"),
        )

    def _asset(self, name: str, path: Path) -> Asset:
        """A band's asset: its scaling, spectrum and (Level-1) the MTL's constants."""
        raster: dict[str, Any] = {
            "nodata": QA_FILL if name == "QA_PIXEL" else 0,
            "data_type": "uint16",
            "spatial_resolution": RESOLUTION,
        }
        fields: dict[str, Any] = {}
        if name in ("B4", "B5"):
            number = int(name[1:])
            raster |= {"scale": REFLECTANCE_MULT, "offset": REFLECTANCE_ADD}
            fields = {
                "landsat:reflectance_mult": REFLECTANCE_MULT,
                "landsat:reflectance_add": REFLECTANCE_ADD,
                "landsat:radiance_mult": RADIANCE[number][0],
                "landsat:radiance_add": RADIANCE[number][1],
            }
        elif name == "B10":
            raster |= {"scale": RADIANCE[10][0], "offset": RADIANCE[10][1]}
            raster["unit"] = "W/(m2 sr um)"
            fields = {
                "landsat:radiance_mult": RADIANCE[10][0],
                "landsat:radiance_add": RADIANCE[10][1],
                "landsat:k1_constant": K1_BAND_10,
                "landsat:k2_constant": K2_BAND_10,
            }
        elif name == "ST_B10":
            raster |= {"scale": ST_SCALE, "offset": ST_OFFSET, "unit": "kelvin"}
        elif name in SR_BANDS:
            raster |= {"scale": SR_SCALE, "offset": SR_OFFSET}
        spectrum = SPECTRA.get(name)
        eo_bands = None
        if spectrum is not None:
            common_name, centre, width = spectrum
            eo_bands = [
                {
                    "name": name,
                    "common_name": common_name,
                    "center_wavelength": centre,
                    "full_width_half_max": width,
                }
            ]
        title = "Quality (QA_PIXEL)" if name == "QA_PIXEL" else f"Band {name}"
        return Asset(
            path, title, self.grid, raster_bands=[raster], eo_bands=eo_bands, fields=fields
        )
