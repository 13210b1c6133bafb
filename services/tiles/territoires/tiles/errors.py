"""rio-tiler's and rasterio's errors as the platform's Problem Details, in one table.

Endpoints come from TiTiler's factories and raise the libraries' own exceptions; this says what
each means for a client, so that a tile outside the data is a 404, a bad asset name a 400, and
an empty mosaic tile a 204 (OGC API Tiles' answer for a tile with no data).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from rasterio.errors import RasterioIOError
from rio_tiler import errors as tiler
from starlette.responses import Response

from territoires.shared.errors import (
    STATUS_CODES,
    BadRequestError,
    NotFoundError,
    TerritoiresError,
    problem,
)

# None: no content (an empty tile), not an error.
LIBRARY_ERRORS: dict[type[Exception], type[TerritoiresError] | None] = {
    tiler.TileOutsideBounds: NotFoundError,
    tiler.PointOutsideBounds: NotFoundError,
    tiler.InvalidAssetName: BadRequestError,
    tiler.MissingAssets: BadRequestError,
    tiler.InvalidBandName: BadRequestError,
    tiler.MissingBands: BadRequestError,
    tiler.InvalidExpression: BadRequestError,
    tiler.InvalidFormat: BadRequestError,
    tiler.InvalidColorFormat: BadRequestError,
    tiler.InvalidColorMapName: BadRequestError,
    tiler.InvalidBufferSize: BadRequestError,
    tiler.InvalidBounds: BadRequestError,
    tiler.AssetAsBandError: BadRequestError,
    tiler.InvalidMosaicMethod: BadRequestError,
    tiler.MaxArraySizeError: BadRequestError,
    # What remains of rio-tiler's errors is about the request (an invalid geometry, …).
    tiler.RioTilerError: BadRequestError,
    # Tile indices or sizes too large for the grid's arithmetic.
    OverflowError: BadRequestError,
    # numpy's answers to rendering options the data cannot take (a nodata its band type cannot
    # hold, an empty bbox, an expression over bands it lacks); this service reads only
    # catalogued, validated COGs, so what fails in rendering comes from the request's options.
    TypeError: BadRequestError,
    ValueError: BadRequestError,
    IndexError: BadRequestError,
    tiler.NoAssetFoundError: None,
    tiler.EmptyMosaicError: None,
    # The catalog lists the asset but storage cannot give it: gone, as far as clients know.
    RasterioIOError: NotFoundError,
}


def _detail(error: Exception) -> str:
    """GDAL's text quotes the path it failed on: a client reads only that the asset is gone."""
    if isinstance(error, RasterioIOError):
        return "an asset of this item cannot be read"
    return str(error)


def add_library_error_handlers(app: FastAPI) -> None:
    async def library_error(request: Request, error: Exception) -> Response:
        for cls in type(error).__mro__:
            if cls in LIBRARY_ERRORS:
                meaning = LIBRARY_ERRORS[cls]
                if meaning is None:
                    return Response(status_code=204)
                return problem(STATUS_CODES[meaning], _detail(error), instance=request.url.path)
        raise error

    for cls in (
        tiler.RioTilerError,
        RasterioIOError,
        OverflowError,
        TypeError,
        ValueError,
        IndexError,
    ):
        app.add_exception_handler(cls, library_error)
