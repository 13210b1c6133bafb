"""Territory look-up for the map pages: one territory by INSEE code, or names for an autocomplete.

The OGC API Features collection can do both, but a map page needs a commune's outline by code in
one short request, and an autocomplete needs accent-blind, punctuation-blind name prefixes
("saint etienne" finds "Saint-Étienne-de-Tinée") ranked by population, which CQL2 cannot say.
Five digits are also a postcode: the communes that have it are found beside the INSEE codes
starting so (17300 is La Rochelle's INSEE code and Rochefort's postcode).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.shared.errors import NotFoundError, ServiceUnavailableError
from territoires.shared.models import Territory, TerritoryLevel
from territoires.shared.public_url import public_base_url
from territoires.shared.service import Resources, resources_of
from territoires.shared.territories import search_name, successor_of

MAX_SUGGESTIONS = 50
# Characters other than letters and digits: "l'ile", "l ile" and "l-ile" all read "l ile".
SEPARATORS = "[^a-z0-9]+"
CODE = r"^[0-9A-Za-z]{1,16}$"
POSTCODE = r"^[0-9]{5}$"

PROPERTIES = (
    Territory.level,
    Territory.code,
    Territory.name,
    Territory.parent_code,
    Territory.population,
    Territory.postcodes,
)
BBOX = (
    func.ST_XMin(Territory.geometry),
    func.ST_YMin(Territory.geometry),
    func.ST_XMax(Territory.geometry),
    func.ST_YMax(Territory.geometry),
)


@asynccontextmanager
async def connection(resources: Resources) -> AsyncIterator[AsyncConnection]:
    """A connection, or a 503 Problem Details when the database cannot be reached."""
    try:
        async with resources.engine.connect() as conn:
            yield conn
    except (OSError, OperationalError, InterfaceError):
        raise ServiceUnavailableError("the database is unavailable; try again shortly") from None


def loose(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    return re.sub(SEPARATORS, " ", search_name(text)).strip()


def feature(
    row: Sequence[Any], geometry: dict[str, Any] | None, links: list[dict[str, str]]
) -> dict[str, Any]:
    level, code, name, parent_code, population, postcodes, *bbox = row
    return {
        "type": "Feature",
        "id": f"{level}-{code}",
        "bbox": [round(value, 6) for value in bbox],
        "geometry": geometry,
        "properties": {
            "level": level.value,
            "code": code,
            "name": name,
            "parent_code": parent_code,
            "population": population,
            "postcodes": postcodes,
        },
        "links": links,
    }


def features_link(request: Request, level: str, code: str) -> dict[str, str]:
    base = public_base_url(request, "/features")
    return {
        "rel": "alternate",
        "type": "application/geo+json",
        "title": "This territory in OGC API Features",
        "href": f"{base}/collections/territories/items/{level}-{code}",
    }


def by_code(code: str, level: TerritoryLevel | None) -> Select:
    """The territory with this code; communes first when several levels share it."""
    statement = (
        select(*PROPERTIES, *BBOX, func.ST_AsGeoJSON(Territory.geometry, 6).label("geojson"))
        .where(Territory.code == code)
        .order_by(Territory.level)
        .limit(1)
    )
    return statement if level is None else statement.where(Territory.level == level)


def by_name_prefix(prefix: str, levels: Sequence[TerritoryLevel], limit: int) -> Select | None:
    """Names that start with `prefix` (accent, case and punctuation blind), codes that do, and
    communes whose postcode it is; None when the prefix has neither letters nor digits."""
    conditions = []
    if words := loose(prefix):
        name = func.btrim(func.regexp_replace(Territory.search_name, SEPARATORS, " ", "g"))
        conditions.append(name.startswith(words, autoescape=True))
    if re.fullmatch(CODE, prefix):
        conditions.append(Territory.code.startswith(prefix.upper(), autoescape=True))
    if re.fullmatch(POSTCODE, prefix):
        conditions.append(Territory.postcodes.contains([prefix]))
    if not conditions:
        return None
    statement = (
        select(*PROPERTIES, *BBOX)
        .where(or_(*conditions))
        .order_by(Territory.population.desc().nulls_last(), Territory.name, Territory.level)
        .limit(limit)
    )
    return statement.where(Territory.level.in_(levels)) if levels else statement


def moved_to(request: Request, successor: str) -> RedirectResponse:
    """A permanent redirect from a former commune to the commune it is part of since."""
    location = public_base_url(request, f"/territories/{successor}")
    if request.url.query:
        location = f"{location}?{request.url.query}"
    return RedirectResponse(location, status_code=308)


def territory_router() -> APIRouter:
    router = APIRouter(prefix="/territories", tags=["territories"])

    @router.get(
        "/{code}",
        summary="A territory by INSEE code, with its outline",
        responses={
            308: {"description": "A former commune's code: Location is its 2026 successor's URL"}
        },
    )
    async def get_territory(
        request: Request,
        code: Annotated[str, Path(pattern=CODE, description="INSEE code, e.g. 17300 or 2A004")],
        resources: Annotated[Resources, Depends(resources_of)],
        level: Annotated[
            TerritoryLevel | None, Query(description="Level, when codes repeat")
        ] = None,
    ) -> Any:
        async with connection(resources) as conn:
            row = (await conn.execute(by_code(code.upper(), level))).first()
            if row is None and level in (None, TerritoryLevel.COMMUNE):
                successor = await successor_of(conn, code.upper())
                if successor is not None:
                    return moved_to(request, successor)
        if row is None:
            where = f" at level {level.value}" if level else ""
            raise NotFoundError(f"no territory with code {code!r}{where}")
        *properties, geojson = row
        level_, code_ = properties[0].value, properties[1]
        self_link = {"rel": "self", "type": "application/geo+json", "href": str(request.url)}
        return feature(
            row[: len(PROPERTIES) + len(BBOX)],
            json.loads(geojson),
            [self_link, features_link(request, level_, code_)],
        )

    @router.get(
        "", summary="Territories whose name (or code) starts with a prefix, or with a postcode"
    )
    async def search_territories(
        request: Request,
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=100,
                description="Name or code prefix, or a commune's postcode (five digits)",
            ),
        ],
        resources: Annotated[Resources, Depends(resources_of)],
        level: Annotated[list[TerritoryLevel] | None, Query(description="Levels to keep")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 10,
    ) -> dict[str, Any]:
        statement = by_name_prefix(q.strip(), level or [], limit)
        rows: Sequence[Row[Any]] = []
        if statement is not None:
            async with connection(resources) as conn:
                rows = (await conn.execute(statement)).all()
        features = [
            feature(row, None, [features_link(request, row[0].value, row[1])]) for row in rows
        ]
        return {"type": "FeatureCollection", "features": features, "numberReturned": len(features)}

    return router
