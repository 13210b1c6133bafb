"""How a layer looks when the request says nothing: indicator colours from the registry, scenes
by what their assets hold.

An indicator result renders with its registered legend (interpolated for continuous indicators,
one colour per class for categorical ones) over its value range, its nodata transparent. A scene
renders, by the first of these its assets allow: true colour (red, green and blue found by their
STAC common names, over 0–30 % reflectance); SAR backscatter in grey over −25…0 dB; night
radiance log-stretched in grey (a nightly stack shows the median of its last nights); a thermal
band over −5…45 °C in a temperature ramp; else its data asset, stretched from the item's
statistics when it has them, else from each image's own percentiles. Every choice reads the
STAC item (common names, `raster:bands` unit, scale, offset, data type, statistics, `sar:`
fields), never a collection or item id, so any catalogue's scenes render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy
import pystac
from rio_tiler.colormap import cmap
from rio_tiler.types import AssetType, ColorMapType
from titiler.core.algorithm import BaseAlgorithm, default_algorithms

from territoires.shared.indicators import INDICATORS, Indicator
from territoires.tiles.algorithms import LogScale, PercentileStretch, Steps

RGBA = tuple[int, int, int, int]
RASTER_TYPES = ("image/tiff", "image/vnd.stac.geotiff", "image/x.geotiff", "image/jp2")
TRUE_COLOUR = ("red", "green", "blue")
# Surface reflectance shown from black to white: bright enough for towns, fields and water.
REFLECTANCE_STRETCH = (0.0, 0.3)
# Sentinel-2 and Landsat reflectance without `raster:bands` scale: the usual ×10 000 integers.
DEFAULT_REFLECTANCE_SCALE = 1e-4
# σ0 from open water (−25 dB and below, black) to towns (0 dB and above, white).
BACKSCATTER_DB = (-25.0, 0.0)
# Preferred polarisation first: co-polarised returns show towns, fields and water best.
SAR_POLARISATIONS = ("vv", "hh", "vh", "hv")
# Night radiance (nW·cm⁻²·sr⁻¹) from 0.1 (unlit land, black) to 100 (town centres, white),
# in log10: a linear stretch would show the centres only.
RADIANCE_FLOOR = 0.1
RADIANCE_LOG_RANGE = (-1.0, 2.0)
# A nightly stack shows the median of its last nights: one night is often all cloud.
RECENT_NIGHTS = 16
# Temperatures of French land from winter to a summer heat wave, in a blue-to-red ramp.
THERMAL_RANGE_C = (-5.0, 45.0)
THERMAL_COLORMAP = "rdylbu_r"
THERMAL_NAMES = ("lwir", "lwir11", "lwir12")
THERMAL_KEYS = ("ST_B10", "B10", "lwir11", "lwir")
KELVIN_UNITS = ("kelvin", "k")
# Landsat 8/9 TIRS K1 (W/(m² sr µm)) and K2 (K), for radiance thermal bands without MTL.
TIRS_CONSTANTS = {"lwir11": (774.8853, 1321.0789), "lwir12": (480.8883, 1201.1442)}
# The share of values a statistics stretch leaves out at either end.
STRETCH_TAIL = 0.02


@dataclass(frozen=True)
class Style:
    """Defaults of one layer: which assets, what post-processing, how values map to colours,
    what is nodata."""

    assets: tuple[AssetType, ...]
    rescale: tuple[tuple[float, float], ...] | None = None
    colormap: ColorMapType | None = None
    nodata: float | None = None
    process: BaseAlgorithm | None = None


def parse_colour(text: str) -> RGBA:
    """`#rrggbb` or `#rrggbbaa` as an RGBA tuple."""
    digits = text.lstrip("#")
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    alpha = int(digits[6:8], 16) if len(digits) == 8 else 255
    return red, green, blue, alpha


def lut_value(indicator: Indicator, index: int) -> float:
    """The value an entry of a continuous indicator's 256-entry colour table stands for."""
    low, high = indicator.value_range
    return low + (high - low) * index / 255


def lut_index(indicator: Indicator, value: float) -> int:
    """The colour-table entry a value lands on once rescaled to 0–255 (as rio-tiler does)."""
    low, high = indicator.value_range
    clipped = min(max(value, low), high)
    return int((clipped - low) / (high - low) * 255)


@cache
def indicator_colormap(indicator_id: str) -> dict[int, RGBA]:
    """The colour table of an indicator: 256 interpolated entries, or one per class."""
    indicator = INDICATORS[indicator_id]
    colours = [parse_colour(entry.color) for entry in indicator.legend]
    if indicator.kind == "categorical":
        return {
            int(entry.value): colour
            for entry, colour in zip(indicator.legend, colours, strict=True)
        }
    stops = numpy.array([entry.value for entry in indicator.legend], dtype="float64")
    channels = numpy.array(colours, dtype="float64")
    values = numpy.array([lut_value(indicator, i) for i in range(256)])
    table = (
        numpy.stack([numpy.interp(values, stops, channels[:, c]) for c in range(4)], axis=1)
        .round()
        .astype(int)
    )
    return {i: tuple(int(v) for v in table[i]) for i in range(256)}  # type: ignore[misc]


def indicator_style(indicator: Indicator, stac: pystac.Item) -> Style:
    continuous = indicator.kind == "continuous"
    return Style(
        assets=(data_asset(stac, indicator.id),),
        rescale=(indicator.value_range,) if continuous else None,
        colormap=indicator_colormap(indicator.id),
        nodata=indicator.nodata,
    )


def is_raster(asset: pystac.Asset) -> bool:
    """A raster asset, or one that does not say (rio-tiler opens those too)."""
    return asset.media_type is None or asset.media_type.startswith(RASTER_TYPES)


def _rasters(stac: pystac.Item) -> dict[str, pystac.Asset]:
    return {key: asset for key, asset in stac.assets.items() if is_raster(asset)}


def data_asset(stac: pystac.Item, preferred: str) -> str:
    """The asset holding a result: the one named after the indicator, else `data`, else the
    first raster with the data role, else the first raster."""
    rasters = _rasters(stac)
    for key in (preferred, "data"):
        if key in rasters:
            return key
    with_role = [key for key, asset in rasters.items() if "data" in (asset.roles or [])]
    return (with_role or list(rasters) or list(stac.assets) or [preferred])[0]


def _bands(asset: pystac.Asset) -> list[dict[str, Any]]:
    return asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []


def _raster_bands(asset: pystac.Asset) -> list[dict[str, Any]]:
    return asset.extra_fields.get("raster:bands") or asset.extra_fields.get("bands") or []


def _raster_band(asset: pystac.Asset) -> dict[str, Any]:
    """The first band's `raster:bands` entry (scale, offset, unit, data type, statistics)."""
    return (_raster_bands(asset) or [{}])[0]


def _band_count(asset: pystac.Asset) -> int:
    return max(len(_bands(asset)), len(_raster_bands(asset)), 1)


def _unit(band: dict[str, Any]) -> str:
    return str(band.get("unit") or "").strip()


def _common_name(band: dict[str, Any]) -> str | None:
    return band.get("common_name") or band.get("eo:common_name")


def true_colour_assets(stac: pystac.Item) -> tuple[AssetType, ...] | None:
    """Red, green and blue: one asset holding the three bands, or three single-band assets."""
    rasters = _rasters(stac)
    for key, asset in rasters.items():
        names = [_common_name(band) for band in _bands(asset)]
        if all(name in names for name in TRUE_COLOUR):
            return ({"name": key, "indexes": [names.index(n) + 1 for n in TRUE_COLOUR]},)
    by_colour: dict[str, str] = {}
    for key, asset in rasters.items():
        bands = _bands(asset)
        if len(bands) == 1 and _common_name(bands[0]) in TRUE_COLOUR:
            by_colour.setdefault(_common_name(bands[0]), key)  # type: ignore[arg-type]
    if all(colour in by_colour for colour in TRUE_COLOUR):
        return tuple(by_colour[colour] for colour in TRUE_COLOUR)
    return None


def reflectance_stretch(asset: pystac.Asset) -> tuple[float, float] | None:
    """Digital numbers of 0 and 30 % reflectance, from `raster:bands` scale and offset; None
    for 8-bit assets, which are already display-ready."""
    band = _raster_band(asset)
    if band.get("data_type") == "uint8":
        return None
    scale = band.get("scale", DEFAULT_REFLECTANCE_SCALE)
    offset = band.get("offset", 0.0)
    low, high = REFLECTANCE_STRETCH
    return ((low - offset) / scale, (high - offset) / scale)


def true_colour_style(stac: pystac.Item) -> Style | None:
    assets = true_colour_assets(stac)
    if assets is None:
        return None
    first = assets[0]
    key = first if isinstance(first, str) else first["name"]
    stretch = reflectance_stretch(stac.assets[key])
    return Style(assets=assets, rescale=(stretch,) if stretch else None)


def _polarisation(key: str, asset: pystac.Asset) -> str | None:
    declared = asset.extra_fields.get("sar:polarizations") or []
    if len(declared) == 1:
        return str(declared[0]).lower()
    return key.lower() if key.lower() in SAR_POLARISATIONS else None


def sar_style(stac: pystac.Item) -> Style | None:
    """One polarisation in grey over −25…0 dB; linear backscatter (float, not in dB) is turned
    into decibels first. Digital numbers of uncalibrated products are left to the stretch."""
    if not any(name.startswith("sar:") for name in stac.properties):
        return None
    by_polarisation: dict[str, str] = {}
    for key, asset in _rasters(stac).items():
        polarisation = _polarisation(key, asset)
        if polarisation:
            by_polarisation.setdefault(polarisation, key)
    key = next((by_polarisation[p] for p in SAR_POLARISATIONS if p in by_polarisation), None)
    if key is None:
        return None
    band = _raster_band(stac.assets[key])
    if _unit(band).lower() == "db":
        return Style(assets=(key,), rescale=(BACKSCATTER_DB,))
    if str(band.get("data_type", "")).startswith("float"):
        return Style(assets=(key,), rescale=(BACKSCATTER_DB,), process=LogScale(factor=10.0))
    return None


def night_radiance_style(stac: pystac.Item) -> Style | None:
    """Radiance in nW·cm⁻²·sr⁻¹ (VIIRS Day/Night Band), log-stretched; of a nightly stack, the
    median of its last RECENT_NIGHTS bands, cloud-filled nights left out."""
    for key, asset in _rasters(stac).items():
        band = _raster_band(asset)
        if not _unit(band).startswith("nW"):
            continue
        log = LogScale(
            scale=band.get("scale", 1.0), offset=band.get("offset", 0.0), floor=RADIANCE_FLOOR
        )
        count = _band_count(asset)
        if count == 1:
            return Style(assets=(key,), rescale=(RADIANCE_LOG_RANGE,), process=log)
        recent = list(range(max(1, count - RECENT_NIGHTS + 1), count + 1))
        return Style(
            assets=({"name": key, "indexes": recent},),
            rescale=(RADIANCE_LOG_RANGE,),
            process=Steps(steps=(default_algorithms["median"](), log)),
        )
    return None


def _thermal_asset(stac: pystac.Item) -> tuple[str, str] | None:
    """The key and common name of a thermal infrared band (Landsat B10, ST_B10)."""
    rasters = _rasters(stac)
    for key, asset in rasters.items():
        names = [_common_name(band) for band in _bands(asset)]
        if len(names) == 1 and names[0] in THERMAL_NAMES:
            return key, str(names[0])
    key = next((key for key in THERMAL_KEYS if key in rasters), None)
    return (key, "lwir11") if key else None


def thermal_stretch(key: str, common_name: str, asset: pystac.Asset) -> tuple[float, float] | None:
    """Digital numbers of THERMAL_RANGE_C, through `raster:bands` scale and offset: of surface
    temperature in kelvin (ST_B10), or of radiance at those brightness temperatures (B10,
    inverting Planck's law with the TIRS constants)."""
    band = _raster_band(asset)
    scale, offset = band.get("scale"), band.get("offset", 0.0)
    if not scale:
        return None
    unit = _unit(band).lower()
    kelvin = [celsius + 273.15 for celsius in THERMAL_RANGE_C]
    if unit in KELVIN_UNITS or (not unit and key.upper().startswith("ST")):
        physical = kelvin
    elif "w" in unit:
        k1, k2 = TIRS_CONSTANTS.get(common_name, TIRS_CONSTANTS["lwir11"])
        physical = [k1 / (math.exp(k2 / temperature) - 1) for temperature in kelvin]
    else:
        return None
    low, high = ((value - offset) / scale for value in physical)
    return (low, high) if low < high else None


def thermal_style(stac: pystac.Item) -> Style | None:
    found = _thermal_asset(stac)
    if found is None:
        return None
    key, common_name = found
    stretch = thermal_stretch(key, common_name, stac.assets[key])
    if stretch is None:
        return None
    return Style(assets=(key,), rescale=(stretch,), colormap=cmap.get(THERMAL_COLORMAP))


def statistics_stretch(band: dict[str, Any]) -> tuple[float, float] | None:
    """The 2nd–98th percentile of a `raster:bands` histogram, else mean ± 2 standard
    deviations within the minimum and maximum, else those; None without statistics."""
    histogram = band.get("histogram") or {}
    statistics = band.get("statistics") or {}
    buckets = numpy.asarray(histogram.get("buckets") or [], dtype="float64")
    if buckets.sum() > 0 and "min" in histogram and "max" in histogram:
        edges = numpy.linspace(histogram["min"], histogram["max"], len(buckets) + 1)
        cumulative = numpy.cumsum(buckets) / buckets.sum()
        low = edges[numpy.searchsorted(cumulative, STRETCH_TAIL)]
        high = edges[numpy.searchsorted(cumulative, 1 - STRETCH_TAIL) + 1]
    elif "mean" in statistics and "stddev" in statistics:
        spread = 2 * statistics["stddev"]
        low = max(statistics["mean"] - spread, statistics.get("minimum", -math.inf))
        high = min(statistics["mean"] + spread, statistics.get("maximum", math.inf))
    elif "minimum" in statistics and "maximum" in statistics:
        low, high = statistics["minimum"], statistics["maximum"]
    else:
        return None
    return (float(low), float(high)) if low < high else None


def single_band_style(stac: pystac.Item) -> Style:
    """The data asset's first band: stretched from the item's statistics, as is when 8-bit,
    else from each image's own percentiles (always visible, whatever the values)."""
    key = data_asset(stac, "data")
    asset = stac.assets.get(key)
    if asset is None:
        return Style(assets=(key,))
    layer: AssetType = key if _band_count(asset) == 1 else {"name": key, "indexes": [1]}
    band = _raster_band(asset)
    stretch = statistics_stretch(band)
    if stretch:
        return Style(assets=(layer,), rescale=(stretch,))
    if band.get("data_type") == "uint8":
        return Style(assets=(layer,))
    return Style(assets=(layer,), process=PercentileStretch())


SCENE_STYLES = (true_colour_style, sar_style, night_radiance_style, thermal_style)


def scene_style(stac: pystac.Item) -> Style:
    for style in SCENE_STYLES:
        found = style(stac)
        if found is not None:
            return found
    return single_band_style(stac)


def style_of(collection_id: str, stac: pystac.Item) -> Style:
    """An indicator result's registered style, or a scene's by what its assets hold."""
    indicator = INDICATORS.get(collection_id)
    return indicator_style(indicator, stac) if indicator else scene_style(stac)
