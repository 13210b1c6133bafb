"""Hears the database announce item changes (migration 0008's `territoires_items` channel).

One connection per tiles process LISTENs; each notification names a collection whose items a
committed statement wrote or deleted, and the catalog drops what it cached of it. When the
connection is lost, notifications sent meanwhile are lost with it: on every (re)connection the
whole cache goes, and until then answers are at most `catalog_ttl_s` old.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from territoires.shared.database import CONNECT_TIMEOUT_S, database_url

CHANNEL = "territoires_items"
# How often a quiet connection is checked, and how long to wait before connecting again.
PING_S = 10.0
RETRY_S = 2.0

log = structlog.get_logger(__name__)


class ItemChanges:
    """Calls `forget(collection_id)` on each announcement, `forget(None)` on each connection."""

    def __init__(self, url: str, forget: Callable[[str | None], None]) -> None:
        self.dsn = database_url(url, "postgresql").render_as_string(hide_password=False)
        self.forget = forget
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("item changes unheard; retrying", error=str(error))
            self.listening.clear()
            await asyncio.sleep(RETRY_S)

    async def _listen(self) -> None:
        connection = await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_S)
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(CHANNEL, lambda *args: self.forget(args[3]))
            self.forget(None)
            self.listening.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PING_S)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=PING_S)
        finally:
            connection.terminate()
