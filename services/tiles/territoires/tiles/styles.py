"""How a layer looks when the request says nothing: indicator colours from the registry, scenes
in true colour.

An indicator result renders with its registered legend (interpolated for continuous indicators,
one colour per class for categorical ones) over its value range, its nodata transparent; a scene
renders red, green and blue found by their STAC common names, stretched over 0–30 % reflectance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy
import pystac
from rio_tiler.types import AssetType, ColorMapType

from territoires.shared.indicators import INDICATORS, Indicator

RGBA = tuple[int, int, int, int]
RASTER_TYPES = ("image/tiff", "image/vnd.stac.geotiff", "image/x.geotiff", "image/jp2")
TRUE_COLOUR = ("red", "green", "blue")
# Surface reflectance shown from black to white: bright enough for towns, fields and water.
REFLECTANCE_STRETCH = (0.0, 0.3)
# Sentinel-2 and Landsat reflectance without `raster:bands` scale: the usual ×10 000 integers.
DEFAULT_REFLECTANCE_SCALE = 1e-4


@dataclass(frozen=True)
class Style:
    """Defaults of one layer: which assets, how values map to colours, what is nodata."""

    assets: tuple[AssetType, ...]
    rescale: tuple[tuple[float, float], ...] | None = None
    colormap: ColorMapType | None = None
    nodata: float | None = None


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


def data_asset(stac: pystac.Item, preferred: str) -> str:
    """The asset holding a result: the one named after the indicator, else `data`, else the
    first raster with the data role, else the first raster."""
    rasters = {key: asset for key, asset in stac.assets.items() if is_raster(asset)}
    for key in (preferred, "data"):
        if key in rasters:
            return key
    with_role = [key for key, asset in rasters.items() if "data" in (asset.roles or [])]
    return (with_role or list(rasters) or list(stac.assets) or [preferred])[0]


def _bands(asset: pystac.Asset) -> list[dict[str, Any]]:
    return asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []


def _common_name(band: dict[str, Any]) -> str | None:
    return band.get("common_name") or band.get("eo:common_name")


def true_colour_assets(stac: pystac.Item) -> tuple[AssetType, ...] | None:
    """Red, green and blue: one asset holding the three bands, or three single-band assets."""
    rasters = {key: asset for key, asset in stac.assets.items() if is_raster(asset)}
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
    bands = asset.extra_fields.get("raster:bands") or asset.extra_fields.get("bands") or [{}]
    band = bands[0]
    if band.get("data_type") == "uint8":
        return None
    scale = band.get("scale", DEFAULT_REFLECTANCE_SCALE)
    offset = band.get("offset", 0.0)
    low, high = REFLECTANCE_STRETCH
    return ((low - offset) / scale, (high - offset) / scale)


def scene_style(stac: pystac.Item) -> Style:
    assets = true_colour_assets(stac)
    if assets is None:
        return Style(assets=(data_asset(stac, "data"),))
    first = assets[0]
    key = first if isinstance(first, str) else first["name"]
    stretch = reflectance_stretch(stac.assets[key])
    return Style(assets=assets, rescale=(stretch,) if stretch else None)


def style_of(collection_id: str, stac: pystac.Item) -> Style:
    """An indicator result's registered style, or a scene's true colour."""
    indicator = INDICATORS.get(collection_id)
    return indicator_style(indicator, stac) if indicator else scene_style(stac)
