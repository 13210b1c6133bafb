"""Platform schema: catalog, territories, statistics, jobs, API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("scopes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.Enum("source", "indicator", name="collection_kind"), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("process_id", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum("accepted", "running", "successful", "failed", "dismissed", name="job_status"),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outputs", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("subscriber", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "progress >= 0 AND progress <= 100", name=op.f("ck_jobs_progress_range")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["jobs.id"], name=op.f("fk_jobs_parent_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_parent_id", "jobs", ["parent_id"], unique=False)
    op.create_index(
        "ix_jobs_process_status_created",
        "jobs",
        ["process_id", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "territories",
        sa.Column(
            "level",
            sa.Enum("commune", "epci", "departement", "region", name="territory_level"),
            nullable=False,
        ),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("search_name", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column(
            "geometry",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("level", "code", name=op.f("pk_territories")),
    )
    op.create_index("ix_territories_code", "territories", ["code"], unique=False)
    op.create_index(
        "ix_territories_geometry",
        "territories",
        ["geometry"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_index(
        "ix_territories_search_name",
        "territories",
        ["search_name"],
        unique=False,
        postgresql_ops={"search_name": "text_pattern_ops"},
    )
    op.create_table(
        "indicator_statistics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "territory_level",
            sa.Enum("commune", "epci", "departement", "region", name="territory_level"),
            nullable=False,
        ),
        sa.Column("territory_code", sa.String(length=16), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("item_collection_id", sa.String(length=128), nullable=True),
        sa.Column("item_id", sa.String(length=256), nullable=True),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_indicator_statistics_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["territory_level", "territory_code"],
            ["territories.level", "territories.code"],
            name=op.f("fk_indicator_statistics_territory_level_territories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_statistics")),
        sa.UniqueConstraint(
            "territory_level",
            "territory_code",
            "indicator",
            "period_start",
            "period_end",
            name="territory_period",
        ),
    )
    op.create_index(
        "ix_indicator_statistics_indicator_period",
        "indicator_statistics",
        ["indicator", "period_start"],
        unique=False,
    )
    op.create_table(
        "items",
        sa.Column("collection_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column(
            "geometry",
            geoalchemy2.types.Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("start_datetime <= end_datetime", name=op.f("ck_items_time_order")),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_items_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_id", "id", name=op.f("pk_items")),
    )
    op.create_index(
        "ix_items_collection_datetime", "items", ["collection_id", "datetime", "id"], unique=False
    )
    op.create_index("ix_items_datetime_id", "items", ["datetime", "id"], unique=False)
    op.create_index(
        "ix_items_geometry", "items", ["geometry"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "ix_items_properties",
        "items",
        [sa.literal_column("(content -> 'properties')")],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index("ix_items_start_end", "items", ["start_datetime", "end_datetime"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_items_start_end", table_name="items")
    op.drop_index("ix_items_properties", table_name="items", postgresql_using="gin")
    op.drop_index("ix_items_geometry", table_name="items", postgresql_using="gist")
    op.drop_index("ix_items_datetime_id", table_name="items")
    op.drop_index("ix_items_collection_datetime", table_name="items")
    op.drop_table("items")
    op.drop_index("ix_indicator_statistics_indicator_period", table_name="indicator_statistics")
    op.drop_table("indicator_statistics")
    op.drop_index(
        "ix_territories_search_name",
        table_name="territories",
        postgresql_ops={"search_name": "text_pattern_ops"},
    )
    op.drop_index("ix_territories_geometry", table_name="territories", postgresql_using="gist")
    op.drop_index("ix_territories_code", table_name="territories")
    op.drop_table("territories")
    op.drop_index("ix_jobs_process_status_created", table_name="jobs")
    op.drop_index("ix_jobs_parent_id", table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("collections")
    for enum_type in ("territory_level", "job_status", "collection_kind"):
        op.execute(f"DROP TYPE IF EXISTS {enum_type}")
    op.drop_table("api_keys")
