"""Writing converted rows: batches of items in one transaction each, collections before them.

A batch either goes in whole or not at all. When the database refuses a batch (a document
PostgreSQL will not store, such as a `\\u0000` in a string), it is rolled back and split in
halves until the refused items are isolated: each is reported, all the others go in. An item is
thus never half-written, and one bad item costs a few extra transactions, not the batch.

Items naming a collection that does not exist get a minimal one (licence "proprietary", extent
computed from its items when the ingest ends), so that scenes can be catalogued before anyone has
described their collection; ingesting the collection's document later replaces it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from types import TracebackType
from typing import Any

import psycopg2
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from territoires.catalog.ingest.results import EncodedItem, Problem
from territoires.shared.errors import BadRequestError
from territoires.shared.models import Collection
from territoires.shared.stac.records import collection_row
from territoires.shared.stac.store import upsert_collections, upsert_item_lines

_EXTENT = """
UPDATE collections AS c
SET content = jsonb_set(c.content, '{extent}', jsonb_build_object(
      'spatial', jsonb_build_object('bbox', jsonb_build_array(jsonb_build_array(
        ST_XMin(e.box), ST_YMin(e.box), ST_XMax(e.box), ST_YMax(e.box)))),
      'temporal', jsonb_build_object('interval', jsonb_build_array(jsonb_build_array(
        to_char(e.first AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        to_char(e.last AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))))),
    updated_at = now()
FROM (SELECT collection_id, ST_Extent(geometry) AS box,
             min(start_datetime) AS first, max(end_datetime) AS last
      FROM items WHERE collection_id = ANY(:ids) GROUP BY collection_id) AS e
WHERE c.id = e.collection_id
"""


def minimal_collection(identifier: str) -> dict[str, Any]:
    """A valid STAC collection standing in for one nobody has described yet."""
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": identifier,
        "title": identifier,
        "description": (
            f"Created by `territoires ingest` for items of collection {identifier!r}, which did "
            "not exist; ingest its collection document to describe it."
        ),
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [[None, None]]},
        },
        "links": [],
    }


# What the database raises when it refuses rows: through SQLAlchemy, or straight from psycopg2
# for COPY, which runs on the driver's cursor.
REFUSALS = (DBAPIError, psycopg2.Error)


def refusal_reason(error: Exception) -> str:
    """PostgreSQL's message (and its detail) in one line; re-raises a lost connection, which
    refuses nothing in particular and would fail every retry."""
    lost = getattr(error, "connection_invalidated", False) or isinstance(
        error, psycopg2.OperationalError | psycopg2.InterfaceError
    )
    if lost:
        raise error
    original = getattr(error, "orig", None) or error
    diagnostics = getattr(original, "diag", None)
    primary = getattr(diagnostics, "message_primary", None)
    if not primary:
        return str(original).strip().splitlines()[0]
    detail = getattr(diagnostics, "message_detail", None)
    return f"refused by the database: {primary}" + (f" ({detail})" if detail else "")


@dataclass
class Written:
    """What writing one batch did."""

    inserted: int = 0
    updated: int = 0
    problems: list[Problem] = field(default_factory=list)


class CatalogWriter:
    """Writes batches on `writers` connections at once, one thread each (the driver releases
    the GIL while PostgreSQL works), because one PostgreSQL backend parsing JSONB and updating
    indexes is slower than the conversion processes feeding it. Batches sharing an item never
    run at the same time, so the last of duplicates wins as it would written one by one.
    Collections are written first, on a connection of their own."""

    def __init__(self, engine: Engine, batch_size: int, writers: int) -> None:
        self.batch_size = batch_size
        self.inserted = 0
        self.updated = 0
        self.problems: list[Problem] = []
        self.created: list[str] = []
        self._engine = engine
        self._connection = self._connect()
        self._pending: dict[tuple[str, str], EncodedItem] = {}
        self._known: set[str] = set()
        self._refused: dict[str, str] = {}
        self._writers = writers
        self._threads = ThreadPoolExecutor(writers, thread_name_prefix="ingest-writer")
        self._idle: SimpleQueue[Connection] = SimpleQueue()
        self._connections: list[Connection] = []
        self._in_flight: deque[tuple[set[tuple[str, str]], Future[Written]]] = deque()

    def __enter__(self) -> CatalogWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for _, future in self._in_flight:
            future.cancel()
        self._threads.shutdown(wait=True)
        for connection in [self._connection, *self._connections]:
            connection.close()

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def add_collections(self, collections: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Writes collection rows now, each in its own transaction."""
        for where, row in collections:
            try:
                with self._connection.begin():
                    upsert_collections(self._connection, [row])
            except REFUSALS as error:
                self.problems.append(Problem(where, refusal_reason(error)))
                continue
            self._known.add(row["id"])
            if row["id"] in self.created:
                self.created.remove(row["id"])

    def add_items(self, items: Iterable[EncodedItem]) -> None:
        """Queues items, sending a batch to a writer whenever one is full."""
        for item in items:
            self._pending[(item.collection_id, item.id)] = item
            if len(self._pending) >= self.batch_size:
                self.flush()

    def flush(self) -> None:
        """Sends what is queued to a writer, once its collections exist."""
        if not self._pending:
            return
        keys = set(self._pending)
        batch = list(self._pending.values())
        self._pending.clear()
        self._ensure_collections({item.collection_id for item in batch})
        accepted = []
        for item in batch:
            if item.collection_id in self._refused:
                self.problems.append(Problem(item.where, self._refused[item.collection_id]))
            else:
                accepted.append(item)
        for entry in [entry for entry in self._in_flight if not keys.isdisjoint(entry[0])]:
            self._collect(entry)
        while len(self._in_flight) >= 2 * self._writers:
            self._collect(self._in_flight[0])
        self._in_flight.append((keys, self._threads.submit(self._write_batch, accepted)))

    def finish(self) -> None:
        """Writes everything and gives the collections created here their real extent."""
        self.flush()
        while self._in_flight:
            self._collect(self._in_flight[0])
        if self.created:
            with self._connection.begin():
                self._connection.execute(text(_EXTENT), {"ids": self.created})

    def _collect(self, entry: tuple[set[tuple[str, str]], Future[Written]]) -> None:
        self._in_flight.remove(entry)
        written = entry[1].result()
        self.inserted += written.inserted
        self.updated += written.updated
        self.problems += written.problems

    def _write_batch(self, batch: list[EncodedItem]) -> Written:
        """In a writer thread: the batch on a connection no other thread uses meanwhile."""
        try:
            connection = self._idle.get_nowait()
        except Empty:
            connection = self._connect()
            self._connections.append(connection)
        try:
            written = Written()
            _write(connection, batch, written)
            return written
        finally:
            self._idle.put(connection)

    def _ensure_collections(self, identifiers: set[str]) -> None:
        unknown = identifiers - self._known - self._refused.keys()
        if not unknown:
            return
        rows = []
        with self._connection.begin():
            found = self._connection.execute(
                select(Collection.id).where(Collection.id.in_(unknown))
            ).scalars()
            self._known.update(found)
            for identifier in sorted(unknown - self._known):
                try:
                    rows.append(collection_row(minimal_collection(identifier)))
                except BadRequestError as error:
                    self._refused[identifier] = f"cannot create its collection: {error}"
            if rows:
                statement = insert(Collection).on_conflict_do_nothing(index_elements=["id"])
                self._connection.execute(statement, rows)
        for row in rows:
            self._known.add(row["id"])
            self.created.append(row["id"])

    def _connect(self) -> Connection:
        """A connection set up for bulk loads: staging rows kept in memory, lz4 TOAST
        compression (several times cheaper than pglz) where the server has it."""
        connection = self._engine.connect()
        with connection.begin():
            try:
                with connection.begin_nested():
                    connection.execute(text("SET temp_buffers = '64MB'"))
            except DBAPIError:
                pass  # a pooled session that has used temporary tables keeps its setting
            lz4 = connection.execute(
                text(
                    "SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                    "WHERE name = 'default_toast_compression'"
                )
            ).scalar()
            if lz4:
                connection.execute(text("SET default_toast_compression = 'lz4'"))
        return connection


def _write(connection: Connection, batch: list[EncodedItem], written: Written) -> None:
    """One transaction for the batch; if refused, halves until the refused items are alone."""
    if not batch:
        return
    try:
        with connection.begin():
            inserted, updated = upsert_item_lines(connection, (item.line for item in batch))
    except REFUSALS as error:
        reason = refusal_reason(error)
        if len(batch) == 1:
            written.problems.append(Problem(batch[0].where, reason))
            return
        middle = len(batch) // 2
        _write(connection, batch[:middle], written)
        _write(connection, batch[middle:], written)
        return
    written.inserted += inserted
    written.updated += updated
