"""Partner keys seen by the gateway: verified once, then remembered briefly in this process."""

from __future__ import annotations

import hashlib
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from territoires.shared.apikeys import verify_key

CACHE_TTL_S = 30.0


class KeyCache:
    """Maps a presented key to its name; a revoked key keeps working at most CACHE_TTL_S."""

    def __init__(self, engine: AsyncEngine, pepper: str) -> None:
        self.engine = engine
        self.pepper = pepper
        self._known: dict[str, tuple[str, float]] = {}

    def known(self, presented: str) -> str | None:
        """The key's name when it was verified in the last CACHE_TTL_S, else None."""
        cached = self._known.get(_digest(presented))
        return cached[0] if cached and cached[1] > time.monotonic() else None

    async def name_of(self, presented: str) -> str:
        """The key's name; UnauthorizedError when it is not a valid, active key."""
        name = self.known(presented)
        if name is not None:
            return name
        digest = _digest(presented)
        key = await verify_key(self.engine, presented, self.pepper)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[digest] = (key.name, time.monotonic() + CACHE_TTL_S)
        return key.name


def _digest(presented: str) -> str:
    return hashlib.sha256(presented.encode()).hexdigest()
