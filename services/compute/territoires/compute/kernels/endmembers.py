"""The endmember spectra of Sentinel-2 L2A covers that the unmixing and the fractional cover
share (and `territoires synth` plants), in plain Python: process descriptions name the bands
they need without loading numba."""

from __future__ import annotations

import numpy as np

BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")
"""The eo:bands common names read, in the order of the endmembers' columns."""
GREEN, SWIR16 = BANDS.index("green"), BANDS.index("swir16")

ENDMEMBERS = {
    # L2A surface reflectance in BANDS order: typical spectra of each cover (clear water, broadleaf
    # canopy, green grass or crops, dry light soil, grey roofs, aged asphalt), the ones
    # `territoires synth` plants.
    "water": (0.050, 0.042, 0.025, 0.010, 0.006, 0.004),
    "trees": (0.025, 0.050, 0.025, 0.350, 0.160, 0.070),
    "herbaceous": (0.035, 0.080, 0.040, 0.420, 0.220, 0.110),
    "soil": (0.080, 0.110, 0.150, 0.230, 0.320, 0.260),
    "roofs": (0.110, 0.120, 0.135, 0.170, 0.210, 0.190),
    "asphalt": (0.070, 0.078, 0.085, 0.100, 0.135, 0.128),
}
SEALED = ("roofs", "asphalt")
WATER = list(ENDMEMBERS).index("water")

SEASONS = {"spring": (3, 4, 5), "summer": (6, 7, 8), "autumn": (9, 10, 11)}
"""The seasons `vegetation-strata` unmixes, by their months in the northern hemisphere."""
STRATA = ("trees", "shrubs", "herbaceous")
MIN_SEASONS = 2
"""The seasons a cell must be seen in: one cannot tell grass from shrubs (alike in summer)."""
PHENOLOGY = {
    # Each stratum's spectrum (BANDS order) by season, the ones `territoires synth` plants: trees
    # stay green from spring to autumn; grass is lush in spring, green in summer (the summer
    # spectra are ENDMEMBERS's) and dry or mown in autumn; shrubs leaf out late, look like
    # grass from above in summer and keep half their green in autumn.
    "spring": {
        "trees": (0.030, 0.060, 0.035, 0.300, 0.170, 0.080),
        "shrubs": (0.045, 0.065, 0.060, 0.260, 0.230, 0.140),
        "herbaceous": (0.030, 0.075, 0.035, 0.480, 0.230, 0.105),
    },
    "summer": {
        "trees": ENDMEMBERS["trees"],
        "shrubs": ENDMEMBERS["herbaceous"],
        "herbaceous": ENDMEMBERS["herbaceous"],
    },
    "autumn": {
        "trees": (0.030, 0.055, 0.035, 0.320, 0.170, 0.080),
        "shrubs": (0.035, 0.065, 0.045, 0.330, 0.200, 0.110),
        "herbaceous": (0.060, 0.085, 0.100, 0.260, 0.300, 0.220),
    },
}
STRATA_ENDMEMBERS = ("water", *STRATA, "soil", "roofs", "asphalt")
"""The seasonal unmixing's endmembers: the strata, and the covers that do not change."""


def group_weights(names: tuple[str, ...]) -> np.ndarray:
    """1 for the endmembers of the group `names`, 0 for the others: the share of a group is the
    weighted sum of a fit's abundances."""
    return np.array([1.0 if name in names else 0.0 for name in ENDMEMBERS], np.float64)


def season(month: int, southern: bool = False) -> str | None:
    """The season of SEASONS a month falls in (None in winter), six months on south."""
    shifted = (month + 5) % 12 + 1 if southern else month
    return next((name for name, months in SEASONS.items() if shifted in months), None)


def seasonal_spectrum(name: str, season_name: str) -> tuple[float, ...]:
    """An endmember of STRATA_ENDMEMBERS in one season: a stratum's from PHENOLOGY, the
    others' the same all year."""
    return PHENOLOGY[season_name].get(name) or ENDMEMBERS[name]


def endmember_ndvi(name: str) -> float:
    """NDVI of one of the unmixing's endmember spectra."""
    reflectance = ENDMEMBERS[name]
    red, nir = reflectance[BANDS.index("red")], reflectance[BANDS.index("nir")]
    return (nir - red) / (nir + red)
