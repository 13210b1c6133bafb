"""`/map` and `/embed`: the map pages, served with their MapLibre build so they work offline.

The pages are shells plus a small configuration; their scripts fetch everything else with
same-origin paths (collections, TileJSON, legend, the territory's outline), so they work
wherever the gateway is published and in a municipal portal's iframe. The embed page's key
figures are rendered in its HTML, from the statistics rows its indicator names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from territoires.shared.errors import NotFoundError, ServiceUnavailableError
from territoires.shared.indicators import INDICATORS
from territoires.tiles.dependencies import State, TilesState
from territoires.tiles.figures import indicator_title, territory_figures
from territoires.tiles.intervals import parse_interval
from territoires.tiles.messages import MESSAGES, language_of, period_label

PACKAGE = Path(__file__).parent
STATIC = PACKAGE / "static"
TEMPLATES = PACKAGE / "templates"
# What scripts/bootstrap.sh copies from npm (services/tiles/frontend) at build time.
MAPLIBRE = STATIC / "vendor" / "maplibre-gl" / "maplibre-gl.mjs"
TERRITORY_CODE = r"^[0-9A-Za-z]{1,16}$"
BOUNDARIES_ATTRIBUTION = "Boundaries © IGN, INSEE (Licence Ouverte)"


def require_front_end() -> None:
    """The pages cannot work without MapLibre: say how to build it rather than serve a blank map."""
    if not MAPLIBRE.is_file():
        raise ServiceUnavailableError(
            "the map pages' front-end is not built: run scripts/bootstrap.sh "
            "(npm ci in services/tiles/frontend, then the copy into the static folder)"
        )


def accessibility_router(templates: Jinja2Templates, contact: str | None) -> APIRouter:
    """The accessibility statement (RGAA) the pages link to, in the page's language."""
    router = APIRouter(tags=["map pages"])

    @router.get("/accessibilite", response_class=HTMLResponse, summary="Accessibility statement")
    def statement(request: Request) -> HTMLResponse:
        language = language_of(request)
        context = {
            "lang": language,
            "other": "en" if language == "fr" else "fr",
            "m": MESSAGES[language],
            "contact": contact,
            "contact_href": contact if contact and "://" in contact else f"mailto:{contact}",
        }
        return templates.TemplateResponse(request, "accessibilite.html", context)

    return router


def pages_router(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(tags=["map pages"], dependencies=[Depends(require_front_end)])

    def attribution(state: TilesState) -> str:
        return f"{state.settings.attribution} · {BOUNDARIES_ATTRIBUTION}"

    @router.get("/map", response_class=HTMLResponse, summary="Map of every collection")
    def map_page(request: Request, state: State) -> HTMLResponse:
        """Every collection and indicator over the outlines, a time slider, the legend, and
        the value under a click."""
        language = language_of(request)
        messages = MESSAGES[language]
        config = {
            "attribution": attribution(state),
            "basemap": state.base_map,
            "language": language,
            "messages": {
                key: messages[key]
                for key in ("indicators", "scenes", "no_collection", "no_data_here", "no_data")
            },
        }
        context = {"config": config, "lang": language, "m": messages}
        return templates.TemplateResponse(request, "map.html", context)

    @router.get("/embed", response_class=HTMLResponse, summary="A commune's indicator map")
    async def embed_page(
        request: Request,
        state: State,
        territory: Annotated[
            str, Query(pattern=TERRITORY_CODE, description="INSEE code, e.g. 17300")
        ],
        indicator: Annotated[str, Query(max_length=64, description="Indicator id, e.g. ndvi")],
        datetime: Annotated[
            str | None, Query(max_length=64, description="Date or interval to show")
        ] = None,
    ) -> HTMLResponse:
        """For a municipal portal's iframe: the commune's outline, the indicator layer, its
        legend, the commune's figures and the attribution."""
        entry = INDICATORS.get(indicator)
        if entry is None:
            known = ", ".join(sorted(INDICATORS))
            raise NotFoundError(f"no indicator {indicator!r}; known: {known}")
        if datetime:
            parse_interval(datetime)
        code = territory.upper()
        language = language_of(request)
        messages = MESSAGES[language]
        config = {
            "territory": code,
            "indicator": indicator,
            "form": entry.form,
            "datetime": datetime,
            "attribution": attribution(state),
            "basemap": state.base_map,
            "language": language,
            "title": indicator_title(entry, language),
            "messages": {
                key: messages[key]
                for key in ("inhabitants", "insee_code", "territory_not_found", "no_result_yet")
            },
        }
        figures = await territory_figures(state.catalog.engine, code, entry, language)
        context = {
            "config": config,
            "figures": figures,
            "lang": language,
            "m": messages,
            "title": config["title"],
            "period": period_label(figures.period_start, figures.period_end, language)
            if figures
            else None,
        }
        return templates.TemplateResponse(request, "embed.html", context)

    return router
