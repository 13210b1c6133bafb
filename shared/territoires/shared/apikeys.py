"""API keys of partner systems: issued once, stored as peppered hashes, checked per request."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from fastapi import Request
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from territoires.shared.errors import ForbiddenError, UnauthorizedError
from territoires.shared.models import ApiKey

KEY_PREFIX = "trr"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`last_used_at` is written at most this often per key: not one UPDATE per request."""


class Scope(enum.StrEnum):
    EXECUTE = "execute"  # run processes
    INGEST = "ingest"  # write the catalog
    ADMIN = "admin"  # see and dismiss every partner's jobs


def hash_secret(secret: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


def create_key(engine: Engine, name: str, scopes: list[Scope], pepper: str) -> str:
    """Stores a new key and returns it; this is the only time the full key exists in clear."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            ApiKey.__table__.insert().values(
                name=name,
                prefix=prefix,
                secret_hash=hash_secret(secret, pepper),
                scopes=[s.value for s in scopes],
            )
        )
    return f"{KEY_PREFIX}_{prefix}_{secret}"


async def verify_key(engine: AsyncEngine, presented: str, pepper: str) -> ApiKey:
    """The active key matching `presented`; UnauthorizedError otherwise (without saying why)."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise UnauthorizedError("invalid API key")
    _, prefix, secret = parts
    async with engine.connect() as connection:
        key = (
            await connection.execute(
                select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
            )
        ).first()
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret, pepper)):
        raise UnauthorizedError("invalid API key")
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        async with engine.begin() as connection:
            await connection.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key.id,
                    or_(
                        ApiKey.last_used_at.is_(None),
                        ApiKey.last_used_at < now - LAST_USED_RESOLUTION,
                    ),
                )
                .values(last_used_at=now)
            )
    return key


async def presented_key(request: Request) -> ApiKey | None:
    """A FastAPI dependency: the caller's key, None without one, 401 for an invalid one."""
    resources = request.app.state.resources
    settings = resources.settings
    presented = request.headers.get(settings.api_key_header)
    if not presented:
        return None
    return await verify_key(resources.engine, presented, settings.api_key_pepper.get_secret_value())


def require_scope(scope: Scope) -> Callable[[Request], Awaitable[ApiKey]]:
    """A FastAPI dependency: the caller's key; 401 without a valid one, 403 when it lacks
    `scope`."""

    async def dependency(request: Request) -> ApiKey:
        key = await presented_key(request)
        if key is None:
            header = request.app.state.resources.settings.api_key_header
            raise UnauthorizedError(
                f"this operation needs an API key with the {scope.value!r} scope "
                f"in the {header} header"
            )
        if scope.value not in key.scopes:
            raise ForbiddenError(f"API key {key.name!r} lacks the {scope.value!r} scope")
        return key

    return dependency
