"""CQL2 (text or JSON) to SQL on the items table.

The `cql2` library parses and validates both encodings into CQL2-JSON; this module compiles that
tree into SQLAlchemy, typed by the queryables table, so comparisons use the indexed columns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cql2
from geoalchemy2 import functions as st
from sqlalchemy import ColumnElement, and_, false, func, literal, not_, or_, select, true

from territoires.catalog.limits import (
    Limits,
    json_nesting,
    object_nesting,
    operations,
    text_nesting,
)
from territoires.catalog.stac.queryables import Queryable, filter_property, queryable
from territoires.shared.errors import BadRequestError
from territoires.shared.models import SRID, Item
from territoires.shared.stac.records import geometry_wkb, parse_datetime

Expression = ColumnElement[bool]

COMPARISONS: dict[str, Callable[[Any, Any], Expression]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
SPATIAL = {
    "s_intersects": st.ST_Intersects,
    "s_within": st.ST_Within,
    "s_contains": st.ST_Contains,
    "s_disjoint": st.ST_Disjoint,
    "s_equals": st.ST_Equals,
    "s_touches": st.ST_Touches,
    "s_crosses": st.ST_Crosses,
    "s_overlaps": st.ST_Overlaps,
}
FLIPPED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def parse_filter(
    expression: str | dict[str, Any], language: str | None, limits: Limits
) -> dict[str, Any]:
    """A filter as validated CQL2-JSON; BadRequestError with the parser's reason otherwise,
    LimitError when it is longer, more deeply nested or holds more vertices than `limits`."""
    as_json = isinstance(expression, dict) or language == "cql2-json"
    if isinstance(expression, dict):
        limits.check_filter_nesting(object_nesting(expression), json=True)
        expression = json.dumps(expression, separators=(",", ":"))
        limits.check_filter_length(len(expression))
    else:
        limits.check_filter_length(len(expression))
        nesting = json_nesting(expression) if as_json else text_nesting(expression)
        limits.check_filter_nesting(nesting, json=as_json)
    try:
        parsed = cql2.parse_json(expression) if as_json else cql2.parse_text(expression)
        document = parsed.to_json()
        bounded = between_bounds(document)
        if bounded is not document:
            parsed, document = cql2.Expr(bounded), bounded
        depth, vertices = operations(document)
        limits.check_filter_depth(depth)
        limits.check_vertices(vertices, "the filter's geometry")
        if not plainly_valid(document):
            parsed.validate()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise BadRequestError(f"invalid CQL2 filter: {reason[:300]}") from None
    return document


def between_bounds(node: Any) -> Any:
    """The filter with BETWEEN's bounds as two arguments where they came as one array
    (`{"op": "between", "args": [{"property": "p"}, [0, 50]]}`, the form of the CQL2 drafts
    that STAC clients and stac-api-validator still send); the node itself when none did."""
    if type(node) is not dict or type(node.get("args")) is not list:
        return node
    old = node["args"]
    args = [between_bounds(arg) for arg in old]
    pair = len(args) == 2 and type(args[1]) is list and len(args[1]) == 2
    if pair and str(node.get("op")).lower() == "between":
        args = [args[0], *args[1]]
    if len(args) == len(old) and all(a is b for a, b in zip(args, old, strict=True)):
        return node
    return {**node, "args": args}


def plainly_valid(node: Any) -> bool:
    """Whether a parsed filter is made only of AND, OR, NOT and comparisons of properties and
    plain numbers or strings: shapes the CQL2 schema accepts whatever the names and values.

    The cql2 library checks a filter against the CQL2 JSON schema by building a validator
    each time: 20 ms, more than the search it filters. Filters of these shapes, the common
    ones, need not wait for it; any other goes through it as before.
    """
    if type(node) is not dict or node.keys() != {"op", "args"} or type(node["args"]) is not list:
        return False
    op, args = node["op"], node["args"]
    if op in ("and", "or"):
        return len(args) >= 2 and all(plainly_valid(arg) for arg in args)
    if op == "not":
        return len(args) == 1 and plainly_valid(args[0])
    return op in COMPARISONS and len(args) == 2 and all(_plain_operand(arg) for arg in args)


def _plain_operand(node: Any) -> bool:
    if type(node) is dict:
        return (
            node.keys() == {"property"} and type(node["property"]) is str and bool(node["property"])
        )
    return type(node) in (int, float, str) and (type(node) is str or math.isfinite(node))


def compile_filter(node: Any) -> Expression:
    if not isinstance(node, dict) or "op" not in node:
        raise BadRequestError(f"invalid CQL2 filter: expected an operation, got {node!r}")
    op = node["op"].lower() if node["op"] not in COMPARISONS else node["op"]
    args = node.get("args", [])
    if op in ("and", "or"):
        parts = [compile_filter(a) for a in args]
        return and_(*parts) if op == "and" else or_(*parts)
    if op == "not":
        return not_(compile_filter(args[0]))
    if op in COMPARISONS:
        return _comparison(op, args)
    if op == "like":
        prop = _property(args[0], args[1])
        _expect(prop, ("string",), op)
        return prop.expression().like(_literal(args[1], prop))
    if op == "in":
        prop = _property(args[0], args[1][0] if args[1] else "")
        return prop.expression().in_([_literal(v, prop) for v in args[1]])
    if op == "between":
        prop = _property(args[0], args[1])
        _expect(prop, ("number", "integer", "datetime"), op)
        return prop.expression().between(_literal(args[1], prop), _literal(args[2], prop))
    if op == "isnull":
        prop = _property(args[0], "")
        return false() if prop.is_column else prop.expression().is_(None)
    if op in SPATIAL:
        prop = _property(args[0])
        _expect(prop, ("geometry",), op)
        return SPATIAL[op](Item.geometry, geometry_literal(args[1]))
    if op.startswith("t_"):
        return _temporal(op, args)
    raise BadRequestError(f"unsupported CQL2 operation {node['op']!r}")


def _property(node: Any, compared_with: Any = None) -> Queryable:
    """The queryable a filter names; with `compared_with`, any item property (see
    `filter_property`)."""
    if isinstance(node, dict) and "property" in node:
        if compared_with is None:
            return queryable(node["property"])
        return filter_property(node["property"], compared_with)
    raise BadRequestError(f"invalid CQL2 filter: expected a property, got {node!r}")


def _expect(prop: Queryable, types: tuple[str, ...], op: str) -> None:
    if prop.type not in types:
        raise BadRequestError(f"{op} does not apply to {prop.name!r} ({prop.type})")


def _literal(value: Any, prop: Queryable) -> Any:
    """A literal converted to the property's type; BadRequestError on a mismatch."""
    if prop.type == "datetime":
        return _instant(value, prop.name)
    if prop.type in ("number", "integer") and isinstance(value, int | float):
        return int(value) if prop.type == "integer" and float(value).is_integer() else value
    if prop.type == "string" and isinstance(value, str):
        return value
    raise BadRequestError(f"{prop.name!r} is a {prop.type}; it cannot be compared with {value!r}")


def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, dict) and ("timestamp" in value or "date" in value):
        value = value.get("timestamp") or value.get("date")
    if isinstance(value, str) and len(value) == 10:
        value = f"{value}T00:00:00Z"
    return parse_datetime(value, f"the value compared with {name!r}")


def _comparison(op: str, args: list[Any]) -> Expression:
    left, right = args
    if not (isinstance(left, dict) and "property" in left):
        left, right, op = right, left, FLIPPED[op]
    prop = _property(left, right)
    if prop.type == "geometry":
        raise BadRequestError("compare geometries with S_INTERSECTS and the other S_ operations")
    return COMPARISONS[op](prop.expression(), _literal(right, prop))


def geometry_literal(node: Any) -> Any:
    if isinstance(node, dict) and "bbox" in node:
        return envelope(node["bbox"])
    return func.ST_GeomFromEWKB(geometry_wkb(node, "the filter"))


def envelope(bbox: Any) -> Any:
    """A validated lon/lat bbox (4 or 6 numbers) as a PostGIS envelope."""
    if not isinstance(bbox, list | tuple) or len(bbox) not in (4, 6):
        raise BadRequestError(f"a bbox has 4 or 6 numbers, got {bbox!r}")
    if not all(isinstance(v, int | float) for v in bbox):
        raise BadRequestError(f"a bbox holds numbers only, got {bbox!r}")
    minx, miny, maxx, maxy = (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else bbox
    if minx > maxx or miny > maxy:
        raise BadRequestError(f"bbox {list(bbox)} is inverted: use minx,miny,maxx,maxy")
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise BadRequestError(f"bbox {list(bbox)} is outside longitude ±180 / latitude ±90")
    return func.ST_MakeEnvelope(minx, miny, maxx, maxy, SRID)


def _largest(expression: Any) -> Any:
    """The largest value of an expression of an item row, over all items (an index's first
    or last entry: see migration 0004)."""
    return select(func.max(expression)).scalar_subquery()


# How far an item's datetime lies before its end and after its start, at most. An item ending
# after S has its datetime after S minus the first; one starting before E has it before E plus
# the second. These bounds add no condition, but they let the (collection, datetime) and
# datetime indexes, which also give the order of the results, serve a time filter on
# [start_datetime, end_datetime]: without them a btree reads every item ending after S.
_SPANS = Item.__table__.alias("spans")
_DATETIME_BEFORE_END = _largest(_SPANS.c.end_datetime - _SPANS.c.datetime)
_DATETIME_AFTER_START = _largest(_SPANS.c.datetime - _SPANS.c.start_datetime)


def _instant_literal(value: datetime) -> ColumnElement[datetime]:
    """A bound timestamptz parameter (a bare one in arithmetic is sent as a naive timestamp)."""
    return literal(value, Item.datetime.type)


def overlapping(start: datetime | None, end: datetime | None) -> list[Expression]:
    """Items whose [start_datetime, end_datetime] meets [start, end] (None: open), with the
    datetime bounds that let an index on datetime find them."""
    conditions: list[Expression] = []
    if end is not None:
        conditions.append(Item.start_datetime <= end)
        conditions.append(Item.datetime <= _instant_literal(end) + _DATETIME_AFTER_START)
    if start is not None:
        conditions.append(Item.end_datetime >= start)
        conditions.append(Item.datetime >= _instant_literal(start) - _DATETIME_BEFORE_END)
    return conditions


def _interval(node: Any, name: str) -> tuple[datetime | None, datetime | None]:
    if isinstance(node, dict) and "interval" in node:
        start, end = node["interval"]
        return (
            None if start == ".." else _instant(start, name),
            None if end == ".." else _instant(end, name),
        )
    instant = _instant(node, name)
    return instant, instant


def _temporal(op: str, args: list[Any]) -> Expression:
    """Temporal predicates on an item's [start_datetime, end_datetime] extent."""
    prop = _property(args[0])
    _expect(prop, ("datetime",), op)
    start, end = Item.start_datetime, Item.end_datetime
    if prop.name != "datetime":
        start = end = prop.expression()
    low, high = _interval(args[1], prop.name)
    if op == "t_intersects" and prop.name == "datetime":
        return and_(true(), *overlapping(low, high))
    low = low or datetime.min.replace(tzinfo=UTC)
    high = high or datetime.max.replace(tzinfo=UTC)
    predicates: dict[str, Callable[[], Expression]] = {
        "t_intersects": lambda: and_(start <= high, end >= low),
        "t_disjoint": lambda: or_(start > high, end < low),
        "t_before": lambda: end < low,
        "t_after": lambda: start > high,
        "t_during": lambda: and_(start > low, end < high),
        "t_contains": lambda: and_(start < low, end > high),
        "t_equals": lambda: and_(start == low, end == high),
        "t_starts": lambda: and_(start == low, end < high),
        "t_finishes": lambda: and_(start > low, end == high),
        "t_meets": lambda: end == low,
        "t_metby": lambda: start == high,
        "t_overlaps": lambda: and_(start < low, end > low, end < high),
        "t_overlappedby": lambda: and_(start > low, start < high, end > high),
    }
    if op not in predicates:
        raise BadRequestError(f"unsupported CQL2 operation {op!r}")
    return predicates[op]()
