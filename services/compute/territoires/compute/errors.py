"""The exception types of OGC API Processes, as Problem Details.

They are the platform's error classes (so the status comes from the shared table) carrying the
`type` URI the standard names; the compute app answers them with that type instead of
about:blank.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from territoires.shared.errors import (
    STATUS_CODES,
    BadRequestError,
    NotFoundError,
    TerritoiresError,
    problem,
)

EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"


class ProcessesError(TerritoiresError):
    type = "about:blank"


class NoSuchProcessError(ProcessesError, NotFoundError):
    type = f"{EXCEPTIONS}/no-such-process"


class NoSuchJobError(ProcessesError, NotFoundError):
    type = f"{EXCEPTIONS}/no-such-job"


class ResultNotReadyError(ProcessesError, NotFoundError):
    type = f"{EXCEPTIONS}/result-not-ready"


class JobFailedError(ProcessesError, BadRequestError):
    """Results asked of a failed job: the job's own message is the detail."""

    type = f"{EXCEPTIONS}/job-failed"


class UnreadableAssetError(TerritoiresError):
    """A job's input raster that is refused by the asset guard, absent or unreadable. Its
    message names the scene and asset only: never the href, nor GDAL's text (which quotes the
    path and tells whether the file exists), so a job's public message probes nothing."""


def _status(error: Exception) -> int:
    return next(STATUS_CODES[cls] for cls in type(error).__mro__ if cls in STATUS_CODES)


def add_processes_exception_handler(app: FastAPI) -> None:
    async def processes_error(request: Request, error: ProcessesError) -> JSONResponse:
        return problem(_status(error), str(error), type=error.type, instance=request.url.path)

    app.add_exception_handler(ProcessesError, processes_error)
