"""TiTiler's factories, configured for the catalog: per item, per collection mosaic, grids.

Each factory gets our readers and dependencies instead of TiTiler's `url=` ones, so the routes,
parameters and documents are TiTiler's while what is read and how it looks come from the
catalog and the indicator registry.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2
from morecantile.defaults import TileMatrixSets
from pydantic import BaseModel
from rio_tiler.models import ImageData
from starlette.templating import Jinja2Templates
from titiler.core.dependencies import DefaultDependency
from titiler.core.factory import MultiBaseTilerFactory, TMSFactory
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image
from titiler.extensions import wmtsExtension
from titiler.mosaic.extensions.wmts import wmtsExtension as wmtsExtensionMosaic
from titiler.mosaic.factory import MosaicTilerFactory

from territoires.tiles.dependencies import (
    LimitedPartParams,
    OptionalAssetsParams,
    colormap_dependency,
    dataset_dependency,
    item_source,
    item_style,
    layer_dependency,
    mosaic_source,
    mosaic_style,
    process_dependency,
    render_dependency,
)
from territoires.tiles.readers import CatalogItemReader, CollectionMosaicBackend
from territoires.tiles.tilesets import with_standard_tileset_links

ITEM_PREFIX = "/tiles/collections/{collectionId}/items/{itemId}"
COLLECTION_PREFIX = "/tiles/collections/{collectionId}"
# TiTiler's HTML views of tilesets and grids, drawn by our CDN-free template.
DOCUMENT_VIEWS = ("tilesets", "tileset", "tilematrixsets", "tilematrixset")
DATA_FORMATS = (ImageType.npy, ImageType.tif, ImageType.tiff)


def _as_json(document: Any) -> str:
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json", exclude_none=True)
    return json.dumps(document, indent=2, ensure_ascii=False)


def document_templates(folder: str) -> Jinja2Templates:
    environment = jinja2.Environment(
        autoescape=jinja2.select_autoescape(["html"]),
        loader=jinja2.ChoiceLoader(
            [
                jinja2.DictLoader(
                    {f"{view}.html": '{% extends "document.html" %}' for view in DOCUMENT_VIEWS}
                ),
                jinja2.FileSystemLoader(folder),
            ]
        ),
    )
    environment.filters["as_json"] = _as_json
    return Jinja2Templates(env=environment)


def render_tile(
    image: ImageData, output_format: ImageType | None = None, **kwargs: Any
) -> tuple[bytes, str]:
    """Images are PNG unless asked otherwise (exact colours, transparent nodata, where TiTiler
    would pick JPEG for tiles without nodata); NPY and GeoTIFF carry the values themselves,
    unstyled, for clients that compute with them."""
    if output_format in DATA_FORMATS:
        add_mask = kwargs.get("add_mask")
        return render_image(image, output_format=output_format, add_mask=add_mask is not False)
    return render_image(image, output_format=output_format or ImageType.png, **kwargs)


def item_factory(grids: TileMatrixSets, templates: Jinja2Templates) -> MultiBaseTilerFactory:
    """Tiles, TileJSON, WMTS, tilesets, info, statistics, point, preview, bbox of one item."""
    factory = MultiBaseTilerFactory(
        reader=CatalogItemReader,
        path_dependency=item_source,
        reader_dependency=DefaultDependency,
        layer_dependency=layer_dependency(item_style),
        assets_dependency=OptionalAssetsParams,
        dataset_dependency=dataset_dependency(item_style),
        render_dependency=render_dependency(item_style),
        colormap_dependency=colormap_dependency(item_style),
        process_dependency=process_dependency(item_style),
        img_part_dependency=LimitedPartParams,
        render_func=render_tile,
        supported_tms=grids,
        templates=templates,
        router_prefix=ITEM_PREFIX,
        add_viewer=False,
        # Our dependencies read the item; TiTiler's query-only check of them cannot.
        extensions=[
            wmtsExtension(
                tile_dependencies=[],
                layer_identifier_provider=lambda source: (
                    f"{source.item.collection_id}.{source.item.id}"
                ),
            )
        ],
    )
    return with_standard_tileset_links(factory)


def mosaic_factory(grids: TileMatrixSets, templates: Jinja2Templates) -> MosaicTilerFactory:
    """A collection's newest items (or those of `datetime`) as one layer."""
    factory = MosaicTilerFactory(
        backend=CollectionMosaicBackend,
        dataset_reader=CatalogItemReader,
        path_dependency=mosaic_source,
        layer_dependency=layer_dependency(mosaic_style),
        dataset_dependency=dataset_dependency(mosaic_style),
        render_dependency=render_dependency(mosaic_style),
        colormap_dependency=colormap_dependency(mosaic_style),
        process_dependency=process_dependency(mosaic_style),
        img_part_dependency=LimitedPartParams,
        render_func=render_tile,
        supported_tms=grids,
        templates=templates,
        router_prefix=COLLECTION_PREFIX,
        add_viewer=False,
        add_part=True,
        add_statistics=True,
        extensions=[
            wmtsExtensionMosaic(
                tile_dependencies=[],
                layer_identifier_provider=lambda source: source.items.collection_id,
            )
        ],
    )
    return with_standard_tileset_links(factory)


def grids_factory(grids: TileMatrixSets, templates: Jinja2Templates) -> TMSFactory:
    """`/tiles/tileMatrixSets`: the grids above as OGC Two Dimensional Tile Matrix Sets."""
    return TMSFactory(supported_tms=grids, templates=templates, router_prefix="/tiles")
