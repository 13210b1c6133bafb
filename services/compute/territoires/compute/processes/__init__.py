"""The processes this service offers, by OGC process id (one module per process), and those
of the indicator plug-ins the settings name."""

from __future__ import annotations

from types import ModuleType

from territoires.compute.processes import (
    coastline,
    desealing_priority,
    flood_extent,
    imperviousness,
    land_cover_change,
    land_surface_temperature,
    local_climate_zones,
    night_lighting,
    vegetation,
    vegetation_strata,
    zonal_statistics,
)
from territoires.compute.processes.base import IndicatorProcess

PROCESSES: dict[str, IndicatorProcess] = {
    module.PROCESS.id: module.PROCESS
    for module in (
        vegetation,
        zonal_statistics,
        land_surface_temperature,
        night_lighting,
        imperviousness,
        vegetation_strata,
        land_cover_change,
        flood_extent,
        coastline,
        local_climate_zones,
        desealing_priority,
    )
}


def install(plugins: list[ModuleType]) -> None:
    """Adds the processes of loaded plug-in modules (their `PROCESS`)."""
    for module in plugins:
        process = getattr(module, "PROCESS", None)
        if isinstance(process, IndicatorProcess):
            PROCESSES[process.id] = process
