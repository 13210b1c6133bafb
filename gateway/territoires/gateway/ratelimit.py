"""Rate limits kept in Redis, per partner key or per client address, by route class.

A fixed window per bucket (one atomic INCR with expiry) is enough for fairness here and costs
one round trip; when Redis is unreachable requests pass, since limits must not take the API down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

WINDOW_S = 60
RouteClass = Literal["api", "tiles"]

_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={WINDOW_S}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_s)
        return headers


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_COUNT)
        self._warned_at = 0.0

    async def check(self, bucket: str, limit: int) -> Decision | None:
        """Counts one request in `bucket`; None when Redis cannot be asked."""
        key = f"{self.prefix}:ratelimit:{bucket}"
        try:
            count, ttl_ms = await self._script(keys=[key], args=[WINDOW_S * 1000])
        except (RedisError, OSError) as error:
            if time.monotonic() - self._warned_at > 60:
                self._warned_at = time.monotonic()
                log.warning("rate limits suspended: redis unreachable", error=str(error))
            return None
        reset = max(1, -(-int(ttl_ms) // 1000)) if int(ttl_ms) > 0 else WINDOW_S
        return Decision(count <= limit, limit, max(0, limit - int(count)), reset)
