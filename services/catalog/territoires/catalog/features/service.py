"""OGC API Features at `/features`: pygeoapi's API functions behind our own routes.

pygeoapi's own Starlette app builds one global API from PYGEOAPI_CONFIG at import time, which
ties a process to one database. Here each catalog app builds its own `FeaturesAPI` from its
Settings and calls pygeoapi's request handlers from its routes, which lets it

- build every link from the request (Host, `Forwarded`, `X-Forwarded-*`), so the same service
  answers right directly, through the gateway, or behind another proxy;
- answer every error as Problem Details (RFC 9457) with a 4xx status for a client's mistake;
- serve CSV and GeoPackage itself (`downloads`);
- state its conformance once (pygeoapi's grows a module-level list on each call).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pygeoapi
import pygeoapi.api as core_api
import pygeoapi.api.itemtypes as itemtypes_api
import structlog
from fastapi import FastAPI
from pygeoapi import l10n
from pygeoapi.api import API, APIRequest
from pygeoapi.openapi import get_oas
from pygeoapi.provider.base import ProviderGenericError
from pygeoapi.util import render_j2_template
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from territoires.catalog.features.config import pygeoapi_config
from territoires.catalog.features.downloads import Download, requested_download
from territoires.catalog.features.openapi import describe_features
from territoires.catalog.features.params import check_filter, items_query, parse_filter
from territoires.catalog.limits import TIMEOUT_DETAIL, Limits, timed_out
from territoires.shared.errors import PROBLEM_JSON, BadRequestError, problem
from territoires.shared.public_url import public_base_url
from territoires.shared.service import Resources
from territoires.shared.settings import Settings

log = structlog.get_logger(__name__)

Handler = Callable[..., tuple[dict[str, str], int, str | bytes]]

CONFORMANCE = sorted(
    [
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
        "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    ]
)

# Landing-page links pygeoapi always writes that lead nowhere here: APIs this service does
# not serve, and `about`, which would point back at the landing page itself.
FOREIGN_RELS = {
    "about",
    "http://www.opengis.net/def/rel/ogc/1.0/processes",
    "http://www.opengis.net/def/rel/ogc/1.0/job-list",
    "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
}
SERVED_PATH = re.compile(r"^/(openapi|conformance|collections(/.*)?)?$")
CQL2_JSON_TYPES = ("application/query-cql-json", "application/json")


class FeaturesAPI(API):
    """pygeoapi's API with Problem Details errors, copied per request for its public URL."""

    def get_exception(
        self, status: int, headers: dict[str, str], format_: str | None, code: str, description: str
    ) -> tuple[dict[str, str], int, str]:
        headers["Content-Type"] = PROBLEM_JSON
        headers.pop("Content-Crs", None)
        body = {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": int(status),
            "detail": description,
            "code": code,
        }
        return headers, status, json.dumps(body, separators=(",", ":"))

    def at(self, base_url: str, openapi: str) -> FeaturesAPI:
        """A shallow copy whose links start at `base_url` (requests run concurrently).

        `openapi` is the document's JSON text with the configured URL, replaced here.
        """
        clone = copy.copy(self)
        clone.base_url = base_url
        clone.config = _with_url(self.config, base_url)
        clone.tpl_config = _with_url(self.tpl_config, base_url)
        clone.openapi = openapi.replace(self.base_url, base_url)
        return clone


class _NoCache(dict[Any, Any]):
    """A cache that keeps nothing (see mount_features)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


def served_paths(openapi: dict[str, Any]) -> dict[str, Any]:
    """The document less the paths pygeoapi describes but this service does not serve (jobs)."""
    paths = {path: item for path, item in openapi["paths"].items() if SERVED_PATH.match(path)}
    return {**openapi, "paths": paths}


def _with_url(config: dict[str, Any], base_url: str) -> dict[str, Any]:
    metadata = config["metadata"]
    return {
        **config,
        "server": {**config["server"], "url": base_url},
        "metadata": {
            **metadata,
            "identification": {**metadata["identification"], "url": base_url},
        },
    }


@contextmanager
def _keep_logging() -> Iterator[None]:
    """pygeoapi's API() calls logging.basicConfig; a placeholder handler makes that a no-op."""
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)


def _as_geojson(response: Response) -> Response:
    """Features in JSON are GeoJSON, and say so (pygeoapi labels them application/json)."""
    if response.status_code == 200 and response.headers["content-type"] == "application/json":
        response.headers["content-type"] = "application/geo+json"
    return response


def _response(headers: dict[str, str], status: int, content: str | bytes) -> Response:
    return Response(content, status_code=int(status), headers=headers)


class FeaturesService:
    """The routes of OGC API Features for one app, on its own pygeoapi API instance."""

    def __init__(self, settings: Settings, prefix: str) -> None:
        self.prefix = prefix
        self.limits = Limits.of(settings)
        self.config = pygeoapi_config(settings, settings.service_url("catalog") + prefix)
        with _keep_logging():
            self.api = FeaturesAPI(self.config, {})
        self._openapi = ""

    async def call(
        self,
        request: Request,
        handler: Handler,
        *args: str,
        params: list[tuple[str, str]] | None = None,
        data: bytes = b"",
    ) -> Response:
        """Runs a pygeoapi handler in a thread (it queries the database synchronously)."""
        api = self.api.at(public_base_url(request, self.prefix), self._openapi)
        api_request = await self._api_request(request, api, params, data)
        if not api_request.is_valid():
            return _response(*api.get_format_exception(api_request))
        try:
            headers, status, content = await run_in_threadpool(handler, api, api_request, *args)
        except ProviderGenericError as error:  # raised where pygeoapi does not catch it
            headers, status, content = api.get_exception(
                error.http_status_code, {}, None, error.ogc_exception_code, error.message
            )
        except OperationalError as error:
            if timed_out(error):
                return problem(504, TIMEOUT_DETAIL)
            log.warning("database unavailable", error=str(error.orig))
            return problem(503, "the database is unavailable; try again shortly")
        if status >= 500:
            log.error(
                "features request failed",
                path=request.url.path,
                status=int(status),
                body=str(content)[:500],
            )
        return _response(headers, status, content)

    @staticmethod
    async def _api_request(
        request: Request, api: API, params: list[tuple[str, str]] | None, data: bytes
    ) -> APIRequest:
        """pygeoapi's view of the request, with the query string replaced when given."""
        scope = dict(request.scope)
        if params is not None:
            scope["query_string"] = urlencode(params).encode()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": data, "more_body": False}

        return await APIRequest.from_starlette(Request(scope, receive), api.locales)

    async def landing(self, request: Request) -> Response:
        response = await self.call(request, core_api.landing_page)
        if response.status_code != 200 or response.headers["content-type"] != "application/json":
            return response
        document = json.loads(response.body)
        document["links"] = [link for link in document["links"] if link["rel"] not in FOREIGN_RELS]
        return JSONResponse(
            document, headers={"Content-Language": response.headers["content-language"]}
        )

    async def conformance(self, request: Request) -> Response:
        api = self.api.at(public_base_url(request, self.prefix), self._openapi)
        api_request = await self._api_request(request, api, None, b"")
        document = {"conformsTo": CONFORMANCE}
        if api_request.format == "html":
            html = render_j2_template(
                api.tpl_config,
                api.config["server"]["templates"],
                "conformance.html",
                document,
                api_request.locale,
            )
            return Response(html, media_type="text/html")
        if not api_request.is_valid():
            return _response(*api.get_format_exception(api_request))
        return JSONResponse(document)

    async def openapi(self, request: Request) -> Response:
        if not self._openapi:
            try:
                document = await run_in_threadpool(get_oas, self.config)
                self._openapi = json.dumps(served_paths(document))
            except (ProviderGenericError, OperationalError) as error:
                log.warning("OpenAPI document not built", error=str(error))
                return problem(503, "the OpenAPI document needs the database; try again shortly")
        return await self.call(request, core_api.openapi_)

    async def collections(self, request: Request) -> Response:
        return await self.call(request, core_api.describe_collections)

    async def collection(self, request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        return await self.call(request, core_api.describe_collections, collection_id)

    async def queryables(self, request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        return await self.call(request, itemtypes_api.get_collection_queryables, collection_id)

    async def schema(self, request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        return await self.call(request, core_api.get_collection_schema, collection_id)

    async def items(self, request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        try:
            data = await self._cql2_json_body(request) if request.method == "POST" else b""
            params = items_query(request.query_params.multi_items(), self.limits)
        except BadRequestError as error:  # as pygeoapi's own errors, with an OGC code
            return _response(
                *self.api.get_exception(400, {}, None, "InvalidParameterValue", str(error))
            )
        download = requested_download(request)
        if download is not None:
            shapes = "false" if download is Download.GEOPACKAGE else "true"
            params = [(k, v) for k, v in params if k not in ("f", "skipGeometry")]
            params += [("f", "json"), ("skipGeometry", shapes)]
        response = await self.call(
            request, itemtypes_api.get_collection_items, collection_id, params=params, data=data
        )
        if download is None or response.status_code != 200:
            return _as_geojson(response)
        filename = f"{collection_id}.{download.value}"
        return Response(
            await run_in_threadpool(download.content, json.loads(response.body), collection_id),
            media_type=download.content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def _cql2_json_body(self, request: Request) -> bytes:
        """POST …/items carries a CQL2 JSON filter in its body (as OWSLib's `cql=` sends)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in CQL2_JSON_TYPES:
            raise BadRequestError(
                "POST …/items takes a CQL2 JSON filter (Content-Type: application/query-cql-json)"
            )
        body = await request.body()
        check_filter(body.decode("utf-8", errors="replace"), "cql-json", self.limits)
        return body

    async def item(self, request: Request) -> Response:
        collection_id = request.path_params["collection_id"]
        item_id = request.path_params["item_id"]
        return _as_geojson(
            await self.call(request, itemtypes_api.get_collection_item, collection_id, item_id)
        )

    def routes(self) -> list[Route]:
        p = self.prefix
        return [
            Route(p, self.landing),
            Route(f"{p}/", self.landing),
            Route(f"{p}/openapi", self.openapi),
            Route(f"{p}/conformance", self.conformance),
            Route(f"{p}/collections", self.collections),
            Route(f"{p}/collections/{{collection_id}}", self.collection),
            Route(f"{p}/collections/{{collection_id}}/queryables", self.queryables),
            Route(f"{p}/collections/{{collection_id}}/schema", self.schema),
            Route(f"{p}/collections/{{collection_id}}/items", self.items, methods=["GET", "POST"]),
            Route(f"{p}/collections/{{collection_id}}/items/{{item_id}}", self.item),
        ]


def mount_features(app: FastAPI, prefix: str = "/features") -> None:
    """Adds OGC API Features (territories, indicator statistics) to the catalog app."""
    # pygeoapi reads `filter` as ECQL; OGC API Features Part 3 defines it as CQL2.
    itemtypes_api.parse_ecql_text = parse_filter
    # pygeoapi caches the translated config of its HTML pages by locale alone, as if a process
    # served one config at one URL: here each request has its own URL, and a process may hold
    # other pygeoapi apps. The pages are rendered from their own config every time instead.
    l10n._cfg_cache = _NoCache()
    # pygeoapi logs a warning on every page without `offset` and an error on each bad request;
    # the errors it meets reach the client as Problem Details, and 5xx are logged here.
    logging.getLogger("pygeoapi").setLevel(logging.CRITICAL)
    resources: Resources = app.state.resources
    service = FeaturesService(resources.settings, prefix)
    app.router.routes.extend(service.routes())
    describe_features(app, prefix)
    static = Path(pygeoapi.__file__).with_name("static")
    app.mount(f"{prefix}/static", StaticFiles(directory=static), name="features-static")
