"""The national geography: EPCI membership, former commune codes, the geography year of figures.

- `territories.epci_code`: the EPCI a commune belongs to, so that a job over an EPCI finds its
  communes (a commune's `parent_code` stays its département; a département's is its région).
- `former_communes`: the INSEE codes of communes merged since 2016 (`anciensCodes` of the
  official geography) and the 2026 commune each now belongs to; the look-up API and process
  inputs answer a former code with its successor.
- `indicator_statistics.geography_year`: the year of the geography a row's territory has
  (2026 for every row so far); the statistics view serves it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TERRITORIES_VIEW = """
    CREATE VIEW features_territories AS
    SELECT
        t.level::text || '-' || t.code AS id,
        t.level::text AS level,
        t.code,
        t.name,
        t.parent_code,
        {epci}t.population,
        t.geometry
    FROM territories AS t
"""
STATISTICS_VIEW = """
    CREATE VIEW features_indicator_statistics AS
    SELECT
        s.id,
        s.territory_level::text AS territory_level,
        s.territory_code,
        t.name AS territory_name,
        s.indicator,
        s.period_start,
        s.period_end,
        {year}s.figures,
        s.item_collection_id,
        s.item_id,
        s.job_id,
        t.geometry
    FROM indicator_statistics AS s
    JOIN territories AS t ON t.level = s.territory_level AND t.code = s.territory_code
"""


def _views(with_new_columns: bool) -> None:
    op.execute("DROP VIEW IF EXISTS features_indicator_statistics")
    op.execute("DROP VIEW IF EXISTS features_territories")
    op.execute(TERRITORIES_VIEW.format(epci="t.epci_code,\n        " if with_new_columns else ""))
    op.execute(
        STATISTICS_VIEW.format(year="s.geography_year,\n        " if with_new_columns else "")
    )


def upgrade() -> None:
    op.add_column("territories", sa.Column("epci_code", sa.String(16), nullable=True))
    op.create_index("ix_territories_epci_code", "territories", ["epci_code"])
    op.create_table(
        "former_communes",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("successor_code", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_former_communes"),
    )
    op.create_index("ix_former_communes_successor_code", "former_communes", ["successor_code"])
    op.add_column(
        "indicator_statistics",
        sa.Column("geography_year", sa.SmallInteger(), nullable=False, server_default="2026"),
    )
    _views(with_new_columns=True)


def downgrade() -> None:
    _views(with_new_columns=False)
    op.drop_column("indicator_statistics", "geography_year")
    op.drop_index("ix_former_communes_successor_code", table_name="former_communes")
    op.drop_table("former_communes")
    op.drop_index("ix_territories_epci_code", table_name="territories")
    op.drop_column("territories", "epci_code")
