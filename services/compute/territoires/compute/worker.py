"""The arq worker (`territoires worker`): takes job ids off the Redis queue and runs their process.

The jobs table is the source of truth; the queue only carries ids, so a job outlives a worker.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import structlog
from arq.connections import RedisSettings
from sqlalchemy import update

from territoires.compute.processes import PROCESSES
from territoires.shared.database import create_async_database, session_factory
from territoires.shared.logs import configure_logging
from territoires.shared.models import Job, JobStatus
from territoires.shared.settings import get_settings

log = structlog.get_logger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings = get_settings()
    configure_logging(settings)
    ctx["engine"] = create_async_database(settings)
    ctx["sessions"] = session_factory(ctx["engine"])
    log.info("worker started", queue=settings.queue_name, processes=sorted(PROCESSES))


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["engine"].dispose()


async def _set_status(ctx: dict[str, Any], job_id: uuid.UUID, **values: Any) -> None:
    async with ctx["sessions"]() as session, session.begin():
        await session.execute(
            update(Job).where(Job.id == job_id).values(updated_at=datetime.now(UTC), **values)
        )


async def run_job(ctx: dict[str, Any], job_id: str) -> str:
    """Runs one job to a final state; an exception inside the process ends it `failed`."""
    identifier = uuid.UUID(job_id)
    async with ctx["sessions"]() as session:
        job = await session.get(Job, identifier)
    if job is None or job.status in (JobStatus.DISMISSED, JobStatus.SUCCESSFUL):
        return "skipped"
    await _set_status(
        ctx,
        identifier,
        status=JobStatus.RUNNING,
        started_at=datetime.now(UTC),
        attempts=Job.attempts + 1,
    )
    runner = PROCESSES.get(job.process_id)
    if runner is None:
        await _set_status(
            ctx,
            identifier,
            status=JobStatus.FAILED,
            finished_at=datetime.now(UTC),
            message=f"process {job.process_id!r} is not installed on this worker",
        )
        return JobStatus.FAILED

    async def report(progress: float) -> None:
        await _set_status(ctx, identifier, progress=max(0.0, min(100.0, progress)))

    try:
        outputs = await runner(job.inputs, report)
    except Exception as error:
        log.exception("job failed", job_id=job_id, process=job.process_id)
        await _set_status(
            ctx,
            identifier,
            status=JobStatus.FAILED,
            finished_at=datetime.now(UTC),
            message=str(error) or type(error).__name__,
        )
        return JobStatus.FAILED
    await _set_status(
        ctx,
        identifier,
        status=JobStatus.SUCCESSFUL,
        progress=100.0,
        outputs=outputs,
        finished_at=datetime.now(UTC),
    )
    return JobStatus.SUCCESSFUL


class WorkerSettings:
    """Read by `arq territoires.compute.worker.WorkerSettings` and by `territoires worker`."""

    functions: ClassVar[list] = [run_job]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = get_settings().queue_name
    redis_settings = RedisSettings.from_dsn(get_settings().redis_url or "redis://localhost:6379")
    max_tries = 3
    allow_abort_jobs = True
    health_check_interval = 10
    job_completion_wait = 60  # on SIGTERM, let running jobs finish; arq retries the rest
