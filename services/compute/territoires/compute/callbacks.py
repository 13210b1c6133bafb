"""Callbacks to a job's subscriber (OGC API Processes, conformance class callback).

The worker POSTs the status document when a job starts running, the results document when it
succeeds and an exception document when it fails. A subscriber that cannot be reached costs a
log line, never the job.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog

from territoires.compute.documents import dump, job_url, status_info
from territoires.shared.models import Job

TIMEOUT_S = 5.0

log = structlog.get_logger(__name__)


async def _post(uri: str | None, document: dict[str, Any], job: Job) -> None:
    if not uri:
        return
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            response = await client.post(uri, json=document)
        if response.status_code >= 400:
            log.warning(
                "callback refused", job_id=str(job.id), uri=uri, status=response.status_code
            )
    except httpx.HTTPError as error:
        log.warning("callback failed", job_id=str(job.id), uri=uri, error=str(error))


def _uri(job: Job, name: str) -> str | None:
    return (job.subscriber or {}).get(name)


async def in_progress(job: Job) -> None:
    await _post(_uri(job, "inProgressUri"), dump(status_info(job, job.base_url or "")), job)


async def succeeded(job: Job) -> None:
    await _post(_uri(job, "successUri"), job.outputs or {}, job)


async def failed(job: Job) -> None:
    problem = {
        "type": "about:blank",
        "title": "Job failed",
        "detail": job.message or "the job failed",
        "instance": job_url(job.base_url or "", job.id),
    }
    await _post(_uri(job, "failedUri"), problem, job)
