"""Night-lighting kernels: per-commune radiance of Black Marble layers in one pass over a file,
the reference year's mean of each cell (which cells are lit), and PELT change points of every
commune's monthly series at once.

Layers are read as stored (uint16 counts of 0.1 nW·cm⁻²·sr⁻¹, 65535 fill) with their quality
layer; `good` is a 256-entry table of the quality values kept, so every product's flags go
through one kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def add_cells(values, quality, good, fill, sums, counts):
    """Adds each cell's good observation (raw counts) to `sums` and one to `counts`."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            value = values[i, j]
            if value != fill and good[quality[i, j]]:
                sums[i, j] += value
                counts[i, j] += 1


@njit(cache=True, nogil=True)
def zone_means(values, quality, good, fill, zones, lit, sums, counts):
    """Adds the good observations of the lit cells of each zone to `sums[zone]` and
    `counts[zone]` (zone 0, outside every commune, is skipped): one pass for all communes."""
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            zone = zones[i, j]
            if zone > 0 and lit[i, j]:
                value = values[i, j]
                if value != fill and good[quality[i, j]]:
                    sums[zone] += value
                    counts[zone] += 1


@njit(cache=True, nogil=True)
def _pelt(series, penalty, min_size, breaks):
    """PELT (Killick et al. 2012) with the L2 cost (a shift of the mean) on one series:
    writes the change points (index of each new segment's first value) to `breaks` and
    returns how many. Exact minimum of Σ costs + penalty × changes; pruning keeps it near
    linear."""
    n = series.shape[0]
    first = np.zeros(n + 1)
    second = np.zeros(n + 1)
    for k in range(n):
        first[k + 1] = first[k] + series[k]
        second[k + 1] = second[k] + series[k] * series[k]
    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    previous = np.zeros(n + 1, np.int64)
    candidates = np.zeros(n + 1, np.int64)
    kept = 1  # candidates[0] = 0
    costs = np.empty(n + 1)
    for end in range(min_size, n + 1):
        chosen, lowest = 0, np.inf
        for c in range(kept):
            start = candidates[c]
            length = end - start
            if length < min_size:
                costs[c] = np.inf
                continue
            total = first[end] - first[start]
            cost = second[end] - second[start] - total * total / length
            costs[c] = best[start] + cost
            if costs[c] + penalty < lowest:
                lowest = costs[c] + penalty
                chosen = start
        best[end] = lowest
        previous[end] = chosen
        survivors = 0
        for c in range(kept):
            if costs[c] <= lowest or end - candidates[c] < min_size:
                candidates[survivors] = candidates[c]
                survivors += 1
        candidates[survivors] = end
        kept = survivors + 1
    found = 0
    position = n
    while position > 0:
        position = previous[position]
        if position > 0:
            breaks[found] = position
            found += 1
    breaks[:found] = breaks[:found][::-1].copy()
    return found


@njit(parallel=True, cache=True, nogil=True)
def change_points(series, penalties, min_size, breaks, counts):
    """PELT on each row of `series` (communes × months, NaN where missing), over its observed
    months only; `breaks[row, :counts[row]]` are the months (column indices) that start a new
    segment."""
    rows, months = series.shape
    for row in prange(rows):
        observed = np.empty(months, np.int64)
        m = 0
        for k in range(months):
            if series[row, k] == series[row, k]:
                observed[m] = k
                m += 1
        counts[row] = 0
        if m < 2 * min_size or not np.isfinite(penalties[row]):
            continue
        values = np.empty(m)
        for k in range(m):
            values[k] = series[row, observed[k]]
        found = np.empty(m, np.int64)
        count = _pelt(values, penalties[row], min_size, found)
        count = min(count, breaks.shape[1])
        for k in range(count):
            breaks[row, k] = observed[found[k]]
        counts[row] = count


def good_table(values: tuple[int, ...]) -> np.ndarray:
    table = np.zeros(256, np.bool_)
    table[list(values)] = True
    return table


def warm_up() -> None:
    """Compiles or loads the kernels for the layer types Black Marble files carry."""
    values = np.zeros((4, 4), np.uint16)
    quality = np.zeros((4, 4), np.uint8)
    good = good_table((0,))
    fill = np.uint16(65535)
    add_cells(values, quality, good, fill, np.zeros((4, 4)), np.zeros((4, 4), np.int32))
    zones, lit = np.ones((4, 4), np.int32), np.ones((4, 4), np.bool_)
    zone_means(values, quality, good, fill, zones, lit, np.zeros(2), np.zeros(2, np.int64))
    series = np.zeros((2, 12))
    change_points(series, np.ones(2), 3, np.zeros((2, 4), np.int64), np.zeros(2, np.int64))
