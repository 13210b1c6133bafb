"""rio-tiler readers over the catalog: one item's assets, and a collection's items as a mosaic.

Both read only what the catalog lists, through the asset guard, and fall back to the item's
style (its indicator's asset, or true colour) when a request names no assets.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attr
import morecantile
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader
from rasterio.warp import transform_bounds
from rio_tiler.constants import WGS84_CRS
from rio_tiler.errors import InvalidAssetName, InvalidBandName
from rio_tiler.io import BaseReader, Reader, STACReader
from rio_tiler.mosaic.backend import BaseBackend
from rio_tiler.types import AssetInfo, AssetType, BBox
from rio_tiler.utils import cast_to_sequence

from territoires.shared.assets import AssetGuard
from territoires.shared.storage import GDAL_REMOTE_OPTIONS
from territoires.tiles.catalog import CatalogItem, CollectionItems
from territoires.tiles.settings import TilesSettings

OPEN_DATASETS_PER_THREAD = 8


def configure_reading(settings: TilesSettings) -> None:
    """Process-wide reading options, the one place GDAL is tuned for COGs, set once before the
    first dataset opens (an operator's own environment wins): a GDAL block cache sized for
    tiles, no directory listing next to each COG (no sidecar files to find), and for remote
    assets a COG's header fetched in one request, a read-ahead cache per file and a shared one
    for all, consecutive ranges merged, requests multiplexed on one HTTP/2 connection (HTTP/2
    is GDAL's default over TLS); and no warning per tile that an in-memory PNG has no
    georeferencing, which it never has."""
    warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
    defaults = {
        "GDAL_CACHEMAX": str(settings.gdal_cachemax_mb),
        **GDAL_REMOTE_OPTIONS,
        "TITILER_DEFAULT_ATTRIBUTION": settings.attribution,
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class ItemSource:
    """A catalogued item and the guard its hrefs must pass: what the item reader opens."""

    item: CatalogItem
    guard: AssetGuard


@dataclass(frozen=True)
class MosaicSource:
    """A collection's items over an interval and their guard: what the mosaic backend opens."""

    items: CollectionItems
    guard: AssetGuard


class OpenDatasets(threading.local):
    """The COGs this thread has open, most recently used last.

    Closing a dataset drops its decoded blocks from GDAL's cache, so a tiler that opens and
    closes per tile decompresses the same blocks again for the next one. Keeping a few handles
    per thread (GDAL handles are not shared between threads) keeps those blocks; a COG
    rewritten in place (new size or time) is reopened.
    """

    def __init__(self) -> None:
        self.datasets: OrderedDict[str, tuple[tuple[int, int], DatasetReader]] = OrderedDict()

    def get(self, path: str, bands: tuple[int, ...] = ()) -> DatasetReader:
        """The COG at `path`, or a VRT of some of its bands (GDAL's `vrt://…?bands=`)."""
        version = _version(path)
        source = f"vrt://{path}?bands={','.join(map(str, bands))}" if bands else path
        held = self.datasets.pop(source, None)
        if held and held[0] == version:
            self.datasets[source] = held
            return held[1]
        if held:
            held[1].close()
        dataset = rasterio.open(source)
        self.datasets[source] = (version, dataset)
        while len(self.datasets) > OPEN_DATASETS_PER_THREAD:
            self.datasets.popitem(last=False)[1][1].close()
        return dataset


def _version(path: str) -> tuple[int, int]:
    """A local file's time and size; (0, 0) for an object in a store (`/vsis3/…`, a URL),
    written once under a key of its own and never rewritten, so no request is spent on it."""
    if path.startswith("/vsi") or not path.startswith("/"):
        return (0, 0)
    try:
        stat = Path(path).stat()
    except OSError as error:  # catalogued but gone: what GDAL would say (a 404)
        raise RasterioIOError(f"{path}: {error.strerror}") from error
    return (stat.st_mtime_ns, stat.st_size)


OPEN_DATASETS = OpenDatasets()


# Beyond this many bands (a VIIRS stack holds one per night), reading them all for one image is
# a request to refuse, not to serve: the client must choose bands or an expression.
MAX_IMPLICIT_BANDS = 16


@attr.s
class CachedReader(Reader):
    """rio-tiler's reader over this thread's open handle of a local COG."""

    def __attrs_post_init__(self) -> None:
        if self.dataset is None and Path(self.input).is_absolute():
            self.dataset = OPEN_DATASETS.get(self.input)
        super().__attrs_post_init__()

    def _check_bands(self, kwargs: dict[str, Any]) -> None:
        implicit = kwargs.get("indexes") is None and kwargs.get("expression") is None
        if implicit and self.dataset.count > MAX_IMPLICIT_BANDS:
            raise InvalidBandName(
                f"this asset has {self.dataset.count} bands: choose some with bidx or an expression"
            )

    def _band_subset(self, kwargs: dict[str, Any]) -> tuple[Reader, dict[str, Any]] | None:
        """A reader of the chosen bands alone, when they are a few of a stack: GDAL's warper
        works on every band of its source, so one night of a 1 095-night stack would warp
        them all (seconds a tile, where the few bands take milliseconds)."""
        indexes = kwargs.get("indexes")
        if indexes is None or self.dataset.count <= MAX_IMPLICIT_BANDS:
            return None
        if not Path(self.input).is_absolute():
            return None
        bands = tuple(cast_to_sequence(indexes))
        subset = Reader(
            self.input,
            dataset=OPEN_DATASETS.get(self.input, bands),
            tms=self.tms,
            options=self.options,
        )
        return subset, {**kwargs, "indexes": list(range(1, len(bands) + 1))}

    def tile(self, *args: Any, **kwargs: Any) -> Any:
        self._check_bands(kwargs)
        subset = self._band_subset(kwargs)
        return subset[0].tile(*args, **subset[1]) if subset else super().tile(*args, **kwargs)

    def part(self, *args: Any, **kwargs: Any) -> Any:
        self._check_bands(kwargs)
        subset = self._band_subset(kwargs)
        return subset[0].part(*args, **subset[1]) if subset else super().part(*args, **kwargs)

    def preview(self, *args: Any, **kwargs: Any) -> Any:
        self._check_bands(kwargs)
        subset = self._band_subset(kwargs)
        if subset:
            return subset[0].preview(*args, **subset[1])
        return super().preview(*args, **kwargs)


@attr.s
class CatalogItemReader(STACReader):
    """A STAC reader for an item already loaded from the catalog (its `input` is an
    ItemSource, never a URL); every href goes through the guard before GDAL sees it."""

    reader: type[BaseReader] = attr.ib(default=CachedReader)

    def __attrs_post_init__(self) -> None:
        source: ItemSource = self.input
        self.item = source.item.stac
        if self.default_assets is None:
            self.default_assets = list(source.item.style.assets)
        known = source.item.zooms.get(self.tms.id)
        if known and self.minzoom is None and self.maxzoom is None:
            self.minzoom, self.maxzoom = known  # spares a warp computation per tile
        super().__attrs_post_init__()
        source.item.zooms.setdefault(self.tms.id, (self.minzoom, self.maxzoom))

    def _get_asset_info(self, asset: AssetType) -> AssetInfo:
        name = asset if isinstance(asset, str) else asset.get("name")
        if not name:  # rio-tiler answers a ValueError, which would read as a server fault
            raise InvalidAssetName(f"an asset needs a name, one of {self.assets}")
        info = super()._get_asset_info(asset)
        source: ItemSource = self.input
        info["url"] = source.guard.check(self.item.assets[info["name"]].href)
        return info


def geographic_bounds(tms: morecantile.TileMatrixSet, x: int, y: int, z: int) -> BBox:
    """A tile's bounds in longitude/latitude, whatever the grid's CRS."""
    bounds = tms.xy_bounds(morecantile.Tile(x, y, z))
    return transform_bounds(tms.rasterio_crs, WGS84_CRS, *bounds, densify_pts=21)


def intersects(box: BBox, other: BBox) -> bool:
    return box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]


@attr.s
class CollectionMosaicBackend(BaseBackend):
    """The newest item first wherever items overlap; items are matched by their bounding box.
    Its `input` is a MosaicSource; its `reader`, CatalogItemReader (set by the factory)."""

    def __attrs_post_init__(self) -> None:
        self.source: MosaicSource = self.input
        self.crs = WGS84_CRS
        self.bounds = self.source.items.bbox or (-180.0, -90.0, 180.0, 90.0)
        self.minzoom, self.maxzoom = self.tms.minzoom, self.tms.maxzoom
        if self.source.items.items:
            newest = self._item_source(self.source.items.items[0])
            with self.reader(newest, tms=self.tms, **self.reader_options) as reader:
                self.minzoom, self.maxzoom = reader.minzoom, reader.maxzoom

    def _item_source(self, item: CatalogItem) -> ItemSource:
        return ItemSource(item, self.source.guard)

    def _within(self, box: BBox) -> list[ItemSource]:
        items = self.source.items.items
        return [self._item_source(i) for i in items if intersects(i.bbox, box)]

    def assets_for_tile(self, x: int, y: int, z: int, **kwargs: Any) -> list[ItemSource]:
        return self._within(geographic_bounds(self.tms, x, y, z))

    def assets_for_point(
        self, lng: float, lat: float, coord_crs: CRS | None = None, **kwargs: Any
    ) -> list[ItemSource]:
        if coord_crs and coord_crs != WGS84_CRS:
            lng, lat, _, _ = transform_bounds(coord_crs, WGS84_CRS, lng, lat, lng, lat)
        return self._within((lng, lat, lng, lat))

    def assets_for_bbox(
        self,
        xmin: float,
        ymin: float,
        xmax: float,
        ymax: float,
        coord_crs: CRS | None = None,
        **kwargs: Any,
    ) -> list[ItemSource]:
        box = (xmin, ymin, xmax, ymax)
        if coord_crs and coord_crs != WGS84_CRS:
            box = transform_bounds(coord_crs, WGS84_CRS, *box, densify_pts=21)
        return self._within(box)

    def asset_name(self, asset: ItemSource) -> str:
        return asset.item.id
