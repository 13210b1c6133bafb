"""The tiles service's ASGI app: `uvicorn --factory territoires.tiles.app:create_app`.

Everything is served under the public paths the gateway forwards unchanged (`/tiles/…`,
`/map`, `/embed`); the shared service frame applies the gateway's forwarding headers, so
TiTiler's links name the client's URL.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.staticfiles import StaticFiles

from territoires.shared.assets import AssetGuard
from territoires.shared.health import storage_checks
from territoires.shared.service import create_service_app
from territoires.shared.settings import Settings, settings_or_exit
from territoires.shared.storage import s3_client, storage_from_settings, uses_s3
from territoires.tiles.basemap import base_map_source, basemap_router
from territoires.tiles.catalog import Catalog
from territoires.tiles.changes import ItemChanges
from territoires.tiles.commune import LEVELS, territory_page_router
from territoires.tiles.dependencies import (
    TilesState,
    enforce_size_limits,
    refuse_dataset_urls,
    refuse_impossible_points,
)
from territoires.tiles.downloads import downloads_router
from territoires.tiles.errors import add_library_error_handlers
from territoires.tiles.factories import (
    document_templates,
    grids_factory,
    item_factory,
    mosaic_factory,
)
from territoires.tiles.grids import supported_tms
from territoires.tiles.legend import legend_router
from territoires.tiles.middleware import PagePolicyMiddleware, TileCacheMiddleware
from territoires.tiles.ogc import ogc_router
from territoires.tiles.pages import STATIC, TEMPLATES, accessibility_router, pages_router
from territoires.tiles.readers import configure_reading
from territoires.tiles.settings import TilesSettings, get_tiles_settings
from territoires.tiles.tile_cache import TileCache
from territoires.tiles.vector import vector_router


def create_app(
    settings: Settings | None = None, tiles_settings: TilesSettings | None = None
) -> FastAPI:
    settings = settings or settings_or_exit()
    tiles_settings = tiles_settings or get_tiles_settings()
    configure_reading(tiles_settings)

    async def listen() -> None:
        app.state.item_changes.start()

    async def stop_listening() -> None:
        await app.state.item_changes.stop()

    app = create_service_app(
        "tiles",
        title="Territoires tiles",
        description="Tiles, TileJSON and WMTS of catalogued scenes and indicator results.",
        settings=settings,
        checks=storage_checks(storage_from_settings(settings)),
        on_startup=listen,
        on_shutdown=stop_listening,
    )
    app.state.tiles = TilesState(
        catalog=Catalog(
            app.state.resources.engine,
            tiles_settings.catalog_ttl_s,
            tiles_settings.max_mosaic_items,
        ),
        guard=AssetGuard.from_settings(settings),
        settings=tiles_settings,
        s3=s3_client(settings) if uses_s3(settings) else None,
        base_map=base_map_source(settings),
    )
    # The catalog forgets a collection's items as soon as the database announces a change.
    app.state.item_changes = ItemChanges(
        settings.require_database_url(), app.state.tiles.catalog.forget
    )
    add_library_error_handlers(app)

    grids = supported_tms()
    templates = document_templates(str(TEMPLATES))
    guarded = [
        Depends(refuse_dataset_urls),
        Depends(enforce_size_limits),
        Depends(refuse_impossible_points),
    ]
    # Fixed paths first: `/tiles/collections/{id}` must not swallow `/tiles/legend/…`.
    app.include_router(ogc_router(), dependencies=guarded)
    app.include_router(legend_router(), dependencies=guarded)
    app.include_router(basemap_router(), dependencies=guarded)
    app.include_router(vector_router(), dependencies=guarded)
    app.include_router(downloads_router(), dependencies=guarded)
    app.include_router(
        grids_factory(grids, templates).router, prefix="/tiles", dependencies=guarded
    )
    for factory in (item_factory(grids, templates), mosaic_factory(grids, templates)):
        app.include_router(factory.router, prefix=factory.router_prefix, dependencies=guarded)
    app.include_router(pages_router(templates), dependencies=guarded)
    app.include_router(accessibility_router(templates, settings.accessibility_contact))
    for level in LEVELS:
        app.include_router(territory_page_router(templates, level), dependencies=guarded)
    app.mount("/tiles/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(
        TileCacheMiddleware,
        prefix="/tiles/",
        max_age_s=tiles_settings.cache_max_age_s,
        catalog=app.state.tiles.catalog,
        tiles=TileCache(
            app.state.resources.redis,
            settings.redis_prefix,
            settings.tile_cache_max_bytes,
            settings.tile_cache_ttl_s,
        ),
    )
    pages = ("/map", "/embed", "/accessibilite", *(level.prefix for level in LEVELS))
    app.add_middleware(
        PagePolicyMiddleware,
        prefixes=pages,
        frame_ancestors=settings.frame_ancestors,
        image_sources=[app.state.tiles.base_map["origin"]] if app.state.tiles.base_map else [],
    )
    return app
