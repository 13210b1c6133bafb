"""Checks on the items query that pygeoapi leaves to the database, or lets through.

pygeoapi accepts a bbox with minx > maxx (as crossing the antimeridian) and latitudes past ±90,
fails with a 500 on an empty `sortby` term, reads `filter` as ECQL rather than CQL2 and refuses
the `cql2-text` / `cql2-json` filter languages, and takes filters of any length and nesting.
These checks answer 400 first and hand pygeoapi a query it reads right.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from territoires.catalog.limits import Limits, count_vertices, json_nesting, text_nesting
from territoires.shared.errors import BadRequestError

# The filter languages we take, and the names pygeoapi's own check lets through.
FILTER_LANGUAGES = {
    "cql2-text": "cql-text",
    "cql-text": "cql-text",
    "cql2-json": "cql-json",
    "cql-json": "cql-json",
}


def parse_filter(text: str) -> Any:
    """CQL2 JSON when the filter is a JSON object, else CQL2 text (OGC API Features Part 3).

    Installed in place of pygeoapi's ECQL parser, which rejects CQL2 such as `NOT (…)` or
    `S_INTERSECTS(…)`; the language was already checked against `filter-lang`.
    """
    if text.lstrip().startswith("{"):
        return parse_cql2_json(text)
    return parse_cql2_text(text)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def operations(root: Any) -> tuple[int, int]:
    """How deep the operations of a parsed filter nest, counted as in CQL2-JSON (pygeofilter
    chains a run of ANDs or ORs two by two: one level here), and its geometries' vertices."""
    depth = vertices = 0
    stack: list[tuple[Any, int, Any]] = [(root, 0, None)]
    while stack:
        node, level, parent = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend((child, level, parent) for child in node)
        elif isinstance(node, values.Geometry):
            vertices += count_vertices(node.geometry)
        elif isinstance(node, ast.Node) and not isinstance(node, ast.Attribute):
            if not (isinstance(node, ast.Combination) and type(parent) is type(node)):
                level += 1
            depth = max(depth, level)
            stack.extend((child, level, node) for child in node.get_sub_nodes())
    return depth, vertices


def check_filter(text: str, language: str, limits: Limits) -> None:
    limits.check_filter_length(len(text))
    if language == "cql-json":
        limits.check_filter_nesting(json_nesting(text), json=True)
        try:
            document = json.loads(text)
        except ValueError as error:
            raise BadRequestError(f"filter is not JSON: {error}") from None
        if not isinstance(document, dict):
            raise BadRequestError("a CQL2 JSON filter is a JSON object")
        parser: Any = parse_cql2_json
    else:
        if text.lstrip().startswith("{"):
            raise BadRequestError("a CQL2 JSON filter needs filter-lang=cql2-json")
        limits.check_filter_nesting(text_nesting(text), json=False)
        parser = parse_cql2_text
    try:
        parsed = parser(text)
    except Exception as error:  # pygeofilter raises lark, JSON and value errors alike
        raise BadRequestError(f"invalid CQL2 filter: {_first_line(error)}") from None
    depth, vertices = operations(parsed)
    limits.check_filter_depth(depth)
    limits.check_vertices(vertices, "the filter's geometry")


def check_bbox(value: str) -> None:
    """A bbox in CRS84: 4 or 6 finite numbers, lower corner first, within ±180 / ±90."""
    parts = value.split(",")
    if len(parts) not in (4, 6):
        raise BadRequestError(
            "bbox takes 4 numbers (minx,miny,maxx,maxy) or 6 (minx,miny,minz,maxx,maxy,maxz)"
        )
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise BadRequestError(f"bbox values must be numbers: {value!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise BadRequestError("bbox values must be finite numbers")
    half = len(numbers) // 2
    lower, upper = numbers[:half], numbers[half:]
    (minx, miny), (maxx, maxy) = lower[:2], upper[:2]
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
        raise BadRequestError("bbox longitudes must lie within [-180, 180]")
    if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
        raise BadRequestError("bbox latitudes must lie within [-90, 90]")
    if minx > maxx:
        raise BadRequestError(
            "bbox minx is greater than maxx (bboxes across the antimeridian are not supported)"
        )
    if miny > maxy:
        raise BadRequestError("bbox miny is greater than maxy")
    if half == 3 and lower[2] > upper[2]:
        raise BadRequestError("bbox minz is greater than maxz")


def check_sortby(value: str) -> None:
    for term in value.split(","):
        if not term.strip().lstrip("+-"):
            raise BadRequestError(f"sortby has an empty term: {value!r}")


def items_query(params: list[tuple[str, str]], limits: Limits) -> list[tuple[str, str]]:
    """Checks an items query; returns it with `filter-lang` named the way pygeoapi accepts."""
    values = dict(params)
    if "bbox" in values:
        check_bbox(values["bbox"])
    if "sortby" in values:
        check_sortby(values["sortby"])
    language = values.get("filter-lang", "cql2-text")
    if language not in FILTER_LANGUAGES:
        raise BadRequestError(
            f"unknown filter-lang {language!r}: use cql2-text (default) or cql2-json"
        )
    if "filter" in values:
        check_filter(values["filter"], FILTER_LANGUAGES[language], limits)
    return [
        (key, FILTER_LANGUAGES[value] if key == "filter-lang" else value) for key, value in params
    ]
