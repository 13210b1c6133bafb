"""`land-cover-change` through the gateway over real HTTP, on a platform of its own:
`territoires synth --seasons --changes` Sentinel-2 L2A scenes over La Rochelle (1024² at 10 m;
three scenes each summer of 2022 and 2023, spring and autumn 2023; parcels built on, car parks
greened, woods felled, bare ground planted in between), catalogued, a worker, OWSLib as a
partner runs it.

What a partner gets: the class COG over HTTP (scored against the planted classes with the
shared helper), the change polygons as OGC API Features, the ZAN figures in
indicator-statistics and on the embed page; département 17 in parts; and bad input (the
periods swapped, the same period twice, a period without scenes, no shared season) answered
with a clear 400."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
from owslib.ogcapi.features import Features
from owslib.ogcapi.processes import Processes
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from shapely.geometry import shape

from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate
from territoires.synth.scoring import score_classes

from ..stack import issue_key, owslib_client, platform_with_worker, scenes_platform_settings
from .test_imperviousness_platform import downloaded, outlines
from .test_vegetation import executed, follow

SIZE = 1024
BEFORE, AFTER = "2022-06-01/2022-08-31", "2023-06-01/2023-08-31"
PLATFORM_TIMEOUT_S = 1800
WORKER_START_S = 600
KEYS = {
    "sealed": "sealed_ha",
    "de-sealed": "desealed_ha",
    "vegetation lost": "vegetation_lost_ha",
    "vegetation gained": "vegetation_gained_ha",
}

pytestmark = pytest.mark.timeout(PLATFORM_TIMEOUT_S)


@pytest.fixture(scope="module")
def change_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("change-scenes") / "17300"
    generate("17300", folder, size=SIZE, sensors=["s2"], seasons=True, changes=True)
    return folder


@pytest.fixture(scope="module")
def change_settings(
    empty_database_factory, redis_url: str, change_scenes: Path, tmp_path_factory
) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("changes"),
        redis_url,
        "changes",
        change_scenes,
        tmp_path_factory.mktemp("changes-storage"),
    )


@pytest.fixture(scope="module")
def client(change_settings: Settings, tmp_path_factory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("changes-worker") / "worker.log"
    with platform_with_worker(change_settings, log, WORKER_START_S) as url:
        key = issue_key(change_settings, "changes", Scope.EXECUTE)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            yield http


@pytest.fixture(scope="module")
def rochelle(client: httpx.Client) -> dict[str, Any]:
    """17300 between the summers of 2022 and 2023, run through OWSLib: the results."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "land-cover-change" in {p["id"] for p in processes.processes()}
    described = processes.process("land-cover-change")
    assert {"territory", "geometry", "before", "after", "collection"} == set(described["inputs"])
    assert {"land-cover-change", "land-cover-change-areas", "statistics"} <= set(
        described["outputs"]
    )
    processes.execute(
        "land-cover-change",
        {"territory": "17300", "before": BEFORE, "after": AFTER},
        async_=True,
    )
    location = processes.response_headers["Location"]
    ended = follow(client, location, timeout_s=600)[-1]
    assert ended["status"] == "successful", ended
    return client.get(f"{location}/results").json()


def test_the_class_cog_downloads_and_scores_against_the_planted_changes(
    rochelle: dict[str, Any], change_scenes: Path, change_settings: Settings
) -> None:
    document = json.loads((change_scenes / "truth.json").read_text())["land_cover_change"]
    with rasterio.open(change_scenes / document["raster"]) as planted:
        truth = planted.read(1)
        found = downloaded(rochelle["land-cover-change"]["href"], planted, "land-cover-change")
        inside = geometry_mask(
            [transform_geom("EPSG:4326", planted.crs, outlines(change_settings)["17300"])],
            truth.shape,
            planted.transform,
            invert=True,
        )
    seen = inside & np.isfinite(found)
    score = score_classes(found[seen].astype(np.uint8), truth[seen])
    figures = rochelle["figures"]["value"]["17300"]
    planted_ha = document["communes"]["17300"]
    print(
        f"17300 class COG vs planted ({score.count} cells): accuracy {score.accuracy:.4f}, "
        f"kappa {score.kappa:.3f}; seen {figures['valid_share']:.1%}, scenes before "
        f"{figures['before']['dates']}, after {figures['after']['dates']}, {figures['years']} "
        "years"
    )
    for name, key in KEYS.items():
        print(
            f"  {name}: {figures[key]:.2f} ha ({figures[f'{key}_per_year']:.2f} ha/yr) vs "
            f"planted {planted_ha[name]:.2f} ha"
        )
        assert figures[key] == pytest.approx(planted_ha[name], abs=max(0.3, 0.2 * planted_ha[name]))
    assert score.kappa > 0.8 and figures["valid_share"] > 0.95
    assert figures["years"] == pytest.approx(1.0, abs=0.01)
    assert figures["net_sealed_ha"] == pytest.approx(
        figures["sealed_ha"] - figures["desealed_ha"], abs=0.011
    )


def test_change_polygons_are_served_as_features(
    client: httpx.Client, rochelle: dict[str, Any], change_scenes: Path
) -> None:
    href = rochelle["land-cover-change-areas"]["href"]
    collection = client.get(href, params={"limit": 1000}).json()
    features = collection["features"]
    document = json.loads((change_scenes / "truth.json").read_text())["land_cover_change"]
    parcels = json.loads((change_scenes / document["polygons"]).read_text())["features"]
    inside = [p for p in parcels if p["properties"]["communes"].get("17300", 0) > 0.05]
    found = [
        p
        for p in inside
        if any(
            f["properties"]["class"] == p["properties"]["class"]
            and shape(f["geometry"]).contains(shape(p["geometry"]).centroid)
            for f in features
        )
    ]
    print(
        f"17300: {len(features)} change polygons served; {len(found)} of the {len(inside)} "
        f"planted parcels in the commune found (class and centroid); classes "
        f"{sorted({f['properties']['class'] for f in features})}"
    )
    # The polygons are the changed cells of the commune (a patch the commune's outline cuts
    # leaves a piece inside it, which may be under the 0.05 ha mapping unit).
    figures = rochelle["figures"]["value"]["17300"]
    served = sum(f["properties"]["area_ha"] for f in features)
    assert served == pytest.approx(sum(figures[key] for key in KEYS.values()), abs=0.05)
    assert len(found) >= 0.9 * len(inside)
    assert figures["change_polygons"] == len(features)
    gpkg = client.get(rochelle["land-cover-change-areas-gpkg"]["href"])
    assert gpkg.status_code == 200 and gpkg.content[:15] == b"SQLite format 3"
    owslib = Features(f"{str(client.base_url).rstrip('/')}/features")
    assert "land-cover-change-areas" in owslib.feature_collections()


def test_statistics_tiles_and_embed_page(client: httpx.Client, rochelle: dict[str, Any]) -> None:
    rows = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": "17300", "indicator": "land-cover-change"},
    ).json()["features"]
    stored = rows[0]["properties"]["figures"]
    expected = rochelle["figures"]["value"]["17300"]
    print(f"17300 statistics row: { {key: stored[key] for key in KEYS.values()} }")
    for key in KEYS.values():
        assert stored[f"{key}_per_year"] == expected[f"{key}_per_year"]
    assert rows[0]["properties"]["period_start"].startswith("2022-06-01")
    tilejson = client.get(rochelle["land-cover-change-tiles"]["href"]).json()
    assert tilejson["tiles"]
    legend = client.get("/tiles/legend/land-cover-change").json()
    assert [entry["label"] for entry in legend["entries"]][1:] == list(KEYS)
    page = client.get(
        "/embed", params={"territory": "17300", "indicator": "land-cover-change", "lang": "en"}
    )
    assert page.status_code == 200, page.text
    sealed = f"{stored['sealed_ha_per_year']:,.2f} ha/yr"
    assert f"<td>Sealed a year</td><td>{sealed}</td>" in page.text
    for collection in ("land-cover-change", "land-cover-change-areas"):
        assert client.get("/map", params={"collection": collection}).status_code == 200


def test_the_departement_runs_in_parts(client: httpx.Client) -> None:
    """Département 17 fans out into batches of communes; those the scenes miss say so."""
    results = executed(
        client, "land-cover-change", {"territory": "17", "before": BEFORE, "after": AFTER}, 900
    )[1]
    figures = results["figures"]["value"]
    covered = [code for code, row in figures.items() if row.get("sealed_ha") is not None]
    print(f"département 17: {len(figures)} communes, {len(covered)} with changes: {covered}")
    assert len(figures) > 400 and len(results["parts"]["value"]) > 1
    assert "17300" in covered
    assert all(row["reason"] for code, row in figures.items() if code not in covered)
    assert "land-cover-change-areas" in results


@pytest.mark.parametrize(
    ("before", "after", "says"),
    [
        (AFTER, BEFORE, "comes before input 'before'"),
        (BEFORE, BEFORE, "are the same period"),
        ("2022-06-01/2023-06-30", AFTER, "overlap"),
        ("2019-06-01/2019-08-31", AFTER, "input 'before': no scene of sentinel-2-l2a covers"),
        (BEFORE, "2024-06-01/2024-08-31", "input 'after': no scene of sentinel-2-l2a covers"),
        (BEFORE, "2023-04-01/2023-05-31", "the periods share no season"),
        ("2022-06-01", AFTER, "input 'before' must be an interval"),
    ],
)
def test_bad_periods_are_a_clear_400(
    client: httpx.Client, before: str, after: str, says: str
) -> None:
    answer = client.post(
        "/processes/land-cover-change/execution",
        json={"inputs": {"territory": "17300", "before": before, "after": after}},
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    print(f"before {before}, after {after}: 400 {answer.json()['detail']}")
    assert says in answer.json()["detail"]
