"""`coastline` through the gateway over real HTTP, on a platform of its own: `territoires synth`
Sentinel-2 L2A scenes over La Rochelle (1024² at 10 m, a scene each summer 2014–2023, clouds
in SCL), catalogued, a worker, OWSLib as a partner runs it for 17300.

What a partner gets (transects and shorelines as features, the commune's retreat figures, the
vector style by rate, the embed page) against the planted coast's rate, and bad input: a
single date, every scene cloud, an area with no water."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import rasterio
import shapely
from owslib.ogcapi.processes import Processes
from pyproj import Transformer
from shapely.geometry import box, mapping, shape

from territoires.shared.apikeys import Scope
from territoires.shared.settings import Settings
from territoires.synth import generate
from territoires.synth import sentinel2 as synth_sentinel2

from ..stack import (
    catalogue_variant,
    issue_key,
    owslib_client,
    platform_with_worker,
    scenes_platform_settings,
)
from .test_vegetation import executed, follow

SIZE = 1024  # 10 km around La Rochelle
DECADE = "2014-01-01/2023-12-31"
MAX_MEAN_LRR_ERROR = 0.5  # m/yr, the commune's mean against the planted rate
PLATFORM_TIMEOUT_S = 1800
WORKER_START_S = 600

pytestmark = pytest.mark.timeout(PLATFORM_TIMEOUT_S)


@pytest.fixture(scope="module")
def coast_scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("coast-scenes") / "17300"
    generate(
        "17300", folder, size=SIZE, sensors=["s2"], start=date(2014, 1, 1), end=date(2023, 12, 31)
    )
    return folder


@pytest.fixture(scope="module")
def coast_settings(
    empty_database_factory, redis_url: str, coast_scenes: Path, tmp_path_factory
) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("coast"),
        redis_url,
        "coast",
        coast_scenes,
        tmp_path_factory.mktemp("coast-storage"),
    )


@pytest.fixture(scope="module")
def client(coast_settings: Settings, tmp_path_factory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("coast-worker") / "worker.log"
    with platform_with_worker(coast_settings, log, WORKER_START_S) as url:
        key = issue_key(coast_settings, "coast", Scope.EXECUTE)
        with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=300) as http:
            yield http


@pytest.fixture(scope="module")
def rochelle(client: httpx.Client) -> dict[str, Any]:
    """17300 over the decade, run through OWSLib: the results document."""
    processes = owslib_client(Processes, str(client.base_url).rstrip("/"), client.headers)
    assert "coastline" in {p["id"] for p in processes.processes()}
    processes.execute("coastline", {"territory": "17300", "datetime": DECADE}, async_=True)
    location = processes.response_headers["Location"]
    ended = follow(client, location, timeout_s=600)[-1]
    assert ended["status"] == "successful", ended
    return client.get(f"{location}/results").json()


def test_transects_shorelines_and_figures_for_17300(
    client: httpx.Client, rochelle: dict[str, Any], coast_scenes: Path
) -> None:
    planted = json.loads((coast_scenes / "truth.json").read_text())["shoreline"]
    figures = rochelle["figures"]["value"]["17300"]
    transects = client.get(rochelle["coastline"]["href"], params={"limit": 1000}).json()
    shorelines = client.get(rochelle["shorelines"]["href"], params={"limit": 1000}).json()
    rates = [f["properties"]["lrr"] for f in transects["features"]]
    print(
        f"17300 over {DECADE}: {figures['transects']} transects ({figures['coast_length_km']} "
        f"km of coast), {figures['shorelines']} shorelines; mean LRR "
        f"{figures['mean_lrr_m_per_year']} m/yr vs planted {planted['rate_m_per_year']}; "
        f"retreat {figures['retreat_length_km']} km ({figures['retreat_share']:.0%}); "
        f"notes: {figures['notes']}"
    )
    assert figures["transects"] >= 10 and len(rates) >= figures["transects"]
    assert figures["shorelines"] >= 8 and len(shorelines["features"]) == figures["shorelines"]
    assert all(f["geometry"]["type"] == "LineString" for f in transects["features"])
    assert {"nsm_m", "sce_m", "epr_m_per_year", "lrr_r2", "lrr_ci95", "wlr"} <= set(
        transects["features"][0]["properties"]
    )
    truth = planted_rates(coast_scenes, transects["features"])
    errors = np.array([f["properties"]["lrr"] for f in transects["features"]]) - truth
    print(
        f"LRR against the planted lines' on the same transects: median |error| "
        f"{np.nanmedian(np.abs(errors)):.3f} m/yr, mean planted {np.nanmean(truth):.3f} vs mean "
        f"LRR {figures['mean_lrr_m_per_year']} m/yr"
    )
    assert abs(figures["mean_lrr_m_per_year"] - np.nanmean(truth)) <= MAX_MEAN_LRR_ERROR
    assert figures["retreat_share"] >= 0.6  # the whole planted coast retreats

    style = client.get("/tiles/vector/collections/coastline/WebMercatorQuad/style.json").json()
    assert "lrr" in json.dumps(style["layers"])
    legend = client.get("/tiles/legend/coastline").json()
    assert (
        legend["entries"][0]["color"] == "#b2182b" and legend["entries"][-1]["color"] == "#2166ac"
    )
    page = client.get(
        "/embed", params={"territory": "17300", "indicator": "coastline", "lang": "en"}
    )
    assert page.status_code == 200, page.text
    assert '"form": "vector"' in page.text
    assert f"<td>Coast in retreat</td><td>{figures['retreat_length_km']:.1f} km</td>" in page.text


def planted_rates(scenes: Path, features: list[dict[str, Any]]) -> np.ndarray:
    """Each transect's LRR (numpy polyfit) over the planted shorelines of the scenes' dates,
    measured along the transect's own direction (NaN where one does not cross it)."""
    truth = json.loads((scenes / "truth.json").read_text())
    to_utm = Transformer.from_crs("EPSG:4326", truth["crs"], always_xy=True)

    def utm(geometry: dict[str, Any]) -> Any:
        return shapely.transform(
            shape(geometry), lambda xy: np.column_stack(to_utm.transform(*xy.T))
        )

    lines = json.loads((scenes / truth["shoreline"]["lines"]).read_text())["features"]
    by_date = {line["properties"]["date"]: utm(line["geometry"]) for line in lines}
    rates = []
    for feature in features:
        transect = utm(feature["geometry"])
        (x0, y0), (x1, y1) = transect.coords
        direction = np.array([x1 - x0, y1 - y0]) / transect.length
        days = sorted(by_date)
        years, positions = [], []
        for day in days:
            crossing = transect.intersection(by_date[day])
            if crossing.geom_type == "Point":
                years.append(date.fromisoformat(day).toordinal() / 365.2425)
                positions.append(float(np.dot([crossing.x - x0, crossing.y - y0], direction)))
        rates.append(np.polyfit(years, positions, 1)[0] if len(years) >= 3 else np.nan)
    return np.array(rates)


def test_a_single_date_and_all_cloud_are_a_clear_400(
    client: httpx.Client, coast_settings: Settings, coast_scenes: Path
) -> None:
    single = client.post(
        "/processes/coastline/execution",
        json={"inputs": {"territory": "17300", "datetime": "2023-01-01/2023-12-31"}},
    )
    assert single.status_code == 400, single.text
    print(f"single date: 400 {single.json()['detail']}")
    assert "a single date" in single.json()["detail"]

    newest = sorted((coast_scenes / synth_sentinel2.COLLECTION).glob("*/*.json"))[-1]
    catalogue_variant(
        coast_settings,
        newest,
        "s2-all-cloud",
        lambda item, _: item["properties"].update({"eo:cloud_cover": 100.0}),
    )
    cloudy = client.post(
        "/processes/coastline/execution",
        json={"inputs": {"territory": "17300", "datetime": DECADE, "collection": "s2-all-cloud"}},
    )
    assert cloudy.status_code == 400, cloudy.text
    print(f"all cloud: 400 {cloudy.json()['detail']}")
    assert "every scene found in the period is cloud" in cloudy.json()["detail"]


def test_an_area_without_water_is_a_result_saying_why(
    client: httpx.Client, coast_scenes: Path
) -> None:
    """A square inland, at the scene's corner away from the sea."""
    folder = sorted((coast_scenes / synth_sentinel2.COLLECTION).glob("*/B03.tif"))[0]
    with rasterio.open(folder) as band:
        crs, (_, _, right, top) = band.crs, band.bounds
    square = box(right - 3000, top - 3000, right - 500, top - 500)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    corners = [to_lonlat.transform(x, y) for x, y in square.exterior.coords]
    geometry = {"type": "Polygon", "coordinates": [corners]}
    _, results = executed(client, "coastline", {"geometry": geometry, "datetime": DECADE})
    figures = results["figures"]["value"]["area"]
    print(f"inland square {mapping(square)['coordinates'][0][:2]}…: {figures['reason']}")
    assert figures["transects"] == 0 and "coastline" not in results
    assert "no water" in figures["reason"] or "sea–land boundary" in figures["reason"]
