"""The output step every process shares: what its science made becomes COGs in the storage
with their tags, STAC items, the results document (`<id>`, `<id>-item`, `<id>-tiles`, vector
links, figures, statistics) and the rows registered when the job ends. A process never writes
any of it itself: adding an indicator is its science, its registry entry and nothing more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from territoires.compute.blocks import MEDIA_TYPE_COG, Grid, write_cog
from territoires.compute.inputs import Interval
from territoires.compute.processes.base import IndicatorProcess, Outcome, RunningJob
from territoires.compute.results import Feature, Statistic, feature_links, result_item, tiles_url
from territoires.compute.sources import Scene, Zone
from territoires.shared.indicators import INDICATORS
from territoires.shared.stac.downloads import asset_url

PROGRESS_SPAN = (85.0, 98.0)


@dataclass
class Computed:
    """What a process's science made over its zones, for the output step to publish."""

    figures: list[dict[str, Any]]  # one per zone, in the zones' order
    grid: Grid | None = None
    rasters: dict[str, Path] = field(default_factory=dict)  # registry id → GeoTIFF on `grid`
    features: list[Feature] = field(default_factory=list)
    statistics_indicator: str | None = None  # when the process names it per job


def _label(codes: list[str]) -> str:
    return codes[0] if len(codes) == 1 else f"{len(codes)}-communes" if codes else "area"


def _observed(scenes: list[Scene], period: Interval) -> Interval:
    """The period the scenes actually cover (first and last dates), not the window asked."""
    if not scenes:
        return period
    dates = [scene.datetime for scene in scenes]
    return Interval(min(dates), max(dates))


async def publish_outputs(
    process: IndicatorProcess,
    job: RunningJob,
    zones: list[Zone],
    scenes: list[Scene],
    period: Interval,
    computed: Computed,
) -> Outcome:
    codes = [zone.code for zone in zones if zone.code]
    item_id = f"{_label(codes)}-{period.start:%Y%m%d}-{period.end:%Y%m%d}-{job.id}"
    tags = {
        "PROCESS": process.id,
        "PROCESS_VERSION": process.metadata["version"],
        "JOB_ID": str(job.id),
        "INPUTS": json.dumps({k: v for k, v in job.inputs.items() if k != "geometry"}),
    }
    if computed.rasters and computed.grid is None:
        raise ValueError(f"process {process.id} returned rasters without the grid they are on")
    results: dict[str, Any] = {}
    items: list[dict[str, Any]] = []
    first, last = PROGRESS_SPAN
    for done, (indicator_id, path) in enumerate(computed.rasters.items(), start=1):
        indicator = INDICATORS[indicator_id]
        cog = path.with_name(f"{indicator_id}.cog.tif")
        overviews = "mode" if indicator.kind == "categorical" else "average"
        await job.in_thread(write_cog, path, cog, tags | {"INDICATOR": indicator_id}, overviews)
        href = await job.in_thread(
            job.services.storage.put, job.storage_key(f"{indicator_id}.tif"), cog
        )
        items.append(
            result_item(
                indicator=indicator_id,
                item_id=item_id,
                href=href,
                grid=computed.grid,
                period=_observed(scenes, period),
                job_id=job.owner,
                process_id=process.id,
                process_version=process.metadata["version"],
                inputs=job.inputs,
                base_url=job.base_url,
                sources=[(s.collection, s.id) for s in scenes],
                territories=codes,
            )
        )
        results |= _raster_links(job.base_url, indicator_id, item_id, href)
        await job.progress(first + (last - first) * done / len(computed.rasters))
    for indicator_id in {feature.indicator for feature in computed.features}:
        title = INDICATORS[indicator_id].title
        results |= feature_links(job.base_url, indicator_id, job.owner, title)
    results |= process.figures_output(zones, computed.figures, job)
    statistics_indicator = computed.statistics_indicator or process.statistics_indicator
    statistics: list[Statistic] = []
    if statistics_indicator is not None:
        item = (statistics_indicator, item_id) if statistics_indicator in computed.rasters else None
        statistics = process.statistics(zones, computed.figures, statistics_indicator, period, item)
    return Outcome(results=results, items=items, statistics=statistics, features=computed.features)


def _raster_links(base_url: str, indicator_id: str, item_id: str, href: str) -> dict[str, Any]:
    title = INDICATORS[indicator_id].title
    return {
        indicator_id: {
            "href": asset_url(base_url, indicator_id, item_id, indicator_id, href),
            "type": MEDIA_TYPE_COG,
            "title": f"{title} (COG)",
        },
        f"{indicator_id}-item": {
            "href": f"{base_url}/stac/collections/{indicator_id}/items/{item_id}",
            "rel": "item",
            "type": "application/geo+json",
            "title": f"STAC item: {title}",
        },
        f"{indicator_id}-tiles": {
            "href": tiles_url(base_url, indicator_id, item_id),
            "rel": "tilejson",
            "type": "application/json",
            "title": f"TileJSON: {title}",
        },
    }
