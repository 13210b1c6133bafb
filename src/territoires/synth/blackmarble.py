"""Black Marble night lights for whole départements or all of France (`territoires synth
--night-lights`): files in the published HDF5-EOS layout (`territoires.shared.blackmarble`),
lights drawn from the 2026 communes' outlines and populations, and a planted street-lighting
history per commune written to `truth/night_lighting.csv`.

What a commune's lights do over the months: a planted change (unchanged, total extinction from a
month, partial extinction or LED renovation — a drop of a given fraction —, or an extinction
later relit), times leaf-on vegetation that dims summer nights, plus moonlight residue, light
spilling into neighbouring cells, noise of each cell and month, and cloudy spells that leave
cells with few or no good nights (fewer observations, poor quality, or fill).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import h5py
import numpy as np
import rasterio.features
import shapely
from rasterio.transform import from_origin
from rasterio.windows import Window

from territoires.shared.blackmarble import (
    CELL_DEG,
    FLAG_FILL,
    PLATFORM_NAMES,
    PRODUCTS,
    RADIANCE_FILL,
    RADIANCE_SCALE,
    TILE_CELLS,
    Granule,
    Product,
    months_between,
    tile_bounds,
    tiles_over,
)
from territoires.shared.geography import read_national

TRUTH_FILE = "truth/night_lighting.csv"
CLASSES = ("unchanged", "total-extinction", "partial-extinction", "relit", "undetermined")
# Shares of the lit communes, in the spirit of the national survey (62 % total, 18 % partial).
PLANTED_SHARES = {"total-extinction": 0.50, "partial-extinction": 0.16, "relit": 0.03}
DARK_SHARE = 0.03  # communes of under 300 people with no public lighting at all
TOTAL_DROP = (0.60, 0.85)
PARTIAL_DROP = (0.25, 0.45)
ENERGY_CRISIS = (date(2022, 9, 1), date(2022, 12, 1))  # 30 % of extinctions start then
SWITCH_OFF_HOURS = ("23:00", "00:00", "01:00")
OVERPASS = {"VNP46A3": "01:30", "VNP46A2": "01:30", "VJ146A2": "00:40"}  # local solar time
BACKGROUND = 0.3  # nW·cm⁻²·sr⁻¹ of unlit land
CELL_NOISE = 0.06  # relative, per cell and month
ADDITIVE_NOISE = 0.15
LEAF_DIMMING = 0.07  # summer vegetation hides this share of the lights
SPILL = 0.08  # share of a cell's light seen in each of its four neighbours
VERSION = "001"
PRODUCED = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class History:
    """A commune's planted street-lighting history (months count from the first one)."""

    code: str
    population: int
    kind: str
    start: int | None = None  # month of the change (relit: of the relighting)
    drop: float = 0.0  # fraction of the commune's light gone after `start` (relit: before it)
    extinction: int | None = None  # relit: the month it had switched off
    switch_off: str | None = None  # extinctions: the hour lights go off ("23:00"…)


@dataclass
class NightLightsSummary:
    out_dir: Path
    files: list[Path]
    communes: int
    months: int
    truth: Path


def plant(
    codes: list[str], populations: list[int], months: list[date], rng: np.random.Generator
) -> list[History]:
    """Each commune's history; changes start after the first year (the reference year lights
    are measured against) and at least six months before the end."""
    n = len(months)
    crisis = [k for k, m in enumerate(months) if ENERGY_CRISIS[0] <= m <= ENERGY_CRISIS[1]]
    histories = []
    for code, population in zip(codes, populations, strict=True):
        draw = rng.random()
        if population < 300 and draw < DARK_SHARE:
            histories.append(History(code, population, "undetermined"))
            continue
        draw = rng.random()
        total, partial, relit = (PLANTED_SHARES[k] for k in CLASSES[1:4])
        if n < 24:
            histories.append(History(code, population, "unchanged"))
        elif draw < total:
            start = (
                int(rng.choice(crisis))
                if crisis and rng.random() < 0.3
                else int(rng.integers(13, n - 6))
            )
            histories.append(
                History(
                    code,
                    population,
                    CLASSES[1],
                    start,
                    rng.uniform(*TOTAL_DROP),
                    switch_off=str(rng.choice(SWITCH_OFF_HOURS)),
                )
            )
        elif draw < total + partial:
            start = int(rng.integers(13, n - 6))
            histories.append(
                History(code, population, CLASSES[2], start, rng.uniform(*PARTIAL_DROP))
            )
        elif draw < total + partial + relit and n >= 40:
            off = int(rng.integers(13, n - 26))
            on = int(rng.integers(off + 12, min(off + 36, n - 6) + 1))
            histories.append(
                History(code, population, CLASSES[3], on, rng.uniform(*TOTAL_DROP), off)
            )
        else:
            histories.append(History(code, population, "unchanged"))
    return histories


def factors(histories: list[History], n: int, passes_at: str = "01:30") -> np.ndarray:
    """(months, communes + 1) share of each commune's lights on in each month at the overpass
    `passes_at` (a total extinction from a later hour is not seen yet); column 0 is the cells
    of no commune."""
    table = np.ones((n, len(histories) + 1), np.float32)
    for column, history in enumerate(histories, start=1):
        if history.kind == "undetermined":
            table[:, column] = 0.0
        elif history.switch_off and _after_midnight(history.switch_off) > _after_midnight(
            passes_at
        ):
            continue
        elif history.kind == "relit":
            table[history.extinction : history.start, column] = 1.0 - history.drop
        elif history.start is not None:
            table[history.start :, column] = 1.0 - history.drop
    return table


def _after_midnight(hour: str) -> int:
    """Minutes from 18:00, so that evening hours come before the night's."""
    hours, minutes = (int(part) for part in hour.split(":"))
    return (hours * 60 + minutes - 18 * 60) % (24 * 60)


@dataclass
class TileLights:
    """One tile's window over the communes: which commune each cell is in, and its lights."""

    h: int
    v: int
    window: Window
    communes: np.ndarray  # int32, 0 outside every commune, else the commune's column
    lights: np.ndarray  # float32 radiance with every light on


def tile_lights(
    h: int,
    v: int,
    outlines: dict[int, list[shapely.Geometry]],
    populations: list[int],
    rng: np.random.Generator,
) -> TileLights | None:
    """Rasterises the communes meeting tile (h, v) on its grid and lights each from its
    representative point outwards: as many lit cells as its population asks, brightest in
    the middle, brighter for bigger towns."""
    west, south, east, north = tile_bounds(h, v)
    tile = shapely.box(west, south, east, north)
    shapes = [
        (geometry, column)
        for column, pieces in outlines.items()
        for geometry in pieces
        if geometry.intersects(tile)
    ]
    if not shapes:
        return None
    left, bottom, right, top = shapely.total_bounds([g for g, _ in shapes])
    left, bottom = max(left, west), max(bottom, south)
    right, top = min(right, east), min(top, north)
    col0, row0 = int((left - west) / CELL_DEG), int((north - top) / CELL_DEG)
    col1 = min(TILE_CELLS, math.ceil((right - west) / CELL_DEG) + 1)
    row1 = min(TILE_CELLS, math.ceil((north - bottom) / CELL_DEG) + 1)
    window = Window(col0, row0, col1 - col0, row1 - row0)
    transform = from_origin(west + col0 * CELL_DEG, north - row0 * CELL_DEG, CELL_DEG, CELL_DEG)
    shape = (row1 - row0, col1 - col0)
    communes = rasterio.features.rasterize(shapes, shape, transform=transform, dtype="int32")
    lights = np.zeros(shape, np.float32)
    flat = communes.ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(len(populations) + 2))
    rows, cols = np.divmod(order, shape[1])
    for column in {c for _, c in shapes}:
        cells = order[bounds[column] : bounds[column + 1]]
        if cells.size == 0:
            continue
        r, c = rows[bounds[column] : bounds[column + 1]], cols[bounds[column] : bounds[column + 1]]
        centre = shapely.point_on_surface(shapely.union_all(outlines[column]))
        cr, cc = (north - centre.y) / CELL_DEG - row0, (centre.x - west) / CELL_DEG - col0
        nearest = np.argsort((r - cr) ** 2 + (c - cc) ** 2, kind="stable")
        population = populations[column - 1]
        lit = int(np.clip(math.ceil(population / 400), 1, cells.size))
        peak = 5.0 + 12.0 * math.log10(1.0 + population / 200.0)
        ramp = 1.0 - 0.65 * np.arange(lit) / lit
        lights.ravel()[cells[nearest[:lit]]] = peak * ramp * rng.uniform(0.85, 1.15, lit)
    return TileLights(h, v, window, communes, lights)


def _spill(lights: np.ndarray) -> np.ndarray:
    """Light seen from space: each cell's, plus SPILL of each of its four neighbours'."""
    out = lights * (1.0 - 4 * SPILL)
    out[1:, :] += SPILL * lights[:-1, :]
    out[:-1, :] += SPILL * lights[1:, :]
    out[:, 1:] += SPILL * lights[:, :-1]
    out[:, :-1] += SPILL * lights[:, 1:]
    return out


def _cloud_field(shape: tuple[int, int], rng: np.random.Generator, cover: float) -> np.ndarray:
    """A smooth random field in [0, 1): cells above 1 − cover are under a cloudy spell."""
    coarse = rng.random((max(2, shape[0] // 40 + 2), max(2, shape[1] // 40 + 2)))
    rows = np.linspace(0, coarse.shape[0] - 1.001, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1.001, shape[1])
    r0, c0 = rows.astype(int), cols.astype(int)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c0 + 1] * fc
    bottom = coarse[r0 + 1][:, c0] * (1 - fc) + coarse[r0 + 1][:, c0 + 1] * fc
    field = top * (1 - fr) + bottom * fr
    return field > 1.0 - cover


def monthly_layers(
    tile: TileLights, month: date, on: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One month's VNP46A3 layers over the tile (the window drawn, the rest background)."""
    leaf = max(0.0, math.sin(math.pi * (month.month - 3.5) / 7.0)) if 4 <= month.month <= 10 else 0
    seen = _spill(tile.lights * on[tile.communes]) * (1.0 - LEAF_DIMMING * leaf)
    shape = seen.shape
    nights = rng.poisson(9.0, shape).astype(np.int32)
    cloudy = _cloud_field(shape, rng, 0.12 if month.month in (11, 12, 1, 2) else 0.05)
    nights[cloudy] = rng.integers(0, 3, int(cloudy.sum()))
    moon = rng.uniform(0.0, 0.15)
    spread = CELL_NOISE * (1.0 + 1.5 / np.sqrt(np.maximum(nights, 1)))
    radiance = seen * (1.0 + spread * rng.standard_normal(shape, np.float32))
    radiance += BACKGROUND + moon + ADDITIVE_NOISE * rng.standard_normal(shape, np.float32)
    values = np.clip(np.round(np.maximum(radiance, 0.0) / RADIANCE_SCALE), 0, RADIANCE_FILL - 1)
    values = values.astype(np.uint16)
    quality = np.where(nights >= 3, 0, 1).astype(np.uint8)
    values[nights == 0] = RADIANCE_FILL
    quality[nights == 0] = FLAG_FILL
    count = np.where(nights == 0, RADIANCE_FILL, nights).astype(np.uint16)
    all_angle = np.where(
        values == RADIANCE_FILL, values, np.minimum(values * 1.05, RADIANCE_FILL - 1)
    ).astype(np.uint16)
    return {
        "NearNadir_Composite_Snow_Free": values,
        "NearNadir_Composite_Snow_Free_Num": count,
        "NearNadir_Composite_Snow_Free_Quality": quality,
        "AllAngle_Composite_Snow_Free": all_angle,
        "AllAngle_Composite_Snow_Free_Num": count,
        "AllAngle_Composite_Snow_Free_Quality": quality,
    }


def daily_layers(
    tile: TileLights, day: date, on: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """One night's VNP46A2 (or VJ146A2) layers: clouds (cloud mask bits 6–7, dimmed light, a
    poor-quality flag), snow in winter, moonlight residue, no retrieval here and there."""
    leaf = max(0.0, math.sin(math.pi * (day.month - 3.5) / 7.0)) if 4 <= day.month <= 10 else 0
    seen = _spill(tile.lights * on[tile.communes]) * (1.0 - LEAF_DIMMING * leaf)
    shape = seen.shape
    moon = 0.4 * (1 - math.cos(2 * math.pi * (day.toordinal() % 29.53) / 29.53)) / 2
    radiance = seen * (1.0 + 2.5 * CELL_NOISE * rng.standard_normal(shape, np.float32))
    radiance += BACKGROUND + moon + 2 * ADDITIVE_NOISE * rng.standard_normal(shape, np.float32)
    cloudy = _cloud_field(shape, rng, 0.45 if day.month in (11, 12, 1, 2) else 0.3)
    snowy = _cloud_field(shape, rng, 0.1) & ~cloudy if day.month in (12, 1, 2) else None
    radiance[cloudy] *= 0.35
    if snowy is not None:
        radiance[snowy] *= 1.6
    values = np.clip(np.round(np.maximum(radiance, 0.0) / RADIANCE_SCALE), 0, RADIANCE_FILL - 1)
    values = values.astype(np.uint16)
    quality = np.where(cloudy & (rng.random(shape) < 0.5), 2, 0).astype(np.uint8)
    cloud_mask = np.where(cloudy, 3 << 6, 0).astype(np.uint16)
    snow = np.zeros(shape, np.uint8) if snowy is None else snowy.astype(np.uint8)
    missing = rng.random(shape) < 0.02
    values[missing], quality[missing] = RADIANCE_FILL, FLAG_FILL
    gap_filled = np.where(missing, np.round(seen / RADIANCE_SCALE), values).astype(np.uint16)
    return {
        "DNB_BRDF-Corrected_NTL": values,
        "Gap_Filled_DNB_BRDF-Corrected_NTL": gap_filled,
        "Mandatory_Quality_Flag": quality,
        "QF_Cloud_Mask": cloud_mask,
        "Snow_Flag": snow,
    }


def _background(product: Product, name: str) -> int:
    layer = product.layer(name)
    if layer.scale != 1.0:
        return round(BACKGROUND / layer.scale)
    return 9 if name.endswith("_Num") else 0


def _struct_metadata(product: Product, granule: Granule) -> str:
    """HDF-EOS StructMetadata.0 of a 1/240° geographic grid (corners in packed DMS)."""
    west, south, east, north = granule.bounds
    fields = "".join(
        f'\t\t\tOBJECT=DataField_{n}\n\t\t\t\tDataFieldName="{layer.name}"\n'
        f'\t\t\t\tDimList=("YDim","XDim")\n\t\t\tEND_OBJECT=DataField_{n}\n'
        for n, layer in enumerate(product.layers, start=1)
    )
    return (
        "GROUP=SwathStructure\nEND_GROUP=SwathStructure\nGROUP=GridStructure\n"
        f'\tGROUP=GRID_1\n\t\tGridName="{product.grid}"\n'
        f"\t\tXDim={TILE_CELLS}\n\t\tYDim={TILE_CELLS}\n"
        f"\t\tUpperLeftPointMtrs=({west * 1e6:.6f},{north * 1e6:.6f})\n"
        f"\t\tLowerRightMtrs=({east * 1e6:.6f},{south * 1e6:.6f})\n"
        "\t\tProjection=HE5_GCTP_GEO\n\t\tGridOrigin=HE5_HDFE_GD_UL\n"
        f"\t\tGROUP=DataField\n{fields}\t\tEND_GROUP=DataField\n"
        "\tEND_GROUP=GRID_1\nEND_GROUP=GridStructure\nEND\n"
    )


def write_granule(
    folder: Path, granule: Granule, window: Window | None, layers: dict[str, np.ndarray]
) -> Path:
    """A file of `granule` in the published layout: full 2400² layers (the window given,
    background elsewhere), lat/lon of the cell centres, bounds and product attributes."""
    product = granule.product
    path = folder / granule.file_name(PRODUCED)
    west, south, east, north = granule.bounds
    start, end = granule.period
    with h5py.File(path, "w") as file:
        file.attrs.update(
            {
                "ShortName": product.short_name,
                "PlatformShortName": PLATFORM_NAMES[product.platform],
                "InstrumentShortName": "VIIRS",
                "LocalGranuleID": path.name,
                "HorizontalTileNumber": f"{granule.h:02d}",
                "VerticalTileNumber": f"{granule.v:02d}",
                "WestBoundingCoord": np.float64(west),
                "EastBoundingCoord": np.float64(east),
                "NorthBoundingCoord": np.float64(north),
                "SouthBoundingCoord": np.float64(south),
                "RangeBeginningDate": f"{start:%Y-%m-%d}",
                "RangeEndingDate": f"{end:%Y-%m-%d}",
                "VersionID": granule.version,
                "Synthetic": "territoires synth: planted truth in truth/night_lighting.csv",
            }
        )
        group = file.create_group(product.group())
        for layer in product.layers:
            data = np.full((TILE_CELLS, TILE_CELLS), _background(product, layer.name), layer.dtype)
            if window is not None:
                r, c = int(window.row_off), int(window.col_off)
                data[r : r + int(window.height), c : c + int(window.width)] = layers[layer.name]
            dataset = group.create_dataset(
                layer.name, data=data, chunks=(240, 240), compression="gzip", compression_opts=1
            )
            dataset.attrs["_FillValue"] = np.array(layer.fill, layer.dtype)
            dataset.attrs["scale_factor"] = np.float64(layer.scale)
            dataset.attrs["add_offset"] = np.float64(0.0)
            if layer.scale != 1.0:
                dataset.attrs["units"] = "nW/(cm2 sr)"
        centres = (np.arange(TILE_CELLS) + 0.5) * CELL_DEG
        group.create_dataset("lat", data=north - centres)
        group.create_dataset("lon", data=west + centres)
        information = file.create_group("HDFEOS INFORMATION")
        information.create_dataset(
            "StructMetadata.0", data=np.bytes_(_struct_metadata(product, granule))
        )
    return path


def generate_night_lights(
    out_dir: Path,
    data_dir: Path,
    departements: Collection[str] | None,
    start: date,
    end: date,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    products: tuple[str, ...] = ("VNP46A3",),
    communes: Collection[str] | None = None,
) -> NightLightsSummary:
    """Files of `products` (VNP46A3 monthly; VNP46A2 and VJ146A2 daily, each seeing the
    lights at its own overpass) over the communes of `departements` (all of France when
    None; only `communes` of them when given) from `start`'s month to `end`'s, and their
    truth."""
    geography = read_national(data_dir, departements)
    units = [
        u
        for u in geography.units
        if u.level.value == "commune" and (communes is None or u.code in communes)
    ]
    codes = [u.code for u in units]
    if not codes:
        raise ValueError(f"no commune in département(s) {', '.join(departements or [])}")
    column_of = {code: column for column, code in enumerate(codes, start=1)}
    populations = [u.population or 0 for u in units]
    outlines: dict[int, list[shapely.Geometry]] = defaultdict(list)
    for _, commune, geometry in geography.outlines:
        if commune in column_of:
            outlines[column_of[commune]].append(shapely.from_geojson(geometry))
    months = months_between(start, end)
    rng = np.random.default_rng(seed)
    histories = plant(codes, populations, months, rng)
    extent = tuple(shapely.total_bounds([g for pieces in outlines.values() for g in pieces]))
    tiles = [
        lights
        for h, v in tiles_over(extent)
        if (lights := tile_lights(h, v, outlines, populations, rng)) is not None
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    days = [date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)]
    granules = [
        (PRODUCTS[name], k, day)
        for name in products
        for k, month in enumerate(months)
        for day in (
            [d for d in days if d.replace(day=1) == month] if name != "VNP46A3" else [month]
        )
    ]
    tables = {name: factors(histories, len(months), OVERPASS[name]) for name in products}
    for product, k, day in granules:
        for tile in tiles:
            on = tables[product.short_name][k]
            layers = (
                daily_layers(tile, day, on, rng)
                if product.daily
                else monthly_layers(tile, day, on, rng)
            )
            granule = Granule(product, tile.h, tile.v, day, VERSION)
            files.append(write_granule(out_dir, granule, tile.window, layers))
            if progress:
                progress(f"{product.short_name} {day}", len(files), len(granules) * len(tiles))
    truth = write_truth(out_dir / TRUTH_FILE, histories, months)
    return NightLightsSummary(out_dir, files, len(codes), len(months), truth)


def write_truth(path: Path, histories: list[History], months: list[date]) -> Path:
    """One row per commune: class, start month (YYYY-MM), drop, and a relit one's extinction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["code", "population", "class", "start", "drop", "extinction", "switch_off"]
        )
        for h in histories:
            writer.writerow(
                [
                    h.code,
                    h.population,
                    h.kind,
                    f"{months[h.start]:%Y-%m}" if h.start is not None else "",
                    f"{h.drop:.3f}" if h.kind != "unchanged" and h.start is not None else "",
                    f"{months[h.extinction]:%Y-%m}" if h.extinction is not None else "",
                    h.switch_off or "",
                ]
            )
    return path


def read_truth(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as file:
        return {row["code"]: row for row in csv.DictReader(file)}
