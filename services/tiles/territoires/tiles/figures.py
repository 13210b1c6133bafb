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

from territoires.shared.indicators import MONTH, Figure, Indicator
from territoires.shared.models import IndicatorStatistic
from territoires.tiles.catalog import database_connection
from territoires.tiles.messages import Language, localise_number, month_label


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


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def lookup(figures: dict[str, Any], key: str) -> Any:
    value: Any = figures
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def has_value(figure: Figure, value: Any) -> bool:
    """A number, or a text figure's words (its format the plain "{}": a class, a month)."""
    return is_number(value) or (isinstance(value, str) and bool(value) and figure.format == "{}")


def _default_figures(figures: dict[str, Any]) -> tuple[Figure, ...]:
    """Every top-level number, for indicators whose entry lists no figures."""
    return tuple(
        Figure(
            key, key.replace("_", " ").capitalize(), "{:,}" if isinstance(value, int) else "{:.4g}"
        )
        for key, value in figures.items()
        if is_number(value)
    )


def listed_figures(indicator: Indicator, figures: dict[str, Any]) -> tuple[Figure, ...]:
    """The figures an indicator's entry lists, or every top-level number of the row."""
    return indicator.figures or _default_figures(figures)


def figure_label(figure: Figure, language: Language) -> str:
    return (figure.label_fr or figure.label) if language == "fr" else figure.label


def indicator_title(indicator: Indicator, language: Language) -> str:
    return (indicator.title_fr or indicator.title) if language == "fr" else indicator.title


def format_figure(figure: Figure, value: float | str, language: Language) -> str:
    """A value by its figure's pattern, written the language's way; a text figure's value in
    the words its choices give it, a month by its name."""
    if isinstance(value, str) and figure.unit == MONTH:
        return month_label(value, language)
    if isinstance(value, str):
        words = {code: (en, fr) for code, en, fr in figure.choices}.get(value)
        return (words[1] if language == "fr" else words[0]) if words else value
    try:
        text = figure.format.format(value)
    except ValueError:  # an integer pattern ("{:d}") given a median that falls between two
        text = f"{value:,.1f}"
    return localise_number(text, language)


def shown_figures(
    indicator: Indicator, figures: dict[str, Any], language: Language = "en"
) -> tuple[ShownFigure, ...]:
    """The figures an indicator's entry lists (those the row has), labelled and formatted."""
    shown = []
    for figure in listed_figures(indicator, figures):
        value = lookup(figures, figure.key)
        if has_value(figure, value):
            shown.append(
                ShownFigure(figure_label(figure, language), format_figure(figure, value, language))
            )
    return tuple(shown)


async def territory_figures(
    engine: AsyncEngine, territory_code: str, indicator: Indicator, language: Language = "en"
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
    figures = shown_figures(indicator, row.figures or {}, language)
    return TerritoryFigures(row.period_start, row.period_end, figures) if figures else None
