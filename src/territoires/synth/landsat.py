"""A Landsat 8-like scene (30 m): red B4 and near-infrared B5 as DN, thermal B10 as DN that
encodes a planted land surface temperature through the inverse of the indicator's own chain,
and the _MTL.txt carrying the constants that chain needs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from territoires.synth.cog import CogWriter, Conversions
from territoires.synth.grid import Grid, to_lonlat
from territoires.synth.landscape import Landscape
from territoires.synth.spectra import surface_reflectance
from territoires.synth.stac import Asset, Item

COLLECTION = "landsat-c2-l2"
RESOLUTION = 30.0
LST_TRUTH = "truth/lst_celsius.tif"

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


@dataclass(frozen=True)
class LandsatScene:
    id: str
    product_id: str
    when: date
    stream: int


@dataclass
class TemperatureTally:
    """Sums over the LST truth, for its summary statistics and the heat island figure."""

    minimum: float = math.inf
    maximum: float = -math.inf
    total: float = 0.0
    pixels: int = 0
    urban_total: float = 0.0
    urban_pixels: int = 0
    rural_total: float = 0.0
    rural_pixels: int = 0

    def add(self, temperature: np.ndarray, urban: np.ndarray, rural: np.ndarray) -> None:
        self.minimum = min(self.minimum, float(temperature.min()))
        self.maximum = max(self.maximum, float(temperature.max()))
        self.total += float(temperature.sum(dtype=np.float64))
        self.pixels += temperature.size
        self.urban_total += float(temperature[urban].sum(dtype=np.float64))
        self.urban_pixels += int(np.count_nonzero(urban))
        self.rural_total += float(temperature[rural].sum(dtype=np.float64))
        self.rural_pixels += int(np.count_nonzero(rural))


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
    """Generates the scene and its LST truth block by block on the 30 m grid."""

    root: Path
    grid_10m: Grid
    landscape: Landscape
    scene: LandsatScene
    seed: int
    tally: TemperatureTally = field(default_factory=TemperatureTally)

    @property
    def grid(self) -> Grid:
        return self.grid_10m.resampled(RESOLUTION)

    @property
    def folder(self) -> Path:
        return self.root / COLLECTION / self.scene.id

    def blocks(self) -> list[tuple[int, int]]:
        return self.grid.row_blocks()

    def generate(self, progress: Callable[[], None], conversions: Conversions) -> Item:
        """Writes B4, B5, B10, the MTL and the LST truth; `progress` is called after each block."""
        grid, scene = self.grid, self.scene
        self.folder.mkdir(parents=True)
        (self.root / LST_TRUTH).parent.mkdir(parents=True, exist_ok=True)
        sun = math.sin(math.radians(sun_elevation_deg(self.landscape.latitude, scene.when)))
        files = {band: self.folder / f"{scene.product_id}_B{band}.TIF" for band in (4, 5, 10)}
        writers = {
            band: CogWriter(path, grid, dtype="uint16", nodata=0, descriptions=[f"B{band}"])
            for band, path in files.items()
        }
        truth = CogWriter(
            self.root / LST_TRUTH,
            grid,
            dtype="float32",
            nodata=float("nan"),
            descriptions=["planted land surface temperature (°C)"],
        )
        x = grid.column_centres()
        for block, (start, stop) in enumerate(self.blocks()):
            rng = np.random.default_rng([self.seed, scene.stream, block])
            y = grid.row_centres(start, stop)
            ground = self.landscape.ground(x, y, RESOLUTION)
            cover = self.landscape.cover(ground, scene.when)
            numbers = {}
            for band, name in ((4, "B04"), (5, "B08")):
                reflectance = surface_reflectance(cover, ground, name)
                noise = rng.standard_normal(reflectance.shape, dtype=np.float32)
                reflectance += noise * np.float32(NOISE_REFLECTANCE)
                toa = (reflectance * sun - REFLECTANCE_ADD) / REFLECTANCE_MULT
                numbers[band] = np.clip(np.rint(toa), 1, 65535).astype(np.uint16)
            temperature = self.landscape.land_surface_temperature_c(x, y, ground, cover, scene.when)
            numbers[10] = thermal_digital_numbers(temperature, emissivity(numbers[4], numbers[5]))
            for band, writer in writers.items():
                writer.write(start, numbers[band])
            truth.write(start, temperature)
            land = cover.water < 0.5
            urban = land & (ground.urban_density >= URBAN_DENSITY)
            rural = land & (ground.urban_density < RURAL_DENSITY)
            self.tally.add(temperature, urban, rural)
            progress()
        for writer in [*writers.values(), truth]:
            writer.finish(conversions)
        mtl = self.folder / f"{scene.product_id}_MTL.txt"
        mtl.write_text(self.metadata_text(files), encoding="utf-8")
        return self._item(files, mtl)

    def temperature_truth(self) -> dict[str, float | int | str | None]:
        tally = self.tally
        urban = tally.urban_total / tally.urban_pixels if tally.urban_pixels else None
        rural = tally.rural_total / tally.rural_pixels if tally.rural_pixels else None
        return {
            "date": self.scene.when.isoformat(),
            "raster": LST_TRUTH,
            "minimum_c": round(tally.minimum, 3),
            "mean_c": round(tally.total / tally.pixels, 3),
            "maximum_c": round(tally.maximum, 3),
            "urban_mean_c": None if urban is None else round(urban, 3),
            "rural_mean_c": None if rural is None else round(rural, 3),
            "surface_urban_heat_island_c": None
            if urban is None or rural is None
            else round(urban - rural, 3),
            "heat_island_amplitude_c": self.landscape.heat_island_amplitude_c,
            "urban_definition": f"land pixels whose urban density is at least {URBAN_DENSITY}",
            "rural_definition": f"land pixels whose urban density is below {RURAL_DENSITY}",
            "chain": "L = ML*DN + AL; BT = K2/ln(K1/L + 1); NDVI from reflectance "
            "REFLECTANCE_MULT*DN + REFLECTANCE_ADD of B4 and B5; Pv = clip((NDVI - 0.2)/0.3, "
            "0, 1)**2; e = 0.004*Pv + 0.986; LST = BT/(1 + (10.895e-6*BT/1.4388e-2)*ln e) "
            "- 273.15",
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

    def _item(self, files: dict[int, Path], mtl: Path) -> Item:
        bands = {
            4: ("red", 0.655, 0.04, REFLECTANCE_MULT, REFLECTANCE_ADD, None),
            5: ("nir08", 0.865, 0.03, REFLECTANCE_MULT, REFLECTANCE_ADD, None),
            10: ("lwir11", 10.895, 0.59, *RADIANCE[10], "W/(m2 sr um)"),
        }
        assets = {}
        for band, path in files.items():
            common_name, centre, width, scale, offset, unit = bands[band]
            raster = {
                "nodata": 0,
                "data_type": "uint16",
                "scale": scale,
                "offset": offset,
                "spatial_resolution": RESOLUTION,
            }
            if unit:
                raster["unit"] = unit
            assets[f"B{band}"] = Asset(
                path,
                f"Band {band} ({common_name})",
                self.grid,
                raster_bands=[raster],
                eo_bands=[
                    {
                        "name": f"B{band}",
                        "common_name": common_name,
                        "center_wavelength": centre,
                        "full_width_half_max": width,
                    }
                ],
            )
        assets["MTL"] = Asset(
            mtl, "Metadata (MTL)", self.grid, [], roles=("metadata",), media_type="text/plain"
        )
        return Item(
            id=self.scene.id,
            collection=COLLECTION,
            folder=self.folder,
            grid=self.grid,
            when=self.scene.when,
            properties={
                "platform": "landsat-8",
                "constellation": "landsat",
                "instruments": ["oli", "tirs"],
                "gsd": RESOLUTION,
                "eo:cloud_cover": 0.0,
            },
            assets=assets,
            extensions=("eo", "projection", "raster"),
        )
