"""SAR kernels: backscatter to linear power, the Lee speckle filter, decibels, and the
histogram tests of split-based thresholding (Otsu's threshold, Ashman's D).

Speckle is multiplicative (intensity = σ0 × a gamma variable of mean 1 and 1/ENL variance), so
the filter works in linear power; thresholds are taken in dB, where water and land are two
roughly Gaussian modes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

HISTOGRAM_DB = (-40.0, 10.0)
"""The range of the backscatter histograms (dB); values outside are clipped to its ends."""
RELATIVE_DB = (0.0, 100.0)
"""The range of uncalibrated backscatter, 10·log10(DN²) of 16-bit amplitudes."""
CHANGE_DB = (-25.0, 25.0)
HISTOGRAM_BINS = 500  # 0.1 dB bins
EM_ITERATIONS = 20
MIN_VARIANCE = 0.01  # dB²: one bin's spread, so a component never collapses to a spike


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def to_linear(values, kind, nodata, out):
    """Linear power of a band: kind 0 is dB (10^(v/10)), 1 linear power, 2 amplitude digital
    numbers (v², uncalibrated unless a gain is applied after). NaN where nodata, zero
    amplitude or not finite."""
    rows, cols = values.shape
    for i in prange(rows):
        for j in range(cols):
            v = np.float64(values[i, j])
            if v == nodata or not np.isfinite(v):
                out[i, j] = np.nan
            elif kind == 0:
                out[i, j] = 10.0 ** (v / 10.0)
            elif kind == 1:
                out[i, j] = v if v > 0.0 else np.nan
            else:
                out[i, j] = v * v if v > 0.0 else np.nan


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def lee_filter(intensity, radius, looks, out):
    """Lee (1980) filter of linear intensity: out = m + k·(I − m) over a (2r+1)² window, with
    k = var(x) / var(I) and var(x) = (var(I) − m²·Cu²) / (1 + Cu²), Cu² = 1/looks, k in [0, 1].

    `intensity` carries a halo of `radius` pixels on each side (NaN where there is no data);
    `out` is the interior. NaN pixels stay NaN and are left out of their neighbours' windows.
    """
    rows, cols = out.shape
    cu2 = 1.0 / looks
    for i in prange(rows):
        for j in range(cols):
            centre = intensity[i + radius, j + radius]
            if not np.isfinite(centre):
                out[i, j] = np.nan
                continue
            total = 0.0
            squares = 0.0
            count = 0
            for di in range(2 * radius + 1):
                for dj in range(2 * radius + 1):
                    v = intensity[i + di, j + dj]
                    if np.isfinite(v):
                        total += v
                        squares += v * v
                        count += 1
            mean = total / count
            variance = max(0.0, squares / count - mean * mean)
            signal = (variance - mean * mean * cu2) / (1.0 + cu2)
            gain = 0.0 if variance <= 0.0 else min(1.0, max(0.0, signal / variance))
            out[i, j] = mean + gain * (centre - mean)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def to_db(linear, out):
    """10·log10 of linear power; NaN where it is not positive."""
    rows, cols = linear.shape
    for i in prange(rows):
        for j in range(cols):
            v = linear[i, j]
            out[i, j] = 10.0 * math.log10(v) if v > 0.0 else np.nan


def histogram(values: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Counts of the finite values in HISTOGRAM_BINS bins over `value_range` (ends clipped)."""
    finite = values[np.isfinite(values)]
    low, high = value_range
    clipped = np.clip(finite, low, high - 1e-6)
    return np.histogram(clipped, HISTOGRAM_BINS, (low, high))[0].astype(np.int64)


def bin_centres(value_range: tuple[float, float]) -> np.ndarray:
    low, high = value_range
    step = (high - low) / HISTOGRAM_BINS
    return low + step * (np.arange(HISTOGRAM_BINS) + 0.5)


def otsu(counts: np.ndarray, value_range: tuple[float, float]) -> float | None:
    """Otsu's threshold of a histogram (the split maximising the between-class variance): the
    upper edge of the last bin of the lower class. None for fewer than two occupied bins."""
    if np.count_nonzero(counts) < 2:
        return None
    centres = bin_centres(value_range)
    weights = counts.astype(np.float64)
    below = np.cumsum(weights)[:-1]
    above = weights.sum() - below
    sums = np.cumsum(weights * centres)[:-1]
    mean_below = sums / np.maximum(below, 1)
    mean_above = (np.dot(weights, centres) - sums) / np.maximum(above, 1)
    between = below * above * (mean_below - mean_above) ** 2
    split = int(np.argmax(between))
    step = centres[1] - centres[0]
    return float(centres[split] + step / 2)


def ashman_d(
    counts: np.ndarray, value_range: tuple[float, float], threshold: float
) -> tuple[float, float, float, float]:
    """Ashman's D of a two-Gaussian mixture fitted to a histogram, D = √2·|μ1 − μ2| /
    √(σ1² + σ2²) (bimodal when D > 2), the weight of its smaller component and the means of
    its darker and brighter ones.

    The mixture is fitted by EM_ITERATIONS of expectation–maximisation from the classes either
    side of `threshold`: the two halves of a single Gaussian are D = 2.65 apart, so D must come
    from the fitted components, not from the split."""
    centres = bin_centres(value_range)
    weights = counts.astype(np.float64)
    total = weights.sum()
    responsibility = np.stack([centres < threshold, centres >= threshold]).astype(np.float64)
    components = np.zeros((2, 3))  # weight, mean, variance
    for iteration in range(EM_ITERATIONS + 1):
        for k in range(2):
            mass = weights * responsibility[k]
            weight = mass.sum()
            if weight <= 0:
                return 0.0, 0.0, float("nan"), float("nan")
            mean = np.dot(mass, centres) / weight
            variance = max(np.dot(mass, (centres - mean) ** 2) / weight, MIN_VARIANCE)
            components[k] = weight / total, mean, variance
        if iteration == EM_ITERATIONS:
            break
        density = np.stack(
            [
                w * np.exp(-((centres - m) ** 2) / (2 * v)) / math.sqrt(2 * math.pi * v)
                for w, m, v in components
            ]
        )
        responsibility = density / np.maximum(density.sum(axis=0), 1e-300)
    (_, mean_1, variance_1), (_, mean_2, variance_2) = components
    d = math.sqrt(2.0) * abs(mean_1 - mean_2) / math.sqrt(variance_1 + variance_2)
    darker, brighter = sorted((float(mean_1), float(mean_2)))
    return d, float(components[:, 0].min()), darker, brighter


def warm_up() -> None:
    """Compiles or loads the kernels for the band types SAR products carry (float32 dB,
    uint16 digital numbers)."""
    out = np.empty((4, 4), np.float32)
    for band, kind in ((np.full((4, 4), -10.0, np.float32), 0), (np.ones((4, 4), np.uint16), 2)):
        to_linear(band, kind, band.dtype.type(0), out)
    padded = np.ones((6, 6), np.float32)
    lee_filter(padded, 1, 4.4, out)
    to_db(out, out)
