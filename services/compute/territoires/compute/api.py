"""OGC API Processes 1.0 routes: process list and descriptions, execution, jobs, results.

FastAPI routes over pygeoapi's process metadata rather than pygeoapi's own API object: its
Processes API is synchronous (it would hold the event loop on database calls), filters jobs
only by status, and its managers run jobs inside the API process. Here every route is async,
the job list takes the standard filters, and execution goes through the arq queue.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import JSONResponse, Response

from territoires.compute.callbacks import check_subscriber
from territoires.compute.documents import (
    CONFORMANCE,
    HTML,
    JSON,
    REL,
    ConformanceDeclaration,
    ExecuteRequest,
    JobList,
    Link,
    ProcessList,
    ProcessSummary,
    StatusInfo,
    dump,
    job_url,
    status_info,
)
from territoires.compute.errors import (
    JobFailedError,
    NoSuchJobError,
    NoSuchProcessError,
    ResultNotReadyError,
)
from territoires.compute.inputs import interval
from territoires.compute.lifecycle import Submission
from territoires.compute.manager import JobFilters, JobManager
from territoires.compute.processes import PROCESSES
from territoires.compute.processes.base import IndicatorProcess
from territoires.shared.apikeys import Scope, presented_key, require_scope
from territoires.shared.errors import BadRequestError, UnauthorizedError
from territoires.shared.models import ApiKey, JobStatus

SYNC_MAX_PIXELS = 4_000_000
"""Above this many pixels to read, a job runs asynchronously whatever the client prefers."""
SYNC_TIMEOUT_S = 60.0
"""A synchronous execution that takes longer is answered as an asynchronous one (201 + job)."""
MAX_LIMIT = 1000
IDEMPOTENCY_KEY_LENGTH = 255
TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))

Format = Annotated[str | None, Query(alias="f", description="json or html")]
Caller = Annotated[ApiKey | None, Depends(presented_key)]
Executor = Annotated[ApiKey, Depends(require_scope(Scope.EXECUTE))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Any unique string (a UUID): a request retried with the same key answers "
        "the job the first one made instead of making another.",
    ),
]


def wants_html(request: Request, f: str | None) -> bool:
    """`f=html`, or a browser's Accept (text/html without application/json)."""
    if f is not None:
        if f not in ("json", "html"):
            raise BadRequestError(f"f must be json or html, got {f!r}")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def html(request: Request, template: str, document: dict[str, Any], **extra: Any) -> Response:
    return TEMPLATES.TemplateResponse(
        request, template, {"document": document, "base": base_url(request), **extra}
    )


def process_of(process_id: str) -> IndicatorProcess:
    process = PROCESSES.get(process_id)
    if process is None:
        raise NoSuchProcessError(
            f"no process {process_id!r}; the processes are {', '.join(sorted(PROCESSES))}"
        )
    return process


def summary(process: IndicatorProcess, base: str, full: bool) -> ProcessSummary:
    url = f"{base}/processes/{process.id}"
    metadata = {k: v for k, v in process.metadata.items() if k != "links"}
    if not full:
        metadata = {k: v for k, v in metadata.items() if k not in ("inputs", "outputs", "example")}
    links = [
        Link(href=url, rel="self", type=JSON, title="process description"),
        Link(href=f"{url}?f=html", rel="alternate", type=HTML, title="as HTML"),
        Link(href=f"{url}/execution", rel=f"{REL}/execute", type=JSON, title="execute"),
        Link(href=f"{base}/jobs?processID={process.id}", rel=f"{REL}/job-list", type=JSON),
    ]
    return ProcessSummary.model_validate({**metadata, "links": links})


def submission(
    owner: ApiKey, process_id: str, body: ExecuteRequest, idempotency_key: str | None
) -> Submission:
    if idempotency_key is not None and not (
        0 < len(idempotency_key) <= IDEMPOTENCY_KEY_LENGTH and idempotency_key.isprintable()
    ):
        raise BadRequestError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LENGTH} printable characters"
        )
    request = {"process": process_id, **body.model_dump(mode="json", by_alias=True)}
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    return Submission(owner, idempotency_key, digest)


def processes_router(manager: JobManager) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/conformance",
        response_model=ConformanceDeclaration,
        summary="Conformance classes of the Processes API (the gateway serves the union)",
    )
    async def conformance() -> dict[str, Any]:
        return dump(ConformanceDeclaration(conforms_to=CONFORMANCE))

    @router.get(
        "/processes",
        response_model=ProcessList,
        response_model_exclude_none=True,
        summary="The processes this platform runs",
        tags=["Processes"],
    )
    async def list_processes(request: Request, f: Format = None) -> Any:
        base = base_url(request)
        document = dump(
            ProcessList(
                processes=[summary(p, base, full=False) for p in PROCESSES.values()],
                links=[
                    Link(href=f"{base}/processes", rel="self", type=JSON, title="this document"),
                    Link(href=f"{base}/processes?f=html", rel="alternate", type=HTML),
                ],
            )
        )
        if wants_html(request, f):
            return html(request, "processes.html", document)
        return document

    @router.get(
        "/processes/{processId}",
        response_model=ProcessSummary,
        response_model_exclude_none=True,
        summary="A process description: inputs, outputs, execution modes",
        tags=["Processes"],
    )
    async def describe_process(processId: str, request: Request, f: Format = None) -> Any:  # noqa: N803
        document = dump(summary(process_of(processId), base_url(request), full=True))
        if wants_html(request, f):
            return html(request, "process.html", document)
        return document

    @router.post(
        "/processes/{processId}/execution",
        summary="Execute a process (needs an API key with the execute scope)",
        description="Small requests run synchronously (200, the results document); "
        "`Prefer: respond-async`, large areas and requests over many communes run "
        "asynchronously (201, the job's status, its URL in Location). The job belongs to the "
        "key. A key has a quota of jobs queued or running (429 past it) and a full queue "
        "answers 503, both with Retry-After.",
        responses={
            200: {"description": "results document"},
            201: {"description": "job accepted", "model": StatusInfo},
            422: {"description": "Idempotency-Key reused for another request"},
            429: {"description": "too many jobs of this key queued or running"},
            503: {"description": "the job queue is full"},
        },
        tags=["Processes"],
    )
    async def execute(
        processId: str,  # noqa: N803
        body: ExecuteRequest,
        request: Request,
        owner: Executor,
        idempotency_key: IdempotencyKey = None,
        prefer: Annotated[str | None, Header()] = None,
    ) -> Response:
        process = process_of(processId)
        unknown = sorted(set(body.outputs or {}) - set(process.metadata["outputs"]))
        if unknown:
            raise BadRequestError(f"unknown output(s) requested: {', '.join(unknown)}")
        submitted = submission(owner, process.id, body, idempotency_key)
        check_subscriber(body.subscriber, manager.services.settings)
        plan = await manager.plan(process, body.inputs)
        base = base_url(request)
        job = await manager.jobs.submit(process, plan, body.subscriber, base, submitted)
        asked_async = "respond-async" in (prefer or "")
        if asked_async or plan.pixels > SYNC_MAX_PIXELS or plan.parts > 1:
            headers = {"Location": job_url(base, job.id)}
            if asked_async:
                headers["Preference-Applied"] = "respond-async"
            return JSONResponse(dump(status_info(job, base)), status_code=201, headers=headers)
        job = await manager.wait(job.id, SYNC_TIMEOUT_S)
        if job.status == JobStatus.SUCCESSFUL:
            return JSONResponse(
                job.outputs, headers={"Link": f'<{job_url(base, job.id)}>; rel="monitor"'}
            )
        if job.status == JobStatus.FAILED:
            raise JobFailedError(f"job {job.id} failed: {job.message}")
        return JSONResponse(
            dump(status_info(job, base)),
            status_code=201,
            headers={"Location": job_url(base, job.id)},
        )

    @router.get(
        "/jobs",
        response_model=JobList,
        response_model_exclude_none=True,
        summary="The caller's jobs (every job for an admin key, none without a key), newest "
        "first, filtered by process, status and creation time",
        tags=["Jobs"],
    )
    async def list_jobs(
        request: Request,
        caller: Caller,
        processID: Annotated[list[str] | None, Query()] = None,  # noqa: N803
        status: Annotated[list[str] | None, Query()] = None,
        datetime: Annotated[str | None, Query(description="creation interval start/end")] = None,
        type: Annotated[list[str] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
        offset: Annotated[int, Query(ge=0)] = 0,
        f: Format = None,
    ) -> Any:
        if type and any(t != "process" for t in _split(type)):
            raise BadRequestError("type must be 'process' (the only kind of job here)")
        statuses = _split(status)
        known = {s.value for s in JobStatus}
        wrong = [s for s in statuses if s not in known]
        if wrong:
            raise BadRequestError(
                f"status {', '.join(wrong)} unknown; one of {', '.join(sorted(known))}"
            )
        filters = JobFilters(
            caller=caller,
            process_ids=_split(processID),
            statuses=[JobStatus(s) for s in statuses],
            created=interval({"datetime": datetime}) if datetime else None,
            limit=limit,
            offset=offset,
        )
        jobs, more = await manager.list(filters)
        base = base_url(request)
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "f")]
        page = f"{base}/jobs"
        links = [
            Link(href=_with(page, params, offset), rel="self", type=JSON),
            Link(href=_with(page, [*params, ("f", "html")], offset), rel="alternate", type=HTML),
        ]
        if more:
            links.append(Link(href=_with(page, params, offset + limit), rel="next", type=JSON))
        if offset:
            links.append(
                Link(href=_with(page, params, max(0, offset - limit)), rel="prev", type=JSON)
            )
        document = dump(JobList(jobs=[status_info(job, base) for job in jobs], links=links))
        if wants_html(request, f):
            return html(request, "jobs.html", document)
        return document

    @router.get(
        "/jobs/{jobId}",
        response_model=StatusInfo,
        response_model_exclude_none=True,
        summary="A job's status and progress (the key that submitted it, or an admin key)",
        tags=["Jobs"],
    )
    async def get_job(jobId: str, request: Request, caller: Caller, f: Format = None) -> Any:  # noqa: N803
        document = dump(status_info(await manager.get(jobId, caller), base_url(request)))
        if wants_html(request, f):
            return html(request, "job.html", document)
        return document

    @router.delete(
        "/jobs/{jobId}",
        response_model=StatusInfo,
        response_model_exclude_none=True,
        summary="Dismiss a job: stop it in any state and remove its outputs (the key that "
        "submitted it, or an admin key)",
        tags=["Jobs"],
    )
    async def dismiss_job(jobId: str, request: Request, caller: Caller) -> Any:  # noqa: N803
        if caller is None:
            raise UnauthorizedError("dismissing a job needs the API key that submitted it")
        return dump(status_info(await manager.dismiss(jobId, caller), base_url(request)))

    @router.get(
        "/jobs/{jobId}/results",
        summary="A successful job's results: COGs, STAC items, tiles, statistics, figures",
        tags=["Jobs"],
    )
    async def job_results(
        jobId: str,  # noqa: N803
        request: Request,
        caller: Caller,
        f: Format = None,
    ) -> Any:
        job = await manager.get(jobId, caller)
        if job.status == JobStatus.FAILED:
            raise JobFailedError(f"job {jobId} failed: {job.message}")
        if job.status == JobStatus.DISMISSED:
            raise NoSuchJobError(f"job {jobId} was dismissed and its results removed")
        if job.status != JobStatus.SUCCESSFUL:
            raise ResultNotReadyError(
                f"job {jobId} is {job.status.value} ({round(job.progress)} %)"
            )
        if wants_html(request, f):
            return html(request, "results.html", job.outputs or {}, job_id=jobId)
        return job.outputs or {}

    return router


def _split(values: list[str] | None) -> list[str]:
    """Query values given repeated (a=1&a=2) or comma-separated (a=1,2)."""
    return [part for value in values or [] for part in value.split(",") if part]


def _with(url: str, params: list[tuple[str, str]], offset: int) -> str:
    query = urlencode([*params, *([("offset", str(offset))] if offset else [])])
    return f"{url}?{query}" if query else url
