"""Black Marble HDF5-EOS files (VNP46A2, VJ146A2, VNP46A3) → STAC items, read with rasterio's
HDF5 driver: the tile, day and product from the file name, the footprint and grid from the
file's bounding coordinates, and each layer's fill and scale from its attributes, checked
against the published layout so that a file that says otherwise is refused, not misread."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import rasterio
from rasterio.errors import NotGeoreferencedWarning

from territoires.catalog.ingest.results import Converted, Problem
from territoires.catalog.ingest.stac import add_item
from territoires.shared.blackmarble import (
    CELL_DEG,
    HDF5_MEDIA_TYPE,
    OVERPASS_UTC,
    TILE_CELLS,
    Granule,
    parse_name,
    subdataset,
)
from territoires.shared.errors import BadRequestError

SUFFIXES = frozenset({".h5", ".he5"})
BOUNDS = ("WestBoundingCoord", "SouthBoundingCoord", "EastBoundingCoord", "NorthBoundingCoord")


def _iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def granule_item(path: Path) -> dict[str, Any]:
    """The STAC item of one file; BadRequestError saying what is wrong with it."""
    granule = parse_name(path.name)
    if granule is None:
        raise BadRequestError(
            "not a Black Marble file name (PRODUCT.AYYYYDDD.hHHvVV.VVV[.PRODUCED].h5 with "
            "VNP46A2, VJ146A2 or VNP46A3)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # the bounds are attributes
        return _item(path, granule)


def _item(path: Path, granule: Granule) -> dict[str, Any]:
    product = granule.product
    with rasterio.open(str(path)) as container:
        tags = container.tags()
        names = {name.rsplit("/", 1)[-1] for name in container.subdatasets}
    missing = [layer.name for layer in product.layers if layer.name not in names]
    if missing:
        raise BadRequestError(f"{product.short_name} layers missing: {', '.join(missing)}")
    try:
        west, south, east, north = (float(tags[key]) for key in BOUNDS)
    except (KeyError, ValueError):
        raise BadRequestError(f"bounding coordinates missing ({', '.join(BOUNDS)})") from None
    if (west, south, east, north) != granule.bounds:
        raise BadRequestError(
            f"bounds {west, south, east, north} are not those of tile {granule.tile}"
        )
    bands = []
    for layer in product.layers:
        with rasterio.open(subdataset(str(path), product, layer.name)) as dataset:
            if dataset.shape != (TILE_CELLS, TILE_CELLS):
                raise BadRequestError(f"{layer.name} is {dataset.shape}, not 2400×2400")
            scale = dataset.scales[0] or layer.scale
            nodata = dataset.nodata if dataset.nodata is not None else layer.fill
            if abs(scale - layer.scale) > 1e-9 or int(nodata) != layer.fill:
                raise BadRequestError(
                    f"{layer.name}: scale {scale} and fill {nodata}, where the product "
                    f"publishes {layer.scale} and {layer.fill}"
                )
        bands.append(
            {"name": layer.name, "data_type": layer.dtype, "nodata": layer.fill, "scale": scale}
        )
    start, end = granule.period
    footprint = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
        "id": path.stem,
        "collection": product.collection,
        "geometry": {"type": "Polygon", "coordinates": [footprint]},
        "bbox": [west, south, east, north],
        "properties": {
            "datetime": _iso(start),
            "start_datetime": _iso(start),
            "end_datetime": _iso(end),
            "platform": product.platform,
            "instruments": ["viirs"],
            "blackmarble:product": product.short_name,
            "blackmarble:tile": granule.tile,
            "blackmarble:overpass": OVERPASS_UTC[product.platform],
            "proj:epsg": 4326,
            "proj:shape": [TILE_CELLS, TILE_CELLS],
            "proj:transform": [CELL_DEG, 0.0, west, 0.0, -CELL_DEG, north],
        },
        "assets": {
            "data": {
                "href": str(path),
                "type": HDF5_MEDIA_TYPE,
                "title": f"{product.short_name} {granule.tile} HDF5-EOS",
                "roles": ["data"],
                "raster:bands": bands,
            }
        },
        "links": [],
    }


def convert_granule(path: Path) -> Converted:
    converted = Converted()
    try:
        item = granule_item(path)
    except BadRequestError as error:
        converted.problems.append(Problem(str(path), str(error)))
        return converted
    except (rasterio.errors.RasterioError, OSError) as error:
        converted.problems.append(Problem(str(path), f"unreadable HDF5 file ({error})"))
        return converted
    add_item(converted, item, str(path), str(path.parent), None)
    return converted
