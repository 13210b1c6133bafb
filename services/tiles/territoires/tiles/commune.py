"""A commune's page, `/communes/{code}`: what a mayor or a portal reads — the commune on a map
with each available indicator as a layer, key figures with unit, period and source, how they
compare with the département's communes and those of the same size, their history, what each
indicator means and cannot say, and the data to download. The same page for an EPCI
(`/epci/{siren}`), a département (`/departements/{code}`) and a région (`/regions/{code}`),
with the list of their communes instead of the comparison.

Everything comes from the registry and the statistics rows, so an indicator that lands (its
entry and its rows) appears without touching the page. French first (see messages.py).
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics as stats
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from markupsafe import Markup, escape
from sqlalchemy import and_, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from territoires.shared.errors import NotFoundError
from territoires.shared.indicators import INDICATORS, Figure, Indicator, Series
from territoires.shared.models import IndicatorStatistic, Territory, TerritoryLevel
from territoires.shared.public_url import public_base_url
from territoires.shared.territories import successor_of
from territoires.tiles.catalog import database_connection
from territoires.tiles.clip import clipped_geotiff, layer_zip
from territoires.tiles.dependencies import State, TilesState
from territoires.tiles.figures import (
    figure_label,
    format_figure,
    has_value,
    indicator_title,
    is_number,
    listed_figures,
    lookup,
)
from territoires.tiles.messages import (
    MESSAGES,
    Language,
    format_integer,
    language_of,
    month_label,
    period_label,
)
from territoires.tiles.pages import STATIC
from territoires.tiles.readers import intersects
from territoires.tiles.report import render_pdf

COMMUNE = TerritoryLevel.COMMUNE


@dataclass(frozen=True)
class Level:
    """A level's pages: public path, the downloads' name column and code pattern, the level
    its `parent_code` names."""

    level: TerritoryLevel
    prefix: str
    name_column: str
    code_pattern: str
    parent: TerritoryLevel | None


LEVELS = (
    Level(
        COMMUNE, "/communes", "nom_commune", "^[0-9][0-9AB][0-9]{3}$", TerritoryLevel.DEPARTEMENT
    ),
    Level(TerritoryLevel.EPCI, "/epci", "nom_epci", "^[0-9]{9}$", None),
    Level(
        TerritoryLevel.DEPARTEMENT,
        "/departements",
        "nom_departement",
        "^(?:[0-9]{2}|2[AB]|97[0-9])$",
        TerritoryLevel.REGION,
    ),
    Level(TerritoryLevel.REGION, "/regions", "nom_region", "^[0-9]{2}$", None),
)
PAGE_PATHS = {level.level: level.prefix for level in LEVELS}
CODE = r"^[0-9A-Za-z]{1,16}$"
Code = Annotated[str, Path(pattern=CODE, description="INSEE code, e.g. 17300 or 01001")]
# Population classes (upper bounds, exclusive) and their message keys.
POPULATION_CLASSES = (
    (2_000, "class_small"),
    (10_000, "class_town"),
    (50_000, "class_medium"),
    (200_000, "class_large"),
    (None, "class_city"),
)
LICENCE_URL = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
CSV_COLUMNS = (
    ("code_insee", "string", "Code du territoire (texte : le zéro initial est gardé)"),
    ("nom", "string", "Nom du territoire"),  # named after the level: nom_commune, nom_epci…
    ("annee_geographie", "integer", "Année du Code officiel géographique des contours et codes"),
    ("indicateur", "string", "Identifiant de l'indicateur (registre Territoires)"),
    ("mesure", "string", "Identifiant de la mesure dans les statistiques de l'indicateur"),
    ("libelle", "string", "Libellé de la mesure"),
    ("valeur", "number", "Valeur de la mesure (vide pour une mesure textuelle)"),
    ("valeur_texte", "string", "Valeur d'une mesure textuelle : classe, mois (AAAA-MM)"),
    ("unite", "string", "Unité de la valeur (1 : proportion entre 0 et 1)"),
    ("date_debut", "date", "Début de la période observée (ISO 8601)"),
    ("date_fin", "date", "Fin de la période observée (ISO 8601)"),
    ("source", "string", "Résultat STAC dont la valeur est calculée (collection/élément)"),
)


@dataclass(frozen=True)
class Place:
    """A territory of a page, with its parent (a commune's département, a département's
    région) and a commune's EPCI."""

    level: Level
    code: str
    name: str
    population: int | None
    parent_code: str | None
    parent_name: str | None
    epci_code: str | None
    epci_name: str | None


@dataclass(frozen=True)
class Row:
    """One statistics row of the commune."""

    statistics_id: str
    period_start: datetime
    period_end: datetime
    figures: dict[str, Any]
    geography_year: int
    source: str | None


@dataclass
class Comparison:
    label: str
    count: int
    values: dict[str, str]  # figure key -> formatted median


@dataclass
class SeriesView:
    """A series chart of a section and its data table (the chart's text alternative)."""

    title: str
    change: str | None  # the month of the detected change, as shown
    charts: list[Markup]
    columns: list[str]
    rows: list[tuple[str, list[str]]]


@dataclass
class Section:
    """One indicator's part of the page: the rows stored under its statistics id."""

    indicator: Indicator
    title: str
    summary: str
    limits: str
    latest: Row
    figures: list[tuple[str, str, str]]  # key, label, formatted value of the newest row
    history: list[tuple[str, list[str]]]  # period, formatted values (figures' order)
    charts: list[Markup] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    series: list[SeriesView] = field(default_factory=list)


def population_class(population: int | None) -> tuple[int, int | None, str] | None:
    """The class a population falls in: its bounds and message key."""
    if population is None:
        return None
    low = 0
    for high, key in POPULATION_CLASSES:
        if high is None or population < high:
            return low, high, key
        low = high
    return None


def bare_indicator(statistics_id: str) -> Indicator:
    """Rows stored under an id the registry does not know are still shown, by their id."""
    return Indicator(statistics_id, statistics_id, "", "", "continuous", (0.0, 0.0), ())


# Statistics ids shown as an indicator's series, not as sections of their own.
SERIES_ROWS = {s.rows for i in INDICATORS.values() for s in i.series if s.rows}


def section_indicator(statistics_id: str) -> Indicator:
    """The registry entry that owns a statistics id: the one named so, else one that shows it."""
    if statistics_id in INDICATORS:
        return INDICATORS[statistics_id]
    owners = [i for i in INDICATORS.values() if i.statistics_id == statistics_id]
    return owners[0] if owners else bare_indicator(statistics_id)


def period_text(row: Row, language: Language) -> str:
    return period_label(row.period_start, row.period_end, language)


async def load_place(connection: AsyncConnection, level: Level, code: str) -> Place | None:
    parent = Territory.__table__.alias("parent")
    epci = Territory.__table__.alias("epci")
    statement = (
        select(
            Territory.code,
            Territory.name,
            Territory.population,
            Territory.parent_code,
            parent.c.name,
            Territory.epci_code,
            epci.c.name,
        )
        .select_from(Territory)
        .outerjoin(
            parent,
            and_(parent.c.level == level.parent, parent.c.code == Territory.parent_code)
            if level.parent
            else false(),
        )
        .outerjoin(
            epci, and_(epci.c.level == TerritoryLevel.EPCI, epci.c.code == Territory.epci_code)
        )
        .where(Territory.level == level.level, Territory.code == code)
    )
    row = (await connection.execute(statement)).first()
    return Place(level, *row) if row else None


async def member_communes(connection: AsyncConnection, place: Place) -> list[tuple[str, str]]:
    """The codes and names of the communes of an EPCI, a département or a région."""
    match place.level.level:
        case TerritoryLevel.EPCI:
            condition = Territory.epci_code == place.code
        case TerritoryLevel.DEPARTEMENT:
            condition = Territory.parent_code == place.code
        case TerritoryLevel.REGION:
            departements = select(Territory.code).where(
                Territory.level == TerritoryLevel.DEPARTEMENT, Territory.parent_code == place.code
            )
            condition = Territory.parent_code.in_(departements)
        case _:
            return []
    statement = (
        select(Territory.code, Territory.name)
        .where(Territory.level == COMMUNE, condition)
        .order_by(Territory.name)
    )
    return [(code, name) for code, name in (await connection.execute(statement)).all()]


async def place_rows(connection: AsyncConnection, place: Place) -> list[Row]:
    statement = (
        select(
            IndicatorStatistic.indicator,
            IndicatorStatistic.period_start,
            IndicatorStatistic.period_end,
            IndicatorStatistic.figures,
            IndicatorStatistic.geography_year,
            IndicatorStatistic.item_collection_id,
            IndicatorStatistic.item_id,
        )
        .where(
            IndicatorStatistic.territory_level == place.level.level,
            IndicatorStatistic.territory_code == place.code,
        )
        .order_by(
            IndicatorStatistic.indicator,
            IndicatorStatistic.period_end,
            IndicatorStatistic.period_start,
        )
    )
    rows = (await connection.execute(statement)).all()
    return [
        Row(r[0], r[1], r[2], r[3] or {}, r[4], f"{r[5]}/{r[6]}" if r[5] and r[6] else None)
        for r in rows
    ]


async def comparisons(
    connection: AsyncConnection,
    commune: Place,
    row: Row,
    figures: tuple[Figure, ...],
    language: Language,
) -> list[Comparison]:
    """Medians of the same period's figures over the département's communes, and over the
    communes of the same population class (the commune itself included)."""
    statement = (
        select(IndicatorStatistic.figures, Territory.parent_code, Territory.population)
        .join(
            Territory,
            and_(
                Territory.level == IndicatorStatistic.territory_level,
                Territory.code == IndicatorStatistic.territory_code,
            ),
        )
        .where(
            IndicatorStatistic.territory_level == COMMUNE,
            IndicatorStatistic.indicator == row.statistics_id,
            IndicatorStatistic.period_start == row.period_start,
            IndicatorStatistic.period_end == row.period_end,
        )
    )
    peers = (await connection.execute(statement)).all()
    messages = MESSAGES[language]
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    if commune.parent_code:
        same = [p[0] for p in peers if p[1] == commune.parent_code]
        label = f"{messages['departement_median']} ({commune.parent_name or ''})"
        groups.append((label, same))
    if bounds := population_class(commune.population):
        low, high, key = bounds
        same = [
            p[0]
            for p in peers
            if p[2] is not None and low <= p[2] and (high is None or p[2] < high)
        ]
        groups.append((f"{messages['class_median']} ({messages[key]})", same))
    found = []
    for label, rows in groups:
        values = {}
        for figure in figures:
            numbers = [v for r in rows if is_number(v := lookup(r or {}, figure.key))]
            if numbers:
                values[figure.key] = format_figure(figure, stats.median(numbers), language)
        if len(rows) > 1 and values:
            found.append(Comparison(label, len(rows), values))
    return found


def line_chart(
    title: str,
    points: list[tuple[str, float]],
    figure: Figure,
    language: Language,
    mark: tuple[str, str] | None = None,
) -> Markup:
    """A small server-drawn SVG line of one figure over the periods (no script, prints well);
    the table beside it is its text alternative. `mark` (a point's label, its words) draws a
    dashed vertical line there: the detected change."""
    width, height, pad = 320, 120, 28
    values = [v for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    xy = [
        (pad + i * step, height - pad - (v - low) / span * (height - 2 * pad))
        for i, v in enumerate(values)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in xy)
    first, last = escape(points[0][0]), escape(points[-1][0])
    top, bottom = (escape(format_figure(figure, v, language)) for v in (high, low))
    labels = [label for label, _ in points]
    marker = ""
    if mark and mark[0] in labels:
        x = xy[labels.index(mark[0])][0]
        title = f"{title} — {mark[1]}"
        marker = (
            f'<line x1="{x:.1f}" y1="{pad - 14}" x2="{x:.1f}" y2="{height - pad}" class="change"/>'
            # The words on the side with room for them.
            + (
                f'<text x="{x + 3:.1f}" y="{pad - 16}" class="change">'
                if x < width / 2
                else f'<text x="{x - 3:.1f}" y="{pad - 16}" class="change" text-anchor="end">'
            )
            + f"{escape(mark[1])}</text>"
        )
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{marker}'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'class="axis"/><polyline points="{line}" class="series"/>{dots}'
        f'<text x="{pad}" y="{height - 8}">{first}</text>'
        f'<text x="{width - pad}" y="{height - 8}" text-anchor="end">{last}</text>'
        f'<text x="2" y="{pad - 10}">{top}</text>'
        f'<text x="2" y="{height - pad}">{bottom}</text></svg>'
    )


def series_view(
    series: Series, latest: Row, by_id: dict[str, list[Row]], language: Language
) -> SeriesView | None:
    """A series' points — the rows of its statistics id by month, or the elements of a list in
    the newest row — drawn a chart per figure, the detected change marked, and tabled."""
    points: list[tuple[str, dict[str, Any]]]
    if series.rows:
        points = [
            (month_label(f"{r.period_start:%Y-%m}", language), r.figures)
            for r in by_id.get(series.rows, [])
        ]
    else:
        elements = lookup(latest.figures, series.key or "")
        elements = elements if isinstance(elements, list) else []
        points = [(str(e.get(series.x, "")), e) for e in elements if isinstance(e, dict)]
    if len(points) < 2:
        return None
    title = (series.title_fr if language == "fr" else series.title) or series.title
    change = lookup(latest.figures, series.change) if series.change else None
    change = month_label(change, language) if isinstance(change, str) and change else None
    mark = (change, f"{MESSAGES[language]['change_detected']} {change}") if change else None
    charts = []
    for f in series.figures:
        values = [(label, v) for label, data in points if is_number(v := lookup(data, f.key))]
        if len(values) > 1:
            chart_title = f"{title} — {figure_label(f, language)}"
            charts.append(line_chart(chart_title, values, f, language, mark))
    table = [
        (
            label,
            [
                format_figure(f, v, language) if is_number(v := lookup(data, f.key)) else "—"
                for f in series.figures
            ],
        )
        for label, data in points
    ]
    columns = [figure_label(f, language) for f in series.figures]
    return SeriesView(title, change, charts, columns, table) if charts else None


async def sections(
    connection: AsyncConnection, place: Place, rows: list[Row], language: Language
) -> list[Section]:
    by_id: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_id[row.statistics_id].append(row)
    found = []
    for statistics_id, history in by_id.items():
        if statistics_id in SERIES_ROWS:
            continue
        indicator = section_indicator(statistics_id)
        latest = history[-1]
        figures = listed_figures(indicator, latest.figures)
        shown = [
            (f.key, figure_label(f, language), format_figure(f, v, language))
            for f in figures
            if has_value(f, v := lookup(latest.figures, f.key))
        ]
        if not shown:
            continue
        explanation = indicator.explanation
        summary, limits = "", ""
        if explanation:
            summary, limits = (
                (explanation.summary_fr, explanation.limits_fr)
                if language == "fr"
                else (explanation.summary_en, explanation.limits_en)
            )
        table = []
        for row in history:
            cells = []
            for f in figures:
                value = lookup(row.figures, f.key)
                cells.append(format_figure(f, value, language) if has_value(f, value) else "—")
            table.append((period_text(row, language), cells))
        charts = []
        if len(history) > 1:
            for f in figures:
                points = [
                    (f"{r.period_end:%Y-%m}", v)
                    for r in history
                    if is_number(v := lookup(r.figures, f.key))
                ]
                if len(points) > 1:
                    charts.append(line_chart(figure_label(f, language), points, f, language))
        found.append(
            Section(
                indicator=indicator,
                title=indicator_title(indicator, language),
                summary=summary or indicator.description,
                limits=limits,
                latest=latest,
                figures=shown,
                history=table,
                charts=charts,
                comparisons=await comparisons(connection, place, latest, figures, language)
                if place.level.level == COMMUNE
                else [],
                series=[
                    view
                    for series in indicator.series
                    if (view := series_view(series, latest, by_id, language))
                ],
            )
        )
    return found


def layers(with_items: set[str], statistics_ids: set[str]) -> list[Indicator]:
    """The indicators the map can show here: rasters with catalogued results, vectors whose
    results are summed up in the commune's statistics."""
    return [
        indicator
        for indicator in INDICATORS.values()
        if not indicator.planned
        and (
            indicator.id in with_items
            if indicator.form == "raster"
            else indicator.statistics_id in statistics_ids
        )
    ]


def csv_rows(place: Place, rows: list[Row]) -> list[dict[str, Any]]:
    """One line a measure, period and indicator: the long layout data.gouv.fr reads best."""
    lines = []
    for row in rows:
        indicator = section_indicator(row.statistics_id)
        for figure in listed_figures(indicator, row.figures):
            value = lookup(row.figures, figure.key)
            if not has_value(figure, value):
                continue
            lines.append(
                {
                    "code_insee": place.code,
                    place.level.name_column: place.name,
                    "annee_geographie": row.geography_year,
                    "indicateur": row.statistics_id,
                    "mesure": figure.key,
                    "libelle": figure.label_fr or figure.label,
                    "valeur": value if is_number(value) else "",
                    "valeur_texte": "" if is_number(value) else value,
                    "unite": figure.unit,
                    "date_debut": row.period_start.date().isoformat(),
                    "date_fin": row.period_end.date().isoformat(),
                    "source": row.source or "",
                }
            )
    return lines


def csv_columns(level: Level) -> list[tuple[str, str, str]]:
    return [
        (level.name_column, *rest) if name == "nom" else (name, *rest)
        for name, *rest in CSV_COLUMNS
    ]


def render_csv(level: Level, lines: list[dict[str, Any]], spreadsheet: bool) -> str:
    """Comma-separated UTF-8 (data.gouv.fr), or for spreadsheets: semicolons, decimal commas and
    a byte-order mark, which French Excel needs to read UTF-8 and numbers."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=[name for name, _, _ in csv_columns(level)],
        delimiter=";" if spreadsheet else ",",
        lineterminator="\r\n",
    )
    writer.writeheader()
    for line in lines:
        value = repr(line["valeur"]) if isinstance(line["valeur"], float) else str(line["valeur"])
        writer.writerow({**line, "valeur": value.replace(".", ",") if spreadsheet else value})
    return ("\ufeff" if spreadsheet else "") + out.getvalue()


def table_schema(level: Level) -> dict[str, Any]:
    """The TableSchema (Frictionless) of a level's comma-separated CSV, as data.gouv.fr's
    schema validator reads it."""
    fields = []
    for name, kind, description in csv_columns(level):
        entry: dict[str, Any] = {"name": name, "type": kind, "description": description}
        if name == "code_insee":
            entry["constraints"] = {"required": True, "pattern": level.code_pattern}
        fields.append(entry)
    return {
        "$schema": "https://specs.frictionlessdata.io/schemas/table-schema.json",
        "name": f"territoires-statistiques-{level.level.value}",
        "title": f"Statistiques d'indicateurs satellitaires ({level.level.value})",
        "licenses": [{"name": "etalab-2.0", "title": "Licence Ouverte 2.0", "path": LICENCE_URL}],
        "fields": fields,
        "primaryKey": ["code_insee", "indicateur", "mesure", "date_debut", "date_fin"],
        "missingValues": [""],
    }


def territory_page_router(templates: Jinja2Templates, level: Level) -> APIRouter:
    """The page and downloads of one level's territories, under the level's prefix."""
    router = APIRouter(prefix=level.prefix, tags=["territory pages"])

    async def find(request: Request, state: TilesState, code: str) -> Place | Response:
        """The territory, a 308 to its successor for a former commune, or a 404 in the page's
        language."""
        code = code.upper()
        async with database_connection(state.catalog.engine) as connection:
            place = await load_place(connection, level, code)
            successor = None
            if place is None and level.level == COMMUNE:
                successor = await successor_of(connection, code)
        if place:
            return place
        if successor:
            rest = request.url.path.split(f"{level.prefix}/{request.path_params['code']}", 1)[1]
            location = public_base_url(request, f"{level.prefix}/{successor}{rest}")
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"{location}{query}", status_code=308)
        messages = MESSAGES[language_of(request)]
        key = "not_found" if level.level == COMMUNE else "not_found_other"
        raise NotFoundError(
            messages[key].format(code=code, level=messages[f"level_{level.level.value}"])
        )

    async def page_context(
        request: Request, state: TilesState, place: Place, language: Language
    ) -> dict[str, Any]:
        """What the page's template needs, for the page and for its PDF report."""
        messages = MESSAGES[language]
        async with database_connection(state.catalog.engine) as connection:
            rows = await place_rows(connection, place)
            shown = await sections(connection, place, rows, language)
            members = await member_communes(connection, place)
        with_items = {c.id for c in await state.catalog.collections() if c.item_count > 0}
        shown_layers = layers(with_items, {r.statistics_id for r in rows})
        config = {
            "territory": place.code,
            "level": level.level.value,
            "attribution": f"{state.settings.attribution} · Limites © IGN, INSEE (Licence Ouverte)",
            "basemap": state.base_map,
            "layers": [
                {"id": i.id, "title": indicator_title(i, language), "form": i.form}
                for i in shown_layers
            ],
            "messages": {k: messages[k] for k in ("status_loading", "status_no_data", "no_result")},
            "language": language,
        }
        return {
            "lang": language,
            "other": "en" if language == "fr" else "fr",
            "m": messages,
            "place": place,
            "level_name": messages[f"level_{level.level.value}"],
            "prefix": level.prefix,
            "parent_path": PAGE_PATHS.get(level.parent) if level.parent else None,
            "population": format_integer(place.population, language) if place.population else None,
            "sections": shown,
            "members": members,
            "layers": config["layers"],
            "config": config,
            "period_text": lambda row: period_text(row, language),
            "licence_url": LICENCE_URL,
            "embed_url": f"{public_base_url(request, '/embed')}?territory={place.code}"
            + ("" if language == "fr" else f"&lang={language}")
            if level.level == COMMUNE
            else None,
        }

    @router.get("/schema.json", summary="The TableSchema of this level's CSV")
    def schema() -> dict[str, Any]:
        return table_schema(level)

    @router.get(
        "/{code}",
        response_class=HTMLResponse,
        summary="A territory's page: map, key figures, comparisons, history, downloads",
        responses={308: {"description": "A former commune: Location is its successor's page"}},
    )
    async def page(request: Request, state: State, code: Code) -> Response:
        language = language_of(request)
        messages = MESSAGES[language]
        try:
            found = await find(request, state, code)
        except NotFoundError as error:
            title = messages[
                "not_found_title" if level.level == COMMUNE else "not_found_title_other"
            ]
            context = {"lang": language, "m": messages, "detail": str(error), "title": title}
            return templates.TemplateResponse(
                request, "commune_not_found.html", context, status_code=404
            )
        if isinstance(found, Response):
            return found
        context = await page_context(request, state, found, language)
        return templates.TemplateResponse(request, "commune.html", context)

    @router.get(
        "/{code}/rapport.pdf",
        summary="The page as a PDF report, made on the server from the same HTML (WeasyPrint)",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
    )
    async def report(request: Request, state: State, code: Code) -> Response:
        found = await find(request, state, code)
        if isinstance(found, Response):
            return found
        language = language_of(request)
        context = await page_context(request, state, found, language)
        page_url = public_base_url(request, f"{level.prefix}/{found.code}")
        today = datetime.now(UTC)
        extra = {
            "request": request,
            "pdf": True,
            "page_url": page_url,
            "today": f"{today:%d/%m/%Y}" if language == "fr" else today.date().isoformat(),
        }
        html = templates.get_template("commune.html").render({**context, **extra})
        pdf = await run_in_threadpool(render_pdf, html, page_url, STATIC)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{found.code}.pdf"'},
        )

    async def download_rows(request: Request, state: TilesState, code: str) -> Any:
        found = await find(request, state, code)
        if isinstance(found, Response):
            return found, []
        async with database_connection(state.catalog.engine) as connection:
            return found, await place_rows(connection, found)

    def csv_response(text: str, filename: str) -> Response:
        return Response(
            text.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get("/{code}/statistiques.csv", summary="The figures as CSV (data.gouv.fr)")
    async def statistics_csv(request: Request, state: State, code: Code) -> Response:
        found, rows = await download_rows(request, state, code)
        if isinstance(found, Response):
            return found
        return csv_response(render_csv(level, csv_rows(found, rows), False), f"{found.code}.csv")

    @router.get(
        "/{code}/statistiques-tableur.csv",
        summary="The same CSV for spreadsheets: semicolons, decimal commas, byte-order mark",
    )
    async def statistics_spreadsheet(request: Request, state: State, code: Code) -> Response:
        found, rows = await download_rows(request, state, code)
        if isinstance(found, Response):
            return found
        text = render_csv(level, csv_rows(found, rows), True)
        return csv_response(text, f"{found.code}-tableur.csv")

    @router.get(
        "/{code}/couches/{indicator}.zip",
        summary="A raster layer's newest result cut to the territory: GeoTIFF, QGIS style (QML) "
        "and metadata",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}},
    )
    async def layer_download(
        request: Request,
        state: State,
        code: Code,
        indicator: Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$", description="e.g. ndvi")],
    ) -> Response:
        found = await find(request, state, code)
        if isinstance(found, Response):
            return found
        entry = INDICATORS.get(indicator)
        if entry is None or entry.form != "raster" or entry.planned:
            rasters = ", ".join(i.id for i in INDICATORS.values() if i.form == "raster")
            raise NotFoundError(f"no raster layer {indicator!r}; raster layers: {rasters}")
        async with database_connection(state.catalog.engine) as connection:
            geometry = await connection.scalar(
                select(func.ST_AsGeoJSON(Territory.geometry, 7)).where(
                    Territory.level == level.level, Territory.code == found.code
                )
            )
            bounds = await connection.scalar(
                select(func.Box2D(Territory.geometry)).where(
                    Territory.level == level.level, Territory.code == found.code
                )
            )
        box = tuple(float(n) for n in re.findall(r"-?[0-9.]+(?:e-?[0-9]+)?", bounds))
        items = await state.catalog.collection_items(entry.id, None)
        item = next((i for i in items.items if intersects(i.bbox, box)), None)
        if item is None:
            raise NotFoundError(f"no result of {indicator!r} over {found.name} yet")
        asset = item.style.assets[0]
        asset_name = asset if isinstance(asset, str) else asset["name"]
        path = state.guard.check(item.stac.assets[asset_name].href)
        outline = json.loads(geometry)
        tif, crs = await run_in_threadpool(clipped_geotiff, path, outline, entry)
        properties = item.content.get("properties", {})
        metadata = {
            "titre": f"{entry.title_fr or entry.title} — {found.name} ({found.code})",
            "indicateur": entry.id,
            "description": entry.description,
            "unite": entry.unit,
            "territoire": {
                "niveau": level.level.value,
                "code_insee": found.code,
                "nom": found.name,
            },
            "periode": {
                "debut": properties.get("start_datetime") or properties.get("datetime"),
                "fin": properties.get("end_datetime") or properties.get("datetime"),
            },
            "source": {
                "collection": item.collection_id,
                "element": item.id,
                "stac": public_base_url(
                    request, f"/stac/collections/{item.collection_id}/items/{item.id}"
                ),
            },
            "decoupage": "pixels touchant le contour gardés, les autres à la valeur nodata",
            "crs": crs,
            "nodata": entry.nodata,
            "legende": [
                {"valeur": e.value, "couleur": e.color, "libelle": e.label} for e in entry.legend
            ],
            "attribution": state.settings.attribution,
            "licence": {"nom": "Licence Ouverte 2.0 (Etalab)", "url": LICENCE_URL},
            "cree_le": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        name = f"{found.code}-{entry.id}"
        body = layer_zip(name, tif, entry, metadata)
        return Response(
            body,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
        )

    @router.get("/{code}/statistiques.geojson", summary="The outline and the figures")
    async def statistics_geojson(request: Request, state: State, code: Code) -> Response:
        found, rows = await download_rows(request, state, code)
        if isinstance(found, Response):
            return found
        async with database_connection(state.catalog.engine) as connection:
            geometry = await connection.scalar(
                select(func.ST_AsGeoJSON(Territory.geometry, 6)).where(
                    Territory.level == level.level, Territory.code == found.code
                )
            )
        identity = ("code_insee", level.name_column)
        document = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": found.code,
                    "geometry": json.loads(geometry),
                    "properties": {
                        "code_insee": found.code,
                        level.name_column: found.name,
                        "population": found.population,
                        "statistiques": [
                            {k: v for k, v in line.items() if k not in identity}
                            for line in csv_rows(found, rows)
                        ],
                    },
                }
            ],
        }
        return Response(
            json.dumps(document, ensure_ascii=False).encode("utf-8"),
            media_type="application/geo+json",
            headers={"Content-Disposition": f'attachment; filename="{found.code}.geojson"'},
        )

    return router
