"""Post-processing a scene style applies before colouring, where a linear `rescale` cannot show
it: decibels of linear backscatter, a log stretch of night radiance, a per-image stretch of an
asset whose range nothing tells. They are TiTiler algorithms, chosen by the style, never by the
request (the tiler offers no `algorithm=` parameter)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy
from rio_tiler.models import ImageData
from titiler.core.algorithm import BaseAlgorithm

# Stretch of an image whose values nothing describes: its own 2nd to 98th percentile.
PERCENTILES = (2.0, 98.0)


def _with_array(img: ImageData, array: numpy.ma.MaskedArray, names: list[str]) -> ImageData:
    return ImageData(
        array,
        assets=img.assets,
        crs=img.crs,
        bounds=img.bounds,
        band_descriptions=names,
        metadata=img.metadata,
        cutline_mask=img.cutline_mask,
    )


class LogScale(BaseAlgorithm):
    """factor × log10(scale × value + offset), values under `floor` raised to it: decibels
    (factor 10) of linear power, or the log of radiance from its digital numbers."""

    title: str = "Logarithm"
    factor: float = 1.0
    scale: float = 1.0
    offset: float = 0.0
    floor: float = 1e-6
    output_dtype: str = "float32"

    def __call__(self, img: ImageData) -> ImageData:
        physical = img.array.astype("float32") * self.scale + self.offset
        logged = self.factor * numpy.log10(numpy.ma.maximum(physical, self.floor))
        return _with_array(img, logged, [f"log({name})" for name in img.band_descriptions])


class PercentileStretch(BaseAlgorithm):
    """Each band from its own 2nd–98th percentile to 0–255: visible whatever the values, at
    the price of contrast that changes from one image to the next."""

    title: str = "Percentile stretch"
    percentiles: tuple[float, float] = PERCENTILES
    output_dtype: str = "uint8"

    def __call__(self, img: ImageData) -> ImageData:
        bands = []
        for band in img.array:
            valid = band.compressed()
            low, high = numpy.percentile(valid, self.percentiles) if valid.size else (0.0, 0.0)
            span = high - low
            scaled = (band.astype("float64") - low) / span * 255 if span > 0 else band * 0 + 128
            bands.append(numpy.ma.clip(scaled, 0, 255).astype("uint8"))
        return _with_array(img, numpy.ma.stack(bands), img.band_descriptions)


class Steps(BaseAlgorithm):
    """Algorithms applied in turn: a nightly stack's median, then its logarithm."""

    title: str = "Steps"
    steps: Sequence[BaseAlgorithm] = ()

    def __call__(self, img: ImageData) -> ImageData:
        for step in self.steps:
            img = step(img)
        return img
