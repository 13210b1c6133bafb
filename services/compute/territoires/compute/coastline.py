"""Shoreline change on transects, after the USGS Digital Shoreline Analysis System (DSAS 5,
Himmelstoss et al. 2018): transects cast perpendicular to a smoothed baseline every 200 m,
each dated shoreline's intersection with them, and per transect the net shoreline movement
(NSM), shoreline change envelope (SCE), end point rate (EPR) and linear regression rate (LRR,
with R² and its standard error). Positions are signed distances along the transect, positive
seaward, so a negative rate is erosion. The science of the `coastline` process to come: it
works in a projected CRS (metres) on shapely lines."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import shapely
from shapely.geometry import LineString, Point

TRANSECT_SPACING_M = 200.0
TRANSECT_REACH_M = 1000.0
"""How far a transect reaches either side of the baseline."""
DAYS_PER_YEAR = 365.2425


@dataclass(frozen=True)
class Transect:
    """A ray through a baseline point: `origin` (x, y) and a unit `direction`, seaward."""

    origin: tuple[float, float]
    direction: tuple[float, float]
    reach: float = TRANSECT_REACH_M

    def line(self) -> LineString:
        (x, y), (dx, dy) = self.origin, self.direction
        return LineString(
            [(x - dx * self.reach, y - dy * self.reach), (x + dx * self.reach, y + dy * self.reach)]
        )

    def position(self, shoreline: LineString) -> float:
        """Signed distance (seaward positive) from the origin to the shoreline's crossing
        nearest the origin; NaN when the shoreline does not cross the transect."""
        crossing = self.line().intersection(shoreline)
        points = [p for p in shapely.get_parts(crossing) if isinstance(p, Point)]
        if not points:
            return math.nan
        (x, y), (dx, dy) = self.origin, self.direction
        offsets = [(p.x - x) * dx + (p.y - y) * dy for p in points]
        return min(offsets, key=abs)


def transects(
    baseline: LineString,
    seaward: tuple[float, float],
    spacing: float = TRANSECT_SPACING_M,
    reach: float = TRANSECT_REACH_M,
) -> list[Transect]:
    """Transects every `spacing` metres along the baseline, perpendicular to its direction
    between the points half a spacing either side, turned towards `seaward` (a vector)."""
    found = []
    half = spacing / 2
    for along in np.arange(half, baseline.length - half + 1e-9, spacing):
        before, here, after = (baseline.interpolate(d) for d in (along - half, along, along + half))
        tx, ty = after.x - before.x, after.y - before.y
        norm = math.hypot(tx, ty)
        nx, ny = -ty / norm, tx / norm
        if nx * seaward[0] + ny * seaward[1] < 0:
            nx, ny = -nx, -ny
        found.append(Transect((here.x, here.y), (nx, ny), reach))
    return found


@dataclass(frozen=True)
class Change:
    """DSAS statistics of one transect (metres, metres a year)."""

    count: int
    nsm: float
    sce: float
    epr: float
    lrr: float | None
    lrr_r2: float | None
    lrr_se: float | None


def decimal_years(dates: list[date]) -> np.ndarray:
    return np.array([d.toordinal() / DAYS_PER_YEAR for d in dates])


def change(years: np.ndarray, positions: np.ndarray) -> Change | None:
    """The statistics of the positions a transect crossed (NaN: not crossed). None with fewer
    than two crossings at distinct dates; no LRR with fewer than three."""
    seen = np.isfinite(positions)
    t, d = years[seen], positions[seen]
    if t.size < 2 or t.min() == t.max():
        return None
    order = np.argsort(t, kind="stable")
    t, d = t[order], d[order]
    nsm = float(d[-1] - d[0])
    lrr = r2 = se = None
    if t.size >= 3:
        dt = t - t.mean()
        spread = float(dt @ dt)
        slope = float(dt @ (d - d.mean())) / spread
        residuals = d - (d.mean() + slope * dt)
        total = float(((d - d.mean()) ** 2).sum())
        lrr = slope
        r2 = 1.0 - float(residuals @ residuals) / total if total > 0 else 1.0
        se = math.sqrt(float(residuals @ residuals) / (t.size - 2) / spread)
    return Change(
        count=int(t.size),
        nsm=nsm,
        sce=float(d.max() - d.min()),
        epr=nsm / float(t[-1] - t[0]),
        lrr=lrr,
        lrr_r2=r2,
        lrr_se=se,
    )
