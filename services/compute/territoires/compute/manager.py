"""The job manager: jobs in the PostgreSQL table, execution through the arq queue.

pygeoapi's managers keep jobs in TinyDB or a table and run them in the API process; ours only
writes the row and queues its id, so jobs survive the API, scale with workers, and can be
dismissed wherever they run.

Jobs belong to the key that submitted them: another partner's job answers 404 as if it did not
exist (an admin key sees every job). Submissions of one key are serialised by an advisory lock
held for the insert's transaction, which makes its quota exact and an `Idempotency-Key` retried
concurrently one job.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arq import ArqRedis
from sqlalchemy import ColumnElement, false, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute.documents import Subscriber
from territoires.compute.errors import NoSuchJobError
from territoires.compute.inputs import Interval
from territoires.compute.processes.base import IndicatorProcess, Plan, Services
from territoires.compute.results import discard
from territoires.compute.worker import FINAL, enqueue
from territoires.shared.apikeys import Scope
from territoires.shared.errors import BusyError, ConflictError, QuotaError, UnprocessableError
from territoires.shared.models import ApiKey, Job, JobStatus

WAIT_STEP_S = (0.01, 0.1)
RETRY_QUOTA_S = 30
RETRY_BUSY_S = 60
ACTIVE = (JobStatus.ACCEPTED, JobStatus.RUNNING)


@dataclass(frozen=True)
class Submission:
    """Who submits, and what makes a retry of the same request recognisable."""

    owner: ApiKey
    idempotency_key: str | None
    digest: str


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
        submission: Submission,
    ) -> Job:
        """Writes the job `accepted`, then queues its id; with an idempotency key already used
        by the same request, the job that request made."""
        settings = self.services.settings
        owner = submission.owner
        async with self.services.engine.begin() as connection:
            await connection.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(str(owner.id), 0)))
            )
            if submission.idempotency_key is not None:
                earlier = await _idempotent(connection, submission)
                if earlier is not None:
                    return earlier
            active = await connection.scalar(
                select(func.count()).where(
                    Job.owner_key_id == owner.id, Job.parent_id.is_(None), Job.status.in_(ACTIVE)
                )
            )
            if active >= settings.max_active_jobs_per_key:
                raise QuotaError(
                    f"API key {owner.name!r} already has {active} jobs queued or running (at "
                    f"most {settings.max_active_jobs_per_key}); wait for some to end",
                    RETRY_QUOTA_S,
                )
            if await self.queue.zcard(settings.queue_name) >= settings.max_queue_depth:
                raise BusyError(
                    "the platform's job queue is full; submit again later", RETRY_BUSY_S
                )
            values = {
                "id": uuid.uuid4(),
                "process_id": process.id,
                "status": JobStatus.ACCEPTED,
                "progress": 0.0,
                "message": "accepted",
                "inputs": plan.inputs,
                "subscriber": subscriber.model_dump(mode="json", by_alias=True, exclude_none=True)
                if subscriber
                else None,
                "base_url": base_url,
                "owner_key_id": owner.id,
                "idempotency_key": submission.idempotency_key,
                "request_digest": submission.digest,
            }
            job = (
                await connection.execute(
                    insert(Job).values(values).returning(*Job.__table__.columns)
                )
            ).one()
        await enqueue(self.queue, settings, job.id)
        return job

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

    async def _load(self, job_id: uuid.UUID) -> Job:
        async with self.services.engine.connect() as connection:
            return (await connection.execute(select(Job).where(Job.id == job_id))).one()

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
            job = await self._load(job_id)
            if job.status in FINAL or asyncio.get_running_loop().time() >= deadline:
                return job
            await asyncio.sleep(step)
            step = min(step * 1.5, WAIT_STEP_S[1])

    async def dismiss(self, job_id: str, caller: ApiKey) -> Job:
        """Stops a job in any state and its sub-jobs, and removes what they wrote (items,
        statistics, files). The job's row is locked before its parts', as workers do.

        Nothing is cancelled under a worker's feet: a queued job is skipped when a worker takes
        it, a running one stops at its next block, when its progress write finds it dismissed."""
        job = await self.get(job_id, caller)
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
        await asyncio.to_thread(self.services.storage.delete_prefix, f"jobs/{job.id}")
        return await self._load(job.id)


async def _idempotent(connection: AsyncConnection, submission: Submission) -> Job | None:
    """The job an earlier request with this idempotency key made; UnprocessableError when that
    request was another one."""
    earlier = (
        await connection.execute(
            select(Job).where(
                Job.owner_key_id == submission.owner.id,
                Job.idempotency_key == submission.idempotency_key,
            )
        )
    ).first()
    if earlier is not None and earlier.request_digest != submission.digest:
        raise UnprocessableError(
            f"Idempotency-Key {submission.idempotency_key!r} was used for another request "
            f"(job {earlier.id}); use a new key for a new request"
        )
    return earlier


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
