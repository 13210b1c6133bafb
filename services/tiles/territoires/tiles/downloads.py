"""Downloads of catalogued files (`/assets/collections/{c}/items/{i}/{asset}/{file}`): results and
scenes over HTTP for GDAL's /vsicurl/, QGIS, `rio cogeo validate https://…` and curl.

The file is found from the item in the catalog and opened only when the asset guard allows it;
no path is taken from, or shown to, a client. Starlette's FileResponse answers Range requests
(one or several ranges) with Content-Length and an ETag from the file's size and time.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import FileResponse

from territoires.shared.errors import NotFoundError
from territoires.shared.stac.downloads import ASSETS_PREFIX, REMOTE, file_name
from territoires.tiles.dependencies import TilesState, tiles_state

State = Annotated[TilesState, Depends(tiles_state)]


def downloads_router() -> APIRouter:
    router = APIRouter(tags=["Downloads"])

    @router.api_route(
        f"{ASSETS_PREFIX}/collections/{{collectionId}}/items/{{itemId}}/{{asset}}/{{name}}",
        methods=["GET", "HEAD"],
        summary="The file of an item's asset (a result COG, a scene band), with Range requests",
        response_class=FileResponse,
        responses={206: {"description": "the ranges asked for"}},
    )
    async def download(
        collectionId: str,  # noqa: N803
        itemId: str,  # noqa: N803
        asset: str,
        name: str,
        state: State,
    ) -> FileResponse:
        item = await state.catalog.item(collectionId, itemId)
        entry = item.content.get("assets", {}).get(asset)
        href = str((entry or {}).get("href", ""))
        if entry is None or href.startswith(REMOTE) or file_name(href) != name:
            raise NotFoundError(
                f"item {itemId!r} of {collectionId!r} has no asset {asset!r} stored here"
            )
        path = state.guard.check(href)
        status = await asyncio.to_thread(_stat, path)
        if status is None:
            raise NotFoundError(f"the file of asset {asset!r} of item {itemId!r} is missing")
        return FileResponse(
            path,
            stat_result=status,
            media_type=entry.get("type") or "application/octet-stream",
            filename=f"{itemId}-{name}",
            content_disposition_type="inline",
        )

    return router


def _stat(path: str) -> os.stat_result | None:
    file = Path(path)
    return file.stat() if file.is_file() else None
