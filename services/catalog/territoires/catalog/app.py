"""The catalog service's ASGI app: `uvicorn --factory territoires.catalog.app:create_app`."""

from fastapi import FastAPI

from territoires.catalog.features import mount_features
from territoires.catalog.limits import add_timeout_handler, statement_timeout_ms
from territoires.catalog.stac.api import add_stac_api
from territoires.catalog.stac.client import configure_sessions
from territoires.catalog.territories import territory_router
from territoires.shared.service import create_service_app
from territoires.shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        "catalog",
        title="Territoires catalog",
        description="Scenes and results (STAC API); territories and statistics (OGC API Features).",
        settings=settings,
    )
    resources = app.state.resources
    configure_sessions(resources.engine, statement_timeout_ms(resources.settings))
    add_stac_api(app)
    mount_features(app)
    app.include_router(territory_router())
    add_timeout_handler(app)
    return app
