"""Results that travel: a partner with only HTTP and its key downloads what its job made and the
scenes it came from, with GDAL's /vsicurl/ and Range requests; no document of the run shows a
path of the server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from rio_cogeo.cogeo import cog_validate

from territoires.shared.settings import Settings

from ..stack import SUMMER_2023
from .test_vegetation import follow

pytestmark = pytest.mark.skipif(shutil.which("gdalinfo") is None, reason="gdal-bin is needed")


def hrefs_of(document: Any) -> list[str]:
    """Every `href` in a JSON document."""
    if isinstance(document, dict):
        own = [document["href"]] if isinstance(document.get("href"), str) else []
        return own + [h for value in document.values() for h in hrefs_of(value)]
    if isinstance(document, list):
        return [h for value in document for h in hrefs_of(value)]
    return []


def gdalinfo(url: str) -> str:
    answer = subprocess.run(
        ["gdalinfo", f"/vsicurl/{url}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "PATH": "/usr/bin:/bin"},
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout


def test_a_partner_downloads_every_result_and_scene_over_http(
    platform_url: str, platform_settings: Settings, api_key: str, scenes_dir: Path, worker: Any
) -> None:
    seen: list[str] = []  # every body the run answered
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as http:
        accepted = http.post(
            "/processes/vegetation/execution",
            json={"inputs": {"territory": "17300", "datetime": SUMMER_2023}},
            headers={"Prefer": "respond-async"},
        )
        seen.append(accepted.text)
        statuses = follow(http, accepted.headers["Location"])
        seen.extend(str(status) for status in statuses)
        results = http.get(f"{accepted.headers['Location']}/results")
        seen.append(results.text)
        documents = [results.json()]
        for name in ("ndvi", "vegetation-cover"):
            item = http.get(results.json()[f"{name}-item"]["href"])
            assert item.status_code == 200
            seen.append(item.text)
            documents.append(item.json())
            assert item.json()["properties"]["start_datetime"] >= "2023-06-01"
            assert item.json()["properties"]["territoires:process_version"]
        scenes = http.get(
            "/stac/search", params={"collections": "sentinel-2-l2a,landsat-c2-l2", "limit": 3}
        )
        seen.append(scenes.text)
        documents.append(scenes.json())

        downloads = [h for document in documents for h in hrefs_of(document) if "/assets/" in h]
        assert len(downloads) >= 4
        for url in downloads:
            assert url.startswith(platform_url), url
            head = http.head(url)
            assert head.status_code == 200, (url, head.text)
            assert int(head.headers["content-length"]) > 0 and head.headers["etag"]
            part = http.get(url, headers={"Range": "bytes=0-15"})
            assert part.status_code == 206 and len(part.content) == 16
            assert part.headers["content-range"].startswith("bytes 0-15/")
        for name in ("ndvi", "vegetation-cover"):
            url = results.json()[name]["href"]
            assert "Driver: GTiff" in gdalinfo(url)
            valid, errors, _ = cog_validate(url, quiet=True)
            assert valid, errors
        scene_band = next(url for url in reversed(downloads) if url.endswith(".tif"))
        assert "Driver: GTiff" in gdalinfo(scene_band)  # not the Landsat MTL.txt beside it

        wrong_name = results.json()["ndvi"]["href"].rsplit("/", 1)[0] + "/other.tif"
        for path in (
            "/assets/collections/ndvi/items/nope/ndvi/ndvi.tif",
            "/assets/collections/x/items/y/z/z.tif",
            wrong_name,
        ):
            missing = http.get(path)
            assert missing.status_code == 404 and missing.headers["content-type"].endswith(
                "problem+json"
            )

    private = [str(Path(platform_settings.storage_url).resolve()), str(scenes_dir.resolve())]
    leaks = [(path, body[:200]) for body in seen for path in private if path in body]
    assert not leaks
