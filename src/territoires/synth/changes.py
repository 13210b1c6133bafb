"""Land-cover changes between two years, planted so that `land-cover-change` has a truth: parcels
of varied sizes (0.1 to 4 ha) whose ground changes on a date — fields built on (sealed), car
parks greened (de-sealed), trees felled (vegetation lost), bare ground planted (vegetation
gained) — each a rotated rectangle with its ground before and after, placed where such a
change happens (town fringes, town centres, woods, open land), apart from water and from one
another."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon, mapping

from territoires.shared.territories import TerritoryRecord
from territoires.synth.grid import Grid, from_lonlat, to_lonlat
from territoires.synth.landscape import Landscape
from territoires.synth.texture import clip01
from territoires.synth.truth import CHANGE_POLYGONS, CHANGE_RASTER, _rounded

SEALED, DESEALED, VEGETATION_LOST, VEGETATION_GAINED = 1, 2, 3, 4
CHANGE_CLASSES = {
    SEALED: "sealed",
    DESEALED: "de-sealed",
    VEGETATION_LOST: "vegetation lost",
    VEGETATION_GAINED: "vegetation gained",
}
"""Truth codes of the planted changes (0: unchanged), as `land-cover-change` classes them."""
SMALL_HA = (0.1, 0.5)
"""Two parcels in five are this small (ha): the size a commune's single building plot is."""
LARGE_HA = (0.5, 4.0)
"""The others, log-uniformly: housing estates, retail parks, clear-cuts."""
PARCELS_PER_KM2 = 0.15
"""Parcels of each class per km² of the grid (16 a class over 10 km × 10 km)."""
MAX_PARCELS = 500
GAP_M = 40.0
"""The least distance between two parcels: each stays its own polygon at 10 m."""
WATER_CLEARANCE_M = 200.0
"""Parcels stay this far from water (and from the moving coast)."""
EDGE_CLEARANCE_M = 300.0
LATTICE_M = 50.0
"""Spacing of the points the landscape is sampled at to choose where parcels go."""


@dataclass(frozen=True)
class Surface:
    """A parcel's ground as `Ground` holds it: the sealed share of the land (`built`), its paved
    part, and the tree and low-vegetation shares of the unbuilt land (shrubs a share of the
    low vegetation)."""

    built: float
    paved: float
    tree: float
    low_vegetation: float
    shrub: float

    def values(self) -> tuple[float, float, float, float, float]:
        return (self.built, self.paved, self.tree, self.low_vegetation, self.shrub)

    @property
    def vegetation(self) -> float:
        """The green share of the parcel's land (trees plus low vegetation)."""
        return (1.0 - self.built) * (self.tree + self.low_vegetation)


@dataclass(frozen=True)
class Change:
    """A rectangular parcel (centre in the landscape's local metres, length along `angle`)
    whose ground is `before` until `when` and `after` from then on."""

    kind: int
    x: float
    y: float
    length_m: float
    width_m: float
    angle: float
    when: date
    before: Surface
    after: Surface

    @property
    def area_ha(self) -> float:
        return self.length_m * self.width_m / 10_000.0

    @property
    def reach(self) -> float:
        """Half the diagonal: no point of the parcel is further from its centre."""
        return math.hypot(self.length_m, self.width_m) / 2.0

    def share(self, x: np.ndarray, y: np.ndarray, resolution: float) -> np.ndarray:
        """Share of each pixel centred on local (y[i], x[j]) inside the parcel: a ramp one
        pixel wide across each side, as the landscape draws streets and hedgerows."""
        cosine, sine = np.float32(math.cos(self.angle)), np.float32(math.sin(self.angle))
        dx = (x - np.float32(self.x))[None, :]
        dy = (y - np.float32(self.y))[:, None]
        along = np.abs(dx * cosine + dy * sine)
        across = np.abs(dy * cosine - dx * sine)
        step = np.float32(resolution)
        inside = clip01(np.float32(0.5) + (np.float32(self.length_m / 2) - along) / step)
        inside *= clip01(np.float32(0.5) + (np.float32(self.width_m / 2) - across) / step)
        return inside

    def polygon(self, origin_x: float, origin_y: float) -> Polygon:
        """The parcel in map coordinates."""
        cosine, sine = math.cos(self.angle), math.sin(self.angle)
        half_length, half_width = self.length_m / 2, self.width_m / 2
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        return Polygon(
            [
                (
                    origin_x + self.x + a * half_length * cosine - b * half_width * sine,
                    origin_y + self.y + a * half_length * sine + b * half_width * cosine,
                )
                for a, b in corners
            ]
        )

    def surface_at(self, when: date) -> Surface:
        return self.after if when >= self.when else self.before


# The ground of each class before and after its change (each value jittered by a few percent).
FIELD = Surface(built=0.0, paved=0.0, tree=0.02, low_vegetation=0.85, shrub=0.05)
BARE_PLOT = Surface(built=0.0, paved=0.0, tree=0.0, low_vegetation=0.05, shrub=0.0)
HOUSING = Surface(built=0.92, paved=0.35, tree=0.0, low_vegetation=0.6, shrub=0.2)
CAR_PARK = Surface(built=0.95, paved=0.9, tree=0.0, low_vegetation=0.3, shrub=0.0)
PARK = Surface(built=0.04, paved=0.04, tree=0.3, low_vegetation=0.65, shrub=0.2)
WOOD = Surface(built=0.0, paved=0.0, tree=0.88, low_vegetation=0.1, shrub=0.5)
CLEAR_CUT = Surface(built=0.0, paved=0.0, tree=0.0, low_vegetation=0.1, shrub=0.3)
PLANTED = Surface(built=0.0, paved=0.0, tree=0.55, low_vegetation=0.4, shrub=0.3)
STATES = {
    SEALED: ((FIELD, BARE_PLOT), (HOUSING, CAR_PARK)),
    DESEALED: ((CAR_PARK,), (PARK,)),
    VEGETATION_LOST: ((WOOD,), (CLEAR_CUT,)),
    VEGETATION_GAINED: ((BARE_PLOT,), (PLANTED,)),
}
"""Each class's grounds before and after (one drawn of each)."""


def _jittered(rng: np.random.Generator, surface: Surface) -> Surface:
    built, paved, tree, low, shrub = (
        float(np.clip(value * rng.uniform(0.95, 1.05), 0.0, 1.0)) for value in surface.values()
    )
    low = min(low, 1.0 - tree)
    return Surface(built, min(paved, built), tree, low, shrub)


def change_date(before: date, after: date) -> date:
    """When the parcels change: halfway between the summer scenes of the two years (winter),
    so every scene of the later summer shows the after state and none of the earlier one."""
    return before + (after - before) / 2


def summer_dates(seed: int, summers: list[date], start: date, end: date) -> list[date]:
    """Two more dates around each of the two summers compared (25 days before and after,
    give or take four: June to August north, December to February south, as the summer
    dates are mid-July or mid-January give or take 12 days; within the period): a summer of
    several scenes, as a real one has, so that haze or a cloud edge the scene
    classification misses on one date is outvoted by the others."""
    rng = np.random.default_rng([seed, 7])
    days = [
        summer + timedelta(days=sign * 25 + int(rng.integers(-4, 5)))
        for summer in summers
        for sign in (-1, 1)
    ]
    return sorted(day for day in days if start <= day <= end)


def plant(landscape: Landscape, grid: Grid, seed: int, when: date) -> tuple[Change, ...]:
    """Draws the parcels over the grid from the seed (a stream of its own: scenes drawn from
    the other streams keep their bytes)."""
    rng = np.random.default_rng([seed, 6])
    left, bottom, right, top = grid.bounds
    x = np.arange(left + EDGE_CLEARANCE_M, right - EDGE_CLEARANCE_M, LATTICE_M)
    y = np.arange(top - EDGE_CLEARANCE_M, bottom + EDGE_CLEARANCE_M, -LATTICE_M)
    ground = landscape.ground(x, y, LATTICE_M)
    cover = landscape.cover(ground, when)
    reach = math.ceil(WATER_CLEARANCE_M / LATTICE_M)
    dry = ~_dilated(cover.water > 0.01, reach)
    density = ground.urban_density
    places = {
        SEALED: dry & (density > 0.03) & (density < 0.6) & (ground.built < 0.3),
        DESEALED: dry & (density >= 0.4),
        VEGETATION_LOST: dry & (ground.tree >= 0.5),
        VEGETATION_GAINED: dry & (ground.built < 0.2) & (ground.tree < 0.3),
    }
    area_km2 = (right - left) * (top - bottom) / 1e6
    per_class = int(np.clip(round(area_km2 * PARCELS_PER_KM2), 4, MAX_PARCELS))
    placed: list[Change] = []
    for kind, where in places.items():
        rows, columns = np.nonzero(where if where.sum() >= per_class else dry)
        if rows.size == 0:
            continue
        befores, afters = STATES[kind]
        made, tries = 0, 0
        while made < per_class and tries < per_class * 50:
            tries += 1
            pick = int(rng.integers(rows.size))
            small = rng.uniform() < 0.4
            area_ha = (
                rng.uniform(*SMALL_HA)
                if small
                else math.exp(rng.uniform(math.log(LARGE_HA[0]), math.log(LARGE_HA[1])))
            )
            aspect = rng.uniform(1.0, 2.0 if small else 2.5)
            width = math.sqrt(area_ha * 10_000.0 / aspect)
            candidate = Change(
                kind=kind,
                x=float(x[columns[pick]] + rng.uniform(-0.5, 0.5) * LATTICE_M - landscape.origin_x),
                y=float(y[rows[pick]] + rng.uniform(-0.5, 0.5) * LATTICE_M - landscape.origin_y),
                length_m=width * aspect,
                width_m=width,
                angle=float(rng.uniform(0.0, math.pi)),
                when=when,
                before=_jittered(rng, befores[int(rng.integers(len(befores)))]),
                after=_jittered(rng, afters[int(rng.integers(len(afters)))]),
            )
            if all(
                math.hypot(candidate.x - other.x, candidate.y - other.y)
                > candidate.reach + other.reach + GAP_M
                for other in placed
            ):
                placed.append(candidate)
                made += 1
    return tuple(placed)


def _dilated(mask: np.ndarray, reach: int) -> np.ndarray:
    """`mask` grown by `reach` lattice steps (a square), with numpy shifts."""
    grown = mask.copy()
    for _ in range(reach):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def change_truth(
    landscape: Landscape, grid: Grid, communes: list[TerritoryRecord], before: date, after: date
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The truth.json section of the planted changes and their polygons as GeoJSON (lon/lat):
    each parcel's class, area and area per commune, and each commune's hectares per class."""
    to_map = from_lonlat(grid.epsg)
    to_degrees = to_lonlat(grid.epsg)
    outlines = {
        record.code: shapely.transform(
            record.geometry, lambda xy: np.column_stack(to_map.transform(*xy.T))
        )
        for record in communes
    }
    hectares: dict[str, dict[str, float]] = {}
    features = []
    for number, change in enumerate(landscape.changes, start=1):
        parcel = change.polygon(landscape.origin_x, landscape.origin_y)
        shares = {
            code: round(outline.intersection(parcel).area / 10_000.0, 4)
            for code, outline in outlines.items()
            if outline.intersects(parcel)
        }
        name = CHANGE_CLASSES[change.kind]
        for code, area in shares.items():
            row = hectares.setdefault(code, dict.fromkeys(CHANGE_CLASSES.values(), 0.0))
            row[name] = round(row[name] + area, 4)
        lonlat = shapely.transform(parcel, lambda xy: np.column_stack(to_degrees.transform(*xy.T)))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "parcel": number,
                    "class": name,
                    "class_code": change.kind,
                    "area_ha": round(change.area_ha, 4),
                    "date": change.when.isoformat(),
                    "communes": shares,
                    "sealed_before": round(change.before.built, 3),
                    "sealed_after": round(change.after.built, 3),
                    "vegetation_before": round(change.before.vegetation, 3),
                    "vegetation_after": round(change.after.vegetation, 3),
                },
                "geometry": _rounded(mapping(lonlat)),
            }
        )
    document = {
        "date": landscape.changes[0].when.isoformat() if landscape.changes else None,
        "before": before.isoformat(),
        "after": after.isoformat(),
        "classes": {str(code): name for code, name in CHANGE_CLASSES.items()},
        "parcels": len(landscape.changes),
        "raster": CHANGE_RASTER,
        "polygons": CHANGE_POLYGONS,
        "communes": hectares,
        "definition": "each parcel's ground changes on `date`, between the summer scenes of "
        "`before` and `after`: fields or bare plots built on (sealed), car parks greened "
        "(de-sealed), woods felled to bare ground (vegetation lost), bare ground planted with "
        "trees and grass (vegetation gained); the raster holds the class of the pixels at "
        "least half inside a parcel (0 elsewhere), `communes` each commune's parcel hectares "
        "per class (parcels cut by commune boundaries)",
    }
    return document, {"type": "FeatureCollection", "features": features}
