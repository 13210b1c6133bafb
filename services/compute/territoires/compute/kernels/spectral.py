"""Spectral kernels: NDVI, its greenest-pixel composite and fractional vegetation cover.

Reflectance is `digital number × scale + offset` (the STAC `raster:bands` fields); NDVI is a
ratio, so a common scale cancels but an offset does not (Landsat Collection 2 has −0.1).

Fractional cover is the scaled NDVI of Gutman & Ignatov (1998), linear between the NDVI of
bare soil and that of full green cover:

    cover = clip((NDVI − NDVI_s) / (NDVI_v − NDVI_s), 0, 1)

with both ends taken from the endmember spectra the imperviousness unmixing uses
(`kernels/unmixing.py`): NDVI_s that of bare soil (0.211), NDVI_v the mean of the trees' and
herbaceous plants' (0.846). A pixel's reflectance being the area-weighted mix of its covers',
and soil and green plants having similar red + NIR sums, the NDVI of a plant and soil mix is
close to linear in the plants' share, which the scaled NDVI then returns. Roofs, asphalt and
water (NDVI below the soil's) count as no plant. DESIGN.md's Pv = clip((NDVI − 0.2) / (0.5 −
0.2), 0, 1)² (Carlson & Ripley 1997) saturates at NDVI 0.5, counting half-green pixels as fully
vegetated; it stays what the land surface temperature's emissivity uses (`kernels/lst.py`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from territoires.compute.kernels.endmembers import endmember_ndvi

# Carlson & Ripley (1997): NDVI of bare soil and of full cover, the ends of the Pv ramp of the
# LST emissivity (DESIGN.md).
NDVI_SOIL = 0.2
NDVI_VEGETATION = 0.5


# The ends of the fractional cover's scaled NDVI: bare soil, and full green cover.
COVER_NDVI_SOIL = endmember_ndvi("soil")
COVER_NDVI_VEGETATION = (endmember_ndvi("trees") + endmember_ndvi("herbaceous")) / 2


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def ndvi(red, nir, red_nodata, nir_nodata, out):
    """out = (NIR − Red) / (NIR + Red) on digital numbers; NaN where a band is nodata or the
    sum is zero.

    float32 arithmetic (integer bands up to 2²⁴ are exact in it, and the ratio is within an
    ulp of float64's), no branch in the loop and numpy's error model (a zero sum gives NaN
    instead of raising) let LLVM vectorise it: the kernel runs at memory speed.
    """
    rows, cols = red.shape
    for i in prange(rows):
        for j in range(cols):
            r = red[i, j]
            n = nir[i, j]
            red_value = np.float32(r)
            nir_value = np.float32(n)
            total = nir_value + red_value
            value = (nir_value - red_value) / total
            usable = (r != red_nodata) & (n != nir_nodata) & (total != 0)
            out[i, j] = value if usable else np.float32(np.nan)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def greenest_ndvi(
    red, nir, valid, red_scale, red_offset, nir_scale, nir_offset, red_nodata, nir_nodata, out
):
    """Folds one scene into a greenest-pixel composite: where the scene is valid (not masked,
    not nodata, positive reflectance sum), out = max(out, NDVI) with NaN meaning no value yet.

    NDVI is clipped to [−1, 1]: an offset can make a dark reflectance slightly negative.
    """
    rows, cols = red.shape
    for i in prange(rows):
        for j in range(cols):
            if not valid[i, j] or red[i, j] == red_nodata or nir[i, j] == nir_nodata:
                continue
            r = np.float64(red[i, j]) * red_scale + red_offset
            n = np.float64(nir[i, j]) * nir_scale + nir_offset
            total = n + r
            if total <= 0.0:
                continue
            value = min(1.0, max(-1.0, (n - r) / total))
            current = out[i, j]
            if np.isnan(current) or value > current:
                out[i, j] = value


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def vegetation_cover(ndvi_values, ndvi_soil, ndvi_vegetation, out):
    """Fractional cover = (NDVI − ndvi_soil) / (ndvi_vegetation − ndvi_soil) clipped to [0, 1]
    (the scaled NDVI, linear in the green share of a pixel); NaN stays NaN."""
    rows, cols = ndvi_values.shape
    span = ndvi_vegetation - ndvi_soil
    for i in prange(rows):
        for j in range(cols):
            value = ndvi_values[i, j]
            if np.isnan(value):
                out[i, j] = np.nan
            else:
                out[i, j] = min(1.0, max(0.0, (np.float64(value) - ndvi_soil) / span))


def warm_up() -> None:
    """Compiles (first start) or loads from numba's disk cache the kernels for the types jobs
    use, so that no job pays for it."""
    band = np.ones((4, 4), np.uint16)
    valid = np.ones((4, 4), np.bool_)
    ndvi_values = np.full((4, 4), np.nan, np.float32)
    ndvi(band, band, 0, 0, ndvi_values)
    greenest_ndvi(band, band, valid, 1.0, 0.0, 1.0, 0.0, 0, 0, ndvi_values)
    vegetation_cover(ndvi_values, COVER_NDVI_SOIL, COVER_NDVI_VEGETATION, ndvi_values.copy())
