"""The endmember spectra of Sentinel-2 L2A covers that the unmixing and the fractional cover
share (and `territoires synth` plants), in plain Python: process descriptions name the bands
they need without loading numba."""

from __future__ import annotations

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


def endmember_ndvi(name: str) -> float:
    """NDVI of one of the unmixing's endmember spectra."""
    reflectance = ENDMEMBERS[name]
    red, nir = reflectance[BANDS.index("red")], reflectance[BANDS.index("nir")]
    return (nir - red) / (nir + red)
