"""What a file name says about a raster: its scene, its band, the mission and the band's spectrum.

Products are delivered one file per band (`LC08_…_RT_B4.TIF`, `S2_…_B8A.tif`, `S1A_…_vv.tiff`);
the catalog wants one item per scene with one asset per band. A file whose stem ends in `_` and a
band-like token is a band of the scene named by what comes before; a file named by a band token
alone is a band of the scene named by its folder; any other file is a scene of its own.

The tables give `eo:bands` entries (common name, centre wavelength and full width at half maximum
in µm, from the ESA and USGS band specifications) for the optical missions we ingest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Landsat Collection 1 (B4, BQA), Collection 2 (SR_B4, ST_B10, QA_PIXEL), Sentinel-2 (B02, B8A,
# SCL, AOT, WVP, TCI) and SAR polarisations.
BAND = r"(?:SR_|ST_)?B\d{1,2}A?|BQA|QA(?:_[A-Z]+)?|ST_[A-Z]+|SCL|AOT|WVP|TCI|VV|VH|HH|HV"
BAND_SUFFIX = re.compile(rf"_(?P<band>{BAND})$", re.IGNORECASE)
BAND_ONLY = re.compile(BAND, re.IGNORECASE)
QUALITY_BANDS = re.compile(r"^(BQA|QA.*|ST_(?!B\d).*|SCL|AOT|WVP|TCI)$", re.IGNORECASE)
POLARISATIONS = frozenset({"VV", "VH", "HH", "HV"})

# name: (common name, centre wavelength µm, full width at half maximum µm)
SENTINEL2_BANDS = {
    "B01": ("coastal", 0.443, 0.027),
    "B02": ("blue", 0.490, 0.098),
    "B03": ("green", 0.560, 0.045),
    "B04": ("red", 0.665, 0.038),
    "B05": ("rededge", 0.704, 0.019),
    "B06": ("rededge", 0.740, 0.018),
    "B07": ("rededge", 0.783, 0.028),
    "B08": ("nir", 0.842, 0.145),
    "B8A": ("nir08", 0.865, 0.033),
    "B09": ("nir09", 0.945, 0.026),
    "B10": ("cirrus", 1.375, 0.075),
    "B11": ("swir16", 1.610, 0.143),
    "B12": ("swir22", 2.190, 0.242),
}
LANDSAT_OLI_TIRS_BANDS = {
    "B1": ("coastal", 0.44, 0.02),
    "B2": ("blue", 0.48, 0.06),
    "B3": ("green", 0.56, 0.06),
    "B4": ("red", 0.655, 0.03),
    "B5": ("nir08", 0.865, 0.03),
    "B6": ("swir16", 1.61, 0.08),
    "B7": ("swir22", 2.20, 0.18),
    "B8": ("pan", 0.59, 0.18),
    "B9": ("cirrus", 1.37, 0.02),
    "B10": ("lwir11", 10.895, 0.59),
    "B11": ("lwir12", 12.005, 1.01),
}


@dataclass(frozen=True)
class Mission:
    """The platform fields of an item, and how to name the spectrum of its bands."""

    constellation: str
    instruments: tuple[str, ...]
    platform: str | None = None
    optical: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    sar: bool = False

    def properties(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"constellation": self.constellation}
        if self.platform:
            fields["platform"] = self.platform
        fields["instruments"] = list(self.instruments)
        return fields

    def eo_band(self, band: str) -> dict[str, Any] | None:
        """The `eo:bands` entry of a band token (B4, SR_B4, B02, b8a), None when not optical."""
        key = band.upper().removeprefix("SR_").removeprefix("ST_")
        if self.optical is SENTINEL2_BANDS and re.fullmatch(r"B\d", key):
            key = f"B0{key[1]}"
        known = self.optical.get(key)
        if known is None:
            return None
        common_name, centre, width = known
        return {
            "name": band,
            "common_name": common_name,
            "center_wavelength": centre,
            "full_width_half_max": width,
        }


def split_band(stem: str, folder: str) -> tuple[str, str | None]:
    """(scene name, band token) of a file stem; the band is None when the stem names no band.
    A file named by its band only (`B04.tif`, `vv.tif`) is a band of the scene named by its
    folder, the layout of one folder per scene."""
    if BAND_ONLY.fullmatch(stem):
        return folder, stem
    match = BAND_SUFFIX.search(stem)
    if match is None or match.start() == 0:
        return stem, None
    return stem[: match.start()], match.group("band")


def is_quality_band(band: str) -> bool:
    return bool(QUALITY_BANDS.match(band))


def band_order(band: str) -> tuple[str, int, str]:
    """Natural order of band tokens: B2 before B10, B8 before B8A."""
    match = re.fullmatch(r"(\D*)(\d*)(.*)", band.upper())
    assert match is not None  # the pattern matches any string
    prefix, number, rest = match.groups()
    return prefix, int(number) if number else -1, rest


def mission_of(scene: str) -> Mission | None:
    """The mission a scene name says it comes from (Sentinel-1/2, Landsat 8/9), if any."""
    name = scene.upper()
    if match := re.match(r"S2([A-D])?[_-]", name):
        letter = match.group(1)
        platform = f"sentinel-2{letter.lower()}" if letter else None
        return Mission("sentinel-2", ("msi",), platform, SENTINEL2_BANDS)
    if match := re.match(r"L[COT]0?([89])[_-]", name):
        platform = f"landsat-{match.group(1)}"
        return Mission("landsat", ("oli", "tirs"), platform, LANDSAT_OLI_TIRS_BANDS)
    if match := re.match(r"S1([A-D])?[_-]", name):
        letter = match.group(1)
        platform = f"sentinel-1{letter.lower()}" if letter else None
        return Mission("sentinel-1", ("c-sar",), platform, sar=True)
    return None


def sar_properties(scene: str, polarisations: list[str], mission: Mission | None) -> dict[str, Any]:
    """`sar:*` fields of a scene with polarisation bands: what the name and mission tell."""
    fields: dict[str, Any] = {"sar:polarizations": polarisations}
    tokens = set(re.split(r"[_\-.]", scene.upper()))
    if mission is not None and mission.sar:
        fields["sar:frequency_band"] = "C"
    if mode := next((m for m in ("IW", "EW", "SM", "WV") if m in tokens), None):
        fields["sar:instrument_mode"] = mode
    product = next((t for t in tokens if re.fullmatch(r"(GRD[HMF]?|SLC|OCN)", t)), None)
    if product:
        fields["sar:product_type"] = product[:3]
    return fields
