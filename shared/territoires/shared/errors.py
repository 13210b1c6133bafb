"""Problem Details (RFC 9457) for every service: error classes mapped to statuses in one table."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"
RETRY_UNREACHABLE_S = 5

log = structlog.get_logger(__name__)


class TerritoiresError(Exception):
    """Base of the errors a client can act on; its message is shown as the problem's detail."""


class BadRequestError(TerritoiresError):
    pass


class NotFoundError(TerritoiresError):
    pass


class UnauthorizedError(TerritoiresError):
    pass


class ForbiddenError(TerritoiresError):
    pass


class ConflictError(TerritoiresError):
    pass


class UnprocessableError(TerritoiresError):
    pass


class ServiceUnavailableError(TerritoiresError):
    pass


class TooManyRequestsError(TerritoiresError):
    pass


class RetryLater:
    """Mixed into an error whose client should come back: the answer carries Retry-After."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BusyError(RetryLater, ServiceUnavailableError):
    pass


class QuotaError(RetryLater, TooManyRequestsError):
    pass


STATUS_CODES: dict[type[Exception], int] = {
    BadRequestError: 400,
    UnauthorizedError: 401,
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    UnprocessableError: 422,
    TooManyRequestsError: 429,
    ServiceUnavailableError: 503,
}


def problem(status: int, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def retry_after(response: JSONResponse, error: Exception) -> None:
    if isinstance(error, RetryLater):
        response.headers["Retry-After"] = str(error.retry_after_s)


def _status_of(error: Exception) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def add_exception_handlers(app: FastAPI) -> None:
    """Installs Problem Details responses for our errors, HTTP errors and invalid requests."""

    async def territoires_error(request: Request, error: TerritoiresError) -> JSONResponse:
        response = problem(_status_of(error), str(error), instance=str(request.url.path))
        retry_after(response, error)
        return response

    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        response = problem(error.status_code, str(error.detail), instance=str(request.url.path))
        if error.headers:
            response.headers.update(error.headers)
        return response

    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        messages = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return problem(400, "; ".join(messages), instance=str(request.url.path))

    async def dependency_unreachable(request: Request, error: Exception) -> JSONResponse:
        log.warning("dependency unreachable", path=request.url.path, error=repr(error))
        response = problem(
            503,
            "the database or Redis did not answer in time; retry shortly",
            instance=str(request.url.path),
        )
        response.headers["Retry-After"] = str(RETRY_UNREACHABLE_S)
        return response

    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error", path=request.url.path, exc_info=error)
        return problem(
            500,
            "an internal error occurred; it has been logged (quote the X-Request-ID if any)",
            instance=str(request.url.path),
        )

    app.add_exception_handler(TerritoiresError, territoires_error)
    # Connecting timed out or was refused (asyncpg raises these as they are, redis its own).
    for unreachable in (TimeoutError, ConnectionError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(unreachable, dependency_unreachable)
    app.add_exception_handler(Exception, internal_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
