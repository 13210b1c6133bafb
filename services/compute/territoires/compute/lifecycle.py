"""The job lifecycle, in the jobs table: every state a job goes through and who may move it.

    submit: accepted; start: running (one more attempt); progress while it runs; then
    finish: successful, or fail: failed, or split: sub-jobs, each its own lifecycle, and
    settle: the parent ends once they all have; dismiss: any state to dismissed.

The API submits and dismisses (`manager` is its thin layer over this module), the worker starts,
reports progress, splits, finishes, fails and settles (`worker` is the arq wiring around it and
the process's science); the queue (`queue`) only carries ids, so a job outlives a worker.

Jobs belong to the key that submitted them. Submissions of one key are serialised by an advisory
lock held for the insert's transaction, which makes its quota exact and an `Idempotency-Key`
retried concurrently one job.

Each attempt of a job writes its files under its own prefix and registers them with the final
status in one transaction that first checks the job is still running that attempt: a job run
twice succeeds exactly once, and a stale run (its lease lapsed while it lived) stops at its next
progress write, removing only its own files. A dismissal cancels nothing under a worker's feet:
a queued job is skipped when a worker takes it, a running one stops at its next block.

Transactions that lock a job and its parent lock the parent first (dismissal too), so none waits
on another in a cycle.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any

import structlog
from arq import ArqRedis
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute import callbacks
from territoires.compute.documents import Subscriber
from territoires.compute.processes import PROCESSES
from territoires.compute.processes.base import (
    IndicatorProcess,
    Outcome,
    Plan,
    Services,
    attempt_prefix,
)
from territoires.compute.queue import depth, enqueue
from territoires.compute.results import JobNotRunning, discard, finish, lock_running, publish
from territoires.shared.errors import (
    BusyError,
    ConflictError,
    QuotaError,
    TerritoiresError,
    UnprocessableError,
)
from territoires.shared.models import ApiKey, Job, JobStatus

RETRY_QUOTA_S = 30
RETRY_BUSY_S = 60
ACTIVE = (JobStatus.ACCEPTED, JobStatus.RUNNING)
FINAL = (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.DISMISSED)
MAX_ATTEMPTS = 3
"""Runs of one job at most: a job that kills its worker every time is failed, not retried."""
PROGRESS_INTERVAL_S = 0.3

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Submission:
    """Who submits, and what makes a retry of the same request recognisable."""

    owner: ApiKey
    idempotency_key: str | None
    digest: str


class JobLifecycle:
    """The state transitions of jobs, each in its own transaction, then the subscriber's
    callback once it is committed."""

    def __init__(self, services: Services, queue: ArqRedis) -> None:
        self.services = services
        self.queue = queue

    async def load(self, job_id: uuid.UUID) -> Job:
        async with self.services.engine.connect() as connection:
            return (await connection.execute(select(Job).where(Job.id == job_id))).one()

    async def status(self, job_id: uuid.UUID) -> JobStatus | None:
        async with self.services.engine.connect() as connection:
            return await connection.scalar(select(Job.status).where(Job.id == job_id))

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
            if await depth(self.queue, settings) >= settings.max_queue_depth:
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

    async def start(self, job_id: uuid.UUID) -> Job | None:
        """Marks the job running (one more attempt); None when there is nothing to run."""
        now = datetime.now(UTC)
        async with self.services.engine.begin() as connection:
            row = (
                await connection.execute(select(Job).where(Job.id == job_id).with_for_update())
            ).first()
            if row is None or row.status in FINAL:
                return None
            job = row
            if job.parent_id is not None and await _status_of(connection, job.parent_id) in FINAL:
                await _end(connection, job, JobStatus.DISMISSED, "its parent job has ended")
                return None
            if await _has_parts(connection, job.id):
                await self._requeue_parts(connection, job.id)
                return None
            if job.attempts >= MAX_ATTEMPTS:
                message = (
                    f"the job stopped {job.attempts} times without finishing (its worker was "
                    "killed or ran out of memory); submit it again, for a smaller area"
                )
                await _end(connection, job, JobStatus.FAILED, message)
                failed = job
            else:
                failed = None
                started = (
                    await connection.execute(
                        update(Job)
                        .where(Job.id == job_id)
                        .values(
                            status=JobStatus.RUNNING,
                            attempts=Job.attempts + 1,
                            started_at=func.coalesce(Job.started_at, now),
                            updated_at=now,
                            message="running",
                        )
                        .returning(*Job.__table__.columns)
                    )
                ).one()
        if failed is not None:
            await self._after_failure(failed.id)
            return None
        # Which worker ran which part, and which attempt: the log tells a lost host's jobs.
        log.info(
            "job started",
            job_id=str(job_id),
            parent_id=str(started.parent_id) if started.parent_id else None,
            attempt=started.attempts,
        )
        if started.attempts == 1 and started.subscriber:
            await callbacks.in_progress(started)
        return started

    async def _requeue_parts(self, connection: AsyncConnection, job_id: uuid.UUID) -> None:
        parts = await connection.scalars(
            select(Job.id).where(Job.parent_id == job_id, Job.status.not_in(FINAL))
        )
        for part in list(parts):
            await enqueue(self.queue, self.services.settings, part)

    def progress(self, job: Job) -> Progress:
        """What the running attempt calls with its progress (RunningJob.progress)."""
        return Progress(self.services, job)

    async def split(self, job: Job, parts: list[dict[str, Any]]) -> None:
        """Sub-jobs on the same queue, with ids derived from the parent's so that a parent run
        twice makes the same ones; the parent stays running until they all end."""
        ids = [uuid.uuid5(job.id, str(number)) for number in range(len(parts))]
        rows = [
            {
                "id": part_id,
                "process_id": job.process_id,
                "inputs": inputs,
                "parent_id": job.id,
                "owner_key_id": job.owner_key_id,
                "base_url": job.base_url,
                "status": JobStatus.ACCEPTED,
            }
            for part_id, inputs in zip(ids, parts, strict=True)
        ]
        async with self.services.engine.begin() as connection:
            await lock_running(connection, job.id, job.attempts)  # not dismissed meanwhile
            await connection.execute(insert(Job).values(rows).on_conflict_do_nothing())
            await connection.execute(
                update(Job)
                .where(Job.id == job.id)
                .values(message=f"split into {len(parts)} sub-jobs", updated_at=func.now())
            )
        # Taken in the split's order (largest first): the n-th part is due n ms after the first.
        first = datetime.now(UTC)
        for number, part_id in enumerate(ids):
            due = first + timedelta(milliseconds=number)
            await enqueue(self.queue, self.services.settings, part_id, due)
        log.info("job split", job_id=str(job.id), parts=len(parts))

    async def finish(self, job: Job, outcome: Outcome) -> None:
        """Registers the attempt's outcome and ends the job successful, when it still runs that
        attempt (JobNotRunning otherwise); settles its parent when it is a part."""
        owner = job.parent_id or job.id
        async with self.services.engine.begin() as connection:
            await _lock_family(connection, job)
            await publish(connection, outcome.items, outcome.statistics, outcome.features, owner)
            await finish(connection, job.id, outcome.results)
            parent_done = await settle(connection, job.parent_id) if job.parent_id else None
        await self._discard_earlier_attempts(job)
        if job.subscriber:
            await callbacks.succeeded(await self.load(job.id))
        if parent_done is not None:
            await self._after_settled(parent_done)

    async def fail(self, job: Job, message: str) -> None:
        """Ends the job failed, when it still runs this attempt (a stale attempt only removes
        its files); settles its parent when it is a part."""
        parent_done = None
        async with self.services.engine.begin() as connection:
            try:
                await _lock_family(connection, job)
            except JobNotRunning:
                stale = True
            else:
                stale = False
                await _end(connection, job, JobStatus.FAILED, message)
                if job.parent_id is not None:
                    parent_done = await settle(connection, job.parent_id)
        await self.discard_files(job)
        if stale:
            return
        await self._after_failure(job.id)
        if parent_done is not None:
            await self._after_settled(parent_done)

    async def dismiss(self, job: Job) -> Job:
        """Stops a job in any state and its sub-jobs, and removes what they wrote (items,
        statistics, files). The job's row is locked before its parts', as workers do.

        Nothing is cancelled under a worker's feet: a queued job is skipped when a worker takes
        it, a running one stops at its next block, when its progress write finds it dismissed."""
        if job.parent_id is not None:
            raise ConflictError(f"job {job.id} is a part of job {job.parent_id}: dismiss that one")
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
        return await self.load(job.id)

    async def _after_failure(self, job_id: uuid.UUID) -> None:
        await callbacks.failed(await self.load(job_id))

    async def _after_settled(self, parent_id: uuid.UUID) -> None:
        parent = await self.load(parent_id)
        if parent.status == JobStatus.SUCCESSFUL:
            await callbacks.succeeded(parent)
        else:
            await callbacks.failed(parent)

    async def discard_files(self, job: Job) -> None:
        """This attempt's files: another attempt's (the winner's) are never touched."""
        key = attempt_prefix(job.parent_id or job.id, job.id, job.attempts)
        await asyncio.to_thread(self.services.storage.delete_prefix, key)

    async def _discard_earlier_attempts(self, job: Job) -> None:
        """What attempts killed before this successful one left behind."""
        owner = job.parent_id or job.id
        for attempt in range(1, job.attempts):
            key = attempt_prefix(owner, job.id, attempt)
            await asyncio.to_thread(self.services.storage.delete_prefix, key)


class Progress:
    """Writes a job's progress (at most every PROGRESS_INTERVAL_S) and its parent's; raises
    JobNotRunning when the job was dismissed or taken by another attempt meanwhile, which stops
    the work at the next block."""

    def __init__(self, services: Services, job: Job) -> None:
        self.services = services
        self.job = job
        self.written_at = 0.0

    async def __call__(self, progress: float) -> None:
        now = monotonic()
        if progress < 100 and now - self.written_at < PROGRESS_INTERVAL_S:
            return
        self.written_at = now
        async with self.services.engine.begin() as connection:
            written = await connection.execute(
                update(Job)
                .where(
                    Job.id == self.job.id,
                    Job.status == JobStatus.RUNNING,
                    Job.attempts == self.job.attempts,
                )
                .values(progress=max(0.0, min(100.0, progress)), updated_at=func.now())
            )
        if written.rowcount == 0:
            raise JobNotRunning(str(self.job.id))
        if self.job.parent_id is not None:
            async with self.services.engine.begin() as connection:
                await _parent_progress(connection, self.job.parent_id)


def installed(process_id: str) -> IndicatorProcess:
    """The process a job names, as installed on this worker."""
    process = PROCESSES.get(process_id)
    if process is None:
        raise TerritoiresError(f"process {process_id!r} is not installed on this worker")
    return process


async def settle(connection: AsyncConnection, parent_id: uuid.UUID) -> uuid.UUID | None:
    """After a sub-job ended: the parent's progress, and its end when every part has ended
    (successful with the parts' results merged, or failed naming how many parts failed).
    Returns the parent's id when it has just ended."""
    parent = (
        await connection.execute(select(Job).where(Job.id == parent_id).with_for_update())
    ).first()
    if parent is None or parent.status in FINAL:
        return None
    parts = (
        await connection.execute(
            select(Job.id, Job.status, Job.progress, Job.message, Job.outputs)
            .where(Job.parent_id == parent_id)
            .order_by(Job.id)
        )
    ).all()
    if any(part.status not in FINAL for part in parts):
        await _parent_progress(connection, parent_id)
        return None
    failed = [part for part in parts if part.status != JobStatus.SUCCESSFUL]
    now = datetime.now(UTC)
    values: dict[str, Any] = {"finished_at": now, "updated_at": now, "progress": 100.0}
    if failed:
        values |= {
            "status": JobStatus.FAILED,
            "message": f"{len(failed)} of {len(parts)} sub-jobs failed (the others' results "
            f"are kept); first: {failed[0].message}",
        }
    else:
        outcome = await installed(parent.process_id).combined(
            connection, parent, [p.id for p in parts], [p.outputs for p in parts]
        )
        await publish(connection, outcome.items, outcome.statistics, outcome.features, parent_id)
        values |= {"status": JobStatus.SUCCESSFUL, "message": "done", "outputs": outcome.results}
    await connection.execute(update(Job).where(Job.id == parent_id).values(**values))
    return parent_id


async def _parent_progress(connection: AsyncConnection, parent_id: uuid.UUID) -> None:
    average = select(func.avg(Job.progress)).where(Job.parent_id == parent_id).scalar_subquery()
    await connection.execute(
        update(Job)
        .where(Job.id == parent_id, Job.status == JobStatus.RUNNING)
        .values(progress=func.coalesce(average, 0.0), updated_at=func.now())
    )


async def _end(connection: AsyncConnection, job: Job, status: JobStatus, message: str) -> None:
    now = datetime.now(UTC)
    await connection.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(status=status, message=message, finished_at=now, updated_at=now)
    )


async def _status_of(connection: AsyncConnection, job_id: uuid.UUID) -> JobStatus | None:
    return await connection.scalar(select(Job.status).where(Job.id == job_id))


async def _has_parts(connection: AsyncConnection, job_id: uuid.UUID) -> bool:
    return bool(await connection.scalar(select(func.count()).where(Job.parent_id == job_id)))


async def _lock_family(connection: AsyncConnection, job: Job) -> None:
    """Locks the job's parent (if any) then the job, which must be running."""
    if job.parent_id is not None:
        await connection.execute(select(Job.id).where(Job.id == job.parent_id).with_for_update())
    await lock_running(connection, job.id, job.attempts)


async def _locked_parts(connection: AsyncConnection, job_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await connection.scalars(
        select(Job.id).where(Job.parent_id == job_id).order_by(Job.id).with_for_update()
    )
    return list(rows)


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
