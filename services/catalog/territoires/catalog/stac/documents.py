"""Stored STAC content → the documents the API returns, with links derived from the base URL."""

from __future__ import annotations

from dataclasses import dataclass
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


# A collection catalogued from a static STAC catalog keeps its `item` and `child` links, hrefs
# into that catalog's files: served from the API they lead nowhere (pystac's crawler, and
# stac-api-validator's browseable check with it, fail on them). Its items are at `items`.
STATIC_RELS = frozenset({"item", "child"})


def collection_document(content: dict[str, Any], base_url: str) -> dict[str, Any]:
    url = collection_url(base_url, content["id"])
    derived = [
        _link("self", url),
        _link("parent", base_url),
        _link("root", base_url),
        _link(ITEMS_REL, f"{url}/items", GEOJSON),
        _link(QUERYABLES_REL, f"{url}/queryables", SCHEMA_JSON),
    ]
    stored = [link for link in content.get("links", []) if link.get("rel") not in STATIC_RELS]
    return {**content, "links": derived + stored}


# The fields extension's default set: what a `fields` object with neither include nor exclude
# selects, a valid STAC Item.
DEFAULT_FIELDS = frozenset(
    {
        "type",
        "stac_version",
        "stac_extensions",
        "id",
        "collection",
        "geometry",
        "bbox",
        "links",
        "assets",
        "properties.datetime",
        "properties.start_datetime",
        "properties.end_datetime",
    }
)
# What identifies an item, kept whatever a selection asks: a response to `include` is these and
# the included fields (stac-api-validator asks exactly five top-level fields of
# `include: [properties.x], exclude: [properties]`, and no more than five of `include: [bbox]`).
IDENTITY_FIELDS = frozenset({"type", "id", "collection", "links"})


@dataclass(frozen=True)
class FieldSelection:
    """The fields extension's request: `include` None when the client named no field to include
    (every field is then kept but the excluded ones); empty for the default set."""

    include: frozenset[str] | None
    exclude: frozenset[str]


def select_fields(item: dict[str, Any], selection: FieldSelection | None) -> dict[str, Any]:
    """The item reduced to a selection of dotted paths. A field both included and excluded is
    included, and so is an included field inside an excluded object (`-properties,
    +properties.eo:cloud_cover`)."""
    if selection is None:
        return item
    include = selection.include
    if include is None:
        kept = dict(item)
        include = frozenset()
    else:
        kept = {}
        for path in (include | IDENTITY_FIELDS) if include else DEFAULT_FIELDS:
            _copy_path(item, kept, path.split("."))
    for path in selection.exclude:
        if path in IDENTITY_FIELDS or path in include:
            continue
        if not any(i.startswith(f"{path}.") for i in include):
            _drop_path(kept, path.split("."))
    return kept


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
    """Removes a dotted path, copying the objects on the way rather than changing the ones the
    document shares with the stored item."""
    head, rest = parts[0], parts[1:]
    if not rest:
        document.pop(head, None)
        return
    branch = document.get(head)
    if isinstance(branch, dict):
        document[head] = dict(branch)
        _drop_path(document[head], rest)
