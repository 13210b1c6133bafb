"""One call from a target (an INSEE code or a lon/lat bbox) to a folder of synthetic scenes, STAC
metadata and planted truth — written into a temporary folder and renamed at the end, so a
failure never leaves half an output."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from territoires.shared.models import TerritoryLevel
from territoires.shared.settings import ConfigurationError, Settings, get_settings
from territoires.shared.territories import (
    TerritoryRecord,
    find_demo_territory,
    read_demo_territories,
)
from territoires.synth import buildings, exposure, landsat, sentinel1, sentinel2, viirs
from territoires.synth import changes as planted_changes
from territoires.synth.cog import Conversions
from territoires.synth.grid import Grid, from_lonlat, to_lonlat, utm_epsg
from territoires.synth.landscape import Landscape, Settlement, random_settlements
from territoires.synth.stac import Item, write_catalog
from territoires.synth.truth import (
    TruthWriter,
    shoreline_truth,
    write_shorelines,
    write_truth,
)

SENSORS = ("s2", "landsat", "s1", "viirs")
MIN_SIZE = 512
MAX_SIZE = 10980
RESOLUTION_M = 10.0
DEFAULT_START = date(2021, 1, 1)
DEFAULT_END = date(2023, 12, 31)
SENTINEL1_REPEAT_DAYS = 12

Bbox = tuple[float, float, float, float]
Progress = Callable[[str, int, int], None]
"""Called as (what is being done, steps done, steps in all)."""


class SynthInputError(ValueError):
    """Input the operator must fix; the message is one line saying what and how."""


@dataclass(frozen=True)
class Target:
    """What to synthesise over: a demo territory or a bare bbox, both in lon/lat."""

    token: str
    name: str
    code: str | None
    bbox: Bbox


@dataclass
class Summary:
    """What a run wrote, and how long each stage took (seconds)."""

    out_dir: Path
    target: Target
    size: int
    seed: int
    items: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def validate_bbox(bbox: Iterable[float]) -> Bbox:
    """A lon/lat bbox, checked: four finite numbers, west < east, south < north, on Earth."""
    values = tuple(float(value) for value in bbox)
    if len(values) != 4 or not all(math.isfinite(value) for value in values):
        raise SynthInputError("bbox must be four numbers: minx,miny,maxx,maxy (lon/lat)")
    west, south, east, north = values
    if not (-180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
        raise SynthInputError(f"bbox longitudes must lie within ±180, got {west} and {east}")
    if not (-90.0 <= south <= 90.0 and -90.0 <= north <= 90.0):
        raise SynthInputError(f"bbox latitudes must lie within ±90, got {south} and {north}")
    if west >= east:
        raise SynthInputError(f"bbox minx ({west}) must be less than maxx ({east})")
    if south >= north:
        raise SynthInputError(f"bbox miny ({south}) must be less than maxy ({north})")
    if not -80.0 <= (south + north) / 2 <= 84.0:
        raise SynthInputError("bbox centre must lie between 80°S and 84°N (UTM's range)")
    return (west, south, east, north)


def parse_bbox(text: str) -> Bbox:
    """Reads "minx,miny,maxx,maxy" (lon/lat) into a validated bbox."""
    parts = text.split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise SynthInputError(f"bbox {text!r} is not four comma-separated numbers") from None
    if len(numbers) != 4:
        raise SynthInputError(f"bbox {text!r} has {len(numbers)} numbers; it needs four")
    return validate_bbox(numbers)


def parse_sensors(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in SENSORS]
    if unknown:
        raise SynthInputError(f"unknown sensor {unknown[0]!r}; choose among {','.join(SENSORS)}")
    if not names:
        raise SynthInputError(f"no sensor given; choose among {','.join(SENSORS)}")
    return names


def resolve_target(target: str | Bbox, settings: Settings) -> Target:
    if isinstance(target, str):
        code = target.strip()
        if not code:
            raise SynthInputError("territory code is empty")
        try:
            record = find_demo_territory(settings.data_dir, code)
        except KeyError as error:
            raise SynthInputError(str(error.args[0])) from None
        return Target(code, record.name, code, record.geometry.bounds)
    bbox = validate_bbox(target)
    digest = hashlib.sha256(",".join(f"{value:.6f}" for value in bbox).encode()).hexdigest()
    return Target(f"bbox-{digest[:10]}", "bbox", None, bbox)


def default_out_dir(settings: Settings, target: Target, size: int, seed: int) -> Path:
    return settings.local_dir / "synth" / f"{target.token}-{size}-{seed}"


def generate(
    target: str | Bbox,
    out_dir: Path | None = None,
    *,
    size: int = 2048,
    seed: int = 0,
    sensors: Iterable[str] = SENSORS,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    progress: Progress | None = None,
    settings: Settings | None = None,
    landsat_level: int = 1,
    seasons: bool = False,
    with_buildings: bool = False,
    changes: bool = False,
) -> Summary:
    """Writes scenes of the chosen sensors, their STAC catalog and the truth into `out_dir`;
    `seasons` adds Sentinel-2 spring and autumn scenes to the last summer's (`season_dates`),
    with the vegetation strata's truth; `with_buildings` adds the buildings and streets of the
    town blocks (BD TOPO- and OSM-like, `synth/buildings.py`) with the planted Local Climate
    Zones; `changes` plants parcels whose ground changes between the last two summers
    (`synth.changes`), with their truth."""
    began = time.perf_counter()
    settings = settings or get_settings()
    chosen = parse_sensors(",".join(sensors))
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise SynthInputError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    if seed < 0:
        raise SynthInputError(f"seed must be zero or positive, got {seed}")
    if end <= start:
        raise SynthInputError(f"end ({end}) must come after start ({start})")
    if landsat_level not in landsat.LEVELS:
        raise SynthInputError(f"landsat level must be 1 or 2, got {landsat_level}")
    if changes and end.year == start.year:
        raise SynthInputError(
            f"changes are planted between two summers: the period {start}/{end} holds one "
            "year; give --start and --end two years apart at least"
        )
    resolved = resolve_target(target, settings)
    destination = out_dir or default_out_dir(settings, resolved, size, seed)
    scratch = _scratch_folder(destination)
    try:
        summary = _generate_into(
            scratch,
            resolved,
            size,
            seed,
            chosen,
            start,
            end,
            progress,
            settings,
            began,
            landsat_level,
            seasons,
            with_buildings,
            changes,
        )
        _replace(destination, scratch)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    summary.out_dir = destination
    return summary


def _scratch_folder(destination: Path) -> Path:
    """A fresh folder beside the destination; errors when the destination cannot be written."""
    if destination.exists() and not _replaceable(destination):
        raise SynthInputError(
            f"{destination} exists and is not an earlier synth output; choose another --out"
        )
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        return Path(
            tempfile.mkdtemp(
                prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
            )
        )
    except OSError as error:
        raise SynthInputError(f"cannot write to {destination}: {error.strerror or error}") from None


def _replaceable(destination: Path) -> bool:
    return destination.is_dir() and (
        not any(destination.iterdir()) or (destination / "truth.json").is_file()
    )


def _replace(destination: Path, scratch: Path) -> None:
    """Puts the finished folder in place; an earlier output there goes only once it is."""
    previous = None
    if destination.exists():
        previous = destination.with_name(f".{destination.name}.{scratch.name}.old")
        destination.rename(previous)
    scratch.rename(destination)
    if previous is not None:
        shutil.rmtree(previous)


@dataclass
class _Steps:
    """Counts progress steps and times stages."""

    total: int
    callback: Progress | None
    done: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def advance(self, description: str, count: int = 1) -> None:
        self.done += count
        if self.callback is not None:
            self.callback(description, self.done, self.total)

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self.started, 3)
        self.started = now


@dataclass
class _Plan:
    """Everything decided before the first pixel: grid, landscape, dates, item id prefix."""

    target: Target
    size: int
    seed: int
    sensors: tuple[str, ...]
    start: date
    end: date
    grid: Grid
    landscape: Landscape
    settlements: list[Settlement]
    communes: list[TerritoryRecord]
    optical_dates: list[date]
    landsat_dates: list[date]
    landsat_level: int
    flood_date: date
    season_dates: list[date]
    change_dates: list[date] = field(default_factory=list)
    """More summer dates of the two years changes are planted between (`synth.changes`)."""

    @property
    def reference(self) -> date:
        """The date of the land cover truth and of the shoreline's initial position."""
        return self.optical_dates[0]

    def strata_dates(self) -> list[date]:
        """The dates of the strata truth: each year's summer scene among the season dates'."""
        years = {day.year for day in self.season_dates}
        return [day for day in self.optical_dates if day.year in years]

    def item_id(self, collection: str, *days: date) -> str:
        stamp = "-".join(f"{day:%Y%m%d}" for day in days)
        return f"{collection}-{self.target.token}-{self.size}-s{self.seed}-{stamp}"


def _plan(
    target: Target,
    size: int,
    seed: int,
    sensors: tuple[str, ...],
    start: date,
    end: date,
    settings: Settings,
    landsat_level: int = 1,
    seasons: bool = False,
    changes: bool = False,
) -> _Plan:
    west, south, east, north = target.bbox
    centre_lon, centre_lat = (west + east) / 2, (south + north) / 2
    epsg = utm_epsg(centre_lon, centre_lat)
    easting, northing = from_lonlat(epsg).transform(centre_lon, centre_lat)
    grid = Grid.centred(epsg, easting, northing, RESOLUTION_M, size)
    footprint = grid.footprint()
    communes, departements = _territories_near(settings, footprint)
    settlements = _settlements(communes, epsg) or random_settlements(seed, grid)
    sea_direction, sea_share = _sea_hint(seed, footprint, departements)
    rng = np.random.default_rng([seed, 3])
    optical_dates = _optical_dates(rng, start, end, centre_lat)
    flood_date = _flood_date(rng, start, end, centre_lat)
    landscape = Landscape.draw(
        seed, grid, centre_lat, settlements, sea_direction, sea_share, optical_dates[0], flood_date
    )
    if changes:
        if len(optical_dates) < 2:
            raise SynthInputError(
                f"changes are planted between two summers: the period {start}/{end} holds "
                f"one summer scene ({optical_dates[0]}); widen it over two summers"
            )
        when = planted_changes.change_date(*optical_dates[-2:])
        landscape = replace(landscape, changes=planted_changes.plant(landscape, grid, seed, when))
    return _Plan(
        target=target,
        size=size,
        seed=seed,
        sensors=sensors,
        start=start,
        end=end,
        grid=grid,
        landscape=landscape,
        settlements=settlements,
        communes=communes,
        optical_dates=optical_dates,
        landsat_dates=sorted({min(day + timedelta(days=3), end) for day in optical_dates}),
        landsat_level=landsat_level,
        flood_date=flood_date,
        season_dates=season_dates(seed, optical_dates[-1], start, end, centre_lat)
        if seasons
        else [],
        change_dates=planted_changes.summer_dates(seed, optical_dates[-2:], start, end)
        if changes
        else [],
    )


def _generate_into(
    root: Path,
    target: Target,
    size: int,
    seed: int,
    sensors: tuple[str, ...],
    start: date,
    end: date,
    progress: Progress | None,
    settings: Settings,
    began: float,
    landsat_level: int,
    seasons: bool,
    with_buildings: bool = False,
    changes: bool = False,
) -> Summary:
    plan = _plan(target, size, seed, sensors, start, end, settings, landsat_level, seasons, changes)
    blocks = plan.grid.row_blocks()
    steps = _Steps(
        total=len(blocks)
        + 2
        + ("landsat" in sensors)
        * len(plan.landsat_dates)
        * len(plan.grid.resampled(landsat.RESOLUTION).row_blocks())
        + ("viirs" in sensors) * math.ceil(((end - start).days + 1) / viirs.NIGHTS_PER_CHUNK),
        callback=progress,
        started=began,
    )
    steps.lap("setup")
    document: dict[str, Any] = {}
    with Conversions() as conversions:
        items = _ten_metre_products(root, plan, blocks, conversions, steps, document)
        if "landsat" in sensors:
            items += _landsat_products(root, plan, conversions, steps, document)
        if "viirs" in sensors:
            items.append(_viirs_product(root, plan, conversions, steps, document))
        if with_buildings:
            made, document["local_climate_zones"] = buildings.write_buildings(
                root,
                plan.grid,
                plan.landscape,
                plan.reference,
                seed,
                plan.item_id(buildings.COLLECTION, plan.reference).removeprefix("buildings-"),
            )
            items += made
            steps.lap("buildings")
        conversions.wait()
        steps.advance("COG conversion")
        steps.lap("COG conversion (rest)")
    write_catalog(root, items)
    write_shorelines(
        root, plan.landscape, plan.grid, [*plan.optical_dates, *plan.landsat_dates, start, end]
    )
    if plan.landscape.changes:
        document["land_cover_change"] = _change_truth(root, plan)
    write_truth(root, _truth_document(plan, items) | document)
    steps.advance("STAC catalog and truth")
    steps.lap("catalog and truth")
    return Summary(root, target, size, seed, [item.id for item in items], steps.timings)


def _ten_metre_products(
    root: Path,
    plan: _Plan,
    blocks: list[tuple[int, int]],
    conversions: Conversions,
    steps: _Steps,
    document: dict[str, Any],
) -> list[Item]:
    """Truth rasters, Sentinel-2 and Sentinel-1, sharing one sampling of the 10 m landscape."""
    grid, landscape, seed = plan.grid, plan.landscape, plan.seed
    truth_writer = TruthWriter(
        root, grid, landscape, plan.reference, conversions, plan.strata_dates()
    )
    writers: list[Any] = [truth_writer]
    optical = radar = None
    if "s2" in plan.sensors:
        scenes = (
            _optical_scenes(plan, plan.optical_dates, 100, 10)
            + _optical_scenes(plan, plan.season_dates, 150, 60)
            + _optical_scenes(plan, plan.change_dates, 170, 80)
        )
        optical = sentinel2.Sentinel2Writer(root, grid, landscape, scenes, seed, conversions)
        writers.append(optical)
    if "s1" in plan.sensors:
        pre_event = plan.flood_date - timedelta(days=SENTINEL1_REPEAT_DAYS)
        acquisitions = [
            sentinel1.Acquisition(
                plan.item_id(sentinel1.COLLECTION, day), day, day == plan.flood_date, 30 + index
            )
            for index, day in enumerate([pre_event, plan.flood_date])
        ]
        radar = sentinel1.Sentinel1Writer(root, grid, landscape, acquisitions, seed, conversions)
        layers = exposure.ExposureWriter(root, grid, landscape, plan.flood_date, conversions)
        writers += [radar, layers]
    x = grid.column_centres()
    for block, (first, last) in enumerate(blocks):
        y = grid.row_centres(first, last)
        ground = landscape.ground(x, y, RESOLUTION_M)
        for writer in writers:
            writer.write_block(block, first, x, y, ground, block == len(blocks) - 1)
        del ground
        steps.advance("10 m grid: truth, Sentinel-2, Sentinel-1")
    steps.lap("10 m rasters")
    document["land_cover"] = truth_writer.land_cover_truth()
    if plan.season_dates:
        document["vegetation_strata"] = truth_writer.strata_truth(
            [*plan.optical_dates, *plan.season_dates], plan.landscape.latitude
        )
    document["shoreline"] = shoreline_truth(landscape, grid)
    items = []
    if optical is not None:
        items += optical.items()
    if radar is not None:
        items += radar.items() + layers.items(plan.start, plan.end)
        document["flood"] = {
            "event_date": plan.flood_date.isoformat(),
            "pre_event_date": pre_event.isoformat(),
            "raster": sentinel1.FLOOD_TRUTH,
            **radar.flood_truth(),
            "imperviousness": layers.path(exposure.IMPERVIOUSNESS).relative_to(root).as_posix(),
            "population": layers.path(exposure.POPULATION).relative_to(root).as_posix(),
            "definition": "flooded land at the post-event acquisition; permanent water "
            "(water covering half the pixel at that date) excluded",
        }
    return items


def _optical_scenes(
    plan: _Plan, dates: list[date], clouds: int, stream: int
) -> list[sentinel2.Scene]:
    """Sentinel-2 scenes at `dates`, the n-th with the clouds of random stream `clouds` + n and
    the noise of stream `stream` + n."""
    return [
        sentinel2.Scene(
            plan.item_id(sentinel2.COLLECTION, day),
            day,
            sentinel2.Clouds.draw(
                np.random.default_rng([plan.seed, clouds + index]), plan.landscape, plan.grid
            ),
            stream + index,
        )
        for index, day in enumerate(dates)
    ]


def _change_truth(root: Path, plan: _Plan) -> dict[str, Any]:
    """The planted changes' section of truth.json, their polygons written beside it."""
    section, polygons = planted_changes.change_truth(
        plan.landscape, plan.grid, plan.communes, plan.optical_dates[-2], plan.optical_dates[-1]
    )
    path = root / section["polygons"]
    path.write_text(json.dumps(polygons) + "\n", encoding="utf-8")
    return section


def _landsat_products(
    root: Path, plan: _Plan, conversions: Conversions, steps: _Steps, document: dict[str, Any]
) -> list[Item]:
    """A Landsat scene a summer (three days after each optical date), at the plan's level."""
    level, items, scenes = plan.landsat_level, [], []
    communes = [landsat.Commune(r.code, r.name, r.geometry) for r in plan.communes]
    for index, day in enumerate(plan.landsat_dates):
        kind = "L1TP" if level == 1 else "L2SP"
        product_id = f"LC08_{kind}_000000_{day:%Y%m%d}_{day + timedelta(days=1):%Y%m%d}_02_T1"
        clouds = None
        if level == 2:
            rng = np.random.default_rng([plan.seed, 200 + index])
            cover = float(rng.choice(landsat.LEVEL2_CLOUD_COVERS))
            clouds = sentinel2.Clouds.draw(rng, plan.landscape, plan.grid, cover)
        scene = landsat.LandsatScene(
            plan.item_id(landsat.COLLECTION, day), product_id, day, 20 + index, clouds
        )
        product = landsat.LandsatProduct(
            root, plan.grid, plan.landscape, scene, plan.seed, level, communes
        )
        items.append(product.generate(lambda: steps.advance("Landsat 8 (30 m)"), conversions))
        scenes.append(product.temperature_truth())
    document["land_surface_temperature"] = {
        "level": level,
        "scenes": scenes,
        "heat_island_amplitude_c": plan.landscape.heat_island_amplitude_c,
        "ring_m": landsat.RING_M,
        "suhi_definition": landsat.SUHI_DEFINITION,
        "density_definition": "density_heat_island_c: land pixels whose urban density is at "
        f"least {landsat.URBAN_DENSITY} minus those below {landsat.RURAL_DENSITY}",
        "chain": "Level-1: L = ML*DN + AL; BT = K2/ln(K1/L + 1); NDVI from reflectance "
        "REFLECTANCE_MULT*DN + REFLECTANCE_ADD of B4 and B5; Pv = clip((NDVI - 0.2)/0.3, 0, "
        "1)**2; e = 0.004*Pv + 0.986; LST = BT/(1 + (10.895e-6*BT/1.4388e-2)*ln e) - 273.15. "
        "Level-2: LST = ST_B10*0.00341802 + 149.0 - 273.15 where QA_PIXEL is clear",
    }
    steps.lap("landsat")
    return items


def _viirs_product(
    root: Path, plan: _Plan, conversions: Conversions, steps: _Steps, document: dict[str, Any]
) -> Item:
    product = viirs.ViirsProduct(
        root,
        plan.item_id(viirs.COLLECTION, plan.start, plan.end),
        plan.grid,
        plan.landscape,
        [viirs.Commune(record.code, record.name, record.geometry) for record in plan.communes],
        plan.start,
        plan.end,
        plan.seed,
    )
    item = product.generate(lambda: steps.advance("VIIRS nights"), conversions)
    document["night_lighting"] = {
        "raster": viirs.COMMUNES_TRUTH,
        "natural_radiance": viirs.NATURAL_RADIANCE,
        "classes": {
            kind: {"probability": probability, "artificial_light_drop": [low, high]}
            for kind, (probability, low, high) in viirs.EXTINCTION_CLASSES.items()
        },
        "communes": product.extinction_truth(),
    }
    steps.lap("viirs")
    return item


def _territories_near(
    settings: Settings, footprint: BaseGeometry
) -> tuple[list[TerritoryRecord], list[TerritoryRecord]]:
    """Demo communes meeting the footprint (sorted by code), and départements near it."""
    try:
        records = list(read_demo_territories(settings.data_dir))
    except ConfigurationError:
        return [], []
    near = footprint.buffer(max(footprint.bounds[2] - footprint.bounds[0], 0.05))
    communes = sorted(
        (
            r
            for r in records
            if r.level == TerritoryLevel.COMMUNE and r.geometry.intersects(footprint)
        ),
        key=lambda record: record.code,
    )
    departements = [
        r for r in records if r.level == TerritoryLevel.DEPARTEMENT and r.geometry.intersects(near)
    ]
    return communes, departements


def _settlements(communes: list[TerritoryRecord], epsg: int) -> list[Settlement]:
    """Each commune's people, gathered at a point inside it, in the grid's CRS."""
    transformer = from_lonlat(epsg)
    settlements = []
    for record in communes:
        point = record.geometry.representative_point()
        x, y = transformer.transform(point.x, point.y)
        settlements.append(Settlement(record.code, record.name, x, y, record.population or 300))
    return settlements


def _sea_hint(
    seed: int, footprint: BaseGeometry, departements: list[TerritoryRecord]
) -> tuple[tuple[float, float], float]:
    """Which way the sea lies and how much of the grid it takes: from the real coast when the
    départements show one within three grid widths, else drawn from the seed."""
    west, south, east, north = footprint.bounds
    width, height = east - west, north - south
    longitudes, latitudes = np.meshgrid(
        np.linspace(west - width, east + width, 48), np.linspace(south - height, north + height, 48)
    )
    inside = (abs(longitudes - (west + east) / 2) <= width / 2) & (
        abs(latitudes - (south + north) / 2) <= height / 2
    )
    land = np.zeros(longitudes.shape, bool)
    for record in departements:
        land |= shapely.contains_xy(record.geometry, longitudes, latitudes)
    if departements and 0.03 < 1.0 - land.mean() < 0.97:
        scale = math.cos(math.radians((south + north) / 2))
        east_m = (longitudes[~land].mean() - longitudes.mean()) * scale
        north_m = latitudes[~land].mean() - latitudes.mean()
        length = math.hypot(east_m, north_m)
        if length > 0:
            sea_share = 1.0 - land[inside].mean()
            return (east_m / length, north_m / length), float(np.clip(sea_share, 0.1, 0.35))
    rng = np.random.default_rng([seed, 4])
    angle = rng.uniform(0, 2 * math.pi)
    return (math.cos(angle), math.sin(angle)), float(rng.uniform(0.12, 0.25))


def _optical_dates(rng: np.random.Generator, start: date, end: date, latitude: float) -> list[date]:
    """One clear-season date a year (local midsummer, give or take 12 days) within the period."""
    month = 7 if latitude >= 0 else 1
    dates = []
    for year in range(start.year, end.year + 1):
        day = date(year, month, 15) + timedelta(days=int(rng.integers(-12, 13)))
        if start <= day <= end:
            dates.append(day)
    return dates or [start + (end - start) / 2]


def season_dates(seed: int, summer: date, start: date, end: date, latitude: float) -> list[date]:
    """A spring and an autumn date around a summer optical date (late April and late September
    north, give or take 10 days; six months on south), those within the period: with the summer
    scene, the three seasons `vegetation-strata` unmixes."""
    rng = np.random.default_rng([seed, 5])
    months = (4, 9) if latitude >= 0 else (10, 3)
    days = [
        date(summer.year, month, 22) + timedelta(days=int(rng.integers(-10, 11)))
        for month in months
    ]
    return sorted(day for day in days if start <= day <= end)


def _flood_date(rng: np.random.Generator, start: date, end: date, latitude: float) -> date:
    """A wet-season day (November–February north, January–March south) with room for the
    pre-event acquisition; the period's middle when it holds none."""
    months = (11, 12, 1, 2) if latitude >= 0 else (1, 2, 3)
    first = start + timedelta(days=SENTINEL1_REPEAT_DAYS)
    candidates = [
        first + timedelta(days=offset)
        for offset in range((end - first).days + 1)
        if (first + timedelta(days=offset)).month in months
    ]
    if not candidates:
        return max(first, start + (end - start) / 2)
    return candidates[int(rng.integers(len(candidates)))]


def _truth_document(plan: _Plan, items: list[Item]) -> dict[str, Any]:
    """The run's identity and the urban truth; each product adds its own section."""
    target, grid, landscape = plan.target, plan.grid, plan.landscape
    transformer = to_lonlat(grid.epsg)
    footprint = grid.footprint()

    def lonlat(x: float, y: float) -> list[float]:
        longitude, latitude = transformer.transform(x, y)
        return [round(longitude, 6), round(latitude, 6)]

    return {
        "generator": "territoires synth",
        "seed": plan.seed,
        "size": plan.size,
        "sensors": list(plan.sensors),
        "target": {
            "code": target.code,
            "name": target.name,
            "bbox": [round(value, 7) for value in target.bbox],
        },
        "crs": f"EPSG:{grid.epsg}",
        "grid_10m": {
            "shape": [grid.height, grid.width],
            "transform": list(grid.transform)[:6],
            "bounds": list(grid.bounds),
        },
        "bbox": [round(value, 7) for value in footprint.bounds],
        "period": {"start": plan.start.isoformat(), "end": plan.end.isoformat()},
        "scenes": [
            {
                "collection": item.collection,
                "id": item.id,
                "date": item.when.isoformat() if isinstance(item.when, date) else None,
            }
            | (
                {"cloud_cover": item.properties["eo:cloud_cover"]}
                if "eo:cloud_cover" in item.properties
                else {}
            )
            for item in items
        ],
        "urban": {
            "settlements": [
                {
                    "code": settlement.code,
                    "name": settlement.name,
                    "population": settlement.population,
                    "lonlat": lonlat(settlement.x, settlement.y),
                }
                for settlement in plan.settlements
            ],
            "cores": [
                {
                    "lonlat": lonlat(blob.x + landscape.origin_x, blob.y + landscape.origin_y),
                    "sigma_m": round(blob.sigma, 1),
                    "density": round(blob.amplitude, 3),
                }
                for blob in sorted(landscape.blobs, key=lambda blob: -blob.amplitude)
            ],
        },
    }
