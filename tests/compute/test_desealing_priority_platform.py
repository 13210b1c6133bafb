"""`desealing-priority` through the gateway over real HTTP, on a platform of its own:
`territoires synth --buildings` over La Rochelle (1024² at 10 m, Sentinel-2 and Landsat scenes
per summer 2021–2023, the BD TOPO-like buildings and streets), a worker, OWSLib as a partner
runs it: the score COG downloads, the ranked sectors are served as features, the legend and the
commune's statistics row show; no Landsat scene in the period is a 400 Problem Details."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import rasterio
from owslib.ogcapi.features import Features
from owslib.ogcapi.processes import Processes

from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate

from ..stack import issue_key, owslib_client, platform_with_worker, scenes_platform_settings
from .test_local_climate_zones_platform import SUMMERS, WORKER_START_S
from .test_vegetation import follow

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("desealing-platform") / "17300"
    generate("17300", folder, size=1024, sensors=["s2", "landsat"], with_buildings=True)
    return folder


@pytest.fixture(scope="module")
def settings(empty_database_factory, redis_url: str, town: Path, tmp_path_factory) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("dsp"),
        redis_url,
        "dsp",
        town,
        tmp_path_factory.mktemp("desealing-platform-storage"),
    )


@pytest.fixture(scope="module")
def client(settings: Settings, tmp_path_factory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("desealing-worker") / "worker.log"
    with platform_with_worker(settings, log, WORKER_START_S) as url:
        key = issue_key(settings, "dsp", Scope.EXECUTE)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            yield http


@pytest.fixture(scope="module")
def rochelle(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    """17300 over the three summers through OWSLib: the job's URL and results document."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "desealing-priority" in {p["id"] for p in processes.processes()}
    processes.execute(
        "desealing-priority", {"territory": "17300", "datetime": SUMMERS}, async_=True
    )
    location = processes.response_headers["Location"]
    ended = follow(client, location, timeout_s=600)[-1]
    assert ended["status"] == "successful", ended
    return location, client.get(f"{location}/results").json()


def test_sectors_cog_and_statistics(
    client: httpx.Client, rochelle: tuple[str, dict[str, Any]]
) -> None:
    location, results = rochelle
    with rasterio.open(results["desealing-priority"]["href"]) as cog:
        assert cog.tags()["PROCESS"] == "desealing-priority"
        scores = cog.read(1, masked=True)
    assert scores.count() > 0 and scores.min() >= 0.0 and scores.max() <= 1.0
    legend = client.get("/tiles/legend/desealing-priority").json()
    assert legend["kind"] == "continuous" and legend["entries"][-1]["label"] == "high"

    job_id = location.rstrip("/").rsplit("/", 1)[-1]
    features = owslib_client(
        Features, f"{str(client.base_url).rstrip('/')}/features", client.headers
    )
    assert "desealing-sectors" in features.feature_collections()
    page = features.collection_items("desealing-sectors", job_id=job_id, limit=100)
    sectors = page["features"]
    names = {"area_ha", "sealed_share", "mean_lst_c", "canopy_share", "score", "rank", "commune"}
    assert sectors and names <= set(sectors[0]["properties"])
    best = min(sectors, key=lambda f: f["properties"]["rank"])["properties"]
    figures = results["figures"]["value"]["17300"]
    print(
        f"\ndesealing through the gateway, 17300: {page.get('numberMatched')} sectors, "
        f"{figures['candidate_area_ha']} ha sealed non-built, top sector {best}"
    )
    assert best["rank"] == 1 and best["score"] == figures["top_sector_score"]
    rows = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": "17300", "indicator": "desealing-priority"},
    ).json()["features"]
    assert rows[0]["properties"]["figures"]["sectors"] == figures["sectors"]


def test_no_landsat_scene_in_the_period_is_a_400(client: httpx.Client) -> None:
    response = client.post(
        "/processes/desealing-priority/execution",
        json={"inputs": {"territory": "17300", "datetime": "2021-07-01/2021-07-16"}},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "no scene of collection 'landsat-c2-l2'" in response.json()["detail"]
