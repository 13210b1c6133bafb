"""Per-zone statistics gathered block by block: the figures of `indicator-statistics` rows.

Each block keeps only the (zone, value) pairs of pixels inside a zone with a value, so memory
grows with the zones' valid pixels (8 bytes each), not with the raster; fan-out bounds it
further by giving each sub-job a batch of communes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from territoires.compute.kernels import lazy

zonal = lazy("zonal")

PERCENTILES = (10.0, 50.0, 90.0)


class ZonalAccumulator:
    """Collects a raster's values by zone (ids 1…zone_count) and summarises them at the end.

    The pairs go into two arrays sized for `capacity` pixels (the grid's): numpy reserves that
    address space without touching it, so memory is only used for the pairs kept, and blocks
    are compacted in place without a copy or a final concatenation.
    """

    def __init__(self, zone_count: int, capacity: int, dtype: np.dtype | type = np.float32) -> None:
        self.zone_count = zone_count
        self.dtype = np.dtype(dtype)
        self._zones = np.empty(capacity, np.int32)
        self._values = np.empty(capacity, self.dtype)
        self._filled = 0

    def add(self, values: np.ndarray, zones: np.ndarray, nodata: float) -> None:
        """Keeps the block's pixels that are in a zone and hold a value (not nodata, not NaN)."""
        start = self._filled
        self._filled += zonal.compact(
            values, zones, self.dtype.type(nodata), self._zones[start:], self._values[start:]
        )

    def figures(self, classes: bool = False) -> list[dict[str, Any]]:
        """One figures dict per zone, in zone order: count, mean, min, max, std, p10/p50/p90,
        and with `classes` the share of each distinct value (class shares of a categorical
        raster). A zone without values has count 0 and no other figure."""
        offsets, grouped = zonal.group_by_zone(
            self._zones[: self._filled], self._values[: self._filled], self.zone_count
        )
        self._zones = self._values = np.empty(0)
        count, mean, low, high, std, quantiles = zonal.zone_statistics(
            grouped, offsets, np.array(PERCENTILES)
        )
        runs = None
        if classes:
            zonal.sort_zones(grouped, offsets)
            runs = zonal.class_runs(grouped, offsets)
        result = []
        for zone in range(1, self.zone_count + 1):
            n = int(count[zone])
            figures: dict[str, Any] = {"count": n}
            if n:
                figures |= {
                    "mean": float(mean[zone]),
                    "min": float(low[zone]),
                    "max": float(high[zone]),
                    "std": float(std[zone]),
                } | {f"p{int(p)}": float(quantiles[zone, k]) for k, p in enumerate(PERCENTILES)}
                if runs is not None:
                    run_offsets, run_values, run_counts = runs
                    span = slice(run_offsets[zone], run_offsets[zone + 1])
                    figures["classes"] = {
                        _class_key(v): int(c) / n
                        for v, c in zip(run_values[span], run_counts[span], strict=True)
                    }
            result.append(figures)
        return result


def _class_key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
