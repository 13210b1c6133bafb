"""The science of `night-lighting` once the monthly series are made: change points, then a
class per commune with its start month, drop and confidence.

Method (documented in the process description and the README):
1. y = ln(radiance) of each month with a good value; the calendar-month profile shared by the
   communes of the job (leaf-on vegetation, snow, moonlight residue) is removed: the median,
   over communes and years, of y minus the commune's median, for each calendar month.
2. The noise σ of each commune is the MAD of its month-to-month differences / √2.
3. PELT with the L2 cost (shifts of the mean), penalty β = PENALTY · σ² · ln(n), segments of at
   least MIN_SEGMENT months (`kernels.lighting.change_points`). PENALTY was chosen on synthetic
   data with a planted truth (`bench/night_lighting.py --calibrate`).
4. Levels are segment means of y; a level's ratio is exp(level − first level).
   relit: some level at most 1 − TOTAL_DROP, then a later one back to RELIT_LEVEL or more (start:
   the relighting); else the drop is 1 − the last level's ratio: total extinction from
   TOTAL_DROP, partial extinction or renovation from PARTIAL_DROP, unchanged below (start: the
   first month from which every level stays under the class's threshold). Undetermined: no lit
   cell (too dark) or fewer than MIN_OBSERVED of the months with a good value.
5. Confidence: 1 − exp(−z / 10) for the step's z = Δlevel / (σ √(1/n₁ + 1/n₂)), times how far
   the drop is from the nearest class threshold (full from 0.1 away).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date

import numpy as np

from territoires.compute.kernels import lazy

lighting_kernels = lazy("lighting")

CLASSES = ("unchanged", "total-extinction", "partial-extinction", "relit", "undetermined")
PENALTY = 4.0
MIN_SEGMENT = 3
TOTAL_DROP = 0.5
PARTIAL_DROP = 0.15
RELIT_LEVEL = 0.75
MIN_OBSERVED = 0.6
MIN_SIGMA = 0.02
MAX_BREAKS = 16
SEASONAL_MIN_COMMUNES = 20
FLOOR = 0.05  # nW·cm⁻²·sr⁻¹: a month at 0 is taken as this before the logarithm


@dataclass(frozen=True)
class Classification:
    kind: str
    start: int | None = None  # month index of the change (relit: of the relighting)
    drop: float | None = None  # fraction of the light gone (relit: at its lowest)
    confidence: float = 0.0
    extinction: int | None = None  # relit: the month it had switched off
    reason: str | None = None  # undetermined: why

    def properties(self, months: list[date]) -> dict[str, object]:
        """What a feature and a statistics row carry: months as YYYY-MM, drop in %."""
        return {
            "class": self.kind,
            "start_month": f"{months[self.start]:%Y-%m}" if self.start is not None else None,
            "drop_percent": round(100 * self.drop, 1) if self.drop is not None else None,
            "confidence": round(self.confidence, 3),
            "extinction_month": (
                f"{months[self.extinction]:%Y-%m}" if self.extinction is not None else None
            ),
            "reason": self.reason,
        }


def log_series(radiance: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(radiance, FLOOR))


def deseasonalise(logs: np.ndarray, months: list[date]) -> np.ndarray:
    """`logs` less the calendar-month profile the communes share (none for a few communes)."""
    observed = np.isfinite(logs).sum(axis=1) >= 12
    if observed.sum() < SEASONAL_MIN_COMMUNES:
        return logs
    with np.errstate(all="ignore"):
        anomalies = logs[observed] - np.nanmedian(logs[observed], axis=1, keepdims=True)
    calendar = np.array([m.month for m in months])
    profile = np.zeros(len(months))
    for month in range(1, 13):
        columns = calendar == month
        values = anomalies[:, columns]
        if np.isfinite(values).any():
            profile[columns] = np.nanmedian(values)
    return logs - profile


def noise(logs: np.ndarray) -> np.ndarray:
    """Robust σ of each row: MAD of the differences of its consecutive observed values / √2."""
    sigma = np.full(logs.shape[0], np.nan)
    for row in range(logs.shape[0]):
        values = logs[row][np.isfinite(logs[row])]
        if values.size >= 3:
            differences = np.diff(values)
            mad = np.median(np.abs(differences - np.median(differences)))
            sigma[row] = max(1.4826 * mad / math.sqrt(2.0), MIN_SIGMA)
    return sigma


def segment(logs: np.ndarray, penalty: float = PENALTY) -> tuple[np.ndarray, np.ndarray]:
    """Change points of every row (see `kernels.lighting.change_points`) and each row's σ."""
    sigma = noise(logs)
    months = logs.shape[1]
    penalties = penalty * sigma**2 * math.log(max(months, 2))
    breaks = np.zeros((logs.shape[0], MAX_BREAKS), np.int64)
    counts = np.zeros(logs.shape[0], np.int64)
    lighting_kernels.change_points(
        np.ascontiguousarray(logs), penalties, MIN_SEGMENT, breaks, counts
    )
    return [breaks[row, : counts[row]] for row in range(logs.shape[0])], sigma


def classify(
    radiance: np.ndarray, months: list[date], penalty: float = PENALTY
) -> list[Classification]:
    """One classification per row of `radiance` (communes × months, NaN: no good value, a
    row of NaN: no lit cell)."""
    logs = deseasonalise(log_series(radiance), months)
    breaks, sigma = segment(logs, penalty)
    return [_classify_row(logs[row], breaks[row], float(sigma[row])) for row in range(len(logs))]


def _classify_row(y: np.ndarray, breaks: np.ndarray, sigma: float) -> Classification:
    observed = np.isfinite(y)
    if not observed.any():
        return Classification("undetermined", reason="no lit cell: too dark")
    if observed.mean() < MIN_OBSERVED:
        return Classification("undetermined", reason="too few months with good nights")
    edges = [0, *(int(b) for b in breaks), y.size]
    levels = np.array([np.nanmean(y[a:b]) for a, b in itertools.pairwise(edges)])
    sizes = np.array([observed[a:b].sum() for a, b in itertools.pairwise(edges)])
    ratios = np.exp(levels - levels[0])
    lowest = int(np.argmin(ratios))
    recovered = [j for j in range(lowest + 1, len(ratios)) if ratios[j] >= RELIT_LEVEL]
    if ratios[lowest] <= 1 - TOTAL_DROP and recovered:
        on = recovered[0]
        off = _first_staying(ratios[:on], 1 - TOTAL_DROP) or lowest
        drop = 1.0 - float(ratios[lowest])
        z = _step_z(y, edges[on], edges[on + 1], edges[lowest], edges[lowest + 1], sigma)
        confidence = _confidence(z, drop, (TOTAL_DROP,))
        return Classification("relit", edges[on], drop, confidence, edges[off])
    drop = 1.0 - float(ratios[-1])
    if drop >= TOTAL_DROP:
        kind, threshold = "total-extinction", 1 - TOTAL_DROP
    elif drop >= PARTIAL_DROP:
        kind, threshold = "partial-extinction", 1 - PARTIAL_DROP
    else:
        if len(levels) == 1:
            return Classification("unchanged", drop=0.0, confidence=float(observed.mean()))
        z = abs(levels[-1] - levels[0]) / (sigma * math.sqrt(1 / sizes[0] + 1 / sizes[-1]))
        confidence = _confidence(0.0, drop, (PARTIAL_DROP,)) * math.exp(-z / 20)
        return Classification("unchanged", drop=max(drop, 0.0), confidence=confidence)
    start = _first_staying(ratios, threshold) or len(ratios) - 1
    before, after = y[: edges[start]], y[edges[start] :]
    drop = 1.0 - math.exp(float(np.nanmean(after) - np.nanmean(before)))
    z = _step_z(y, edges[start], y.size, 0, edges[start], sigma)
    confidence = _confidence(z, drop, (PARTIAL_DROP, TOTAL_DROP))
    return Classification(kind, edges[start], drop, confidence)


def _first_staying(ratios: np.ndarray, threshold: float) -> int | None:
    """The first segment (after the first) from which every ratio stays at most `threshold`."""
    start = None
    for j in range(len(ratios) - 1, 0, -1):
        if ratios[j] > threshold:
            break
        start = j
    return start


def _step_z(y: np.ndarray, a0: int, a1: int, b0: int, b1: int, sigma: float) -> float:
    first, second = y[a0:a1], y[b0:b1]
    n1, n2 = np.isfinite(first).sum(), np.isfinite(second).sum()
    if n1 == 0 or n2 == 0:
        return 0.0
    difference = abs(float(np.nanmean(first) - np.nanmean(second)))
    return difference / (sigma * math.sqrt(1 / n1 + 1 / n2))


def _confidence(z: float, drop: float, thresholds: tuple[float, ...]) -> float:
    margin = min(1.0, min(abs(drop - t) for t in thresholds) / 0.1)
    strength = 1.0 - math.exp(-z / 10) if z > 0 else 1.0
    return float(strength * margin)


EARLIER_PASS = "00:40"  # NOAA-20's local overpass; Suomi NPP's is 01:30


def switch_off_bracket(result: Classification, earlier: np.ndarray) -> str | None:
    """Where a commune switched off in the night, from the earlier pass's monthly series
    (NOAA-20, ~00:40) beside a total or partial extinction seen at ~01:30: at 00:40, a drop
    from the start month of at least half the one seen at 01:30 means a switch-off before 00:40;
    less, lights still on then, between 00:40 and 01:30. None without a change, or without
    enough months either side."""
    if result.kind not in ("total-extinction", "partial-extinction") or result.start is None:
        return None
    logs = log_series(earlier)
    before, after = logs[: result.start], logs[result.start :]
    if np.isfinite(before).sum() < MIN_SEGMENT or np.isfinite(after).sum() < MIN_SEGMENT:
        return None
    drop = 1.0 - math.exp(float(np.nanmedian(after) - np.nanmedian(before)))
    if drop >= (result.drop or 0.0) / 2:
        return f"before {EARLIER_PASS}"
    return f"between {EARLIER_PASS} and 01:30"
