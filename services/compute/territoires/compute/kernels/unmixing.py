"""Linear spectral unmixing: the sealed (impervious) share of each cell of a Sentinel-2 L2A scene.

Each cell's reflectance r in six bands (blue, green, red, NIR, SWIR 1.6 µm, SWIR 2.2 µm) is
modelled as a non-negative mix of six endmembers, water, trees, herbaceous plants, bare soil,
roofs and asphalt: r ≈ Σ aₖ·eₖ with aₖ ≥ 0 (non-negative least squares). The abundances are
then normalised to sum to one, and the sealed share is that of roofs and asphalt:

    sealed = 100 · (a_roof + a_asphalt) / Σ aₖ

Water enters the mix only where water dominates the cell, MNDWI = (green − SWIR1) / (green +
SWIR1) > 0 (roofs, asphalt, soil and plants all have MNDWI < 0): dark as it is, water would
otherwise stand in for shade and turn dark asphalt into a water and soil mix.
Leaving the sum free and normalising afterwards (shade normalisation) lets each material be
brighter or darker than its endmember, as the same roof is in sun or under haze; the sum-to-one
constraint would instead turn a bright roof into a roof and soil mix.

The non-negative least-squares optimum is exact, not iterated: it is the unconstrained least
squares fit on some subset of endmembers whose abundances are all non-negative, and every such
fit is feasible, so the optimum is the feasible subset fit with the smallest residual. With six
endmembers there are 63 subsets; each fit is a precomputed pseudo-inverse (`subset_solvers`)
times r, so a cell costs a few thousand multiply-adds and no branch on the data but the
feasibility test. `sealed_numpy` states the same method in plain numpy.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from territoires.compute.kernels.endmembers import (
    BANDS,
    ENDMEMBERS,
    GREEN,
    SEALED,
    SWIR16,
    WATER,
    group_weights,
)

MAX_RESIDUAL = len(BANDS) * 0.01**2
"""A fit further than 0.01 reflectance (RMS over the bands) from the cell is no observation:
haze or thin cloud the SCL missed, or a material none of the endmembers is."""


def endmember_matrix() -> np.ndarray:
    """(endmembers, bands) reflectance, float64."""
    return np.array(list(ENDMEMBERS.values()), np.float64)


def sealed_weights() -> np.ndarray:
    """1 for the sealed endmembers, 0 for the others."""
    return group_weights(SEALED)


def subset_solvers(endmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each non-empty subset of endmembers (bit k of its index + 1 set when endmember k is
    in it): the (endmembers, bands) matrix giving its least-squares abundances from a
    reflectance vector (zero rows outside the subset), and its membership."""
    count = endmembers.shape[0]
    subsets = (1 << count) - 1
    solvers = np.zeros((subsets, count, endmembers.shape[1]), np.float64)
    members = np.zeros((subsets, count), np.bool_)
    for index in range(subsets):
        chosen = [k for k in range(count) if (index + 1) >> k & 1]
        solvers[index, chosen] = np.linalg.pinv(endmembers[chosen].T)
        members[index, chosen] = True
    return solvers, members


@njit(cache=True, nogil=True, error_model="numpy")
def best_fit(reflectance, solvers, members, endmembers, excluded, projections, trial, chosen):
    """The non-negative least-squares abundances of one cell's `reflectance` into `chosen`, over
    the subsets leaving out endmember `excluded` (−1: none); returns the fit's residual (sum of
    squares), infinite when no subset is feasible. `projections` and `trial` are scratch."""
    subsets, count = members.shape
    band_count = reflectance.shape[0]
    energy = 0.0
    for b in range(band_count):
        energy += reflectance[b] * reflectance[b]
    for k in range(count):
        projection = 0.0
        for b in range(band_count):
            projection += endmembers[k, b] * reflectance[b]
        projections[k] = projection
    best = np.inf
    for s in range(subsets):
        if excluded >= 0 and members[s, excluded]:
            continue
        # A least-squares fit a leaves |r|² − Σ aₖ (eₖ · r) unexplained.
        feasible = True
        residual = energy
        for k in range(count):
            trial[k] = 0.0
            if members[s, k]:
                total = 0.0
                for b in range(band_count):
                    total += solvers[s, k, b] * reflectance[b]
                trial[k] = total
                residual -= total * projections[k]
                if total < 0.0:
                    feasible = False
        if feasible and residual < best:
            best = residual
            for k in range(count):
                chosen[k] = trial[k]
    return best


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def fold_sealed(bands, valid, scales, offsets, nodata, solvers, members, endmembers, weights,
                water, max_residual, sums, counts):  # fmt: skip
    """Adds one scene's sealed share (percent) to `sums` and one to `counts` where the scene is
    valid: not masked (`valid`), no band at its `nodata`, and a fit with a positive sum.
    `water` is the water endmember's index, left out where MNDWI ≤ 0; a fit leaving more than
    `max_residual` (sum of squares over the bands) unexplained is no observation.

    `bands` is (bands, rows, columns) digital numbers, reflectance = DN × scale + offset.
    """
    band_count, rows, cols = bands.shape
    count = members.shape[1]
    for i in prange(rows):
        reflectance = np.empty(band_count)
        projections = np.empty(count)
        trial = np.empty(count)
        chosen = np.empty(count)
        for j in range(cols):
            if not valid[i, j]:
                continue
            usable = True
            for b in range(band_count):
                value = bands[b, i, j]
                if value == nodata[b]:
                    usable = False
                reflectance[b] = np.float64(value) * scales[b] + offsets[b]
            if not usable:
                continue
            # MNDWI = (green − SWIR1) / (green + SWIR1) ≤ 0: not water-dominated, no water.
            excluded = water if reflectance[GREEN] <= reflectance[SWIR16] else -1
            best = best_fit(
                reflectance, solvers, members, endmembers, excluded, projections, trial, chosen
            )
            if best > max_residual:
                continue
            total = 0.0
            sealed = 0.0
            for k in range(count):
                total += chosen[k]
                sealed += chosen[k] * weights[k]
            if total > 0.0:
                sums[i, j] += 100.0 * sealed / total
                counts[i, j] += 1


def best_fits_numpy(
    reflectance: np.ndarray,
    endmembers: np.ndarray,
    solvers: np.ndarray,
    members: np.ndarray,
    excluded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """`best_fit` in plain numpy over (bands, cells) reflectance, every subset at once:
    (cells, endmembers) abundances and (cells,) residuals. `excluded` is (cells,) the endmember
    each cell leaves out, −1 for none."""
    abundances = np.einsum("skb,bp->skp", solvers, reflectance)  # (subsets, endmembers, cells)
    feasible = ~np.any((abundances < 0.0) & members[:, :, None], axis=1)
    feasible &= ~(members[:, np.maximum(excluded, 0)] & (excluded >= 0))
    residuals = ((reflectance[None] - np.einsum("skp,kb->sbp", abundances, endmembers)) ** 2).sum(
        axis=1
    )
    residuals[~feasible] = np.inf
    best = np.argmin(residuals, axis=0)
    cells = np.arange(reflectance.shape[1])
    return abundances[best, :, cells], residuals[best, cells]


def sealed_numpy(
    bands: np.ndarray,
    valid: np.ndarray,
    scales: np.ndarray,
    offsets: np.ndarray,
    nodata: np.ndarray,
    endmembers: np.ndarray,
    weights: np.ndarray,
    water: int,
    max_residual: float,
) -> np.ndarray:
    """The method in plain numpy, one scene: sealed percent per cell, NaN where the scene gives
    none (the reference the kernel is tested and benchmarked against)."""
    solvers, members = subset_solvers(endmembers)
    reflectance = bands.reshape(bands.shape[0], -1).astype(np.float64)
    reflectance = reflectance * scales[:, None] + offsets[:, None]
    excluded = np.where(reflectance[GREEN] <= reflectance[SWIR16], water, -1)
    chosen, residuals = best_fits_numpy(reflectance, endmembers, solvers, members, excluded)
    total = chosen.sum(axis=1)
    usable = (
        valid.ravel()
        & ~np.any(bands.reshape(bands.shape[0], -1) == nodata[:, None], axis=0)
        & (residuals <= max_residual)
        & (total > 0.0)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        sealed = 100.0 * (chosen @ weights) / total
    return np.where(usable, sealed, np.nan).reshape(bands.shape[1:])


def warm_up() -> None:
    """Compiles (first start) or loads from numba's disk cache the kernel for the types jobs
    use, so that no job pays for it."""
    endmembers = endmember_matrix()
    solvers, members = subset_solvers(endmembers)
    bands = np.full((len(BANDS), 4, 4), 1000, np.uint16)
    ones = np.ones(len(BANDS))
    fold_sealed(
        bands,
        np.ones((4, 4), np.bool_),
        ones * 1e-4,
        ones * 0.0,
        ones * 0.0,
        solvers,
        members,
        endmembers,
        sealed_weights(),
        WATER,
        MAX_RESIDUAL,
        np.zeros((4, 4), np.float32),
        np.zeros((4, 4), np.uint16),
    )
