"""Item changes announced on the `territoires_items` channel (LISTEN/NOTIFY).

Whoever writes items (STAC ingest, STAC transactions, a job registering its result, a script),
each committed statement that inserts, updates or deletes items sends one notification per
collection it touched, its id as payload. The tiles service listens and drops what it cached
of that collection at once, so a re-ingested or re-computed item shows its new data on the
next request rather than after a cache lifetime. Statement-level triggers keep a bulk ingest
at one notification per collection, not one per row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Transition tables admit one event per trigger: one trigger per event, one function.
EVENTS = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION notify_item_changes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('territoires_items', collection_id)
            FROM (SELECT DISTINCT collection_id FROM changed_items) AS touched;
            RETURN NULL;
        END $$
        """
    )
    for event, table in EVENTS.items():
        op.execute(
            f"""
            CREATE TRIGGER items_notify_{event.lower()} AFTER {event} ON items
            REFERENCING {table} TABLE AS changed_items
            FOR EACH STATEMENT EXECUTE FUNCTION notify_item_changes()
            """
        )


def downgrade() -> None:
    for event in EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS items_notify_{event.lower()} ON items")
    op.execute("DROP FUNCTION IF EXISTS notify_item_changes()")
