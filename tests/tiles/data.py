"""Small COGs with known values over La Rochelle, and their STAC items, for the tiles tests.

The NDVI result is piecewise constant in 256-pixel blocks, so a tile pixel well inside a block
has exactly that block's value whatever the resampling; one block is nodata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import rasterio
from pyproj import Transformer
from rasterio.shutil import copy as copy_dataset
from rasterio.transform import from_origin

UTM30 = "EPSG:32630"
ORIGIN = (634_000.0, 5_118_000.0)  # top-left corner, metres, UTM zone 30N
NDVI_SIZE = (1024, 1280)  # rows, columns of 10 m pixels
BLOCK = 256
NDVI_NODATA = -9999.0
NODATA_BLOCK = (0, 0)
NEWEST = "2025-07-15T11:00:00Z"
OLDER = "2024-07-15T11:00:00Z"
OLDER_NDVI = 0.5
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
PROJ = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
TO_UTM = Transformer.from_crs("EPSG:4326", UTM30, always_xy=True)
TO_LONLAT = Transformer.from_crs(UTM30, "EPSG:4326", always_xy=True)


def ndvi_value(row: int, col: int) -> float:
    """NDVI of block (row, col): from −0.9 in the north-west to 0.81 in the south-east."""
    return round(-0.9 + 0.09 * (row * 5 + col), 2)


def _block_at(
    lon: float, lat: float, pixel: float, shape: tuple[int, int], block: int, margin_m: float
) -> tuple[int, int] | str | None:
    """Block (row, col) holding a point; None outside the raster; "edge" within `margin_m` of
    a block or raster edge, where resampling may pick either side."""
    x, y = TO_UTM.transform(lon, lat)
    col, row = (x - ORIGIN[0]) / pixel, (ORIGIN[1] - y) / pixel
    margin = margin_m / pixel
    if not (-margin <= row < shape[0] + margin and -margin <= col < shape[1] + margin):
        return None
    if min(row % block, block - row % block, col % block, block - col % block) < margin:
        return "edge"
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        return "edge"
    return int(row // block), int(col // block)


def ndvi_at(lon: float, lat: float, margin_m: float) -> float | str | None:
    """NDVI of the newest result at a point: a value, None (nodata or outside) or "edge"."""
    block = _block_at(lon, lat, 10.0, NDVI_SIZE, BLOCK, margin_m)
    if block is None or block == "edge":
        return block
    return None if block == NODATA_BLOCK else ndvi_value(*block)


def older_at(lon: float, lat: float, margin_m: float) -> bool | str:
    """Whether the older result (same grid, no nodata) covers a point, or "edge"."""
    block = _block_at(lon, lat, 10.0, NDVI_SIZE, BLOCK, margin_m)
    return "edge" if block == "edge" else block is not None


def ndvi_array() -> numpy.ndarray:
    rows, cols = NDVI_SIZE
    data = numpy.empty((rows, cols), dtype="float32")
    for r in range(rows // BLOCK):
        for c in range(cols // BLOCK):
            value = NDVI_NODATA if (r, c) == NODATA_BLOCK else ndvi_value(r, c)
            data[r * BLOCK : (r + 1) * BLOCK, c * BLOCK : (c + 1) * BLOCK] = value
    return data


def write_cog(path: Path, bands: numpy.ndarray, pixel: float, nodata: float | None) -> Path:
    """A COG in UTM 30N with its top-left corner at ORIGIN (through GDAL's COG driver)."""
    bands = bands if bands.ndim == 3 else bands[numpy.newaxis]
    profile = {
        "driver": "GTiff",
        "width": bands.shape[2],
        "height": bands.shape[1],
        "count": bands.shape[0],
        "dtype": bands.dtype.name,
        "crs": UTM30,
        "transform": from_origin(*ORIGIN, pixel, pixel),
        "nodata": nodata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = path.with_suffix(".plain.tif")
    with rasterio.open(plain, "w", **profile) as dataset:
        dataset.write(bands)
    copy_dataset(plain, path, driver="COG", BLOCKSIZE=256, OVERVIEW_RESAMPLING="NEAREST")
    plain.unlink()
    return path


@dataclass(frozen=True)
class Raster:
    """Where a COG lies: its path, shape and pixel size in UTM 30N."""

    path: Path
    shape: tuple[int, int]
    pixel: float

    @property
    def transform(self) -> list[float]:
        return list(from_origin(*ORIGIN, self.pixel, self.pixel))[:6]

    @property
    def lonlat_bbox(self) -> list[float]:
        rows, cols = self.shape
        east, south = ORIGIN[0] + cols * self.pixel, ORIGIN[1] - rows * self.pixel
        corners = [TO_LONLAT.transform(x, y) for x in (ORIGIN[0], east) for y in (south, ORIGIN[1])]
        lons, lats = [c[0] for c in corners], [c[1] for c in corners]
        return [min(lons), min(lats), max(lons), max(lats)]


def stac_item(
    collection: str,
    identifier: str,
    datetime: str,
    raster: Raster,
    assets: dict[str, dict[str, Any]],
    bbox: list[float] | None = None,
) -> dict[str, Any]:
    box = bbox or raster.lonlat_bbox
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [PROJ, EO, RASTER],
        "id": identifier,
        "collection": collection,
        "bbox": box,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [
                    [box[0], box[1]],
                    [box[2], box[1]],
                    [box[2], box[3]],
                    [box[0], box[3]],
                    [box[0], box[1]],
                ]
            ],
        },
        "properties": {
            "datetime": datetime,
            "proj:epsg": 32630,
            "proj:shape": list(raster.shape),
            "proj:transform": raster.transform,
        },
        "assets": assets,
        "links": [],
    }


def cog_asset(href: str, **extra: Any) -> dict[str, Any]:
    return {"href": href, "type": COG_TYPE, "roles": ["data"], **extra}


def collection_document(identifier: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": identifier,
        "title": identifier,
        "description": f"Tiles test collection {identifier}",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-1.3, 46.1, -1.0, 46.25]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }


# Reflectance ×10 000 of the scene's bands: 15 %, 7.5 % and 30 % of the 0–30 % stretch.
SCENE_BANDS = {"B04": ("red", 1500), "B03": ("green", 750), "B02": ("blue", 3000)}
LCZ_PIXEL, LCZ_SIZE, LCZ_BLOCK = 100.0, (128, 128), 32


def lcz_class(row: int, col: int) -> int:
    """LCZ class of 32-pixel block (row, col); block (0, 0) is nodata (0)."""
    return 0 if (row, col) == (0, 0) else 1 + (row * 4 + col) % 17


def lcz_at(lon: float, lat: float, margin_m: float) -> int | str | None:
    """LCZ class at a point (0 for nodata), None outside, or "edge"."""
    block = _block_at(lon, lat, LCZ_PIXEL, LCZ_SIZE, LCZ_BLOCK, margin_m)
    return block if block is None or block == "edge" else lcz_class(*block)


HOSTILE_COLLECTION = "partner-uploads"


def write_test_catalog(storage: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Writes the COGs under `storage`; returns the collections and items to register."""
    ndvi = Raster(
        write_cog(storage / "ndvi" / "newest.tif", ndvi_array(), 10.0, NDVI_NODATA), NDVI_SIZE, 10.0
    )
    older = Raster(
        write_cog(
            storage / "ndvi" / "older.tif",
            numpy.full(NDVI_SIZE, OLDER_NDVI, "float32"),
            10.0,
            NDVI_NODATA,
        ),
        NDVI_SIZE,
        10.0,
    )
    classes = numpy.zeros(LCZ_SIZE, dtype="uint8")
    for r in range(LCZ_SIZE[0] // LCZ_BLOCK):
        for c in range(LCZ_SIZE[1] // LCZ_BLOCK):
            classes[r * LCZ_BLOCK : (r + 1) * LCZ_BLOCK, c * LCZ_BLOCK : (c + 1) * LCZ_BLOCK] = (
                lcz_class(r, c)
            )
    lcz = Raster(write_cog(storage / "lcz" / "lcz.tif", classes, LCZ_PIXEL, 0), LCZ_SIZE, LCZ_PIXEL)
    scene_assets = {}
    for band, (common_name, value) in SCENE_BANDS.items():
        path = write_cog(
            storage / "s2" / f"{band}.tif", numpy.full((64, 64), value, "uint16"), 200.0, 0
        )
        scene_assets[band] = cog_asset(
            str(path),
            **{
                "eo:bands": [{"name": band, "common_name": common_name}],
                "raster:bands": [{"data_type": "uint16", "scale": 0.0001, "offset": 0}],
            },
        )
    scene = Raster(storage / "s2" / "B04.tif", (64, 64), 200.0)
    items = [
        stac_item("ndvi", "ndvi-2025", NEWEST, ndvi, {"ndvi": cog_asset(str(ndvi.path))}),
        stac_item("ndvi", "ndvi-2024", OLDER, older, {"ndvi": cog_asset(str(older.path))}),
        stac_item("lcz", "lcz-2025", NEWEST, lcz, {"data": cog_asset(str(lcz.path))}),
        stac_item("sentinel-2-l2a", "S2-T30TXS-20250715", NEWEST, scene, scene_assets),
    ]
    # Items whose hrefs point outside the storage: the tiler must refuse to read them.
    hostile = {
        "passwd": "/etc/passwd",
        "loopback": "http://127.0.0.1:6379/cog.tif",
        "traversal": f"{storage}/../../../../etc/passwd",
        "vsicurl": "/vsicurl/http://127.0.0.1:6379/cog.tif",
        "file-url": "file:///etc/passwd",
    }
    # In a collection no indicator owns: the pages draw every indicator's collection.
    items += [
        stac_item(HOSTILE_COLLECTION, f"hostile-{name}", NEWEST, ndvi, {"data": cog_asset(href)})
        for name, href in hostile.items()
    ]
    collections = [
        collection_document(c) for c in ("ndvi", "lcz", "sentinel-2-l2a", HOSTILE_COLLECTION)
    ]
    return collections, items
