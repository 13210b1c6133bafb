"""Rendered item tiles kept in Redis, shared by every tiles replica, bounded in bytes and time.

An entry's key is its tile's ETag, which names the item's version (`CatalogItem.version`), so a
re-ingested or re-computed item never serves a former tile: its tiles get new keys, and the
old entries age out. The bytes are bounded by accounting of our own (Redis's `maxmemory`
would weigh the queue and the rate limits alike): each write adds its size, drops entries past
their lifetime from the count, then the oldest until the total fits `tile_cache_max_bytes`,
all in one server-side script, so replicas writing together stay within it.
"""

from __future__ import annotations

import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# When Redis fails, tiles are drawn without it for this long before it is asked again.
RETRY_REDIS_S = 5.0
# Expired entries dropped from the count per write, at most: each write stays cheap.
EXPIRED_PER_WRITE = 64

# KEYS: the entry, the entries by write time (zset), their sizes (hash), the total (counter).
# ARGV: the value, lifetime (s), byte budget, now (ms), entry key prefix, entry name, and how
# many expired entries to drop.
_PUT = """
local size = string.len(ARGV[1])
local budget = tonumber(ARGV[3])
if size > budget or redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local function drop(name)
  local held = redis.call('HGET', KEYS[3], name)
  if held then redis.call('DECRBY', KEYS[4], held) end
  redis.call('HDEL', KEYS[3], name)
  redis.call('ZREM', KEYS[2], name)
  redis.call('DEL', ARGV[5] .. name)
end
local cutoff = tonumber(ARGV[4]) - tonumber(ARGV[2]) * 1000
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, ARGV[7])) do
  drop(name)
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6])
redis.call('HSET', KEYS[3], ARGV[6], size)
local total = redis.call('INCRBY', KEYS[4], size)
while total > budget do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  drop(oldest)
  total = tonumber(redis.call('GET', KEYS[4]))
end
return 1
"""


class TileCache:
    """Get and put rendered tiles by ETag; a Redis that fails is a cache miss, never an error."""

    def __init__(self, redis: Redis, prefix: str, max_bytes: int, ttl_s: int) -> None:
        self.redis = redis
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        base = f"{prefix}:tiles"
        self.entry_prefix = f"{base}:tile:"
        self.index_keys = [f"{base}:order", f"{base}:sizes", f"{base}:bytes"]
        self._put = redis.register_script(_PUT)
        self._down_until = 0.0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0 and time.monotonic() >= self._down_until

    async def get(self, name: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of the tile named `name`, if held."""
        try:
            value = await self.redis.get(self.entry_prefix + name)
        except (RedisError, OSError) as error:
            self._failed(error)
            return None
        if value is None:
            return None
        media_type, _, body = value.partition(b"\n")
        return media_type.decode(), body

    async def put(self, name: str, media_type: str, body: bytes) -> None:
        value = media_type.encode() + b"\n" + body
        try:
            await self._put(
                keys=[self.entry_prefix + name, *self.index_keys],
                args=[
                    value,
                    self.ttl_s,
                    self.max_bytes,
                    int(time.time() * 1000),
                    self.entry_prefix,
                    name,
                    EXPIRED_PER_WRITE,
                ],
            )
        except (RedisError, OSError) as error:
            self._failed(error)

    async def held_bytes(self) -> int:
        """The bytes the cache counts as held (entries' values, media types included)."""
        return int(await self.redis.get(self.index_keys[2]) or 0)

    def _failed(self, error: Exception) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("tile cache unavailable; drawing tiles without it", error=str(error))
        self._down_until = time.monotonic() + RETRY_REDIS_S
