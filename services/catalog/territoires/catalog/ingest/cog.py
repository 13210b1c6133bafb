"""GeoTIFFs (COGs or not) → STAC items, from their headers and a decimated valid-data mask.

Files are grouped into scenes by name (`bands.split_band`): `LC08_…_RT_B4.TIF` and
`LC08_…_RT_B5.TIF` in one folder are one item `LC08_…_RT` with assets `B4` and `B5`; `S2X/B04.tif`
and `S2X/B08.tif` are one item `S2X`; a file whose name holds no band token is an item of its
own with one asset, `data`. Item-level `proj:*` come
from the reference band (the finest non-quality band); a band on another grid carries the
`proj:*` fields that differ. Hrefs are absolute paths. A Landsat scene's `<name>_MTL.txt` (or
`.json`) beside its bands becomes its `MTL` asset and gives its calibration (`mtl.Mtl`); a band
file's own scale and offset win over the MTL's.

The acquisition time is, in this order: the operator's `--datetime`; the earliest
TIFFTAG_DATETIME of the scene's files; the first YYYYMMDD date in the scene's name (Landsat and
Sentinel product names start with the acquisition date); otherwise the scene is refused.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rasterio
import shapely
from rasterio.io import DatasetReader

from territoires.catalog.ingest.bands import (
    band_order,
    is_quality_band,
    mission_of,
    sar_properties,
    split_band,
)
from territoires.catalog.ingest.footprint import footprint
from territoires.catalog.ingest.mtl import Mtl, MtlError, mtl_beside, read_groups
from territoires.catalog.ingest.results import Problem

GEOTIFF = "image/tiff; application=geotiff"
COG = f"{GEOTIFF}; profile=cloud-optimized"
EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "projection": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
}
RASTER_SUFFIXES = frozenset({".tif", ".tiff"})
DATE_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
SINGLE_ASSET = "data"
MTL_ASSET = "MTL"


class SceneError(ValueError):
    """A scene that cannot become an item; the message says why, in one line."""


@dataclass(frozen=True)
class Scene:
    """The files of one item: (asset key, path) pairs in natural band order, and the path of
    its Landsat MTL file if it has one."""

    item_id: str
    bands: tuple[tuple[str, str], ...]
    metadata: str | None = None

    @property
    def where(self) -> str:
        """How reports name the scene: its file, or its files as a pattern."""
        first = Path(self.bands[0][1])
        return str(first) if len(self.bands) == 1 else f"{first.parent / self.item_id}_*"


def group_scenes(paths: Iterable[Path]) -> list[Scene]:
    """Scenes of some raster files: band files sharing a folder and a scene name go together;
    a Landsat scene takes the MTL file beside its bands."""
    groups: dict[tuple[Path, str], dict[str, str]] = defaultdict(dict)
    for path in paths:
        scene, band = split_band(path.stem, path.parent.name)
        if band is None:
            groups[(path.parent, path.stem)][SINGLE_ASSET] = str(path)
        else:
            groups[(path.parent, scene)][band] = str(path)
    scenes = []
    for (folder, name), bands in groups.items():
        mission = mission_of(name)
        metadata = (
            mtl_beside(folder, name) if mission and mission.constellation == "landsat" else None
        )
        ordered = tuple(sorted(bands.items(), key=lambda pair: band_order(pair[0])))
        scenes.append(Scene(name, ordered, str(metadata) if metadata else None))
    return scenes


def scene_item(
    scene: Scene, collection: str, when: datetime | None = None, nodata: float | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """The STAC item of a scene, and what of its MTL could not go in; SceneError (or a rasterio
    error) when a file is unusable."""
    mtl, problems = _landsat_metadata(scene)
    with ExitStack() as stack:
        datasets = {key: stack.enter_context(rasterio.open(path)) for key, path in scene.bands}
        item = _item(scene, datasets, collection, when, nodata, mtl)
    if mtl is not None and scene.metadata:
        problems += [
            Problem(scene.metadata, f"{note}; left out of the item") for note in mtl.problems
        ]
    return item, problems


def _landsat_metadata(scene: Scene) -> tuple[Mtl | None, list[Problem]]:
    """The scene's MTL look-ups: empty ones (the Level-2 constants only) for a Landsat scene
    without a readable MTL, None for other missions."""
    mission = mission_of(scene.item_id)
    if mission is None or mission.constellation != "landsat":
        return None, []
    if scene.metadata is None:
        return Mtl({}), []
    try:
        return Mtl(read_groups(Path(scene.metadata))), []
    except MtlError as error:
        reason = f"MTL not read ({error}); the scene went in without its Landsat metadata"
        return Mtl({}), [Problem(scene.metadata, reason)]


def _item(
    scene: Scene,
    datasets: dict[str, DatasetReader],
    collection: str,
    when: datetime | None,
    nodata: float | None,
    mtl: Mtl | None = None,
) -> dict[str, Any]:
    reference = _reference_band(datasets)
    outline = footprint(datasets[reference], nodata)
    mission = mission_of(scene.item_id)
    item_projection = _projection(datasets[reference])
    properties: dict[str, Any] = {"datetime": _acquired(scene, datasets, when)}
    properties |= mission.properties() if mission else {}
    properties |= item_projection
    extensions = {"projection", "raster"}
    if mtl is not None:
        properties |= mtl.properties()
        extensions |= {
            name.split(":")[0] for name in properties if name.startswith(("eo:", "view:"))
        }
    assets: dict[str, Any] = {}
    polarisations = []
    for key, dataset in datasets.items():
        asset = _asset(dataset, nodata)
        # A band on another grid than the reference says which.
        asset |= {
            name: value
            for name, value in _projection(dataset).items()
            if value != item_projection.get(name)
        }
        if mission and (eo_band := mission.eo_band(key)):
            asset["eo:bands"] = [eo_band]
            extensions.add("eo")
        if key.upper() in ("VV", "VH", "HH", "HV"):
            polarisations.append(key.upper())
        if mtl is not None:
            _calibrate(asset, *mtl.band(key))
        assets[key] = asset
    if mtl is not None and scene.metadata:
        assets[MTL_ASSET] = _metadata_asset(scene.metadata)
    if polarisations:
        properties |= sar_properties(scene.item_id, polarisations, mission)
        extensions.add("sar")
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": sorted(EXTENSIONS[name] for name in extensions),
        "id": scene.item_id,
        "collection": collection,
        "geometry": json.loads(shapely.to_geojson(outline)),
        "bbox": list(outline.bounds),
        "properties": properties,
        "links": [],
        "assets": assets,
    }


def _calibrate(asset: dict[str, Any], raster: dict[str, Any], constants: dict[str, Any]) -> None:
    """The MTL's scale and offset on a single-band asset whose file states none, and its
    constants beside them."""
    bands = asset["raster:bands"]
    if raster and len(bands) == 1 and not {"scale", "offset"} & set(bands[0]):
        bands[0] |= raster
    asset |= constants


def _metadata_asset(path: str) -> dict[str, Any]:
    media = "application/json" if path.lower().endswith(".json") else "text/plain"
    href = os.path.normpath(Path(path).absolute())
    return {"href": href, "type": media, "title": "Metadata (MTL)", "roles": ["metadata"]}


def _reference_band(datasets: dict[str, DatasetReader]) -> str:
    """The band whose grid and mask describe the scene: the finest one that is not a QA band."""
    candidates = [key for key in datasets if not is_quality_band(key)] or list(datasets)
    return min(candidates, key=lambda key: abs(datasets[key].transform.a) or math.inf)


def _acquired(scene: Scene, datasets: dict[str, DatasetReader], when: datetime | None) -> str:
    if when is None:
        tagged = [_tiff_datetime(dataset) for dataset in datasets.values()]
        when = min((instant for instant in tagged if instant), default=None)
    if when is None and (match := DATE_IN_NAME.search(scene.item_id)):
        when = datetime(*map(int, match.groups()), tzinfo=UTC)
    if when is None:
        raise SceneError(
            "no acquisition date: no TIFFTAG_DATETIME and no YYYYMMDD in the name; give --datetime"
        )
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tiff_datetime(dataset: DatasetReader) -> datetime | None:
    value = dataset.tags().get("TIFFTAG_DATETIME", "").strip()
    try:
        return datetime.strptime(value, "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _projection(dataset: DatasetReader) -> dict[str, Any]:
    """`proj:*` of a georeferenced grid; only `proj:shape` for one placed by GCPs."""
    fields: dict[str, Any] = {}
    if dataset.crs is not None:
        epsg = dataset.crs.to_epsg()
        if epsg is None:
            fields["proj:wkt2"] = dataset.crs.to_wkt()
        else:
            fields["proj:epsg"] = epsg
        fields["proj:bbox"] = list(dataset.bounds)
        fields["proj:transform"] = list(dataset.transform)[:6]
    fields["proj:shape"] = [dataset.height, dataset.width]
    return fields


def _asset(dataset: DatasetReader, nodata: float | None) -> dict[str, Any]:
    return {
        "href": os.path.normpath(Path(dataset.name).absolute()),
        "type": COG if _cloud_optimized(dataset) else GEOTIFF,
        "roles": ["data"],
        "raster:bands": [_raster_band(dataset, index, nodata) for index in dataset.indexes],
    }


def _cloud_optimized(dataset: DatasetReader) -> bool:
    """Tiled, and small enough for one tile or carrying overviews: what a COG reader needs."""
    if not dataset.profile.get("tiled"):
        return False
    block_height, block_width = dataset.block_shapes[0]
    small = dataset.height <= block_height and dataset.width <= block_width
    return small or bool(dataset.overviews(1))


def _raster_band(dataset: DatasetReader, index: int, nodata: float | None) -> dict[str, Any]:
    band: dict[str, Any] = {"data_type": dataset.dtypes[index - 1]}
    value = nodata if nodata is not None else dataset.nodatavals[index - 1]
    if value is not None:
        band["nodata"] = "nan" if math.isnan(value) else _number(value)
    sampling = dataset.tags().get("AREA_OR_POINT", "").lower()
    if sampling in ("area", "point"):
        band["sampling"] = sampling
    scale, offset = dataset.scales[index - 1], dataset.offsets[index - 1]
    if scale != 1:
        band["scale"] = scale
    if offset != 0:
        band["offset"] = offset
    if unit := dataset.units[index - 1]:
        band["unit"] = unit
    if dataset.crs is not None:
        band["spatial_resolution"] = _number(abs(dataset.res[0]))
    return band


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)
