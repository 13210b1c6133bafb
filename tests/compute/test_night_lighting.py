"""`night-lighting` over Charente-Maritime: Black Marble files written by `territoires synth`'s
national mode (four years, monthly, and La Réunion's; two months of both daily products over
La Rochelle) and one
crafted with h5py to the published layout are ingested; a job through the gateway splits by
years, its combine step classifies, and the classes and start months are scored against the
planted truth; bad requests are 4xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import h5py
import httpx
import morecantile
import numpy as np
import pytest
import shapely
import shapely.geometry
from sqlalchemy import text

from territoires.catalog.ingest.blackmarble import convert_granule, granule_item
from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.compute.app import create_app as create_compute
from territoires.compute.blackmarble import Granule, monthly_series
from territoires.compute.lighting import CLASSES
from territoires.compute.sources import Scene, Zone
from territoires.shared.apikeys import Scope
from territoires.shared.assets import AssetGuard
from territoires.shared.database import create_sync_database
from territoires.shared.geography import load_national, read_national
from territoires.shared.indicators import NIGHT_LIGHTING_FIGURES
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.synth.blackmarble import TRUTH_FILE, generate_night_lights, read_truth
from territoires.synth.scoring import score_classes

from ..conftest import KIT, RUN_ID
from ..servers import serve
from ..stack import gateway_over, issue_key, start_worker, stop_worker, wait_for_worker
from .test_vegetation import follow

TERRITORIES = KIT / "data" / "territories"
PERIOD = "2014-01-01/2017-12-31"
LA_ROCHELLE = "17300"
LA_ROCHELLE_AGGLOMERATION = "241700434"  # 28 communes
LA_REUNION = "974"  # the one département of région 04
DAILY_PERIOD = "2018-01-01/2018-02-28"


@pytest.fixture(scope="module")
def night_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("night-lights")
    generate_night_lights(folder, TERRITORIES, ["17"], date(2014, 1, 1), date(2017, 12, 31), 3)
    generate_night_lights(
        folder / LA_REUNION, TERRITORIES, [LA_REUNION], date(2014, 1, 1), date(2017, 12, 31), 3
    )
    generate_night_lights(
        folder / "daily",
        TERRITORIES,
        ["17"],
        date(2018, 1, 1),
        date(2018, 2, 28),
        3,
        products=("VNP46A2", "VJ146A2"),
        communes=[LA_ROCHELLE],
    )
    return folder


@pytest.fixture(scope="module")
def night_platform(
    empty_database_factory, redis_url: str, night_files: Path, tmp_path_factory
) -> Iterator[tuple[str, Settings]]:
    """Charente-Maritime of 2026, the files catalogued, a worker, the gateway."""
    url = empty_database_factory("night")
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix=f"territoires-test-{RUN_ID}-night",
        storage_url=str(tmp_path_factory.mktemp("night-storage")),
        asset_prefixes=[str(night_files)],
    )
    upgrade(url)
    engine = create_sync_database(url)
    load_national(engine, read_national(TERRITORIES, ["17", LA_REUNION]))
    report = ingest(engine, find_inputs([night_files], IngestOptions()), IngestOptions())
    engine.dispose()
    assert not report.problems, report.problems
    assert report.inserted == len(list(night_files.rglob("*.h5")))
    log = tmp_path_factory.mktemp("night-worker") / "worker.log"
    worker = start_worker(settings, log)
    try:
        wait_for_worker(settings, worker, log)
        with (
            serve(create_compute(settings)) as compute_url,
            gateway_over(settings, compute_url) as gateway,
        ):
            yield gateway, settings
    finally:
        stop_worker(worker)


@pytest.fixture(scope="module")
def client(night_platform: tuple[str, Settings]) -> Iterator[httpx.Client]:
    url, settings = night_platform
    key = issue_key(settings, "night", Scope.EXECUTE)
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as http:
        yield http


def run_job(http: httpx.Client, inputs: dict[str, Any]) -> dict[str, Any]:
    accepted = http.post(
        "/processes/night-lighting/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    ended = follow(http, accepted.headers["Location"], timeout_s=280)[-1]
    assert ended["status"] == "successful", ended
    return http.get(f"{accepted.headers['Location']}/results").json()


def test_departement_17_recovers_the_planted_classes_and_start_months(
    client: httpx.Client, night_files: Path
) -> None:
    results = run_job(client, {"territory": "17", "datetime": PERIOD})
    truth = read_truth(night_files / TRUTH_FILE)
    figures = results["figures"]["value"]
    assert set(figures) == set(truth)
    codes = sorted(truth)
    planted = np.array([CLASSES.index(truth[c]["class"]) for c in codes])
    found = np.array([figures[c]["class_code"] for c in codes])
    classes = score_classes(found, planted)
    changed = [c for c in codes if truth[c]["start"]]
    on_time = sum(
        figures[c]["class"] == truth[c]["class"] and figures[c]["start_month"] == truth[c]["start"]
        for c in changed
    )
    print(
        f"night-lighting over 17: class accuracy {classes.accuracy:.3f} (kappa "
        f"{classes.kappa:.3f}) of {len(codes)} communes; start month exact for "
        f"{on_time}/{len(changed)} that changed"
    )
    assert classes.accuracy >= 0.95
    assert on_time / len(changed) >= 0.90
    for code in (c for c in codes if truth[c]["class"] == "undetermined"):
        assert figures[code]["reason"].startswith("no lit cell"), figures[code]

    counts = results["counts"]["value"]
    assert counts["departement"]["17"]["communes"] == len(codes)
    assert sum(counts["departement"]["17"]["classes"].values()) == len(codes)
    assert counts["region"]["75"]["communes"] == len(codes)
    assert sum(sum(v.values()) for v in counts["national"]["FR"]["by_population"].values()) == len(
        codes
    )

    features = client.get(results["night-lighting"]["href"], params={"limit": 1000}).json()
    assert len(features["features"]) == len(codes)
    one = next(f for f in features["features"] if f["properties"]["code"] == LA_ROCHELLE)
    assert one["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert one["properties"]["class"] == truth[LA_ROCHELLE]["class"]

    job_id = results["night-lighting"]["href"].rsplit("job_id=", 1)[-1]
    vector = "/tiles/vector/collections/night-lighting/WebMercatorQuad"
    tilejson = client.get(f"{vector}/tilejson.json", params={"job_id": job_id})
    assert tilejson.status_code == 200, tilejson.text
    x, y = shapely.geometry.shape(one["geometry"]).representative_point().coords[0]
    tile = morecantile.tms.get("WebMercatorQuad").tile(x, y, 10)
    drawn = client.get(tilejson.json()["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y))
    assert drawn.status_code == 200 and len(drawn.content) > 100
    style = client.get(f"{vector}/style.json").json()
    fill = next(layer for layer in style["layers"] if layer["type"] == "fill")
    assert fill["paint"]["fill-color"][0] == "match"  # one colour per class

    rows = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": "17", "indicator": "night-lighting", "limit": 10},
    ).json()["features"]
    assert rows and rows[0]["properties"]["figures"]["communes"] == len(codes)
    series = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": LA_ROCHELLE, "indicator": "night-radiance", "limit": 100},
    ).json()["features"]
    assert len(series) == 48 and all(r["properties"]["figures"]["lit_cells"] for r in series)
    csv = client.get(
        "/features/collections/indicator-statistics/items",
        params={"territory_code": LA_ROCHELLE, "indicator": "night-radiance", "f": "csv"},
    )
    assert csv.status_code == 200 and "radiance" in csv.text


def test_a_region_overseas_recovers_its_planted_classes(
    client: httpx.Client, night_files: Path
) -> None:
    """La Réunion (région 04, tile h23v11): a région's job over its communes overseas."""
    results = run_job(client, {"territory": "region:04", "datetime": PERIOD})
    truth = read_truth(night_files / LA_REUNION / TRUTH_FILE)
    figures = results["figures"]["value"]
    assert set(figures) == set(truth)
    right = sum(figures[c]["class"] == truth[c]["class"] for c in truth)
    print(f"night-lighting over région 04: class recovered for {right}/{len(truth)} communes")
    assert right / len(truth) >= 0.95
    assert results["counts"]["value"]["region"]["04"]["communes"] == len(truth)


def test_an_update_reads_only_the_months_not_filed_yet(
    client: httpx.Client, night_platform: tuple[str, Settings]
) -> None:
    """A month's rows gone (as when a new month's files arrive): `update` reads that month's
    files alone and classifies every commune as the full run did."""
    inputs = {"territory": LA_ROCHELLE_AGGLOMERATION, "datetime": PERIOD}
    full = run_job(client, inputs)["figures"]["value"]
    engine = create_sync_database(night_platform[1])
    with engine.begin() as connection:
        removed = connection.execute(
            text(
                "DELETE FROM indicator_statistics WHERE indicator = 'night-radiance' "
                "AND period_start = '2017-12-01' AND territory_code = ANY(:codes)"
            ),
            {"codes": list(full)},
        ).rowcount
    assert removed == len(full)
    began = time.monotonic()
    updated = run_job(client, inputs | {"update": True})["figures"]["value"]
    print(f"update of {len(full)} communes by one month: {time.monotonic() - began:.1f} s")
    assert {c: f["class"] for c, f in updated.items()} == {c: f["class"] for c, f in full.items()}
    assert {c: f["start_month"] for c, f in updated.items()} == {
        c: f["start_month"] for c, f in full.items()
    }
    with engine.connect() as connection:
        back = connection.scalar(
            text(
                "SELECT count(*) FROM indicator_statistics WHERE indicator = 'night-radiance' "
                "AND period_start = '2017-12-01' AND territory_code = ANY(:codes)"
            ),
            {"codes": list(full)},
        )
    engine.dispose()
    assert back == len(full)


def test_a_commune_alone_runs_whole_and_shows_on_its_embed_page(client: httpx.Client) -> None:
    results = run_job(client, {"territory": LA_ROCHELLE, "datetime": "2016-01-01/2016-12-31"})
    figure = results["figures"]["value"][LA_ROCHELLE]
    assert figure["class"] in CLASSES and figure["lit_cells"] > 10
    params = {"territory": LA_ROCHELLE, "indicator": "night-lighting", "lang": "en"}
    page = client.get("/embed", params=params)
    assert page.status_code == 200, page.text
    # The newest period's row shows (the département's job over 2014–2017 when it ran first),
    # its class in words.
    words = {code: en for code, en, _ in NIGHT_LIGHTING_FIGURES[0].choices}
    assert set(words) == set(CLASSES)
    shown = [c for c in CLASSES if f"<td>Lighting practice</td><td>{words[c]}</td>" in page.text]
    assert len(shown) == 1, page.text
    assert "<td>Confidence</td>" in page.text


def test_daily_jobs_of_both_satellites_read_the_reference_one_night_a_week(
    client: httpx.Client, night_platform: tuple[str, Settings]
) -> None:
    """Two months of VNP46A2 and VJ146A2 nights over La Rochelle through the gateway: each job
    reads its reference year one night a week, files the median of the good nights per month,
    and the Suomi NPP job says where the NOAA-20 pass stands (nothing to bracket here)."""
    earlier = run_job(
        client, {"territory": LA_ROCHELLE, "datetime": DAILY_PERIOD, "product": "VJ146A2"}
    )
    later = run_job(
        client, {"territory": LA_ROCHELLE, "datetime": DAILY_PERIOD, "product": "VNP46A2"}
    )
    for results in (earlier, later):
        figure = results["figures"]["value"][LA_ROCHELLE]
        assert figure["lit_cells"] > 10
        assert figure["class"] == "unchanged"  # two months hold no change point
    assert "switch_off" in later["figures"]["value"][LA_ROCHELLE]
    engine = create_sync_database(night_platform[1])
    with engine.connect() as connection:
        references = connection.execute(
            text(
                "SELECT inputs->>'product', jsonb_array_length(inputs->'reference') FROM jobs "
                "WHERE process_id = 'night-lighting' AND inputs->>'product' LIKE 'V%46A2'"
            )
        ).all()
        good = connection.execute(
            text(
                "SELECT indicator, (figures->>'good')::int FROM indicator_statistics "
                "WHERE indicator LIKE 'night-radiance-v%46a2' AND territory_code = :code"
            ),
            {"code": LA_ROCHELLE},
        ).all()
    engine.dispose()
    # Files of 1, 8, 15, 22 and 29 January and of 5, 12, 19 and 26 February (of 59 nights).
    assert sorted(references) == [("VJ146A2", 9), ("VNP46A2", 9)]
    assert len(good) == 4  # two products × two months
    assert all(5 <= nights <= 29 for _, nights in good)


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"territory": "17", "datetime": "2030-01-01/2030-12-31"}, "no scene of vnp46a3"),
        ({"territory": "17", "datetime": PERIOD, "reference_year": 2019}, "reference year"),
        ({"territory": "17", "datetime": PERIOD, "product": "VNP46A1"}, "product"),
        ({"territory": "17", "datetime": PERIOD, "product": ["VNP46A3"]}, "product"),
        ({"territory": "17", "datetime": PERIOD, "reference_year": "2014"}, "reference_year"),
        ({"geometry": {"type": "Point", "coordinates": [0, 46]}, "datetime": PERIOD}, "territory"),
    ],
)
def test_bad_requests_are_problems(
    client: httpx.Client, inputs: dict[str, Any], expected: str
) -> None:
    answer = client.post("/processes/night-lighting/execution", json={"inputs": inputs})
    assert answer.status_code == 400, answer.text
    assert expected in answer.json()["detail"]


def crafted_file(folder: Path, scale: float = 0.1) -> Path:
    """A VNP46A2 tile written with h5py alone, as NASA publishes it: La Rochelle's cells at
    20.0 nW in counts of 0.1, except a fill, a poor-quality, a cloudy and a snowy night's."""
    path = folder / "VNP46A2.A2020032.h17v04.001.2020045000000.h5"
    west, north = -10.0, 50.0
    with h5py.File(path, "w") as file:
        for key, value in {
            "WestBoundingCoord": west,
            "EastBoundingCoord": 0.0,
            "NorthBoundingCoord": north,
            "SouthBoundingCoord": 40.0,
        }.items():
            file.attrs[key] = np.float64(value)
        fields = file.create_group("HDFEOS/GRIDS/VNP_Grid_DNB/Data Fields")
        radiance = np.full((2400, 2400), 3, np.uint16)  # 0.3 nW of dark land
        radiance[918:924, 2124:2130] = 200  # 46.150–46.175°N, 1.150–1.125°W
        quality = np.zeros((2400, 2400), np.uint8)
        cloud = np.zeros((2400, 2400), np.uint16)
        snow = np.zeros((2400, 2400), np.uint8)
        radiance[918, 2124] = 65535  # fill
        radiance[919, 2125], quality[919, 2125] = 60000, 2  # poor quality: an outlier
        radiance[920, 2126], cloud[920, 2126] = 60000, 3 << 6  # confidently cloudy
        radiance[921, 2127], snow[921, 2127] = 60000, 1  # snow
        layers = {
            "DNB_BRDF-Corrected_NTL": (radiance, 65535, scale),
            "Gap_Filled_DNB_BRDF-Corrected_NTL": (radiance, 65535, scale),
            "Mandatory_Quality_Flag": (quality, 255, 1.0),
            "QF_Cloud_Mask": (cloud, 65535, 1.0),
            "Snow_Flag": (snow, 255, 1.0),
        }
        for name, (data, fill, factor) in layers.items():
            dataset = fields.create_dataset(name, data=data, compression="gzip")
            dataset.attrs["_FillValue"] = np.array(fill, data.dtype)
            dataset.attrs["scale_factor"] = np.float64(factor)
            dataset.attrs["add_offset"] = np.float64(0.0)
    return path


def test_a_file_crafted_with_h5py_is_ingested_and_read_with_its_flags(tmp_path: Path) -> None:
    path = crafted_file(tmp_path)
    assert not convert_granule(path).problems
    item = granule_item(path)
    assert item["collection"] == "vnp46a2" and item["properties"]["platform"] == "suomi-npp"
    assert item["properties"]["blackmarble:tile"] == "h17v04"
    assert item["bbox"] == [-10.0, 40.0, 0.0, 50.0]
    assert item["properties"]["start_datetime"] == "2020-02-01T00:00:00Z"

    when = datetime(2020, 2, 1, tzinfo=UTC)
    granule = Granule.of(Scene(item["collection"], item["id"], when, item))
    zone = Zone(shapely.box(-1.1495, 46.1505, -1.1255, 46.1745), code=LA_ROCHELLE)
    series = monthly_series(
        [zone], [granule], [granule], [date(2020, 2, 1)], AssetGuard.of([str(tmp_path)])
    )
    assert series.lit_cells[0] == 32  # 6×6 bright cells less the four rejected
    assert series.radiance[0, 0] == pytest.approx(20.0)  # fill and rejected nights left out
    assert series.good[0, 0] == 1


def test_a_file_whose_layers_say_another_scale_is_refused(tmp_path: Path) -> None:
    problems = convert_granule(crafted_file(tmp_path, scale=1.0)).problems
    assert problems and "scale 1.0" in problems[0].reason


def test_daily_files_of_both_satellites_make_monthly_medians_of_good_nights(
    tmp_path: Path,
) -> None:
    """VNP46A2 (Suomi NPP, ~01:30) and VJ146A2 (NOAA-20, ~00:40) nights written by the
    generator: ingested, cloudy, snowy and missing cells left out, the month the median of the
    nights with enough of the commune's lit cells seen."""
    generate_night_lights(
        tmp_path,
        TERRITORIES,
        ["17"],
        date(2020, 1, 1),
        date(2020, 1, 31),
        5,
        products=("VNP46A2", "VJ146A2"),
        communes=[LA_ROCHELLE],
    )
    zones = [
        Zone(
            shapely.union_all([shapely.from_geojson(g) for _, c, g in outlines if c == code]),
            code=code,
        )
        for code in [LA_ROCHELLE]
        for outlines in [read_national(TERRITORIES, ["17"]).outlines]
    ]
    guard = AssetGuard.of([str(tmp_path)])
    for product, platform in (("vnp46a2", "suomi-npp"), ("vj146a2", "noaa-20")):
        paths = sorted(tmp_path.glob(f"{product.upper()}.*.h5"))
        assert len(paths) == 31
        assert not any(convert_granule(path).problems for path in paths)
        items = [granule_item(path) for path in paths]
        assert {item["properties"]["platform"] for item in items} == {platform}
        granules = [
            Granule.of(
                Scene(product, i["id"], datetime.fromisoformat(i["properties"]["datetime"]), i)
            )
            for i in items
        ]
        series = monthly_series(zones, granules, granules, [date(2020, 1, 1)], guard)
        assert series.lit_cells[0] > 50
        assert 5 <= series.good[0, 0] < 31  # cloudy nights of January left out
        assert 5.0 < series.radiance[0, 0] < 60.0
