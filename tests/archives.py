"""A public archive on loopback, for harvest tests and benchmarks: COGs served over HTTP with
Range requests, and a STAC API (a second instance of our own catalog, on a database of its own)
whose items have the layouts of Earth Search and of the Copernicus Data Space.

The pixels are the real Sentinel-2 L2A reflectances of the data kit (tile 19UDP, 2017-07-29),
relocated over La Rochelle (17300) at 100 m a pixel so that jobs on 17300 find them; the scene
classification is derived from them (water where the near infrared is dark). The item documents
are written from the archives' documented fields (asset keys, `eo:bands`, `raster:bands`,
`proj:*`), not copied from them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from fastapi import FastAPI, Request
from pyproj import Transformer
from rasterio.transform import from_origin
from starlette.staticfiles import StaticFiles

from territoires.catalog.app import create_app as create_catalog
from territoires.catalog.ingest.writer import minimal_collection
from territoires.shared.database import create_sync_database
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items

from .conftest import KIT
from .servers import serve

EPSG = 32630
PIXEL_M = 100.0
CENTRE = (-1.1508, 46.1591)  # La Rochelle
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
PROJ = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"


def kit_band(band: str) -> np.ndarray:
    with rasterio.open(
        KIT / "data" / "scenes" / "sentinel2" / f"S2_19UDP_20170729_L2A_{band}.tif"
    ) as source:
        return source.read(1)


def write_scene(folder: Path) -> dict[str, Any]:
    """B04, B08 and SCL COGs of the relocated scene in `folder`; their grid (`proj:*`)."""
    red, nir = kit_band("B04"), kit_band("B08")
    scl = np.where(nir < 1200, 6, 4).astype(np.uint8)  # water, else vegetation/soil
    x, y = Transformer.from_crs(4326, EPSG, always_xy=True).transform(*CENTRE)
    height, width = red.shape
    west, north = x - width * PIXEL_M / 2, y + height * PIXEL_M / 2
    transform = from_origin(west, north, PIXEL_M, PIXEL_M)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (("B04", red), ("B08", nir), ("SCL", scl)):
        with rasterio.open(
            folder / f"{name}.tif",
            "w",
            driver="COG",
            width=width,
            height=height,
            count=1,
            dtype=data.dtype,
            crs=f"EPSG:{EPSG}",
            transform=transform,
            nodata=0,
            blocksize=128,
        ) as cog:
            cog.write(data, 1)
    south, east = north - height * PIXEL_M, west + width * PIXEL_M
    back = Transformer.from_crs(EPSG, 4326, always_xy=True)
    ring = [
        back.transform(*corner)
        for corner in ((west, south), (east, south), (east, north), (west, north), (west, south))
    ]
    return {
        "geometry": {"type": "Polygon", "coordinates": [[list(point) for point in ring]]},
        "shape": [height, width],
        "transform": list(transform)[:6],
    }


def _band(asset_href: str, name: str, common: str, grid: dict[str, Any], **extra: Any) -> dict:
    return {
        "href": asset_href,
        "type": COG_TYPE,
        "eo:bands": [{"name": name, "common_name": common}],
        "proj:shape": grid["shape"],
        "proj:transform": grid["transform"],
        "raster:bands": [
            {"nodata": 0, "data_type": "uint16", "spatial_resolution": PIXEL_M, **extra}
        ],
        "roles": ["data", "reflectance"],
    }


def earth_search_item(
    identifier: str, when: str, base: str, grid: dict[str, Any], cloud: float = 3.0
) -> dict[str, Any]:
    """An item as Earth Search v1 publishes Sentinel-2 L2A: assets named by common name (`red`,
    `nir`, `scl`), a JPEG 2000 twin of each band (`red-jp2`, on S3), scale 0.0001."""
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [EO, PROJ, RASTER],
        "id": identifier,
        "collection": "sentinel-2-l2a",
        "geometry": grid["geometry"],
        "properties": {
            "datetime": when,
            "platform": "sentinel-2b",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": cloud,
            "proj:epsg": EPSG,
            "mgrs:utm_zone": 30,
            "mgrs:latitude_band": "T",
            "mgrs:grid_square": "XS",
            "s2:processing_baseline": "03.01",
            "updated": "2023-07-16T02:00:00Z",
        },
        "assets": {
            "red": _band(f"{base}/B04.tif", "B04", "red", grid, scale=0.0001, offset=0),
            "nir": _band(f"{base}/B08.tif", "B08", "nir", grid, scale=0.0001, offset=0),
            "red-jp2": {
                "href": "s3://sentinel-s2-l2a/tiles/30/T/XS/R10m/B04.jp2",
                "type": "image/jp2",
                "eo:bands": [{"name": "B04", "common_name": "red"}],
                "roles": ["data"],
            },
            "scl": {
                "href": f"{base}/SCL.tif",
                "type": COG_TYPE,
                "proj:shape": grid["shape"],
                "proj:transform": grid["transform"],
                "raster:bands": [{"nodata": 0, "data_type": "uint8"}],
                "roles": ["data"],
            },
            "thumbnail": {"href": f"{base}/preview.jpg", "type": "image/jpeg"},
        },
        "links": [],
    }


def cdse_item(identifier: str, when: str, base: str, grid: dict[str, Any]) -> dict[str, Any]:
    """An item as the Copernicus Data Space STAC publishes Sentinel-2 L2A: assets named by band
    and resolution (`B04_10m`, `B04_20m`, `SCL_20m`), each with `gsd`."""
    assets: dict[str, Any] = {}
    for band, common, file in (("B04", "red", "B04"), ("B08", "nir", "B08")):
        for resolution in (10, 20, 60):
            if band == "B08" and resolution != 10:
                continue
            asset = _band(f"{base}/{file}.tif", band, common, grid, scale=0.0001, offset=0)
            # The coarser twins point elsewhere: picking one of them would break the job.
            if resolution != 10:
                asset["href"] = f"{base}/missing_{band}_{resolution}m.tif"
            assets[f"{band}_{resolution}m"] = asset | {"gsd": resolution}
    assets["SCL_20m"] = {"href": f"{base}/SCL.tif", "type": COG_TYPE, "gsd": 20, "roles": ["data"]}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [EO, PROJ, RASTER],
        "id": identifier,
        "collection": "sentinel-2-l2a-cdse",
        "geometry": grid["geometry"],
        "properties": {
            "datetime": when,
            "platform": "sentinel-2a",
            "constellation": "sentinel-2",
            "eo:cloud_cover": 1.5,
            "proj:epsg": EPSG,
            "product:type": "S2MSI2A",
        },
        "assets": assets,
        "links": [],
    }


class RequestLog:
    """HTTP requests the file server answered, by method and status."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, int]] = Counter()

    @property
    def total(self) -> int:
        return sum(self.seen.values())


@contextmanager
def file_server(root: Path) -> Iterator[tuple[str, RequestLog]]:
    """`root` over HTTP (Range requests answered 206), and the log of what it served."""
    app = FastAPI()
    log = RequestLog()

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        log.seen[(request.method, response.status_code)] += 1
        return response

    app.mount("/", StaticFiles(directory=root))
    with serve(app) as url:
        yield url, log


def seed_archive(url: str, items: list[dict[str, Any]]) -> None:
    """A migrated database holding `items` and their collections, as a remote STAC API has."""
    upgrade(url)
    engine = create_sync_database(url)
    with engine.begin() as connection:
        collections = sorted({item["collection"] for item in items})
        upsert_collections(connection, [collection_row(minimal_collection(c)) for c in collections])
        upsert_items(connection, [item_row(item) for item in items])
    engine.dispose()


def add_items(url: str, items: list[dict[str, Any]]) -> None:
    engine = create_sync_database(url)
    with engine.begin() as connection:
        upsert_items(connection, [item_row(item) for item in items])
    engine.dispose()


@contextmanager
def stac_api(settings: Settings) -> Iterator[str]:
    """Our catalog's STAC API on `settings`' database, at its root URL."""
    with serve(create_catalog(settings)) as url:
        yield f"{url}/stac"


@contextmanager
def static_stac_api(items: list[dict[str, Any]]) -> Iterator[str]:
    """A STAC API publishing `items` as they are, `s3://` hrefs included (our own catalog shows
    download URLs instead): the core, collections and item search (collections, ids and
    paging; every item of a collection matches), enough for pystac-client."""
    app = FastAPI()
    conformance = [
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/item-search",
    ]

    @app.get("/stac")
    def landing(request: Request) -> dict[str, Any]:
        base = str(request.url).rstrip("/")
        return {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "archive",
            "description": "A static archive",
            "conformsTo": conformance,
            "links": [
                {"rel": "self", "href": base, "type": "application/json"},
                {"rel": "root", "href": base, "type": "application/json"},
                {"rel": "data", "href": f"{base}/collections", "type": "application/json"},
                {"rel": "search", "href": f"{base}/search", "method": "POST"},
                {"rel": "search", "href": f"{base}/search", "method": "GET"},
            ],
        }

    @app.get("/stac/collections/{identifier}")
    def collection(identifier: str) -> dict[str, Any]:
        return minimal_collection(identifier)

    @app.api_route("/stac/search", methods=["GET", "POST"])
    async def search(request: Request) -> dict[str, Any]:
        asked = await request.json() if request.method == "POST" else {}
        wanted = asked.get("collections") or request.query_params.get("collections", "")
        wanted = wanted.split(",") if isinstance(wanted, str) else wanted
        found = [item for item in items if not wanted or item["collection"] in wanted]
        return {"type": "FeatureCollection", "features": found, "links": []}

    with serve(app) as url:
        yield f"{url}/stac"
