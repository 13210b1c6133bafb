"""The arq queue side of jobs: Redis carries only job ids, the jobs table everything else.

A queued id is taken by one worker at a time; the one running it renews a short lease (arq's
in-progress key) so that when its worker dies the lease lapses within LEASE_S and another worker
takes the job again. Nothing here reads or writes the jobs table (`lifecycle` does).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import structlog
from arq import ArqRedis
from arq.constants import in_progress_key_prefix

from territoires.shared.settings import Settings

LEASE_S = 10.0

log = structlog.get_logger(__name__)


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


async def depth(queue: ArqRedis, settings: Settings) -> int:
    """How many job ids wait in the queue (deferred ones included)."""
    return await queue.zcard(settings.queue_name)


async def hold_lease(queue: ArqRedis, arq_job_id: str) -> None:
    """Keeps arq's in-progress key of the running job alive for LEASE_S at a time."""
    key = in_progress_key_prefix + arq_job_id
    while True:
        try:
            await queue.pexpire(key, int(LEASE_S * 1000))
        except Exception as error:  # a Redis hiccup must not stop the job
            log.warning("lease renewal failed", job=arq_job_id, error=str(error))
        await asyncio.sleep(LEASE_S / 3)


async def release_dead_lease(queue: ArqRedis, job_id: uuid.UUID) -> None:
    """arq marks a job in progress for its whole timeout (hours) before run_job shortens it to
    LEASE_S; a worker killed in between leaves the job unclaimable for that long. A lease longer
    than LEASE_S is no live run's (they renew it at LEASE_S), so it is cut back to LEASE_S."""
    key = in_progress_key_prefix + str(job_id)
    if await queue.pttl(key) > LEASE_S * 1000:
        await queue.pexpire(key, int(LEASE_S * 1000))
