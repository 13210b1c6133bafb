"""`flood-extent` through the gateway, as a partner runs it with OWSLib, scored against the flood
`territoires synth` plants (Sentinel-1 pair over La Rochelle, speckled, truth/flood.tif) with the
shared scoring helper, beside one global Otsu threshold of the same post-event image computed
here with numpy; exposure against the planted imperviousness and population grid; polygons,
tiles and the embed page; the optical member on a flood-day scene painted from a summer one;
and bad input (a post-event scene alone, orbits that do not match, a dry area, an all-cloudy
optical scene, an exposure layer that covers nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from owslib.ogcapi.processes import Processes
from rasterio.features import geometry_mask
from rasterio.warp import Resampling, reproject, transform_geom
from sqlalchemy import select

from territoires.shared.database import create_sync_database
from territoires.shared.models import Territory, TerritoryLevel
from territoires.shared.settings import Settings
from territoires.synth import sentinel1 as synth_sentinel1
from territoires.synth.scoring import score_classes

from ..stack import catalogue, owslib_client
from .test_vegetation import follow
from .test_vegetation_truth import commune_outline

FLOOD_PERIOD = "2023-10-01/2023-11-30"
POST_ONLY = "2023-11-10/2023-11-30"
MIN_FLOOD_IOU = 0.9
MAX_EXPOSURE_ERROR = 0.15
WATER_CLASS = 5  # truth.json land_cover.classes


def truth_of(scenes_dir: Path) -> dict[str, Any]:
    return json.loads((scenes_dir / "truth.json").read_text())["flood"]


def on_truth_grid(href: str, truth: rasterio.DatasetReader) -> np.ndarray:
    found = np.full((truth.height, truth.width), 255, np.uint8)
    with rasterio.open(href) as result:
        reproject(
            rasterio.band(result, 1),
            found,
            src_nodata=result.nodata,
            dst_transform=truth.transform,
            dst_crs=truth.crs,
            dst_nodata=255,
            resampling=Resampling.nearest,
        )
    return found


def global_otsu(values: np.ndarray, bins: int = 500) -> float:
    """Otsu's threshold of all finite values, by brute force over the bin edges."""
    finite = values[np.isfinite(values)].astype(np.float64)
    edges = np.linspace(finite.min(), finite.max(), bins + 1)[1:-1]
    best, chosen = -1.0, float(edges[0])
    for edge in edges:
        low, high = finite[finite < edge], finite[finite >= edge]
        if low.size and high.size:
            between = low.size * high.size * (low.mean() - high.mean()) ** 2
            if between > best:
                best, chosen = between, float(edge)
    return chosen


def f1(iou: float) -> float:
    return 2 * iou / (1 + iou)


def exposure_of(
    flooded: np.ndarray, inside: np.ndarray, scenes_dir: Path, planted: dict[str, Any]
) -> tuple[float, float]:
    """Flooded built-up area (ha) and residents of the `flooded` 10 m cells of the truth grid
    within `inside`: sealed shares summed, each 100 m cell's residents spread over its 100
    cells of 10 m (numpy, from the planted layers)."""
    with rasterio.open(scenes_dir / planted["imperviousness"]) as layer:
        sealed = layer.read(1).astype(np.float64) / 100
    with rasterio.open(scenes_dir / planted["population"]) as layer:
        cells = layer.read(1).astype(np.float64)
        factor = round(layer.res[0] / 10)
    residents = np.kron(cells, np.ones((factor, factor)))[: sealed.shape[0], : sealed.shape[1]]
    chosen = (flooded == 1) & inside
    return float(sealed[chosen].sum() * 0.01), float(residents[chosen].sum() / factor**2)


@pytest.fixture(scope="module")
def flood_run(platform_url: str, api_key: str, worker: Any) -> dict[str, Any]:
    processes = owslib_client(Processes, platform_url, {"X-API-Key": api_key})
    assert "flood-extent" in {p["id"] for p in processes.processes()}
    processes.execute("flood-extent", {"territory": "17300", "datetime": FLOOD_PERIOD}, async_=True)
    location = processes.response_headers["Location"]
    with httpx.Client(timeout=60, headers={"X-API-Key": api_key}) as client:
        ended = follow(client, location)[-1]
        assert ended["status"] == "successful", ended
        return client.get(f"{location}/results").json()


def test_flood_extent_against_the_planted_flood(
    flood_run: dict[str, Any], scenes_dir: Path, platform_settings: Settings
) -> None:
    planted = truth_of(scenes_dir)
    with rasterio.open(scenes_dir / planted["raster"]) as truth_file:
        truth, crs, transform = truth_file.read(1), truth_file.crs, truth_file.transform
        found = on_truth_grid(flood_run["flood-extent"]["href"], truth_file)
    inside = found != 255
    assert inside.sum() > 10_000
    scored = score_classes(found, truth, inside)
    iou = scored.iou[1]

    [post_path] = (scenes_dir / synth_sentinel1.COLLECTION).glob(
        f"*{planted['event_date'].replace('-', '')}/vv.tif"
    )
    with rasterio.open(post_path) as post:
        decibels = post.read(1).astype(np.float64)
    threshold = global_otsu(decibels[inside])
    baseline = score_classes((decibels < threshold).astype(np.uint8), truth, inside)

    figures = flood_run["figures"]["value"]["17300"]
    outline = transform_geom("EPSG:4326", crs, commune_outline(platform_settings.data_dir, "17300"))
    commune = geometry_mask([outline], truth.shape, transform, invert=True)
    built_truth, people_truth = exposure_of(truth, commune & inside, scenes_dir, planted)
    built_found, people_found = exposure_of(found, commune & inside, scenes_dir, planted)
    print(
        f"exposure over 17300: flooded built-up {figures['flooded_built_up_ha']} ha (planted "
        f"{built_truth:.1f} ha, numpy on the result mask {built_found:.1f} ha), exposed "
        f"population {figures['exposed_population']} (planted {people_truth:.0f}, numpy on the "
        f"result mask {people_found:.0f})"
    )
    print(
        f"flood-extent vs planted flood over 17300 ({scored.count} cells, "
        f"{int(truth[inside].sum())} flooded): overall accuracy {scored.accuracy:.4f}, "
        f"kappa {scored.kappa:.3f}, flood IoU (CSI) {iou:.3f}, F1 {f1(iou):.3f}; one global "
        f"Otsu threshold ({threshold:.1f} dB): accuracy {baseline.accuracy:.4f}, IoU "
        f"{baseline.iou.get(1, 0.0):.3f}, F1 {f1(baseline.iou.get(1, 0.0)):.3f}; "
        f"thresholds {figures['thresholds_db']}, flooded {figures['flooded_area_ha']} ha"
    )
    assert figures["members"] == ["split-threshold", "change-detection"]
    assert figures["calibrated"] is True and figures["notes"] == []
    assert figures["flooded_area_ha"] == pytest.approx((found[commune] == 1).sum() * 0.01, rel=0.01)
    assert iou >= MIN_FLOOD_IOU
    assert iou > baseline.iou.get(1, 0.0)
    assert figures["exposure"].startswith("population grid population-grid-")
    assert figures["flooded_built_up_ha"] == pytest.approx(built_found, rel=0.01)
    assert figures["exposed_population"] == pytest.approx(people_found, rel=0.02, abs=2)
    assert figures["flooded_built_up_ha"] == pytest.approx(built_truth, rel=MAX_EXPOSURE_ERROR)
    assert figures["exposed_population"] == pytest.approx(people_truth, rel=MAX_EXPOSURE_ERROR)


def test_flood_tiles_polygons_and_embed_page(
    flood_run: dict[str, Any], platform_url: str, api_key: str
) -> None:
    figures = flood_run["figures"]["value"]["17300"]
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as http:
        tilejson = http.get(flood_run["flood-extent-tiles"]["href"]).json()
        lon, lat = tilejson["center"][:2]
        tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, tilejson["minzoom"] + 2)
        png = http.get(tilejson["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y))
        assert png.status_code == 200 and png.headers["content-type"].startswith("image/")
        legend = http.get("/tiles/legend/flood-extent").json()
        assert "#1f78b4" in json.dumps(legend)
        polygons = http.get(f"{flood_run['flood-polygons']['href']}&limit=1000").json()
        page = http.get(
            "/embed", params={"territory": "17300", "indicator": "flood-extent", "lang": "en"}
        )
    areas = [f["properties"]["area_ha"] for f in polygons["features"]]
    print(
        f"{len(areas)} flood polygons over 17300: {sum(areas):.1f} ha of "
        f"{figures['flooded_area_ha']} ha flooded"
    )
    assert len(areas) == figures["flood_polygons"] > 0
    assert min(areas) >= 0.5 and sum(areas) <= figures["flooded_area_ha"] + 0.01
    assert sum(areas) > 0.9 * figures["flooded_area_ha"]
    assert page.status_code == 200, page.text
    assert f"<td>Flooded area</td><td>{figures['flooded_area_ha']:.1f} ha</td>" in page.text
    assert f"<td>Exposed population</td><td>{figures['exposed_population']:,d}</td>" in page.text


def test_a_post_event_scene_alone_is_a_degraded_result_that_says_why(
    platform_url: str,
    api_key: str,
    worker: Any,
    scenes_dir: Path,
    platform_settings: Settings,
) -> None:
    """Also the census fallback: the commune's population times the flooded share of its
    built-up land, recomputed here from the result mask and the planted built-up layer."""
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=120) as http:
        answer = http.post(
            "/processes/flood-extent/execution",
            json={
                "inputs": {"territory": "17300", "datetime": POST_ONLY, "population": "territory"}
            },
        )
    assert answer.status_code == 200, answer.text
    figures = answer.json()["figures"]["value"]["17300"]
    assert figures["members"] == ["split-threshold"] and figures["pre_event"] is None
    assert any("no pre-event acquisition" in note for note in figures["notes"])

    planted = truth_of(scenes_dir)
    with rasterio.open(scenes_dir / planted["imperviousness"]) as layer:
        sealed = layer.read(1).astype(np.float64) / 100
        found = on_truth_grid(answer.json()["flood-extent"]["href"], layer)
        outline = transform_geom(
            "EPSG:4326", layer.crs, commune_outline(platform_settings.data_dir, "17300")
        )
        commune = geometry_mask([outline], sealed.shape, layer.transform, invert=True)
    census = census_population(platform_settings, "17300")
    share = sealed[commune & (found == 1)].sum() / sealed[commune & (found != 255)].sum()
    print(
        f"census fallback over 17300: {figures['exposed_population']} exposed = {census} x "
        f"{share:.4f} flooded share of the built-up land ({figures['exposure']})"
    )
    assert figures["exposure"].startswith(f"census population ({census})")
    assert figures["exposed_population"] == pytest.approx(census * share, rel=0.02)


def dry_square(scenes_dir: Path, side: int = 200) -> dict[str, Any]:
    """A square of `side` pixels with no water and no flood in the planted truth, as a GeoJSON
    polygon in longitude/latitude."""
    planted = truth_of(scenes_dir)
    with rasterio.open(scenes_dir / "truth" / "land_cover.tif") as cover:
        wet = cover.read(1) == WATER_CLASS
        crs, transform = cover.crs, cover.transform
    with rasterio.open(scenes_dir / planted["raster"]) as flood:
        wet |= flood.read(1) == 1
    for row in range(0, wet.shape[0] - side + 1, 16):
        for col in range(0, wet.shape[1] - side + 1, 16):
            if not wet[row : row + side, col : col + side].any():
                left, top = transform * (col, row)
                right, bottom = transform * (col + side, row + side)
                ring = [(left, top), (right, top), (right, bottom), (left, bottom), (left, top)]
                return transform_geom(crs, "EPSG:4326", {"type": "Polygon", "coordinates": [ring]})
    raise AssertionError("the synthetic scene has no dry square")


def test_an_area_without_water_is_a_result_that_says_why(
    platform_url: str, api_key: str, worker: Any, scenes_dir: Path
) -> None:
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=120) as http:
        answer = http.post(
            "/processes/flood-extent/execution",
            json={"inputs": {"geometry": dry_square(scenes_dir), "datetime": FLOOD_PERIOD}},
        )
    assert answer.status_code == 200, answer.text
    [figures] = answer.json()["figures"]["value"].values()
    print(f"dry 2 × 2 km square: {figures['flooded_area_ha']} ha flooded, notes {figures['notes']}")
    assert figures["flooded_area_ha"] == 0
    assert any("no open water is seen" in note for note in figures["notes"])
    assert any("no backscatter drop is seen" in note for note in figures["notes"])


def census_population(settings: Settings, code: str) -> int:
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        population = connection.scalar(
            select(Territory.population).where(
                Territory.level == TerritoryLevel.COMMUNE, Territory.code == code
            )
        )
    engine.dispose()
    return int(population)


def test_an_exposure_layer_that_covers_nothing_is_a_clear_400(
    platform_url: str, api_key: str, worker: Any
) -> None:
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as http:
        answer = http.post(
            "/processes/flood-extent/execution",
            json={
                "inputs": {
                    "territory": "17300",
                    "datetime": FLOOD_PERIOD,
                    "population": "no-such-population-grid",
                }
            },
        )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "no item of collection 'no-such-population-grid'" in answer.json()["detail"]


def catalogue_mixed_orbits(settings: Settings, scenes_dir: Path, collection: str) -> None:
    """The synthetic pair in a collection of its own, the pre-event scene on another orbit."""
    items = []
    for number, path in enumerate(
        sorted((scenes_dir / synth_sentinel1.COLLECTION).glob("*/*.json"))
    ):
        item = json.loads(path.read_text())
        for asset in item["assets"].values():
            asset["href"] = str((path.parent / asset["href"]).resolve())
        item |= {"collection": collection, "links": []}
        if number == 0:  # the older, pre-event acquisition
            item["properties"]["sat:relative_orbit"] = 132
            item["properties"]["sat:orbit_state"] = "descending"
        items.append(item)
    catalogue(settings, collection, items)


def catalogue_flood_day_optical(
    settings: Settings, scenes_dir: Path, collection: str, cloudy_columns: float
) -> str:
    """A Sentinel-2 item on the post-event date made from the first synthetic summer scene:
    the planted flood and the permanent water painted as open water (green 0.05, SWIR1 0.005
    reflectance), clear (SCL 4) but for clouds (SCL 9) over the first `cloudy_columns` share
    of columns.
    Returns its id."""
    planted = truth_of(scenes_dir)
    template_path = sorted((scenes_dir / "sentinel-2-l2a").glob("*/*.json"))[0]
    item = json.loads(template_path.read_text())
    with rasterio.open(scenes_dir / "truth" / "land_cover.tif") as cover:
        water = cover.read(1) == WATER_CLASS
    with rasterio.open(scenes_dir / planted["raster"]) as flood:
        water |= flood.read(1) == 1
    coarse = water.reshape(water.shape[0] // 2, 2, water.shape[1] // 2, 2).mean(axis=(1, 3))
    folder = scenes_dir / collection / item["id"]
    folder.mkdir(parents=True)
    painted = {"B03": (water, 500), "B11": (coarse >= 0.5, 50)}
    for key in ("B03", "B11", "SCL"):
        with rasterio.open(template_path.parent / item["assets"][key]["href"]) as source:
            profile, values = source.profile, source.read(1)
        if key == "SCL":
            values[:] = 4  # vegetation: clear
            values[:, : int(values.shape[1] * cloudy_columns)] = 9
        else:
            mask, digital_number = painted[key]
            values[mask] = digital_number
        with rasterio.open(folder / f"{key}.tif", "w", **(profile | {"driver": "GTiff"})) as out:
            out.write(values, 1)
    item |= {"id": f"{collection}-{planted['event_date']}", "collection": collection, "links": []}
    item["assets"] = {
        key: item["assets"][key] | {"href": str(folder / f"{key}.tif")}
        for key in ("B03", "B11", "SCL")
    }
    item["properties"]["datetime"] = f"{planted['event_date']}T11:00:00Z"
    catalogue(settings, collection, [item])
    return item["id"]


def run_with_optical(platform_url: str, api_key: str, collection: str) -> dict[str, Any]:
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=300) as http:
        answer = http.post(
            "/processes/flood-extent/execution",
            json={
                "inputs": {"territory": "17300", "datetime": FLOOD_PERIOD, "optical": collection}
            },
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_optical_member_votes_where_the_sky_is_clear(
    platform_url: str, api_key: str, worker: Any, scenes_dir: Path, platform_settings: Settings
) -> None:
    scene = catalogue_flood_day_optical(platform_settings, scenes_dir, "s2-flood-day", 0.5)
    result = run_with_optical(platform_url, api_key, "s2-flood-day")
    figures = result["figures"]["value"]["17300"]
    planted = truth_of(scenes_dir)
    with rasterio.open(scenes_dir / planted["raster"]) as truth_file:
        truth = truth_file.read(1)
        found = on_truth_grid(result["flood-extent"]["href"], truth_file)
        agreement = on_truth_grid(result["flood-agreement"]["href"], truth_file)
    inside = found != 255
    iou = score_classes(found, truth, inside).iou[1]
    clear_half = np.zeros(truth.shape, np.bool_)
    clear_half[:, truth.shape[1] // 2 :] = True
    print(
        f"with the optical member ({scene}, half clouded): flood IoU {iou:.3f}; agreement "
        f"values in the clear half {sorted(np.unique(agreement[clear_half & inside]))}, in the "
        f"clouded half {sorted(np.unique(agreement[~clear_half & inside]))}"
    )
    assert figures["members"] == ["split-threshold", "change-detection", "optical-mndwi"]
    assert figures["optical_scene"] == scene
    assert iou >= MIN_FLOOD_IOU
    # Three members vote where it is clear (thirds), two under the clouds (halves).
    assert set(np.unique(agreement[clear_half & inside])) <= {0, 33, 66, 100}
    assert set(np.unique(agreement[~clear_half & inside])) <= {0, 50, 100}


def test_an_all_cloudy_optical_scene_is_left_out_and_the_result_says_why(
    platform_url: str, api_key: str, worker: Any, scenes_dir: Path, platform_settings: Settings
) -> None:
    catalogue_flood_day_optical(platform_settings, scenes_dir, "s2-flood-day-cloudy", 1.0)
    figures = run_with_optical(platform_url, api_key, "s2-flood-day-cloudy")["figures"]["value"]
    notes = figures["17300"]["notes"]
    print(f"all-cloudy optical scene: members {figures['17300']['members']}, notes {notes}")
    assert figures["17300"]["members"] == ["split-threshold", "change-detection"]
    assert any("the optical member did not vote" in note for note in notes)


def test_mismatched_orbits_are_a_clear_400(
    platform_url: str, api_key: str, platform_settings: Settings, scenes_dir: Path
) -> None:
    catalogue_mixed_orbits(platform_settings, scenes_dir, "s1-mixed-orbits")
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as http:
        answer = http.post(
            "/processes/flood-extent/execution",
            json={
                "inputs": {
                    "territory": "17300",
                    "datetime": FLOOD_PERIOD,
                    "collection": "s1-mixed-orbits",
                }
            },
        )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "other orbits (descending 132)" in answer.json()["detail"]
