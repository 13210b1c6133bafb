"""What one catalog request may ask of the service: a filter's length and nesting, a search
geometry's vertices, the items one transaction writes, the time one statement runs.

Each limit is a setting, checked before the work its input would drive (a parser, a query, a
write), and answered with Problem Details naming that setting. The CQL2 parsers recurse as
deep as a filter nests: `cql2` (Rust) overflows its stack and kills the process on 4 kB of
parentheses, and its schema check slows with every level. So a filter's nesting is bounded from
its text before any parser sees it, then measured exactly once it is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException

from territoires.shared.errors import BadRequestError, problem
from territoires.shared.settings import Settings

# The SQLSTATE of a statement PostgreSQL cancelled, here on reaching statement_timeout.
QUERY_CANCELED = "57014"
TIMEOUT_DETAIL = (
    "the search took too long: it ran past the catalog's statement timeout "
    "(TERRITOIRES_CATALOG_STATEMENT_TIMEOUT_S); narrow it (a smaller bbox or datetime range, "
    "a simpler filter, a lower limit)"
)

# Bounds, from a filter's text, of the nesting a filter of the allowed depth may show: a
# CQL2-JSON operation opens an object and its argument list; a geometry adds up to 6 levels.
# A CQL2 text's bound (`text_nesting`) counts about 4 per level it allows. With the depth
# setting at its maximum (100) both stay far below the ~1,500 levels where `cql2` crashes.
JSON_LEVELS_PER_DEPTH, JSON_SLACK = 2, 8
TEXT_LEVELS_PER_DEPTH, TEXT_SLACK = 4, 16

_CQL2_TOKEN = re.compile(
    r"""'(?:[^']|'')*'          # a string ('' is a quote within it)
    |"(?:[^"]|"")*"             # a quoted property name
    |[A-Za-z_][\w:.]*           # a keyword, a property or a function name
    |\d[\d.]*(?:[eE][-+]?\d+)?  # a number
    |<>|<=|>=|\S                # an operator or a punctuation mark
    """,
    re.VERBOSE,
)
# The tokens that make an operation of what follows or surrounds them.
_SYMBOLS = ("=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^")
_OPERATORS = frozenset((*_SYMBOLS, "NOT", "LIKE", "BETWEEN", "IN", "IS", "DIV"))
# Levels a parenthesis may add besides its operators: its own operation (a function, a group)
# and an OR of ANDs within it.
_PARENTHESIS_LEVELS = 3
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def setting(name: str) -> str:
    """The environment variable of a setting, as the README lists it."""
    return f"TERRITOIRES_{name.upper()}"


class LimitError(BadRequestError):
    """A request past one of the catalog's limits (400)."""


def text_nesting(text: str) -> int:
    """An upper bound of how deep the operations of a CQL2 text nest.

    Within a parenthesis, a clause (up to the next AND, OR or comma) nests at most one
    operation per operator it holds (NOT NOT …, 1 + 1 + …); AND and OR add at most two levels
    (CQL2 parsers flatten a run of either into one operation), and the parenthesis one more.
    """
    clauses = [0]  # operators in the current clause of each open parenthesis
    total = deepest = _PARENTHESIS_LEVELS
    for token in _CQL2_TOKEN.findall(text):
        word = token.upper()
        if token == "(":
            clauses.append(0)
            total += _PARENTHESIS_LEVELS
        elif token == ")":
            if len(clauses) > 1:
                total -= clauses.pop() + _PARENTHESIS_LEVELS
        elif token == "," or word in ("AND", "OR"):
            total -= clauses[-1]
            clauses[-1] = 0
        elif word in _OPERATORS:
            clauses[-1] += 1
            total += 1
        deepest = max(deepest, total)
    return deepest


def json_nesting(text: str) -> int:
    """How deep the objects and arrays of a JSON text nest (whether or not it is valid)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _children(node: Any) -> Iterator[Any] | None:
    if isinstance(node, dict):
        return iter(node.values())
    if isinstance(node, list | tuple):
        return iter(node)
    return None


def object_nesting(value: Any) -> int:
    """How deep the dicts and lists of a parsed JSON document nest (without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = _children(node)
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def count_vertices(geometry: Any) -> int:
    """The positions of a GeoJSON geometry, a collection's members included."""
    count, stack = 0, [geometry]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(v for k, v in node.items() if k in ("coordinates", "geometries"))
        elif isinstance(node, list | tuple) and node:
            if isinstance(node[0], int | float):
                count += 1
            else:
                stack.extend(node)
    return count


def operations(document: Any) -> tuple[int, int]:
    """How deep the operations of a CQL2-JSON filter nest, and its geometries' vertices."""
    depth = vertices = 0
    stack = [(document, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, list):
            stack.extend((child, level) for child in node)
        elif isinstance(node, dict):
            if "coordinates" in node or "geometries" in node:
                vertices += count_vertices(node)
            elif "op" in node and isinstance(node.get("args", []), list):
                depth = max(depth, level + 1)
                stack.extend((child, level + 1) for child in node.get("args", []))
    return depth, vertices


@dataclass(frozen=True)
class Limits:
    """The catalog's request limits, from its settings."""

    filter_chars: int
    filter_depth: int
    geometry_vertices: int
    transaction_items: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            filter_chars=settings.cql2_max_chars,
            filter_depth=settings.cql2_max_depth,
            geometry_vertices=settings.geometry_max_vertices,
            transaction_items=settings.stac_transaction_max_items,
        )

    def check_filter_length(self, length: int) -> None:
        if length > self.filter_chars:
            raise LimitError(
                f"the CQL2 filter is {length:,} characters long; the limit is "
                f"{self.filter_chars:,} ({setting('cql2_max_chars')})"
            )

    def check_filter_nesting(self, nesting: int, *, json: bool) -> None:
        """Before parsing: `nesting` is `json_nesting`/`object_nesting` for CQL2-JSON,
        `text_nesting` for CQL2 text."""
        if json:
            bound = JSON_LEVELS_PER_DEPTH * self.filter_depth + JSON_SLACK
        else:
            bound = TEXT_LEVELS_PER_DEPTH * self.filter_depth + TEXT_SLACK
        if nesting > bound:
            raise LimitError(
                f"the CQL2 filter nests deeper than the limit of {self.filter_depth} "
                f"operations ({setting('cql2_max_depth')})"
            )

    def check_filter_depth(self, depth: int) -> None:
        """Once parsed: how deep its operations (and/or/not, comparisons, functions) nest."""
        if depth > self.filter_depth:
            raise LimitError(
                f"the CQL2 filter nests {depth} operations deep; the limit is "
                f"{self.filter_depth} ({setting('cql2_max_depth')})"
            )

    def check_vertices(self, count: int, what: str) -> None:
        if count > self.geometry_vertices:
            raise LimitError(
                f"{what} has {count:,} vertices; the limit is {self.geometry_vertices:,} "
                f"({setting('geometry_max_vertices')}): simplify it"
            )

    def check_transaction(self, count: int) -> None:
        """All or nothing: a transaction over the limit writes no item (413)."""
        if count > self.transaction_items:
            raise HTTPException(
                413,
                f"the ItemCollection holds {count:,} items; one request writes at most "
                f"{self.transaction_items:,} ({setting('stac_transaction_max_items')}): "
                "send it in parts, or load it with `territoires ingest`",
            )


def statement_timeout_ms(settings: Settings) -> int:
    return max(1, round(settings.catalog_statement_timeout_s * 1000))


def timed_out(error: DBAPIError) -> bool:
    """Whether PostgreSQL cancelled the statement (psycopg2's pgcode, asyncpg's sqlstate)."""
    code = getattr(error.orig, "pgcode", None) or getattr(error.orig, "sqlstate", None)
    return code == QUERY_CANCELED


def add_timeout_handler(app: FastAPI) -> None:
    """A statement past the timeout answers 504 Problem Details; other database errors go
    on to the service frame's handler (500, logged)."""

    async def database_error(request: Request, error: DBAPIError) -> Response:
        if not timed_out(error):
            raise error
        return problem(504, TIMEOUT_DETAIL, instance=str(request.url.path))

    app.add_exception_handler(DBAPIError, database_error)
