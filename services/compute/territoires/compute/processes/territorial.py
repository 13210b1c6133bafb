"""Processes over territories or a geometry, a period and catalogued scenes: the inputs they
share, the catalog search that pins their scenes, the fan-out of large requests into batches of
neighbouring communes, and the grid their outputs are computed on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import shapely
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from territoires.compute.blocks import Grid
from territoires.compute.inputs import (
    Interval,
    area_geometry,
    check_names,
    interval,
    territory_codes,
    text,
)
from territoires.compute.outputs import Computed, publish_outputs
from territoires.compute.processes.base import IndicatorProcess, Outcome, Plan, RunningJob
from territoires.compute.results import Statistic, statistics_url
from territoires.compute.sources import (
    Scene,
    Zone,
    commune_zones,
    communes_of,
    explain_no_scenes,
    find_scenes,
    scenes_by_id,
)
from territoires.shared.errors import BadRequestError
from territoires.shared.models import Territory, TerritoryLevel
from territoires.shared.settings import get_settings

MAX_SCENES = 24
"""Scenes a job composites at most (the newest): enough for a season of Sentinel-2 revisits."""
METRES_PER_DEGREE = 111_320.0

TERRITORY_INPUT = {
    "title": "Territories",
    "description": "INSEE code of a commune (17300; a former commune's code means its 2026 "
    "successor), an EPCI (its SIREN, 241700434), a département (17) or a région (region:75) "
    "— every commune of them — or a list of codes. Give this or `geometry`.",
    "schema": {
        "oneOf": [
            {"type": "string", "pattern": "^([a-z]+:)?[0-9AB]{2,9}$"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1},
        ]
    },
    "minOccurs": 0,
    "maxOccurs": 1,
}
GEOMETRY_INPUT = {
    "title": "Area",
    "description": "A GeoJSON Polygon or MultiPolygon in longitude/latitude, instead of "
    "`territory` (figures are then in the results, not in indicator-statistics).",
    "schema": {"$ref": "https://geojson.org/schema/Geometry.json"},
    "minOccurs": 0,
    "maxOccurs": 1,
}
DATETIME_INPUT = {
    "title": "Period",
    "description": "start/end as dates or RFC 3339 date-times, e.g. 2023-06-01/2023-08-31; "
    "the scenes catalogued over the area in this period are used.",
    "schema": {"type": "string", "pattern": "^[^/]+/[^/]+$"},
    "minOccurs": 1,
    "maxOccurs": 1,
}


@dataclass(frozen=True)
class Requested:
    """Where a request asks for: its communes (the territories' codes resolved), or its own
    geometry, and the area they cover (longitude/latitude)."""

    communes: list[str] | None
    geometry: BaseGeometry | None
    area: BaseGeometry

    @classmethod
    async def of(cls, inputs: dict[str, Any], connection: AsyncConnection) -> Requested:
        """From input 'territory' or input 'geometry' (a 400 unless exactly one is given)."""
        codes = territory_codes(inputs)
        geometry = area_geometry(inputs)
        if (codes is None) == (geometry is None):
            raise BadRequestError("give either input 'territory' or input 'geometry'")
        communes = await communes_of(connection, codes) if codes else None
        zones = await commune_zones(connection, communes) if communes else [Zone(geometry)]
        return cls(communes, geometry, shapely.union_all([zone.geometry for zone in zones]))

    def plan(self, normalised: dict[str, Any], pixels: int) -> Plan:
        """The plan of a request's normalised inputs: with its communes (split into parts of
        `fanout_communes`) or its geometry."""
        if self.communes:
            where: dict[str, Any] = {"communes": self.communes}
            parts = math.ceil(len(self.communes) / get_settings().fanout_communes)
        else:
            where, parts = {"geometry": mapping(self.geometry)}, 1
        return Plan(inputs=normalised | where, pixels=pixels, parts=parts)


def zone_key(zone: Zone) -> str:
    return zone.code or "area"


class TerritorialProcess(IndicatorProcess):
    """Subclasses say which collections they read and implement `compute`: the science over
    the job's zones and scenes. Publishing what it made is the shared output step's."""

    collections: ClassVar[tuple[str, ...]] = ()
    no_data_figures: ClassVar[dict[str, Any]] = {}
    """The figures of a territory none of the scenes covers."""

    async def run(self, job: RunningJob) -> Outcome:
        zones, scenes, period = await self.load(job)
        if not scenes:
            return self.empty(zones, job, self.no_data_figures)
        computed = await self.compute(job, zones, scenes)
        return await publish_outputs(self, job, zones, scenes, period, computed)

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        raise NotImplementedError

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        check_names(inputs, self.metadata["inputs"])
        requested = await Requested.of(inputs, connection)
        period = interval(inputs)
        collections = await self.searched_collections(inputs, connection)
        area = requested.area
        scenes = await self.candidate_scenes(inputs, connection, collections, area, period)
        if not scenes:
            raise await explain_no_scenes(connection, collections, area, period)
        chosen = next(c for c in collections if any(s.collection == c for s in scenes))
        scenes = [s for s in scenes if s.collection == chosen][:MAX_SCENES]
        normalised: dict[str, Any] = {
            "datetime": str(period),
            "collection": chosen,
            "scenes": [[s.collection, s.id] for s in scenes],
            **self.options(inputs, scenes),
        }
        return requested.plan(
            normalised, planned_pixels(area, self.resolution(scenes[0])) * len(scenes)
        )

    async def candidate_scenes(
        self,
        inputs: dict[str, Any],
        connection: AsyncConnection,
        collections: list[str],
        area: BaseGeometry,
        period: Interval,
    ) -> list[Scene]:
        """The scenes of the period a job may pin, newest first (the first MAX_SCENES of the
        preferred collection are kept): by default the newest, a season's composite."""
        return await find_scenes(connection, collections, area, period, limit=MAX_SCENES * 4)

    async def searched_collections(
        self, inputs: dict[str, Any], connection: AsyncConnection
    ) -> list[str]:
        """The collections to search, in order of preference: the one the `collection` input
        names, else the process's defaults."""
        chosen = text(inputs, "collection")
        return [chosen] if chosen else list(self.collections)

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        """Process-specific normalised inputs, checked against the scenes found."""
        return {}

    def resolution(self, scene: Scene) -> float:
        """Pixel size (in the scene's CRS units) of the outputs made from `scene`."""
        raise NotImplementedError

    async def split(self, inputs: dict[str, Any], engine: AsyncEngine) -> list[dict]:
        """Batches of neighbouring communes (Z-order of their centres), so each sub-job reads a
        compact window; `fanout_communes` a batch (25: a département of 466 makes 19). The
        batches come largest window first: workers take parts in queue order, so the last to
        start are small ones and the workers finish together (longest-processing-time first;
        in Z-order, one window may be several times another)."""
        batch = get_settings().fanout_communes
        communes = inputs.get("communes") or []
        if len(communes) <= batch:
            return [inputs]
        point = func.ST_PointOnSurface(Territory.geometry)
        outline = Territory.geometry
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    Territory.code,
                    func.ST_X(point),
                    func.ST_Y(point),
                    func.ST_XMin(outline),
                    func.ST_YMin(outline),
                    func.ST_XMax(outline),
                    func.ST_YMax(outline),
                ).where(Territory.level == TerritoryLevel.COMMUNE, Territory.code.in_(communes))
            )
        ordered = sorted(rows, key=lambda row: _z_order(row[1], row[2]))
        batches = [ordered[first : first + batch] for first in range(0, len(ordered), batch)]
        batches.sort(key=_window_area, reverse=True)
        return [inputs | {"communes": [row[0] for row in rows]} for rows in batches]

    async def load(self, job: RunningJob) -> tuple[list[Zone], list[Scene], Interval]:
        """The job's zones and those of its pinned scenes that meet them."""
        async with job.services.engine.connect() as connection:
            if "communes" in job.inputs:
                zones = await commune_zones(connection, job.inputs["communes"])
            else:
                zones = [Zone(shape(job.inputs["geometry"]))]
            scenes = await scenes_by_id(connection, job.inputs["scenes"])
        area = shapely.union_all([zone.geometry for zone in zones])
        scenes = [s for s in scenes if shape(s.content["geometry"]).intersects(area)]
        return zones, scenes, Interval.parse(job.inputs["datetime"])

    def statistics(
        self,
        zones: list[Zone],
        figures: list[dict[str, Any]],
        indicator: str,
        period: Interval,
        item: tuple[str, str] | None,
    ) -> list[Statistic]:
        return [
            Statistic(zone.level, zone.code, indicator, period, zone_figures, item)
            for zone, zone_figures in zip(zones, figures, strict=True)
            if zone.code is not None and zone.level is not None
        ]

    def empty(self, zones: list[Zone], job: RunningJob, figures: dict[str, Any]) -> Outcome:
        """The outcome of a part none of whose pinned scenes meets its zones: its territories
        get `figures` (no pixel), and no raster is written."""
        every = [dict(figures) for _ in zones]
        return Outcome(results=self.figures_output(zones, every, job))

    def figures_output(
        self, zones: list[Zone], figures: list[dict[str, Any]], job: RunningJob
    ) -> dict[str, Any]:
        """The results document's per-territory figures, and the link to the statistics rows."""
        outputs: dict[str, Any] = {
            "figures": {
                "value": {
                    zone_key(zone): zone_figures
                    for zone, zone_figures in zip(zones, figures, strict=True)
                },
                "mediaType": "application/json",
            }
        }
        if any(zone.code for zone in zones):
            outputs["statistics"] = {
                "href": statistics_url(job.base_url, job.owner),
                "rel": "related",
                "type": "application/geo+json",
                "title": "per-territory statistics (OGC API Features)",
            }
        return outputs


async def planned_area(inputs: dict[str, Any], connection: AsyncConnection) -> BaseGeometry:
    """The area of a plan's normalised inputs: its communes' union, or its geometry."""
    if "communes" in inputs:
        zones = await commune_zones(connection, inputs["communes"])
        return shapely.union_all([zone.geometry for zone in zones])
    return shape(inputs["geometry"])


def output_grid(
    zones: list[Zone],
    scenes: list[Scene],
    crs: CRS,
    resolution: float,
    anchor: tuple[float, float],
    margin: float = 0.0,
) -> tuple[Grid, list[tuple[BaseGeometry, int]]]:
    """The grid covering the zones (and `margin` CRS units around them) where scenes have data,
    on the lattice of `anchor`, and the zones in its CRS with their ids (1, 2, …) for
    rasterising."""
    to_grid = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    shapes = [
        (shapely.transform(zone.geometry, to_grid.transform, interleaved=False), number)
        for number, zone in enumerate(zones, start=1)
    ]
    covered = shapely.union_all([shape(scene.content["geometry"]) for scene in scenes])
    data = shapely.transform(covered, to_grid.transform, interleaved=False)
    zones_area = shapely.union_all([geometry for geometry, _ in shapes])
    if zones_area.intersection(data).is_empty:
        raise BadRequestError("the requested area is outside the data of the scenes found")
    extent = (zones_area.buffer(margin) if margin else zones_area).intersection(data)
    return Grid.covering(extent.bounds, crs, resolution, anchor), shapes


def planned_pixels(area: BaseGeometry, resolution_m: float) -> int:
    """About how many cells of `resolution_m` metres cover an area in longitude/latitude."""
    left, bottom, right, top = area.bounds
    width = (right - left) * METRES_PER_DEGREE * math.cos(math.radians((top + bottom) / 2))
    height = (top - bottom) * METRES_PER_DEGREE
    return max(1, int(width * height / resolution_m**2))


def _window_area(rows: list[Any]) -> float:
    """Area (square degrees) of the box around communes given as (code, x, y, xmin, ymin,
    xmax, ymax): what a part reads and writes grows with it."""
    width = max(row[5] for row in rows) - min(row[3] for row in rows)
    height = max(row[6] for row in rows) - min(row[4] for row in rows)
    return width * height


def _z_order(x: float, y: float) -> int:
    """Morton code of a longitude/latitude on a 2¹⁶ grid: close codes, close places."""
    column = int((x + 180.0) / 360.0 * 65535)
    row = int((y + 90.0) / 180.0 * 65535)
    code = 0
    for bit in range(16):
        code |= ((column >> bit) & 1) << (2 * bit) | ((row >> bit) & 1) << (2 * bit + 1)
    return code
