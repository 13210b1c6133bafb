"""The tiles service's ASGI app: `uvicorn --factory territoires.tiles.app:create_app`."""

from fastapi import FastAPI

from territoires.shared.service import create_service_app
from territoires.shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "tiles",
        title="Territoires tiles",
        description="Tiles, TileJSON and WMTS of catalogued scenes and indicator results.",
        settings=settings,
    )
