"""The process contract: what a process declares and what it implements (pygeoapi's plugin
shape, `BaseProcessor` with `PROCESS_METADATA`), the science left to kernels.

A process declares its inputs (the OGC description), its raster and vector outputs and the
statistics it files, by indicator registry id; its OGC outputs (`<id>`, `<id>-item`,
`<id>-tiles`, `statistics`, `figures`) are derived from those. `validate` runs in the API before
anything is queued and returns a Plan: the normalised inputs the worker needs and the size of
the work. `run` runs in a worker and returns an Outcome, which the worker registers in the
transaction that ends the job. A process that fans out may `combine` its parts' outcomes once
they have all succeeded. `kernels` names the numba modules it uses, warmed when a worker starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, ParamSpec, TypeVar

from pygeoapi.process.base import BaseProcessor
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from territoires.compute.blocks import MEDIA_TYPE_COG, in_thread
from territoires.compute.results import Feature, Statistic
from territoires.shared.indicators import INDICATORS
from territoires.shared.settings import Settings
from territoires.shared.storage import Storage

Params = ParamSpec("Params")
Result = TypeVar("Result")
COG_OUTPUT = {"type": "string", "contentMediaType": MEDIA_TYPE_COG}
LINK_OUTPUT = {"type": "object", "required": ["href"], "properties": {"href": {"type": "string"}}}


@dataclass(frozen=True)
class Services:
    """The connections a job uses, opened once per API process or worker."""

    settings: Settings
    engine: AsyncEngine
    storage: Storage


@dataclass(frozen=True)
class Plan:
    """A validated request: normalised inputs (all a worker needs), the pixels it will read
    (what decides synchronous or asynchronous execution) and how many sub-jobs it makes."""

    inputs: dict[str, Any]
    pixels: int
    parts: int = 1


@dataclass(frozen=True)
class RunningJob:
    """What a process sees of the job it runs."""

    id: uuid.UUID
    owner: uuid.UUID  # the job the client submitted: itself, or the parent of a sub-job
    attempt: int  # this run's number: its files are its own, a stale run never touches others'
    inputs: dict[str, Any]
    base_url: str
    services: Services
    executor: Executor  # the job's own thread: blocks run there, never on the event loop
    scratch: Path
    progress: Callable[[float], Awaitable[None]]

    def storage_key(self, name: str) -> str:
        return f"{attempt_prefix(self.owner, self.id, self.attempt)}{name}"

    async def in_thread(
        self, function: Callable[Params, Result], *args: Params.args, **kwargs: Params.kwargs
    ) -> Result:
        """`function` in the job's own thread, safe to cancel (`blocks.in_thread`)."""
        return await in_thread(self.executor, function, *args, **kwargs)


def attempt_prefix(owner: uuid.UUID, job_id: uuid.UUID, attempt: int) -> str:
    """Where one attempt of a job writes its files."""
    return f"jobs/{owner}/{job_id}/{attempt}/"


@dataclass
class Outcome:
    """A run's results: items and statistics to register, and the results document."""

    results: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    statistics: list[Statistic] = field(default_factory=list)
    features: list[Feature] = field(default_factory=list)


class IndicatorProcess(BaseProcessor):
    """A process of the platform. Subclasses set `metadata` (the OGC description without the
    outputs the declarations below imply) and declare their outputs by registry id."""

    metadata: ClassVar[dict[str, Any]]
    raster_outputs: ClassVar[tuple[str, ...]] = ()
    vector_outputs: ClassVar[tuple[str, ...]] = ()
    statistics_indicator: ClassVar[str | None] = None
    """The registry id its statistics rows are filed under (None: the process names it)."""
    kernels: ClassVar[tuple[ModuleType, ...]] = ()

    def __init__(self) -> None:
        described = {
            **self.metadata,
            "outputs": self.declared_outputs() | self.metadata.get("outputs", {}),
        }
        super().__init__({"name": described["id"]}, described)

    @property
    def id(self) -> str:
        return self.metadata["id"]

    @classmethod
    def indicators(cls) -> tuple[str, ...]:
        """The registry ids this process outputs."""
        return cls.raster_outputs + cls.vector_outputs

    @classmethod
    def declared_outputs(cls) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for indicator_id in cls.raster_outputs:
            title = INDICATORS[indicator_id].title
            outputs[indicator_id] = {"title": f"{title} (COG)", "schema": COG_OUTPUT}
            outputs[f"{indicator_id}-item"] = {
                "title": f"STAC item: {title}",
                "schema": LINK_OUTPUT,
            }
            outputs[f"{indicator_id}-tiles"] = {
                "title": f"TileJSON: {title}",
                "schema": LINK_OUTPUT,
            }
        for indicator_id in cls.vector_outputs:
            title = INDICATORS[indicator_id].title
            outputs[indicator_id] = {
                "title": f"{title} (OGC API Features, GeoJSON)",
                "schema": LINK_OUTPUT,
            }
            outputs[f"{indicator_id}-gpkg"] = {
                "title": f"{title} (GeoPackage)",
                "schema": LINK_OUTPUT,
            }
        outputs["statistics"] = {"title": "indicator-statistics features", "schema": LINK_OUTPUT}
        outputs["figures"] = {"title": "Figures per territory", "schema": {"type": "object"}}
        return outputs

    def combine(
        self, base_url: str, part_ids: list[uuid.UUID], outputs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """A fanned-out job's results, made once from its parts' when they have all succeeded
        (in the transaction that ends the job): by default the parts' figures together, the
        statistics link they share, and a link to each part's results (COGs, items and tiles
        are per part). A process whose parts reduce (months, areas) overrides it."""
        figures: dict[str, Any] = {}
        for output in outputs:
            figures |= output.get("figures", {}).get("value", {})
        combined: dict[str, Any] = {
            "figures": {"value": figures, "mediaType": "application/json"},
            "parts": {
                "value": [
                    {
                        "href": f"{base_url}/jobs/{part_id}/results",
                        "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
                        "type": "application/json",
                    }
                    for part_id in part_ids
                ],
                "mediaType": "application/json",
            },
        }
        vector = [name for output in self.vector_outputs for name in (output, f"{output}-gpkg")]
        for shared in ("statistics", *vector):
            # Links by job, the same in every part that has them (a part without features
            # has no vector link).
            link = next((output[shared] for output in outputs if shared in output), None)
            if link is not None:
                combined[shared] = link
        return combined

    async def combined(
        self,
        connection: AsyncConnection,
        parent: Any,
        part_ids: list[uuid.UUID],
        outputs: list[dict[str, Any]],
    ) -> Outcome:
        """The parent job's outcome once every part has succeeded, in the transaction that ends
        it (`parent`: its jobs row, locked): by default `combine`'s results and nothing to
        register. A process whose parts each reduce a time range, and whose answer needs them
        all (a classification over ten years of months), reads what they registered on
        `connection` and returns its own statistics and features, published with the results."""
        return Outcome(results=self.combine(parent.base_url or "", part_ids, outputs))

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """Checks the request against the catalog and the territories: BadRequestError with a
        message naming the input when something is wrong."""
        raise NotImplementedError

    async def split(self, inputs: dict[str, Any], engine: AsyncEngine) -> list[dict]:
        """Inputs of the sub-jobs this job fans out to; one entry when it runs whole."""
        return [inputs]

    async def run(self, job: RunningJob) -> Outcome:
        raise NotImplementedError
