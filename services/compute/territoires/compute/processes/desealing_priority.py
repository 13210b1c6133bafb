"""`desealing-priority`: where to de-seal first — sealed ground that no building covers (car
parks, yards, squares), scored by heat, lack of canopy and nearness to sensitive places, and
grouped into ranked sectors per commune.

On the 10 m grid of the period's Sentinel-2 scenes, unmixed as `imperviousness` does (sealed =
roofs + asphalt, trees from the same fit), a cell is a candidate when its sealed share reaches
`sealed_threshold` and no catalogued building footprint touches it (the `buildings`
collection `local-climate-zones` reads) nor on a street (the items' `roads` lines widened to
`road_width_m`: streets carry traffic, they are not de-sealed). Each candidate is scored, 0 to 1:

    score = (w_heat·heat + w_canopy·(1 − canopy) + w_places·near) / (w_heat + w_canopy + w_places)

- heat: the cell's LST (the mean of the period's Landsat scenes, `land-surface-temperature`'s
  reader, cloud-free) normalised within its territory: (LST − p5) / (p95 − p5), clipped to 0–1;
- canopy: the mean tree share of the cells within `canopy_radius_m` (a square window);
- near: 1 at a sensitive place (schools, care homes, crèches: the catalogued point or polygon
  collection the `places` input names) falling linearly to 0 at `places_radius_m`; without
  `places` the term and its weight are left out.

Sectors are the 4-connected groups of candidate cells covering at least `min_area_m2`, each
belonging to the commune holding most of its cells and ranked there by its mean score. Flood
exposure is not scored yet.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any, ClassVar

import numpy as np
import shapely
from rasterio.features import rasterize
from rasterio.features import shapes as outlines
from rasterio.windows import Window
from scipy import ndimage
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import Grid, for_each_block, zone_raster
from territoires.compute.inputs import Interval, number, text
from territoires.compute.kernels import lazy
from territoires.compute.kernels.endmembers import group_weights
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import Plan, RunningJob
from territoires.compute.processes.imperviousness import (
    SENTINEL2,
    Unmixed,
    check_unmixable,
    optical_frame,
    scene_resolution,
)
from territoires.compute.processes.land_surface_temperature import (
    LANDSAT,
    ThermalBands,
    ThermalReader,
    mean_of,
    write_raster,
)
from territoires.compute.processes.local_climate_zones import (
    BUILDINGS,
    GROUPS,
    pin_vectors,
    read_layer,
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
from territoires.compute.sources import Scene, Zone, find_scenes, scenes_by_id
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError

masks, unmixing, lst_kernel = lazy("masks"), lazy("unmixing"), lazy("lst")

MAX_THERMAL_SCENES = 8
DEFAULTS = {
    "sealed_threshold": (0.5, 0.05, 1.0),
    "canopy_radius_m": (100.0, 10.0, 1000.0),
    "places_radius_m": (300.0, 10.0, 5000.0),
    "road_width_m": (15.0, 0.0, 100.0),
    "min_area_m2": (1000.0, 0.0, 1e7),
    "weight_heat": (0.5, 0.0, 10.0),
    "weight_canopy": (0.3, 0.0, 10.0),
    "weight_places": (0.2, 0.0, 10.0),
}
"""Each numeric input's (default, minimum, maximum)."""
TITLES = {
    "sealed_threshold": "Sealed share (0–1) from which a non-built cell is a candidate",
    "canopy_radius_m": "Radius (m) of the neighbourhood whose tree share is the canopy",
    "places_radius_m": "Distance (m) at which a sensitive place stops counting",
    "road_width_m": "Width (m) of the streets of the buildings items' `roads` asset, never "
    "candidates",
    "min_area_m2": "Smallest sector (m²)",
    "weight_heat": "Weight of heat in the score",
    "weight_canopy": "Weight of the lack of canopy in the score",
    "weight_places": "Weight of nearness to sensitive places (when `places` is given)",
}
FORMULA = (
    "score = (w_heat*heat + w_canopy*(1 - canopy) + w_places*near) / (sum of the weights "
    "used); heat = (LST - p5) / (p95 - p5) within the territory, clipped to 0-1; canopy = "
    "mean tree share within canopy_radius_m; near = 1 - distance to a sensitive place / "
    "places_radius_m, at least 0 (left out without `places`)"
)


def _number_input(name: str) -> dict[str, Any]:
    default, low, high = DEFAULTS[name]
    return {
        "title": TITLES[name],
        "schema": {"type": "number", "minimum": low, "maximum": high, "default": default},
        "minOccurs": 0,
        "maxOccurs": 1,
    }


def _collection_input(title: str, description: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "schema": {"type": "string"},
        "minOccurs": 0,
        "maxOccurs": 1,
    }


PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "desealing-priority",
    "title": "De-sealing priority",
    "description": "Sealed ground no building covers (car parks, yards, squares: Sentinel-2 "
    "unmixed as imperviousness does, cells a building footprint touches removed) scored by heat "
    "(Landsat LST normalised within the territory), lack of tree canopy nearby and nearness "
    "to sensitive places when given: " + FORMULA + ". Connected candidate cells form sectors "
    "ranked per commune (desealing-sectors), the score as a COG (desealing-priority).",
    "keywords": ["desealing", "imperviousness", "heat", "ZAN", "car parks"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT,
        "collection": _collection_input(
            "Sentinel-2 collection",
            f"A catalogued Sentinel-2 L2A collection (default {SENTINEL2}).",
        ),
        "thermal": _collection_input(
            "Landsat collection",
            f"A catalogued Landsat 8/9 collection (default {LANDSAT}) with scenes in the period.",
        ),
        "buildings": _collection_input(
            "Buildings collection",
            f"Catalogued building footprints (default {BUILDINGS}), as local-climate-zones "
            "reads them: cells under a footprint are never candidates.",
        ),
        "places": _collection_input(
            "Sensitive places",
            "A catalogued collection whose items' `data` asset holds points or polygons of "
            "sensitive places (schools, care homes, crèches); optional.",
        ),
        **{name: _number_input(name) for name in DEFAULTS},
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "candidate_area_ha (sealed non-built hectares), sectors, "
            "top_sector_score, mean_lst_c, the inputs used and the formula.",
            "schema": {"type": "object"},
        },
    },
    "example": {"inputs": {"territory": "17300", "datetime": "2023-06-01/2023-08-31"}},
}


class DesealingPriority(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("desealing-priority",)
    vector_outputs = ("desealing-sectors",)
    statistics_indicator = "desealing-priority"
    kernels = (unmixing, masks, lst_kernel)
    collections = (SENTINEL2,)
    no_data_figures: ClassVar[dict[str, Any]] = {
        "sectors": 0,
        "reason": "no scene of the period covers the territory",
    }

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """The Sentinel-2 plan, with the period's Landsat scenes, the buildings and the
        sensitive places pinned."""
        plan = await super().validate(inputs, connection)
        thermal = text(inputs, "thermal") or LANDSAT
        area = await planned_area(plan.inputs, connection)
        period = Interval.parse(plan.inputs["datetime"])
        found = await find_scenes(connection, [thermal], area, period, MAX_THERMAL_SCENES)
        if not found:
            raise BadRequestError(
                f"input 'thermal': no scene of collection {thermal!r} covers the area in "
                f"{period}; heat needs a Landsat scene of the period (catalogue one, or ask "
                "for a period with one)"
            )
        for scene in found:
            ThermalBands.of(scene).check_crs(scene)
        pinned = {
            "thermal": [[scene.collection, scene.id] for scene in found],
            "buildings": await pin_vectors(
                plan.inputs, connection, text(inputs, "buildings") or BUILDINGS, "buildings"
            ),
        }
        places = text(inputs, "places")
        if places:
            pinned["places"] = await pin_vectors(plan.inputs, connection, places, "places")
        return Plan(plan.inputs | pinned, plan.pixels, plan.parts)

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        check_unmixable(scenes)
        found = {name: number(inputs, name, *limits) for name, limits in DEFAULTS.items()}
        used = found["weight_heat"] + found["weight_canopy"]
        if not used + (found["weight_places"] if text(inputs, "places") else 0.0) > 0:
            raise BadRequestError(
                "the weights must not all be zero (weight_places counts only with `places`)"
            )
        return found

    def resolution(self, scene: Scene) -> float:
        return scene_resolution(scene)

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        crs, resolution, anchor = await job.in_thread(optical_frame, scenes[0], guard)
        grid, shapes = output_grid(zones, scenes, crs, resolution, anchor)
        async with job.services.engine.connect() as connection:
            thermal = await scenes_by_id(connection, job.inputs["thermal"])
            buildings = await scenes_by_id(connection, job.inputs["buildings"])
            places = await scenes_by_id(connection, job.inputs.get("places", []))
        layers = await self._layers(job, scenes, thermal, guard, grid, shapes)
        await job.progress(60.0)
        built = await job.in_thread(burnt, buildings, "data", guard, grid, True)
        roads = await job.in_thread(
            burnt, buildings, "roads", guard, grid, False, job.inputs["road_width_m"]
        )
        near = None
        if places:
            at = await job.in_thread(burnt, places, "data", guard, grid, True)
            near = nearness(at, grid.resolution, job.inputs["places_radius_m"])
        score, candidates = await job.in_thread(
            scored, layers, built | roads, near, grid.resolution, job.inputs
        )
        await job.progress(75.0)
        path = job.scratch / "desealing-priority.tif"
        await job.in_thread(write_raster, path, grid, score, "desealing-priority")
        sectors = await job.in_thread(
            find_sectors, candidates, score, layers, grid, job.inputs["min_area_m2"]
        )
        period = Interval.parse(job.inputs["datetime"])
        cell_ha = grid.resolution**2 / 10_000.0
        figures, features = [], []
        for number_, zone in enumerate(zones, start=1):
            own = sorted(
                (s for s in sectors if s[1]["zone"] == number_), key=lambda s: -s[1]["score"]
            )
            for rank, (_, properties) in enumerate(own, start=1):
                properties["rank"] = rank
                properties["commune"] = zone.code
                del properties["zone"]
            features += [
                Feature(
                    indicator="desealing-sectors",
                    geometry=in_lonlat(polygon, grid.crs),
                    properties=properties,
                    period=period,
                    territory=zone.code,
                )
                for polygon, properties in own
            ]
            inside = layers["zones"] == number_
            figures.append(
                {
                    "candidate_area_ha": round(float((candidates & inside).sum()) * cell_ha, 2),
                    "sectors": len(own),
                    "sector_area_ha": round(sum(p["area_ha"] for _, p in own), 2),
                    "top_sector_score": own[0][1]["score"] if own else None,
                    "mean_lst_c": finite_mean(layers["lst"][inside]),
                    "places": bool(places),
                    "inputs": {name: job.inputs[name] for name in DEFAULTS},
                    "definitions": {
                        "candidate": "sealed share >= sealed_threshold, touched by no "
                        "building footprint, centre on no street (roads widened to "
                        "road_width_m)",
                        "score": FORMULA,
                        "sectors": "4-connected candidate cells of at least min_area_m2, "
                        "ranked per commune by mean score",
                        "flood": "not scored",
                    },
                }
            )
        return Computed(
            figures=figures, grid=grid, rasters={"desealing-priority": path}, features=features
        )

    async def _layers(
        self,
        job: RunningJob,
        scenes: list[Scene],
        thermal: list[Scene],
        guard: AssetGuard,
        grid: Grid,
        shapes: list,
    ) -> dict[str, np.ndarray]:
        """On the grid: the sealed and tree shares (0–1), the mean LST (°C) and zone ids."""
        shape_ = (grid.height, grid.width)
        found = {
            "sealed": np.full(shape_, np.nan, np.float32),
            "tree": np.full(shape_, np.nan, np.float32),
            "zones": np.zeros(shape_, np.int32),
        }
        temperatures = np.full((len(thermal), *shape_), np.nan, np.float32)
        groups = [group_weights(GROUPS[name]) for name in ("sealed", "tree")]
        unmixed = Unmixed(scenes, guard, groups)
        with ExitStack() as stack:
            await job.in_thread(unmixed.open, grid, stack)
            readers = await job.in_thread(
                lambda: [
                    ThermalReader(scene, ThermalBands.of(scene), grid, stack, guard)
                    for scene in thermal
                ]
            )

            def block(window: Window) -> None:
                cells = window.toslices()
                sealed, tree = unmixed.shares(window)
                found["sealed"][cells] = sealed / 100.0
                found["tree"][cells] = tree / 100.0
                found["zones"][cells] = zone_raster(shapes, grid, window)
                for index, reader in enumerate(readers):
                    temperatures[index][cells] = reader.read(window)[0]

            await for_each_block(grid.windows(), block, job.executor, job.progress, (5.0, 55.0))
        found["lst"] = mean_of(temperatures)
        return found


def burnt(
    sources: list[Scene], key: str, guard: AssetGuard, grid: Grid, touched: bool, width: float = 0.0
) -> np.ndarray:
    """Where the items' `key` geometries (widened to `width` when lines) lie on the grid: cell
    centres, or every cell they touch."""
    geometries = [
        geometry.buffer(width / 2.0) if width else geometry
        for source in sources
        if key in source.content.get("assets", {})
        for geometry in read_layer(source, key, guard, grid.crs, grid.bounds)[0].tolist()
        if geometry is not None and not geometry.is_empty
    ]
    if not geometries:
        return np.zeros((grid.height, grid.width), np.bool_)
    return rasterize(
        [(shapely.make_valid(geometry), 1) for geometry in geometries],
        out_shape=(grid.height, grid.width),
        transform=grid.transform,
        fill=0,
        all_touched=touched,
        dtype=np.uint8,
    ).astype(np.bool_)


def nearness(places: np.ndarray, resolution: float, radius_m: float) -> np.ndarray:
    """1 on a place, falling linearly to 0 at `radius_m` from the nearest."""
    if not places.any():
        return np.zeros(places.shape, np.float32)
    distance = ndimage.distance_transform_edt(~places) * resolution
    return np.clip(1.0 - distance / radius_m, 0.0, 1.0).astype(np.float32)


def normalised_heat(lst: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """Each cell's LST as (LST − p5) / (p95 − p5) of its territory's cells, clipped to 0–1."""
    heat = np.full(lst.shape, np.nan, np.float32)
    for number_ in np.unique(zones[zones > 0]):
        inside = (zones == number_) & np.isfinite(lst)
        if not inside.any():
            continue
        low, high = np.percentile(lst[inside], (5, 95))
        heat[inside] = np.clip((lst[inside] - low) / max(high - low, 1e-6), 0.0, 1.0)
    return heat


def scored(
    layers: dict[str, np.ndarray],
    built: np.ndarray,
    near: np.ndarray | None,
    resolution: float,
    inputs: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """The score of each candidate cell (NaN elsewhere) and where the candidates are; the
    canopy share is kept in `layers` for the sectors' figures. A cell under cloud in every
    Landsat scene counts no heat."""
    sealed, tree = layers["sealed"], layers["tree"]
    candidates = (
        (layers["zones"] > 0) & ~built & (np.nan_to_num(sealed) >= inputs["sealed_threshold"])
    )
    side = max(1, round(2 * inputs["canopy_radius_m"] / resolution) + 1)
    known = np.isfinite(tree)
    counted = ndimage.uniform_filter(known.astype(np.float32), side, mode="constant")
    summed = ndimage.uniform_filter(
        np.where(known, tree, 0).astype(np.float32), side, mode="constant"
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        canopy = np.where(counted > 0, summed / counted, 0.0)
    heat = normalised_heat(layers["lst"], layers["zones"])
    terms = [
        (inputs["weight_heat"], np.nan_to_num(heat)),
        (inputs["weight_canopy"], 1.0 - np.clip(canopy, 0.0, 1.0)),
    ]
    if near is not None:
        terms.append((inputs["weight_places"], near))
    total = sum(weight for weight, _ in terms)
    score = sum(weight * term for weight, term in terms) / total
    score = np.where(candidates, score, np.nan).astype(np.float32)
    layers["canopy"] = canopy.astype(np.float32)
    return score, candidates


def find_sectors(
    candidates: np.ndarray,
    score: np.ndarray,
    layers: dict[str, np.ndarray],
    grid: Grid,
    min_area_m2: float,
) -> list[tuple[Any, dict[str, Any]]]:
    """The 4-connected groups of candidate cells of at least `min_area_m2` (polygons in the
    grid's CRS) with their figures and the zone holding most of their cells."""
    labels, count = ndimage.label(candidates)
    if not count:
        return []
    cell_m2 = grid.resolution**2
    flat = labels.ravel()
    cells = np.bincount(flat, minlength=count + 1)
    kept = np.flatnonzero(cells * cell_m2 >= min_area_m2)
    kept = kept[kept > 0]
    if not kept.size:
        return []

    def mean(values: np.ndarray) -> np.ndarray:
        finite = np.isfinite(values.ravel()) & (flat > 0)
        sums = np.bincount(flat[finite], values.ravel()[finite], count + 1)
        seen = np.bincount(flat[finite], minlength=count + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(seen > 0, sums / np.maximum(seen, 1), np.nan)

    sealed, lst, canopy = (mean(layers[name]) for name in ("sealed", "lst", "canopy"))
    scores = mean(score)
    zones = layers["zones"].ravel()
    owner = {int(label): int(np.bincount(zones[flat == label]).argmax()) for label in kept}
    polygons: dict[int, list] = {}
    keep = np.isin(labels, kept)
    for geometry, value in outlines(labels, mask=keep, connectivity=4, transform=grid.transform):
        polygons.setdefault(int(value), []).append(shape(geometry))
    return [
        (
            shapely.union_all(parts),
            {
                "area_ha": round(float(cells[label]) * cell_m2 / 10_000.0, 3),
                "sealed_share": round(float(sealed[label]), 3),
                "mean_lst_c": None if np.isnan(lst[label]) else round(float(lst[label]), 2),
                "canopy_share": round(float(canopy[label]), 3),
                "score": round(float(scores[label]), 4),
                "zone": owner[label],
            },
        )
        for label, parts in polygons.items()
    ]


def finite_mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 2) if finite.size else None


PROCESS = DesealingPriority()
