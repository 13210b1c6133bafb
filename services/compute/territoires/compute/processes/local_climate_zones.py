"""`local-climate-zones`: the 17 Local Climate Zones of Stewart & Oke (2012) on reference spatial
units, in the manner of GeoClimate, from catalogued building footprints with heights (BD TOPO's
`batiment`, `hauteur`; OpenStreetMap's `height`, `building:levels`) and Sentinel-2 L2A scenes.

Units: the blocks the catalogued streets close (the buildings item's `roads` asset, polygonised),
and where no street closes a block — or when no road layer is given, or `units` is `grid` — the
cells of a regular grid (`cell_size`, 100 m by default) on the CRS's lattice. Units are cut by
the territories and made in the Sentinel-2 scene's CRS (its UTM zone: overseas too); pieces
under MIN_UNIT_M2 are dropped.

Per unit, with A its area, Aᵦ the building footprint area in it, hᵢ and pᵢ each building's
height and perimeter (the part of a building inside the unit counted pro rata):
- building surface fraction BSF = Aᵦ / A (footprints, exact);
- sealed share s: the period's scenes unmixed as `imperviousness` does (roofs and asphalt),
  mean over the unit's cloud-free cells; impervious surface fraction ISF = max(s − BSF, 0)
  (the sealed ground that is not roof); pervious PSF = max(1 − BSF − ISF, 0);
- mean height H = Σ hᵢ·aᵢ / Aᵦ (area-weighted); mean footprint size Σ aᵢ·area(i) / Aᵦ;
- height-to-width ratio H/W = Σ pᵢ·hᵢ / (2·(A − Aᵦ)): wall area over twice the open area,
  the aspect ratio of the canyon whose walls and floor those are;
- sky view factor SVF = 1 / √(1 + (2·H/W)²): that of the floor's centre line of an infinite
  canyon of that aspect ratio (cos of the walls' elevation angle seen from it);
- tree, water and bare-soil shares from the same unmixing (trees, water, soil endmembers).

Class: water ≥ 0.5 → G. A built unit (BSF ≥ NATURAL_BSF) takes the class of 1–10 whose
Stewart & Oke value ranges (SVF, H/W, BSF, ISF, PSF, height; and footprint size, which
GeoClimate adds to tell large low-rise and heavy industry) are nearest: the distance to a
class is the root of the weighted sum of squares, over the properties, of how far the value
lies outside the class's range in units of the property's scale (0 inside). Confidence =
1 − d₁/d₂ (d₁, d₂ the nearest and next distances: 1 inside one class's ranges only, 0 between
two). A unit with BSF under NATURAL_BSF (0.1: DESIGN.md's land-cover classes) is classed by
its cover: trees ≥ 0.5 → A, ≥ 0.2 → B, sealed ≥ 0.5 → E, bare soil ≥ 0.5 → F, else D (C,
bush, is not told from D by one season's unmixing);
its confidence is the margin to the nearest threshold over 0.25, at most 1.

Buildings without a height: `building:levels` or `nombre_d_etages` × 3 m, else
`default_height` (6 m by default); the figures count each. Residents are taken to live in
proportion to floor area (footprint × storeys of 3 m): the population share in LCZ 1–3 (the
heat-wave pre-diagnosis) is that of the floor area in compact classes.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyogrio
import shapely
from pyogrio.raw import read
from pyproj import Transformer
from rasterio.windows import Window
from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import Grid, Output, for_each_block, zone_raster
from territoires.compute.errors import UnreadableAssetError
from territoires.compute.inputs import Interval, number, text
from territoires.compute.kernels import endmembers, lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import Plan, RunningJob
from territoires.compute.processes.flood_extent import EARLIEST
from territoires.compute.processes.imperviousness import (
    SENTINEL2,
    Unmixed,
    check_unmixable,
    optical_frame,
    scene_resolution,
)
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
    planned_area,
)
from territoires.compute.results import Feature, in_lonlat
from territoires.compute.sources import Scene, Zone, census_populations, find_scenes, scenes_by_id
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS, LCZ_CLASSES
from territoires.shared.models import Item

masks, unmixing = lazy("masks"), lazy("unmixing")

BUILDINGS = "buildings"
DEFAULT_CELL_M = 100.0
DEFAULT_HEIGHT_M = 6.0
STOREY_M = 3.0
MIN_UNIT_M2 = 200.0
NATURAL_BSF = 0.1
"""Under it a unit is a land-cover class (A–G), as DESIGN.md states."""
WATER_SHARE = 0.5
MAX_BUILDING_ITEMS = 50
NAMES = {entry.value: entry.label.split()[0] for entry in LCZ_CLASSES}
"""Class value (1–17) to its LCZ name (1–10, A–G)."""
COMPACT = (1, 2, 3)
SOURCES = ("height", "storeys", "default")

GROUPS = {
    "sealed": ("roofs", "asphalt"),
    "tree": ("trees",),
    "water": ("water",),
    "bare": ("soil",),
}
"""The shares read from the unmixing, by the endmembers they sum."""

PROPERTIES = ("svf", "hw", "bsf", "isf", "psf", "height", "size")
SCALES = np.array([0.1, 0.25, 0.01, 0.1, 0.1, 1.0, 200.0])
"""How far outside a range counts as one unit of distance: the properties measured from the
footprints (BSF, height, footprint size) with a fine scale, so that they decide between
compact, open and sparse and between high, mid and low (the classes' names), the estimates
(H/W, SVF and the unmixed fractions) between what they leave close."""
WEIGHTS = np.ones(len(PROPERTIES))
INDUSTRIAL = ("industriel", "industrial")
"""Usage values (BD TOPO `usage_1`, OSM `building`) of heavy industry: LCZ 10 needs them, the
form alone does not tell it from large low-rise (8)."""
INF = math.inf
# Stewart & Oke (2012) Table 2 value ranges of the built classes (SVF, H/W, BSF, ISF, PSF,
# height in m), with the mean footprint size (m²) GeoClimate's rules add.
RANGES = {
    1: ((0.2, 0.4), (2.0, INF), (0.4, 0.6), (0.4, 0.6), (0.0, 0.1), (25.0, INF), (0.0, 5000.0)),
    2: ((0.3, 0.6), (0.75, 2.0), (0.4, 0.7), (0.3, 0.5), (0.0, 0.2), (10.0, 25.0), (0.0, 5000.0)),
    3: ((0.2, 0.6), (0.75, 1.5), (0.4, 0.7), (0.2, 0.5), (0.0, 0.3), (3.0, 10.0), (0.0, 1000.0)),
    4: ((0.5, 0.7), (0.75, 1.25), (0.2, 0.4), (0.3, 0.4), (0.3, 0.4), (25.0, INF), (0.0, 5000.0)),
    5: ((0.5, 0.8), (0.3, 0.75), (0.2, 0.4), (0.3, 0.5), (0.2, 0.4), (10.0, 25.0), (0.0, 5000.0)),
    6: ((0.6, 0.9), (0.3, 0.75), (0.2, 0.4), (0.2, 0.5), (0.3, 0.6), (3.0, 10.0), (0.0, 1000.0)),
    7: ((0.2, 0.5), (1.0, 2.0), (0.6, 0.9), (0.0, 0.2), (0.0, 0.3), (2.0, 4.0), (0.0, 200.0)),
    8: ((0.7, 1.0), (0.1, 0.3), (0.3, 0.5), (0.4, 0.5), (0.0, 0.2), (3.0, 10.0), (1500.0, INF)),
    9: ((0.8, 1.0), (0.1, 0.25), (0.1, 0.2), (0.0, 0.2), (0.6, 0.8), (3.0, 10.0), (0.0, 1000.0)),
    10: ((0.6, 0.9), (0.2, 0.5), (0.2, 0.3), (0.2, 0.4), (0.4, 0.5), (5.0, 15.0), (1500.0, INF)),
}
LOWS = np.array([[low for low, _ in ranges] for ranges in RANGES.values()])
HIGHS = np.array([[high for _, high in ranges] for ranges in RANGES.values()])
BUILT = np.array(list(RANGES))
NATURAL_RULES = (("tree", 0.5, 11), ("tree", 0.2, 12), ("sealed", 0.5, 15), ("bare", 0.5, 16))
"""(share, threshold, class) tried in order for a unit without buildings; D (14) otherwise."""
FORMULAS = {
    "bsf": "building footprint area / unit area",
    "isf": "max(sealed share (Sentinel-2 unmixing, roofs + asphalt) - bsf, 0)",
    "psf": "max(1 - bsf - isf, 0)",
    "height_m": "area-weighted mean building height",
    "hw": "sum(perimeter * height) / (2 * (unit area - footprint area))",
    "svf": "1 / sqrt(1 + (2 * hw)^2), the centre of an infinite canyon",
    "class": "nearest Stewart & Oke (2012) value ranges (weighted, normalised), water >= 0.5 -> "
    "G, no buildings (bsf < 0.1) -> A/B/E/F/D by cover",
    "confidence": "1 - d1/d2 (distances to the nearest and next class)",
    "population": "residents in proportion to floor area (footprint x storeys of 3 m)",
}

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "local-climate-zones",
    "title": "Local Climate Zones",
    "description": "The 17 Local Climate Zones of Stewart & Oke (2012) on reference spatial "
    "units (blocks bounded by the catalogued streets, else a regular grid, in the scene's UTM "
    "zone) from catalogued building footprints with heights (BD TOPO batiment `hauteur`, "
    "OpenStreetMap `height`/`building:levels`) and Sentinel-2 L2A unmixed as imperviousness "
    "does: per unit building, impervious and pervious surface fractions, mean height, "
    "height-to-width ratio, sky view factor, tree, water and bare shares, the class (nearest "
    "value ranges) and a confidence. Units as features (lcz-units), a class COG (lcz), per "
    "territory the class shares and the population share in LCZ 1-3.",
    "keywords": ["LCZ", "local climate zones", "urban heat", "urban form", "buildings"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT,
        "collection": {
            "title": "Source collection",
            "description": f"A catalogued Sentinel-2 L2A collection (default {SENTINEL2}) with "
            "blue, green, red, nir, swir16 and swir22 bands and an SCL classification.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "buildings": {
            "title": "Buildings collection",
            "description": f"A catalogued collection (default {BUILDINGS}) whose items' `data` "
            "asset is a vector file of building footprints (GeoPackage layer `batiment` with "
            "`hauteur` and `nombre_d_etages` as BD TOPO, or GeoJSON with `height` and "
            "`building:levels` as OpenStreetMap), and optionally a `roads` asset of street "
            "lines; its newest items up to the period's end that cover the area are read.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "units": {
            "title": "Reference units",
            "description": "`blocks` (default): blocks bounded by the roads, the rest in grid "
            "cells; `grid`: grid cells only.",
            "schema": {"type": "string", "enum": ["blocks", "grid"]},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "cell_size": {
            "title": "Grid cell size (m)",
            "description": f"Side of the grid cells, 20 to 1000 m (default {DEFAULT_CELL_M:g}).",
            "schema": {"type": "number", "minimum": 20, "maximum": 1000},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "default_height": {
            "title": "Default building height (m)",
            "description": "The height of a building with neither height nor storeys "
            f"(default {DEFAULT_HEIGHT_M:g} m); storeys count {STOREY_M:g} m each.",
            "schema": {"type": "number", "minimum": 2, "maximum": 100},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "class_shares (share of the units' area per LCZ name), "
            "population_share_lcz_1_3 and population_lcz_1_3, units, buildings (in the "
            "territory, parts pro rata), heights (of the job's buildings read: how many from a "
            "height, from storeys, defaulted), observed_share, definitions, and notes (no "
            "building, no roads, heights defaulted).",
            "schema": {"type": "object"},
        },
    },
    "example": {"inputs": {"territory": "17300", "datetime": "2023-06-01/2023-08-31"}},
}


@dataclass(frozen=True)
class Buildings:
    """Footprints in the grid's CRS with their heights, and how each height was found."""

    footprints: np.ndarray
    heights: np.ndarray
    industrial: np.ndarray  # bool
    sources: dict[str, int]

    @classmethod
    def empty(cls) -> Buildings:
        nothing = np.empty(0)
        sources = dict.fromkeys(SOURCES, 0)
        return cls(np.empty(0, object), nothing, nothing.astype(np.bool_), sources)


@dataclass
class Units:
    """The reference units in the grid's CRS, with their zone (1, 2, …) and kind."""

    geometries: np.ndarray
    zones: np.ndarray
    kinds: list[str]


async def pin_vectors(
    inputs: dict[str, Any], connection: AsyncConnection, collection: str, name: str
) -> list[list[str]]:
    """The items of a catalogued vector collection a job reads (input `name`): the newest up
    to the period's end that cover the planned area, one vintage (those of the newest one's
    date), each with its `data` asset; a 400 saying what to catalogue otherwise."""
    area = await planned_area(inputs, connection)
    until = Interval(EARLIEST, Interval.parse(inputs["datetime"]).end)
    found = await find_scenes(connection, [collection], area, until, MAX_BUILDING_ITEMS)
    if not found:
        catalogued = await connection.scalar(
            select(func.count()).select_from(Item).where(Item.collection_id == collection)
        )
        raise BadRequestError(
            f"input '{name}': no item of collection {collection!r} covers the area up "
            f"to {until.end:%Y-%m-%d}"
            if catalogued
            else f"input '{name}': collection {collection!r} has no item; catalogue "
            "its vector file (a GeoPackage or GeoJSON as a STAC item's `data` asset) first"
        )
    vintage = [scene for scene in found if scene.datetime == found[0].datetime]
    for scene in vintage:
        if "data" not in scene.content.get("assets", {}):
            raise BadRequestError(
                f"input '{name}': item {scene.id} of {collection} has no `data` asset "
                "(the vector file)"
            )
    return [[scene.collection, scene.id] for scene in vintage]


def read_layer(
    scene: Scene, key: str, guard: AssetGuard, crs: Any, bounds: tuple[float, ...]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A vector asset's features within `bounds` (in `crs`), their geometries in `crs`; its
    href through the asset guard as a raster's, refused or broken the same error."""
    source = scene.raster(key, guard)
    layer = scene.asset(key).get("layer")
    try:
        info = pyogrio.read_info(source.href, layer=layer)
        if not info.get("crs"):
            raise BadRequestError(
                f"{source.name} has no coordinate reference system: its footprints cannot be "
                "placed (GeoJSON is longitude/latitude; a GeoPackage layer carries its own)"
            )
        to_layer = Transformer.from_crs(crs, info["crs"], always_xy=True)
        meta, _, geometry, values = read(
            source.href, layer=layer, bbox=to_layer.transform_bounds(*bounds)
        )
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as error:
        raise UnreadableAssetError(f"{source.name} cannot be read") from error
    back = Transformer.from_crs(info["crs"], crs, always_xy=True)
    shapes = shapely.from_wkb(geometry)
    shapes = shapely.transform(shapes, back.transform, interleaved=False)
    return shapes, dict(zip(meta["fields"], values, strict=True))


def _numbers(values: np.ndarray | None, count: int) -> np.ndarray:
    """A column as floats (text such as "12.5 m" or "12,5" read), NaN where not a number."""
    if values is None:
        return np.full(count, np.nan)
    found = np.full(count, np.nan)
    for index, value in enumerate(values.tolist()):
        if isinstance(value, str):
            value = value.strip().removesuffix("m").strip().replace(",", ".")
        try:
            found[index] = float(value)
        except (TypeError, ValueError):
            continue
    found[~(found > 0)] = np.nan
    return found


def building_heights(
    fields: dict[str, np.ndarray], count: int, default: float
) -> tuple[np.ndarray, dict[str, int]]:
    """Heights from `hauteur` or `height`; else storeys × 3 m; else `default`."""
    measured = _numbers(fields.get("hauteur", fields.get("height")), count)
    storeys = _numbers(fields.get("nombre_d_etages", fields.get("building:levels")), count)
    heights = np.where(np.isfinite(measured), measured, storeys * STOREY_M)
    defaulted = ~np.isfinite(heights)
    heights[defaulted] = default
    by_storeys = ~np.isfinite(measured) & ~defaulted
    sources = {
        "height": int(np.isfinite(measured).sum()),
        "storeys": int(by_storeys.sum()),
        "default": int(defaulted.sum()),
    }
    return heights, sources


def reference_units(
    zones: list[tuple[Any, int]], roads: np.ndarray | None, cell: float, extent: Any
) -> Units:
    """Blocks the roads close, cut by each zone; the rest of each zone in grid cells."""
    blocks = np.empty(0, object)
    if roads is not None and roads.size:
        noded = shapely.union_all(roads)
        blocks = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    geometries, numbers, kinds = [], [], []
    for geometry, zone_number in zones:
        zone = geometry.intersection(extent)
        if zone.is_empty:
            continue
        shapely.prepare(zone)
        pieces = shapely.intersection(blocks[shapely.intersects(zone, blocks)], zone)
        pieces = pieces[_polygonal(pieces)]
        remainder = zone.difference(shapely.union_all(pieces)) if pieces.size else zone
        cells = _grid_cells(remainder, cell)
        for part, kind in ((pieces, "block"), (cells, "cell")):
            geometries.extend(part.tolist())
            numbers += [zone_number] * part.size
            kinds += [kind] * part.size
    return Units(np.array(geometries, object), np.array(numbers, np.int32), kinds)


def _polygonal(geometries: np.ndarray) -> np.ndarray:
    types = shapely.get_type_id(geometries)
    return ((types == 3) | (types == 6)) & (shapely.area(geometries) >= MIN_UNIT_M2)


def _grid_cells(area: Any, cell: float) -> np.ndarray:
    """The area cut by the cells of the `cell` lattice (multiples of `cell` in the CRS)."""
    if area.is_empty:
        return np.empty(0, object)
    left, bottom, right, top = area.bounds
    xs = np.arange(math.floor(left / cell), math.ceil(right / cell)) * cell
    ys = np.arange(math.floor(bottom / cell), math.ceil(top / cell)) * cell
    x, y = (values.ravel() for values in np.meshgrid(xs, ys))
    cells = shapely.box(x, y, x + cell, y + cell)
    shapely.prepare(area)
    cells = cells[shapely.intersects(area, cells)]
    inside = shapely.contains_properly(area, cells)
    cut = cells.copy()
    cut[~inside] = shapely.intersection(cells[~inside], area)
    return cut[_polygonal(cut)]


def unit_form(units: Units, buildings: Buildings) -> dict[str, np.ndarray]:
    """Per unit: footprint area, area-weighted height and footprint size, wall and floor area,
    from the buildings' parts inside it."""
    count = units.geometries.size
    if not buildings.footprints.size or not count:
        zeros = np.zeros(count)
        return {
            name: zeros.copy()
            for name in ("built", "height", "size", "wall", "floor", "count", "industrial")
        }
    tree = shapely.STRtree(buildings.footprints)
    unit, building = tree.query(units.geometries, predicate="intersects")
    inside = shapely.area(
        shapely.intersection(units.geometries[unit], buildings.footprints[building])
    )
    whole = shapely.area(buildings.footprints)[building]
    share = np.divide(inside, whole, out=np.zeros_like(inside), where=whole > 0)
    heights = buildings.heights[building]
    storeys = np.maximum(1.0, np.rint(heights / STOREY_M))
    perimeter = shapely.length(buildings.footprints)[building]

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(unit, values, count)

    built = summed(inside)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "built": built,
            "height": np.where(built > 0, summed(inside * heights) / built, 0.0),
            "size": np.where(built > 0, summed(inside * whole) / built, 0.0),
            "wall": summed(perimeter * heights * share),
            "floor": summed(inside * storeys),
            "count": summed(share),
            "industrial": np.where(
                built > 0, summed(inside * buildings.industrial[building]) / built, 0.0
            ),
        }


def classify(
    properties: np.ndarray, shares: dict[str, np.ndarray], industry: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Class values (1–17) and confidences of units from their PROPERTIES columns, cover
    shares and the share of their footprint area in industrial use (see the module's
    description)."""
    outside = np.maximum(LOWS[None] - properties[:, None], 0) + np.maximum(
        properties[:, None] - HIGHS[None], 0
    )
    distances = np.sqrt((WEIGHTS * (outside / SCALES) ** 2).sum(axis=2))
    distances[industry < 0.5, list(RANGES).index(10)] = np.inf
    order = np.argsort(distances, axis=1)
    nearest = np.take_along_axis(distances, order[:, :2], axis=1)
    classes = BUILT[order[:, 0]]
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(
            nearest[:, 1] > 0, 1.0 - nearest[:, 0] / np.minimum(nearest[:, 1], 1e300), 0.0
        )
    natural = properties[:, PROPERTIES.index("bsf")] < NATURAL_BSF
    cover = np.full(classes.shape, 14)
    margin = np.full(classes.shape, np.inf)
    decided = np.zeros(classes.shape, np.bool_)
    for share, threshold, value in NATURAL_RULES:
        hit = ~decided & (shares[share] >= threshold)
        cover[hit] = value
        margin = np.minimum(margin, np.abs(shares[share] - threshold))
        decided |= hit
    classes = np.where(natural, cover, classes)
    confidence = np.where(natural, np.minimum(margin / 0.25, 1.0), confidence)
    water = shares["water"] >= WATER_SHARE
    classes[water] = 17
    confidence[water] = np.minimum((shares["water"][water] - WATER_SHARE) / 0.25, 1.0)
    return classes.astype(np.uint8), np.clip(confidence, 0.0, 1.0)


class LocalClimateZones(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("lcz",)
    vector_outputs = ("lcz-units",)
    statistics_indicator = "lcz"
    kernels = (unmixing, masks)
    collections = (SENTINEL2,)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "units": 0,
        "reason": "no scene of the period covers the territory",
    }

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """The scenes' plan, and the buildings items pinned: the newest up to the period's end
        that cover the area (one vintage: those of the newest one's date)."""
        plan = await super().validate(inputs, connection)
        collection = text(inputs, "buildings") or BUILDINGS
        pinned = await pin_vectors(plan.inputs, connection, collection, "buildings")
        return Plan(plan.inputs | {"buildings": pinned}, plan.pixels, plan.parts)

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        check_unmixable(scenes)
        units = text(inputs, "units") or "blocks"
        if units not in ("blocks", "grid"):
            raise BadRequestError(f"input 'units' must be 'blocks' or 'grid', got {units!r}")
        return {
            "units": units,
            "cell_size": number(inputs, "cell_size", DEFAULT_CELL_M, 20.0, 1000.0),
            "default_height": number(inputs, "default_height", DEFAULT_HEIGHT_M, 2.0, 100.0),
        }

    def resolution(self, scene: Scene) -> float:
        return scene_resolution(scene)

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        crs, resolution, anchor = await job.in_thread(optical_frame, scenes[0], guard)
        grid, shapes = output_grid(zones, scenes, crs, resolution, anchor)
        async with job.services.engine.connect() as connection:
            sources = await scenes_by_id(connection, job.inputs["buildings"])
            codes = [zone.code for zone in zones if zone.code]
            people = await census_populations(connection, codes) if codes else {}
        notes: list[str] = []
        buildings, roads = await job.in_thread(
            self._vectors, sources, guard, grid, job.inputs, notes
        )
        extent = box(*grid.bounds)
        units = await job.in_thread(reference_units, shapes, roads, job.inputs["cell_size"], extent)
        await job.progress(10.0)
        cover = await self._cover(job, scenes, guard, grid, units)
        form = await job.in_thread(unit_form, units, buildings)
        area = shapely.area(units.geometries)
        properties, shares = unit_properties(area, form, cover)
        classes, confidence = classify(properties, shares, form["industrial"])
        path = job.scratch / "lcz.tif"
        labelled = list(zip(units.geometries.tolist(), classes.tolist(), strict=True))
        indicator = INDICATORS["lcz"]
        with ExitStack() as stack:
            output = Output(path, grid, indicator.dtype, indicator.nodata)
            stack.callback(output.close)

            def block(window: Window) -> None:
                output.write(window, zone_raster(labelled, grid, window).astype(np.uint8))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (80.0, 85.0))
        period = Interval.parse(job.inputs["datetime"])
        features = [
            Feature(
                indicator="lcz-units",
                geometry=in_lonlat(geometry, grid.crs),
                properties=unit_feature(
                    index,
                    units,
                    classes,
                    confidence,
                    properties,
                    shares,
                    form,
                    area,
                    cover["observed"],
                ),
                period=period,
                territory=zones[units.zones[index] - 1].code,
            )
            for index, geometry in enumerate(units.geometries.tolist())
        ]
        figures = [
            zone_figures(
                units.zones == index,
                classes,
                area,
                form,
                cover["observed"],
                people.get(zone.code or ""),
                buildings.sources,
                job.inputs,
                notes,
            )
            for index, zone in enumerate(zones, start=1)
        ]
        return Computed(figures=figures, grid=grid, rasters={"lcz": path}, features=features)

    def _vectors(
        self,
        sources: list[Scene],
        guard: AssetGuard,
        grid: Grid,
        inputs: dict[str, Any],
        notes: list[str],
    ) -> tuple[Buildings, np.ndarray | None]:
        """The pinned items' footprints and (when the units are blocks) road lines."""
        footprints, heights, industrial = [], [], []
        counts = Buildings.empty().sources
        lines = []
        for source in sources:
            shapes, fields = read_layer(source, "data", guard, grid.crs, grid.bounds)
            polygonal = np.isin(shapely.get_type_id(shapes), (3, 6))
            found, found_from = building_heights(
                {name: values[polygonal] for name, values in fields.items()},
                int(polygonal.sum()),
                inputs["default_height"],
            )
            footprints.append(shapely.make_valid(shapes[polygonal]))
            heights.append(found)
            usage = fields.get("usage_1", fields.get("building"))
            industrial.append(
                np.isin(np.char.lower(usage[polygonal].astype(str)), INDUSTRIAL)
                if usage is not None
                else np.zeros(int(polygonal.sum()), np.bool_)
            )
            counts = {name: counts[name] + found_from[name] for name in counts}
            if inputs["units"] == "blocks" and "roads" in source.content.get("assets", {}):
                lines.append(read_layer(source, "roads", guard, grid.crs, grid.bounds)[0])
        if inputs["units"] == "blocks" and not lines:
            notes.append("no road layer in the buildings items: the units are grid cells")
        if counts["default"]:
            notes.append(
                f"{counts['default']} building(s) without height nor storeys taken as "
                f"{inputs['default_height']:g} m"
            )
        buildings = Buildings(
            np.concatenate(footprints), np.concatenate(heights), np.concatenate(industrial), counts
        )
        return buildings, np.concatenate(lines) if lines else None

    async def _cover(
        self, job: RunningJob, scenes: list[Scene], guard: AssetGuard, grid: Grid, units: Units
    ) -> dict[str, np.ndarray]:
        """Per unit, the mean of each GROUPS share over its cloud-free cells (0–1), and the
        observed share of its cells."""
        count = units.geometries.size
        numbered = list(zip(units.geometries.tolist(), range(1, count + 1), strict=True))
        groups = [endmembers.group_weights(names) for names in GROUPS.values()]
        unmixed = Unmixed(scenes, guard, groups)
        sums = {name: np.zeros(count + 1) for name in GROUPS}
        seen = np.zeros(count + 1)
        cells = np.zeros(count + 1)
        with ExitStack() as stack:
            await job.in_thread(unmixed.open, grid, stack)

            def block(window: Window) -> None:
                ids = zone_raster(numbered, grid, window).ravel()
                found = unmixed.shares(window)
                observed = np.isfinite(found[0]).ravel()
                cells[:] += np.bincount(ids, minlength=count + 1)
                seen[:] += np.bincount(ids[observed], minlength=count + 1)
                for name, share in zip(GROUPS, found, strict=True):
                    values = share.ravel()[observed] / 100.0
                    sums[name][:] += np.bincount(ids[observed], values, count + 1)

            await for_each_block(grid.windows(), block, job.executor, job.progress, (10.0, 80.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            cover = {name: (sums[name] / seen)[1:] for name in GROUPS}
            cover["observed"] = np.where(cells > 0, seen / cells, 0.0)[1:]
        return cover


def unit_properties(
    area: np.ndarray, form: dict[str, np.ndarray], cover: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The PROPERTIES columns of each unit and its cover shares (unobserved: none sealed,
    no tree, water or bare soil — the classes then rest on the buildings)."""
    bsf = np.clip(form["built"] / area, 0.0, 1.0)
    shares = {name: np.nan_to_num(cover[name]) for name in GROUPS}
    isf = np.maximum(shares["sealed"] - bsf, 0.0)
    psf = np.maximum(1.0 - bsf - isf, 0.0)
    open_area = np.maximum(area - form["built"], 1.0)
    hw = form["wall"] / (2.0 * open_area)
    svf = 1.0 / np.sqrt(1.0 + (2.0 * hw) ** 2)
    columns = {
        "svf": svf,
        "hw": hw,
        "bsf": bsf,
        "isf": isf,
        "psf": psf,
        "height": form["height"],
        "size": form["size"],
    }
    return np.column_stack([columns[name] for name in PROPERTIES]), shares


def unit_feature(
    index: int,
    units: Units,
    classes: np.ndarray,
    confidence: np.ndarray,
    properties: np.ndarray,
    shares: dict[str, np.ndarray],
    form: dict[str, np.ndarray],
    area: np.ndarray,
    observed: np.ndarray,
) -> dict[str, Any]:
    """What a unit's feature carries."""
    value = int(classes[index])
    columns = dict(zip(PROPERTIES, properties[index].tolist(), strict=True))
    return {
        "lcz": value,
        "lcz_name": NAMES[value],
        "confidence": round(float(confidence[index]), 3),
        "unit": units.kinds[index],
        "area_m2": round(float(area[index]), 1),
        "bsf": round(columns["bsf"], 4),
        "isf": round(columns["isf"], 4),
        "psf": round(columns["psf"], 4),
        "height_m": round(columns["height"], 2),
        "hw": round(columns["hw"], 3),
        "svf": round(columns["svf"], 3),
        "footprint_m2": round(columns["size"], 1),
        "floor_area_m2": round(float(form["floor"][index]), 1),
        **{f"{name}_share": round(float(shares[name][index]), 4) for name in GROUPS},
        "observed_share": round(float(observed[index]), 4),
    }


def zone_figures(
    inside: np.ndarray,
    classes: np.ndarray,
    area: np.ndarray,
    form: dict[str, np.ndarray],
    observed: np.ndarray,
    population: int | None,
    heights: dict[str, int],
    inputs: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """A territory's class shares and the population share in LCZ 1–3."""
    total = float(area[inside].sum())
    if not total:
        return {"units": 0, "reason": "no unit of the territory lies in the scenes"}
    shares = {
        NAMES[int(value)]: round(float(area[inside & (classes == value)].sum()) / total, 4)
        for value in np.unique(classes[inside])
    }
    floor = form["floor"]
    floor_total = float(floor[inside].sum())
    compact = float(floor[inside & np.isin(classes, COMPACT)].sum())
    zone_notes = list(notes)
    population_share = compact / floor_total if floor_total else None
    if not floor_total:
        zone_notes.append(
            "no building in the territory: every unit is classed from its land cover alone"
        )
    return {
        "units": int(inside.sum()),
        "unit_kinds": inputs["units"],
        "cell_size_m": inputs["cell_size"],
        "class_shares": shares,
        "main_class": max(shares, key=shares.__getitem__),
        "population_share_lcz_1_3": population_share,
        "population_lcz_1_3": round(population_share * population)
        if population_share is not None and population
        else None,
        "buildings": round(float(form["count"][inside].sum())),
        "heights": heights | {"default_height_m": inputs["default_height"]},
        "observed_share": round(float((observed[inside] * area[inside]).sum()) / total, 4),
        "definitions": FORMULAS,
        "notes": zone_notes,
    }


PROCESS = LocalClimateZones()
