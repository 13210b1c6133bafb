"""Jobs belong to the key that submitted them, and a retried submission finds its job again.

Several partners share one platform: a job's owner key decides who lists, reads and dismisses
it. A client that retries a POST with the same `Idempotency-Key` gets the job its first request
made (unique per owner and key); the request digest tells a retry from another request reusing
the key. Jobs made before this revision have no owner: only admin keys see them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column(
            "owner_key_id",
            UUID(as_uuid=True),
            sa.ForeignKey("api_keys.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.add_column("jobs", sa.Column("idempotency_key", sa.String(255), nullable=True))
    op.add_column("jobs", sa.Column("request_digest", sa.String(64), nullable=True))
    op.create_index("ix_jobs_owner_status", "jobs", ["owner_key_id", "status"])
    op.create_index(
        "ux_jobs_idempotency",
        "jobs",
        ["owner_key_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_jobs_idempotency", table_name="jobs")
    op.drop_index("ix_jobs_owner_status", table_name="jobs")
    op.drop_column("jobs", "request_digest")
    op.drop_column("jobs", "idempotency_key")
    op.drop_column("jobs", "owner_key_id")
