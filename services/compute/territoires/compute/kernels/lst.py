"""The LST kernel: land surface temperature from Landsat 8/9 thermal band 10, in °C.

Level-1 products (Collection 1 or 2) carry digital numbers and the MTL's constants; the
single-channel method of DESIGN.md turns them into a temperature, with an emissivity from NDVI:

    L = ML·DN + AL                                   (radiance, W/(m² sr µm))
    BT = K2 / ln(K1/L + 1)                           (brightness temperature, K)
    NDVI = (NIR − Red) / (NIR + Red)                 (reflectance = DN × scale + offset)
    Pv = clip((NDVI − 0.2) / (0.5 − 0.2), 0, 1)²
    ε = 0.004·Pv + 0.986
    LST = BT / (1 + (λ·BT/ρ)·ln ε),  λ = 10.895 µm, ρ = 1.4388e-2 m·K

Collection 2 Level-2 products carry the surface temperature itself (`ST_B10`, kelvin =
DN × 0.00341802 + 149.0, the USGS constants). Both kernels write NaN where the pixel is masked
(clouds, shadow, fill: `valid` is False), a band is nodata, or the radiance is not positive.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from territoires.compute.kernels.spectral import NDVI_SOIL, NDVI_VEGETATION

WAVELENGTH_M = 10.895e-6  # λ, the centre of TIRS band 10
RHO_M_K = 1.4388e-2  # ρ = h·c/σ
EMISSIVITY_SOIL = 0.986
EMISSIVITY_VEGETATION_GAIN = 0.004
KELVIN = 273.15


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def lst_level1(
    thermal,
    red,
    nir,
    valid,
    radiance_mult,
    radiance_add,
    k1,
    k2,
    red_scale,
    red_offset,
    nir_scale,
    nir_offset,
    thermal_nodata,
    red_nodata,
    nir_nodata,
    out,
):
    """LST (°C) of a Level-1 scene: band 10 digital numbers with the MTL constants, emissivity
    from the NDVI of the red and NIR reflectance. A pixel whose red and NIR sum to zero or less
    has no NDVI: it gets the bare-soil emissivity (Pv = 0)."""
    rows, cols = thermal.shape
    span = NDVI_VEGETATION - NDVI_SOIL
    factor = WAVELENGTH_M / RHO_M_K
    for i in prange(rows):
        for j in range(cols):
            dn = thermal[i, j]
            red_dn = red[i, j]
            nir_dn = nir[i, j]
            # Every value is computed and the answer selected at the end: no branch in the
            # loop, so LLVM vectorises it (logs included).
            radiance = radiance_mult * np.float64(dn) + radiance_add
            brightness = k2 / math.log(k1 / radiance + 1.0)
            r = np.float64(red_dn) * red_scale + red_offset
            n = np.float64(nir_dn) * nir_scale + nir_offset
            total = n + r
            ratio = min(1.0, max(0.0, ((n - r) / total - NDVI_SOIL) / span))
            cover = ratio * ratio if total > 0.0 else 0.0
            emissivity = EMISSIVITY_VEGETATION_GAIN * cover + EMISSIVITY_SOIL
            surface = brightness / (1.0 + factor * brightness * math.log(emissivity)) - KELVIN
            usable = (
                valid[i, j]
                & (dn != thermal_nodata)
                & (red_dn != red_nodata)
                & (nir_dn != nir_nodata)
                & (radiance > 0.0)
            )
            out[i, j] = surface if usable else np.nan


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def lst_level2(surface_temperature, valid, scale, offset, nodata, out):
    """LST (°C) of a Collection 2 Level-2 scene: `ST_B10` × scale + offset is kelvin."""
    rows, cols = surface_temperature.shape
    for i in prange(rows):
        for j in range(cols):
            dn = surface_temperature[i, j]
            if not valid[i, j] or dn == nodata:
                out[i, j] = np.nan
            else:
                out[i, j] = np.float64(dn) * scale + offset - KELVIN


def warm_up() -> None:
    """Compiles or loads the kernels for the band types Landsat products carry (uint16)."""
    band = np.full((4, 4), 20000, np.uint16)
    valid = np.ones((4, 4), np.bool_)
    out = np.empty((4, 4), np.float32)
    lst_level1(
        band,
        band,
        band,
        valid,
        3.342e-4,
        0.1,
        774.8853,
        1321.0789,
        2e-5,
        -0.1,
        2e-5,
        -0.1,
        0,
        0,
        0,
        out,
    )
    lst_level2(band, valid, 0.00341802, 149.0, 0, out)
