"""Item indexes for what searches do, and none that only slows bulk loads.

- `ix_items_properties`, a GIN index on the items' properties, served no query: filters on
  properties compile to typed `->>` comparisons, which a jsonb_ops GIN index cannot answer,
  and maintaining it was 40 % of the database's time per item in a bulk load. Dropped.
- A time filter asks for items whose [start_datetime, end_datetime] meets an interval; a btree
  on (start_datetime, end_datetime) can bound only one end of that, so it read every item
  ending after the interval's start. Searches now also bound `datetime` by how far it lies from
  an item's start and end at most (`stac/search.py`), which the (collection, datetime) and
  datetime indexes answer, in the order results are returned. Those two largest spans are read
  from the two small expression indexes added here; `ix_items_start_end` is dropped.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_items_properties", table_name="items", postgresql_using="gin")
    op.drop_index("ix_items_start_end", table_name="items")
    op.create_index("ix_items_end_after_datetime", "items", [sa.text("(end_datetime - datetime)")])
    op.create_index(
        "ix_items_datetime_after_start", "items", [sa.text("(datetime - start_datetime)")]
    )


def downgrade() -> None:
    op.drop_index("ix_items_datetime_after_start", table_name="items")
    op.drop_index("ix_items_end_after_datetime", table_name="items")
    op.create_index("ix_items_start_end", "items", ["start_datetime", "end_datetime"])
    op.create_index(
        "ix_items_properties",
        "items",
        [sa.text("(content -> 'properties')")],
        postgresql_using="gin",
    )
