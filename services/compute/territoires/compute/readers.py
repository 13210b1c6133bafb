"""What processes read of a scene's STAC item: which asset holds a band, how its digital
numbers scale, which quality flags hide the ground, and sources opened for a job's lifetime."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import numpy as np

from territoires.compute.blocks import Source
from territoires.compute.kernels import lazy
from territoires.compute.sources import Scene

masks = lazy("masks")

QUALITY_ASSETS = ("SCL", "scl", "qa_pixel", "QA_PIXEL", "BQA")


def by_common_name(assets: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The key of the first asset with an `eo:bands` common name among `names`."""
    for key, asset in assets.items():
        for band in asset.get("eo:bands", []):
            if band.get("common_name") in names:
                return key
    return None


def scaling(asset: dict[str, Any]) -> tuple[float, float, float]:
    """(scale, offset, nodata) of a single-band asset, from `raster:bands`."""
    band = (asset.get("raster:bands") or [{}])[0]
    return float(band.get("scale", 1.0)), float(band.get("offset", 0.0)), band.get("nodata", 0)


def quality_asset(scene: Scene) -> str | None:
    """The asset of the scene's quality flags (Sentinel-2 SCL, Landsat QA_PIXEL or BQA)."""
    assets = scene.content.get("assets", {})
    return next((key for key in QUALITY_ASSETS if key in assets), None)


def landsat_quality_rules(scene: Scene, mask_key: str) -> tuple[np.ndarray, np.ndarray]:
    """The bit rules of a Landsat quality band: Collection 1 BQA, else Collection 2 QA_PIXEL."""
    collection_one = scene.content["properties"].get("landsat:collection_number") == "01"
    rules = masks.BQA_RULES if mask_key.upper() == "BQA" or collection_one else masks.QA_PIXEL_RULES
    return masks.bit_rules(rules)


def opened(stack: ExitStack, source: Source) -> Source:
    """`source`, closed when `stack` closes."""
    stack.callback(source.close)
    return source
