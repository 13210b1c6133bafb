"""Vegetation strata by spectral unmixing with phenological endmembers over several dates.

Trees, shrubs and grass share a summer spectrum closely (and shrubs and grass look the same
from above in summer), but not a year: trees stay green from spring to autumn, grass is lush
in spring and dry or mown by autumn, shrubs leaf out late and keep half their green. A cell's
reflectances at D dates (one per season, spring, summer and autumn; six bands each) are stacked
into one 6·D vector and unmixed, as `unmixing.fold_sealed` does a date, against the same stack
of each endmember's seasonal spectra (`endmembers.PHENOLOGY`: water, trees, shrubs, herbaceous,
soil, roofs, asphalt): non-negative least squares, exact over the 127 subsets by
`unmixing.best_fit`, abundances normalised to sum to one, and each stratum's fraction
100 · aₛ / Σ aₖ.

A date the cell is clouded at drops out of its stack: the fit runs on the dates it was seen,
with solvers precomputed for each combination of dates (`date_solvers`); a cell seen at fewer
than `min_dates` dates has no fraction, one date telling grass from shrubs apart no better
than summer alone. `strata_numpy` states the method in plain numpy.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from territoires.compute.kernels.endmembers import (
    BANDS,
    GREEN,
    MIN_SEASONS,
    STRATA,
    STRATA_ENDMEMBERS,
    SWIR16,
    seasonal_spectrum,
)
from territoires.compute.kernels.unmixing import best_fit, best_fits_numpy, subset_solvers

WATER = STRATA_ENDMEMBERS.index("water")
STRATUM_INDEX = np.array([STRATA_ENDMEMBERS.index(name) for name in STRATA], np.int64)
MIN_DATES = MIN_SEASONS
MAX_RESIDUAL_PER_DATE = len(BANDS) * 0.01**2
"""As `unmixing.MAX_RESIDUAL`, for each date the fit covers: 0.01 reflectance RMS."""


def endmember_matrix(seasons: tuple[str, ...]) -> np.ndarray:
    """(endmembers, dates × bands) float64: each endmember's spectra at the dates' seasons."""
    return np.array(
        [
            [value for season in seasons for value in seasonal_spectrum(name, season)]
            for name in STRATA_ENDMEMBERS
        ],
        np.float64,
    )


def date_columns(combination: int, dates: int) -> np.ndarray:
    """(dates × bands,) bool: the columns of the dates in `combination` (bit d: date d)."""
    return np.repeat([(combination >> d) & 1 == 1 for d in range(dates)], len(BANDS))


def date_solvers(endmembers: np.ndarray, dates: int) -> tuple[np.ndarray, np.ndarray]:
    """`unmixing.subset_solvers` for each combination of the dates a cell is seen at (index
    combination − 1), the unseen dates' columns zero: (combinations, subsets, endmembers,
    dates × bands) and the subsets' membership."""
    solvers = []
    for combination in range(1, 1 << dates):
        seen = endmembers * date_columns(combination, dates)
        solvers.append(subset_solvers(seen)[0])
    return np.array(solvers), subset_solvers(endmembers)[1]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def strata_fractions(bands, valid, scales, offsets, nodata, solvers, members, endmembers,
                     strata, water, min_dates, max_residual_per_date, fractions):  # fmt: skip
    """Writes each stratum's percent (`fractions`, (strata, rows, columns)) where the cell is
    seen at `min_dates` dates at least and the fit leaves less than `max_residual_per_date`
    per date unexplained; NaN elsewhere.

    `bands` is (dates, bands, rows, columns) digital numbers, reflectance = DN × scale +
    offset (`scales`, `offsets` and `nodata` are (dates, bands)); `valid` (dates, rows,
    columns) is False where a date's scene classification masks the cell. `strata` are the
    strata's endmember indices; `water`, left out where MNDWI ≤ 0 over the seen dates.
    """
    dates, band_count, rows, cols = bands.shape
    count = members.shape[1]
    for i in prange(rows):
        reflectance = np.empty(dates * band_count)
        projections = np.empty(count)
        trial = np.empty(count)
        chosen = np.empty(count)
        for j in range(cols):
            combination = 0
            seen = 0
            green = 0.0
            swir = 0.0
            for d in range(dates):
                usable = valid[d, i, j]
                for b in range(band_count):
                    if bands[d, b, i, j] == nodata[d, b]:
                        usable = False
                for b in range(band_count):
                    value = np.float64(bands[d, b, i, j]) * scales[d, b] + offsets[d, b]
                    reflectance[d * band_count + b] = value if usable else 0.0
                if usable:
                    combination |= 1 << d
                    seen += 1
                    green += reflectance[d * band_count + GREEN]
                    swir += reflectance[d * band_count + SWIR16]
            for s in range(strata.shape[0]):
                fractions[s, i, j] = np.nan
            if seen < min_dates:
                continue
            excluded = water if green <= swir else -1
            best = best_fit(
                reflectance, solvers[combination - 1], members, endmembers, excluded,
                projections, trial, chosen,
            )  # fmt: skip
            if best > max_residual_per_date * seen:
                continue
            total = 0.0
            for k in range(count):
                total += chosen[k]
            if total > 0.0:
                for s in range(strata.shape[0]):
                    fractions[s, i, j] = 100.0 * chosen[strata[s]] / total


def strata_numpy(
    bands: np.ndarray,
    valid: np.ndarray,
    scales: np.ndarray,
    offsets: np.ndarray,
    nodata: np.ndarray,
    endmembers: np.ndarray,
    min_dates: int,
    max_residual_per_date: float,
) -> np.ndarray:
    """The method in plain numpy: (strata, rows, columns) percent, NaN where the cell has
    none (the reference the kernel is tested and benchmarked against)."""
    dates, band_count = bands.shape[:2]
    digital = bands.reshape(dates, band_count, -1)
    reflectance = digital.astype(np.float64) * scales[:, :, None] + offsets[:, :, None]
    usable = valid.reshape(dates, -1) & ~np.any(digital == nodata[:, :, None], axis=1)
    reflectance *= usable[:, None, :]
    combinations = (usable * (1 << np.arange(dates))[:, None]).sum(axis=0)
    seen = usable.sum(axis=0)
    wet = (reflectance[:, GREEN] - reflectance[:, SWIR16]).sum(axis=0) > 0.0
    excluded = np.where(wet, -1, WATER)
    solvers, members = date_solvers(endmembers, dates)
    fractions = np.full((len(STRATA), digital.shape[2]), np.nan)
    stacked = reflectance.reshape(dates * band_count, -1)
    for combination in np.unique(combinations[seen >= min_dates]):
        cells = np.flatnonzero((combinations == combination) & (seen >= min_dates))
        seen_endmembers = endmembers * date_columns(int(combination), dates)
        chosen, residuals = best_fits_numpy(
            stacked[:, cells], seen_endmembers, solvers[combination - 1], members, excluded[cells]
        )
        total = chosen.sum(axis=1)
        fitted = (residuals <= max_residual_per_date * seen[cells]) & (total > 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            percent = 100.0 * chosen[:, STRATUM_INDEX].T / total
        fractions[:, cells] = np.where(fitted, percent, np.nan)
    return fractions.reshape(len(STRATA), *bands.shape[2:])


def warm_up() -> None:
    """Compiles (first start) or loads from numba's disk cache the kernel for the types jobs
    use, so that no job pays for it."""
    seasons = ("spring", "summer", "autumn")
    endmembers = endmember_matrix(seasons)
    solvers, members = date_solvers(endmembers, len(seasons))
    shape = (len(seasons), len(BANDS))
    strata_fractions(
        np.full((*shape, 4, 4), 1000, np.uint16), np.ones((len(seasons), 4, 4), np.bool_),
        np.full(shape, 1e-4), np.zeros(shape), np.zeros(shape), solvers, members, endmembers,
        STRATUM_INDEX, WATER, MIN_DATES, MAX_RESIDUAL_PER_DATE,
        np.empty((len(STRATA), 4, 4), np.float32),
    )  # fmt: skip
