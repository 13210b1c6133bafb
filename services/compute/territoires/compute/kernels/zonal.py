"""Zonal statistics kernels: values grouped by zone id, then moments, percentiles, classes.

Zones are rasterised onto the value grid (pixel-centre rule), so a pixel belongs to at most one
zone. Blocks are compacted to (zone, value) pairs as they are read; at the end a counting sort
groups them by zone, selection finds each zone's exact percentiles (numpy's linear
interpolation) and, for categorical rasters, sorted values give class counts as run lengths.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True, nogil=True)
def compact(values, zones, nodata, out_zones, out_values):
    """Copies the (zone, value) pairs of pixels in a zone (> 0) with a value (not nodata, not
    NaN) to the front of the out arrays, row-major; returns how many."""
    rows, cols = values.shape
    counts = np.zeros(rows, dtype=np.int64)
    for i in prange(rows):
        found = 0
        for j in range(cols):
            value = values[i, j]
            if zones[i, j] > 0 and value == value and value != nodata:
                found += 1
        counts[i] = found
    starts = np.zeros(rows + 1, dtype=np.int64)
    for i in range(rows):
        starts[i + 1] = starts[i] + counts[i]
    for i in prange(rows):
        position = starts[i]
        for j in range(cols):
            value = values[i, j]
            if zones[i, j] > 0 and value == value and value != nodata:
                out_zones[position] = zones[i, j]
                out_values[position] = value
                position += 1
    return starts[rows]


@njit(cache=True, nogil=True)
def group_by_zone(zones, values, zone_count):
    """Counting sort: (offsets, grouped values) with zone z's values in
    grouped[offsets[z]:offsets[z + 1]], z from 0 to zone_count (0 is never filled)."""
    offsets = np.zeros(zone_count + 2, dtype=np.int64)
    for k in range(zones.shape[0]):
        offsets[zones[k] + 1] += 1
    for z in range(zone_count + 1):
        offsets[z + 1] += offsets[z]
    cursor = offsets[:-1].copy()
    grouped = np.empty_like(values)
    for k in range(zones.shape[0]):
        zone = zones[k]
        grouped[cursor[zone]] = values[k]
        cursor[zone] += 1
    return offsets, grouped


@njit(cache=True, nogil=True)
def select(values, low, high, rank):
    """Quickselect: reorders values[low:high] so that values[rank] holds the value of that rank,
    the ones before it are not greater and the ones after it not smaller (Hoare partitions
    around a median of three, which stays balanced on many equal values)."""
    while high - low > 1:
        middle = (low + high - 1) // 2
        a, b, c = values[low], values[middle], values[high - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = low, high - 1
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if rank <= j:
            high = j + 1
        elif rank >= i:
            low = i
        else:
            return


@njit(parallel=True, cache=True, nogil=True)
def zone_statistics(grouped, offsets, percentiles):
    """Per zone: (count, mean, min, max, std, percentiles[zone, k]); NaN for an empty zone.

    std is the population standard deviation, and percentiles (ascending) interpolate linearly
    between order statistics as numpy does; the order statistics are found by selection, in
    linear time, which reorders each zone's values in place.
    """
    zone_count = offsets.shape[0] - 1
    count = np.zeros(zone_count, dtype=np.int64)
    mean = np.full(zone_count, np.nan)
    low = np.full(zone_count, np.nan)
    high = np.full(zone_count, np.nan)
    std = np.full(zone_count, np.nan)
    quantiles = np.full((zone_count, percentiles.shape[0]), np.nan)
    for z in prange(zone_count):
        segment = grouped[offsets[z] : offsets[z + 1]]
        n = segment.shape[0]
        count[z] = n
        if n == 0:
            continue
        total = 0.0
        smallest = np.float64(segment[0])
        largest = np.float64(segment[0])
        for value in segment:
            total += value
            smallest = min(smallest, value)
            largest = max(largest, value)
        average = total / n
        spread = 0.0
        for value in segment:
            spread += (value - average) ** 2
        mean[z] = average
        std[z] = np.sqrt(spread / n)
        low[z] = smallest
        high[z] = largest
        selected_from = 0
        for k in range(percentiles.shape[0]):
            rank = percentiles[k] / 100.0 * (n - 1)
            below = int(np.floor(rank))
            if below >= selected_from:
                select(segment, selected_from, n, below)
                selected_from = below + 1
            a = np.float64(segment[below])
            b = a
            if below + 1 < n:
                b = np.float64(segment[below + 1])
                for value in segment[below + 2 :]:
                    b = min(b, np.float64(value))
            fraction = rank - below
            # numpy's lerp: from the nearer end, so that equal neighbours give that value.
            if fraction >= 0.5:
                quantiles[z, k] = b - (b - a) * (1.0 - fraction)
            else:
                quantiles[z, k] = a + (b - a) * fraction
    return count, mean, low, high, std, quantiles


@njit(parallel=True, cache=True, nogil=True)
def sort_zones(grouped, offsets):
    """Sorts each zone's values in place (what class_runs needs)."""
    for z in prange(offsets.shape[0] - 1):
        grouped[offsets[z] : offsets[z + 1]].sort()


@njit(cache=True, nogil=True)
def class_runs(sorted_grouped, offsets):
    """Distinct values and their counts per zone, from values already sorted within each zone:
    (run_offsets, run_values, run_counts) with zone z's runs at run_offsets[z]:run_offsets[z+1]."""
    zone_count = offsets.shape[0] - 1
    run_offsets = np.zeros(zone_count + 1, dtype=np.int64)
    for z in range(zone_count):
        runs = 0
        for k in range(offsets[z], offsets[z + 1]):
            if k == offsets[z] or sorted_grouped[k] != sorted_grouped[k - 1]:
                runs += 1
        run_offsets[z + 1] = run_offsets[z] + runs
    run_values = np.empty(run_offsets[zone_count], dtype=sorted_grouped.dtype)
    run_counts = np.zeros(run_offsets[zone_count], dtype=np.int64)
    for z in range(zone_count):
        position = run_offsets[z] - 1
        for k in range(offsets[z], offsets[z + 1]):
            if k == offsets[z] or sorted_grouped[k] != sorted_grouped[k - 1]:
                position += 1
                run_values[position] = sorted_grouped[k]
            run_counts[position] += 1
    return run_offsets, run_values, run_counts


def warm_up() -> None:
    """Compiles or loads the zonal kernels for every value type they are given."""
    zones = np.ones((4, 4), np.int32)
    band = np.ones((4, 4), np.uint16)
    for values in (
        np.ones((4, 4), np.float32),
        band,
        band.astype(np.uint8),
        zones.astype(np.float64),
    ):
        kind = np.float64 if values.dtype == np.float64 else np.float32
        out_zones, out_values = np.empty(values.size, np.int32), np.empty(values.size, kind)
        kept = compact(values, zones, kind(0), out_zones, out_values)
        offsets, grouped = group_by_zone(out_zones[:kept], out_values[:kept], 1)
        zone_statistics(grouped, offsets, np.array([50.0]))
        sort_zones(grouped, offsets)
        class_runs(grouped, offsets)
