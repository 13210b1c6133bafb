"""The arq worker (`territoires worker`): takes job ids off the Redis queue and runs them.

The jobs table is the source of truth; the queue only carries ids, so a job outlives a worker.
A running job renews a short lease in Redis (arq's in-progress key): when its worker dies
(SIGKILL, lost node) the lease lapses within LEASE_S and another worker takes the job again.
Each attempt writes its files under its own prefix and registers them with the final status in
one transaction that first checks the job is still running that attempt: a job run twice
succeeds exactly once, and a stale run (its lease lapsed while it lived) stops at its next
progress write, removing only its own files.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import monotonic
from typing import Any, ClassVar

import structlog
from arq import ArqRedis, Retry, cron
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.compute import callbacks
from territoires.compute.processes import PROCESSES, install
from territoires.compute.processes.base import (
    IndicatorProcess,
    RunningJob,
    Services,
    attempt_prefix,
)
from territoires.compute.results import JobNotRunning, finish, lock_running, publish
from territoires.shared.database import create_async_database
from territoires.shared.errors import TerritoiresError
from territoires.shared.logs import configure_logging
from territoires.shared.models import Job, JobStatus
from territoires.shared.plugins import load_plugins
from territoires.shared.settings import Settings, get_settings, settings_or_exit
from territoires.shared.storage import StorageUnreachableError, storage_from_settings

LEASE_S = 10.0
OUTAGE_RETRY_S = 5.0
MAX_ATTEMPTS = 3
"""Runs of one job at most: a job that kills its worker every time is failed, not retried."""
PROGRESS_INTERVAL_S = 0.3
FINAL = (JobStatus.SUCCESSFUL, JobStatus.FAILED, JobStatus.DISMISSED)
STALE_AFTER = timedelta(minutes=1)

log = structlog.get_logger(__name__)


def warm_kernels() -> list[str]:
    """Warms the kernel modules the registered processes declare; returns their names."""
    modules = {kernel.__name__: kernel for p in PROCESSES.values() for kernel in p.kernels}
    for kernel in modules.values():
        kernel.warm_up()
    return sorted(modules)


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(settings)
    install(load_plugins(settings))
    ctx["services"] = Services(
        settings, create_async_database(settings), storage_from_settings(settings)
    )
    began = monotonic()
    kernels = await asyncio.to_thread(warm_kernels)
    log.info(
        "worker started",
        queue=settings.queue_name,
        processes=sorted(PROCESSES),
        kernels=kernels,
        kernels_ready_s=round(monotonic() - began, 2),
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["services"].engine.dispose()


async def enqueue(
    queue: ArqRedis, settings: Settings, job_id: uuid.UUID, due: datetime | None = None
) -> None:
    """Queues a job by id; arq ignores an id it already holds, so queueing twice is harmless.
    Workers take jobs in order of `due` (default: now), equal times in order of id."""
    await queue.enqueue_job(
        "run_job",
        str(job_id),
        _job_id=str(job_id),
        _queue_name=settings.queue_name,
        _defer_until=due,
    )


async def _hold_lease(queue: ArqRedis, arq_job_id: str) -> None:
    """Keeps arq's in-progress key of the running job alive for LEASE_S at a time."""
    key = in_progress_key_prefix + arq_job_id
    while True:
        try:
            await queue.pexpire(key, int(LEASE_S * 1000))
        except Exception as error:  # a Redis hiccup must not stop the job
            log.warning("lease renewal failed", job=arq_job_id, error=str(error))
        await asyncio.sleep(LEASE_S / 3)


def outage(error: BaseException) -> bool:
    """The database, Redis or the object store went away: nothing the job did wrong, so it is
    run again."""
    unreachable = (
        OperationalError,
        InterfaceError,
        ConnectionError,
        TimeoutError,
        StorageUnreachableError,
    )
    if isinstance(error, unreachable):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


async def run_job(ctx: dict[str, Any], job_id: str) -> str:
    """arq's entry point: runs one job to a final state (or to waiting for its sub-jobs). A job
    an outage interrupted is queued again under its id after OUTAGE_RETRY_S; its next run is a
    new attempt (the fencing keeps the interrupted one's files apart)."""
    lease = asyncio.create_task(_hold_lease(ctx["redis"], ctx["job_id"]))
    try:
        return await JobRunner(ctx["services"], ctx["redis"]).run(uuid.UUID(job_id))
    except Exception as error:
        if not outage(error):
            raise
        log.warning("job interrupted by an outage; runs again", job_id=job_id, error=repr(error))
        raise Retry(defer=OUTAGE_RETRY_S) from error
    finally:
        lease.cancel()


async def requeue_stale_jobs(ctx: dict[str, Any]) -> int:
    """Queues again the jobs left accepted or running without progress for a minute: the API
    died between writing a job and queueing it, or Redis lost its data. Live jobs are untouched
    (arq ignores ids it holds)."""
    services: Services = ctx["services"]
    async with services.engine.connect() as connection:
        ids = await connection.scalars(
            select(Job.id).where(
                Job.status.in_([JobStatus.ACCEPTED, JobStatus.RUNNING]),
                Job.updated_at < datetime.now(UTC) - STALE_AFTER,
            )
        )
        stale = list(ids)
    for job_id in stale:
        await _release_dead_lease(ctx["redis"], job_id)
        await enqueue(ctx["redis"], services.settings, job_id)
    return len(stale)


async def _release_dead_lease(queue: ArqRedis, job_id: uuid.UUID) -> None:
    """arq marks a job in progress for its whole timeout (hours) before run_job shortens it to
    LEASE_S; a worker killed in between leaves the job unclaimable for that long. A lease longer
    than LEASE_S is no live run's (they renew it at LEASE_S), so it is cut back to LEASE_S."""
    key = in_progress_key_prefix + str(job_id)
    if await queue.pttl(key) > LEASE_S * 1000:
        await queue.pexpire(key, int(LEASE_S * 1000))


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


async def _parent_progress(connection: AsyncConnection, parent_id: uuid.UUID) -> None:
    average = select(func.avg(Job.progress)).where(Job.parent_id == parent_id).scalar_subquery()
    await connection.execute(
        update(Job)
        .where(Job.id == parent_id, Job.status == JobStatus.RUNNING)
        .values(progress=func.coalesce(average, 0.0), updated_at=func.now())
    )


def _failure_message(error: Exception) -> str:
    """What a user reads: our own errors as they are; any other by its type only, since a
    library's text may quote server paths and URLs (GDAL's does). The log has the detail."""
    if isinstance(error, TerritoiresError) and str(error):
        return str(error)
    return f"internal error ({type(error).__name__}); it has been logged"


class JobRunner:
    """One job's run: start, fan out or execute, then register and settle, or fail."""

    def __init__(self, services: Services, queue: ArqRedis) -> None:
        self.services = services
        self.queue = queue

    async def run(self, job_id: uuid.UUID) -> str:
        job = await self.start(job_id)
        if job is None:
            return "skipped"
        return await self.attempt(job)

    async def attempt(self, job: Job) -> str:
        """One attempt of a started job, to its end or until it finds it no longer holds it."""
        try:
            process = _process_of(job.process_id)
            if job.parent_id is None:
                parts = await process.split(job.inputs, self.services.engine)
                if len(parts) > 1:
                    await self._fan_out(job, parts)
                    return "waiting"
            await self._execute(job, process)
        except JobNotRunning:
            await self._discard_files(job)
            return "stopped"
        except asyncio.CancelledError:
            if await self._status(job.id) == JobStatus.DISMISSED:
                await self._discard_files(job)
            raise
        except Exception as error:
            if outage(error):
                raise  # not the job's failure: run_job has it run again
            log.exception("job failed", job_id=str(job.id), process=job.process_id)
            await self._fail(job, _failure_message(error))
            return JobStatus.FAILED
        return JobStatus.SUCCESSFUL

    async def _status(self, job_id: uuid.UUID) -> JobStatus | None:
        async with self.services.engine.connect() as connection:
            return await connection.scalar(select(Job.status).where(Job.id == job_id))

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
                await self._end(connection, job, JobStatus.DISMISSED, "its parent job has ended")
                return None
            if await self._has_parts(connection, job.id):
                await self._requeue_parts(connection, job.id)
                return None
            if job.attempts >= MAX_ATTEMPTS:
                message = (
                    f"the job stopped {job.attempts} times without finishing (its worker was "
                    "killed or ran out of memory); submit it again, for a smaller area"
                )
                await self._end(connection, job, JobStatus.FAILED, message)
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

    async def _load(self, job_id: uuid.UUID) -> Job:
        async with self.services.engine.connect() as connection:
            return (await connection.execute(select(Job).where(Job.id == job_id))).one()

    async def _has_parts(self, connection: AsyncConnection, job_id: uuid.UUID) -> bool:
        return bool(await connection.scalar(select(func.count()).where(Job.parent_id == job_id)))

    async def _requeue_parts(self, connection: AsyncConnection, job_id: uuid.UUID) -> None:
        parts = await connection.scalars(
            select(Job.id).where(Job.parent_id == job_id, Job.status.not_in(FINAL))
        )
        for part in list(parts):
            await enqueue(self.queue, self.services.settings, part)

    async def _fan_out(self, job: Job, parts: list[dict[str, Any]]) -> None:
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

    async def _execute(self, job: Job, process: IndicatorProcess) -> None:
        owner = job.parent_id or job.id
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"job-{job.id}")
        try:
            with tempfile.TemporaryDirectory(
                prefix=f"territoires-{job.id}-", ignore_cleanup_errors=True
            ) as scratch:
                running = RunningJob(
                    id=job.id,
                    owner=owner,
                    attempt=job.attempts,
                    inputs=job.inputs,
                    base_url=job.base_url or "",
                    services=self.services,
                    executor=executor,
                    scratch=Path(scratch),
                    progress=Progress(self.services, job),
                )
                outcome = await process.run(running)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        async with self.services.engine.begin() as connection:
            await _lock_family(connection, job)
            await publish(connection, outcome.items, outcome.statistics, outcome.features, owner)
            await finish(connection, job.id, outcome.results)
            parent_done = await _settle_parent(connection, job.parent_id) if job.parent_id else None
        await self._discard_earlier_attempts(job)
        if job.subscriber:
            await callbacks.succeeded(await self._load(job.id))
        if parent_done is not None:
            await self._after_settled(parent_done)

    async def _end(
        self, connection: AsyncConnection, job: Job, status: JobStatus, message: str
    ) -> None:
        now = datetime.now(UTC)
        await connection.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(status=status, message=message, finished_at=now, updated_at=now)
        )

    async def _fail(self, job: Job, message: str) -> None:
        parent_done = None
        async with self.services.engine.begin() as connection:
            try:
                await _lock_family(connection, job)
            except JobNotRunning:
                stale = True
            else:
                stale = False
                await self._end(connection, job, JobStatus.FAILED, message)
                if job.parent_id is not None:
                    parent_done = await _settle_parent(connection, job.parent_id)
        await self._discard_files(job)
        if stale:
            return
        await self._after_failure(job.id)
        if parent_done is not None:
            await self._after_settled(parent_done)

    async def _after_failure(self, job_id: uuid.UUID) -> None:
        await callbacks.failed(await self._load(job_id))

    async def _after_settled(self, parent_id: uuid.UUID) -> None:
        parent = await self._load(parent_id)
        if parent.status == JobStatus.SUCCESSFUL:
            await callbacks.succeeded(parent)
        else:
            await callbacks.failed(parent)

    async def _discard_files(self, job: Job) -> None:
        """This attempt's files: another attempt's (the winner's) are never touched."""
        key = attempt_prefix(job.parent_id or job.id, job.id, job.attempts)
        await asyncio.to_thread(self.services.storage.delete_prefix, key)

    async def _discard_earlier_attempts(self, job: Job) -> None:
        """What attempts killed before this successful one left behind."""
        owner = job.parent_id or job.id
        for attempt in range(1, job.attempts):
            key = attempt_prefix(owner, job.id, attempt)
            await asyncio.to_thread(self.services.storage.delete_prefix, key)


def _process_of(process_id: str) -> IndicatorProcess:
    process = PROCESSES.get(process_id)
    if process is None:
        raise TerritoiresError(f"process {process_id!r} is not installed on this worker")
    return process


async def _status_of(connection: AsyncConnection, job_id: uuid.UUID) -> JobStatus | None:
    return await connection.scalar(select(Job.status).where(Job.id == job_id))


async def _lock_family(connection: AsyncConnection, job: Job) -> None:
    """Locks the job's parent (if any) then the job, which must be running. Every transaction
    that locks both takes the parent first (dismissal too), so none waits on another in a
    cycle."""
    if job.parent_id is not None:
        await connection.execute(select(Job.id).where(Job.id == job.parent_id).with_for_update())
    await lock_running(connection, job.id, job.attempts)


async def _settle_parent(connection: AsyncConnection, parent_id: uuid.UUID) -> uuid.UUID | None:
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
        outcome = await _process_of(parent.process_id).combined(
            connection, parent, [p.id for p in parts], [p.outputs for p in parts]
        )
        await publish(connection, outcome.items, outcome.statistics, outcome.features, parent_id)
        values |= {"status": JobStatus.SUCCESSFUL, "message": "done", "outputs": outcome.results}
    await connection.execute(update(Job).where(Job.id == parent_id).values(**values))
    return parent_id


class WorkerSettings:
    """Read by `arq territoires.compute.worker.WorkerSettings` and by `territoires worker`."""

    functions: ClassVar[list] = [run_job]
    cron_jobs: ClassVar[list] = [cron(requeue_stale_jobs, second=0, run_at_startup=True)]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = settings_or_exit().queue_name
    redis_settings = RedisSettings.from_dsn(
        settings_or_exit().redis_url or "redis://localhost:6379"
    )
    # Retries are ours (MAX_ATTEMPTS, counted in the jobs table): arq must never give up first.
    max_tries = 1000
    job_timeout = 6 * 3600
    max_jobs = get_settings().worker_max_jobs
    poll_delay = 0.02  # how soon a queued job starts; one cheap Redis read per poll
    # No result kept under a job's id: requeue_stale_jobs may queue the id again at any time
    # (arq refuses an id it holds a result for); the jobs table has the outcome.
    keep_result = 0
    allow_abort_jobs = True
    health_check_interval = 10
    job_completion_wait = 60  # on SIGTERM, let running jobs finish; the rest are taken again
