"""Writing the catalog in bulk: COPY into a staging table, then one upsert, in one transaction."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import datetime
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
WITH written AS (
  INSERT INTO items (collection_id, id, geometry, datetime, start_datetime, end_datetime, content)
  SELECT collection_id, id, geometry, datetime, start_datetime, end_datetime, content
  FROM items_staging
  ON CONFLICT (collection_id, id) DO UPDATE SET
    geometry = excluded.geometry, datetime = excluded.datetime,
    start_datetime = excluded.start_datetime, end_datetime = excluded.end_datetime,
    content = excluded.content, updated_at = now()
  RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""
# Documents come from JSON, so they hold no cycles to look for: not looking saves a sixth of
# the encoding time of a bulk load.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
# Bytes handed to COPY per call: psycopg2's default (8 KiB) makes a bulk load call back into
# Python for every few rows.
COPY_CHUNK = 1 << 20


def _copy_field(value: Any) -> str:
    """A value in PostgreSQL's COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bytes):
        text_value = value.hex()
    elif isinstance(value, dict | list):
        text_value = _JSON.encode(value)
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


def _copy_text(value: str) -> str:
    """A string in COPY text format; most need no escape, and four scans cost less than four
    replacements of a whole document."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return _copy_field(value)
    return value


def item_copy_line(row: dict[str, Any], content_json: str | None = None) -> str:
    """An item row (from `records.item_row`) as one line of COPY text, newline included.

    `content_json` is the content already serialised — the document as read, when it is equal
    to the row's content — so that a bulk load does not encode it a second time.
    """
    instant, start, end = row["datetime"], row["start_datetime"], row["end_datetime"]
    content = row["content"] if content_json is None else content_json
    if not (
        isinstance(row["geometry"], bytes)
        and isinstance(instant, datetime)
        and isinstance(start, datetime)
        and isinstance(end, datetime)
    ):
        fields = [_copy_field(row[column]) for column in ITEM_COLUMNS[:-1]]
        return "\t".join([*fields, _copy_field(content)]) + "\n"
    # An instant's item has the same datetime object three times: formatted once.
    instant_text = instant.isoformat()
    start_text = instant_text if start is instant else start.isoformat()
    end_text = start_text if end is start else end.isoformat()
    content_text = content if isinstance(content, str) else _JSON.encode(content)
    return (
        f"{_copy_text(row['collection_id'])}\t{_copy_text(row['id'])}\t{row['geometry'].hex()}"
        f"\t{instant_text}\t{start_text}\t{end_text}\t{_copy_text(content_text)}\n"
    )


def upsert_item_lines(connection: Connection, lines: Iterable[str]) -> tuple[int, int]:
    """Writes items given as `item_copy_line` lines in the caller's transaction, one per
    (collection, id); returns how many were inserted and how many replaced existing ones."""
    buffer = io.StringIO("".join(lines))
    if not buffer.getvalue():
        return 0, 0
    connection.execute(text(_STAGE))
    raw = connection.connection.dbapi_connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.copy_expert(
            f"COPY items_staging ({', '.join(ITEM_COLUMNS)}) FROM STDIN", buffer, size=COPY_CHUNK
        )
    inserted, updated = connection.execute(text(_UPSERT)).one()
    connection.execute(text("TRUNCATE items_staging"))
    return inserted, updated


def upsert_items(connection: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Inserts or replaces items (rows from `records.item_row`) within the caller's transaction.

    The same id twice in one call keeps the last one, as a sequence of single upserts would.
    """
    latest = {(row["collection_id"], row["id"]): row for row in rows}
    inserted, updated = upsert_item_lines(connection, map(item_copy_line, latest.values()))
    return inserted + updated


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
