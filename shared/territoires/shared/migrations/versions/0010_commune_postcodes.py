"""Communes' postcodes, so that the commune search finds a commune by its postcode.

- `territories.postcodes`: the postcodes of a commune in the 2026 geography (`codesPostaux`;
  Marseille has sixteen, and 17300 is Rochefort's postcode but La Rochelle's INSEE code);
  NULL for the other levels. A GIN index answers "which communes have this postcode" (`@>`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("territories", sa.Column("postcodes", postgresql.ARRAY(sa.Text()), nullable=True))
    op.create_index(
        "ix_territories_postcodes", "territories", ["postcodes"], postgresql_using="gin"
    )


def downgrade() -> None:
    op.drop_index("ix_territories_postcodes", table_name="territories")
    op.drop_column("territories", "postcodes")
