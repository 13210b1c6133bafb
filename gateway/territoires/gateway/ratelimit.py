"""Rate limits kept in Redis, per partner key or per client address, by route class.

A fixed window per bucket (one atomic INCRBY with expiry) is enough for fairness here and costs
one round trip. When Redis cannot be asked, the limits still hold: each gateway process counts
in memory (the same limits, so with N replicas a client may get up to N times its budget), and
asks Redis again after RETRY_REDIS_S so that a Redis that is down costs no time per request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

WINDOW_S = 60
RETRY_REDIS_S = 5.0
# Buckets the in-process fallback keeps; the least recently used beyond are forgotten.
LOCAL_BUCKETS = 100_000

_COUNT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
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


class LocalWindows:
    """Fixed windows in this process's memory, at most LOCAL_BUCKETS of them."""

    def __init__(self, max_buckets: int = LOCAL_BUCKETS) -> None:
        self.max_buckets = max_buckets
        self._windows: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def count(self, key: str, increment: int) -> tuple[int, float]:
        """(requests in the window after this one, seconds until it ends)."""
        now = time.monotonic()
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + WINDOW_S
        count += increment
        self._windows[key] = (count, ends)
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_buckets:
            self._windows.popitem(last=False)
        return count, ends - now


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_COUNT)
        self.local = LocalWindows()
        self._redis_down_until = 0.0
        self._warned_at = 0.0

    async def check(self, bucket: str, limit: int) -> Decision:
        """Counts one request in `bucket`."""
        return await self._count(bucket, limit, 1)

    async def peek(self, bucket: str, limit: int) -> Decision:
        """Whether `bucket` is still under `limit`, without counting a request."""
        return await self._count(bucket, limit, 0)

    async def _count(self, bucket: str, limit: int, increment: int) -> Decision:
        key = f"{self.prefix}:ratelimit:{bucket}"
        count, seconds = None, 0.0
        if time.monotonic() >= self._redis_down_until:
            try:
                count, ttl_ms = await self._script(keys=[key], args=[WINDOW_S * 1000, increment])
                seconds = int(ttl_ms) / 1000
            except (RedisError, OSError) as error:
                self._redis_down_until = time.monotonic() + RETRY_REDIS_S
                if time.monotonic() - self._warned_at > 60:
                    self._warned_at = time.monotonic()
                    log.warning(
                        "rate limits counted in process: redis unreachable", error=str(error)
                    )
        if count is None:
            count, seconds = self.local.count(key, increment)
        count = int(count)
        reset = max(1, -(-int(seconds * 1000) // 1000))
        allowed = count <= limit if increment else count < limit
        return Decision(allowed, limit, max(0, limit - count), reset)
