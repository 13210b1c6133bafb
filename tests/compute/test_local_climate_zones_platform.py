"""`local-climate-zones` through the gateway over real HTTP, on a platform of its own:
`territoires synth --buildings` over La Rochelle (1024² at 10 m, a Sentinel-2 scene per summer
2021–2023, the BD TOPO-like buildings and streets catalogued as collection `buildings`), a
worker, OWSLib as a partner runs it: the class COG downloads, the units are served as features,
the tiles, legend (17 classes, standard colours) and map page, the commune's statistics row and
embed page show; a buildings collection not catalogued is a
400 Problem Details."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from owslib.ogcapi.features import Features
from owslib.ogcapi.processes import Processes

from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate

from ..stack import issue_key, owslib_client, platform_with_worker, scenes_platform_settings
from .test_vegetation import follow

SUMMERS = "2021-06-01/2023-08-31"
WORKER_START_S = 600  # a cold numba cache compiles every kernel at start

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lcz-platform") / "17300"
    generate("17300", folder, size=1024, sensors=["s2"], with_buildings=True)
    return folder


@pytest.fixture(scope="module")
def settings(empty_database_factory, redis_url: str, town: Path, tmp_path_factory) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("lczp"),
        redis_url,
        "lczp",
        town,
        tmp_path_factory.mktemp("lcz-platform-storage"),
    )


@pytest.fixture(scope="module")
def client(settings: Settings, tmp_path_factory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("lcz-worker") / "worker.log"
    with platform_with_worker(settings, log, WORKER_START_S) as url:
        key = issue_key(settings, "lcz", Scope.EXECUTE)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            yield http


@pytest.fixture(scope="module")
def rochelle(client: httpx.Client) -> tuple[str, dict[str, Any]]:
    """17300 over the three summers through OWSLib: the job's URL and results document."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "local-climate-zones" in {p["id"] for p in processes.processes()}
    inputs = {"territory": "17300", "datetime": SUMMERS}
    processes.execute("local-climate-zones", inputs, async_=True)
    location = processes.response_headers["Location"]
    ended = follow(client, location, timeout_s=600)[-1]
    assert ended["status"] == "successful", ended
    return location, client.get(f"{location}/results").json()


def test_units_cog_statistics_and_embed_page(
    client: httpx.Client, rochelle: tuple[str, dict[str, Any]]
) -> None:
    location, results = rochelle
    with rasterio.open(results["lcz"]["href"]) as cog:
        assert cog.tags()["PROCESS"] == "local-climate-zones"
        classes = cog.read(1)
    found = set(np.unique(classes).tolist()) - {0}
    assert found <= set(range(1, 18)) and len(found) >= 5
    tilejson = client.get(results["lcz-tiles"]["href"]).json()
    assert tilejson["tiles"]
    legend = client.get("/tiles/legend/lcz").json()
    assert legend["kind"] == "categorical" and len(legend["entries"]) == 17
    first, last = legend["entries"][0], legend["entries"][-1]
    assert first["color"] == "#8c0000" and last["label"] == "G Water"
    assert client.get("/map", params={"collection": "lcz"}).status_code == 200

    job_id = location.rstrip("/").rsplit("/", 1)[-1]
    features = owslib_client(
        Features, f"{str(client.base_url).rstrip('/')}/features", client.headers
    )
    assert "lcz-units" in features.feature_collections()
    page = features.collection_items("lcz-units", job_id=job_id, limit=50)
    units = page["features"]
    assert units and {"lcz", "lcz_name", "confidence", "bsf", "svf"} <= set(units[0]["properties"])
    figures = results["figures"]["value"]["17300"]
    rows = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": "17300", "indicator": "lcz"},
    ).json()["features"]
    stored = rows[0]["properties"]["figures"]
    print(
        f"\nlcz through the gateway, 17300: {page.get('numberMatched')} units, class shares "
        f"{figures['class_shares']}, LCZ 1-3 population share "
        f"{figures['population_share_lcz_1_3']:.1%}"
    )
    assert stored["main_class"] == figures["main_class"]
    embed = client.get("/embed", params={"territory": "17300", "indicator": "lcz", "lang": "en"})
    assert embed.status_code == 200, embed.text
    assert f"<td>Main class</td><td>{figures['main_class']}</td>" in embed.text


def test_a_buildings_collection_not_catalogued_is_a_400(client: httpx.Client) -> None:
    response = client.post(
        "/processes/local-climate-zones/execution",
        json={"inputs": {"territory": "17300", "datetime": SUMMERS, "buildings": "bdtopo-2030"}},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "collection 'bdtopo-2030' has no item" in response.json()["detail"]
