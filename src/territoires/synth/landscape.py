"""The planted truth: one landscape defined at every map coordinate — towns with their heat
island, fields, forests, the sea with a shoreline moving at a known rate, a river, lakes, a flood —
drawn from a seed, so that every sensor grid and every block of rows sees the same ground."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from territoires.synth.grid import Grid
from territoires.synth.texture import (
    Blob,
    Cells,
    FractalNoise,
    blob_sum,
    cell_random,
    clip01,
    smoothstep,
)

if TYPE_CHECKING:
    from territoires.synth.changes import Change

DAYS_PER_YEAR = 365.25
HIDDEN_COAST_M = 30.0
"""The planted coast is hidden where river or lake water lies this close landward of it."""
CAR_PARK_SHARE = 0.05
"""Share of the town blocks planted as car parks or squares: paved, no building (LCZ E)."""

LAND_COVER_CLASSES = {
    1: "built-up",
    2: "tree cover",
    3: "low vegetation",
    4: "bare soil",
    5: "water",
}
"""Truth codes: water when water covers half the pixel, else built-up, tree cover or (trees plus
low plants) low vegetation when that cover reaches half the pixel, else bare soil."""


@dataclass(frozen=True)
class Settlement:
    """A town or village: where its people live, hence where its buildings and lights are."""

    code: str | None
    name: str
    x: float
    y: float
    population: int


@dataclass(frozen=True)
class Shoreline:
    """A wavy coast whose every point moves along `sea_direction` at a constant rate.

    Coordinates are local: metres from the landscape's origin.
    """

    origin_x: float
    origin_y: float
    sea_direction: tuple[float, float]
    rate_m_per_year: float
    reference: date
    wiggle: FractalNoise
    wiggle_amplitude_m: float

    def offset_m(self, when: date) -> float:
        """How far the coast moved seaward since the reference date (negative: it retreated)."""
        return self.rate_m_per_year * (when - self.reference).days / DAYS_PER_YEAR

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """How far each grid point lies seaward of the coast of the reference date (metres,
        along `sea_direction`; negative inland)."""
        east, north = self.sea_direction
        dx = (x - np.float32(self.origin_x))[None, :]
        dy = (y - np.float32(self.origin_y))[:, None]
        seaward = dx * np.float32(east) + dy * np.float32(north)
        along = dy * np.float32(east) - dx * np.float32(north)
        coast = self.wiggle.profile(along, 5.0)(along)
        coast *= np.float32(-self.wiggle_amplitude_m)
        coast += seaward
        return coast

    def sea_fraction(self, distance: np.ndarray, resolution: float, when: date) -> np.ndarray:
        """Share of each pixel that is sea at a date: a linear ramp one pixel wide across the
        coast line, so that sub-pixel contouring finds the planted line."""
        shift = np.float32(0.5 - self.offset_m(when) / resolution)
        return clip01(distance / np.float32(resolution) + shift)

    def line(self, when: date, centre: tuple[float, float], reach: float) -> np.ndarray:
        """The coast at a date as (n, 2) local coordinates, every 20 m along the shore over
        `reach` metres either side of the point nearest `centre`."""
        east, north = self.sea_direction
        centre_along = (centre[1] - self.origin_y) * east - (centre[0] - self.origin_x) * north
        along = np.arange(centre_along - reach, centre_along + reach, 20.0)
        seaward = self.wiggle_amplitude_m * self.wiggle.line(along) + self.offset_m(when)
        x = self.origin_x + seaward * east - along * north
        y = self.origin_y + seaward * north + along * east
        return np.column_stack([x, y])


@dataclass(frozen=True)
class River:
    """A meandering river of constant width flowing towards the sea (local coordinates)."""

    origin_x: float
    origin_y: float
    direction: tuple[float, float]
    width_m: float
    meander: FractalNoise
    meander_amplitude_m: float

    def frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance downstream and distance to the river's centre line (both in metres)."""
        east, north = self.direction
        dx = (x - np.float32(self.origin_x))[None, :]
        dy = (y - np.float32(self.origin_y))[:, None]
        downstream = dx * np.float32(east) + dy * np.float32(north)
        across = dy * np.float32(east) - dx * np.float32(north)
        centre_line = self.meander.profile(downstream, 5.0).map(
            lambda values: (values * self.meander_amplitude_m).astype(np.float32)
        )
        stretch = centre_line.map(
            lambda values: np.sqrt(1.0 + np.gradient(values, centre_line.step) ** 2)
        )
        distance = np.abs(across - centre_line(downstream))
        distance /= stretch(downstream)
        return downstream, distance


@dataclass(frozen=True)
class Flood:
    """The flood event: the low ground along a reach of the river goes under water."""

    event: date
    reach_start_m: float
    reach_end_m: float
    scale_m: float
    roughness: FractalNoise


@dataclass(frozen=True)
class Parcels:
    """A rotated, staggered grid of rectangular parcels (fields, or city blocks)."""

    angle: float
    length_m: float
    width_m: float
    key: int

    def cells(self, x: np.ndarray, y: np.ndarray) -> tuple[Cells, np.ndarray]:
        """The parcel of each pixel (local coordinates) and its distance to the parcel's edge."""
        cosine, sine = np.float32(math.cos(self.angle)), np.float32(math.sin(self.angle))
        length, width = np.float32(self.length_m), np.float32(self.width_m)
        along = x[None, :] * cosine + y[:, None] * sine
        column = np.floor(along / length)
        column_range = np.arange(int(column.min()), int(column.max()) + 1)
        stagger = cell_random(column_range, np.zeros_like(column_range), self.key) * width
        column_index = column.astype(np.int32)
        across = y[:, None] * cosine - x[None, :] * sine
        across += stagger.take(column_index - column_range[0])
        row = np.floor(across / width)
        inside_along = along - column * length
        inside_across = across - row * width
        edge = np.minimum(
            np.minimum(inside_along, length - inside_along),
            np.minimum(inside_across, width - inside_across),
        )
        return Cells.of(column_index, row.astype(np.int32)), edge


@dataclass
class Ground:
    """What does not change between the scenes of a block: everything but the sea."""

    resolution: float
    coast_distance: np.ndarray  # metres seaward of the reference date's coast
    inland_water: np.ndarray
    built: np.ndarray  # sealed share of the land: buildings and paved ground together
    paved: np.ndarray  # paved share of the land (streets, roads), part of `built`
    tree: np.ndarray  # share of the unbuilt land
    low_vegetation: np.ndarray  # share of the unbuilt land
    shrub: np.ndarray  # share of the low vegetation: hedgerows, forest edges, scrub, gardens
    urban_density: np.ndarray
    brightness: np.ndarray
    turbidity: np.ndarray
    flood_zone: np.ndarray  # bool
    # The planted change parcel of each pixel (index in Landscape.changes, -1 none) and the
    # pixel's share inside it; None when the landscape plants no change.
    parcel: np.ndarray | None = None
    parcel_share: np.ndarray | None = None


@dataclass
class Cover:
    """Area share of each cover in every pixel at one date; the five shares sum to one.
    `built` is the sealed share: `building` roofs plus `paved` ground, kept apart because they
    look different from above (asphalt is darker than roofs); `low_vegetation` is `shrub` plus
    `herbaceous` plants, apart for the same reason over a year (grass dries, shrubs do not)."""

    water: np.ndarray
    built: np.ndarray
    tree: np.ndarray
    low_vegetation: np.ndarray
    bare: np.ndarray
    paved: np.ndarray
    shrub: np.ndarray

    @property
    def building(self) -> np.ndarray:
        return self.built - self.paved

    @property
    def herbaceous(self) -> np.ndarray:
        return self.low_vegetation - self.shrub

    @property
    def vegetation(self) -> np.ndarray:
        return self.tree + self.low_vegetation

    def land_cover(self) -> np.ndarray:
        """The truth class of each pixel (codes of LAND_COVER_CLASSES)."""
        classes = np.full(self.water.shape, 4, np.uint8)
        classes[self.vegetation >= 0.5] = 3
        classes[self.tree >= 0.5] = 2
        classes[self.built >= 0.5] = 1
        classes[self.water >= 0.5] = 5
        return classes


@dataclass(frozen=True)
class Landscape:
    """Every planted parameter; sampling methods turn them into fields on any grid.

    Positions are kept in local metres from (origin_x, origin_y), a point of the map CRS, so
    that float32 arithmetic stays exact to the centimetre; public methods take map coordinates.
    """

    seed: int
    latitude: float
    origin_x: float
    origin_y: float
    blobs: tuple[Blob, ...]
    density_noise: FractalNoise
    texture: FractalNoise
    city_blocks: Parcels
    fields: Parcels
    roads: tuple[tuple[float, float, float], ...]  # point x, point y, angle
    forest_noise: FractalNoise
    forest_threshold: float
    shoreline: Shoreline
    river: River
    lakes: tuple[Blob, ...]
    flood: Flood
    heat_island_amplitude_c: float
    temperature_noise: FractalNoise
    changes: tuple[Change, ...] = ()
    """Parcels whose ground changes on a date (`synth.changes`); none unless planted."""

    @classmethod
    def draw(
        cls,
        seed: int,
        grid: Grid,
        latitude: float,
        settlements: list[Settlement],
        sea_direction: tuple[float, float],
        sea_share: float,
        reference: date,
        flood_event: date,
    ) -> Landscape:
        """Draws the landscape's parameters from the seed over a grid (10 m)."""
        rng = np.random.default_rng([seed, 1])
        left, bottom, right, top = grid.bounds
        extent = right - left
        origin_x = round((left + right) / 2000.0) * 1000.0
        origin_y = round((bottom + top) / 2000.0) * 1000.0
        centre_x, centre_y = (left + right) / 2 - origin_x, (bottom + top) / 2 - origin_y
        local = [
            Settlement(s.code, s.name, s.x - origin_x, s.y - origin_y, s.population)
            for s in settlements
        ]
        blobs = tuple(_settlement_blobs(rng, local))
        density_noise = FractalNoise.draw(rng, 8000.0, 1000.0)
        texture = FractalNoise.draw(rng, 400.0, 50.0)
        city_blocks = Parcels(
            rng.uniform(0, math.pi / 2), rng.uniform(80, 120), rng.uniform(100, 150), _key(rng)
        )
        fields = Parcels(
            rng.uniform(0, math.pi / 2), rng.uniform(200, 380), rng.uniform(130, 260), _key(rng)
        )
        roads = tuple(
            (
                centre_x + rng.uniform(-0.35, 0.35) * extent,
                centre_y + rng.uniform(-0.35, 0.35) * extent,
                rng.uniform(0, math.pi),
            )
            for _ in range(int(rng.integers(2, 5)))
        )
        forest_noise = FractalNoise.draw(rng, 12000.0, 150.0)
        local_bounds = (left - origin_x, bottom - origin_y, right - origin_x, top - origin_y)
        forest_threshold = forest_noise.quantile(local_bounds, 1.0 - rng.uniform(0.12, 0.3))

        east, north = sea_direction
        shoreline_wiggle = FractalNoise.draw(rng, max(6000.0, extent / 3), 200.0)
        seaward = _seaward_quantile(grid, sea_direction, 1.0 - sea_share)
        erosion = rng.uniform() < 0.8
        rate = rng.uniform(2.0, 8.0) * (-1.0 if erosion else 1.0)
        shoreline = Shoreline(
            origin_x=centre_x + seaward * east,
            origin_y=centre_y + seaward * north,
            sea_direction=sea_direction,
            rate_m_per_year=round(rate, 3),
            reference=reference,
            wiggle=shoreline_wiggle,
            wiggle_amplitude_m=extent * rng.uniform(0.02, 0.05),
        )
        turn = rng.uniform(-0.6, 0.6)
        river_east = east * math.cos(turn) - north * math.sin(turn)
        river_north = east * math.sin(turn) + north * math.cos(turn)
        offset = rng.uniform(-0.2, 0.2) * extent
        river = River(
            origin_x=centre_x - offset * river_north,
            origin_y=centre_y + offset * river_east,
            direction=(river_east, river_north),
            width_m=rng.uniform(40, 110),
            meander=FractalNoise.draw(rng, 5000.0, 600.0),
            meander_amplitude_m=rng.uniform(400, 900),
        )
        lakes = tuple(
            Blob(
                centre_x + rng.uniform(-0.4, 0.4) * extent,
                centre_y + rng.uniform(-0.4, 0.4) * extent,
                rng.uniform(150, 400),
                1.0,
            )
            for _ in range(int(rng.integers(1, 4)))
        )
        reach_centre = rng.uniform(-0.4, -0.15) * extent  # upstream of the grid centre
        reach_length = rng.uniform(0.3, 0.5) * extent
        flood = Flood(
            event=flood_event,
            reach_start_m=reach_centre - reach_length / 2,
            reach_end_m=reach_centre + reach_length / 2,
            scale_m=rng.uniform(350, 800),
            roughness=FractalNoise.draw(rng, 2000.0, 250.0),
        )
        return cls(
            seed=seed,
            latitude=latitude,
            origin_x=origin_x,
            origin_y=origin_y,
            blobs=blobs,
            density_noise=density_noise,
            texture=texture,
            city_blocks=city_blocks,
            fields=fields,
            roads=roads,
            forest_noise=forest_noise,
            forest_threshold=forest_threshold,
            shoreline=shoreline,
            river=river,
            lakes=lakes,
            flood=flood,
            heat_island_amplitude_c=round(float(rng.uniform(3.0, 6.0)), 3),
            temperature_noise=FractalNoise.draw(rng, 4000.0, 500.0),
        )

    def local(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates to the float32 local frame."""
        return (x - self.origin_x).astype(np.float32), (y - self.origin_y).astype(np.float32)

    def urban_density(self, x: np.ndarray, y: np.ndarray, widen: float = 0.0) -> np.ndarray:
        """Where people live, at map coordinates: 0 in the countryside, about 1 in a city
        centre; `widen` blurs it (metres), as a coarse sensor's point spread would."""
        x, y = self.local(x, y)
        return self._density(x, y, self.density_noise.grid(x, y), widen)

    def _density(
        self, x: np.ndarray, y: np.ndarray, density_noise: np.ndarray, widen: float = 0.0
    ) -> np.ndarray:
        density = blob_sum(list(self.blobs), x, y, widen)
        density *= np.float32(1.0) + np.float32(0.3) * density_noise
        return np.clip(density, 0.0, 1.3, out=density)

    def sea_fraction(self, x: np.ndarray, y: np.ndarray, resolution: float, when: date):
        """Share of sea in each pixel centred on map coordinates (y[i], x[j]) at a date."""
        distance = self.shoreline.distance(*self.local(x, y))
        return self.shoreline.sea_fraction(distance, resolution, when)

    def shoreline_line(self, when: date, grid: Grid) -> np.ndarray:
        """The planted coast at a date, (n, 2) map coordinates covering the grid."""
        left, bottom, right, top = grid.bounds
        centre = ((left + right) / 2 - self.origin_x, (bottom + top) / 2 - self.origin_y)
        line = self.shoreline.line(when, centre, math.hypot(right - left, top - bottom))
        return line + np.array([self.origin_x, self.origin_y])

    def ground(self, x: np.ndarray, y: np.ndarray, resolution: float) -> Ground:
        """The static fields of the pixels centred on map coordinates (y[i], x[j])."""
        x, y = self.local(x, y)
        one = np.float32(1.0)
        density_noise = self.density_noise.grid(x, y)
        density = self._density(x, y, density_noise)
        core = np.minimum(density, one)
        urban = smoothstep(clip01(core * np.float32(4.0)))
        texture = self.texture.grid(x, y)

        blocks, edge = self.city_blocks.cells(x, y)
        block_level = blocks.random(self.city_blocks.key)
        built = core * (
            np.float32(0.45) + np.float32(0.55) * block_level + np.float32(0.15) * texture
        )
        park = blocks.random(self.city_blocks.key + 1) < np.float32(0.08)
        built[park] *= np.float32(0.1)
        clip01(built)
        buildings = built.copy()  # roofs; streets, car parks and roads below are paved ground
        lot = ~park & (blocks.random(self.city_blocks.key + 4) < np.float32(CAR_PARK_SHARE))
        buildings[lot] = 0.0  # car parks, squares: sealed blocks without a roof
        built[lot] = np.maximum(built[lot], np.float32(0.9) * urban[lot])
        street = clip01(np.float32(0.5) + (np.float32(7.0) - edge) / np.float32(resolution))
        built += (one - built) * street * urban
        built += (one - built) * self._roads(x, y, resolution)
        brightness = np.float32(0.8) + np.float32(0.5) * block_level

        fields, field_edge = self.fields.cells(x, y)
        crop = fields.random(self.fields.key)
        vigour = fields.random(self.fields.key + 1)
        green = np.where(
            crop < 0.35,
            0.8 + 0.15 * vigour,
            np.where(
                crop < 0.55,
                0.6 + 0.2 * vigour,
                np.where(crop < 0.8, 0.1 + 0.2 * vigour, 0.02 + 0.06 * vigour),
            ),
        )
        green += np.float32(0.05) * texture
        green += (np.float32(0.7) - green) * urban
        soil = np.float32(0.8) + np.float32(0.4) * fields.random(self.fields.key + 2)
        brightness += (soil - brightness) * (one - urban)

        forest = self.forest_noise.grid(x, y)
        forest -= np.float32(self.forest_threshold)
        tree_share = smoothstep(clip01(forest * np.float32(15.0))) * (one - urban)
        tree_share = np.maximum(tree_share, park * np.float32(0.7))
        tree = tree_share * (np.float32(0.85) + np.float32(0.1) * texture)
        low_vegetation = clip01((one - tree_share) * green)
        hedgerow = clip01(np.float32(0.5) + (np.float32(4.0) - field_edge) / np.float32(resolution))
        scrub = fields.random(self.fields.key + 3) < np.float32(0.1)
        shrub = np.maximum(hedgerow * np.float32(0.8), scrub * np.float32(0.7))
        np.maximum(shrub, np.float32(2.4) * tree_share * (one - tree_share), out=shrub)  # edges
        np.maximum(shrub, np.float32(0.3) * urban, out=shrub)  # gardens

        inland_water, downstream, river_distance, roughness = self._inland_water(x, y, resolution)
        flood = self.flood
        behind = np.maximum(flood.reach_start_m - downstream, downstream - flood.reach_end_m)
        lowness = river_distance / np.float32(flood.scale_m)
        lowness += np.float32(0.35) * roughness
        lowness += np.maximum(behind, np.float32(0.0)) / np.float32(1500.0)
        parcel, parcel_share = self._parcels(x, y, resolution)
        return Ground(
            resolution=resolution,
            coast_distance=self.shoreline.distance(x, y),
            inland_water=inland_water,
            built=clip01(built),
            paved=np.maximum(built - buildings, np.float32(0.0)),
            tree=tree,
            low_vegetation=low_vegetation,
            shrub=clip01(shrub),
            urban_density=density,
            brightness=brightness,
            turbidity=one + np.float32(0.3) * density_noise,
            flood_zone=lowness < 1.0,
            parcel=parcel,
            parcel_share=parcel_share,
        )

    def _parcels(
        self, x: np.ndarray, y: np.ndarray, resolution: float
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The change parcel of each pixel (local coordinates) and its share inside it."""
        if not self.changes:
            return None, None
        parcel = np.full((y.size, x.size), -1, np.int32)
        share = np.zeros((y.size, x.size), np.float32)
        for index, change in enumerate(self.changes):
            reach = change.reach + resolution
            columns = np.flatnonzero(np.abs(x - np.float32(change.x)) <= reach)
            rows = np.flatnonzero(np.abs(y - np.float32(change.y)) <= reach)
            if columns.size == 0 or rows.size == 0:
                continue
            area = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
            inside = change.share(x[area[1]], y[area[0]], resolution)
            more = inside > share[area]
            parcel[area][more] = index
            share[area][more] = inside[more]
        return parcel, share

    def inland_water(self, x: np.ndarray, y: np.ndarray, resolution: float) -> np.ndarray:
        """Share of river and lake water in each pixel centred on map coordinates (y[i], x[j])."""
        return self._inland_water(*self.local(x, y), resolution)[0]

    def _inland_water(
        self, x: np.ndarray, y: np.ndarray, resolution: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """River and lake water share at local coordinates, with the river's frame (downstream,
        distance) and the roughness the flood reuses."""
        downstream, river_distance = self.river.frame(x, y)
        half_width = np.float32(self.river.width_m / 2)
        river = clip01(np.float32(0.5) + (half_width - river_distance) / np.float32(resolution))
        lake_level = blob_sum(list(self.lakes), x, y)
        roughness = self.flood.roughness.grid(x, y)
        lake_level *= np.float32(1.0) + np.float32(0.5) * roughness
        lakes = clip01(np.float32(0.5) + (lake_level - np.float32(0.5)) * np.float32(20.0))
        return np.maximum(river, lakes), downstream, river_distance, roughness

    def hidden_coast(self, points: np.ndarray, resolution: float) -> np.ndarray:
        """Whether river or lake water lies within HIDDEN_COAST_M landward of each point of the
        coast ((n, 2) map coordinates): there the water a sensor sees runs on past the planted
        line, which is no sea–land boundary. Sampled every half pixel on small grids along
        the line (a département's coast is long)."""
        east, north = self.shoreline.sea_direction
        steps = np.arange(0.0, HIDDEN_COAST_M + 1e-6, resolution / 2)
        hidden = np.zeros(len(points), np.bool_)
        for start in range(0, len(points), 64):
            chunk = points[start : start + 64]
            xs = chunk[:, 0, None] - steps[None, :] * east
            ys = chunk[:, 1, None] - steps[None, :] * north
            left, top = xs.min() - resolution, ys.max() + resolution
            x = np.arange(left, xs.max() + 2 * resolution, resolution)
            y = np.arange(top, ys.min() - 2 * resolution, -resolution)
            water = self.inland_water(x, y, resolution)
            columns = np.rint((xs - left) / resolution).astype(np.int64)
            rows = np.rint((top - ys) / resolution).astype(np.int64)
            hidden[start : start + 64] = (water[rows, columns] > 0).any(axis=1)
        return hidden

    def _roads(self, x: np.ndarray, y: np.ndarray, resolution: float) -> np.ndarray:
        """Share of asphalt from the straight main roads (12 m wide) crossing the grid."""
        asphalt = np.zeros((y.size, x.size), np.float32)
        for road_x, road_y, angle in self.roads:
            across_x = (x - np.float32(road_x)) * np.float32(math.sin(angle))
            across_y = (y - np.float32(road_y)) * np.float32(math.cos(angle))
            distance = np.abs(across_x[None, :] - across_y[:, None])
            share = clip01(np.float32(0.5) + (np.float32(6.0) - distance) / np.float32(resolution))
            np.maximum(asphalt, share, out=asphalt)
        return asphalt

    def cover(self, ground: Ground, when: date) -> Cover:
        """The cover shares at a date (the sea moves, and the change parcels change)."""
        sea = self.shoreline.sea_fraction(ground.coast_distance, ground.resolution, when)
        water = np.maximum(ground.inland_water, sea)
        land = np.float32(1.0) - water
        shares = self._changed(ground, when)
        built = land * shares[0]
        paved = land * shares[1]
        unbuilt = land - built
        tree = unbuilt * shares[2]
        low_vegetation = unbuilt * shares[3]
        bare = np.maximum(unbuilt - tree - low_vegetation, np.float32(0.0))
        return Cover(water, built, tree, low_vegetation, bare, paved, low_vegetation * shares[4])

    def _changed(self, ground: Ground, when: date) -> list[np.ndarray]:
        """Ground's built, paved, tree, low vegetation and shrub shares at a date: inside a
        change parcel, its ground before or after the change, mixed with the landscape's by
        the pixel's share inside the parcel."""
        shares = [ground.built, ground.paved, ground.tree, ground.low_vegetation, ground.shrub]
        if ground.parcel is None or ground.parcel_share is None or not self.changes:
            return shares
        inside = ground.parcel >= 0
        if not inside.any():
            return shares
        states = np.array(
            [change.surface_at(when).values() for change in self.changes], np.float32
        )[ground.parcel[inside]]
        weight = ground.parcel_share[inside]
        mixed = []
        for k, share in enumerate(shares):
            changed = share.copy()
            changed[inside] += (states[:, k] - share[inside]) * weight
            mixed.append(changed)
        return mixed

    def flooded(self, ground: Ground, cover_at_event: Cover) -> np.ndarray:
        """The flood truth: low ground along the reach that is not already water."""
        return ground.flood_zone & (cover_at_event.water < 0.5)

    def air_temperature_c(self, when: date) -> float:
        """A daytime surface baseline: warmest in local midsummer, cooler away from the tropics."""
        midsummer = date(when.year, 7, 15) if self.latitude >= 0 else date(when.year, 1, 15)
        phase = 2 * math.pi * (when - midsummer).days / DAYS_PER_YEAR
        summer = 34.0 - 0.22 * abs(self.latitude)
        return summer - 0.3 * abs(self.latitude) * (1 - math.cos(phase)) / 2

    def land_surface_temperature_c(
        self, x: np.ndarray, y: np.ndarray, ground: Ground, cover: Cover, when: date
    ) -> np.ndarray:
        """Planted LST at map coordinates: each cover's own temperature, plus the heat island
        over dense town."""
        air = np.float32(self.air_temperature_c(when))
        temperature = cover.built * (air + np.float32(7.0))
        temperature += cover.bare * (air + np.float32(5.0))
        temperature += cover.low_vegetation * (air + np.float32(1.5))
        temperature += cover.tree * (air - np.float32(1.5))
        temperature += cover.water * (air - np.float32(3.5))
        urban = smoothstep(clip01(ground.urban_density.copy()))
        land = np.float32(1.0) - cover.water
        temperature += np.float32(self.heat_island_amplitude_c) * urban * land
        temperature += np.float32(0.8) * self.temperature_noise.grid(*self.local(x, y))
        return temperature


def _key(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31))


def _settlement_blobs(rng: np.random.Generator, settlements: list[Settlement]) -> list[Blob]:
    """A main blob per settlement, sized by population, and a few satellite blobs for towns."""
    blobs = []
    for settlement in settlements:
        population = max(settlement.population, 50)
        sigma = float(np.clip(7.0 * math.sqrt(population), 200.0, 4000.0))
        amplitude = float(np.clip(0.3 + 0.25 * math.log10(population / 500.0), 0.2, 1.0))
        jitter_x, jitter_y = rng.normal(0.0, 0.15 * sigma, 2)
        blobs.append(Blob(settlement.x + jitter_x, settlement.y + jitter_y, sigma, amplitude))
        satellites = int(rng.integers(1, 4)) if population >= 3000 else 0
        for _ in range(satellites):
            shift_x, shift_y = rng.normal(0.0, 1.2 * sigma, 2)
            blobs.append(
                Blob(
                    settlement.x + shift_x,
                    settlement.y + shift_y,
                    sigma * rng.uniform(0.3, 0.6),
                    amplitude * rng.uniform(0.4, 0.8),
                )
            )
    return blobs


def _seaward_quantile(grid: Grid, direction: tuple[float, float], fraction: float) -> float:
    """Distance from the grid centre, along `direction`, below which `fraction` of it lies."""
    left, bottom, right, top = grid.bounds
    x, y = np.meshgrid(np.linspace(left, right, 64), np.linspace(bottom, top, 64))
    seaward = (x - (left + right) / 2) * direction[0] + (y - (bottom + top) / 2) * direction[1]
    return float(np.quantile(seaward, fraction))


def random_settlements(seed: int, grid: Grid) -> list[Settlement]:
    """Towns and villages where no commune is known: one town, villages by area."""
    rng = np.random.default_rng([seed, 2])
    left, bottom, right, top = grid.bounds
    area_km2 = (right - left) * (top - bottom) / 1e6
    count = int(np.clip(area_km2 / 30.0, 3, 80))
    populations = 10 ** rng.uniform(2.3, 4.0, count)
    populations[0] = 10 ** rng.uniform(4.3, 5.0)
    xs = rng.uniform(left, right, count)
    ys = rng.uniform(bottom, top, count)
    return [
        Settlement(None, f"settlement {index + 1}", float(x), float(y), int(population))
        for index, (x, y, population) in enumerate(zip(xs, ys, populations, strict=True))
    ]
