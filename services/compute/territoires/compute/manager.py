"""The job manager: jobs in the PostgreSQL table, execution through the arq queue.

pygeoapi's managers keep jobs in TinyDB or a table and run them in the API process; ours only
writes the row and queues its id, so jobs survive the API, scale with workers, and can be
dismissed wherever they run.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arq import ArqRedis
from arq.jobs import Job as QueuedJob
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.documents import Subscriber
from territoires.compute.errors import NoSuchJobError
from territoires.compute.inputs import Interval
from territoires.compute.processes.base import IndicatorProcess, Plan, Services
from territoires.compute.results import discard
from territoires.compute.worker import FINAL, enqueue
from territoires.shared.errors import ConflictError
from territoires.shared.models import Job, JobStatus

WAIT_STEP_S = (0.01, 0.1)


@dataclass(frozen=True)
class JobFilters:
    process_ids: list[str]
    statuses: list[JobStatus]
    created: Interval | None
    limit: int
    offset: int


class JobManager:
    def __init__(self, services: Services, queue: ArqRedis) -> None:
        self.services = services
        self.queue = queue

    async def plan(self, process: IndicatorProcess, inputs: dict[str, Any]) -> Plan:
        """The process's validation, against the database, before anything is written."""
        async with self.services.engine.connect() as connection:
            return await process.validate(inputs, connection)

    async def submit(
        self,
        process: IndicatorProcess,
        plan: Plan,
        subscriber: Subscriber | None,
        base_url: str,
    ) -> Job:
        """Writes the job `accepted`, then queues its id."""
        job_id = uuid.uuid4()
        values = {
            "id": job_id,
            "process_id": process.id,
            "status": JobStatus.ACCEPTED,
            "progress": 0.0,
            "message": "accepted",
            "inputs": plan.inputs,
            "subscriber": subscriber.model_dump(mode="json", by_alias=True, exclude_none=True)
            if subscriber
            else None,
            "base_url": base_url,
        }
        async with self.services.engine.begin() as connection:
            job = (
                await connection.execute(
                    insert(Job).values(values).returning(*Job.__table__.columns)
                )
            ).one()
        await enqueue(self.queue, self.services.settings, job_id)
        return job

    async def get(self, job_id: str) -> Job:
        identifier = _identifier(job_id)
        async with self.services.engine.connect() as connection:
            job = (await connection.execute(select(Job).where(Job.id == identifier))).first()
        if job is None:
            raise NoSuchJobError(f"no job {job_id!r}")
        return job

    async def list(self, filters: JobFilters) -> tuple[list[Job], bool]:
        """A page of jobs, newest first, and whether more follow."""
        statement = select(Job).order_by(Job.created_at.desc(), Job.id)
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
            job = await self.get(str(job_id))
            if job.status in FINAL or asyncio.get_running_loop().time() >= deadline:
                return job
            await asyncio.sleep(step)
            step = min(step * 1.5, WAIT_STEP_S[1])

    async def dismiss(self, job_id: str) -> Job:
        """Stops a queued or running job and its sub-jobs, and removes what they wrote (items,
        statistics, files). The job's row is locked before its parts', as workers do."""
        job = await self.get(job_id)
        if job.parent_id is not None:
            raise ConflictError(f"job {job_id} is a part of job {job.parent_id}: dismiss that one")
        async with self.services.engine.begin() as connection:
            status = await connection.scalar(
                select(Job.status).where(Job.id == job.id).with_for_update()
            )
            parts = await _locked_parts(connection, job.id)
            if status != JobStatus.DISMISSED:
                now = datetime.now(UTC)
                await connection.execute(
                    update(Job)
                    .where(Job.id.in_([job.id, *parts]))
                    .values(
                        status=JobStatus.DISMISSED,
                        message="dismissed by the client",
                        finished_at=func.coalesce(Job.finished_at, now),
                        updated_at=now,
                    )
                )
                await discard(connection, [job.id])
        for identifier in (job.id, *parts):
            await QueuedJob(
                str(identifier), self.queue, _queue_name=self.services.settings.queue_name
            ).abort(timeout=0)
        await asyncio.to_thread(self.services.storage.delete_prefix, f"jobs/{job.id}")
        return await self.get(job_id)


async def _locked_parts(connection: AsyncConnection, job_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await connection.scalars(
        select(Job.id).where(Job.parent_id == job_id).order_by(Job.id).with_for_update()
    )
    return list(rows)


def _identifier(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise NoSuchJobError(f"no job {job_id!r} (job ids are UUIDs)") from None
