"""The OGC API Features routes in the catalog's OpenAPI document.

pygeoapi serves them as plain Starlette routes, which FastAPI does not describe; this adds their
description (self-contained: no references to schemas on the network) so `/api` covers them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

FORMAT = {"name": "f", "in": "query", "schema": {"type": "string", "enum": ["json", "html", "csv"]}}
COLLECTION = {
    "name": "collection_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "enum": ["territories", "indicator-statistics"]},
}
ITEMS_QUERY = [
    {
        "name": "bbox",
        "in": "query",
        "style": "form",
        "explode": False,
        "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
    },
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "datetime", "in": "query", "schema": {"type": "string"}},
    {"name": "filter", "in": "query", "schema": {"type": "string"}},
    {
        "name": "filter-lang",
        "in": "query",
        "schema": {"type": "string", "enum": ["cql2-text", "cql2-json"]},
    },
    {"name": "sortby", "in": "query", "schema": {"type": "string"}},
    {"name": "properties", "in": "query", "schema": {"type": "string"}},
    {"name": "skipGeometry", "in": "query", "schema": {"type": "boolean"}},
    FORMAT,
]
JSON_RESPONSE = {"content": {"application/json": {"schema": {"type": "object"}}}}
GEOJSON_RESPONSE = {"content": {"application/geo+json": {"schema": {"type": "object"}}}}
PROBLEM = {"description": "Problem Details", "content": {"application/problem+json": {}}}


def _get(summary: str, parameters: list[dict[str, Any]], ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "tags": ["OGC API Features"],
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": {"description": "OK", **ok}, "400": PROBLEM, "404": PROBLEM},
        }
    }


def features_paths(prefix: str) -> dict[str, Any]:
    item = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        prefix: _get("Landing page of OGC API Features", [FORMAT], JSON_RESPONSE),
        f"{prefix}/conformance": _get("Conformance classes", [FORMAT], JSON_RESPONSE),
        f"{prefix}/collections": _get("Territories and statistics", [FORMAT], JSON_RESPONSE),
        f"{prefix}/collections/{{collection_id}}": _get(
            "One collection", [COLLECTION, FORMAT], JSON_RESPONSE
        ),
        f"{prefix}/collections/{{collection_id}}/queryables": _get(
            "What a filter may name", [COLLECTION, FORMAT], JSON_RESPONSE
        ),
        f"{prefix}/collections/{{collection_id}}/items": _get(
            "Features, filtered and paged", [COLLECTION, *ITEMS_QUERY], GEOJSON_RESPONSE
        ),
        f"{prefix}/collections/{{collection_id}}/items/{{item_id}}": _get(
            "One feature", [COLLECTION, item, FORMAT], GEOJSON_RESPONSE
        ),
    }


def describe_features(app: FastAPI, prefix: str) -> None:
    """Extends the app's OpenAPI document with the Features routes (built once, on demand)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            document["paths"].update(features_paths(prefix))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
