"""pygeoapi's PostgreSQL provider, made to answer a client's mistakes with 4xx instead of 500.

The stock provider lets a database error escape (a filter comparing text with a number, an item
id that is not a number), quietly matches nothing for a filter on an unknown property, and
fails with a bare 500 for `datetime` on a collection without time. Each of those becomes an
error pygeoapi reports with the right status; a query past the statement timeout becomes a 504,
a database that is down a 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pygeoapi.provider.base import (
    ProviderConnectionError,
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)
from pygeoapi.provider.sql import PostgreSQLProvider
from pygeofilter import ast
from sqlalchemy import asc, desc
from sqlalchemy.exc import DBAPIError, OperationalError

from territoires.catalog.limits import TIMEOUT_DETAIL, timed_out

# SQLSTATE codes a client's input can cause: data exceptions (class 22: bad number, bad date)
# and type mismatches (operator does not exist, cannot coerce).
CLIENT_SQLSTATE_CLASSES = ("22",)
CLIENT_SQLSTATES = ("42883", "42804", "42846", "42725")


class DatabaseUnavailableError(ProviderConnectionError):
    http_status_code = 503
    default_msg = "the database is unavailable; try again shortly"


class QueryTimeoutError(ProviderGenericError):
    http_status_code = 504
    ogc_exception_code = "Timeout"
    default_msg = TIMEOUT_DETAIL


def _sqlstate(error: DBAPIError) -> str:
    return getattr(error.orig, "pgcode", None) or ""


def _client_error(error: DBAPIError) -> bool:
    code = _sqlstate(error)
    return code.startswith(CLIENT_SQLSTATE_CLASSES) or code in CLIENT_SQLSTATES


def _reason(error: DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else str(error)


@contextmanager
def database_errors(not_found: str | None = None) -> Iterator[None]:
    """Maps database errors to pygeoapi's: the client's input → 400 (or 404), outage → 503."""
    try:
        yield
    except OperationalError as error:
        if timed_out(error):
            raise QueryTimeoutError(user_msg=TIMEOUT_DETAIL) from error
        raise DatabaseUnavailableError(user_msg=DatabaseUnavailableError.default_msg) from error
    except DBAPIError as error:
        if not _client_error(error):
            raise
        if not_found is not None:
            raise ProviderItemNotFoundError(user_msg=not_found) from error
        raise ProviderInvalidQueryError(
            user_msg=f"the query does not fit the properties' types: {_reason(error)}"
        ) from error


def _nodes(node: Any) -> Iterator[Any]:
    if isinstance(node, list | tuple):
        for child in node:
            yield from _nodes(child)
    elif isinstance(node, ast.Node):
        yield node
        yield from _nodes(node.get_sub_nodes())


class FeaturesProvider(PostgreSQLProvider):
    """pygeoapi's PostgreSQL provider with our errors; a vector indicator's collection reads
    the shared result features table restricted to its `indicator`."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        self.indicator: str | None = provider_def.get("indicator")
        try:
            super().__init__(provider_def)
        except ProviderConnectionError as error:
            raise DatabaseUnavailableError(user_msg=DatabaseUnavailableError.default_msg) from error

    def query(self, **kwargs: Any) -> dict[str, Any]:
        if self.indicator is not None:
            given = [p for p in kwargs.get("properties") or [] if p[0] != "indicator"]
            kwargs["properties"] = [*given, ("indicator", self.indicator)]
        with database_errors():
            return super().query(**kwargs)

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        not_found = f"no feature with id {identifier!r}"
        with database_errors(not_found=not_found):
            feature = super().get(identifier, **kwargs)
        if self.indicator is not None and feature["properties"].get("indicator") != self.indicator:
            raise ProviderItemNotFoundError(user_msg=not_found)
        return feature

    def _sqlalchemy_to_feature(self, item: Any, crs_transform_out: Any = None) -> dict[str, Any]:
        """Properties in the view's column order (pygeoapi leaves them in load order); a vector
        result's own properties flattened beside its indicator, job, territory and period."""
        feature = super()._sqlalchemy_to_feature(item, crs_transform_out)
        properties = feature["properties"]
        if self.indicator is not None:  # a result feature's own properties, beside its keys
            properties |= properties.pop("properties", None) or {}
        order = {name: index for index, name in enumerate(self.fields)}
        feature["properties"] = dict(
            sorted(properties.items(), key=lambda pair: order.get(pair[0], len(order)))
        )
        return feature

    def _get_order_by_clauses(self, sort_by: list[dict[str, str]], table_model: Any) -> list[Any]:
        """Unknown values (a département's population) last either way, and the id to break
        ties, so that offset paging neither repeats nor skips a feature."""
        clauses = [
            (desc if sort["order"] == "-" else asc)(
                getattr(table_model, sort["property"])
            ).nulls_last()
            for sort in sort_by
        ]
        return [*clauses, asc(getattr(table_model, self.id_field))]

    def _get_cql_filters(self, filterq: Any) -> Any:
        """Rejects what pygeofilter would not refuse: unknown properties and functions."""
        if filterq:
            columns = set(self.table_model.__table__.columns.keys())
            for node in _nodes(filterq):
                if isinstance(node, ast.Function):
                    raise ProviderInvalidQueryError(
                        user_msg=f"functions are not supported in filters (found {node.name!r})"
                    )
                if isinstance(node, ast.Attribute) and node.name not in columns:
                    raise ProviderInvalidQueryError(
                        user_msg=f"unknown property {node.name!r} in filter; "
                        f"queryables: {', '.join(sorted(columns))}"
                    )
        return super()._get_cql_filters(filterq)

    def _get_datetime_filter(self, datetime_: str | None) -> Any:
        if datetime_ not in (None, "../..") and self.time_field is None:
            raise ProviderInvalidQueryError(
                user_msg="this collection has no time: datetime does not apply to it"
            )
        return super()._get_datetime_filter(datetime_)
