"""Writing the catalog in bulk: COPY into a staging table, then one upsert, in one transaction."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import insert

from territoires.shared.models import Collection

ITEM_COLUMNS = (
    "collection_id",
    "id",
    "geometry",
    "datetime",
    "start_datetime",
    "end_datetime",
    "content",
)

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS items_staging
  (collection_id text, id text, geometry geometry, datetime timestamptz,
   start_datetime timestamptz, end_datetime timestamptz, content jsonb)
ON COMMIT DELETE ROWS
"""

_UPSERT = """
INSERT INTO items (collection_id, id, geometry, datetime, start_datetime, end_datetime, content)
SELECT collection_id, id, geometry, datetime, start_datetime, end_datetime, content
FROM items_staging
ON CONFLICT (collection_id, id) DO UPDATE SET
  geometry = excluded.geometry, datetime = excluded.datetime,
  start_datetime = excluded.start_datetime, end_datetime = excluded.end_datetime,
  content = excluded.content, updated_at = now()
"""


def _copy_field(value: Any) -> str:
    """A value in PostgreSQL's COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bytes):
        text_value = value.hex()
    elif isinstance(value, dict | list):
        text_value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    elif hasattr(value, "isoformat"):
        text_value = value.isoformat()
    else:
        text_value = str(value)
    return (
        text_value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def upsert_items(connection: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Inserts or replaces items (rows from `records.item_row`) within the caller's transaction.

    The same id twice in one call keeps the last one, as a sequence of single upserts would.
    """
    latest = {(row["collection_id"], row["id"]): row for row in rows}
    if not latest:
        return 0
    buffer = io.StringIO()
    for row in latest.values():
        buffer.write("\t".join(_copy_field(row[c]) for c in ITEM_COLUMNS))
        buffer.write("\n")
    buffer.seek(0)
    connection.execute(text(_STAGE))
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.copy_expert(f"COPY items_staging ({', '.join(ITEM_COLUMNS)}) FROM STDIN", buffer)
    connection.execute(text(_UPSERT))
    connection.execute(text("TRUNCATE items_staging"))
    return len(latest)


def upsert_collections(connection: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Inserts or replaces collections (rows from `records.collection_row`)."""
    rows = list(rows)
    if not rows:
        return 0
    statement = insert(Collection)
    statement = statement.on_conflict_do_update(
        index_elements=[Collection.id],
        set_={
            "kind": statement.excluded.kind,
            "title": statement.excluded.title,
            "description": statement.excluded.description,
            "content": statement.excluded.content,
            "updated_at": text("now()"),
        },
    )
    connection.execute(statement, rows)
    return len(rows)
