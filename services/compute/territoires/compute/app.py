"""The compute service's ASGI app: `uvicorn --factory territoires.compute.app:create_app`."""

from fastapi import FastAPI

from territoires.shared.service import create_service_app
from territoires.shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "compute",
        title="Territoires compute",
        description="OGC API Processes running indicator jobs on an arq queue.",
        settings=settings,
    )
