"""Vector results: the features an indicator's job makes (hot spots, LCZ units, transects, a
class per commune), one row each, with the territory and period they stand for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "result_features",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("indicator", sa.String(64), nullable=False),
        sa.Column(
            "job_id",
            sa.UUID(),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("territory_code", sa.String(16), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geometry",
            Geometry(srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_result_features_geometry", "result_features", ["geometry"], postgresql_using="gist"
    )
    op.create_index(
        "ix_result_features_indicator_period", "result_features", ["indicator", "period_start"]
    )
    op.create_index("ix_result_features_job_id", "result_features", ["job_id"])


def downgrade() -> None:
    op.drop_table("result_features")
