"""The STAC API application: stac-fastapi's routes and extensions over our clients."""

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import model_validator
from stac_fastapi.api.app import StacApi
from stac_fastapi.api.models import (
    ItemCollectionUri,
    create_get_request_model,
    create_post_request_model,
    create_request_model,
)
from stac_fastapi.extensions import (
    FieldsExtension,
    SortExtension,
    TokenPaginationExtension,
    TransactionExtension,
)
from stac_fastapi.extensions.filter import ItemCollectionFilterExtension, SearchFilterExtension
from stac_fastapi.types.config import ApiSettings
from stac_fastapi.types.conformance import BASE_CONFORMANCE_CLASSES
from stac_fastapi.types.search import BaseSearchGetRequest, BaseSearchPostRequest
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from territoires.catalog.limits import Limits
from territoires.catalog.stac.client import CoreClient, FiltersClient, TransactionsClient
from territoires.catalog.stac.documents import STAC_PREFIX
from territoires.shared import __version__
from territoires.shared.apikeys import Scope, require_scope
from territoires.shared.errors import add_exception_handlers
from territoires.shared.service import Resources


class SearchPostRequest(BaseSearchPostRequest):
    """The search body; `limit` is stac-fastapi's, a value above its maximum served as the
    maximum, as the specification asks."""

    @model_validator(mode="before")
    @classmethod
    def must_be_an_object(cls, body: Any) -> Any:
        """stac-pydantic's own checks assume an object and crash on anything else; a single
        collection or id given as a string (as stac-api-validator sends it) is that list."""
        if not isinstance(body, dict):
            raise ValueError("a search body is a JSON object")
        return {
            key: [value] if key in ("collections", "ids") and isinstance(value, str) else value
            for key, value in body.items()
        }


# What our CQL2 compiler implements beyond the basic class stac-fastapi declares.
CQL2_CLASSES = [
    f"http://www.opengis.net/spec/cql2/1.0/conf/{name}"
    for name in (
        "advanced-comparison-operators",
        "basic-spatial-functions",
        "basic-spatial-functions-plus",
        "spatial-functions",
        "temporal-functions",
    )
]
# The landing page links every collection as a child (see CoreClient.landing_page).
BROWSEABLE = "https://api.stacspec.org/v1.0.0/browseable"
# stac-fastapi declares sort at STAC API 1.1; clients written for 1.0 (pystac-client) look
# for the 1.0 URIs, whose semantics we implement just the same.
SORT_CLASSES = [
    "https://api.stacspec.org/v1.0.0/item-search#sort",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#sort",
]


def add_stac_api(app: FastAPI) -> None:
    """Registers the STAC API under `/stac` on the catalog service's app."""
    resources: Resources = app.state.resources
    api_settings = ApiSettings(
        stac_fastapi_title="Territoires STAC API",
        stac_fastapi_description="Scenes and indicator results over French territories.",
        stac_fastapi_version=__version__,
        stac_fastapi_landing_id="territoires",
        enable_response_models=False,
    )
    engine = resources.engine
    limits = Limits.of(resources.settings)
    search_filter = SearchFilterExtension(client=FiltersClient(engine=engine))
    search_filter.conformance_classes = [*search_filter.conformance_classes, *CQL2_CLASSES]
    sort = SortExtension()
    # stac-fastapi's sort also claims collection search's, which the catalog does not offer.
    declared = [c for c in sort.conformance_classes if "/collection-search" not in c]
    sort.conformance_classes = [*declared, *SORT_CLASSES]
    search_extensions = [
        search_filter,
        sort,
        FieldsExtension(),
        TokenPaginationExtension(),
    ]
    item_extensions = [
        ItemCollectionFilterExtension(client=FiltersClient(engine=engine)),
        sort,
        FieldsExtension(),
        TokenPaginationExtension(),
    ]
    transactions = TransactionExtension(
        client=TransactionsClient(engine=engine, limits=limits),
        settings=api_settings,
        route_dependencies=[Depends(require_scope(Scope.INGEST))],
    )
    StacApi(
        settings=api_settings,
        client=CoreClient(
            engine=engine,
            limits=limits,
            landing_page_id=api_settings.stac_fastapi_landing_id,
            title=api_settings.stac_fastapi_title,
            description=api_settings.stac_fastapi_description,
            base_conformance_classes=[*BASE_CONFORMANCE_CLASSES, BROWSEABLE],
        ),
        extensions=[*search_extensions, item_extensions[0], transactions],
        app=app,
        router=APIRouter(prefix=STAC_PREFIX),
        search_get_request_model=create_get_request_model(
            search_extensions, base_model=BaseSearchGetRequest
        ),
        search_post_request_model=create_post_request_model(
            search_extensions, base_model=SearchPostRequest
        ),
        items_get_request_model=create_request_model(
            "ItemCollectionUri",
            base_model=ItemCollectionUri,
            extensions=item_extensions,
            request_type="GET",
        ),
        # Forwarded headers are applied (validated) by the service frame for every route.
        middlewares=[Middleware(GZipMiddleware, minimum_size=2048)],
    )
    add_exception_handlers(app)  # Problem Details, over stac-fastapi's own error bodies
