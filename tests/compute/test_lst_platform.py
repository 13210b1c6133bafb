"""`land-surface-temperature` through the gateway over real HTTP, on a platform of its own:
`territoires synth` Collection 2 Level-2 scenes over La Rochelle (2048² at 10 m, a scene per
summer 2021–2023 with clouds in QA_PIXEL), catalogued, a worker, OWSLib as a partner runs it.

Scored against the planted truth with the shared helper: the LST a partner downloads against
the planted LST (RMSE), and each commune's surface urban heat island, summer by summer, against
the truth's (same definition: commune outline as urban footprint, a 2 km rural ring, water
excluded). Then what a partner sees: tiles, hot spots as features and vector tiles, statistics
per commune, the embed page; and bad input answered 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from owslib.ogcapi.features import Features
from owslib.ogcapi.processes import Processes
from rasterio.warp import Resampling, reproject

from territoires.compute.processes import land_surface_temperature as lst_process
from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate
from territoires.synth import landsat as synth_landsat
from territoires.synth.scoring import score_continuous

from ..stack import (
    catalogue_variant,
    issue_key,
    owslib_client,
    platform_with_worker,
    scenes_platform_settings,
)
from .test_vegetation import executed, follow

SIZE = 2048  # 20 km: La Rochelle (10 × 6 km) and its 2 km rural ring fit in the scene
SUMMERS = "2021-06-01/2023-08-31"
SUMMER_2023 = "2023-06-01/2023-08-31"
LST_RMSE_K = 0.5
SUHI_TOLERANCE_K = 0.3
MIN_URBAN_CELLS = 500  # communes with at least this many land cells in the scene are scored


@pytest.fixture(scope="module")
def heat_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("heat-scenes") / "17300"
    generate("17300", folder, size=SIZE, sensors=["landsat"], landsat_level=2)
    return folder


@pytest.fixture(scope="module")
def truth(heat_scenes: Path) -> dict[str, Any]:
    return json.loads((heat_scenes / "truth.json").read_text())["land_surface_temperature"]


@pytest.fixture(scope="module")
def heat_settings(
    empty_database_factory, redis_url: str, heat_scenes: Path, tmp_path_factory
) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("heat"),
        redis_url,
        "heat",
        heat_scenes,
        tmp_path_factory.mktemp("heat-storage"),
    )


@pytest.fixture(scope="module")
def heat_url(heat_settings: Settings, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("heat-worker") / "worker.log"
    with platform_with_worker(heat_settings, log) as url:
        yield url


@pytest.fixture(scope="module")
def client(heat_settings: Settings, heat_url: str) -> Iterator[httpx.Client]:
    key = issue_key(heat_settings, "heat", Scope.EXECUTE)
    with httpx.Client(base_url=heat_url, headers={"X-API-Key": key}, timeout=120) as http:
        yield http


@pytest.fixture(scope="module")
def summer_2023(client: httpx.Client) -> dict[str, Any]:
    """LST over La Rochelle for summer 2023, run through OWSLib: the results document."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "land-surface-temperature" in {p["id"] for p in processes.processes()}
    described = processes.process("land-surface-temperature")
    assert {"ring_m", "hot_spot_min_area_m2", "hottest_per_summer"} <= set(described["inputs"])
    processes.execute(
        "land-surface-temperature", {"territory": "17300", "datetime": SUMMER_2023}, async_=True
    )
    location = processes.response_headers["Location"]
    ended = follow(client, location)[-1]
    assert ended["status"] == "successful", ended
    return client.get(f"{location}/results").json()


def scene_truth(truth: dict[str, Any], year: int) -> dict[str, Any]:
    return next(s for s in truth["scenes"] if s["date"].startswith(str(year)))


def test_lst_against_the_planted_temperature(
    summer_2023: dict[str, Any], truth: dict[str, Any], heat_scenes: Path
) -> None:
    planted_scene = scene_truth(truth, 2023)
    with rasterio.open(heat_scenes / planted_scene["raster"]) as planted:
        expected = planted.read(1).astype(np.float64)
        found = np.full(expected.shape, np.nan)
        with rasterio.open(summer_2023["lst"]["href"]) as result:  # over HTTP (/vsicurl/)
            assert result.tags()["PROCESS"] == "land-surface-temperature"
            reproject(
                rasterio.band(result, 1),
                found,
                src_nodata=result.nodata,
                dst_transform=planted.transform,
                dst_crs=planted.crs,
                dst_nodata=np.nan,
                resampling=Resampling.nearest,
            )
    cells = score_continuous(found, expected)
    figures = summer_2023["figures"]["value"]["17300"]
    planted = next(c for c in planted_scene["communes"] if c["code"] == "17300")
    print(
        f"LST vs planted ({planted_scene['date']}, Level-2, {planted_scene['cloud_cover']} % "
        f"cloud): {cells.count} cells, RMSE {cells.rmse:.3f} K, MAE {cells.mae:.3f} K, bias "
        f"{cells.bias:+.3f} K; SUHI 17300 {figures['suhi_c']:.3f} vs planted "
        f"{planted['suhi_c']:.3f} K; p90 {figures['p90']:.2f} °C, {figures['hot_spots']} hot spots"
    )
    assert cells.count > 50_000
    assert cells.rmse <= LST_RMSE_K
    # One cloudy scene: the cells the clouds hide are missing from the heat island (scored
    # with the summers together, below).
    assert figures["suhi_c"] > 0 and planted["suhi_c"] > 0
    assert figures["definitions"]["suhi"] == lst_process.suhi_definition(synth_landsat.RING_M)
    assert 0.5 < figures["valid_share"] < 1.0  # clouds hide part of the commune


def test_suhi_per_commune_and_summer_against_the_truth(
    client: httpx.Client, truth: dict[str, Any]
) -> None:
    assert lst_process.RING_M == synth_landsat.RING_M
    first = truth["scenes"][0]["communes"]
    codes = [c["code"] for c in first if c["urban_cells"] >= MIN_URBAN_CELLS and c["rural_cells"]]
    assert 5 <= len(codes) <= 25
    accepted = client.post(
        "/processes/land-surface-temperature/execution",
        json={"inputs": {"territory": codes, "datetime": SUMMERS}},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    ended = follow(client, accepted.headers["Location"], timeout_s=300)[-1]
    assert ended["status"] == "successful", ended
    figures = client.get(f"{accepted.headers['Location']}/results").json()["figures"]["value"]

    together = []  # every summer's mean LST against the mean of the summers' truths
    for code in codes:
        planted = np.mean(
            [s["suhi_c"] for c in truth["scenes"] for s in c["communes"] if s["code"] == code]
        )
        together.append((code, "all", figures[code]["suhi_c"] - planted))
    errors = []
    for scene in truth["scenes"]:
        year = int(scene["date"][:4])
        planted = {c["code"]: c for c in scene["communes"]}
        for code in codes:
            [summer] = [s for s in figures[code]["summers"] if s["summer"] == year]
            assert summer["scenes"] == [scene["date"]]
            errors.append((code, year, summer["suhi_c"] - planted[code]["suhi_c"]))
    for label, found in (("summers together", together), ("summer by summer", errors)):
        worst = max(found, key=lambda error: abs(error[2]))
        print(
            f"SUHI per commune, {label}: {len(found)} figures over {len(codes)} communes, "
            f"mean |error| {np.mean([abs(e[2]) for e in found]):.3f} K, worst {worst[2]:+.3f} K "
            f"({worst[0]}, {worst[1]})"
        )
    for code, year, error in together + errors:
        assert abs(error) <= SUHI_TOLERANCE_K, (code, year, error)


def test_tiles_hot_spots_statistics_and_embed_page(
    client: httpx.Client, summer_2023: dict[str, Any]
) -> None:
    tilejson = client.get(summer_2023["lst-tiles"]["href"]).json()
    lon, lat = tilejson["center"][:2]
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, tilejson["minzoom"] + 2)
    png = client.get(tilejson["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y))
    assert png.status_code == 200 and png.headers["content-type"].startswith("image/")
    assert client.get("/tiles/legend/lst").json()["unit"] == "°C"

    spots = client.get(f"{summer_2023['lst-hot-spots']['href']}&limit=1000").json()["features"]
    figures = summer_2023["figures"]["value"]["17300"]
    assert len(spots) == figures["hot_spots"] > 0
    assert all(s["properties"]["area_m2"] >= lst_process.HOT_SPOT_MIN_AREA_M2 for s in spots)
    assert all(s["properties"]["mean_c"] > figures["p90"] for s in spots)
    job_id = spots[0]["properties"]["job_id"]
    vector = "/tiles/vector/collections/lst-hot-spots/WebMercatorQuad/tilejson.json"
    assert client.get(vector, params={"job_id": job_id}).status_code == 200

    features = Features(f"{str(client.base_url).rstrip('/')}/features")
    assert {"lst-hot-spots", "indicator-statistics"} <= set(features.feature_collections())
    found = features.collection_items("lst-hot-spots", job_id=job_id, limit=1000)
    assert found["numberMatched"] == figures["hot_spots"]
    rows = features.collection_items("indicator-statistics", job_id=job_id)["features"]
    assert [r["properties"]["indicator"] for r in rows] == ["lst"]
    stored = rows[0]["properties"]["figures"]
    assert stored["suhi_c"] == pytest.approx(figures["suhi_c"])
    assert "rural ring" in stored["definitions"]["suhi"]

    page = client.get("/embed", params={"territory": "17300", "indicator": "lst", "lang": "en"})
    assert page.status_code == 200, page.text
    assert "No figures yet." not in page.text
    assert f"<td>Surface urban heat island</td><td>{figures['suhi_c']:+.1f} °C</td>" in page.text
    assert f"<td>Hot spots</td><td>{figures['hot_spots']}</td>" in page.text
    french = client.get("/embed", params={"territory": "17300", "indicator": "lst"}).text
    assert f"<td>Points chauds</td><td>{figures['hot_spots']}</td>" in french
    assert client.get("/map", params={"collection": "lst"}).status_code == 200


@pytest.mark.parametrize(
    ("collection", "change", "says"),
    [
        (
            "landsat-no-thermal",
            lambda item: item["assets"].pop("ST_B10"),
            "has no thermal band",
        ),
        (
            "landsat-mixed-crs",
            lambda item: item["assets"]["ST_B10"].update({"proj:epsg": 32631}),
            "different CRSs (ST_B10 in EPSG:32631",
        ),
    ],
)
def test_bad_scenes_are_a_clear_400(
    client: httpx.Client,
    heat_settings: Settings,
    heat_scenes: Path,
    collection: str,
    change,
    says: str,
) -> None:
    [path] = sorted((heat_scenes / synth_landsat.COLLECTION).glob("*/*.json"))[:1]
    catalogue_variant(heat_settings, path, collection, lambda item, _: change(item))
    answer = client.post(
        "/processes/land-surface-temperature/execution",
        json={"inputs": {"territory": "17300", "datetime": SUMMERS, "collection": collection}},
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert says in answer.json()["detail"]


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"ring_m": -5}, "input 'ring_m' must be a number from 30 to 20000"),
        ({"hottest_per_summer": 1.5}, "whole number"),
        ({"min_clear_share": "most"}, "input 'min_clear_share' must be a number"),
    ],
)
def test_bad_options_are_a_clear_400(
    client: httpx.Client, inputs: dict[str, Any], says: str
) -> None:
    answer = client.post(
        "/processes/land-surface-temperature/execution",
        json={"inputs": {"territory": "17300", "datetime": SUMMERS} | inputs},
    )
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["detail"]


def test_lst_runs_over_three_summers_of_the_demo_scenes(
    platform_url: str, api_key: str, worker: Any, scenes_dir: Path
) -> None:
    """The scenes `make run` catalogues (the shared test platform's, at 512²): Level-1, a clear
    scene per summer; the LST of the three summers is the mean of the planted ones."""
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=120) as http:
        _, results = executed(
            http, "land-surface-temperature", {"territory": "17300", "datetime": SUMMERS}
        )
    truth = json.loads((scenes_dir / "truth.json").read_text())["land_surface_temperature"]
    assert truth["level"] == 1
    planted = []
    for scene in truth["scenes"]:
        with rasterio.open(scenes_dir / scene["raster"]) as raster:
            planted.append(raster.read(1).astype(np.float64))
            transform, crs = raster.transform, raster.crs
    expected = np.mean(planted, axis=0)
    found = np.full(expected.shape, np.nan)
    with rasterio.open(results["lst"]["href"]) as result:
        reproject(
            rasterio.band(result, 1),
            found,
            src_nodata=result.nodata,
            dst_transform=transform,
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    cells = score_continuous(found, expected)
    figures = results["figures"]["value"]["17300"]
    print(
        f"Level-1 demo scenes, 3 summers: {cells.count} cells, RMSE {cells.rmse:.3f} K, "
        f"bias {cells.bias:+.3f} K; summers {[s['summer'] for s in figures['summers']]}, "
        f"valid share {figures['valid_share']:.2f}, {figures['hot_spots']} hot spots"
    )
    assert cells.count > 20_000 and cells.rmse <= LST_RMSE_K
    assert [s["summer"] for s in figures["summers"]] == [2021, 2022, 2023]
    assert figures["valid_share"] > 0.9 and figures["hot_spots"] >= 1


def test_an_area_too_large_for_one_job_is_a_clear_400(client: httpx.Client) -> None:
    west, south, east, north = -6.0, 43.0, 3.0, 50.0  # western France around the scenes
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    answer = client.post(
        "/processes/land-surface-temperature/execution",
        json={
            "inputs": {"geometry": {"type": "Polygon", "coordinates": [ring]}, "datetime": SUMMERS}
        },
    )
    assert answer.status_code == 400, answer.text
    assert "GB of memory for one job" in answer.json()["detail"]
