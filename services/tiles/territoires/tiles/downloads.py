"""Downloads of catalogued files (`/assets/collections/{c}/items/{i}/{asset}/{file}`): results and
scenes over HTTP for GDAL's /vsicurl/, QGIS, `rio cogeo validate https://…` and curl.

The file is found from the item in the catalog and opened only when the asset guard allows it;
no path is taken from, or shown to, a client. Starlette's FileResponse answers Range requests
(one or several ranges) with Content-Length and an ETag from the file's size and time.

An object in an S3 store is streamed through this route, not redirected to a presigned URL: the
store's endpoint is often one only the platform reaches (a compose or cluster network), the
partner's key and the gateway's limits keep applying, and clients see one origin. A single range
is passed on to the store (Content-Range, 206); several ranges get the whole object (200), as
RFC 9110 allows; If-Range is honoured for the store's strong ETag.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC
from email.utils import format_datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from botocore.client import BaseClient
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, Response, StreamingResponse

from territoires.shared.errors import NotFoundError, ServiceUnavailableError, problem
from territoires.shared.stac.downloads import ASSETS_PREFIX, REMOTE, file_name
from territoires.shared.storage import S3_SCHEME
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
        request: Request,
        state: State,
    ) -> Response:
        item = await state.catalog.item(collectionId, itemId)
        entry = item.content.get("assets", {}).get(asset)
        href = str((entry or {}).get("href", ""))
        if entry is None or href.startswith(REMOTE) or file_name(href) != name:
            raise NotFoundError(
                f"item {itemId!r} of {collectionId!r} has no asset {asset!r} stored here"
            )
        path = state.guard.check(href)
        missing = f"the file of asset {asset!r} of item {itemId!r} is missing"
        media_type = entry.get("type") or "application/octet-stream"
        if href.startswith(S3_SCHEME) and state.s3 is not None:
            bucket, _, key = href.removeprefix(S3_SCHEME).partition("/")
            s3 = S3Object(state.s3, bucket, key, missing)
            headers = {"content-disposition": _inline(f"{itemId}-{name}")}
            return await s3.response(request, media_type, headers)
        status = await asyncio.to_thread(_stat, path)
        if status is None:
            raise NotFoundError(missing)
        return FileResponse(
            path,
            stat_result=status,
            media_type=media_type,
            filename=f"{itemId}-{name}",
            content_disposition_type="inline",
        )

    return router


def _inline(filename: str) -> str:
    """Content-Disposition as FileResponse writes it."""
    quoted = quote(filename)
    if quoted != filename:
        return f"inline; filename*=utf-8''{quoted}"
    return f'inline; filename="{filename}"'


class S3Object:
    """One object of the store, answered as FileResponse answers a file."""

    CHUNK = 256 * 1024

    def __init__(self, client: BaseClient, bucket: str, key: str, missing: str) -> None:
        self.client, self.bucket, self.key, self.missing = client, bucket, key, missing

    async def response(
        self, request: Request, media_type: str, headers: dict[str, str]
    ) -> Response:
        if request.method == "HEAD":
            head = await self._call("head_object")
            return Response(
                status_code=200, media_type=media_type, headers=headers | _headers(head)
            )
        wanted = _single_range(request.headers.get("range"), request.headers.get("if-range"))
        try:
            got = await self._call("get_object", **wanted)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "PreconditionFailed":  # If-Range named another version: all of it
                got = await self._call("get_object")
            elif code == "InvalidRange":
                size = (await self._call("head_object"))["ContentLength"]
                answer = problem(416, f"the range is outside the file's {size} bytes")
                answer.headers["content-range"] = f"bytes */{size}"
                return answer
            else:
                raise
        return StreamingResponse(
            _chunks(got["Body"], self.CHUNK),
            status_code=206 if got.get("ContentRange") else 200,
            media_type=media_type,
            headers=headers | _headers(got),
        )

    async def _call(self, operation: str, **options: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(
                getattr(self.client, operation), Bucket=self.bucket, Key=self.key, **options
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise NotFoundError(self.missing) from error
            raise
        except BotoCoreError as error:  # the store is unreachable, as readiness reports too
            raise ServiceUnavailableError("the object store does not answer") from error


def _single_range(header: str | None, if_range: str | None) -> dict[str, str]:
    """The GetObject options for a Range header the store answers: one `bytes=` range, under a
    strong ETag when If-Range names one (a date or a weak ETag: the whole file, always right)."""
    if not header or "," in header or not header.strip().startswith("bytes="):
        return {}
    if if_range is None:
        return {"Range": header.strip()}
    if if_range.startswith('"'):
        return {"Range": header.strip(), "IfMatch": if_range}
    return {}


def _headers(answer: dict[str, Any]) -> dict[str, str]:
    headers = {
        "content-length": str(answer["ContentLength"]),
        "accept-ranges": "bytes",
        "etag": answer["ETag"],
        "last-modified": format_datetime(answer["LastModified"].astimezone(UTC), usegmt=True),
    }
    if answer.get("ContentRange"):
        headers["content-range"] = answer["ContentRange"]
    return headers


def _chunks(body: Any, size: int) -> Iterator[bytes]:
    """The object's bytes as the store sends them; the connection goes back to the pool at the
    end, or is dropped when the client goes away first."""
    try:
        yield from body.iter_chunks(size)
    finally:
        body.close()


def _stat(path: str) -> os.stat_result | None:
    file = Path(path)
    return file.stat() if file.is_file() else None
