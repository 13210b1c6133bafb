"""The arq worker (`territoires worker`): takes job ids off the Redis queue and runs them.

This module is the arq wiring only: its settings, `run_job` (the lease held while a job runs,
and an outage turned into a retry), the stale-job sweep and the scheduled harvest. A job's state
transitions (start, progress, split, finish, fail, settle) are `lifecycle`'s, the queue and the
lease `queue`'s, the science the process's `run`. The numba kernels the processes declare load
and warm at startup, before any job runs (`kernels.lazy`); the API never imports this module.

The jobs table is the source of truth; the queue only carries ids, so a job outlives a worker.
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
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from territoires.compute.lifecycle import JobLifecycle, installed
from territoires.compute.processes import PROCESSES, install
from territoires.compute.processes.base import IndicatorProcess, Outcome, RunningJob, Services
from territoires.compute.queue import enqueue, hold_lease, release_dead_lease
from territoires.compute.results import JobNotRunning
from territoires.shared.assets import AssetGuard
from territoires.shared.database import create_async_database, create_sync_database
from territoires.shared.errors import TerritoiresError
from territoires.shared.logs import configure_logging
from territoires.shared.models import Job, JobStatus
from territoires.shared.plugins import load_plugins
from territoires.shared.settings import Settings, get_settings, settings_or_exit
from territoires.shared.storage import StorageUnreachableError, storage_from_settings

OUTAGE_RETRY_S = 5.0
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
    lease = asyncio.create_task(hold_lease(ctx["redis"], ctx["job_id"]))
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
        await release_dead_lease(ctx["redis"], job_id)
        await enqueue(ctx["redis"], services.settings, job_id)
    return len(stale)


def _failure_message(error: Exception) -> str:
    """What a user reads: our own errors as they are; any other by its type only, since a
    library's text may quote server paths and URLs (GDAL's does). The log has the detail."""
    if isinstance(error, TerritoiresError) and str(error):
        return str(error)
    return f"internal error ({type(error).__name__}); it has been logged"


class JobRunner:
    """One job's run: start, split or execute the process's science, then finish, or fail
    (each transition in `lifecycle`)."""

    def __init__(self, services: Services, queue: ArqRedis) -> None:
        self.services = services
        self.jobs = JobLifecycle(services, queue)

    async def run(self, job_id: uuid.UUID) -> str:
        job = await self.start(job_id)
        if job is None:
            return "skipped"
        return await self.attempt(job)

    async def start(self, job_id: uuid.UUID) -> Job | None:
        """Marks the job running (one more attempt); None when there is nothing to run."""
        return await self.jobs.start(job_id)

    async def attempt(self, job: Job) -> str:
        """One attempt of a started job, to its end or until it finds it no longer holds it."""
        try:
            process = installed(job.process_id)
            if job.parent_id is None:
                parts = await process.split(job.inputs, self.services.engine)
                if len(parts) > 1:
                    await self.jobs.split(job, parts)
                    return "waiting"
            await self.jobs.finish(job, await self._execute(job, process))
        except JobNotRunning:
            await self.jobs.discard_files(job)
            return "stopped"
        except asyncio.CancelledError:
            if await self.jobs.status(job.id) == JobStatus.DISMISSED:
                await self.jobs.discard_files(job)
            raise
        except Exception as error:
            if outage(error):
                raise  # not the job's failure: run_job has it run again
            log.exception("job failed", job_id=str(job.id), process=job.process_id)
            await self.jobs.fail(job, _failure_message(error))
            return JobStatus.FAILED
        return JobStatus.SUCCESSFUL

    async def _execute(self, job: Job, process: IndicatorProcess) -> Outcome:
        """The process's science, in the job's own thread and scratch folder."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"job-{job.id}")
        try:
            with tempfile.TemporaryDirectory(
                prefix=f"territoires-{job.id}-", ignore_cleanup_errors=True
            ) as scratch:
                running = RunningJob(
                    id=job.id,
                    owner=job.parent_id or job.id,
                    attempt=job.attempts,
                    inputs=job.inputs,
                    base_url=job.base_url or "",
                    services=self.services,
                    executor=executor,
                    scratch=Path(scratch),
                    progress=self.jobs.progress(job),
                )
                return await process.run(running)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)


async def scheduled_harvest(ctx: dict[str, Any]) -> int:
    """Harvests the configured sources (TERRITOIRES_HARVEST_SOURCES), one summary logged per
    source; arq runs it on one worker at a time. Returns the items catalogued or rewritten."""
    from territoires.catalog.harvest import harvest_all, load_sources

    settings: Settings = ctx["services"].settings
    if settings.harvest_sources is None:
        return 0
    sources = load_sources(settings.harvest_sources)
    engine = create_sync_database(settings)
    try:
        reports = await asyncio.to_thread(
            harvest_all,
            engine,
            sources,
            AssetGuard.from_settings(settings),
            settings.harvest_timeout_s,
        )
    finally:
        engine.dispose()
    for report in reports:
        log.info(
            "harvested" if report.error is None else "harvest failed",
            url=report.source.url,
            collection=report.source.collection,
            found=report.found,
            new=report.new,
            updated=report.updated,
            unchanged=report.unchanged,
            refused=dict(report.refused),
            error=report.error,
        )
    return sum(report.new + report.updated for report in reports)


class WorkerSettings:
    """Read by `arq territoires.compute.worker.WorkerSettings` and by `territoires worker`."""

    functions: ClassVar[list] = [run_job]
    cron_jobs: ClassVar[list] = [
        cron(requeue_stale_jobs, second=0, run_at_startup=True),
        cron(
            scheduled_harvest,
            hour=set(settings_or_exit().harvest_hours),
            minute=0,
            second=0,
            timeout=3600,
        ),
    ]
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
