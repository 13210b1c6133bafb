"""Shoreline change on transects, after the USGS Digital Shoreline Analysis System (DSAS 5,
Himmelstoss et al. 2018): transects cast perpendicular to a smoothed baseline every 200 m,
each dated shoreline's intersection with them, and per transect the net shoreline movement
(NSM), shoreline change envelope (SCE), end point rate (EPR) and linear regression rate (LRR,
with R² and its 95 % confidence interval, and the weighted regression rate WLR). Positions
are signed distances along the transect, positive seaward, so a negative rate is erosion.

The shorelines come from imagery: a scene's MNDWI on its clear pixels and Otsu's threshold of
its histogram (per scene: water and land brightness change with the tide, the season and the
sensor) say which pixels are sea; each pixel's share of sea is then unmixed from its green and
SWIR1 reflectance between the nearby sea and its own land spectrum (`LandReference`, from the
dates it was pure land), and the line is where that share is one half, by marching squares,
each crossing placed by the shares summed across the coast (the sea's area, `_summed`). Only
the sea–land line is kept: the rim of the largest water body (clouds counted as possible
water so that a cloud over the sea does not cut it in two), lakes and ponds taken as land,
channel mouths set aside. The science of the `coastline` process: it works in a projected CRS
(metres) on shapely lines."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import shapely
from affine import Affine
from rasterio.features import rasterize, shapes
from shapely.geometry import LineString, MultiLineString, MultiPoint, Point, shape
from shapely.geometry.base import BaseGeometry

from territoires.compute.kernels import lazy

sar = lazy("sar")

TRANSECT_SPACING_M = 200.0
TRANSECT_REACH_M = 1000.0
"""How far a transect reaches either side of the baseline."""
DAYS_PER_YEAR = 365.2425
T975_SMALL = (12.706204736, 4.302652730, 3.182446305, 2.776445105)
"""Student's t 97.5 % quantiles for 1 to 4 degrees of freedom."""
BASELINE_SMOOTHING_M = 300.0
"""Tolerance of the simplification that turns the mean shoreline into the baseline."""
MNDWI_RANGE = (-1.0, 1.0)
MIN_WATER_SHARE = 0.005
"""A scene shows water when this share of its clear pixels is above its threshold."""
CHANNEL_WIDTH_M = 100.0
"""Water joined to the sea narrower than this (rivers, canals) is not sea: its banks are not
coast."""
RING_PX = (2, 4)
"""Sea and land pixels this many pixels from the first line give the pure spectra."""
LOCAL_PX = 6
"""A pixel's sea spectrum (and its land spectrum when no date saw it pure land) is the mean of
the ring's pixels within this radius."""
PURE_LAND_GAP_PX = 1
"""A pixel not above the water threshold is pure land on a date when no pixel within this many
pixels is water or unknown (a mixed coast pixel is next to a water one)."""
FILL_PX = 1
"""A pixel never pure land takes the land spectrum of those within this many pixels."""
SUM_PX = 2
"""A crossing is placed from the shares of this many pixels either side of it."""
PURE_SHARE = 0.1
"""A pixel within this of 0 or 1 is taken as pure for `_summed` (sensor noise, a land spectrum
a little off)."""
MIN_LINE_PIXELS = 5.0
"""Contour pieces shorter than this many pixels are noise (a wave, a cloud's rim)."""
SEA_PROBE_M = 100.0
"""The spacing of the points either side of a transect's origin where the sea is compared."""


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
    seaward: tuple[float, float] | Callable[[Point], float],
    spacing: float = TRANSECT_SPACING_M,
    reach: float = TRANSECT_REACH_M,
) -> list[Transect]:
    """Transects every `spacing` metres along the baseline, perpendicular to its direction
    between the points half a spacing either side, turned towards `seaward`: a vector, or how
    much a point is sea (0–1), compared summed over points every SEA_PROBE_M either side of
    the origin out to the reach (a coast that turns, an island)."""
    found = []
    half = spacing / 2
    for along in np.arange(half, baseline.length - half + 1e-9, spacing):
        before, here, after = (baseline.interpolate(d) for d in (along - half, along, along + half))
        tx, ty = after.x - before.x, after.y - before.y
        norm = math.hypot(tx, ty)
        nx, ny = -ty / norm, tx / norm
        if callable(seaward):
            steps = np.arange(SEA_PROBE_M, reach + 1e-9, SEA_PROBE_M)
            ahead = sum(seaward(Point(here.x + nx * d, here.y + ny * d)) for d in steps)
            behind = sum(seaward(Point(here.x - nx * d, here.y - ny * d)) for d in steps)
            flip = ahead < behind
        else:
            flip = nx * seaward[0] + ny * seaward[1] < 0
        if flip:
            nx, ny = -nx, -ny
        found.append(Transect((here.x, here.y), (nx, ny), reach))
    return found


@dataclass(frozen=True)
class Regression:
    """A least-squares rate (metres a year) with its R², standard error and the half-width of
    its 95 % confidence interval (Student's t with n − 2 degrees of freedom)."""

    rate: float
    r2: float
    se: float
    ci95: float


def regression(t: np.ndarray, d: np.ndarray, weights: np.ndarray) -> Regression:
    """Weighted least squares of d on t (equal weights: the LRR; 1 / uncertainty²: the WLR,
    DSAS's weighting)."""
    w = weights / weights.sum()
    t_mean, d_mean = float(w @ t), float(w @ d)
    dt, dd = t - t_mean, d - d_mean
    spread = float(w @ (dt * dt))
    slope = float(w @ (dt * dd)) / spread
    residuals = dd - slope * dt
    total = float(w @ (dd * dd))
    unexplained = float(w @ (residuals * residuals))
    r2 = 1.0 - unexplained / total if total > 0 else 1.0
    # Residual variance in the weights' units: with weights 1/σ² it is the reduced χ².
    se = math.sqrt(unexplained / spread / (t.size - 2))
    return Regression(slope, r2, se, student_t975(t.size - 2) * se)


def student_t975(freedom: int) -> float:
    """The 97.5 % quantile of Student's t: tabulated up to 4 degrees of freedom, then the
    Cornish–Fisher expansion of Abramowitz & Stegun 26.7.5 (error under 0.002 from 5 on)."""
    if freedom <= len(T975_SMALL):
        return T975_SMALL[freedom - 1]
    z, v = 1.959963984540054, float(freedom)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


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
    lrr_ci95: float | None = None
    wlr: float | None = None
    wlr_ci95: float | None = None


def decimal_years(dates: list[date]) -> np.ndarray:
    return np.array([d.toordinal() / DAYS_PER_YEAR for d in dates])


def change(
    years: np.ndarray, positions: np.ndarray, uncertainties: np.ndarray | None = None
) -> Change | None:
    """The statistics of the positions a transect crossed (NaN: not crossed), the WLR weighing
    each by 1 / its `uncertainty`² (metres; the pixel size of its sensor). None with fewer
    than two crossings at distinct dates; no LRR or WLR with fewer than three."""
    seen = np.isfinite(positions)
    t, d = years[seen], positions[seen]
    if t.size < 2 or t.min() == t.max():
        return None
    u = np.ones(t.size) if uncertainties is None else uncertainties[seen]
    order = np.argsort(t, kind="stable")
    t, d, u = t[order], d[order], u[order]
    nsm = float(d[-1] - d[0])
    fits: dict[str, float | None] = {}
    if t.size >= 3:
        lrr = regression(t, d, np.ones(t.size))
        wlr = regression(t, d, 1.0 / u**2)
        fits = {
            "lrr": lrr.rate,
            "lrr_r2": lrr.r2,
            "lrr_se": lrr.se,
            "lrr_ci95": lrr.ci95,
            "wlr": wlr.rate,
            "wlr_ci95": wlr.ci95,
        }
    return Change(
        count=int(t.size),
        nsm=nsm,
        sce=float(d.max() - d.min()),
        epr=nsm / float(t[-1] - t[0]),
        lrr=fits.get("lrr"),
        lrr_r2=fits.get("lrr_r2"),
        lrr_se=fits.get("lrr_se"),
        lrr_ci95=fits.get("lrr_ci95"),
        wlr=fits.get("wlr"),
        wlr_ci95=fits.get("wlr_ci95"),
    )


def despiked(years: np.ndarray, positions: np.ndarray, tolerance: float) -> np.ndarray:
    """The positions with the outliers of a transect's series set to NaN: those further than
    `tolerance` metres (or 3 robust standard deviations, the larger) from the Theil–Sen line
    through them — a crossing with a cloud's rim or a wave on one date, not the coast's
    motion (the shoreline quality control DSAS leaves to the analyst)."""
    seen = np.flatnonzero(np.isfinite(positions))
    if seen.size < 3:
        return positions
    t, d = years[seen], positions[seen]
    i, j = np.triu_indices(seen.size, 1)
    distinct = t[j] != t[i]
    if not distinct.any():
        return positions
    slope = float(np.median((d[j] - d[i])[distinct] / (t[j] - t[i])[distinct]))
    residuals = d - slope * t
    residuals -= np.median(residuals)
    spread = 1.4826 * float(np.median(np.abs(residuals)))
    kept = positions.copy()
    kept[seen[np.abs(residuals) > max(tolerance, 3 * spread)]] = np.nan
    return kept


@dataclass(frozen=True)
class Shoreline:
    """What one scene gave: its sea–land line (map coordinates) and Otsu threshold, or why
    not (`reason`)."""

    line: MultiLineString | None
    threshold: float | None
    clear_share: float
    reason: str | None = None
    mouths: BaseGeometry | None = None
    """Where water cut off from the sea (a river, a canal) meets it: the line there closes the
    channel and is no coast."""


def water_threshold(mndwi: np.ndarray) -> float | None:
    """Otsu's MNDWI threshold of the clear pixels; None when the brighter class is not water
    (its mean not above zero, Xu 2006) or is under MIN_WATER_SHARE of them."""
    values = mndwi[np.isfinite(mndwi)]
    threshold = sar.otsu(sar.histogram(values, MNDWI_RANGE), MNDWI_RANGE)
    if threshold is None:
        return None
    water = values[values > threshold]
    if water.size < MIN_WATER_SHARE * values.size or float(water.mean()) <= 0.0:
        return None
    return threshold


def sea_field(field: np.ndarray, channel_px: float) -> np.ndarray | None:
    """`field` (water > 0, NaN unknown) with every water pixel outside the sea negated: the
    sea is the largest 4-connected region of water and unknown pixels, less the channels
    narrower than `channel_px` joined to it (rivers, canals: their banks are not coast), cut
    off by a morphological opening. None without water."""
    maybe_water = ~(field <= 0)
    regions = [
        shape(geometry)
        for geometry, _ in shapes(maybe_water.astype(np.uint8), mask=maybe_water, connectivity=4)
    ]
    if not regions:
        return None
    largest = max(regions, key=lambda region: region.area)
    opened = largest.buffer(-channel_px / 2).buffer(channel_px / 2)
    parts = shapely.get_parts(opened)
    if not parts.size:
        return None
    sea_area = max(parts, key=lambda part: part.area).buffer(1.5).intersection(largest)
    sea = rasterize([(sea_area, 1)], out_shape=field.shape, dtype=np.uint8).astype(np.bool_)
    return np.where((field > 0) & ~sea, -field, field)


def contours(
    field: np.ndarray,
    transform: Affine,
    min_length: float = MIN_LINE_PIXELS,
    shares: np.ndarray | None = None,
) -> list[LineString]:
    """The zero level of `field` (pixel centres at their map coordinates) by marching squares
    with linear interpolation along cell edges: sub-pixel lines, none across a NaN cell;
    saddles resolved by the cell's mean. Pieces shorter than `min_length` pixels dropped.
    With `shares` (each pixel's share of what `field` > 0 marks), a crossing is placed by the
    shares summed along its row or column instead (`_summed`) where that is possible."""
    inside = field > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        across = field[:, :-1] / (field[:, :-1] - field[:, 1:])  # on the edge to the right
        down = field[:-1, :] / (field[:-1, :] - field[1:, :])  # on the edge below
    if shares is not None:
        across = _summed(shares, inside, across)
        down = _summed(shares.T, inside.T, down.T).T
    rows, cols = np.mgrid[0 : field.shape[0] - 1, 0 : field.shape[1] - 1].astype(np.float64)
    # The crossing on each edge of each cell, as (row, column) in pixels.
    edges = {
        "top": (rows, cols + across[:-1, :]),
        "bottom": (rows + 1, cols + across[1:, :]),
        "left": (rows + down[:, :-1], cols),
        "right": (rows + down[:, 1:], cols + 1),
    }
    a, b = inside[:-1, :-1], inside[:-1, 1:]
    c, d = inside[1:, 1:], inside[1:, :-1]
    case = a * 8 + b * 4 + c * 2 + d * 1
    known = np.isfinite(field[:-1, :-1] + field[:-1, 1:] + field[1:, 1:] + field[1:, :-1])
    centre_in = (field[:-1, :-1] + field[:-1, 1:] + field[1:, 1:] + field[1:, :-1]) > 0
    pairs = {
        1: [("left", "bottom")],
        2: [("bottom", "right")],
        3: [("left", "right")],
        4: [("top", "right")],
        6: [("top", "bottom")],
        7: [("left", "top")],
        8: [("left", "top")],
        9: [("top", "bottom")],
        11: [("top", "right")],
        12: [("left", "right")],
        13: [("bottom", "right")],
        14: [("left", "bottom")],
    }
    segments = []
    for value, ends in pairs.items():
        for start, end in ends:
            segments.append(_segments(edges, known & (case == value), start, end))
    for value, joined in ((5, True), (10, False)):
        # b and d inside (5) or a and c (10): the cell's mean says whether they connect.
        for centre, ends in (
            (joined, [("left", "top"), ("bottom", "right")]),
            (not joined, [("top", "right"), ("left", "bottom")]),
        ):
            chosen = known & (case == value) & (centre_in == centre)
            segments += [_segments(edges, chosen, start, end) for start, end in ends]
    found = np.concatenate(segments)
    if not found.size:
        return []
    merged = shapely.line_merge(MultiLineString(list(found)))
    pieces = [p for p in shapely.get_parts(merged) if p.length >= min_length]
    # Pixel (row, column) of a centre to map coordinates.
    to_map = transform @ Affine.translation(0.5, 0.5)
    return [
        shapely.transform(p, lambda rc: np.column_stack(to_map @ (rc[:, 1], rc[:, 0])))
        for p in pieces
    ]


def _summed(shares: np.ndarray, inside: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """Crossings between each pixel and the next in its row (as a fraction of the step) from
    the area the shares say each side holds: over SUM_PX pixels either side, pure at both
    ends (within PURE_SHARE of 0 and 1), the sea's length is the sum of its shares, exact for
    a straight coast and a pixel's share proportional to its area, where interpolating two
    pixels is off by up to a tenth of a pixel wherever one of them is pure (the share is not
    linear across the coast: it saturates). `linear` where the window is not pure at both
    ends, holds a NaN or leaves the grid."""
    cols = shares.shape[1]
    width = 2 * SUM_PX
    if cols < width:
        return linear
    windows = np.lib.stride_tricks.sliding_window_view(shares, width, axis=1)
    # The window of the step from pixel c to c + 1 starts at c − SUM_PX + 1.
    found = np.full(linear.shape, np.nan)
    first = SUM_PX - 1
    total = windows.sum(axis=2)
    left, right = windows[:, :, 0], windows[:, :, -1]
    land = (left <= PURE_SHARE) & (right >= 1 - PURE_SHARE)  # sea to the right
    sea = (left >= 1 - PURE_SHARE) & (right <= PURE_SHARE)
    # The window starts half a pixel before pixel c − SUM_PX + 1: land (sea to the right) or
    # sea (to the left) runs from there over its length in pixels, to the crossing.
    offset = np.where(land, width - total, total) - SUM_PX + 0.5
    usable = (land | sea) & np.isfinite(total)
    found[:, first : first + windows.shape[1]] = np.where(usable, np.clip(offset, 0.0, 1.0), np.nan)
    side = inside[:, :-1] != inside[:, 1:]
    return np.where(side & np.isfinite(found), found, linear)


def _segments(
    edges: dict[str, tuple[np.ndarray, np.ndarray]], chosen: np.ndarray, start: str, end: str
) -> np.ndarray:
    """(n, 2, 2) segments between two edges' crossings in the chosen cells."""
    (r0, c0), (r1, c1) = edges[start], edges[end]
    return np.stack(
        [np.column_stack([r0[chosen], c0[chosen]]), np.column_stack([r1[chosen], c1[chosen]])],
        axis=1,
    )


class LandReference:
    """Each pixel's mean green − SWIR1 and green + SWIR1 over the dates it was pure land: the
    land end of its own mix on the dates the sea covers part of it. Land differs from pixel to
    pixel (fields, roofs, roads), so the spectrum of neighbours misplaces the line by metres
    where the pixel's own, from other dates, does not (on the synthetic coast, the share of
    mixed pixels errs by 0.02–0.03 rms with it against 0.08 with the same date's land nearby):
    the strip behind a coast changes little from one clear season to the next, and a change
    is averaged. A pixel never seen pure (the coast crosses it on the first dates of a
    retreat) takes the mean of its neighbours' within FILL_PX."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.difference = np.zeros(shape, np.float64)
        self.brightness = np.zeros(shape, np.float64)
        self.count = np.zeros(shape, np.int32)

    def add(self, mndwi: np.ndarray, brightness: np.ndarray) -> None:
        """One date's pure land pixels (none when the scene shows no water class)."""
        threshold = water_threshold(mndwi) if np.isfinite(mndwi).any() else None
        if threshold is None:
            return
        maybe_water = ~(mndwi <= threshold)
        pure = ~_near(maybe_water, PURE_LAND_GAP_PX) & np.isfinite(brightness)
        self.difference[pure] += brightness[pure] * mndwi[pure]
        self.brightness[pure] += brightness[pure]
        self.count[pure] += 1

    def spectra(self) -> tuple[np.ndarray, np.ndarray]:
        """(G − S, G + S) per pixel, NaN where no date saw it or a neighbour pure land."""
        seen = self.count > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            difference = np.where(seen, self.difference / self.count, 0.0)
            brightness = np.where(seen, self.brightness / self.count, 0.0)
            near = _box_sum(seen.astype(np.float64), FILL_PX)
            filled_d = _box_sum(difference, FILL_PX) / near
            filled_b = _box_sum(brightness, FILL_PX) / near
            return (
                np.where(seen, difference, filled_d).astype(np.float32),
                np.where(seen, brightness, filled_b).astype(np.float32),
            )


def shoreline(
    mndwi: np.ndarray,
    brightness: np.ndarray,
    transform: Affine,
    land: tuple[np.ndarray, np.ndarray] | None = None,
) -> Shoreline:
    """A scene's sea–land line from its MNDWI on the grid (NaN where masked) and its green +
    SWIR1 reflectance (`brightness`), in the grid's CRS (metres). Otsu's threshold separates
    sea and land; the line is then drawn where each pixel's sea fraction (`sea_fraction`, with
    the `land` spectra of a LandReference where known) is one half, where the coast is on a
    one-pixel mix, not at the threshold. The mouths of channels are kept aside."""
    clear = np.isfinite(mndwi)
    share = float(clear.mean()) if mndwi.size else 0.0
    if not clear.any():
        return Shoreline(None, None, 0.0, "no clear pixel (clouds, cloud shadows or no data)")
    threshold = water_threshold(mndwi)
    if threshold is None:
        return Shoreline(None, None, share, "no water seen (MNDWI has no water class)")
    channel_px = CHANNEL_WIDTH_M / transform.a
    field = sea_field(mndwi - np.float32(threshold), channel_px)
    fraction = sea_fraction(mndwi, brightness, field, land) if field is not None else None
    mouths = None
    if fraction is not None:
        half = fraction - np.float32(0.5)
        field = sea_field(half, channel_px)
        if field is not None:
            mouths = _mouths(half, field, transform)
    lines = []
    if field is not None:
        shares = np.clip(field + np.float32(0.5), 0.0, 1.0) if fraction is not None else None
        lines = contours(field, transform, shares=shares)
    if not lines:
        return Shoreline(None, threshold, share, "no sea–land boundary in the clear pixels")
    return Shoreline(MultiLineString(lines), threshold, share, mouths=mouths)


def _mouths(water: np.ndarray, sea: np.ndarray, transform: Affine) -> BaseGeometry | None:
    """The centres of the water pixels (`water` > 0) that `sea_field` took out of the sea
    (`sea` < 0) and that touch it."""
    rows, cols = np.nonzero((water > 0) & (sea < 0) & _near(sea > 0, 1))
    if not rows.size:
        return None
    x, y = (transform @ Affine.translation(0.5, 0.5)) @ (cols, rows)
    return MultiPoint(np.column_stack([x, y]))


def sea_fraction(
    mndwi: np.ndarray,
    brightness: np.ndarray,
    field: np.ndarray,
    land: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray | None:
    """Each pixel's share of sea m, its green and SWIR1 reflectance P taken as the linear mix
    m·W + (1 − m)·L of its sea and land ends, solved by least squares in reflectance:
    m = (P − L)·(W − L) / |W − L|². W: the sea pixels RING_PX pixels off the first line
    (`field` > 0: sea), pure, averaged within LOCAL_PX pixels (the median of the whole ring
    where none is near); L: the pixel's land spectrum from the dates it or a neighbour was
    pure land (`land`: G − S and G + S, a rotation of (G, S) that keeps least squares) or else
    the ring's land pixels likewise. Solved in reflectance, not by inverting MNDWI: MNDWI is
    not linear in the mix (water is darker than land), and near pure land it hardly moves
    with the sea's share, so sensor noise there became errors of 0.05 in the share."""
    sea, land_side = field > 0, field <= 0
    edge = _near(sea, 1) & _near(land_side, 1)
    ring = _near(edge, RING_PX[1]) & ~_near(edge, RING_PX[0] - 1)
    ends = []
    for side in (sea, land_side):
        chosen = ring & side & np.isfinite(brightness)
        if not chosen.any():
            return None
        bright = np.where(chosen, brightness, 0.0)
        difference = np.where(chosen, brightness * mndwi, 0.0)
        count = _box_sum(chosen.astype(np.float64), LOCAL_PX)
        fallback_b = float(np.median(brightness[chosen]))
        fallback_d = fallback_b * float(np.median(mndwi[chosen]))
        with np.errstate(divide="ignore", invalid="ignore"):
            ends.append(
                (
                    np.where(count > 0, _box_sum(difference, LOCAL_PX) / count, fallback_d),
                    np.where(count > 0, _box_sum(bright, LOCAL_PX) / count, fallback_b),
                )
            )
    (dw, bw), (dl, bl) = ends
    if land is not None:
        known = np.isfinite(land[1])
        dl, bl = np.where(known, land[0], dl), np.where(known, land[1], bl)
    dd, db = dw - dl, bw - bl
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = ((brightness * mndwi - dl) * dd + (brightness - bl) * db) / (dd * dd + db * db)
    return np.clip(fraction, 0.0, 1.0).astype(np.float32)


def _box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum of `values` over the (2r + 1)² square around each pixel (cut at the edges)."""
    padded = np.pad(values, radius)
    total = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    side = 2 * radius + 1
    return total[side:, side:] - total[:-side, side:] - total[side:, :-side] + total[:-side, :-side]


def _near(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by `radius` pixels (a square)."""
    grown = mask.copy()
    rows, cols = mask.shape
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            grown[max(dr, 0) : rows + min(dr, 0), max(dc, 0) : cols + min(dc, 0)] |= mask[
                max(-dr, 0) : rows + min(-dr, 0), max(-dc, 0) : cols + min(-dc, 0)
            ]
    return grown


def mean_shoreline(water: np.ndarray, transform: Affine) -> list[LineString]:
    """The line where the sea is seen half the time: the 0.5 contour of each pixel's share of
    clear dates it was sea (NaN never clear), the rim of the largest sea kept."""
    field = sea_field(water - np.float32(0.5), CHANNEL_WIDTH_M / transform.a)
    return contours(field, transform) if field is not None else []


def baselines(
    mean_lines: list[LineString], smoothing: float = BASELINE_SMOOTHING_M
) -> list[LineString]:
    """The smoothed reference baselines: each mean shoreline piece simplified, those long
    enough for two transects."""
    smoothed = [line.simplify(smoothing) for line in mean_lines]
    return [line for line in smoothed if line.length >= 2 * TRANSECT_SPACING_M]
