"""`land-cover-change`: where the ground was sealed, de-sealed, lost or gained vegetation between
two periods, beyond the noise of the methods, as a class COG, change polygons and, per
territory, the hectares of each a year — what a commune reports under the net-zero land-take
law (ZAN).

Each period's sealed and vegetated shares of every 10 m cell are `imperviousness`'s linear
spectral unmixing (`kernels/unmixing.py`, its readers and endmembers): sealed = roofs +
asphalt, vegetation = trees + herbaceous plants, each a share of the normalised abundances.
Each scene of the period is unmixed on its own (its cloud-free cells, SCL), and the cell's
share for the period is the median over its scenes: haze or a cloud edge the scene
classification misses on one date, which the fit reads as roofs, is outvoted by the others. The
periods are compared in the seasons both hold (a dry autumn meadow is not a summer one).

Significance, per cell: the difference of two estimates, each off by the method's per-cell
error e (RMSE against the planted truth of `territoires synth --changes`: 13 points sealed, 4.3
vegetated), is significant when larger than k·√2·e, k = 2 (about 95 % one-sided for
independent errors): 36.8 points of sealed share, 12.2 of vegetation. A cell is then
  sealed            when the sealed share rose by the sealed threshold,
  de-sealed         when it fell by it,
  vegetation lost   when vegetation fell by its threshold and the sealed share rose by less
                    than half the loss (a loss to sealing is sealing, partial at a parcel's edge),
  vegetation gained when vegetation rose by its threshold and the sealed share fell by less
                    than half the gain,
  unchanged         otherwise.
Then a minimum mapping unit: patches of fewer than 5 cells (0.05 ha) of any class are merged
into their largest neighbour (GDAL's sieve, 4-connected), and those still smaller (no large
neighbour) dropped. Blocks are read with a halo so that the rule sees patches whole.

Change polygons are the 4-connected patches of a class within a territory, with their area,
class and mean changes; the figures count the cells of each class: hectares between the
periods and a year (divided by the years between the periods' middles).
"""

from __future__ import annotations

import math
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import shapely
from rasterio.features import geometry_mask, rasterize, shapes, sieve
from rasterio.windows import Window
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import Grid, Output, for_each_block, zone_raster
from territoires.compute.inputs import (
    Interval,
    check_names,
    interval,
)
from territoires.compute.kernels import lazy
from territoires.compute.kernels.endmembers import group_weights
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import Plan, RunningJob
from territoires.compute.processes.imperviousness import (
    SENTINEL2,
    Imperviousness,
    SceneReader,
    Tables,
    check_unmixable,
    optical_frame,
)
from territoires.compute.processes.territorial import (
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    Requested,
    TerritorialProcess,
    output_grid,
    planned_pixels,
)
from territoires.compute.processes.vegetation_strata import cloud_cover, scene_season
from territoires.compute.results import Feature, in_lonlat
from territoires.compute.sources import (
    Scene,
    Zone,
    explain_no_scenes,
    find_scenes,
)
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError

masks, unmixing = lazy("masks"), lazy("unmixing")

UNCHANGED, SEALED, DESEALED, VEGETATION_LOST, VEGETATION_GAINED = 0, 1, 2, 3, 4
CLASSES = {
    UNCHANGED: "unchanged",
    SEALED: "sealed",
    DESEALED: "de-sealed",
    VEGETATION_LOST: "vegetation lost",
    VEGETATION_GAINED: "vegetation gained",
}
FIGURE_KEYS = {
    SEALED: "sealed",
    DESEALED: "desealed",
    VEGETATION_LOST: "vegetation_lost",
    VEGETATION_GAINED: "vegetation_gained",
}
NODATA = 255
SEALED_CELL_ERROR = 13.0
"""Per-cell RMSE (points) of a period's sealed share against the planted truth (synth 17300,
1024², three seeds: 12.9–13.4; `tests/compute/test_land_cover_change.py` re-measures it)."""
VEGETATION_CELL_ERROR = 4.3
"""The same for the vegetated share (4.0–4.3)."""
CONFIDENCE = 2.0
SEALED_CHANGE = CONFIDENCE * math.sqrt(2.0) * SEALED_CELL_ERROR
VEGETATION_CHANGE = CONFIDENCE * math.sqrt(2.0) * VEGETATION_CELL_ERROR
EXPLAINED = 0.5
"""A vegetation change is sealing (or de-sealing) when the sealed share moved by half of it."""
MIN_CELLS = 5
"""The minimum mapping unit, in cells (0.05 ha at 10 m)."""
HALO = 16
"""Cells read around each block so that the minimum mapping unit sees patches whole."""
MAX_PERIOD_SCENES = 12
"""Scenes a period's median is taken over at most (the least cloudy)."""
DAYS_PER_YEAR = 365.25
NO_OBSERVATION = (
    "no cell of the territory seen cloud-free in both periods (every cell masked as cloud, "
    "cloud shadow, cirrus or no data in the scene classification, or not fitted)"
)
VEGETATION = ("trees", "herbaceous")
"""The unmixing's endmembers whose abundances are the vegetated share."""

PERIOD_DESCRIPTION = (
    "start/end as dates or RFC 3339 date-times, e.g. {example}: the Sentinel-2 scenes "
    "catalogued over the area in this period, in the seasons both periods hold (several a "
    "period: a cell's share is their median)."
)
PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "land-cover-change",
    "title": "Land-cover change (sealed, de-sealed, vegetation lost and gained)",
    "description": "Between two periods, the 10 m cells whose sealed share or vegetation "
    "changed beyond the noise of the method: each period's shares from Sentinel-2 L2A by the "
    "imperviousness process's spectral unmixing (sealed = roofs + asphalt, vegetation = trees "
    "+ herbaceous), the median of the period's scenes in the seasons both periods hold; a "
    "cell is sealed or de-sealed when its sealed share moved by 36.8 points, lost or gained "
    "vegetation when its vegetated share moved by 12.2 points and the sealed share by less "
    "than half as much (k·√2·e, k = 2, e the per-cell error measured on synthetic truth), "
    "with a minimum mapping unit of 5 cells (0.05 ha). A class COG, the change polygons with "
    "their area, and per territory the hectares sealed, de-sealed, vegetation lost and "
    "gained, in all and a year (the ZAN figures).",
    "keywords": [
        "land cover change",
        "sealed soil",
        "ZAN",
        "land take",
        "vegetation",
        "Sentinel-2",
    ],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "before": {
            "title": "Period before",
            "description": PERIOD_DESCRIPTION.format(example="2022-06-01/2022-08-31"),
            "schema": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "after": {
            "title": "Period after",
            "description": PERIOD_DESCRIPTION.format(example="2023-06-01/2023-08-31")
            + " It begins after the period before ends.",
            "schema": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "collection": {
            "title": "Source collection",
            "description": f"A catalogued Sentinel-2 L2A collection (default {SENTINEL2}) whose "
            "items have blue, green, red, nir, swir16 and swir22 bands (eo:bands common names) "
            "and an SCL scene classification.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "sealed_ha, desealed_ha, vegetation_lost_ha, vegetation_gained_ha "
            "(cells of each class between the periods), the same `_per_year`, net_sealed_ha, "
            "years (between the periods' middles), change_polygons, area_ha, observed_area_ha "
            "and valid_share (cells seen in both periods), each period's scenes, the seasons "
            "compared, the thresholds, and `reason` when no cell was seen in both.",
            "schema": {"type": "object"},
        },
    },
    "example": {
        "inputs": {
            "territory": "17300",
            "before": "2022-06-01/2022-08-31",
            "after": "2023-06-01/2023-08-31",
        }
    },
}


def check_periods(before: Interval, after: Interval) -> None:
    """A 400 unless the period after begins once the period before has ended."""
    if before == after:
        raise BadRequestError(
            f"inputs 'before' and 'after' are the same period ({before.start:%Y-%m-%d}/"
            f"{before.end:%Y-%m-%d}): change is measured between two periods, e.g. "
            "before 2022-06-01/2022-08-31 and after 2023-06-01/2023-08-31"
        )
    if after.end <= before.start:
        raise BadRequestError(
            f"input 'after' ({after.start:%Y-%m-%d}/{after.end:%Y-%m-%d}) comes before input "
            f"'before' ({before.start:%Y-%m-%d}/{before.end:%Y-%m-%d}): swap them"
        )
    if after.start <= before.end:
        raise BadRequestError(
            f"inputs 'before' ({before.start:%Y-%m-%d}/{before.end:%Y-%m-%d}) and 'after' "
            f"({after.start:%Y-%m-%d}/{after.end:%Y-%m-%d}) overlap: the period after must "
            "begin once the period before has ended"
        )


def season_of(scene: Scene) -> str:
    """The season a scene was taken in (`endmembers.SEASONS`, winter otherwise)."""
    return scene_season(scene) or "winter"


def years_between(before: Interval, after: Interval) -> float:
    """Years from the middle of the period before to the middle of the period after."""
    middle_before = before.start + (before.end - before.start) / 2
    middle_after = after.start + (after.end - after.start) / 2
    return (middle_after - middle_before).total_seconds() / 86_400 / DAYS_PER_YEAR


class LandCoverChange(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("land-cover-change",)
    vector_outputs = ("land-cover-change-areas",)
    statistics_indicator = "land-cover-change"
    kernels = (unmixing, masks)
    collections = (SENTINEL2,)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "sealed_ha": None,
        "desealed_ha": None,
        "vegetation_lost_ha": None,
        "vegetation_gained_ha": None,
        "valid_share": 0.0,
        "reason": "no scene of the periods covers the territory",
    }

    resolution = Imperviousness.resolution

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """The territory or geometry, two periods in order, scenes in each (the same
        collection, the seasons both hold), with the bands the unmixing needs."""
        check_names(inputs, self.metadata["inputs"])
        periods = {name: interval(inputs, name) for name in ("before", "after")}
        check_periods(periods["before"], periods["after"])
        requested = await Requested.of(inputs, connection)
        area = requested.area
        collections = await self.searched_collections(inputs, connection)
        found: dict[str, list[Scene]] = {}
        for name, period in periods.items():
            found[name] = await find_scenes(
                connection, collections, area, period, limit=MAX_PERIOD_SCENES * 8
            )
            if not found[name]:
                error = await explain_no_scenes(connection, collections, area, period)
                raise BadRequestError(f"input {name!r}: {error}")
        chosen = next(
            (
                c
                for c in collections
                if all(any(s.collection == c for s in v) for v in found.values())
            ),
            None,
        )
        if chosen is None:
            raise BadRequestError(
                f"no collection of {', '.join(collections)} has scenes in both periods"
            )
        picked = pick_scenes(
            {name: [s for s in v if s.collection == chosen] for name, v in found.items()}
        )
        scenes = picked["before"] + picked["after"]
        normalised: dict[str, Any] = {
            "datetime": str(Interval(periods["before"].start, periods["after"].end)),
            "before": str(periods["before"]),
            "after": str(periods["after"]),
            "collection": chosen,
            "scenes": [[s.collection, s.id] for s in scenes],
            "periods": {
                s.id: name for name, chosen_scenes in picked.items() for s in chosen_scenes
            },
            "seasons": sorted({season_of(s) for s in scenes}),
        }
        # Each scene is unmixed twice (sealed, vegetated): a plan of twice its pixels.
        pixels = planned_pixels(area, self.resolution(scenes[0])) * len(scenes) * 2
        return requested.plan(normalised, pixels)

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        periods = {
            "before": Interval.parse(job.inputs["before"]),
            "after": Interval.parse(job.inputs["after"]),
        }
        by_period = {
            name: [s for s in scenes if job.inputs["periods"][s.id] == name] for name in periods
        }
        missing = [name for name, found in by_period.items() if not found]
        if missing:
            reason = f"no scene of the period {missing[0]} covers the territory"
            return Computed(figures=[self.no_data_figures | {"reason": reason} for _ in zones])
        guard = AssetGuard.from_settings(job.services.settings)
        crs, resolution, anchor = await job.in_thread(optical_frame, scenes[0], guard)
        grid, shapes_ = output_grid(zones, scenes, crs, resolution, anchor)
        path = job.scratch / "land-cover-change.tif"
        tally = Tally(len(zones))
        pieces: list[Piece] = []

        with ExitStack() as stack:
            changes = await job.in_thread(ChangeMap, by_period, grid, stack, guard)
            output = Output(path, grid, "uint8", NODATA)
            stack.callback(output.close)

            def block(window: Window) -> None:
                classes, sealed, vegetation = changes.read(window)
                zones_block = zone_raster(shapes_, grid, window)
                classes[zones_block == 0] = NODATA
                tally.add(classes, zones_block)
                output.write(window, classes)
                pieces.extend(change_pieces(classes, zones_block, sealed, vegetation, grid, window))

            await for_each_block(grid.windows(), block, job.executor, job.progress, (2.0, 80.0))

        cell_ha = grid.resolution * grid.resolution / 10_000.0
        whole = Interval(periods["before"].start, periods["after"].end)
        joined = await job.in_thread(joined_pieces, pieces)
        features = change_polygons(joined, grid, zones, whole, cell_ha)
        counted = np.bincount([piece.zone for piece in joined], minlength=len(zones) + 1)
        years = years_between(periods["before"], periods["after"])
        context = {
            "years": round(years, 3),
            "seasons": job.inputs["seasons"],
            "before": period_summary(periods["before"], by_period["before"]),
            "after": period_summary(periods["after"], by_period["after"]),
            "thresholds": {
                "sealed_points": round(SEALED_CHANGE, 1),
                "vegetation_points": round(VEGETATION_CHANGE, 1),
                "minimum_mapping_unit_ha": MIN_CELLS * cell_ha,
            },
        }
        figures = [
            territory_figures(tally, number, cell_ha, years)
            | context
            | {"change_polygons": int(counted[number])}
            for number in range(1, len(zones) + 1)
        ]
        return Computed(
            figures=figures, grid=grid, rasters={"land-cover-change": path}, features=features
        )


class ChangeMap:
    """The periods' scenes on the output grid: a window's change classes (the minimum
    mapping unit applied over a halo around it) and its sealed and vegetated changes."""

    def __init__(
        self, periods: dict[str, list[Scene]], grid: Grid, stack: ExitStack, guard: AssetGuard
    ) -> None:
        self.grid = grid
        self.readers = {
            name: [SceneReader(scene, grid, stack, guard) for scene in scenes]
            for name, scenes in periods.items()
        }
        self.tables = [Tables.make(), Tables.make(group_weights(VEGETATION))]

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(classes, sealed change, vegetation change) of the window's cells (points; NaN and
        NODATA where a period has no observation)."""
        padded = widened(window, self.grid, HALO)
        shares = {
            name: period_shares(readers, padded, self.tables)
            for name, readers in self.readers.items()
        }
        sealed = shares["after"][0] - shares["before"][0]
        vegetation = shares["after"][1] - shares["before"][1]
        classes = mapped(classify(sealed, vegetation))
        inner = inside(window, padded)
        return classes[inner], sealed[inner], vegetation[inner]


def pick_scenes(found: dict[str, list[Scene]]) -> dict[str, list[Scene]]:
    """Each period's scenes in the seasons both hold, the least cloudy MAX_PERIOD_SCENES;
    a 400 when the periods share no season, or a period's scenes are all cloud."""
    seasons = {name: {season_of(s) for s in scenes} for name, scenes in found.items()}
    shared = seasons["before"] & seasons["after"]
    if not shared:
        raise BadRequestError(
            "the periods share no season, and a season's vegetation is not another's (grass "
            f"dries by autumn): the period before holds {', '.join(sorted(seasons['before']))}"
            f" scenes, the period after {', '.join(sorted(seasons['after']))}; ask for the "
            "same months of two years"
        )
    picked = {}
    for name, scenes in found.items():
        kept = sorted((s for s in scenes if season_of(s) in shared), key=cloud_cover)
        try:
            check_unmixable(kept)
        except BadRequestError as error:
            raise BadRequestError(f"input {name!r}: {error}") from None
        picked[name] = sorted(kept[:MAX_PERIOD_SCENES], key=lambda s: s.datetime)
    return picked


def widened(window: Window, grid: Grid, halo: int) -> Window:
    """The window and `halo` cells around it, within the grid."""
    left = max(0, int(window.col_off) - halo)
    top = max(0, int(window.row_off) - halo)
    right = min(grid.width, int(window.col_off + window.width) + halo)
    bottom = min(grid.height, int(window.row_off + window.height) + halo)
    return Window(left, top, right - left, bottom - top)


def inside(window: Window, padded: Window) -> tuple[slice, slice]:
    """Where `window` lies in arrays read over `padded`."""
    row = int(window.row_off - padded.row_off)
    col = int(window.col_off - padded.col_off)
    return slice(row, row + int(window.height)), slice(col, col + int(window.width))


def period_shares(
    readers: list[SceneReader], window: Window, tables: list[Tables]
) -> list[np.ndarray]:
    """A period's percent of each cell of the window in each share `tables` weigh (sealed,
    vegetated): each scene unmixed on its cloud-free cells, the median over the scenes (NaN
    where none saw the cell)."""
    shape = (int(window.height), int(window.width))
    values = np.full((len(tables), len(readers), *shape), np.nan, np.float32)
    for index, reader in enumerate(readers):
        folds = [(t, np.zeros(shape, np.float32), np.zeros(shape, np.uint16)) for t in tables]
        reader.fold(window, folds)
        for kind, (_, sums, counts) in enumerate(folds):
            np.divide(sums, counts, out=values[kind, index], where=counts > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cell no scene saw: NaN
        return list(np.nanmedian(values, axis=1))


def classify(sealed: np.ndarray, vegetation: np.ndarray) -> np.ndarray:
    """Each cell's change class from the changes (after − before, points) of its sealed and
    vegetated shares (module docstring); NODATA where either is unknown."""
    classes = np.full(sealed.shape, UNCHANGED, np.uint8)
    with np.errstate(invalid="ignore"):
        gained = (vegetation >= VEGETATION_CHANGE) & (-sealed < EXPLAINED * vegetation)
        lost = (vegetation <= -VEGETATION_CHANGE) & (sealed < -EXPLAINED * vegetation)
        classes[gained] = VEGETATION_GAINED
        classes[lost] = VEGETATION_LOST
        classes[sealed <= -SEALED_CHANGE] = DESEALED
        classes[sealed >= SEALED_CHANGE] = SEALED
    classes[~(np.isfinite(sealed) & np.isfinite(vegetation))] = NODATA
    return classes


def mapped(classes: np.ndarray) -> np.ndarray:
    """The minimum mapping unit: patches of fewer than MIN_CELLS cells (4-connected) merged
    into their largest neighbour, those still smaller dropped (unchanged); NODATA kept."""
    observed = classes != NODATA
    if not observed.any():
        return classes
    sieved = sieve(np.where(observed, classes, UNCHANGED), MIN_CELLS, connectivity=4, mask=observed)
    changed = observed & (sieved != UNCHANGED)
    kept = [
        (geometry, value)
        for geometry, value in shapes(sieved, mask=changed, connectivity=4)
        if shape(geometry).area >= MIN_CELLS
    ]
    result = (
        rasterize(kept, out_shape=classes.shape, fill=UNCHANGED, dtype=np.uint8)
        if kept
        else np.zeros(classes.shape, np.uint8)
    )
    result[~observed] = NODATA
    return result


@dataclass
class Tally:
    """Cells of each class, observed and in all, per zone (index = zone id)."""

    zones: int
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros((len(CLASSES) + 2, self.zones + 1), np.int64)

    def add(self, classes: np.ndarray, zones_block: np.ndarray) -> None:
        flat = zones_block.ravel()
        codes = classes.ravel()
        for code in CLASSES:
            self.counts[code] += np.bincount(flat, codes == code, self.zones + 1).astype(np.int64)
        self.counts[len(CLASSES)] += np.bincount(flat, codes != NODATA, self.zones + 1).astype(
            np.int64
        )
        self.counts[len(CLASSES) + 1] += np.bincount(flat, minlength=self.zones + 1)


def territory_figures(tally: Tally, zone: int, cell_ha: float, years: float) -> dict[str, Any]:
    """A territory's hectares of each change class, in all and a year."""
    observed = int(tally.counts[len(CLASSES), zone])
    cells = int(tally.counts[len(CLASSES) + 1, zone])
    figures: dict[str, Any] = {
        "area_ha": round(cells * cell_ha, 2),
        "observed_area_ha": round(observed * cell_ha, 2),
        "valid_share": observed / cells if cells else 0.0,
        "definitions": {
            "sealed_ha": "area of the cells whose sealed share rose significantly",
            "desealed_ha": "area of the cells whose sealed share fell significantly",
            "vegetation_lost_ha": "area of the cells whose vegetation fell significantly, "
            "not to sealing",
            "vegetation_gained_ha": "area of the cells whose vegetation rose significantly, "
            "not from de-sealing",
            "per_year": "hectares divided by `years`, between the periods' middles",
        },
    }
    if not observed:
        return (
            figures
            | {f"{key}_ha": None for key in FIGURE_KEYS.values()}
            | {"reason": NO_OBSERVATION}
        )
    for code, key in FIGURE_KEYS.items():
        hectares = int(tally.counts[code, zone]) * cell_ha
        figures[f"{key}_ha"] = round(hectares, 2)
        figures[f"{key}_ha_per_year"] = round(hectares / years, 2) if years > 0 else None
    figures["net_sealed_ha"] = round(figures["sealed_ha"] - figures["desealed_ha"], 2)
    return figures


def period_summary(period: Interval, scenes: list[Scene]) -> dict[str, Any]:
    return {
        "period": str(period),
        "scenes": len(scenes),
        "dates": [f"{s.datetime:%Y-%m-%d}" for s in sorted(scenes, key=lambda s: s.datetime)],
    }


@dataclass(frozen=True)
class Piece:
    """A patch of one class in one zone within a block (grid CRS), with its sums of cells and
    changes; `edge`: it touches a side of the block another block continues."""

    code: int
    zone: int
    geometry: BaseGeometry
    cells: int
    sealed: float
    vegetation: float
    edge: bool


def change_pieces(
    classes: np.ndarray,
    zones_block: np.ndarray,
    sealed: np.ndarray,
    vegetation: np.ndarray,
    grid: Grid,
    window: Window,
) -> list[Piece]:
    """The block's change patches, 4-connected, one class and one zone each."""
    changed = (classes != UNCHANGED) & (classes != NODATA) & (zones_block > 0)
    if not changed.any():
        return []
    labels = (zones_block.astype(np.int64) * 8 + classes).astype(np.int32)
    transform = grid.window_transform(window)
    rows, cols = classes.shape
    found = []
    for geometry, value in shapes(labels, mask=changed, connectivity=4, transform=transform):
        polygon = shape(geometry)
        zone, code = divmod(int(value), 8)
        left, bottom, right, top = polygon.bounds
        first_col, first_row = ~transform @ (left, top)
        last_col, last_row = ~transform @ (right, bottom)
        box = (
            slice(round(first_row), round(last_row)),
            slice(round(first_col), round(last_col)),
        )
        cells = geometry_mask(
            [polygon],
            (box[0].stop - box[0].start, box[1].stop - box[1].start),
            transform @ transform.translation(box[1].start, box[0].start),
            invert=True,
        )
        edge = (
            (box[0].start == 0 and window.row_off > 0)
            or (box[1].start == 0 and window.col_off > 0)
            or (box[0].stop == rows and window.row_off + rows < grid.height)
            or (box[1].stop == cols and window.col_off + cols < grid.width)
        )
        found.append(
            Piece(
                code,
                zone,
                polygon,
                int(cells.sum()),
                float(np.nansum(sealed[box][cells])),
                float(np.nansum(vegetation[box][cells])),
                bool(edge),
            )
        )
    return found


def joined_pieces(pieces: list[Piece]) -> list[Piece]:
    """The blocks' patches, those a block edge cut joined again."""
    whole = [piece for piece in pieces if not piece.edge]
    cut: dict[tuple[int, int], list[Piece]] = {}
    for piece in pieces:
        if piece.edge:
            cut.setdefault((piece.code, piece.zone), []).append(piece)
    for (code, zone), group in cut.items():
        joined = shapely.union_all([piece.geometry for piece in group])
        parts = list(getattr(joined, "geoms", [joined]))
        for part in parts:
            members = [p for p in group if part.contains(p.geometry.representative_point())]
            whole.append(
                Piece(
                    code,
                    zone,
                    part,
                    sum(p.cells for p in members),
                    sum(p.sealed for p in members),
                    sum(p.vegetation for p in members),
                    False,
                )
            )
    return whole


def change_polygons(
    pieces: list[Piece], grid: Grid, zones: list[Zone], period: Interval, cell_ha: float
) -> list[Feature]:
    """The change polygons in longitude/latitude with their class, area and mean changes."""
    features = []
    for piece in pieces:
        zone = zones[piece.zone - 1]
        features.append(
            Feature(
                indicator="land-cover-change-areas",
                geometry=in_lonlat(piece.geometry, grid.crs),
                properties={
                    "class": CLASSES[piece.code],
                    "class_code": piece.code,
                    "area_ha": round(piece.cells * cell_ha, 3),
                    "sealed_change_points": round(piece.sealed / piece.cells, 1),
                    "vegetation_change_points": round(piece.vegetation / piece.cells, 1),
                },
                period=period,
                territory=zone.code,
            )
        )
    return features


PROCESS = LandCoverChange()
