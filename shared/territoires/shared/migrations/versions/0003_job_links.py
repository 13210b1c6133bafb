"""Jobs remember the public URL they were submitted at, and are listed newest first by index.

A worker writes the links of a job's results (STAC item, TileJSON, statistics) long after the
request that asked for them, behind whichever proxy the client used: the URL is kept with the
job. The job list is sorted by creation time with or without filters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("base_url", sa.Text(), nullable=True))
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_created_at", table_name="jobs")
    op.drop_column("jobs", "base_url")
