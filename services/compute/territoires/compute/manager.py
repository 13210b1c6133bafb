"""The API's job manager: what the OGC routes ask of jobs, over `lifecycle` (where jobs change
state) and the jobs table (what a caller may read).

pygeoapi's managers keep jobs in TinyDB or a table and run them in the API process; ours only
writes the row and queues its id, so jobs survive the API, scale with workers, and can be
dismissed wherever they run.

Jobs belong to the key that submitted them: another partner's job answers 404 as if it did not
exist (an admin key sees every job).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from arq import ArqRedis
from sqlalchemy import ColumnElement, false, select, true

from territoires.compute.errors import NoSuchJobError
from territoires.compute.inputs import Interval
from territoires.compute.lifecycle import FINAL, JobLifecycle
from territoires.compute.processes.base import IndicatorProcess, Plan, Services
from territoires.shared.apikeys import Scope
from territoires.shared.models import ApiKey, Job, JobStatus

WAIT_STEP_S = (0.01, 0.1)


def visible_to(caller: ApiKey | None) -> ColumnElement[bool]:
    """The jobs a caller may see: its own; every one for an admin key; none without a key."""
    if caller is None:
        return false()
    if Scope.ADMIN.value in caller.scopes:
        return true()
    return Job.owner_key_id == caller.id


@dataclass(frozen=True)
class JobFilters:
    caller: ApiKey | None
    process_ids: list[str]
    statuses: list[JobStatus]
    created: Interval | None
    limit: int
    offset: int


class JobManager:
    def __init__(self, services: Services, queue: ArqRedis) -> None:
        self.services = services
        self.jobs = JobLifecycle(services, queue)

    async def plan(self, process: IndicatorProcess, inputs: dict[str, Any]) -> Plan:
        """The process's validation, against the database, before anything is written."""
        async with self.services.engine.connect() as connection:
            return await process.validate(inputs, connection)

    async def get(self, job_id: str, caller: ApiKey | None) -> Job:
        """The job, when the caller may see it; NoSuchJobError otherwise (existence of other
        partners' jobs is not disclosed)."""
        identifier = _identifier(job_id)
        async with self.services.engine.connect() as connection:
            job = (
                await connection.execute(
                    select(Job).where(Job.id == identifier, visible_to(caller))
                )
            ).first()
        if job is None:
            raise NoSuchJobError(f"no job {job_id!r} of this API key")
        return job

    async def list(self, filters: JobFilters) -> tuple[list[Job], bool]:
        """A page of the caller's jobs, newest first, and whether more follow."""
        if filters.caller is None:
            return [], False
        statement = (
            select(Job).where(visible_to(filters.caller)).order_by(Job.created_at.desc(), Job.id)
        )
        if filters.process_ids:
            statement = statement.where(Job.process_id.in_(filters.process_ids))
        if filters.statuses:
            statement = statement.where(Job.status.in_(filters.statuses))
        if filters.created:
            statement = statement.where(
                Job.created_at >= filters.created.start, Job.created_at <= filters.created.end
            )
        statement = statement.offset(filters.offset).limit(filters.limit + 1)
        async with self.services.engine.connect() as connection:
            jobs = list((await connection.execute(statement)).all())
        return jobs[: filters.limit], len(jobs) > filters.limit

    async def wait(self, job_id: uuid.UUID, timeout_s: float) -> Job:
        """The job once it has ended, or as it is after `timeout_s`."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        step = WAIT_STEP_S[0]
        while True:
            job = await self.jobs.load(job_id)
            if job.status in FINAL or asyncio.get_running_loop().time() >= deadline:
                return job
            await asyncio.sleep(step)
            step = min(step * 1.5, WAIT_STEP_S[1])

    async def dismiss(self, job_id: str, caller: ApiKey) -> Job:
        """`lifecycle.JobLifecycle.dismiss` of a job the caller may see."""
        return await self.jobs.dismiss(await self.get(job_id, caller))


def _identifier(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise NoSuchJobError(f"no job {job_id!r} (job ids are UUIDs)") from None
