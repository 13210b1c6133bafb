"""The OGC API landing page and conformance of the platform, as JSON or HTML."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse

from territoires.gateway.aggregate import ServiceDocuments
from territoires.shared.health import Check, run_checks
from territoires.shared.service import resources_of

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
]


def wants_html(request: Request) -> bool:
    """`?f=html`, or a browser's Accept header, asks for HTML; anything else gets JSON."""
    requested = request.query_params.get("f")
    if requested:
        return requested == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": type_, "title": title}


API_LINKS = (
    ("/stac", "data", "application/json", "STAC API: scenes and indicator results"),
    ("/features", "data", "application/json", "OGC API Features: territories and statistics"),
    (
        "/processes",
        "http://www.opengis.net/def/rel/ogc/1.0/processes",
        "application/json",
        "OGC API Processes: indicator jobs",
    ),
    ("/jobs", "http://www.opengis.net/def/rel/ogc/1.0/job-list", "application/json", "Jobs"),
    (
        "/tiles",
        "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map",
        "application/json",
        "OGC API Tiles: maps of scenes and indicators",
    ),
    ("/map", "alternate", "text/html", "Map viewer"),
)


def landing_router(services: Mapping[str, Check], documents: ServiceDocuments) -> APIRouter:
    router = APIRouter(tags=["landing"])

    @router.get("/", summary="Landing page: the platform's APIs and services")
    async def landing(request: Request) -> Any:
        resources = resources_of(request)
        base = str(request.base_url).rstrip("/")
        statuses = await run_checks(services, resources.settings.readiness_timeout_s)
        document = {
            "title": "Territoires",
            "description": (
                "Satellite indicators for French local authorities — urban heat, vegetation, "
                "sealed soils, night lighting, floods, coastline — behind OGC APIs."
            ),
            "links": [
                _link(f"{base}/", "self", "application/json", "This document"),
                _link(f"{base}/?f=html", "alternate", "text/html", "This document as HTML"),
                _link(
                    f"{base}/api",
                    "service-desc",
                    "application/vnd.oai.openapi+json;version=3.0",
                    "The API definition",
                ),
                _link(
                    f"{base}/conformance",
                    "conformance",
                    "application/json",
                    "OGC API conformance classes implemented",
                ),
                _link(f"{base}/readyz", "status", "application/json", "Readiness of every part"),
                *(
                    _link(f"{base}{path}", rel, type_, title)
                    for path, rel, type_, title in API_LINKS
                ),
            ],
            "services": [
                {
                    "name": name,
                    "status": status["status"],
                    "health": f"{resources.settings.service_url(name)}/readyz",
                }
                for name, status in statuses.items()
            ],
        }
        if wants_html(request):
            return HTMLResponse(render_html(document))
        return JSONResponse(document)

    @router.get("/conformance", summary="Conformance classes of every API of the platform")
    async def conformance() -> dict[str, list[str]]:
        return {"conformsTo": await documents.conformance(CONFORMANCE)}

    @router.get(
        "/api", summary="The OpenAPI document of every public route", include_in_schema=False
    )
    async def openapi(request: Request) -> JSONResponse:
        document = await documents.openapi(request.app.openapi())
        return JSONResponse(document, media_type="application/vnd.oai.openapi+json;version=3.0")

    return router


def render_html(document: dict[str, Any]) -> str:
    links = "".join(
        f'<li><a href="{html.escape(link["href"])}">{html.escape(link["title"])}</a></li>'
        for link in document["links"]
    )
    services = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{html.escape(s['status'])}</td></tr>"
        for s in document["services"]
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(document['title'])}</title></head><body>"
        f"<h1>{html.escape(document['title'])}</h1><p>{html.escape(document['description'])}</p>"
        f"<h2>APIs</h2><ul>{links}</ul>"
        f"<h2>Services</h2><table><tr><th>service</th><th>status</th></tr>{services}</table>"
        "</body></html>"
    )
