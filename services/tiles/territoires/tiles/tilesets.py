"""Tileset documents as OGC API - Tiles spells them, from TiTiler's.

The standard links a tileset to its tiles with `rel=item`, the tiles' media type and the
template variables `{tileMatrix}`, `{tileRow}`, `{tileCol}`: GDAL's OGCAPI driver, QGIS and other
clients look for exactly that. TiTiler writes `rel=tile` with `{z}/{x}/{y}`, and its link model
percent-encodes the braces. Its two tileset endpoints are wrapped so that their documents keep
TiTiler's links (braces intact) and gain the standard ones.
"""

from __future__ import annotations

import functools
import re
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from titiler.core.factory import BaseFactory
from titiler.core.models.common import Link
from titiler.core.models.OGC import TileSet, TileSetList
from titiler.core.resources.responses import JSONResponse

TILE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "npy": "application/x-binary"}
XYZ = re.compile(r"\{z\}/\{x\}/\{y\}")
OGC_TEMPLATE = "{tileMatrix}/{tileCol}/{tileRow}"
F = TypeVar("F", bound=BaseFactory)


class TemplatedLink(Link):
    href: str  # not AnyUrl, which would percent-encode the template's braces


class TileSetDocument(TileSet):
    links: list[TemplatedLink]


class TileSetListDocument(TileSetList):
    tilesets: list[TileSetDocument]


def _braces(href: str) -> str:
    return href.replace("%7B", "{").replace("%7D", "}")


def standard_tileset(tileset: TileSet) -> TileSetDocument:
    document = tileset.model_dump(mode="json", exclude_none=True)
    links = [{**link, "href": _braces(link["href"])} for link in document["links"]]
    for link in [link for link in links if link["rel"] == "tile"]:
        path, _, query = link["href"].partition("?")
        for extension, media_type in TILE_TYPES.items():
            href = XYZ.sub(f"{OGC_TEMPLATE}.{extension}", path, count=1)
            links.append(
                {
                    "href": f"{href}?{query}" if query else href,
                    "rel": "item",
                    "type": media_type,
                    "templated": True,
                    "title": f"Tiles as {media_type}",
                }
            )
    return TileSetDocument.model_validate({**document, "links": links})


def _standardised(result: Any) -> Any:
    if isinstance(result, TileSetList):
        return TileSetListDocument(tilesets=[standard_tileset(t) for t in result.tilesets])
    if isinstance(result, TileSet):
        return standard_tileset(result)
    return result  # the HTML view


def with_standard_tileset_links(factory: F) -> F:
    """Re-registers the factory's `tileset` and `tileset_list` routes around TiTiler's own
    endpoints (same path, parameters and name), with the standard documents as responses."""
    models = {"tileset": TileSetDocument, "tileset_list": TileSetListDocument}
    for index, route in enumerate(list(factory.router.routes)):
        if not (isinstance(route, APIRoute) and route.name in models):
            continue
        original = route.endpoint

        def endpoint(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            return _standardised(_original(*args, **kwargs))

        functools.update_wrapper(endpoint, original)
        factory.router.routes[index] = APIRoute(
            route.path,
            endpoint,
            name=route.name,
            methods=list(route.methods),
            response_model=models[route.name],
            response_class=JSONResponse,
            response_model_exclude_none=True,
            responses=route.responses,
            summary=route.summary,
            operation_id=route.operation_id,
        )
    return factory
