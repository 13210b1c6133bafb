"""Surface reflectance of a pixel as the area-weighted mix of each cover's spectrum, so that
indices (NDVI, MNDWI) behave as on real scenes: water dark in NIR, plants bright, towns grey."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from territoires.synth.landscape import Cover, Ground


@dataclass(frozen=True)
class Band:
    """An optical band, named as on Sentinel-2, with the figures the STAC eo extension wants."""

    name: str
    common_name: str
    centre_um: float
    width_um: float


BANDS = {
    "B02": Band("B02", "blue", 0.490, 0.098),
    "B03": Band("B03", "green", 0.560, 0.045),
    "B04": Band("B04", "red", 0.665, 0.038),
    "B08": Band("B08", "nir", 0.842, 0.145),
    "B11": Band("B11", "swir16", 1.610, 0.143),
    "B12": Band("B12", "swir22", 2.190, 0.242),
}

# Reflectance of each pure cover in B02, B03, B04, B08, B11, B12.
WATER = (0.050, 0.042, 0.025, 0.010, 0.006, 0.004)
TREE = (0.025, 0.050, 0.025, 0.350, 0.160, 0.070)
GREEN_PLANTS = (0.035, 0.080, 0.040, 0.420, 0.220, 0.110)
BARE_SOIL = (0.080, 0.110, 0.150, 0.230, 0.320, 0.260)
BUILT = (0.110, 0.120, 0.135, 0.170, 0.210, 0.190)  # roofs
PAVED = (0.070, 0.078, 0.085, 0.100, 0.135, 0.128)  # asphalt: darker, flatter in the visible
CLOUD = (0.550, 0.540, 0.530, 0.550, 0.450, 0.350)
SHADOW_TRANSMISSION = (0.30, 0.30, 0.32, 0.40, 0.45, 0.45)

BAND_INDEX = {name: index for index, name in enumerate(BANDS)}

SUMMER = "summer"
SEASONS = {"spring": (3, 4, 5), SUMMER: (6, 7, 8), "autumn": (9, 10, 11)}
"""Months of each season in the north; winter scenes look like autumn ones."""
# Trees, shrubs and herbaceous plants by season: trees stay green; grass is lush in spring,
# green in summer (TREE and GREEN_PLANTS, what single-date products have always planted) and
# dry or mown in autumn; shrubs leaf out late, look like grass in summer and stay half green.
PHENOLOGY = {
    "spring": {
        "tree": (0.030, 0.060, 0.035, 0.300, 0.170, 0.080),
        "shrub": (0.045, 0.065, 0.060, 0.260, 0.230, 0.140),
        "herbaceous": (0.030, 0.075, 0.035, 0.480, 0.230, 0.105),
    },
    SUMMER: {"tree": TREE, "shrub": GREEN_PLANTS, "herbaceous": GREEN_PLANTS},
    "autumn": {
        "tree": (0.030, 0.055, 0.035, 0.320, 0.170, 0.080),
        "shrub": (0.035, 0.065, 0.045, 0.330, 0.200, 0.110),
        "herbaceous": (0.060, 0.085, 0.100, 0.260, 0.300, 0.220),
    },
}


def season(when: date, latitude: float) -> str:
    """The season of a date at a latitude (six months on in the south)."""
    month = (when.month + 5) % 12 + 1 if latitude < 0 else when.month
    return next((name for name, months in SEASONS.items() if month in months), "autumn")


def surface_reflectance(
    cover: Cover, ground: Ground, band: str, season_name: str = SUMMER
) -> np.ndarray:
    """Reflectance (0–1) of every pixel in one band in a season, float32."""
    index = BAND_INDEX[band]
    plants = {
        name: np.float32(spectrum[index]) for name, spectrum in PHENOLOGY[season_name].items()
    }
    reflectance = cover.water * np.float32(WATER[index]) * ground.turbidity
    reflectance += cover.tree * plants["tree"]
    # Shrubs are part of the low vegetation: herbaceous spectrum, plus their difference to it
    # (nothing in summer, so single-date scenes keep their bytes).
    reflectance += cover.low_vegetation * plants["herbaceous"]
    reflectance += cover.shrub * (plants["shrub"] - plants["herbaceous"])
    reflectance += cover.bare * np.float32(BARE_SOIL[index]) * ground.brightness
    sealed = cover.building * np.float32(BUILT[index])
    sealed += cover.paved * np.float32(PAVED[index])
    reflectance += sealed * ground.brightness
    return reflectance
