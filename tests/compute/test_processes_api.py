"""The Processes API's documents, errors, job list, dismissal and callbacks, against the schemas
of ../shared/schemas, with a real worker behind the queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from redis import Redis
from sqlalchemy import func, select, text

from territoires.shared.database import create_sync_database
from territoires.shared.models import Job
from territoires.shared.settings import Settings

from ..servers import serve
from ..stack import SUMMER_2023, written_by
from .test_vegetation import assert_valid, follow

OUTSIDE = {  # a square in the Bouches-du-Rhône, far from the scenes over La Rochelle
    "type": "Polygon",
    "coordinates": [[[5.3, 43.2], [5.4, 43.2], [5.4, 43.3], [5.3, 43.3], [5.3, 43.2]]],
}


@pytest.fixture
def client(platform_url: str, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as c:
        yield c


def counts(settings: Settings) -> tuple[int, set[bytes]]:
    """Jobs in the table and ids in the queue: what a refused request must leave as it was."""
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        jobs = connection.scalar(select(func.count()).select_from(Job))
    engine.dispose()
    queue = Redis.from_url(settings.redis_url or "")
    queued = set(queue.zrange(settings.queue_name, 0, -1))
    queue.close()
    return jobs or 0, queued


def assert_nothing_queued_since(settings: Settings, before: tuple[int, set[bytes]]) -> None:
    """No job row and no queue entry added; an earlier test's job the worker takes meanwhile
    leaves the queue, which is not the refused request's doing."""
    jobs, queued = counts(settings)
    assert jobs == before[0]
    assert queued <= before[1]


def test_conformance_and_landing_through_the_gateway(client: httpx.Client) -> None:
    landing = client.get("/").json()
    assert_valid(landing, "processes-1.0:landingPage")
    classes = client.get("/conformance").json()
    assert_valid(classes, "processes-1.0:confClasses")
    spec = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf"
    for name in (
        "core",
        "ogc-process-description",
        "json",
        "html",
        "oas30",
        "job-list",
        "callback",
        "dismiss",
    ):
        assert f"{spec}/{name}" in classes["conformsTo"]
    paths = client.get("/api").json()["paths"]
    assert {"/processes", "/processes/{processId}/execution", "/jobs/{jobId}/results"} <= set(paths)


def test_process_list_and_descriptions(client: httpx.Client) -> None:
    listing = client.get("/processes").json()
    assert_valid(listing, "processes-1.0:processList")
    for summary in listing["processes"]:
        described = client.get(f"/processes/{summary['id']}").json()
        assert_valid(described, "processes-1.0:process")
        assert "async-execute" in described["jobControlOptions"]
    page = client.get("/processes/vegetation", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html") and "NDVI" in page.text


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/processes/no-such/execution", {"inputs": {}}, 404, "no process"),
        ("/processes/vegetation/execution", {"inputs": {"territory": "17300"}}, 400, "datetime"),
        (
            "/processes/vegetation/execution",
            {"inputs": {"territory": 17300, "datetime": SUMMER_2023}},
            400,
            "INSEE",
        ),
        (
            "/processes/vegetation/execution",
            {"inputs": {"territory": "99999", "datetime": SUMMER_2023}},
            400,
            "unknown territory",
        ),
        (
            "/processes/vegetation/execution",
            {"inputs": {"territory": "17300", "datetime": "2023-08-31/2023-06-01"}},
            400,
            "empty",
        ),
        (
            "/processes/vegetation/execution",
            {"inputs": {"geometry": OUTSIDE, "datetime": SUMMER_2023}},
            400,
            "outside the data",
        ),
        (
            "/processes/vegetation/execution",
            {"inputs": {"territory": "17300", "datetime": "2010-01-01/2010-12-31"}},
            400,
            "no scene",
        ),
        (
            "/processes/vegetation/execution",
            {"inputs": {"territory": "17300", "datetime": SUMMER_2023, "colour": "red"}},
            400,
            "unknown input",
        ),
        (
            "/processes/vegetation/execution",
            {
                "inputs": {
                    "territory": "17300",
                    "datetime": SUMMER_2023,
                    "collection": "sentinel-1-grd",
                }
            },
            400,
            "collection",
        ),
        (
            "/processes/zonal-statistics/execution",
            {"inputs": {"territory": "17300", "datetime": SUMMER_2023, "collection": "nope"}},
            400,
            "no collection",
        ),
        ("/processes/vegetation/execution", {"inputs": "17300"}, 400, "inputs"),
    ],
)
def test_bad_input_is_refused_before_anything_is_queued(
    client: httpx.Client, platform_settings: Settings, path: str, body: Any, status: int, says: str
) -> None:
    before = counts(platform_settings)
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert_valid(response.json(), "processes-1.0:exception")
    assert says in response.json()["detail"]
    assert_nothing_queued_since(platform_settings, before)


def test_execution_needs_a_key_with_the_execute_scope(
    platform_url: str, read_only_key: str
) -> None:
    body = {"inputs": {"territory": "17300", "datetime": SUMMER_2023}}
    url = f"{platform_url}/processes/vegetation/execution"
    assert httpx.post(url, json=body).status_code == 401
    refused = httpx.post(url, json=body, headers={"X-API-Key": read_only_key})
    assert refused.status_code == 403
    assert_valid(refused.json(), "processes-1.0:exception")


def test_unknown_job_and_results_not_ready(client: httpx.Client) -> None:
    missing = client.get("/jobs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/no-such-job")
    assert client.get("/jobs/not-a-uuid").status_code == 404


def test_small_request_runs_synchronously(client: httpx.Client, worker: Any) -> None:
    """Zonal statistics of a Sentinel-2 band over La Rochelle: answered with the results."""
    response = client.post(
        "/processes/zonal-statistics/execution",
        json={
            "inputs": {
                "territory": "17300",
                "datetime": SUMMER_2023,
                "collection": "sentinel-2-l2a",
                "asset": "SCL",
            }
        },
    )
    assert response.status_code == 200, response.text
    results = response.json()
    assert_valid(results, "processes-1.0:results")
    figures = results["figures"]["value"]["17300"]
    assert figures["count"] > 1000 and figures["min"] >= 1 and figures["max"] <= 11
    assert "classes" not in figures
    rows = client.get(results["statistics"]["href"]).json()["features"]
    assert {r["properties"]["indicator"] for r in rows} == {"sentinel-2-l2a:SCL"}


def test_job_list_filters_and_pages(client: httpx.Client, worker: Any) -> None:
    body = {
        "inputs": {
            "territory": "17300",
            "datetime": SUMMER_2023,
            "collection": "sentinel-2-l2a",
            "asset": "B04",
        }
    }
    started = time.time()
    ids = []
    for _ in range(3):
        accepted = client.post(
            "/processes/zonal-statistics/execution",
            json=body,
            headers={"Prefer": "respond-async"},
        )
        assert accepted.status_code == 201
        assert accepted.headers["Preference-Applied"] == "respond-async"
        ids.append(accepted.json()["jobID"])
    for job_id in ids:
        assert follow(client, f"/jobs/{job_id}")[-1]["status"] == "successful"

    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 1))
    params = {
        "processID": "zonal-statistics",
        "status": "successful",
        "limit": 2,
        "datetime": f"{since}/2100-01-01",
    }
    first = client.get("/jobs", params=params).json()
    assert_valid(first, "processes-1.0:jobList")
    assert len(first["jobs"]) == 2
    assert all(j["processID"] == "zonal-statistics" for j in first["jobs"])
    following = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = client.get(following).json()
    assert_valid(second, "processes-1.0:jobList")
    listed = {j["jobID"] for j in first["jobs"] + second["jobs"]}
    assert set(ids) <= listed
    assert client.get("/jobs", params={"status": "sleeping"}).status_code == 400
    assert (
        client.get(
            "/jobs",
            params={
                "processID": "vegetation",
                "status": "accepted",
                "datetime": "2000-01-01/2000-01-02",
            },
        ).json()["jobs"]
        == []
    )
    page = client.get("/jobs", params={"f": "html"})
    assert page.headers["content-type"].startswith("text/html")


def test_dismissing_a_large_job_stops_its_parts_and_removes_outputs(
    client: httpx.Client, platform_settings: Settings, worker: Any
) -> None:
    """Vegetation over the whole département: 19 sub-jobs; dismissed while they run."""
    accepted = client.post(
        "/processes/vegetation/execution",
        json={"inputs": {"territory": "17", "datetime": SUMMER_2023}},
    )
    assert accepted.status_code == 201  # many communes: asynchronous whatever was preferred
    job_url = accepted.headers["Location"]
    deadline = time.monotonic() + 60
    while "split into 19" not in client.get(job_url).json().get("message", ""):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    dismissed = client.delete(job_url)
    assert dismissed.status_code == 200, dismissed.text
    assert_valid(dismissed.json(), "processes-1.0:statusInfo")
    assert dismissed.json()["status"] == "dismissed"
    job_id = dismissed.json()["jobID"]
    time.sleep(2)  # parts already running notice at their next progress report
    engine = create_sync_database(platform_settings)
    with engine.connect() as connection:
        statuses = connection.execute(
            text("SELECT status::text, count(*) FROM jobs WHERE parent_id = :id GROUP BY 1"),
            {"id": job_id},
        ).all()
    engine.dispose()
    assert dict(statuses) == {"dismissed": 19}
    assert written_by(platform_settings, job_id) == (0, 0)
    assert client.get(f"{job_url}/results").status_code == 404
    assert client.delete(job_url).json()["status"] == "dismissed"  # dismissing again is harmless


def test_callbacks_reach_the_subscriber(client: httpx.Client, worker: Any) -> None:
    received: dict[str, list[Any]] = {"progress": [], "success": [], "failure": []}
    arrived = threading.Event()
    subscriber = FastAPI()

    @subscriber.post("/{kind}")
    async def hook(kind: str, request: Request) -> dict[str, str]:
        received[kind].append(await request.json())
        if kind in ("success", "failure"):
            arrived.set()
        return {"ok": "yes"}

    with serve(subscriber) as hooks:
        accepted = client.post(
            "/processes/zonal-statistics/execution",
            headers={"Prefer": "respond-async"},
            json={
                "inputs": {
                    "territory": "17300",
                    "datetime": SUMMER_2023,
                    "collection": "sentinel-2-l2a",
                    "asset": "B08",
                },
                "subscriber": {
                    "successUri": f"{hooks}/success",
                    "inProgressUri": f"{hooks}/progress",
                    "failedUri": f"{hooks}/failure",
                },
            },
        )
        assert accepted.status_code == 201
        assert arrived.wait(60)
    assert received["failure"] == []
    assert_valid(received["progress"][0], "processes-1.0:statusInfo")
    assert received["progress"][0]["status"] == "running"
    assert_valid(received["success"][0], "processes-1.0:results")
    assert received["success"][0] == client.get(f"/jobs/{accepted.json()['jobID']}/results").json()
