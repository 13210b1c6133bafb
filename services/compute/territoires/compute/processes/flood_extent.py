"""`flood-extent`: flooded land from Sentinel-1 backscatter before and after an event, as an
ensemble of independent detections in the manner of the Copernicus Global Flood Monitoring.

Each acquisition is read onto the output grid (GCP-only GRD scenes are warped through their
ground control points), turned into linear power — σ0 through the product's calibration
table (sigmaNought LUT) when the item catalogues it, else flagged uncalibrated —, Lee-filtered
and put in dB. Two members vote on each pixel:

(a) split-based thresholding: the post-event image is cut into tiles, the tiles whose
    histogram is bimodal (Ashman's D > 2 between the two Gaussians fitted to it, the smaller
    at least 10 %, the darker below −15 dB and 6 dB below the other: open water) are pooled,
    and Otsu's threshold of the pooled histogram separates water;
(b) change detection: the same split-based Otsu on post − pre (dB), at most −3 dB, flags the
    pixels whose backscatter dropped;
(c) optical, when a Sentinel-2 or Landsat scene is within 3 days of the post-event image and
    clear over at least 10 % of the area: MNDWI > 0 on its clear pixels (SCL or QA masked).

A pixel is flooded when at least half the members voting there flag it (2 of 3 where the
optical scene is clear, 1 of 2 under its clouds or without one), and it is not excluded:
pixels already dark before the event (permanent water, radar shadow, smooth tarmac) are
removed. Without a pre-event scene only (a) runs and permanent water cannot be removed:
the result says so (`notes`) rather than failing.

Exposure: the flooded pixels weighed by a built-up layer (sealed share) and a population grid
pinned when the job is accepted; without a grid, each commune's census population times the
flooded share of its built-up land.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from xml.etree import ElementTree

import numpy as np
import shapely
from pyproj import Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import shapes as outlines
from rasterio.transform import GCPTransformer
from rasterio.warp import transform_geom
from rasterio.windows import Window
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.blocks import (
    Grid,
    Output,
    Raster,
    Source,
    for_each_block,
    open_raster,
    unreadable,
    zone_raster,
)
from territoires.compute.inputs import Interval, text
from territoires.compute.kernels import lazy
from territoires.compute.outputs import Computed
from territoires.compute.processes.base import Plan, RunningJob
from territoires.compute.processes.territorial import (
    DATETIME_INPUT,
    GEOMETRY_INPUT,
    TERRITORY_INPUT,
    TerritorialProcess,
    output_grid,
    planned_area,
)
from territoires.compute.processes.vegetation import Bands, SceneReader
from territoires.compute.readers import opened
from territoires.compute.results import Feature
from territoires.compute.sources import (
    Scene,
    Zone,
    census_populations,
    find_scenes,
    scenes_by_id,
)
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS

masks, sar, spectral = lazy("masks"), lazy("sar"), lazy("spectral")

SENTINEL1 = "sentinel-1-grd"
POLARISATIONS = ("vv", "vh")  # VV first: the better contrast between open water and land
LEE_RADIUS = 2  # a 5 × 5 window
DEFAULT_LOOKS = 4.4  # equivalent number of looks of IW GRDH
TILE = 256
"""Side of a split-based thresholding tile in pixels (2.56 km at 10 m)."""
ASHMAN_D = 2.0
MIN_MODE_SHARE = 0.1
WATER_MODE_DB = -15.0
"""The darker mode of a tile is open water only below this (calm water is −18 to −25 dB)."""
WATER_CONTRAST_DB = 6.0
"""Open water is at least this much darker than land in VV: closer modes are two kinds of land."""
CHANGE_MODE_DB = -3.0
"""The largest change (dB) read as a flood: the change threshold is at most this."""
POLYGON_MIN_HA = 0.5
"""Flooded areas smaller than this are in the mask but not among the polygons."""
EXCLUDE_DB = -15.0
"""Dark before the event when no threshold could be drawn from the post-event image."""
BUILT_UP = "imperviousness-density"
"""Default collection of the built-up layer: sealed share of each pixel in % (HRL IMD-like; the
`imperviousness` process's results are another collection, which `built_up` may name)."""
POPULATION = "population-grid"
"""Default collection of the population grid: residents per cell (GHS-POP-like)."""
TERRITORY_POPULATION = "territory"
"""The `population` input that asks for the census population of each territory instead."""
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
OPTICAL = "sentinel-2-l2a"
"""Default collection of the optical member's scene."""
OPTICAL_DAYS = 3
"""An optical scene is close in time to the post-event acquisition within this many days."""
GREEN, SWIR = ("green",), ("swir16",)
MNDWI_WATER = 0.0
"""Open water where MNDWI = (green − SWIR1) / (green + SWIR1) is above this (Xu 2006)."""
MIN_CLEAR_SHARE = 0.1
"""The optical member votes only when this share of the area is clear of clouds."""

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "flood-extent",
    "title": "Flood extent from Sentinel-1",
    "description": "Flooded land at the newest Sentinel-1 GRD acquisition of the period: "
    "backscatter Lee-filtered in linear power and taken to dB; split-based Otsu thresholding "
    "on tiles with bimodal histograms (Ashman's D > 2) and change detection against the "
    "previous acquisition of the same orbit vote, with the MNDWI of a clear Sentinel-2 or "
    "Landsat scene within 3 days when there is one, a pixel being flooded when at least half "
    "the members voting there flag it; pixels already dark before the event (permanent "
    "water, radar shadow) are removed. Flood mask and member agreement as COGs; flooded area "
    "(ha) and share, flooded built-up area and exposed population per territory; flooded "
    "areas as polygons.",
    "keywords": ["flood", "Sentinel-1", "SAR", "Otsu", "change detection"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": TERRITORY_INPUT,
        "geometry": GEOMETRY_INPUT,
        "datetime": DATETIME_INPUT
        | {
            "description": "start/end; the newest Sentinel-1 acquisition in the period is the "
            "post-event image, the previous one of the same orbit the pre-event image."
        },
        "collection": {
            "title": "Source collection",
            "description": f"A collection of Sentinel-1 GRD items (default {SENTINEL1}).",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "built_up": {
            "title": "Built-up layer",
            "description": "A collection of rasters of the sealed share of each pixel in % "
            f"(default {BUILT_UP}, used when an item covers the area); its newest item up to "
            "the event weighs flooded land into flooded built-up area.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "optical": {
            "title": "Optical scene",
            "description": "A collection of Sentinel-2 L2A or Landsat items (default "
            f"{OPTICAL}, used when one is within {OPTICAL_DAYS} days of the post-event "
            "acquisition): its MNDWI on the clear pixels is a third member, a pixel then being "
            "flooded when 2 of the 3 members flag it.",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "population": {
            "title": "Population grid",
            "description": "A collection of rasters of residents per cell (projected CRS; "
            f"default {POPULATION}, used when an item covers the area), or "
            f"'{TERRITORY_POPULATION}': each territory's census population times the flooded "
            "share of its built-up land (of its land without a built-up layer).",
            "schema": {"type": "string"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Figures per territory",
            "description": "flooded_area_ha, flooded_share (of the observed land), "
            "excluded_area_ha (dark before the event), observed_share, flooded_built_up_ha, "
            "exposed_population and how it was counted (exposure), the members that ran, "
            "their thresholds, whether the backscatter is calibrated, and notes when the "
            "result is degraded.",
            "schema": {"type": "object"},
        },
    },
    "example": {"inputs": {"territory": "17300", "datetime": "2023-10-01/2023-11-30"}},
}


def orbit(scene: Scene) -> tuple[Any, Any]:
    properties = scene.content["properties"]
    return properties.get("sat:orbit_state"), properties.get("sat:relative_orbit")


def polarisation_asset(scene: Scene) -> str:
    """The key of the scene's VV asset (else VH)."""
    assets = {key.lower(): key for key in scene.content.get("assets", {})}
    for polarisation in POLARISATIONS:
        if polarisation in assets:
            return assets[polarisation]
    raise BadRequestError(
        f"scene {scene.id} of {scene.collection} has no VV or VH asset: not a Sentinel-1 GRD item"
    )


@dataclass(frozen=True)
class Radiometry:
    """How a band's values become linear power, and whether that power is σ0."""

    kind: int  # sar.to_linear: 0 dB, 1 linear power, 2 amplitude digital numbers
    calibrated: bool
    note: str | None

    @classmethod
    def of(cls, scene: Scene, key: str, dtype: np.dtype, table: str | None) -> Radiometry:
        """Read from the item: σ0 in dB or linear power when the band says so (a float band,
        unit dB or not); digital numbers are σ0 with the product's calibration table (`table`,
        its asset) and relative backscatter without: thresholds adapt to the scene, figures
        are flagged."""
        band = (scene.asset(key).get("raster:bands") or [{}])[0]
        if dtype.kind == "f":
            decibels = str(band.get("unit", "")).lower() == "db"
            return cls(0 if decibels else 1, True, None)
        if table is not None:
            return cls(2, True, None)
        return cls(
            2,
            False,
            f"scene {scene.id}: digital numbers without a calibration table in the product's "
            "metadata, so backscatter is uncalibrated (DN², relative); thresholds are drawn "
            "from the scene itself",
        )


def local_text(raster: Raster) -> str | None:
    """The text of a local file asset (a product's annotation); None for a remote one, which
    this process does not fetch yet (the band is then flagged uncalibrated)."""
    if "://" in raster.href or raster.href.startswith("/vsi"):
        return None
    with unreadable(raster):
        return Path(raster.href).read_text()


def calibration_asset(scene: Scene, key: str) -> str | None:
    """The asset of the product's calibration annotation for band `key` (Sentinel-1 SAFE
    `calibration-*.xml`, catalogued as `calibration-vv` or `schema-calibration-vv`)."""
    wanted = f"calibration-{key.lower()}"
    return next((k for k in scene.content.get("assets", {}) if k.lower().endswith(wanted)), None)


class CalibrationTable:
    """The sigmaNought LUT A of a GRD product (σ0 = DN² / A², ESA's Sentinel-1 Level-1
    calibration), given on a grid of image lines and pixels, interpolated bilinearly at the
    image position of each output pixel (found through the product's ground control points)."""

    def __init__(self, xml: str, dataset: Any, grid: Grid) -> None:
        vectors = ElementTree.fromstring(xml).iter("calibrationVector")
        lines, pixels, values = [], None, []
        for vector in vectors:
            lines.append(float(vector.findtext("line", "nan")))
            pixels = np.array((vector.findtext("pixel") or "").split(), np.float64)
            values.append(np.array((vector.findtext("sigmaNought") or "").split(), np.float64))
        if pixels is None or any(v.shape != pixels.shape for v in values):
            raise BadRequestError("the product's calibration table has no usable sigmaNought")
        self.lines, self.pixels = np.array(lines), pixels
        self.lut = np.stack(values)
        gcps, gcp_crs = dataset.gcps
        self.image = GCPTransformer(gcps) if gcps else None
        self.affine = dataset.transform
        self.to_image_crs = Transformer.from_crs(grid.crs, gcp_crs or dataset.crs, always_xy=True)
        self.grid = grid

    def gain(self, window: Window) -> np.ndarray:
        """1 / A² at the centres of the window's output pixels."""
        rows, cols = np.mgrid[0 : int(window.height), 0 : int(window.width)] + 0.5
        x, y = self.grid.window_transform(window) * (cols, rows)
        x, y = self.to_image_crs.transform(x, y)
        if self.image is not None:
            line, pixel = self.image.rowcol(x.ravel(), y.ravel(), op=lambda v: v)
        else:
            pixel, line = ~self.affine * (x.ravel(), y.ravel())
        a = _bilinear(self.lines, self.pixels, self.lut, np.asarray(line), np.asarray(pixel))
        return (1.0 / a**2).reshape(rows.shape).astype(np.float32)


def _bilinear(
    lines: np.ndarray, pixels: np.ndarray, lut: np.ndarray, line: np.ndarray, pixel: np.ndarray
) -> np.ndarray:
    """`lut` (lines × pixels) at each (line, pixel), bilinear, clamped at its edges."""
    i = np.clip(np.searchsorted(lines, line) - 1, 0, len(lines) - 2)
    j = np.clip(np.searchsorted(pixels, pixel) - 1, 0, len(pixels) - 2)
    u = np.clip((line - lines[i]) / (lines[i + 1] - lines[i]), 0.0, 1.0)
    v = np.clip((pixel - pixels[j]) / (pixels[j + 1] - pixels[j]), 0.0, 1.0)
    top = lut[i, j] * (1 - v) + lut[i, j + 1] * v
    bottom = lut[i + 1, j] * (1 - v) + lut[i + 1, j + 1] * v
    return top * (1 - u) + bottom * u


class Backscatter:
    """One acquisition's Lee-filtered backscatter (dB) on the output grid, a window at a
    time (read with a halo of LEE_RADIUS pixels so blocks join seamlessly)."""

    def __init__(self, scene: Scene, grid: Grid, stack: ExitStack, guard: AssetGuard) -> None:
        key = polarisation_asset(scene)
        self.scene = scene
        self.grid = grid
        self.source = opened(stack, Source(scene.raster(key, guard), grid, Resampling.bilinear))
        table_key = calibration_asset(scene, key)
        xml = local_text(scene.raster(table_key, guard)) if table_key else None
        self.radiometry = Radiometry.of(scene, key, self.source.dtype, xml)
        self.table = None
        if xml is not None and self.radiometry.kind == 2:
            self.table = CalibrationTable(xml, self.source.dataset, grid)
        looks = scene.content["properties"].get("sar:looks_equivalent_number")
        self.looks = float(looks or DEFAULT_LOOKS)

    def read(self, window: Window) -> np.ndarray:
        r = LEE_RADIUS
        top, left = int(window.row_off) - r, int(window.col_off) - r
        height, width = int(window.height), int(window.width)
        inner_top, inner_left = max(0, top), max(0, left)
        inner_bottom = min(self.grid.height, top + height + 2 * r)
        inner_right = min(self.grid.width, left + width + 2 * r)
        raw = self.source.read(
            Window(inner_left, inner_top, inner_right - inner_left, inner_bottom - inner_top)
        )
        linear = np.empty(raw.shape, np.float32)
        nodata = raw.dtype.type(self.source.nodata) if np.isfinite(self.source.nodata) else 0
        sar.to_linear(raw, self.radiometry.kind, nodata, linear)
        if self.table is not None:
            linear *= self.table.gain(
                Window(inner_left, inner_top, inner_right - inner_left, inner_bottom - inner_top)
            )
        padded = np.full((height + 2 * r, width + 2 * r), np.nan, np.float32)
        padded[inner_top - top : inner_bottom - top, inner_left - left : inner_right - left] = (
            linear
        )
        filtered = np.empty((height, width), np.float32)
        sar.lee_filter(padded, r, self.looks, filtered)
        sar.to_db(filtered, filtered)
        return filtered


@dataclass
class SplitThreshold:
    """Split-based thresholding: the pooled histogram of the tiles found bimodal."""

    value_range: tuple[float, float]
    dark_mode_below: float
    min_contrast: float = 0.0
    pooled: np.ndarray = field(default_factory=lambda: np.zeros(sar.HISTOGRAM_BINS, np.int64))
    tiles: int = 0
    bimodal: int = 0

    def add(self, values: np.ndarray) -> None:
        for row in range(0, values.shape[0], TILE):
            for col in range(0, values.shape[1], TILE):
                counts = sar.histogram(values[row : row + TILE, col : col + TILE], self.value_range)
                if counts.sum() < TILE * TILE // 4:
                    continue
                self.tiles += 1
                threshold = sar.otsu(counts, self.value_range)
                if threshold is None:
                    continue
                d, share, dark, bright = sar.ashman_d(counts, self.value_range, threshold)
                if (
                    d > ASHMAN_D
                    and share >= MIN_MODE_SHARE
                    and dark < self.dark_mode_below
                    and bright - dark >= self.min_contrast
                ):
                    self.bimodal += 1
                    self.pooled += counts

    def threshold(self) -> float | None:
        return sar.otsu(self.pooled, self.value_range) if self.bimodal else None


def flood_polygons(
    flooded: np.ndarray,
    zones_block: np.ndarray,
    grid: Grid,
    window: Window,
    zones: list[Zone],
    period: Interval,
) -> list[Feature]:
    """The block's flooded areas of at least POLYGON_MIN_HA as polygons (longitude/latitude),
    one territory each, 4-connected; an area across a block edge is cut there (blocks are
    1024², 10 km at 10 m), which keeps memory bounded on a whole scene."""
    labelled = np.where(flooded, zones_block, 0).astype(np.int32)
    if not labelled.any():
        return []
    transform = grid.window_transform(window)
    found = []
    for geometry, zone_id in outlines(
        labelled, mask=labelled > 0, connectivity=4, transform=transform
    ):
        polygon = shape(geometry)
        area_ha = polygon.area / 10_000
        if area_ha < POLYGON_MIN_HA:
            continue
        found.append(
            Feature(
                indicator="flood-polygons",
                geometry=shape(transform_geom(grid.crs, "EPSG:4326", geometry)),
                properties={"area_ha": round(area_ha, 2)},
                period=period,
                territory=zones[int(zone_id) - 1].code,
            )
        )
    return found


def layer_asset(scene: Scene) -> str:
    """The band of a single-layer item: its `data` asset, else its only one."""
    assets = scene.content.get("assets", {})
    if "data" in assets or len(assets) != 1:
        return "data"
    return next(iter(assets))


class Exposure:
    """The built-up layer and the population grid on the output grid, a window at a time:
    sealed share of each pixel (0 where unknown) and residents per pixel (a cell's residents
    spread evenly over its area)."""

    def __init__(
        self,
        built: Scene | None,
        population: Scene | None,
        grid: Grid,
        stack: ExitStack,
        guard: AssetGuard,
    ) -> None:
        self.built = self.people = None
        self.per_pixel = 0.0
        if built is not None:
            raster = built.raster(layer_asset(built), guard)
            self.built = opened(stack, Source(raster, grid, Resampling.average))
        if population is not None:
            raster = population.raster(layer_asset(population), guard)
            self.people = opened(stack, Source(raster, grid, Resampling.nearest))
            dataset = self.people.dataset
            if dataset.crs is None or dataset.crs.is_geographic:
                raise BadRequestError(
                    f"population grid {population.id}: residents per cell need a projected "
                    "CRS (cells of equal area), this one has none or is in degrees"
                )
            self.per_pixel = grid.resolution**2 / abs(dataset.transform.a * dataset.transform.e)

    def sealed(self, window: Window) -> np.ndarray:
        if self.built is None:
            return np.zeros((int(window.height), int(window.width)), np.float64)
        values = self.built.read(window).astype(np.float64)
        unknown = (values == self.built.nodata) | ~np.isfinite(values) | (values > 100)
        return np.where(unknown, 0.0, values / 100.0)

    def residents(self, window: Window) -> np.ndarray:
        if self.people is None:
            return np.zeros((int(window.height), int(window.width)), np.float64)
        values = self.people.read(window).astype(np.float64)
        unknown = (values == self.people.nodata) | ~np.isfinite(values) | (values < 0)
        return np.where(unknown, 0.0, values * self.per_pixel)


def mndwi(optical: SceneReader, window: Window) -> np.ndarray:
    """MNDWI of the window's clear pixels (NaN elsewhere): the reader's normalised difference
    of green over SWIR1 folded into an empty composite."""
    values = np.full((int(window.height), int(window.width)), np.nan, np.float32)
    optical.fold(window, values)
    return values


def utm_crs(zones: list[Zone]) -> CRS:
    """The UTM zone of the zones' centre: the output CRS of scenes with no CRS of their own."""
    centre = shapely.union_all([zone.geometry for zone in zones]).centroid
    found = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(centre.x, centre.y, centre.x, centre.y),
    )
    return CRS.from_epsg(int(found[0].code))


class FloodExtent(TerritorialProcess):
    metadata = PROCESS_METADATA
    raster_outputs = ("flood-extent", "flood-agreement")
    vector_outputs = ("flood-polygons",)
    statistics_indicator = "flood-extent"
    kernels = (sar, spectral, masks)
    collections = (SENTINEL1,)
    no_data_figures: ClassVar[dict[str, Any]] = {"flooded_area_ha": None, "observed_share": 0.0}

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """The territorial checks, then the exposure layers pinned: the newest item up to the
        event of the built-up and population collections that covers the area. A collection
        named in the request must have one (a 400); the defaults may be missing, the
        population then being each territory's census population."""
        plan = await super().validate(inputs, connection)
        normalised = plan.inputs
        area = await planned_area(normalised, connection)
        until = Interval(EARLIEST, Interval.parse(normalised["datetime"]).end)
        for name, default in (("built_up", BUILT_UP), ("population", POPULATION)):
            given = text(inputs, name)
            if name == "population" and given == TERRITORY_POPULATION:
                normalised[name] = None
                continue
            found = await find_scenes(connection, [given or default], area, until, limit=1)
            if given and not found:
                raise BadRequestError(
                    f"input {name!r}: no item of collection {given!r} covers the area up to "
                    f"{until.end:%Y-%m-%d}"
                )
            normalised[name] = [found[0].collection, found[0].id] if found else None
        normalised["optical"] = await self._optical_scene(inputs, normalised, area, connection)
        return plan

    @staticmethod
    async def _optical_scene(
        inputs: dict[str, Any],
        normalised: dict[str, Any],
        area: Any,
        connection: AsyncConnection,
    ) -> list[str] | None:
        """The optical scene nearest in time to the post-event acquisition, within
        OPTICAL_DAYS, with green and SWIR1 bands (a 400 without them)."""
        [post] = await scenes_by_id(
            connection, [[normalised["collection"], normalised["post_event"]]]
        )
        days = timedelta(days=OPTICAL_DAYS)
        given = text(inputs, "optical")
        near = Interval(post.datetime - days, post.datetime + days)
        found = await find_scenes(connection, [given or OPTICAL], area, near, limit=16)
        if given and not found:
            raise BadRequestError(
                f"input 'optical': no item of collection {given!r} covers the area within "
                f"{OPTICAL_DAYS} days of the post-event acquisition ({post.datetime:%Y-%m-%d})"
            )
        if not found:
            return None
        nearest = min(found, key=lambda scene: abs(scene.datetime - post.datetime))
        Bands.of(nearest, SWIR, GREEN)
        return [nearest.collection, nearest.id]

    @staticmethod
    async def exposure_sources(
        job: RunningJob, zones: list[Zone]
    ) -> tuple[Scene | None, Scene | None, Scene | None, dict[str, int | None]]:
        """The pinned built-up, population and optical items, and each commune's census
        population."""
        keys = [job.inputs.get(name) for name in ("built_up", "population", "optical")]
        codes = [zone.code for zone in zones if zone.code]
        if not any(keys) and not codes:
            return None, None, None, {}
        async with job.services.engine.connect() as connection:
            found = await scenes_by_id(connection, [key for key in keys if key])
            census = await census_populations(connection, codes)
        built, population, optical = (
            next((s for s in found if key == [s.collection, s.id]), None) for key in keys
        )
        return built, population, optical, census

    def options(self, inputs: dict[str, Any], scenes: list[Scene]) -> dict[str, Any]:
        """The post-event scene (the newest) and the pre-event one: the newest earlier
        acquisition of the same orbit (same direction and relative orbit), so that both see
        the ground from the same geometry. Earlier scenes of other orbits only: a 400."""
        post = scenes[0]
        polarisation_asset(post)
        earlier = [s for s in scenes[1:] if s.datetime < post.datetime]
        same = [s for s in earlier if orbit(s) == orbit(post)]
        if earlier and not same:
            found = ", ".join(sorted({f"{o[0]} {o[1]}" for o in map(orbit, earlier)}))
            raise BadRequestError(
                f"no pre-event Sentinel-1 scene of the post-event scene's orbit ({post.id}, "
                f"{orbit(post)[0]} relative orbit {orbit(post)[1]}) in the period: the earlier "
                f"scenes are of other orbits ({found}), whose backscatter is not comparable; "
                "widen the period to include an acquisition of the same orbit"
            )
        pair = [post, same[0]] if same else [post]
        for scene in pair[1:]:
            polarisation_asset(scene)
        return {
            "scenes": [[s.collection, s.id] for s in pair],
            "post_event": post.id,
            "pre_event": same[0].id if same else None,
        }

    def resolution(self, scene: Scene) -> float:
        properties = scene.content["properties"]
        return float(properties.get("sar:pixel_spacing_range") or properties.get("gsd") or 10)

    async def compute(self, job: RunningJob, zones: list[Zone], scenes: list[Scene]) -> Computed:
        guard = AssetGuard.from_settings(job.services.settings)
        post_scene = next(s for s in scenes if s.id == job.inputs["post_event"])
        pre_scene = next((s for s in scenes if s.id == job.inputs.get("pre_event")), None)
        post_raster = post_scene.raster(polarisation_asset(post_scene), guard)
        with open_raster(post_raster) as reference:
            crs, transform = reference.crs, reference.transform
        anchor = (transform.c, transform.f)
        if crs is None:  # georeferenced by GCPs only: a UTM grid of its own
            crs, anchor = utm_crs(zones), (0.0, 0.0)
        resolution = self.resolution(post_scene)
        grid, shapes = output_grid(zones, [post_scene], crs, resolution, anchor)
        paths = {name: job.scratch / f"{name}.tif" for name in self.raster_outputs}
        notes: list[str] = []
        built_scene, population_scene, optical_scene, census = await self.exposure_sources(
            job, zones
        )

        with ExitStack() as stack:
            exposure = await job.in_thread(
                Exposure, built_scene, population_scene, grid, stack, guard
            )
            post = await job.in_thread(Backscatter, post_scene, grid, stack, guard)
            pre = (
                await job.in_thread(Backscatter, pre_scene, grid, stack, guard)
                if pre_scene
                else None
            )
            # Uncalibrated values are relative: no absolute level says a mode is water.
            backscatter = (
                SplitThreshold(sar.HISTOGRAM_DB, WATER_MODE_DB, WATER_CONTRAST_DB)
                if post.radiometry.calibrated
                else SplitThreshold(sar.RELATIVE_DB, math.inf, WATER_CONTRAST_DB)
            )
            change = SplitThreshold(sar.CHANGE_DB, CHANGE_MODE_DB)
            optical = (
                await job.in_thread(
                    SceneReader,
                    optical_scene,
                    grid,
                    stack,
                    guard,
                    Bands.of(optical_scene, SWIR, GREEN),
                )
                if optical_scene
                else None
            )
            clear = np.zeros(2, np.int64)  # clear optical pixels, observed radar pixels

            def survey(window: Window) -> None:
                after = post.read(window)
                backscatter.add(after)
                if pre is not None:
                    change.add(after - pre.read(window))
                if optical is not None:
                    clear[0] += np.count_nonzero(np.isfinite(mndwi(optical, window)))
                    clear[1] += np.count_nonzero(np.isfinite(after))

            await for_each_block(grid.windows(), survey, job.executor, job.progress, (2.0, 40.0))
            water_db = backscatter.threshold()
            change_db = change.threshold()
            if change_db is not None:
                change_db = round(min(change_db, CHANGE_MODE_DB), 2)
            if water_db is not None:
                water_db = round(water_db, 2)
            members = ["split-threshold"] + (["change-detection"] if pre else [])
            notes += self._notes(post, pre, backscatter, change, water_db, change_db)
            if optical_scene is not None:
                clear_share = clear[0] / clear[1] if clear[1] else 0.0
                if clear_share >= MIN_CLEAR_SHARE:
                    members.append("optical-mndwi")
                else:
                    optical = None
                    notes.append(
                        f"the optical scene {optical_scene.id} is clear over {clear_share:.0%} "
                        f"of the area (under {MIN_CLEAR_SHARE:.0%}): the optical member did "
                        "not vote"
                    )
            radar_members = len(members) - (optical is not None)

            extent_indicator = INDICATORS["flood-extent"]
            extent_out = Output(paths["flood-extent"], grid, "uint8", extent_indicator.nodata)
            agreement_out = Output(
                paths["flood-agreement"], grid, "uint8", INDICATORS["flood-agreement"].nodata
            )
            stack.callback(extent_out.close)
            stack.callback(agreement_out.close)
            counts = np.zeros((4, len(zones) + 1), np.int64)  # zone, observed, flooded, excluded
            # flooded built-up share, built-up share of the land seen, flooded residents
            weighed = np.zeros((3, len(zones) + 1), np.float64)
            features: list[Feature] = []
            period = Interval.parse(job.inputs["datetime"])

            def classify(window: Window) -> None:
                after = post.read(window)
                observed = np.isfinite(after)
                votes = np.zeros(after.shape, np.uint8)
                if water_db is not None:
                    votes += observed & (after < water_db)
                excluded = np.zeros(after.shape, np.bool_)
                if pre is not None:
                    before = pre.read(window)
                    observed &= np.isfinite(before)
                    excluded = observed & (before < (water_db or EXCLUDE_DB))
                    if change_db is not None:
                        votes += observed & (after - before < change_db)
                present = np.full(after.shape, radar_members, np.uint8)
                if optical is not None:
                    index = mndwi(optical, window)
                    seen = np.isfinite(index)
                    votes += observed & seen & (index > MNDWI_WATER)
                    present += seen
                flooded = observed & ~excluded & (2 * votes >= present)
                share = votes.astype(np.uint16) * 100 // present
                agreement = np.where(observed, share, 255).astype(np.uint8)
                zones_block = zone_raster(shapes, grid, window)
                for row, layer in enumerate((None, observed, flooded, excluded)):
                    weights = None if layer is None else layer.ravel()
                    counts[row] += np.bincount(
                        zones_block.ravel(), weights, minlength=len(zones) + 1
                    ).astype(np.int64)
                sealed = exposure.sealed(window)
                land = observed & ~excluded
                for row, layer in enumerate(
                    (flooded * sealed, land * sealed, flooded * exposure.residents(window))
                ):
                    weighed[row] += np.bincount(
                        zones_block.ravel(), layer.ravel(), minlength=len(zones) + 1
                    )
                features.extend(flood_polygons(flooded, zones_block, grid, window, zones, period))
                extent = np.where(observed, flooded, extent_indicator.nodata).astype(np.uint8)
                extent_out.write(window, extent)
                agreement_out.write(window, agreement)

            await for_each_block(grid.windows(), classify, job.executor, job.progress, (40.0, 80.0))

        hectares = grid.resolution**2 / 10_000
        shared = {
            "members": members,
            "thresholds_db": {"backscatter": water_db, "change": change_db},
            "optical_scene": optical_scene.id if optical is not None and optical_scene else None,
            "calibrated": post.radiometry.calibrated and (pre is None or pre.radiometry.calibrated),
            "post_event": post_scene.id,
            "pre_event": pre_scene.id if pre_scene else None,
            "notes": notes,
        }
        figures = []
        for number in range(1, len(zones) + 1):
            pixels, observed, flooded, excluded = (int(c) for c in counts[:, number])
            figures.append(
                {
                    "flooded_area_ha": round(flooded * hectares, 2),
                    "flooded_share": flooded / (observed - excluded)
                    if observed > excluded
                    else None,
                    "excluded_area_ha": round(excluded * hectares, 2),
                    "observed_share": observed / pixels if pixels else 0.0,
                    **shared,
                }
            )
        for number, (zone_figures, zone) in enumerate(zip(figures, zones, strict=True), 1):
            zone_figures["flood_polygons"] = sum(f.territory == zone.code for f in features)
            flooded_built, built_land, residents = weighed[:, number]
            zone_figures["flooded_built_up_ha"] = (
                round(flooded_built * hectares, 2) if built_scene else None
            )
            zone_figures |= self._exposed(
                population_scene,
                residents,
                census.get(zone.code or ""),
                flooded_built / built_land if built_scene and built_land else None,
                zone_figures["flooded_share"],
            )
        return Computed(figures=figures, grid=grid, rasters=paths, features=features)

    @staticmethod
    def _exposed(
        population: Scene | None,
        residents: float,
        census: int | None,
        built_share: float | None,
        land_share: float | None,
    ) -> dict[str, Any]:
        """Residents of the flooded land: summed from the population grid when there is one,
        else the territory's census population times the flooded share of its built-up land
        (of its land without a built-up layer: people are assumed spread evenly)."""
        if population is not None:
            return {
                "exposed_population": round(residents),
                "exposure": f"population grid {population.id}: residents of the flooded pixels",
            }
        share, of = (
            (built_share, "built-up land") if built_share is not None else (land_share, "land")
        )
        if census is None or share is None:
            return {
                "exposed_population": None,
                "exposure": "no population grid covers the area and the area is not a commune "
                "with a census population",
            }
        return {
            "exposed_population": round(census * share),
            "exposure": f"census population ({census}) times the flooded share of its {of} "
            f"({share:.2%}), without a population grid",
        }

    @staticmethod
    def _notes(
        post: Backscatter,
        pre: Backscatter | None,
        backscatter: SplitThreshold,
        change: SplitThreshold,
        water_db: float | None,
        change_db: float | None,
    ) -> list[str]:
        """Why a result is degraded, in words a user reads beside the figures."""
        notes = [b.radiometry.note for b in (post, pre) if b and b.radiometry.note]
        if pre is None:
            notes.append(
                "no pre-event acquisition of the same orbit in the period: change detection "
                "did not run and permanent water is not removed (flooded area includes it)"
            )
        if water_db is None:
            notes.append(
                f"none of the {backscatter.tiles} tiles has a bimodal water/land histogram: "
                "no open water is seen in the post-event image"
            )
        if pre is not None and change_db is None:
            notes.append(
                f"none of the {change.tiles} tiles has a bimodal change histogram: no "
                "backscatter drop is seen between the two acquisitions"
            )
        return notes


PROCESS = FloodExtent()
