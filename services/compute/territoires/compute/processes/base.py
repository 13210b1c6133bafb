"""What a process is: its OGC description beside a validation and a run (pygeoapi's plugin
shape, `BaseProcessor` with `PROCESS_METADATA`), the science left to kernels.

`validate` runs in the API before anything is queued and returns a Plan: the normalised inputs
the worker needs (scenes pinned, territories resolved) and the size of the work. `run` runs in a
worker and returns an Outcome; the worker registers it in the transaction that ends the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, ParamSpec, TypeVar

from pygeoapi.process.base import BaseProcessor
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from territoires.compute.blocks import in_thread
from territoires.compute.results import Statistic
from territoires.shared.settings import Settings
from territoires.shared.storage import Storage

Params = ParamSpec("Params")
Result = TypeVar("Result")


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


class IndicatorProcess(BaseProcessor):
    """A process of the platform; subclasses set `metadata` (the OGC process description)."""

    metadata: ClassVar[dict[str, Any]]

    def __init__(self) -> None:
        super().__init__({"name": self.metadata["id"]}, self.metadata)

    @property
    def id(self) -> str:
        return self.metadata["id"]

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        """Checks the request against the catalog and the territories: BadRequestError with a
        message naming the input when something is wrong."""
        raise NotImplementedError

    async def split(self, inputs: dict[str, Any], engine: AsyncEngine) -> list[dict]:
        """Inputs of the sub-jobs this job fans out to; one entry when it runs whole."""
        return [inputs]

    async def run(self, job: RunningJob) -> Outcome:
        raise NotImplementedError
