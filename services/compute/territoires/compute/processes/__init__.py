"""The processes this service offers, by OGC process id (one module per process)."""

from __future__ import annotations

from territoires.compute.processes import vegetation, zonal_statistics
from territoires.compute.processes.base import IndicatorProcess

PROCESSES: dict[str, IndicatorProcess] = {
    module.PROCESS.id: module.PROCESS for module in (vegetation, zonal_statistics)
}
