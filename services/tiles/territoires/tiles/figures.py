"""A territory's key figures for an indicator's page: the newest statistics row stored under the
indicator's `statistics` id, read into the figures its registry entry lists.

The page is rendered with them, so the figures are in its HTML (for readers without scripts,
search engines and tests) and match the map whatever the row's indicator id is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from territoires.shared.indicators import Figure, Indicator
from territoires.shared.models import IndicatorStatistic
from territoires.tiles.catalog import database_connection


@dataclass(frozen=True)
class ShownFigure:
    label: str
    value: str


@dataclass(frozen=True)
class TerritoryFigures:
    """The figures of one statistics row, labelled and formatted, and the period they cover."""

    period_start: datetime
    period_end: datetime
    figures: tuple[ShownFigure, ...]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _lookup(figures: dict[str, Any], key: str) -> Any:
    value: Any = figures
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _default_figures(figures: dict[str, Any]) -> tuple[Figure, ...]:
    """Every top-level number, for indicators whose entry lists no figures."""
    return tuple(
        Figure(
            key, key.replace("_", " ").capitalize(), "{:,}" if isinstance(value, int) else "{:.4g}"
        )
        for key, value in figures.items()
        if _is_number(value)
    )


def shown_figures(indicator: Indicator, figures: dict[str, Any]) -> tuple[ShownFigure, ...]:
    """The figures an indicator's entry lists (those the row has), labelled and formatted;
    a text figure (a class, a month) shows when its format is the plain "{}"."""
    chosen = indicator.figures or _default_figures(figures)
    shown = []
    for figure in chosen:
        value = _lookup(figures, figure.key)
        if _is_number(value) or (isinstance(value, str) and value and figure.format == "{}"):
            shown.append(ShownFigure(figure.label, figure.format.format(value)))
    return tuple(shown)


async def territory_figures(
    engine: AsyncEngine, territory_code: str, indicator: Indicator
) -> TerritoryFigures | None:
    """The newest period's figures of a territory; None when it has no row with any."""
    statement = (
        select(
            IndicatorStatistic.period_start,
            IndicatorStatistic.period_end,
            IndicatorStatistic.figures,
        )
        .where(
            IndicatorStatistic.territory_code == territory_code,
            IndicatorStatistic.indicator == indicator.statistics_id,
        )
        .order_by(IndicatorStatistic.period_end.desc(), IndicatorStatistic.period_start.desc())
        .limit(1)
    )
    async with database_connection(engine) as connection:
        row = (await connection.execute(statement)).first()
    if row is None:
        return None
    figures = shown_figures(indicator, row.figures or {})
    return TerritoryFigures(row.period_start, row.period_end, figures) if figures else None
