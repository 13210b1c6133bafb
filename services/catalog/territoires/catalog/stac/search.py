"""Item search: one query builder behind GET/POST /search and /collections/{id}/items.

Pages are keyset pages: a token holds the sort values of the row a page ended (or began) on,
so page 50 costs what page 1 costs, and the indexes on (datetime, id) serve the default order.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Float,
    Select,
    String,
    and_,
    any_,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from stac_fastapi.types.rfc3339 import str_to_interval

from territoires.catalog.stac.filters import (
    compile_filter,
    envelope,
    geometry_literal,
    overlapping,
)
from territoires.catalog.stac.queryables import queryable
from territoires.shared.errors import BadRequestError, NotFoundError
from territoires.shared.models import Collection, Item
from territoires.shared.stac.records import parse_datetime

# stac-fastapi's search models serve a larger `limit` as this one (their `Limit` type crops to it).
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10
Direction = Literal["asc", "desc"]


@dataclass
class SearchQuery:
    collections: list[str] | None = None
    ids: list[str] | None = None
    bbox: list[float] | None = None
    intersects: dict[str, Any] | None = None
    datetime: str | None = None
    filter: dict[str, Any] | None = None  # validated CQL2-JSON
    sortby: list[tuple[str, Direction]] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    token: str | None = None


@dataclass
class SearchPage:
    items: list[dict[str, Any]]
    next_token: str | None
    prev_token: str | None


@dataclass(frozen=True)
class SortKey:
    expression: ColumnElement[Any]
    direction: Direction
    kind: str  # how a token stores its value: "datetime", "number" or "string"


def parse_interval(value: str) -> tuple[datetime | None, datetime | None]:
    """A STAC datetime parameter: an instant, or an interval with `..` or empty open ends, as
    stac-fastapi reads RFC 3339 (`t` and `z` in either case); a 400 otherwise."""
    interval = str_to_interval(value)
    if interval is None:
        raise BadRequestError("datetime must name an instant or an interval")
    if isinstance(interval, tuple):
        return interval
    return interval, interval


def _sort_keys(sortby: list[tuple[str, Direction]]) -> list[SortKey]:
    keys: list[SortKey] = []
    for name, direction in sortby or [("datetime", "desc")]:
        prop = queryable(name)
        if prop.type == "geometry":
            raise BadRequestError("items cannot be sorted by geometry")
        expression = prop.expression()
        if not prop.is_column:  # properties may be missing: sort them last, comparably
            expression = func.coalesce(
                expression,
                cast(literal("Infinity"), Float) if prop.type != "string" else literal(""),
            )
        kind = (
            "datetime"
            if prop.type == "datetime"
            else ("number" if prop.type in ("number", "integer") else "string")
        )
        keys.append(SortKey(expression, direction, kind))
    # The primary key breaks ties, so that every row has exactly one place in the order.
    keys.append(SortKey(Item.collection_id, keys[-1].direction, "string"))
    keys.append(SortKey(Item.id, keys[-1].direction, "string"))
    return keys


def _encode_token(direction: str, values: list[Any]) -> str:
    payload = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps({"d": direction, "k": payload}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, keys: list[SortKey]) -> tuple[str, list[Any]]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
        direction, values = document["d"], document["k"]
        if direction not in ("next", "prev") or len(values) != len(keys):
            raise ValueError
        decoded = [
            parse_datetime(v, "token") if key.kind == "datetime" else v
            for key, v in zip(keys, values, strict=True)
        ]
    except (ValueError, KeyError, TypeError, binascii.Error, BadRequestError):
        raise BadRequestError(
            "invalid paging token: follow the next/prev links of a search with the same sort"
        ) from None
    return direction, decoded


def _after(keys: list[SortKey], values: list[Any], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after `values` in the sort order (before it when not `forward`).

    The first key's bound is repeated outside the OR of the tie-breaks: it adds no condition,
    but it is one an index on that key can start its scan at, rather than reading every row
    of the pages before."""
    clauses = []
    for index, key in enumerate(keys):
        ascending = (key.direction == "asc") == forward
        step = key.expression > values[index] if ascending else key.expression < values[index]
        equal = [k.expression == v for k, v in zip(keys[:index], values[:index], strict=True)]
        clauses.append(and_(*equal, step))
    first = keys[0]
    from_first = (
        first.expression >= values[0]
        if (first.direction == "asc") == forward
        else first.expression <= values[0]
    )
    return and_(from_first, or_(*clauses))


def _where(query: SearchQuery) -> tuple[list[ColumnElement[bool]], Any]:
    """The conditions of a query but its footprint, and its footprint (bbox or intersects)
    as a geometry, None without one: `search_plan` tests it with or without the spatial
    index."""
    conditions: list[ColumnElement[bool]] = []
    if query.collections:
        conditions.append(Item.collection_id.in_(query.collections))
    if query.ids:
        conditions.append(Item.id.in_(query.ids))
        if not query.collections:
            # Every collection, as an array: the primary key (collection_id, id) then finds
            # each id in each collection, where `id IN (…)` alone would read a whole index.
            every = select(func.array_agg(Collection.id)).scalar_subquery()
            conditions.append(Item.collection_id == any_(cast(every, ARRAY(String))))
    if query.bbox is not None and query.intersects is not None:
        raise BadRequestError("bbox and intersects are mutually exclusive")
    footprint = None
    if query.bbox is not None:
        footprint = envelope(list(query.bbox))
    if query.intersects is not None:
        footprint = geometry_literal(query.intersects)
    if query.datetime:
        conditions += overlapping(*parse_interval(query.datetime))
    if query.filter:
        conditions.append(compile_filter(query.filter))
    return conditions, footprint


async def check_collections(connection: AsyncConnection, names: list[str]) -> None:
    found = set(
        (await connection.execute(select(Collection.id).where(Collection.id.in_(names)))).scalars()
    )
    missing = sorted(set(names) - found)
    if missing:
        raise NotFoundError(f"unknown collection(s): {', '.join(missing)}")


@dataclass
class SearchPlan:
    """A search page's SQL: the statement, its sort keys, whether it reads forward (False for
    a `prev` token), and the conditions an index in the sort order answers alone."""

    statement: Select[Any]
    keys: list[SortKey]
    forward: bool
    ordered: list[ColumnElement[bool]]
    walked: Select[Any]  # the statement with footprints tested row by row (no spatial index)


def search_statement(query: SearchQuery) -> tuple[Select[Any], list[SortKey], bool]:
    """The SQL of a search page (one row more than the limit, to know whether a next page
    exists), its sort keys, and whether it reads forward (False for a `prev` token)."""
    plan = search_plan(query)
    return plan.statement, plan.keys, plan.forward


def search_plan(query: SearchQuery) -> SearchPlan:
    """What `search` runs for a query: see SearchPlan."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise BadRequestError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
    keys = _sort_keys(query.sortby)
    conditions, footprint = _where(query)
    ordered = [Item.collection_id.in_(query.collections)] if query.collections else []
    forward = True
    if query.token:
        direction, values = _decode_token(query.token, keys)
        forward = direction == "next"
        after = _after(keys, values, forward)
        conditions.append(after)
        ordered.append(after)
    order = [
        (k.expression.asc() if (k.direction == "asc") == forward else k.expression.desc())
        for k in keys
    ]
    base = (
        select(Item.content, *[k.expression for k in keys])
        .where(*conditions)
        .order_by(*order)
        .limit(query.limit + 1)
    )
    statement = walked = base
    if footprint is not None:
        statement = base.where(func.ST_Intersects(Item.geometry, footprint))
        walked = base.where(func._ST_Intersects(Item.geometry, footprint))
    return SearchPlan(statement, keys, forward, ordered, walked)


# How many items, in the order of the results, a search filtered by footprint or properties
# first looks among (see `window_edge`).
WINDOW_ROWS = 20_000


def windowed(query: SearchQuery, keys: list[SortKey]) -> bool:
    """Whether a search is one a window serves (`window_edge`): sorted on datetime first,
    filtered by footprint or CQL2 but neither by ids nor by time (indexes bound those), in
    one collection at most (an index gives the order of one collection's items, not of a
    few collections' together)."""
    return (
        keys[0].expression is Item.datetime
        and len(query.collections or ()) <= 1
        and not query.ids
        and not query.datetime
        and (query.bbox is not None or query.intersects is not None or bool(query.filter))
    )


def window_edge(plan: SearchPlan) -> Select[Any]:
    """The datetime of the item just past the window: the first WINDOW_ROWS items of the
    search's order among those matching its collections and token (an index-only scan).

    PostgreSQL estimates how many items a large footprint or a property filter keeps poorly
    (an eighth of the truth for a département against scene footprints), and then prefers
    reading every item in the footprint and sorting them (half a second for 50,000 items) to
    reading items newest first until the page is full (tens of milliseconds). Bounded to a
    window of known size, the search costs what that window holds. The answer is the same:
    when the window holds a full page of matches, no item outside it comes before them.
    """
    ascending = (plan.keys[0].direction == "asc") == plan.forward
    return (
        select(Item.datetime)
        .where(*plan.ordered)
        .order_by(Item.datetime.asc() if ascending else Item.datetime.desc())
        .offset(WINDOW_ROWS)
        .limit(1)
    )


def windowed_statement(plan: SearchPlan, edge: datetime) -> Select[Any]:
    """The search restricted to the window ending at `edge` (included), reading it in order
    and testing footprints row by row (PostGIS's `_ST_Intersects`, which does not bring the
    spatial index into the plan): within a window, the datetime index finds a page sooner
    than the spatial index, whose estimates misled the planner in the first place."""
    ascending = (plan.keys[0].direction == "asc") == plan.forward
    return plan.walked.where(Item.datetime <= edge if ascending else Item.datetime >= edge)


async def search(connection: AsyncConnection, query: SearchQuery) -> SearchPage:
    if not 1 <= query.limit <= MAX_LIMIT:
        raise BadRequestError(f"limit must be between 1 and {MAX_LIMIT}, got {query.limit}")
    if query.collections:
        await check_collections(connection, query.collections)
    plan = search_plan(query)
    rows: list[Any] = []
    edge = await connection.scalar(window_edge(plan)) if windowed(query, plan.keys) else None
    if edge is not None:
        rows = list((await connection.execute(windowed_statement(plan, edge))).all())
    if len(rows) <= query.limit:  # no window, or one without a full page: the whole search
        rows = list((await connection.execute(plan.statement)).all())
    forward = plan.forward
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if not forward:
        rows.reverse()
    next_token = prev_token = None
    if rows:
        if more or not forward:
            next_token = _encode_token("next", list(rows[-1][1:]))
        if query.token and (forward or more):
            prev_token = _encode_token("prev", list(rows[0][1:]))
    return SearchPage([row[0] for row in rows], next_token, prev_token)
