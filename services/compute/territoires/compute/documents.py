"""The OGC API Processes 1.0 documents, typed: what the API answers and the worker posts to
callbacks. Built from job rows and the public base URL, so every link is the client's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from territoires.shared.models import Job, JobStatus

SPEC = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf"
CONFORMANCE = [
    f"{SPEC}/{name}"
    for name in (
        "core",
        "ogc-process-description",
        "json",
        "html",
        "oas30",
        "job-list",
        "callback",
        "dismiss",
    )
]
REL = "http://www.opengis.net/def/rel/ogc/1.0"
JSON = "application/json"
HTML = "text/html"


class Document(BaseModel):
    """OGC documents name fields in camelCase (jobID); Python code uses snake_case."""

    model_config = ConfigDict(populate_by_name=True)


class Link(Document):
    href: str
    rel: str | None = None
    type: str | None = None
    title: str | None = None


class StatusInfo(Document):
    process_id: str = Field(alias="processID")
    type: Literal["process"] = "process"
    job_id: str = Field(alias="jobID")
    status: JobStatus
    message: str | None = None
    created: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    updated: datetime | None = None
    progress: int = Field(ge=0, le=100)
    links: list[Link] = Field(default_factory=list)


class JobList(Document):
    jobs: list[StatusInfo]
    links: list[Link]


class ProcessSummary(Document):
    """A process as listed; the description adds inputs and outputs (JSON Schemas, kept as
    the process declares them)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str
    version: str
    title: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    job_control_options: list[str] = Field(alias="jobControlOptions")
    output_transmission: list[str] = Field(alias="outputTransmission")
    links: list[Link] = Field(default_factory=list)


class ProcessList(Document):
    processes: list[ProcessSummary]
    links: list[Link]


class ConformanceDeclaration(Document):
    conforms_to: list[str] = Field(alias="conformsTo")


class Subscriber(Document):
    """Callback URLs; the worker POSTs to them (status when running, results on success, the
    problem on failure)."""

    success_uri: AnyHttpUrl | None = Field(default=None, alias="successUri")
    in_progress_uri: AnyHttpUrl | None = Field(default=None, alias="inProgressUri")
    failed_uri: AnyHttpUrl | None = Field(default=None, alias="failedUri")

    def uris(self) -> dict[str, str]:
        """The URLs given, by their OGC names (as stored with the job)."""
        return {name: str(uri) for name, uri in dump(self).items()}


class ExecuteRequest(Document):
    """The body of `POST /processes/{id}/execution`."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    response: Literal["raw", "document"] = "raw"
    subscriber: Subscriber | None = None


def job_url(base_url: str, job_id: object) -> str:
    return f"{base_url.rstrip('/')}/jobs/{job_id}"


def status_info(job: Job, base_url: str) -> StatusInfo:
    """A job's status document: links to itself, its results once successful, its parent."""
    url = job_url(base_url, job.id)
    links = [
        Link(href=url, rel="self", type=JSON, title="this document"),
        Link(href=f"{url}?f=html", rel="alternate", type=HTML, title="this document as HTML"),
    ]
    if job.status == JobStatus.SUCCESSFUL:
        links.append(Link(href=f"{url}/results", rel=f"{REL}/results", type=JSON, title="results"))
    if job.parent_id is not None:
        links.append(
            Link(href=job_url(base_url, job.parent_id), rel="up", type=JSON, title="parent job")
        )
    return StatusInfo(
        process_id=job.process_id,
        job_id=str(job.id),
        status=job.status,
        message=job.message,
        created=job.created_at,
        started=job.started_at,
        finished=job.finished_at,
        updated=job.updated_at,
        progress=round(job.progress),
        links=links,
    )


def dump(document: BaseModel) -> dict[str, Any]:
    return document.model_dump(mode="json", exclude_none=True, by_alias=True)
