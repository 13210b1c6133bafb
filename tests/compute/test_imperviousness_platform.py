"""`imperviousness` through the gateway over real HTTP, on a platform of its own:
`territoires synth` Sentinel-2 L2A scenes over La Rochelle (2048² at 10 m, a scene per summer
2021–2023 with clouds in SCL), catalogued, a worker, OWSLib as a partner runs it.

Scored against the planted truth with the shared helper: the sealed share a partner downloads
against truth/built_fraction.tif (buildings plus paved ground), cell by cell (MAE) and as each
commune's share; then what a partner sees (tiles, statistics, the embed page), a partner's own
imperviousness density layer (HRL-like) in another CRS read instead of unmixing, and bad input:
all scenes cloudy, bands missing, a density collection with no layer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from owslib.ogcapi.features import Features
from owslib.ogcapi.processes import Processes
from rasterio.features import geometry_mask
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_geom

from territoires.compute.processes import imperviousness as process
from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate
from territoires.synth import sentinel2 as synth_sentinel2
from territoires.synth.scoring import score_continuous
from territoires.synth.truth import BUILT_FRACTION

from ..stack import (
    catalogue_variant,
    issue_key,
    owslib_client,
    platform_with_worker,
    scenes_platform_settings,
)
from .test_vegetation import follow

SIZE = 2048  # 20 km around La Rochelle: the commune and its neighbours
SUMMERS = "2021-06-01/2023-08-31"  # the three synthetic scenes
CELL_MAE_POINTS = 10.0
COMMUNE_MAE_POINTS = 3.0
PLATFORM_TIMEOUT_S = 1800  # the first test run also makes the scenes and starts the worker
WORKER_START_S = 600  # a cold numba cache compiles every kernel at start
MIN_COMMUNE_CELLS = 20_000  # communes with at least 200 ha in the scene are scored

pytestmark = pytest.mark.timeout(PLATFORM_TIMEOUT_S)


@pytest.fixture(scope="module")
def sealed_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sealed-scenes") / "17300"
    generate("17300", folder, size=SIZE, sensors=["s2"])
    return folder


@pytest.fixture(scope="module")
def sealed_settings(
    empty_database_factory, redis_url: str, sealed_scenes: Path, tmp_path_factory
) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("sealed"),
        redis_url,
        "sealed",
        sealed_scenes,
        tmp_path_factory.mktemp("sealed-storage"),
    )


@pytest.fixture(scope="module")
def client(sealed_settings: Settings, tmp_path_factory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("sealed-worker") / "worker.log"
    with platform_with_worker(sealed_settings, log, WORKER_START_S) as url:
        key = issue_key(sealed_settings, "sealed", Scope.EXECUTE)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            yield http


def run(client: httpx.Client, inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs the process asynchronously; its results document."""
    accepted = client.post(
        "/processes/imperviousness/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    ended = follow(client, accepted.headers["Location"], timeout_s=600)[-1]
    assert ended["status"] == "successful", ended
    return client.get(f"{accepted.headers['Location']}/results").json()


@pytest.fixture(scope="module")
def rochelle(client: httpx.Client) -> dict[str, Any]:
    """17300 over the three summers, run through OWSLib: the results document."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "imperviousness" in {p["id"] for p in processes.processes()}
    assert {"territory", "datetime", "collection"} <= set(
        processes.process("imperviousness")["inputs"]
    )
    processes.execute("imperviousness", {"territory": "17300", "datetime": SUMMERS}, async_=True)
    location = processes.response_headers["Location"]
    ended = follow(client, location, timeout_s=600)[-1]
    assert ended["status"] == "successful", ended
    return client.get(f"{location}/results").json()


def outlines(settings: Settings) -> dict[str, dict[str, Any]]:
    path = settings.data_dir / "territories" / "communes-17-charente-maritime.geojson"
    features = json.loads(path.read_text())["features"]
    return {f["properties"]["code"]: f["geometry"] for f in features}


def downloaded(
    href: str, like: rasterio.DatasetReader, process_id: str = "imperviousness"
) -> np.ndarray:
    """A result COG (over HTTP) on the truth's grid, NaN where it has no value."""
    found = np.full((like.height, like.width), np.nan)
    with rasterio.open(href) as result:
        assert result.tags()["PROCESS"] == process_id
        reproject(
            rasterio.band(result, 1),
            found,
            src_nodata=result.nodata,
            dst_transform=like.transform,
            dst_crs=like.crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    return found


def in_scene(scenes: Path) -> list[str]:
    """The communes the synthetic scenes meet (their settlements in the truth)."""
    settlements = json.loads((scenes / "truth.json").read_text())["urban"]["settlements"]
    return [s["code"] for s in settlements if s["code"]]


def test_sealed_share_against_the_planted_truth_per_cell_and_commune(
    client: httpx.Client, rochelle: dict[str, Any], sealed_scenes: Path, sealed_settings: Settings
) -> None:
    communes = outlines(sealed_settings)
    with rasterio.open(sealed_scenes / BUILT_FRACTION) as planted:
        truth = planted.read(1).astype(np.float64)
        inside = {
            code: geometry_mask(
                [transform_geom("EPSG:4326", planted.crs, communes[code])],
                truth.shape,
                planted.transform,
                invert=True,
            )
            for code in in_scene(sealed_scenes)
        }
        scored = sorted(code for code, cells in inside.items() if cells.sum() >= MIN_COMMUNE_CELLS)
        assert "17300" in scored and len(scored) >= 10
        rochelle_cells = downloaded(rochelle["imperviousness"]["href"], planted)
        results = run(client, {"territory": scored, "datetime": SUMMERS})
        links = results.get("parts", {}).get("value", [])
        parts = [client.get(link["href"]).json() for link in links]
        hrefs = [r["imperviousness"]["href"] for r in parts or [results]]
        found = np.full(truth.shape, np.nan)
        for href in hrefs:
            part = downloaded(href, planted)
            found = np.where(np.isfinite(part), part, found)

    one = score_continuous(rochelle_cells, truth, inside["17300"])
    cells = score_continuous(found, truth, np.logical_or.reduce([inside[c] for c in scored]))
    figures = results["figures"]["value"]
    errors = {
        code: 100 * figures[code]["sealed_share"] - truth[inside[code]].mean() for code in scored
    }
    commune_mae = float(np.mean(np.abs(list(errors.values()))))
    worst = max(errors, key=lambda code: abs(errors[code]))
    mine = rochelle["figures"]["value"]["17300"]
    print(
        f"imperviousness vs planted sealed fraction, 17300 ({one.count} cells): MAE "
        f"{one.mae:.2f} points, RMSE {one.rmse:.2f}, bias {one.bias:+.2f}; sealed share "
        f"{100 * mine['sealed_share']:.2f} % vs planted {truth[inside['17300']].mean():.2f} %, "
        f"{mine['sealed_area_ha']:.0f} ha of {mine['area_ha']:.0f} ha, valid share "
        f"{mine['valid_share']:.3f}"
    )
    print(
        f"{len(scored)} communes ({cells.count} cells): per cell MAE {cells.mae:.2f} points, "
        f"RMSE {cells.rmse:.2f}, bias {cells.bias:+.2f}; per commune MAE {commune_mae:.2f} "
        f"points, worst {worst} {errors[worst]:+.2f}"
    )
    for code in scored:
        print(
            f"  {code}: {100 * figures[code]['sealed_share']:6.2f} % vs planted "
            f"{truth[inside[code]].mean():6.2f} % ({errors[code]:+.2f})"
        )
    assert one.count > 200_000 and cells.count > 1_000_000
    assert mine["valid_share"] > 0.95  # three summers see through each other's clouds
    assert mine["sealed_area_ha"] == pytest.approx(mine["sealed_share"] * mine["area_ha"], 0.01)
    assert cells.mae <= CELL_MAE_POINTS
    assert commune_mae <= COMMUNE_MAE_POINTS


def test_tiles_statistics_and_embed_page(client: httpx.Client, rochelle: dict[str, Any]) -> None:
    tilejson = client.get(rochelle["imperviousness-tiles"]["href"]).json()
    assert client.get("/tiles/legend/imperviousness").json()["unit"] == "%"
    lon, lat = tilejson["center"][:2]
    assert tilejson["tiles"] and -2 < lon < 0 and 45 < lat < 47

    figures = rochelle["figures"]["value"]["17300"]
    features = Features(f"{str(client.base_url).rstrip('/')}/features")
    assert "indicator-statistics" in features.feature_collections()
    # By territory, not by job: the scoring test's run over the scene's communes (17300 among
    # them, same summers) files the commune's row again, in place of this job's.
    rows = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": "17300", "indicator": "imperviousness"},
    ).json()["features"]
    assert [r["properties"]["indicator"] for r in rows] == ["imperviousness"]
    stored = rows[0]["properties"]["figures"]
    assert stored["sealed_share"] == pytest.approx(figures["sealed_share"], abs=0.005)
    figures = stored  # what the page shows: the commune's newest row
    page = client.get(
        "/embed", params={"territory": "17300", "indicator": "imperviousness", "lang": "en"}
    )
    assert page.status_code == 200, page.text
    assert f"<td>Sealed share</td><td>{figures['sealed_share']:.1%}</td>" in page.text
    assert f"<td>Sealed area</td><td>{figures['sealed_area_ha']:,.1f} ha</td>" in page.text
    assert client.get("/map", params={"collection": "imperviousness"}).status_code == 200


def newest_summer_scene(scenes: Path) -> Path:
    return sorted((scenes / synth_sentinel2.COLLECTION).glob("*/*.json"))[-1]


def cloudy_scl(item: dict[str, Any], folder: Path) -> None:
    """The scene classification says cloud everywhere (high probability, class 9); the item
    does not state its cloud cover."""
    with rasterio.open(folder / "SCL.tif") as scl:
        profile = scl.profile | {"driver": "GTiff"}
        cloud = np.full((scl.height, scl.width), synth_sentinel2.SCL_CLOUD_HIGH, np.uint8)
    target = folder.parent / "all-cloud-SCL.tif"
    with rasterio.open(target, "w", **profile) as out:
        out.write(cloud, 1)
    item["assets"]["SCL"]["href"] = str(target)
    item["properties"].pop("eo:cloud_cover", None)


def test_the_departement_runs_in_parts(client: httpx.Client) -> None:
    """Département 17 fans out into batches of communes; those the scenes miss say so."""
    results = run(client, {"territory": "17", "datetime": SUMMERS})
    figures = results["figures"]["value"]
    covered = [code for code, row in figures.items() if row.get("sealed_share") is not None]
    print(f"département 17: {len(figures)} communes, {len(covered)} with a sealed share")
    assert len(figures) > 400 and len(results["parts"]["value"]) > 1
    assert "17300" in covered
    assert all(row["reason"] for code, row in figures.items() if code not in covered)


def test_a_scene_cloudy_everywhere_is_a_result_saying_why(
    client: httpx.Client, sealed_settings: Settings, sealed_scenes: Path
) -> None:
    catalogue_variant(
        sealed_settings, newest_summer_scene(sealed_scenes), "s2-cloud-scl", cloudy_scl
    )
    results = run(client, {"territory": "17300", "datetime": SUMMERS, "collection": "s2-cloud-scl"})
    figures = results["figures"]["value"]["17300"]
    print(f"all-cloud SCL: {figures['reason']}")
    assert figures["sealed_share"] is None and figures["valid_share"] == 0.0
    assert figures["reason"] == process.NO_OBSERVATION


@pytest.mark.parametrize(
    ("collection", "change", "says"),
    [
        (
            "s2-cloud-cover",
            lambda item, _: item["properties"].update({"eo:cloud_cover": 100.0}),
            "every scene found in the period is cloud",
        ),
        (
            "s2-no-swir",
            lambda item, _: item["assets"].pop("B12"),
            "lacks the bands swir22",
        ),
    ],
)
def test_bad_scenes_are_a_clear_400(
    client: httpx.Client,
    sealed_settings: Settings,
    sealed_scenes: Path,
    collection: str,
    change: Callable[[dict, Path], None],
    says: str,
) -> None:
    catalogue_variant(sealed_settings, newest_summer_scene(sealed_scenes), collection, change)
    answer = client.post(
        "/processes/imperviousness/execution",
        json={"inputs": {"territory": "17300", "datetime": SUMMERS, "collection": collection}},
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    print(f"{collection}: 400 {answer.json()['detail']}")
    assert says in answer.json()["detail"]


def density_layer(crs: str, truth_path: Path) -> Callable[[dict[str, Any], Path], None]:
    """Makes the item a partner's HRL-like density layer: the planted sealed percent warped to
    `crs`, uint8 with 255 outside, its only asset."""

    def change(item: dict[str, Any], folder: Path) -> None:
        target = folder.parent / f"density-{crs.replace(':', '-')}.tif"
        with rasterio.open(truth_path) as planted:
            transform, width, height = calculate_default_transform(
                planted.crs, crs, planted.width, planted.height, *planted.bounds
            )
            warped = np.full((height, width), np.nan, np.float32)
            reproject(
                planted.read(1).astype(np.float32),
                warped,
                src_transform=planted.transform,
                src_crs=planted.crs,
                dst_transform=transform,
                dst_crs=crs,
                dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )
        percent = np.where(np.isfinite(warped), np.round(warped), 255).astype(np.uint8)
        profile = {"driver": "GTiff", "dtype": "uint8", "nodata": 255, "count": 1}
        with rasterio.open(
            target, "w", **profile, width=width, height=height, crs=crs, transform=transform
        ) as out:
            out.write(percent, 1)
        item["assets"] = {"data": {"href": str(target), "type": "image/tiff; application=geotiff"}}
        for name in ("proj:epsg", "proj:transform", "proj:shape", "eo:cloud_cover"):
            item["properties"].pop(name, None)

    return change


@pytest.mark.parametrize("crs", ["EPSG:3035", "EPSG:4326"])
def test_a_density_layer_in_another_crs_is_read_instead_of_unmixed(
    client: httpx.Client, sealed_settings: Settings, sealed_scenes: Path, crs: str
) -> None:
    """The HRL's own CRS (ETRS89-LAEA, read on its grid) and degrees (averaged onto the UTM
    zone at 10 m): 17300's sealed share is the planted one."""
    collection = f"hrl-imd-{crs.split(':')[1]}"
    truth_path = sealed_scenes / BUILT_FRACTION
    catalogue_variant(
        sealed_settings,
        newest_summer_scene(sealed_scenes),
        collection,
        density_layer(crs, truth_path),
    )
    results = run(client, {"territory": "17300", "datetime": SUMMERS, "density": collection})
    figures = results["figures"]["value"]["17300"]
    with rasterio.open(truth_path) as planted:
        inside = geometry_mask(
            [transform_geom("EPSG:4326", planted.crs, outlines(sealed_settings)["17300"])],
            (planted.height, planted.width),
            planted.transform,
            invert=True,
        )
        planted_percent = float(planted.read(1)[inside].mean())
    print(
        f"density layer in {crs}: 17300 sealed {100 * figures['sealed_share']:.2f} % vs planted "
        f"{planted_percent:.2f} %, valid share {figures['valid_share']:.3f}; {figures['source']}"
    )
    assert figures["source"].endswith(f"{collection}/{collection}-1")
    assert figures["valid_share"] > 0.95
    assert 100 * figures["sealed_share"] == pytest.approx(planted_percent, abs=1.0)


@pytest.mark.parametrize(
    ("density", "says"),
    [
        ("hrl-none", "no scene of hrl-none covers it"),
        (synth_sentinel2.COLLECTION, "is not a single-layer raster"),
    ],
)
def test_a_density_collection_without_a_layer_is_a_clear_400(
    client: httpx.Client, density: str, says: str
) -> None:
    answer = client.post(
        "/processes/imperviousness/execution",
        json={"inputs": {"territory": "17300", "datetime": SUMMERS, "density": density}},
    )
    assert answer.status_code == 400, answer.text
    print(f"density {density}: 400 {answer.json()['detail']}")
    assert says in answer.json()["detail"]
