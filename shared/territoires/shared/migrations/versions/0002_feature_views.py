"""Views the OGC API Features collections read: one feature id per row, geometry included.

pygeoapi's PostgreSQL provider needs a single-column id, but a territory is keyed by
(level, code) since INSEE codes repeat across levels (département 93, région 93). The
`features_territories` view gives each one the id `<level>-<code>`. Statistics are served with
the geometry of their territory, joined here, so that a client maps them (a choropleth of an
indicator) without a second request; `skipGeometry=true` leaves it out for tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE VIEW features_territories AS
        SELECT
            t.level::text || '-' || t.code AS id,
            t.level::text AS level,
            t.code,
            t.name,
            t.parent_code,
            t.population,
            t.geometry
        FROM territories AS t
        """
    )
    op.execute(
        """
        CREATE VIEW features_indicator_statistics AS
        SELECT
            s.id,
            s.territory_level::text AS territory_level,
            s.territory_code,
            t.name AS territory_name,
            s.indicator,
            s.period_start,
            s.period_end,
            s.figures,
            s.item_collection_id,
            s.item_id,
            s.job_id,
            t.geometry
        FROM indicator_statistics AS s
        JOIN territories AS t ON t.level = s.territory_level AND t.code = s.territory_code
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS features_indicator_statistics")
    op.execute("DROP VIEW IF EXISTS features_territories")
