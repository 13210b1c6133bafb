"""Stored STAC content → the documents the API returns, with links derived from the base URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from territoires.shared.stac.downloads import public_assets

ITEMS_REL = "items"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
GEOJSON = "application/geo+json"
JSON = "application/json"
STAC_PREFIX = "/stac"
SCHEMA_JSON = "application/schema+json"


def _link(rel: str, href: str, type_: str = JSON, **extra: Any) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": type_, **extra}


def collection_url(base_url: str, collection_id: str) -> str:
    return f"{base_url}collections/{quote(collection_id, safe='')}"


def item_document(content: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The item as clients see it: derived links, and assets downloadable over HTTP from the
    platform's root (`base_url` is the STAC API's, `…/stac/`)."""
    collection = collection_url(base_url, content["collection"])
    root = base_url.rstrip("/").removesuffix(STAC_PREFIX)
    derived = [
        _link("self", f"{collection}/items/{quote(content['id'], safe='')}", GEOJSON),
        _link("parent", collection),
        _link("collection", collection),
        _link("root", base_url),
    ]
    return {**public_assets(content, root), "links": derived + content.get("links", [])}


def collection_document(content: dict[str, Any], base_url: str) -> dict[str, Any]:
    url = collection_url(base_url, content["id"])
    derived = [
        _link("self", url),
        _link("parent", base_url),
        _link("root", base_url),
        _link(ITEMS_REL, f"{url}/items", GEOJSON),
        _link(QUERYABLES_REL, f"{url}/queryables", SCHEMA_JSON),
    ]
    return {**content, "links": derived + content.get("links", [])}


def select_fields(
    item: dict[str, Any], include: set[str] | None, exclude: set[str] | None
) -> dict[str, Any]:
    """The fields extension: dotted paths to keep or drop (id, type and links always stay)."""
    if include:
        kept: dict[str, Any] = {k: item[k] for k in ("type", "id", "links") if k in item}
        for path in include:
            _copy_path(item, kept, path.split("."))
        item = kept
    for path in exclude or ():
        if path not in ("id", "type", "links"):
            _drop_path(item, path.split("."))
    return item


def _copy_path(source: dict[str, Any], target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in source:
        return
    if not rest or not isinstance(source[head], dict):
        target[head] = source[head]
        return
    branch = target.setdefault(head, {})
    if isinstance(branch, dict):
        _copy_path(source[head], branch, rest)


def _drop_path(document: dict[str, Any], parts: list[str]) -> None:
    for part in parts[:-1]:
        document = document.get(part)  # type: ignore[assignment]
        if not isinstance(document, dict):
            return
    document.pop(parts[-1], None)
