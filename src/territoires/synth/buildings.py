"""Buildings with heights, streets and the planted Local Climate Zone (Stewart & Oke 2012) of each
reference unit, drawn from the landscape's city blocks — the parcels whose roofs and streets the
optical scenes show — so that reflectance, sealed share and footprints agree.

A town block (a city-block parcel whose mean urban factor reaches TOWN, less than half water,
wholly in the grid) gets
its streets (the parcel's outline) and buildings: rectangles on a grid of slots inside the street
band, covering the block's planted roof share, all of one form drawn per block (high-rise,
mid-rise, low-rise, or large low-rise sheds). Outside the town blocks the units are the cells of
a regular CELL_M grid on the CRS lattice (multiples of CELL_M), as the process makes them.

The planted class of a unit, from what was planted in it (shares of the whole unit):
- water ≥ 0.5 → G; building surface fraction (BSF) < NATURAL_BSF → natural, below;
- large low-rise sheds (drawn where BSF is 0.3–0.5, Stewart & Oke's range) → 8; else by BSF
  and the block's height band: BSF ≥ 0.4 → 1, 2, 3 (high ≥ 25 m, mid 10–25 m, low < 10 m);
  0.2 ≤ BSF < 0.4 → 4, 5, 6; BSF < 0.2 → 9 (low-rise);
- natural: trees ≥ 0.5 → A; trees ≥ 0.2 → B; paved ≥ 0.5 → E; bare soil ≥ 0.5 → F; low plants
  ≥ 0.5 → D; else none (a mix no class describes: not scored). Cells outside the town blocks
  with roofs (villages, whose buildings are not drawn) are not scored either.

Written as BD TOPO's `batiment` layer (GeoPackage, `hauteur`, `nombre_d_etages`; Lambert-93 on
the mainland as BD TOPO, the scene's UTM overseas) with the streets as `troncon_de_route`, and
as OpenStreetMap-style GeoJSON (`height` for most, `building:levels` only for some, neither for
a few), the streets beside it; two STAC items (`buildings`, `buildings-osm`) catalogue them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyogrio.raw import write
from pyproj import Transformer
from shapely.geometry import LineString, Polygon, box, mapping

from territoires.synth.grid import Grid
from territoires.synth.landscape import Landscape
from territoires.synth.stac import Asset, Item
from territoires.synth.texture import cell_random, clip01, smoothstep

COLLECTION = "buildings"
OSM_COLLECTION = "buildings-osm"
BDTOPO = "buildings/bdtopo.gpkg"
OSM = "buildings/osm-buildings.geojson"
ROADS = "buildings/roads.geojson"
LCZ_UNITS = "truth/lcz_units.geojson"
GEOPACKAGE = "application/geopackage+sqlite3"
GEOJSON = "application/geo+json"
CELL_M = 100.0
TOWN = 0.5
STREET_INSET_M = 8.0
"""Buildings stand this far inside a block's outline: the streets (7 m from the edge) are paved."""
NATURAL_BSF = 0.1
STOREY_M = 3.0
LAMBERT_93 = 2154

LCZ_CODES = {
    **{str(n): n for n in range(1, 11)},
    "A": 11,
    "B": 12,
    "C": 13,
    "D": 14,
    "E": 15,
    "F": 16,
    "G": 17,
}
"""LCZ names to the registry's class values (1–10 built, A–G as 11–17)."""

# Per form: (height range m, slots along, slots across), slots tiling the inner block.
FORMS = {
    "high": ((28.0, 45.0), 2, 2),
    "mid": ((12.0, 22.0), 2, 3),
    "low": ((4.0, 9.0), 4, 3),
    "large": ((5.0, 9.0), 1, 2),
}
DEFINITION = (
    "planted class per unit (town blocks bounded by streets, else 100 m cells): water >= 0.5 "
    "-> G; sheds (BSF 0.3-0.5) -> 8; BSF >= 0.4 -> 1/2/3, 0.2-0.4 -> 4/5/6 (mean height >= "
    "25, 10-25, < 10 m), 0.1-0.2 -> 9; BSF < 0.1 (no building drawn): trees >= 0.5 -> A, "
    ">= 0.2 -> B, paved >= 0.5 -> E, bare >= 0.5 -> F, low plants >= 0.5 -> D, else not "
    "planted (lcz null)"
)
QUANTITIES = ("pixels", "building", "paved", "tree", "water", "bare", "low", "urban", "core")


USAGE = {
    "high": "Résidentiel",
    "mid": "Résidentiel",
    "low": "Résidentiel",
    "large": "Commercial et services",
}
"""BD TOPO `usage_1` of each form's buildings."""


@dataclass(frozen=True)
class Building:
    footprint: Polygon
    height: float
    form: str


@dataclass(frozen=True)
class Unit:
    kind: str  # "block" or "cell"
    geometry: Polygon
    lcz: int | None
    figures: dict[str, float]


class Accumulator:
    """Sums of cover shares per parcel and per CELL_M cell, fed one block of rows at a time."""

    def __init__(self) -> None:
        self.sums: dict[str, dict[int, np.ndarray]] = {"block": {}, "cell": {}}

    def add(self, kind: str, keys: np.ndarray, values: list[np.ndarray]) -> None:
        unique, inverse = np.unique(keys.ravel(), return_inverse=True)
        totals = np.stack(
            [np.bincount(inverse, v.ravel().astype(np.float64), unique.size) for v in values]
        )
        table = self.sums[kind]
        for index, key in enumerate(unique.tolist()):
            if key in table:
                table[key] += totals[:, index]
            else:
                table[key] = totals[:, index].copy()

    def means(self, kind: str) -> dict[int, dict[str, float]]:
        return {
            key: {"pixels": float(v[0])}
            | dict(zip(QUANTITIES[1:], (v[1:] / v[0]).tolist(), strict=True))
            for key, v in self.sums[kind].items()
        }


def _block_key(column: np.ndarray, row: np.ndarray) -> np.ndarray:
    return (column.astype(np.int64) + 2**19) * 2**20 + (row.astype(np.int64) + 2**19)


def _cell_key(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.floor(x / CELL_M).astype(np.int64) * 10**6 + np.floor(y / CELL_M).astype(np.int64)


def sample(landscape: Landscape, grid: Grid, when: date) -> Accumulator:
    """The planted cover of every parcel and cell at the reference date."""
    accumulator = Accumulator()
    x = grid.column_centres()
    parcels = landscape.city_blocks
    for first, last in grid.row_blocks():
        y = grid.row_centres(first, last)
        ground = landscape.ground(x, y, grid.resolution)
        cover = landscape.cover(ground, when)
        core = np.minimum(ground.urban_density, np.float32(1.0))
        urban = smoothstep(clip01(core * np.float32(4.0)))
        cells, _ = parcels.cells(*landscape.local(x, y))
        columns = cells.first_column + cells.flat // cells.rows
        rows = cells.first_row + cells.flat % cells.rows
        values = [
            np.ones_like(cover.water),
            cover.building,
            cover.paved,
            cover.tree,
            cover.water,
            cover.bare,
            cover.low_vegetation,
            urban,
            core,
        ]
        accumulator.add("block", _block_key(columns, rows), values)
        accumulator.add("cell", _cell_key(x[None, :], y[:, None]), values)
    return accumulator


def parcel_outline(landscape: Landscape, column: int, row: int) -> Polygon:
    """A city-block parcel's rectangle in map coordinates (the inverse of `Parcels.cells`)."""
    parcels = landscape.city_blocks
    return _rotated(landscape, column * parcels.length_m, (column + 1) * parcels.length_m,
                    *_across(landscape, column, row, 0.0))  # fmt: skip


def _across(landscape: Landscape, column: int, row: int, inset: float) -> tuple[float, float]:
    parcels = landscape.city_blocks
    draw = float(cell_random(np.array([column]), np.array([0]), parcels.key)[0])
    stagger = draw * parcels.width_m
    return row * parcels.width_m - stagger + inset, (row + 1) * parcels.width_m - stagger - inset


def _rotated(
    landscape: Landscape, along0: float, along1: float, across0: float, across1: float
) -> Polygon:
    """A rectangle given in the parcels' rotated frame, in map coordinates."""
    cosine, sine = math.cos(landscape.city_blocks.angle), math.sin(landscape.city_blocks.angle)
    corners = [(along0, across0), (along1, across0), (along1, across1), (along0, across1)]
    return Polygon(
        [
            (
                landscape.origin_x + along * cosine - across * sine,
                landscape.origin_y + along * sine + across * cosine,
            )
            for along, across in corners
        ]
    )


def _form(landscape: Landscape, column: int, row: int, bsf: float, core: float) -> str:
    """The block's built form, drawn from its own random numbers and the town's density."""
    key = landscape.city_blocks.key
    kind, height = (
        float(cell_random(np.array([column]), np.array([row]), key + offset)[0])
        for offset in (21, 22)
    )
    if kind < 0.12 and 0.3 <= bsf < 0.5:  # Stewart & Oke's building fraction of LCZ 8
        return "large"
    if bsf < 0.2:
        return "low"
    if core > 0.6 and height < 0.3:
        return "high"
    if core > 0.35 and height < 0.65:
        return "mid"
    return "low"


def block_buildings(
    landscape: Landscape, column: int, row: int, bsf: float, form: str, rng: np.random.Generator
) -> list[Building]:
    """Rectangles on the form's slots inside the street band, covering `bsf` of the block."""
    parcels = landscape.city_blocks
    (low, high), slots_along, slots_across = FORMS[form]
    along0 = column * parcels.length_m + STREET_INSET_M
    along1 = (column + 1) * parcels.length_m - STREET_INSET_M
    across0, across1 = _across(landscape, column, row, STREET_INSET_M)
    inner = (along1 - along0) * (across1 - across0)
    cover = min(bsf * parcels.length_m * parcels.width_m / inner, 0.9)
    scale = math.sqrt(cover)
    slot_along, slot_across = (along1 - along0) / slots_along, (across1 - across0) / slots_across
    height = rng.uniform(low, high)
    buildings = []
    for i in range(slots_along):
        for j in range(slots_across):
            centre_along = along0 + (i + 0.5) * slot_along
            centre_across = across0 + (j + 0.5) * slot_across
            half_along, half_across = slot_along * scale / 2, slot_across * scale / 2
            footprint = _rotated(
                landscape,
                centre_along - half_along,
                centre_along + half_along,
                centre_across - half_across,
                centre_across + half_across,
            )
            height_m = round(height * rng.uniform(0.9, 1.1), 1)
            buildings.append(Building(footprint, height_m, form))
    return buildings


def built_class(bsf: float, height: float, form: str) -> int:
    if form == "large":
        return 8
    band = 0 if height >= 25.0 else 1 if height >= 10.0 else 2
    if bsf >= 0.4:
        return 1 + band
    if bsf >= 0.2:
        return 4 + band
    return 9


def natural_class(shares: dict[str, float]) -> int | None:
    """A unit without buildings: its cover's class, None when it is a mix none describes."""
    if shares["water"] >= 0.5:
        return LCZ_CODES["G"]
    if shares["building"] >= 0.03:
        return None
    for name, share, threshold in (
        ("A", "tree", 0.5),
        ("B", "tree", 0.2),
        ("E", "paved", 0.5),
        ("F", "bare", 0.5),
        ("D", "low", 0.5),
    ):
        if shares[share] >= threshold:
            return LCZ_CODES[name]
    return None


def plant(
    landscape: Landscape, grid: Grid, when: date, seed: int
) -> tuple[list[Unit], list[Building], list[LineString]]:
    """The units with their planted class, the buildings of the town blocks and their streets."""
    accumulator = sample(landscape, grid, when)
    rng = np.random.default_rng([seed, 40])
    inside = box(*grid.bounds).buffer(-CELL_M)
    pixel_area = grid.resolution**2
    units: list[Unit] = []
    buildings: list[Building] = []
    streets: list[LineString] = []
    blocks = []
    for key, shares in sorted(accumulator.means("block").items()):
        column, row = key // 2**20 - 2**19, key % 2**20 - 2**19
        outline = parcel_outline(landscape, column, row)
        if shares["urban"] < TOWN or shares["water"] >= 0.5 or not outline.within(inside):
            continue
        if shares["pixels"] * pixel_area < 0.9 * outline.area:
            continue
        blocks.append(outline)
        streets.append(LineString(outline.exterior.coords))
        figures = {name: round(shares[name], 4) for name in ("building", "paved", "tree", "water")}
        if shares["building"] < NATURAL_BSF:
            units.append(Unit("block", outline, natural_class(shares), figures))
            continue
        form = _form(landscape, column, row, shares["building"], shares["core"])
        drawn = block_buildings(landscape, column, row, shares["building"], form, rng)
        area = sum(b.footprint.area for b in drawn)
        bsf = area / outline.area
        height = sum(b.height * b.footprint.area for b in drawn) / area
        buildings += drawn
        figures |= {"bsf": round(bsf, 4), "height_m": round(height, 2), "form": form}
        units.append(Unit("block", outline, built_class(bsf, height, form), figures))
    tree = shapely.STRtree(blocks)
    for key, shares in sorted(accumulator.means("cell").items()):
        if shares["pixels"] * pixel_area < CELL_M * CELL_M - 1e-6:
            continue
        x, y = divmod(key, 10**6)
        cell = box(x * CELL_M, y * CELL_M, (x + 1) * CELL_M, (y + 1) * CELL_M)
        if not cell.within(inside) or tree.query(cell, "intersects").size:
            continue
        figures = {name: round(shares[name], 4) for name in ("building", "paved", "tree", "water")}
        units.append(Unit("cell", cell, natural_class(shares), figures))
    return units, buildings, streets


def write_buildings(
    root: Path, grid: Grid, landscape: Landscape, when: date, seed: int, item_id: str
) -> tuple[list[Item], dict[str, Any]]:
    """The BD TOPO-like GeoPackage, the OSM-style GeoJSON, the streets, the LCZ truth, and the
    two STAC items; returns the items and truth.json's `local_climate_zones` section."""
    units, buildings, streets = plant(landscape, grid, when, seed)
    (root / "buildings").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 41])
    heights = np.array([b.height for b in buildings])
    levels = np.maximum(1, np.rint(heights / STOREY_M)).astype(np.int32)
    mainland = grid.epsg in (32630, 32631, 32632)
    bdtopo_epsg = LAMBERT_93 if mainland else grid.epsg
    project = _projector(grid.epsg, bdtopo_epsg)
    no_height = rng.uniform(size=len(buildings)) < 0.05
    _write_gpkg(
        root / BDTOPO,
        "batiment",
        [project(b.footprint) for b in buildings],
        {
            "cleabs": np.array([f"BATIMENT{n:016d}" for n in range(len(buildings))], object),
            "hauteur": np.where(no_height, np.nan, heights),
            "nombre_d_etages": levels,
            "usage_1": np.array([USAGE[b.form] for b in buildings], object),
        },
        {"hauteur": no_height},
        "Polygon",
        bdtopo_epsg,
    )
    _write_gpkg(
        root / BDTOPO,
        "troncon_de_route",
        [project(line) for line in streets],
        {"nature": np.array(["Route à 1 chaussée"] * len(streets), object)},
        {},
        "LineString",
        bdtopo_epsg,
        append=True,
    )
    lonlat = _projector(grid.epsg, 4326)
    tags = rng.uniform(size=len(buildings))
    osm = []
    for building, level, tag in zip(buildings, levels.tolist(), tags.tolist(), strict=True):
        properties: dict[str, Any] = {"building": "yes"}
        if tag < 0.6:
            properties["height"] = f"{building.height:g}"
        elif tag < 0.9:
            properties["building:levels"] = str(level)
        osm.append(_feature(lonlat(building.footprint), properties))
    _dump(root / OSM, osm)
    _dump(root / ROADS, [_feature(lonlat(line), {"highway": "residential"}) for line in streets])
    _dump(
        root / LCZ_UNITS,
        [
            _feature(lonlat(unit.geometry), {"kind": unit.kind, "lcz": unit.lcz, **unit.figures})
            for unit in units
        ],
    )
    folder = root / "buildings"
    roads = Asset(root / ROADS, "Streets (lines, OSM-style)", grid, [], media_type=GEOJSON)
    items = [
        Item(
            f"{COLLECTION}-{item_id}",
            COLLECTION,
            folder,
            grid,
            when,
            assets={
                "data": Asset(
                    root / BDTOPO,
                    "BD TOPO-like buildings (layer batiment, hauteur)",
                    grid,
                    [],
                    media_type=GEOPACKAGE,
                    fields={"proj:epsg": bdtopo_epsg, "layer": "batiment"},
                ),
                "roads": roads,
            },
        ),
        Item(
            f"{OSM_COLLECTION}-{item_id}",
            OSM_COLLECTION,
            folder,
            grid,
            when,
            assets={
                "data": Asset(
                    root / OSM,
                    "OpenStreetMap-style buildings (height, building:levels)",
                    grid,
                    [],
                    media_type=GEOJSON,
                ),
                "roads": roads,
            },
        ),
    ]
    planted = [unit.lcz for unit in units if unit.lcz is not None]
    section = {
        "units": LCZ_UNITS,
        "cell_m": CELL_M,
        "buildings": len(buildings),
        "blocks": sum(unit.kind == "block" for unit in units),
        "planted_units": len(planted),
        "classes": {str(c): planted.count(c) for c in sorted(set(planted))},
        "bdtopo_epsg": bdtopo_epsg,
        "definition": DEFINITION,
    }
    return items, section


def _projector(source: int, target: int) -> Callable[[Any], Any]:
    """Reprojects shapely geometries from one EPSG code to another."""
    transformer = Transformer.from_crs(source, target, always_xy=True)
    return lambda geometry: shapely.transform(geometry, transformer.transform, interleaved=False)


def _feature(geometry: Any, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": mapping(geometry), "properties": properties}


def _dump(path: Path, features: list[dict[str, Any]]) -> None:
    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection, separators=(",", ":")) + "\n", encoding="utf-8")


def _write_gpkg(
    path: Path,
    layer: str,
    geometries: list[Any],
    fields: dict[str, np.ndarray],
    masks: dict[str, np.ndarray],
    geometry_type: str,
    epsg: int,
    append: bool = False,
) -> None:
    write(
        str(path),
        np.array([shapely.to_wkb(g) for g in geometries], dtype=object),
        list(fields.values()),
        list(fields),
        field_mask=[masks.get(name) for name in fields],
        layer=layer,
        driver="GPKG",
        geometry_type=geometry_type,
        crs=f"EPSG:{epsg}",
        append=append,
    )
