"""The compute service's ASGI app: `uvicorn --factory territoires.compute.app:create_app`.

The platform's service frame (health, Problem Details, forwarded headers) with the OGC API
Processes routes and their job manager on the app's own database and Redis.
"""

from arq import ArqRedis
from fastapi import FastAPI

from territoires.compute.api import processes_router
from territoires.compute.errors import add_processes_exception_handler
from territoires.compute.manager import JobManager
from territoires.compute.processes import install
from territoires.compute.processes.base import Services
from territoires.shared.health import storage_checks
from territoires.shared.plugins import load_plugins
from territoires.shared.service import create_service_app
from territoires.shared.settings import Settings, settings_or_exit
from territoires.shared.storage import storage_from_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or settings_or_exit()
    storage = storage_from_settings(settings)
    app = create_service_app(
        "compute",
        title="Territoires compute",
        description="OGC API Processes running indicator jobs on an arq queue.",
        settings=settings,
        checks=storage_checks(storage),
    )
    resources = app.state.resources
    install(load_plugins(resources.settings))
    services = Services(resources.settings, resources.engine, storage)
    # The queue shares the app's Redis connections.
    queue = ArqRedis(connection_pool=resources.redis.connection_pool)
    app.include_router(processes_router(JobManager(services, queue)))
    add_processes_exception_handler(app)
    return app
