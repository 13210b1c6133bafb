"""A small in-process cache whose entries expire, and can be dropped when their source changes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TTLCache(Generic[K, V]):
    """A bounded map whose entries expire, or go at once through `forget` when the catalog
    announces a change."""

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        # Bumped by `forget`: a value loaded across a change may be the former one, and is
        # returned without being kept.
        self._generation = 0

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key)
            return entry[1]
        generation = self._generation
        value = await load()
        if self.ttl_s > 0 and generation == self._generation:
            self._entries[key] = (now + self.ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def forget(self, matches: Callable[[K], bool]) -> None:
        """Drops the entries whose key `matches`, and any load under way."""
        self._generation += 1
        for key in [key for key in self._entries if matches(key)]:
            del self._entries[key]
