"""The worker opens only what the asset guard lets through, and a job's message never tells
what is on the server: items catalogued with an ingest key (through the gateway) whose asset is
`/etc/shadow`, a GDAL virtual file system URL to the metadata service, a missing file under a
forbidden folder, a missing file and a non-raster under a trusted prefix all fail their
`zonal-statistics` job with one message, naming the scene and the asset only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .test_vegetation import follow


@pytest.fixture
def ingest(platform_url: str, read_only_key: str) -> Iterator[httpx.Client]:
    """A client holding a key with the ingest scope only."""
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": read_only_key}) as client:
        yield client


@pytest.fixture
def hrefs(scenes_dir: Path, tmp_path: Path) -> Iterator[list[str]]:
    """Outside every root (existing or not), then inside the trusted scenes folder but absent
    or not a raster."""
    (tmp_path / "forbidden").mkdir()
    notes = scenes_dir / f"notes-{uuid.uuid4().hex[:6]}.tif"
    notes.write_text("not a raster")
    yield [
        "/etc/shadow",
        "/vsicurl/http://169.254.169.254/latest",
        str(tmp_path / "forbidden" / "missing.tif"),
        f"file://{tmp_path}/forbidden/../forbidden/missing.tif",
        str(scenes_dir / "missing.tif"),
        str(notes),
    ]
    notes.unlink()


def catalogue(ingest: httpx.Client, hrefs: list[str]) -> str:
    """A collection of one item per href (each on a day of its own, over La Rochelle)."""
    model = ingest.get("/stac/collections/sentinel-2-l2a/items", params={"limit": 1}).json()
    scene = model["features"][0]
    collection = ingest.get("/stac/collections/sentinel-2-l2a").json()
    name = f"hostile-{uuid.uuid4().hex[:8]}"
    created = ingest.post(
        "/stac/collections", json=collection | {"id": name, "title": name, "links": []}
    )
    assert created.status_code in (200, 201), created.text
    for day, href in enumerate(hrefs, start=1):
        item: dict[str, Any] = {
            "type": "Feature",
            "stac_version": scene["stac_version"],
            "id": f"item-{day}",
            "collection": name,
            "geometry": scene["geometry"],
            "bbox": scene["bbox"],
            "properties": scene["properties"] | {"datetime": f"2019-01-{day:02d}T10:00:00Z"},
            "assets": {"data": {"href": href, "type": "image/tiff; application=geotiff"}},
            "links": [],
        }
        posted = ingest.post(f"/stac/collections/{name}/items", json=item)
        assert posted.status_code in (200, 201), posted.text
    return name


def test_jobs_on_hostile_hrefs_fail_alike_and_tell_nothing(
    platform_url: str,
    api_key: str,
    worker: Any,
    ingest: httpx.Client,
    hrefs: list[str],
) -> None:
    collection = catalogue(ingest, hrefs)
    messages = []
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}) as client:
        for day in range(1, len(hrefs) + 1):
            accepted = client.post(
                "/processes/zonal-statistics/execution",
                headers={"Prefer": "respond-async"},
                json={
                    "inputs": {
                        "territory": "17300",
                        "collection": collection,
                        "datetime": f"2019-01-{day:02d}/2019-01-{day:02d}T23:59:59Z",
                    }
                },
            )
            assert accepted.status_code == 201, accepted.text
            ended = follow(client, f"/jobs/{accepted.json()['jobID']}")[-1]
            assert ended["status"] == "failed"
            messages.append(ended["message"])
    expected = [f"scene item-{day} asset data cannot be read" for day in range(1, len(hrefs) + 1)]
    assert messages == expected
    for message in messages:
        for leak in ("/", "etc", "shadow", "vsi", "169.254", "forbidden", "No such", "recognized"):
            assert leak not in message


def test_tiles_read_the_same_items_through_the_same_guard(
    platform_url: str, ingest: httpx.Client, hrefs: list[str]
) -> None:
    """One setting (TERRITOIRES_ASSET_PREFIXES) for both: hrefs outside it are refused (403),
    unreadable ones inside it are gone (404), and no answer quotes a path or GDAL."""
    collection = catalogue(ingest, hrefs)
    for day, href in enumerate(hrefs, start=1):
        answer = httpx.get(
            f"{platform_url}/tiles/collections/{collection}/items/item-{day}/info",
            params={"assets": "data"},
        )
        inside = href.startswith(hrefs[-2].rsplit("/", 1)[0])
        assert answer.status_code == (404 if inside else 403), answer.text
        for leak in ("/etc", "169.254", "forbidden", "missing", "notes", "recognized"):
            assert leak not in answer.json()["detail"]
