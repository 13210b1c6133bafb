"""`vegetation-strata` through the gateway over real HTTP, on a platform of its own:
`territoires synth --seasons` Sentinel-2 L2A scenes over La Rochelle (1024² at 10 m; spring,
summer and autumn 2023 with clouds in SCL) and its population grid, catalogued, a worker,
OWSLib as a partner runs it.

Scored against the planted strata with the shared helper: each stratum a partner downloads
against truth/strata-2023, cell by cell (MAE) and as each commune's share; then what a partner
sees (tiles, statistics, the embed page), and bad input: one season only, all scenes cloudy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from owslib.ogcapi.processes import Processes
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from territoires.compute.processes import vegetation_strata as process
from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate
from territoires.synth import sentinel2 as synth_sentinel2
from territoires.synth.scoring import score_continuous
from territoires.synth.truth import strata_fraction

from ..stack import (
    catalogue,
    issue_key,
    owslib_client,
    platform_with_worker,
    scenes_platform_settings,
)
from .test_imperviousness_platform import cloudy_scl, downloaded, in_scene, outlines
from .test_vegetation import executed, follow

SIZE = 1024  # 10 km around La Rochelle: the commune and its neighbours
YEAR = "2023-03-01/2023-11-30"  # spring, summer and autumn 2023
CELL_MAE_POINTS = 10.0
COMMUNE_MAE_POINTS = 3.0
PLATFORM_TIMEOUT_S = 1800
WORKER_START_S = 600
MIN_COMMUNE_CELLS = 20_000  # communes with at least 200 ha in the scene are scored
MIN_OBSERVED_HA = 200.0  # and at least 200 ha seen cloud-free in two seasons
TRUTH = {"tree-canopy": "tree", "shrub-cover": "shrub", "herbaceous-cover": "herbaceous"}
SHARES = {"tree-canopy": "tree_canopy_share", "herbaceous-cover": "herbaceous_share"}

pytestmark = pytest.mark.timeout(PLATFORM_TIMEOUT_S)


@pytest.fixture(scope="module")
def strata_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("strata-scenes") / "17300"
    generate("17300", folder, size=SIZE, sensors=["s2", "s1"], seasons=True)
    return folder


@pytest.fixture(scope="module")
def strata_settings(
    empty_database_factory, redis_url: str, strata_scenes: Path, tmp_path_factory
) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("strata"),
        redis_url,
        "strata",
        strata_scenes,
        tmp_path_factory.mktemp("strata-storage"),
    )


@pytest.fixture(scope="module")
def client(strata_settings: Settings, tmp_path_factory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("strata-worker") / "worker.log"
    with platform_with_worker(strata_settings, log, WORKER_START_S) as url:
        key = issue_key(strata_settings, "strata", Scope.EXECUTE)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            yield http


def run(client: httpx.Client, inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs the process asynchronously; its results document."""
    return executed(client, "vegetation-strata", inputs, timeout_s=600)[1]


@pytest.fixture(scope="module")
def scored(strata_settings: Settings, strata_scenes: Path) -> dict[str, np.ndarray]:
    """The communes with enough cells in the scenes, as masks on the truth's grid."""
    communes = outlines(strata_settings)
    with rasterio.open(strata_scenes / strata_fraction(2023, "tree")) as planted:
        inside = {
            code: geometry_mask(
                [transform_geom("EPSG:4326", planted.crs, communes[code])],
                (planted.height, planted.width),
                planted.transform,
                invert=True,
            )
            for code in in_scene(strata_scenes)
        }
    return {code: mask for code, mask in inside.items() if mask.sum() >= MIN_COMMUNE_CELLS}


@pytest.fixture(scope="module")
def strata_run(client: httpx.Client, scored: dict[str, np.ndarray]) -> dict[str, Any]:
    """The scored communes (17300 among them) over the year, run through OWSLib."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "vegetation-strata" in {p["id"] for p in processes.processes()}
    processes.execute(
        "vegetation-strata", {"territory": sorted(scored), "datetime": YEAR}, async_=True
    )
    location = processes.response_headers["Location"]
    ended = follow(client, location, timeout_s=900)[-1]
    assert ended["status"] == "successful", ended
    return client.get(f"{location}/results").json()


def test_strata_against_the_planted_truth_per_cell_and_commune(
    strata_run: dict[str, Any], strata_scenes: Path, scored: dict[str, np.ndarray]
) -> None:
    figures = strata_run["figures"]["value"]
    # A commune the clouds hide in two seasons has its shares from a few cells: not scored.
    hidden = [code for code in scored if figures[code]["observed_area_ha"] < MIN_OBSERVED_HA]
    print(f"communes under {MIN_OBSERVED_HA} ha fitted, not scored: {hidden}")
    scored = {code: mask for code, mask in scored.items() if code not in hidden}
    assert "17300" in scored and len(scored) >= 4
    every = np.logical_or.reduce(list(scored.values()))
    mine = figures["17300"]
    print(
        f"17300: scenes {mine['scenes']}, valid share {mine['valid_share']:.3f}, canopy "
        f"{mine['tree_canopy_share']:.3f}, shrubs {mine['shrub_share']:.3f}, herbaceous "
        f"{mine['herbaceous_share']:.3f}, vegetated {mine['vegetated_share']:.3f}, people "
        f"with < 10 % canopy within 300 m {mine['low_canopy_population_share']:.3f} "
        f"({mine['low_canopy_population']}; {mine['population_source']})"
    )
    for indicator, stratum in TRUTH.items():
        with rasterio.open(strata_scenes / strata_fraction(2023, stratum)) as planted:
            truth = planted.read(1).astype(np.float64)
            found = downloaded(strata_run[indicator]["href"], planted, "vegetation-strata")
        cells = score_continuous(found, truth, every)
        key = SHARES.get(indicator, "shrub_share")
        errors = {
            code: 100 * figures[code][key] - truth[mask & np.isfinite(found)].mean()
            for code, mask in scored.items()
        }
        commune_mae = float(np.mean(np.abs(list(errors.values()))))
        print(
            f"{indicator} vs planted {stratum} fraction, {len(scored)} communes ({cells.count} "
            f"cells): per cell MAE {cells.mae:.2f} points, RMSE {cells.rmse:.2f}, bias "
            f"{cells.bias:+.2f}; per commune MAE {commune_mae:.2f} points ("
            + ", ".join(f"{code} {error:+.2f}" for code, error in sorted(errors.items()))
            + ")"
        )
        assert cells.mae <= CELL_MAE_POINTS
        assert commune_mae <= COMMUNE_MAE_POINTS
    assert mine["valid_share"] > 0.8
    assert sorted(mine["scenes"]) == ["autumn", "spring", "summer"]
    assert 0.0 <= mine["low_canopy_population_share"] <= 1.0
    assert "census population" in mine["population_source"]


def test_tiles_statistics_and_embed_page(client: httpx.Client, strata_run: dict[str, Any]) -> None:
    tilejson = client.get(strata_run["tree-canopy-tiles"]["href"]).json()
    assert tilejson["tiles"]
    legend = client.get("/tiles/legend/tree-canopy").json()
    assert legend["unit"] == "%"
    rows = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": "17300", "indicator": "tree-canopy"},
    ).json()["features"]
    stored = rows[0]["properties"]["figures"]
    expected = strata_run["figures"]["value"]["17300"]
    assert stored["tree_canopy_share"] == pytest.approx(expected["tree_canopy_share"], abs=0.005)
    page = client.get(
        "/embed", params={"territory": "17300", "indicator": "tree-canopy", "lang": "en"}
    )
    assert page.status_code == 200, page.text
    assert f"<td>Tree canopy</td><td>{stored['tree_canopy_share']:.1%}</td>" in page.text
    for collection in TRUTH:
        assert client.get("/map", params={"collection": collection}).status_code == 200


def test_people_from_a_population_grid(client: httpx.Client, strata_run: dict[str, Any]) -> None:
    """With the synthetic population grid, people are its residents, not the census spread
    evenly: fewer live in the leafy outskirts than the commune's cells would say."""
    census = strata_run["figures"]["value"]["17300"]
    results = run(client, {"territory": "17300", "datetime": YEAR, "population": "population-grid"})
    figures = results["figures"]["value"]["17300"]
    print(
        f"17300 people with < 10 % canopy within 300 m: grid {figures['low_canopy_population']} "
        f"({figures['low_canopy_population_share']:.3f}; {figures['population_source']}), census "
        f"spread evenly {census['low_canopy_population']} "
        f"({census['low_canopy_population_share']:.3f})"
    )
    assert figures["population_source"].startswith("grid: residents of population-grid")
    assert 0.0 < figures["low_canopy_population_share"] <= 1.0
    assert figures["low_canopy_population"] > 0
    assert figures["tree_canopy_share"] == census["tree_canopy_share"]
    answer = client.post(
        "/processes/vegetation-strata/execution",
        json={"inputs": {"territory": "17300", "datetime": YEAR, "population": "no-such-grid"}},
    )
    assert answer.status_code == 400, answer.text
    assert "input 'population'" in answer.json()["detail"]


def test_the_departement_runs_in_parts(client: httpx.Client) -> None:
    """Département 17 fans out into batches of communes; those the scenes miss say so."""
    results = run(client, {"territory": "17", "datetime": YEAR})
    figures = results["figures"]["value"]
    covered = [code for code, row in figures.items() if row.get("tree_canopy_share") is not None]
    print(f"département 17: {len(figures)} communes, {len(covered)} with strata: {covered}")
    assert len(figures) > 400 and len(results["parts"]["value"]) > 1
    assert "17300" in covered
    assert all(row["reason"] for code, row in figures.items() if code not in covered)


def season_items(scenes: Path, collection: str) -> list[dict[str, Any]]:
    """The spring and summer 2023 items, hrefs absolute, in a collection of their own."""
    items = []
    for day in ("202304", "202307"):
        path = next((scenes / synth_sentinel2.COLLECTION).glob(f"*-{day}*/*.json"))
        item = json.loads(path.read_text())
        for asset in item["assets"].values():
            asset["href"] = str((path.parent / asset["href"]).resolve())
        item |= {"collection": collection, "id": f"{collection}-{day}", "links": []}
        cloudy_scl(item, path.parent)
        items.append(item)
    return items


def test_every_cell_cloudy_is_a_result_saying_why(
    client: httpx.Client, strata_settings: Settings, strata_scenes: Path
) -> None:
    catalogue(strata_settings, "s2-strata-cloud", season_items(strata_scenes, "s2-strata-cloud"))
    results = run(client, {"territory": "17300", "datetime": YEAR, "collection": "s2-strata-cloud"})
    figures = results["figures"]["value"]["17300"]
    print(f"all-cloud SCL: {figures['reason']}")
    assert figures["tree_canopy_share"] is None and figures["valid_share"] == 0.0
    assert figures["reason"] == process.NO_FIT


def test_one_season_or_all_cloud_is_a_clear_400(
    client: httpx.Client, strata_settings: Settings, strata_scenes: Path
) -> None:
    answer = client.post(
        "/processes/vegetation-strata/execution",
        json={"inputs": {"territory": "17300", "datetime": "2023-06-01/2023-08-31"}},
    )
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    print(f"one season: 400 {detail}")
    assert "missing: spring (March–May), autumn (September–November) of 2023" in detail

    items = season_items(strata_scenes, "s2-strata-cover")
    for item in items:
        item["properties"]["eo:cloud_cover"] = 100.0
    catalogue(strata_settings, "s2-strata-cover", items)
    answer = client.post(
        "/processes/vegetation-strata/execution",
        json={"inputs": {"territory": "17300", "datetime": YEAR, "collection": "s2-strata-cover"}},
    )
    assert answer.status_code == 400, answer.text
    print(f"all cloud: 400 {answer.json()['detail']}")
    assert "every scene found in the period is cloud" in answer.json()["detail"]
