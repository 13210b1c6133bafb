"""stac-fastapi clients on PostGIS: core (search, collections, items), filters, transactions."""

from __future__ import annotations

import json
from typing import Any

import attr
import orjson
from fastapi import Request, Response
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError
from sqlalchemy import delete, event, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from stac_fastapi.extensions.filter.client import AsyncBaseFiltersClient
from stac_fastapi.extensions.transaction.client import AsyncBaseTransactionsClient
from stac_fastapi.types.core import AsyncBaseCoreClient
from stac_fastapi.types.requests import get_base_url

from territoires.catalog.limits import Limits, count_vertices
from territoires.catalog.stac.documents import (
    FieldSelection,
    collection_document,
    collection_url,
    item_document,
    select_fields,
)
from territoires.catalog.stac.filters import parse_filter
from territoires.catalog.stac.queryables import queryables_document
from territoires.catalog.stac.search import (
    DEFAULT_LIMIT,
    SearchPage,
    SearchQuery,
    check_collections,
    search,
)
from territoires.shared.errors import BadRequestError, ConflictError, NotFoundError
from territoires.shared.models import Collection, Item
from territoires.shared.stac.records import collection_row, item_row


def _sortby(value: Any) -> list[tuple[str, str]]:
    """GET gives ["-datetime", "+id"]; POST gives [{"field": …, "direction": …}]."""
    result = []
    for entry in value or []:
        if isinstance(entry, str):
            entry = entry.strip()
            direction = "desc" if entry.startswith("-") else "asc"
            result.append((entry.lstrip("+-").strip(), direction))
        else:
            result.append((entry.field, entry.direction.value))
    return result


def _fields(value: Any) -> FieldSelection | None:
    """The fields extension's selection: GET gives ["id", "-assets", "+properties.gsd"], POST
    a model whose unset `include` differs from an empty or null one (see select_fields)."""
    if value is None:
        return None
    if isinstance(value, list):
        names = [f.strip() for f in value if f.strip()]
        if not names:
            return None
        include = frozenset(f.lstrip("+") for f in names if not f.startswith("-"))
        exclude = frozenset(f[1:] for f in names if f.startswith("-"))
        return FieldSelection(include or None, exclude)
    include_given = "include" in value.model_fields_set
    if not value.include and not value.exclude:
        return FieldSelection(frozenset(), frozenset())
    return FieldSelection(
        frozenset(value.include or ()) if include_given else None, frozenset(value.exclude or ())
    )


def _geometry(value: Any, limits: Limits) -> dict[str, Any] | None:
    """`intersects` as a GeoJSON mapping, within the vertex limit: GET gives JSON text,
    POST a geojson-pydantic model."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadRequestError("intersects must be a GeoJSON geometry (JSON)") from None
    if isinstance(value, BaseModel):
        coordinates = getattr(value, "coordinates", None)
        if coordinates is not None and isinstance(getattr(value, "type", None), str):
            # What model_dump gives, without serialising each of a large polygon's points
            # (10 ms for a département's 2,000): positions are tuples shapely reads as they are.
            value = {"type": value.type, "coordinates": coordinates}
        else:
            value = value.model_dump(mode="json", exclude_none=True)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequestError("intersects must be a GeoJSON geometry")
    limits.check_vertices(count_vertices(value), "the intersects geometry")
    return value


# Settings of the catalog's database sessions, for short queries serving many requests at once:
# - JIT compiles a plan whose estimated cost passes `jit_above_cost`, which searches filtering
#   a few thousand rows of a large items table do: compiling took 150–250 ms, ten times what
#   the query then took;
# - a parallel plan starts worker processes for a page of 50 items: 40 ms of start-up for a
#   15 ms scan, on cores that other requests are using anyway.
# `configure_sessions` adds the statement timeout of the settings.
SESSION_SETTINGS = ("SET jit = off", "SET max_parallel_workers_per_gather = 0")


def _jsonb(value: bytes) -> Any:
    """A JSONB value as asyncpg receives it in binary (a version byte, then JSON text), parsed
    by orjson: documents are most of what a search reads. What orjson declines (numbers
    beyond its range) the standard library parses, as SQLAlchemy's own codec did."""
    try:
        return orjson.loads(value[1:])
    except orjson.JSONDecodeError:
        return json.loads(value[1:].decode())


def _configure_session(dbapi_connection: Any, statements: tuple[str, ...]) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for statement in statements:
            cursor.execute(statement)
    finally:
        cursor.close()
    # The driver ran them in a transaction of its own: uncommitted, they were undone when the
    # pool reset the connection after its first use, and every later use ran without them.
    dbapi_connection.commit()
    run_async = getattr(dbapi_connection, "run_async", None)  # asyncpg's, through SQLAlchemy
    if run_async is not None:
        run_async(
            lambda raw: raw.set_type_codec(
                "jsonb",
                encoder=lambda text: b"\x01" + text.encode(),
                decoder=_jsonb,
                schema="pg_catalog",
                format="binary",
            )
        )


def configure_sessions(engine: AsyncEngine, statement_timeout_ms: int) -> None:
    """Applies SESSION_SETTINGS and the statement timeout to every new connection of the
    engine: a statement running past it is cancelled (a 504, see `limits`), rather than
    holding a connection and a database core for as long as a client's search asks."""
    statements = (*SESSION_SETTINGS, f"SET statement_timeout = {int(statement_timeout_ms)}")
    event.listen(
        engine.sync_engine,
        "connect",
        lambda dbapi_connection, _record: _configure_session(dbapi_connection, statements),
    )


class GeoJSONPage(Response):
    """A page of items as the search routes answer it (stac-fastapi's GeoJSONResponse: compact
    JSON, `application/geo+json`), serialised here by orjson.

    A route handed a dict has FastAPI walk it with `jsonable_encoder` first — every key of
    every item, 26 ms of a 43 ms request for 50 items — to turn into JSON what is JSON already.
    A Response goes out as it is. What orjson declines (integers beyond 64 bits) the standard
    library writes, as before.
    """

    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return json.dumps(
                content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")


@attr.s
class CoreClient(AsyncBaseCoreClient):
    engine: AsyncEngine = attr.ib(default=None)
    limits: Limits = attr.ib(kw_only=True)

    async def _page(
        self, request: Request, query: SearchQuery, fields: Any, method: str = "GET"
    ) -> dict[str, Any]:
        async with self.engine.connect() as connection:
            page: SearchPage = await search(connection, query)
        base = get_base_url(request)
        selection = _fields(fields)
        features = [select_fields(item_document(i, base), selection) for i in page.items]
        links = [{"rel": "root", "href": base, "type": "application/json"}]
        for rel, token in (("next", page.next_token), ("prev", page.prev_token)):
            if token:
                links.append(self._page_link(request, rel, token, method))
        return {
            "type": "FeatureCollection",
            "features": features,
            "links": links,
            "numberReturned": len(features),
        }

    @staticmethod
    def _page_link(request: Request, rel: str, token: str, method: str) -> dict[str, Any]:
        if method == "POST":
            return {
                "rel": rel,
                "href": str(request.url),
                "type": "application/geo+json",
                "method": "POST",
                "body": {"token": token},
                "merge": True,
            }
        url = request.url.include_query_params(token=token)
        return {"rel": rel, "href": str(url), "type": "application/geo+json"}

    async def landing_page(self, **kwargs: Any) -> dict[str, Any]:
        """stac-fastapi's landing page, with every collection linked as a child (the
        browseable conformance class)."""
        page = await super().landing_page(**kwargs)
        base = get_base_url(kwargs["request"])
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(Collection.id, Collection.title).order_by(Collection.id)
                )
            ).all()
        children = [
            {"rel": "child", "href": collection_url(base, identifier), "type": "application/json"}
            | ({"title": title} if title else {})
            for identifier, title in rows
        ]
        return {**page, "links": [*page["links"], *children]}

    async def get_search(
        self,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: list[float] | None = None,
        intersects: Any = None,
        datetime: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        **kwargs: Any,
    ) -> Response:
        page = await self._get_page(collections, ids, bbox, intersects, datetime, limit, **kwargs)
        return GeoJSONPage(page)

    async def _get_page(
        self,
        collections: list[str] | None = None,
        ids: list[str] | None = None,
        bbox: list[float] | None = None,
        intersects: Any = None,
        datetime: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
        **kwargs: Any,
    ) -> dict[str, Any]:
        query = SearchQuery(
            collections=collections,
            ids=ids,
            bbox=list(bbox) if bbox else None,
            intersects=_geometry(intersects, self.limits),
            datetime=datetime,
            filter=_filter(kwargs, self.limits),
            sortby=_sortby(kwargs.get("sortby")),
            limit=limit or DEFAULT_LIMIT,
            token=kwargs.get("token"),
        )
        return await self._page(kwargs["request"], query, kwargs.get("fields"))

    async def post_search(self, search_request: Any, **kwargs: Any) -> Response:
        body = search_request
        if "fields" in body.model_fields_set and body.fields is None:
            raise BadRequestError("fields is an object with include and/or exclude, not null")
        query = SearchQuery(
            collections=body.collections,
            ids=body.ids,
            bbox=list(body.bbox) if body.bbox else None,
            intersects=_geometry(body.intersects, self.limits),
            datetime=body.datetime,
            filter=_filter(
                {
                    "filter_expr": getattr(body, "filter_expr", None),
                    "filter_lang": getattr(body, "filter_lang", None),
                },
                self.limits,
            ),
            sortby=_sortby(getattr(body, "sortby", None)),
            limit=body.limit or DEFAULT_LIMIT,
            token=getattr(body, "token", None),
        )
        fields = body.fields if "fields" in body.model_fields_set else None
        return GeoJSONPage(await self._page(kwargs["request"], query, fields, "POST"))

    async def item_collection(
        self,
        collection_id: str,
        bbox: list[float] | None = None,
        datetime: str | None = None,
        limit: int = DEFAULT_LIMIT,
        token: str | None = None,
        **kwargs: Any,
    ) -> Response:
        page = await self._get_page(
            collections=[collection_id],
            bbox=bbox,
            datetime=datetime,
            limit=limit,
            token=token,
            **kwargs,
        )
        request: Request = kwargs["request"]
        base = get_base_url(request)
        page["links"] += [
            {"rel": "self", "href": str(request.url), "type": "application/geo+json"},
            {
                "rel": "collection",
                "href": f"{base}collections/{collection_id}",
                "type": "application/json",
            },
        ]
        return GeoJSONPage(page)

    async def get_item(self, item_id: str, collection_id: str, **kwargs: Any) -> dict[str, Any]:
        async with self.engine.connect() as connection:
            content = await connection.scalar(
                select(Item.content).where(Item.collection_id == collection_id, Item.id == item_id)
            )
            if content is None:
                await check_collections(connection, [collection_id])
                raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
        return item_document(content, get_base_url(kwargs["request"]))

    async def all_collections(self, **kwargs: Any) -> dict[str, Any]:
        base = get_base_url(kwargs["request"])
        async with self.engine.connect() as connection:
            contents = (
                await connection.scalars(select(Collection.content).order_by(Collection.id))
            ).all()
        return {
            "collections": [collection_document(c, base) for c in contents],
            "links": [
                {"rel": "root", "href": base, "type": "application/json"},
                {"rel": "self", "href": f"{base}collections", "type": "application/json"},
            ],
        }

    async def get_collection(self, collection_id: str, **kwargs: Any) -> dict[str, Any]:
        async with self.engine.connect() as connection:
            content = await connection.scalar(
                select(Collection.content).where(Collection.id == collection_id)
            )
        if content is None:
            raise NotFoundError(f"unknown collection: {collection_id}")
        return collection_document(content, get_base_url(kwargs["request"]))


def _filter(kwargs: dict[str, Any], limits: Limits) -> dict[str, Any] | None:
    expression = kwargs.get("filter_expr")
    if expression in (None, ""):
        return None
    return parse_filter(expression, kwargs.get("filter_lang"), limits)


@attr.s
class FiltersClient(AsyncBaseFiltersClient):
    engine: AsyncEngine = attr.ib(default=None)

    async def get_queryables(self, collection_id: str | None = None, **kwargs: Any) -> dict:
        request: Request = kwargs["request"]
        if collection_id:
            async with self.engine.connect() as connection:
                await check_collections(connection, [collection_id])
        title = f"Queryables of {collection_id}" if collection_id else "Queryables of the catalog"
        return queryables_document(
            str(request.url.remove_query_params(request.query_params.keys())), title
        )


def _document(model: Any) -> dict[str, Any]:
    if isinstance(model, BaseModel):
        try:
            return model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        except PydanticSerializationError as error:  # values nested past pydantic's ~250 levels
            reason = str(error).rsplit(": ", 1)[-1]
            raise BadRequestError(f"the document cannot be stored: {reason}") from None
    return dict(model)


def _sql_values(row: dict[str, Any]) -> dict[str, Any]:
    """A row from `records` ready for an INSERT/UPDATE statement (geometry as EWKB)."""
    return {**row, "geometry": func.ST_GeomFromEWKB(row["geometry"])}


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


@attr.s
class TransactionsClient(AsyncBaseTransactionsClient):
    """Writes of items (one, or an ItemCollection within the limit, all or nothing) and
    collections; bulk loads go through `territoires ingest`."""

    engine: AsyncEngine = attr.ib(default=None)
    limits: Limits = attr.ib(kw_only=True)

    async def _existing_item(
        self, connection: AsyncConnection, collection_id: str, item_id: str
    ) -> dict[str, Any]:
        content = await connection.scalar(
            select(Item.content).where(Item.collection_id == collection_id, Item.id == item_id)
        )
        if content is None:
            await check_collections(connection, [collection_id])
            raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
        return content

    async def create_item(self, collection_id: str, item: Any, **kwargs: Any) -> Any:
        features = getattr(item, "features", None)
        if isinstance(features, list):  # before the items' dump, conversion and checks
            self.limits.check_transaction(len(features))
        document = _document(item)
        features = (
            document["features"] if document.get("type") == "FeatureCollection" else [document]
        )
        rows = [item_row(feature, collection_id) for feature in features]
        async with self.engine.begin() as connection:
            await check_collections(connection, [collection_id])
            inserted = await connection.execute(
                insert(Item)
                .values([_sql_values(row) for row in rows])
                .on_conflict_do_nothing()
                .returning(Item.id)
            )
            created = set(inserted.scalars())
            duplicates = [row["id"] for row in rows if row["id"] not in created]
            if duplicates:
                raise ConflictError(
                    f"item(s) already in {collection_id}: {', '.join(duplicates[:5])} "
                    "(PUT replaces an item)"
                )
        if len(rows) > 1:
            return None
        return item_document(rows[0]["content"], get_base_url(kwargs["request"]))

    async def update_item(
        self, collection_id: str, item_id: str, item: Any, **kwargs: Any
    ) -> dict[str, Any]:
        document = _document(item)
        if document.get("id", item_id) != item_id:
            raise BadRequestError(f"the body's id {document['id']!r} is not {item_id!r}")
        return await self._replace_item(collection_id, item_id, {**document, "id": item_id}, kwargs)

    async def _replace_item(
        self, collection_id: str, item_id: str, document: dict[str, Any], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        row = item_row(document, collection_id)
        async with self.engine.begin() as connection:
            await self._existing_item(connection, collection_id, item_id)
            values = {k: v for k, v in _sql_values(row).items() if k not in ("collection_id", "id")}
            await connection.execute(
                Item.__table__.update()
                .where(Item.collection_id == collection_id, Item.id == item_id)
                .values(**values)
            )
        return item_document(row["content"], get_base_url(kwargs["request"]))

    async def patch_item(
        self, collection_id: str, item_id: str, patch: Any, **kwargs: Any
    ) -> dict[str, Any]:
        if isinstance(patch, list):
            raise BadRequestError(
                "JSON Patch is not supported: send a merge patch (application/merge-patch+json)"
            )
        async with self.engine.connect() as connection:
            current = await self._existing_item(connection, collection_id, item_id)
        merged = _merge_patch(current, _document(patch))
        return await self._replace_item(collection_id, item_id, {**merged, "id": item_id}, kwargs)

    async def delete_item(self, item_id: str, collection_id: str, **kwargs: Any) -> None:
        async with self.engine.begin() as connection:
            deleted = await connection.execute(
                delete(Item)
                .where(Item.collection_id == collection_id, Item.id == item_id)
                .returning(Item.id)
            )
            if deleted.scalar() is None:
                await check_collections(connection, [collection_id])
                raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")

    async def create_collection(self, collection: Any, **kwargs: Any) -> dict[str, Any]:
        row = collection_row(_document(collection))
        async with self.engine.begin() as connection:
            created = await connection.execute(
                insert(Collection).values(row).on_conflict_do_nothing().returning(Collection.id)
            )
            if created.scalar() is None:
                raise ConflictError(f"collection {row['id']!r} exists (PUT replaces it)")
        return collection_document(row["content"], get_base_url(kwargs["request"]))

    async def update_collection(
        self, collection_id: str, collection: Any, **kwargs: Any
    ) -> dict[str, Any]:
        document = _document(collection)
        if document.get("id", collection_id) != collection_id:
            raise BadRequestError(f"the body's id {document['id']!r} is not {collection_id!r}")
        return await self._replace_collection(
            collection_id, {**document, "id": collection_id}, kwargs
        )

    async def _replace_collection(
        self, collection_id: str, document: dict[str, Any], kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        row = collection_row(document)
        async with self.engine.begin() as connection:
            updated = await connection.execute(
                Collection.__table__.update()
                .where(Collection.id == collection_id)
                .values(**{k: v for k, v in row.items() if k != "id"})
                .returning(Collection.id)
            )
            if updated.scalar() is None:
                raise NotFoundError(f"unknown collection: {collection_id}")
        return collection_document(row["content"], get_base_url(kwargs["request"]))

    async def patch_collection(self, collection_id: str, patch: Any, **kwargs: Any) -> dict:
        if isinstance(patch, list):
            raise BadRequestError(
                "JSON Patch is not supported: send a merge patch (application/merge-patch+json)"
            )
        async with self.engine.connect() as connection:
            current = await connection.scalar(
                select(Collection.content).where(Collection.id == collection_id)
            )
        if current is None:
            raise NotFoundError(f"unknown collection: {collection_id}")
        merged = _merge_patch(current, _document(patch))
        return await self._replace_collection(
            collection_id, {**merged, "id": collection_id}, kwargs
        )

    async def delete_collection(self, collection_id: str, **kwargs: Any) -> None:
        async with self.engine.begin() as connection:
            deleted = await connection.execute(
                delete(Collection).where(Collection.id == collection_id).returning(Collection.id)
            )
            if deleted.scalar() is None:
                raise NotFoundError(f"unknown collection: {collection_id}")
