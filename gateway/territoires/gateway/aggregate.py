"""One conformance list and one OpenAPI document for the platform, gathered from the services.

Fetched on demand and kept for a minute: a service that is down or slow to answer keeps its
last good part (or, never seen, leaves it out) rather than failing the gateway's own documents.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

import httpx

from territoires.gateway.proxy import ROUTES

CACHE_TTL_S = 60.0
# Where each service publishes conformance classes (several APIs may share a service).
CONFORMANCE_PATHS = {
    "catalog": ("/stac/conformance", "/features/conformance"),
    "compute": ("/conformance",),
    "tiles": ("/tiles/conformance",),
}


class ServiceDocuments:
    def __init__(self, client: httpx.AsyncClient, services: Mapping[str, str]) -> None:
        self.client = client
        self.services = services
        self._cache: dict[str, tuple[float, Any]] = {}

    async def _get_json(self, url: str) -> Any:
        cached = self._cache.get(url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = await self.client.get(url, timeout=5.0)
            document = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            document = None
        if document is None:
            return cached[1] if cached else None
        self._cache[url] = (time.monotonic() + CACHE_TTL_S, document)
        return document

    async def conformance(self, own: list[str]) -> list[str]:
        urls = [
            f"{self.services[service]}{path}"
            for service, paths in CONFORMANCE_PATHS.items()
            for path in paths
        ]
        documents = await asyncio.gather(*(self._get_json(url) for url in urls))
        classes = set(own)
        for document in documents:
            if isinstance(document, dict):
                classes.update(c for c in document.get("conformsTo", []) if isinstance(c, str))
        return sorted(classes)

    async def openapi(self, own: dict[str, Any]) -> dict[str, Any]:
        """The gateway's own document plus each service's public paths (those it routes)."""
        merged = copy.deepcopy(own)
        paths = merged.setdefault("paths", {})
        schemas = merged.setdefault("components", {}).setdefault("schemas", {})
        names = list(self.services)
        documents = await asyncio.gather(
            *(self._get_json(f"{self.services[name]}/api") for name in names)
        )
        for service, document in zip(names, documents, strict=True):
            if not isinstance(document, dict):
                continue
            prefixes = tuple(r.prefix for r in ROUTES if r.service == service)
            public = {
                path: operations
                for path, operations in document.get("paths", {}).items()
                if path.startswith(prefixes)
            }
            renamed = _prefix_schemas(public, document, service, schemas)
            paths.update(renamed)
        return merged


def _prefix_schemas(
    paths: dict[str, Any], document: dict[str, Any], service: str, schemas: dict[str, Any]
) -> dict[str, Any]:
    """Adds the service's component schemas; a name another part already uses gets a prefix."""
    theirs = document.get("components", {}).get("schemas", {})
    renames = {
        name: (f"{service}_{name}" if name in schemas and schemas[name] != body else name)
        for name, body in theirs.items()
    }
    for name, body in theirs.items():
        schemas[renames[name]] = body
    if all(old == new for old, new in renames.items()):
        return paths
    text = _rewrite_refs(paths, renames)
    for name in theirs:
        schemas[renames[name]] = _rewrite_refs(schemas[renames[name]], renames)
    return text


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                "#/components/schemas/"
                + renames.get(value.rsplit("/", 1)[-1], value.rsplit("/", 1)[-1])
                if key == "$ref"
                and isinstance(value, str)
                and value.startswith("#/components/schemas/")
                else _rewrite_refs(value, renames)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(value, renames) for value in node]
    return node
