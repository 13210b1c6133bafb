"""`vegetation` end to end through the gateway, as a partner runs it with OWSLib: the job's
progress, its COGs, its STAC items, its tiles and its statistics."""

from __future__ import annotations

import time
from typing import Any

import httpx
import numpy as np
import rasterio
from owslib.ogcapi.processes import Processes
from rio_cogeo.cogeo import cog_validate
from validate import format_error, validate_document

from ..stack import SUMMER_2023, owslib_client


def assert_valid(document: Any, schema: str) -> None:
    errors = validate_document(document, schema)
    assert not errors, [format_error(e) for e in errors]


def follow(client: httpx.Client, job_url: str, timeout_s: float = 120) -> list[dict[str, Any]]:
    """Status documents of a job, polled until it ends."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(job_url).json()
        assert_valid(status, "processes-1.0:statusInfo")
        seen.append(status)
        if status["status"] in ("successful", "failed", "dismissed"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"the job did not end: {seen[-1]}")


def executed(
    client: httpx.Client, process_id: str, inputs: dict[str, Any], timeout_s: float = 300
) -> tuple[str, dict[str, Any]]:
    """A job submitted asynchronously and run to success: its id and its results document."""
    accepted = client.post(
        f"/processes/{process_id}/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    ended = follow(client, accepted.headers["Location"], timeout_s)[-1]
    assert ended["status"] == "successful", ended
    results = client.get(f"{accepted.headers['Location']}/results")
    assert results.status_code == 200, results.text
    return accepted.json()["jobID"], results.json()


def test_owslib_lists_describes_and_runs_vegetation(
    platform_url: str, api_key: str, worker: Any
) -> None:
    processes = owslib_client(Processes, platform_url, {"X-API-Key": api_key})
    listed = processes.processes()
    assert {"vegetation", "zonal-statistics"} <= {p["id"] for p in listed}
    description = processes.process("vegetation")
    assert_valid(description, "processes-1.0:process")
    assert set(description["inputs"]) >= {"territory", "geometry", "datetime", "collection"}

    accepted = processes.execute(
        "vegetation", {"territory": "17300", "datetime": SUMMER_2023}, async_=True
    )
    assert_valid(accepted, "processes-1.0:statusInfo")
    assert accepted["status"] == "accepted"
    location = processes.response_headers["Location"]
    assert location == f"{platform_url}/jobs/{accepted['jobID']}"

    with httpx.Client(timeout=30, headers={"X-API-Key": api_key}) as client:
        seen = follow(client, location)
        assert seen[-1]["status"] == "successful", seen[-1]
        progress = [s["progress"] for s in seen if s["status"] == "running"]
        assert progress and progress == sorted(progress) and progress[0] < 100
        results = client.get(f"{location}/results").json()
        assert_valid(results, "processes-1.0:results")
        for page, says in ((location, "successful"), (f"{location}/results", "ndvi-tiles")):
            answer = client.get(page, params={"f": "html"})
            assert answer.status_code == 200 and says in answer.text

        # The COGs: valid, with overviews, nodata and tags naming the process and inputs.
        for name in ("ndvi", "vegetation-cover"):
            href = results[name]["href"]
            valid, errors, _ = cog_validate(href, quiet=True)
            assert valid, errors
            with rasterio.open(href) as cog:
                assert cog.nodata == -9999.0 and cog.overviews(1)
                tags = cog.tags()
                assert tags["PROCESS"] == "vegetation" and "17300" in tags["INPUTS"]
                values = cog.read(1, masked=True)
                assert values.count() > 1000
                low, high = (-1, 1) if name == "ndvi" else (0, 1)
                assert low <= values.min() and values.max() <= high

        # Their STAC items, found by the catalog's search, with a TileJSON link that works.
        item_id = results["ndvi-item"]["href"].rsplit("/", 1)[-1]
        found = client.get(
            f"{platform_url}/stac/search", params={"collections": "ndvi", "ids": item_id}
        ).json()
        assert [f["id"] for f in found["features"]] == [item_id]
        item = found["features"][0]
        assert_valid(item, "stac-1.0:item")
        tilejson_link = next(link for link in item["links"] if link["rel"] == "tilejson")
        assert tilejson_link["href"] == results["ndvi-tiles"]["href"]
        tilejson = client.get(tilejson_link["href"])
        assert tilejson.status_code == 200, tilejson.text
        tile_url = tilejson.json()["tiles"][0]
        z = tilejson.json()["maxzoom"]
        x, y = _tile_of(item["bbox"], z)
        tile = client.get(tile_url.format(z=z, x=x, y=y))
        assert tile.status_code == 200 and tile.content.startswith(b"\x89PNG")

        # The statistics rows, served as features.
        statistics = client.get(results["statistics"]["href"]).json()
        assert_valid(statistics, "features-1.0:featureCollectionGeoJSON")
        rows = statistics["features"]
        assert [r["properties"]["territory_code"] for r in rows] == ["17300"]
        figures = rows[0]["properties"]["figures"]
        assert figures == results["figures"]["value"]["17300"]
        assert 0 < figures["vegetated_share"] < 1 and 0 < figures["valid_share"] <= 1
        assert figures["ndvi"]["count"] == figures["cover"]["count"] > 1000


def _tile_of(bbox: list[float], zoom: int) -> tuple[int, int]:
    """The Web Mercator tile holding the centre of a lon/lat bbox."""
    lon = (bbox[0] + bbox[2]) / 2
    lat = np.radians((bbox[1] + bbox[3]) / 2)
    n = 2**zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.log(np.tan(lat) + 1 / np.cos(lat)) / np.pi) / 2 * n)
    return x, y
