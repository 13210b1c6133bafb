"""FastAPI dependencies shared by the tile endpoints: what is read, how it is drawn, how big.

The path dependencies resolve a catalogued item (or a collection's items) from the path alone;
the style dependencies fill what the request leaves out from that item's style, so a layer is
right with no query parameters; the guards refuse dataset URLs and oversized images before any
pixel is read.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from botocore.client import BaseClient
from fastapi import Depends, Path, Query, Request
from pydantic import AfterValidator, BeforeValidator
from rio_tiler.types import ColorMapType
from titiler.core.algorithm import BaseAlgorithm
from titiler.core.dependencies import (
    ColorMapParams,
    DatasetParams,
    DefaultDependency,
    ExpressionParams,
    ImageRenderingParams,
    PartFeatureParams,
    _parse_asset,
)
from titiler.core.validation import validate_color_formula

from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS
from territoires.tiles.catalog import Catalog
from territoires.tiles.intervals import parse_interval
from territoires.tiles.readers import ItemSource, MosaicSource
from territoires.tiles.settings import TilesSettings
from territoires.tiles.styles import Style, indicator_colormap

# Query parameters that would name a dataset to open: this tiler takes none (SSRF).
DATASET_PARAMETERS = frozenset({"url"})
# A bbox or feature image with no size asked for is read at most this large, not at full size.
DEFAULT_PART_SIZE = 1024
MAX_BUFFER = 64
# Deepest level a `zooms=` override may name: WMTS documents list every level up to it.
MAX_ZOOM = 30
RANGE = re.compile(r"^\s*(-?[0-9.eE+-]+)\s*,\s*(-?[0-9.eE+-]+)\s*$")

CollectionId = Annotated[
    str, Path(alias="collectionId", max_length=128, description="Collection identifier")
]
ItemId = Annotated[str, Path(alias="itemId", max_length=256, description="Item identifier")]


@dataclass(frozen=True)
class TilesState:
    """What the tile endpoints share for one app: the catalog reader, the guard, the limits,
    the S3 client downloads stream objects with (None without S3 anywhere), and the pages'
    base map."""

    catalog: Catalog
    guard: AssetGuard
    settings: TilesSettings
    s3: BaseClient | None = None
    # The map pages' raster base map (IGN WMTS) when configured; None: the outlines alone.
    base_map: dict[str, Any] | None = None


def tiles_state(request: Request) -> TilesState:
    return request.app.state.tiles


State = Annotated[TilesState, Depends(tiles_state)]


def refuse_dataset_urls(request: Request) -> None:
    """No `url=`: only items the catalog knows are read, never a path or host a client names."""
    named = DATASET_PARAMETERS.intersection(key.lower() for key in request.query_params)
    if named:
        raise BadRequestError(
            f"parameter {sorted(named)[0]!r} is not accepted: this tiler reads only catalogued "
            "items, at /tiles/collections/{collectionId}/items/{itemId}/…"
        )


def _number(value: str | None) -> float | None:
    """A query or path value as a number; None when absent or not one (FastAPI says why)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def enforce_size_limits(request: Request) -> None:
    """Tiles, previews, bbox and feature images within the configured size, before reading."""
    limits = tiles_state(request).settings
    query, path = request.query_params, request.path_params
    tilesize = _number(query.get("tilesize"))
    if tilesize is not None and tilesize > limits.max_tile_size:
        raise BadRequestError(f"tilesize: at most {limits.max_tile_size} pixels")
    for name in ("buffer", "padding"):
        margin = _number(query.get(name))
        if margin is not None and margin > MAX_BUFFER:
            raise BadRequestError(f"{name}: at most {MAX_BUFFER} pixels")
    sizes = {
        name: _number(path.get(name) or query.get(name)) for name in ("width", "height", "max_size")
    }
    for name, size in sizes.items():
        if size is not None and size > limits.max_image_size:
            raise BadRequestError(f"{name}: at most {limits.max_image_size} pixels")
    width, height = sizes["width"], sizes["height"]
    if width and height and width * height > limits.max_pixels:
        raise BadRequestError(f"width × height: at most {limits.max_pixels} pixels")
    for zooms in query.getlist("zooms"):
        levels = (_number(level) for level in zooms.rpartition("::")[2].split(","))
        if any(level is not None and level > MAX_ZOOM for level in levels):
            raise BadRequestError(f"zooms: at most level {MAX_ZOOM}")


def refuse_impossible_points(request: Request) -> None:
    """A `point` in longitude/latitude must be on the Earth; PROJ fails on anything else."""
    path = request.path_params
    if "lon" not in path or request.query_params.get("coord_crs"):
        return
    try:
        lon, lat = float(path["lon"]), float(path["lat"])
    except ValueError:
        return  # FastAPI's own validation answers
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadRequestError(f"point: ({lon}, {lat}) is not a longitude, latitude pair")


@dataclass
class LimitedPartParams(PartFeatureParams):
    """bbox and feature images: at most DEFAULT_PART_SIZE on a side unless sized explicitly."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.width or self.height or self.max_size):
            self.max_size = DEFAULT_PART_SIZE


AssetList = Annotated[
    list[str] | None,
    AfterValidator(lambda values: _parse_asset(values) if values else None),
    Query(
        title="Asset names",
        description="Assets to read (`name` or `name|bidx=1,2`); the item's style by default: "
        "an indicator's data asset, or a scene's red, green and blue.",
    ),
]


@dataclass
class OptionalAssetsParams(DefaultDependency):
    assets: AssetList = None


@dataclass
class LayerParams(ExpressionParams, OptionalAssetsParams):
    asset_as_band: Annotated[
        bool | None, Query(description="Treat each asset as one band (for expressions).")
    ] = None


async def item_source(request: Request, collection_id: CollectionId, item_id: ItemId) -> ItemSource:
    state = tiles_state(request)
    return ItemSource(await state.catalog.item(collection_id, item_id), state.guard)


async def mosaic_source(
    request: Request,
    collection_id: CollectionId,
    datetime: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Items of this date, date-time or interval (`a/b`, `../b`, `a/..`); "
            "the newest items when absent.",
        ),
    ] = None,
) -> MosaicSource:
    state = tiles_state(request)
    interval = parse_interval(datetime) if datetime else None
    return MosaicSource(await state.catalog.collection_items(collection_id, interval), state.guard)


def item_style(source: Annotated[ItemSource, Depends(item_source)]) -> Style:
    return source.item.style


def mosaic_style(source: Annotated[MosaicSource, Depends(mosaic_source)]) -> Style:
    """The first (newest) item's style; an indicator's colours even when no item matches."""
    items = source.items.items
    if items:
        return items[0].style
    indicator = INDICATORS.get(source.items.collection_id)
    if indicator is None:
        return Style(assets=())
    return Style(
        assets=(),
        rescale=(indicator.value_range,) if indicator.kind == "continuous" else None,
        colormap=indicator_colormap(indicator.id),
        nodata=indicator.nodata,
    )


def _range(text: str) -> tuple[float, float]:
    match = RANGE.match(text)
    try:
        low, high = (float(match.group(1)), float(match.group(2))) if match else (None, None)
    except ValueError:
        low = high = None
    if low is None or high is None or not low < high:
        raise BadRequestError(f"rescale: {text!r} is not 'min,max' with min < max")
    return low, high


StyleDependency = Callable[..., Style]


# Query parameters naming what to read: the style's post-processing is for its own assets.
LAYER_PARAMETERS = frozenset({"assets", "expression"})


def process_dependency(style: StyleDependency) -> Callable[..., BaseAlgorithm | None]:
    """The style's post-processing (decibels, log stretch, percentile stretch) when the request
    reads the style's assets; none otherwise. Algorithms are not offered to requests: how a
    layer looks comes from the indicator registry and the item."""

    def dependency(
        request: Request, defaults: Annotated[Style, Depends(style)]
    ) -> BaseAlgorithm | None:
        if LAYER_PARAMETERS.intersection(request.query_params):
            return None
        return defaults.process

    return dependency


def render_dependency(style: StyleDependency) -> Callable[..., ImageRenderingParams]:
    """Rendering options, with the style's rescale when the request gives none."""

    def dependency(
        defaults: Annotated[Style, Depends(style)],
        rescale: Annotated[
            list[str] | None,
            Query(description="`min,max` stretch, repeated per band; the style's by default."),
        ] = None,
        color_formula: Annotated[
            str | None,
            BeforeValidator(validate_color_formula),
            Query(description="rio-color formula"),
        ] = None,
        add_mask: Annotated[
            bool | None, Query(alias="return_mask", description="Add the mask as alpha.")
        ] = None,
    ) -> ImageRenderingParams:
        params = ImageRenderingParams(color_formula=color_formula, add_mask=add_mask)
        ranges = [_range(text) for text in rescale] if rescale else defaults.rescale
        params.rescale = list(ranges) if ranges else None
        return params

    return dependency


def colormap_dependency(style: StyleDependency) -> Callable[..., ColorMapType | None]:
    """A colormap asked for by name or as JSON, else the style's."""

    def dependency(
        defaults: Annotated[Style, Depends(style)],
        colormap_name: Annotated[str | None, Query(description="rio-tiler colormap name")] = None,
        colormap: Annotated[str | None, Query(description="JSON colormap")] = None,
    ) -> ColorMapType | None:
        if not (colormap_name or colormap):
            return defaults.colormap
        try:
            return ColorMapParams(colormap_name=colormap_name, colormap=colormap)
        except (ValueError, TypeError, KeyError) as error:
            raise BadRequestError(f"colormap: {error}") from None

    return dependency


def layer_dependency(style: StyleDependency) -> Callable[..., LayerParams]:
    """Assets, expression: the style's assets when the request names neither."""

    def dependency(
        defaults: Annotated[Style, Depends(style)],
        params: Annotated[LayerParams, Depends(LayerParams)],
    ) -> LayerParams:
        if not (params.assets or params.expression) and defaults.assets:
            params.assets = list(defaults.assets)
        return params

    return dependency


def dataset_dependency(style: StyleDependency) -> Callable[..., DatasetParams]:
    """Dataset options, with the indicator's nodata unless the request overrides it."""

    def dependency(
        defaults: Annotated[Style, Depends(style)],
        params: Annotated[DatasetParams, Depends(DatasetParams)],
    ) -> DatasetParams:
        if params.nodata is None and defaults.nodata is not None:
            params.nodata = defaults.nodata
        return params

    return dependency
