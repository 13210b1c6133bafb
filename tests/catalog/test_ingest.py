"""`territoires ingest` on real scenes, STAC JSON in every shape, bad inputs and the command."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import typer
from rasterio.transform import from_origin
from shapely.geometry import box, shape
from sqlalchemy import Engine, text
from typer.testing import CliRunner
from validate import format_error, validate_document

from territoires.catalog.ingest import loader
from territoires.catalog.ingest.bands import split_band
from territoires.catalog.ingest.loader import IngestOptions, IngestReport, find_inputs, ingest
from territoires.cli.ingest import ingest_command
from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings, get_settings

from ..conftest import KIT

SCENES = KIT / "data" / "scenes"
LANDSAT = "LC08_L1TP_016037_20170813_20170814_01_RT"


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_sync_database(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def collection() -> str:
    """A collection of this test's own: the test database is shared by the whole suite."""
    return f"ingest-{uuid.uuid4().hex[:8]}"


def run(engine: Engine, *paths: Path, **options: Any) -> IngestReport:
    chosen = IngestOptions(**options)
    return ingest(engine, find_inputs(paths, chosen), chosen)


def stored(engine: Engine, collection: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, content FROM items WHERE collection_id = :c"), {"c": collection}
        )
        return {row.id: row.content for row in rows}


def stac_item(identifier: str, collection: str | None, lon: float = -1.15, **extra: Any) -> dict:
    ring = [[lon, 46.1], [lon + 0.1, 46.1], [lon + 0.1, 46.2], [lon, 46.2], [lon, 46.1]]
    document = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": identifier,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"datetime": "2024-06-01T10:30:00Z"},
        "links": [],
        "assets": {"B04": {"href": f"{identifier}/B04.tif", "type": "image/tiff"}},
    }
    if collection:
        document["collection"] = collection
    return document | extra


def served(item: dict[str, Any]) -> dict[str, Any]:
    """The item as the API serves it: stored content plus its derived links."""
    link = {"rel": "collection", "href": f"http://localhost/collections/{item['collection']}"}
    return item | {"links": [*item["links"], link]}


def assert_valid(document: dict[str, Any], schema: str) -> None:
    errors = [format_error(error) for error in validate_document(document, schema)]
    assert not errors, errors


def write_geotiff(
    path: Path, nodata: float | None = None, when: str | None = None, pixel: int = 10
) -> None:
    """A 640 m Lambert-93 square near La Rochelle whose lower-left triangle is fill (0)."""
    side = 640 // pixel
    values = np.full((side, side), 1200, dtype=np.uint16)
    values[np.tril_indices(side, k=-side // 4)] = 0
    profile = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:2154",
        "transform": from_origin(380_000, 6_570_000, pixel, pixel),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values, 1)
        if when:
            dataset.update_tags(TIFFTAG_DATETIME=when)


@pytest.mark.parametrize(
    ("stem", "folder", "expected"),
    [
        (f"{LANDSAT}_B4", "x", (LANDSAT, "B4")),
        (f"{LANDSAT}_BQA", "x", (LANDSAT, "BQA")),
        (
            "LC09_L2SP_199027_20230712_02_T1_SR_B5",
            "x",
            ("LC09_L2SP_199027_20230712_02_T1", "SR_B5"),
        ),
        ("S2_19UDP_20170729_L2A_B8A", "x", ("S2_19UDP_20170729_L2A", "B8A")),
        ("S1A_IW_GRDH_20180716_vv", "x", ("S1A_IW_GRDH_20180716", "vv")),
        ("B04", "S2B_20220130", ("S2B_20220130", "B04")),
        ("ndvi_20240601", "x", ("ndvi_20240601", None)),
        ("B4", "scene", ("scene", "B4")),
    ],
)
def test_band_files_are_grouped_by_scene(stem: str, folder: str, expected: tuple) -> None:
    assert split_band(stem, folder) == expected


def test_real_landsat_sentinel2_sentinel1_scenes(engine: Engine, collection: str) -> None:
    report = run(engine, SCENES, collection=collection)

    assert report.problems == []
    assert (report.inserted, report.updated) == (3, 0)
    assert [skip.where for skip in report.skipped] == [str(SCENES / "sentinel1/productInfo.json")]
    items = stored(engine, collection)
    assert sorted(items) == [LANDSAT, "S1A_IW_GRDH_20180716", "S2_19UDP_20170729_L2A"]
    for item in items.values():
        assert_valid(served(item), "stac-1.0:item")
        for asset in item["assets"].values():
            assert Path(asset["href"]).is_absolute() and Path(asset["href"]).is_file()

    landsat = items[LANDSAT]
    bands = ["B2", "B3", "B4", "B5", "B6", "B7", "B10", "B11", "BQA"]
    assert list(landsat["assets"]) == [*bands, "MTL"]
    footprint = shape(landsat["geometry"])
    assert footprint.is_valid and footprint.area < 0.8 * box(*landsat["bbox"]).area
    assert footprint.within(box(-81.5, 32, -78.5, 34.5))
    properties = landsat["properties"]
    assert properties["datetime"] == "2017-08-13T00:00:00Z"
    assert properties["platform"] == "landsat-8"
    assert properties["proj:epsg"] == 32617
    assert properties["proj:shape"] == [259, 255]
    assert properties["proj:transform"] == [900, 0, 471585, 0, -900, 3787515]
    assert properties["proj:bbox"] == [471585, 3554415, 701085, 3787515]
    red = landsat["assets"]["B4"]
    assert red["raster:bands"] == [
        {
            "data_type": "uint16",
            "sampling": "point",
            "spatial_resolution": 900,
            "scale": 2e-05,
            "offset": -0.1,
        }
    ]
    assert red["eo:bands"][0]["common_name"] == "red"
    assert "eo:bands" not in landsat["assets"]["BQA"]

    sentinel2 = items["S2_19UDP_20170729_L2A"]
    assert len(sentinel2["assets"]) == 8
    assert sentinel2["assets"]["B8A"]["eo:bands"][0]["common_name"] == "nir08"
    assert sentinel2["properties"]["proj:epsg"] == 32619
    assert sentinel2["assets"]["B02"]["type"].endswith("profile=cloud-optimized")

    # Georeferenced by GCPs only: placed through them, with no projection to state.
    sentinel1 = items["S1A_IW_GRDH_20180716"]
    assert sentinel1["properties"]["sar:polarizations"] == ["VH", "VV"]
    assert sentinel1["properties"]["sar:instrument_mode"] == "IW"
    assert "proj:epsg" not in sentinel1["properties"]
    assert shape(sentinel1["geometry"]).within(box(75.5, 9.1, 78.3, 11.3))

    # The collection did not exist: a minimal one, whose extent is its items'.
    assert report.created_collections == [collection]
    with engine.connect() as connection:
        document = connection.execute(
            text("SELECT content FROM collections WHERE id = :c"), {"c": collection}
        ).scalar_one()
    assert_valid(document, "stac-1.0:collection")
    assert document["license"] == "proprietary"
    [extent] = document["extent"]["spatial"]["bbox"]
    assert extent[0] == pytest.approx(-81.2929, abs=1e-3) and extent[2] > 78
    interval = ["2017-07-29T00:00:00Z", "2018-07-16T06:05:22Z"]
    assert document["extent"]["temporal"]["interval"] == [interval]


def test_stac_item_collection_featurecollection_and_ndjson(
    engine: Engine, collection: str, tmp_path: Path
) -> None:
    collection_document = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "description": "Scenes given as STAC JSON",
        "license": "CC-BY-4.0",
        "extent": {
            "spatial": {"bbox": [[-2, 45, 0, 47]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }
    (tmp_path / "collection.json").write_text(json.dumps(collection_document, indent=2))
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "one.json").write_text(json.dumps(stac_item("one", collection)))
    features = [stac_item(name, collection) for name in ("two", "three")]
    (tmp_path / "page.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    lines = [json.dumps(stac_item(name, None)) for name in ("four", "five")]
    (tmp_path / "items.ndjson").write_text(lines[0] + "\n\n" + lines[1] + "\n")
    plain = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None}]}
    (tmp_path / "shoreline.geojson").write_text(json.dumps(plain))

    report = run(engine, tmp_path, collection=collection)

    assert report.problems == []
    assert (report.inserted, report.updated) == (5, 0)
    assert report.created_collections == []
    assert [skip.where for skip in report.skipped] == [str(tmp_path / "shoreline.geojson")]
    items = stored(engine, collection)
    assert sorted(items) == ["five", "four", "one", "three", "two"]
    # Relative hrefs are resolved against the folder of the file that holds the item.
    assert items["one"]["assets"]["B04"]["href"] == str(tmp_path / "scenes" / "one" / "B04.tif")
    assert items["four"]["assets"]["B04"]["href"] == str(tmp_path / "four" / "B04.tif")
    for item in items.values():
        assert_valid(served(item), "stac-1.0:item")


def test_reingest_replaces_items_in_place(engine: Engine, collection: str, tmp_path: Path) -> None:
    path = tmp_path / "items.ndjson"
    path.write_text("\n".join(json.dumps(stac_item(f"s{i}", collection)) for i in range(3)))
    first = run(engine, path)
    assert (first.inserted, first.updated, first.created_collections) == (3, 0, [collection])

    cloudy = {"datetime": "2024-06-01T10:30:00Z", "eo:cloud_cover": 80}
    changed = [stac_item(f"s{i}", collection, properties=cloudy) for i in range(3)]
    path.write_text("\n".join(json.dumps(item) for item in changed))
    second = run(engine, path)

    assert (second.inserted, second.updated, second.problems) == (0, 3, [])
    items = stored(engine, collection)
    assert len(items) == 3
    assert {item["properties"]["eo:cloud_cover"] for item in items.values()} == {80}


def test_bad_items_are_reported_and_never_half_written(
    engine: Engine, collection: str, tmp_path: Path
) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    documents = [
        stac_item("good-1", collection),
        stac_item("bowtie", collection, geometry=bowtie),
        # Valid JSON that PostgreSQL refuses to store: the batch is split to isolate it.
        stac_item("nul", collection, properties={"datetime": "2024-06-01T00:00:00Z", "x": "\0"}),
        stac_item("good-2", collection),
    ]
    path = tmp_path / "items.ndjson"
    path.write_text("\n".join(json.dumps(document) for document in documents))

    report = run(engine, path)

    assert sorted(stored(engine, collection)) == ["good-1", "good-2"]
    assert report.inserted == 2
    reasons = {problem.where: problem.reason for problem in report.problems}
    assert set(reasons) == {f"{path}:2", f"{path}:3"}
    assert "invalid geometry: Self-intersection" in reasons[f"{path}:2"]
    assert "refused by the database" in reasons[f"{path}:3"]


def test_worker_processes_and_line_numbers_across_chunks(
    engine: Engine, collection: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "CHUNK_BYTES", 4096)
    lines = [json.dumps(stac_item(f"item-{i}", collection)) for i in range(120)]
    lines[99] = "{not json"
    path = tmp_path / "many.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size > 10 * 4096

    report = run(engine, path, workers=2, batch_size=25)

    assert report.inserted == 119
    assert [problem.where for problem in report.problems] == [f"{path}:100"]
    assert len(stored(engine, collection)) == 119


def test_geotiffs_nodata_dates_and_grouping(
    engine: Engine, collection: str, tmp_path: Path
) -> None:
    write_geotiff(tmp_path / "T30_20240601_B04.tif", nodata=0)
    write_geotiff(tmp_path / "T30_20240601_B11.tif", nodata=0, pixel=20)
    write_geotiff(tmp_path / "ndvi.tif", when="2024:06:02 10:31:00")
    write_geotiff(tmp_path / "undated.tif")

    report = run(engine, tmp_path, collection=collection)

    assert [(p.where, p.reason.split(":")[0]) for p in report.problems] == [
        (str(tmp_path / "undated.tif"), "no acquisition date")
    ]
    items = stored(engine, collection)
    assert sorted(items) == ["T30_20240601", "ndvi"]
    scene = items["T30_20240601"]
    assert scene["properties"]["datetime"] == "2024-06-01T00:00:00Z"
    assert scene["properties"]["proj:epsg"] == 2154
    assert scene["assets"]["B04"]["raster:bands"][0]["nodata"] == 0
    assert scene["assets"]["B04"]["type"] == "image/tiff; application=geotiff"
    # Item-level projection is the finest band's; the 20 m band says how it differs.
    assert scene["properties"]["proj:shape"] == [64, 64]
    assert scene["assets"]["B11"]["proj:shape"] == [32, 32]
    assert scene["assets"]["B11"]["proj:transform"][0] == 20
    assert "proj:shape" not in scene["assets"]["B04"]
    # The fill triangle (29 % of the grid) is left out of the footprint.
    footprint = shape(scene["geometry"])
    assert 0.5 < footprint.area / box(*scene["bbox"]).area < 0.75
    assert items["ndvi"]["properties"]["datetime"] == "2024-06-02T10:31:00Z"
    assert list(items["ndvi"]["assets"]) == ["data"]

    june_third = datetime(2024, 6, 3, tzinfo=UTC)
    dated = run(engine, tmp_path / "undated.tif", collection=collection, when=june_third)
    assert (dated.inserted, dated.problems) == (1, [])
    assert stored(engine, collection)["undated"]["properties"]["datetime"].startswith("2024-06-03")


def test_synth_output_ingests_as_written(engine: Engine, settings: Settings, tmp_path: Path):
    from territoires.synth import generate

    out = tmp_path / "synth"
    summary = generate(
        (-1.2, 46.1, -1.1, 46.2),
        out,
        size=512,
        sensors=["s2"],
        start=date(2022, 1, 1),
        end=date(2022, 2, 15),
        settings=settings,
    )

    identifiers = list(summary.items)
    try:
        report = run(engine, out)

        assert report.problems == []
        assert report.inserted == len(identifiers) > 0
        # The truth rasters beside the scenes are no scenes; truth.json is no STAC document.
        reasons = {skip.reason.split(";")[0] for skip in report.skipped}
        assert reasons == {"GeoTIFF no STAC item describes", "not a STAC document"}
        items = stored(engine, "sentinel-2-l2a")
        for identifier in identifiers:
            for asset in items[identifier]["assets"].values():
                assert Path(asset["href"]).is_file()
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM items WHERE id = ANY(:ids)"), {"ids": identifiers})
            connection.execute(
                text(
                    "DELETE FROM collections c WHERE id = 'sentinel-2-l2a' "
                    "AND NOT EXISTS (SELECT FROM items i WHERE i.collection_id = c.id)"
                )
            )


@pytest.fixture
def cli(settings: Settings) -> Iterator[typer.Typer]:
    """The command as the lead registers it, with settings read afresh from the environment."""
    app = typer.Typer()
    app.command(name="ingest")(ingest_command)
    app.command(name="noop")(lambda: None)
    get_settings.cache_clear()
    yield app
    get_settings.cache_clear()


def test_command_reports_corrupt_files_and_ingests_the_rest(
    cli: typer.Typer, engine: Engine, settings: Settings, collection: str, tmp_path: Path
) -> None:
    write_geotiff(tmp_path / "good_20240601.tif")
    (tmp_path / "corrupt.tif").write_bytes(np.random.default_rng(0).bytes(4096))
    lines = [json.dumps(stac_item("a", collection)), "{oops", json.dumps(stac_item("b", None))]
    (tmp_path / "items.ndjson").write_text("\n".join(lines))

    result = CliRunner().invoke(
        cli,
        ["ingest", str(tmp_path), "--collection", collection],
        env={"DATABASE_URL": settings.database_url},
    )

    assert result.exit_code == 1, result.output
    assert f"failed {tmp_path / 'corrupt.tif'}: " in result.output
    assert f"failed {tmp_path / 'items.ndjson'}:2: invalid JSON" in result.output
    assert "3 items added, 0 replaced, 2 failed" in result.output
    assert sorted(stored(engine, collection)) == ["a", "b", "good_20240601"]


@pytest.mark.parametrize(
    ("arguments", "environment", "message"),
    [
        (["/no/such/folder"], {}, "no such file or folder: /no/such/folder"),
        ([str(SCENES / "sentinel2")], {}, "GeoTIFFs need --collection"),
        ([str(SCENES), "--collection", "c", "--datetime", "June"], {}, "--datetime is not"),
        ([str(SCENES), "--collection", "c"], {"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    ],
)
def test_command_usage_errors_are_one_line_and_exit_2(
    cli: typer.Typer,
    settings: Settings,
    arguments: list[str],
    environment: dict[str, str],
    message: str,
) -> None:
    env = {"DATABASE_URL": settings.database_url} | environment
    result = CliRunner().invoke(cli, ["ingest", *arguments], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.count("\n") == 1, result.output


def mtl_values(path: Path) -> dict[str, str]:
    """`KEY = value` lines of an MTL text, read on their own (the last of a key wins)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, equals, value = line.strip().partition(" = ")
        if equals and key not in ("GROUP", "END_GROUP"):
            values[key] = value.strip('"')
    return values


def assert_level1_calibration(item: dict[str, Any], mtl: dict[str, str]) -> None:
    """Optical bands scale to TOA reflectance, thermal ones to radiance; every constant of a
    band sits on its asset; the properties are the MTL's."""
    for key, asset in item["assets"].items():
        if not key[1:].isdigit():
            continue
        number = key[1:]
        [band] = asset["raster:bands"]
        if number in ("10", "11"):
            assert band["scale"] == float(mtl[f"RADIANCE_MULT_BAND_{number}"])
            assert band["offset"] == float(mtl[f"RADIANCE_ADD_BAND_{number}"])
            assert band["unit"] == "W/(m2 sr um)"
            assert asset["landsat:k1_constant"] == float(mtl[f"K1_CONSTANT_BAND_{number}"])
            assert asset["landsat:k2_constant"] == float(mtl[f"K2_CONSTANT_BAND_{number}"])
        else:
            assert band["scale"] == float(mtl[f"REFLECTANCE_MULT_BAND_{number}"])
            assert band["offset"] == float(mtl[f"REFLECTANCE_ADD_BAND_{number}"])
            assert asset["landsat:reflectance_mult"] == band["scale"]
            assert "landsat:k1_constant" not in asset
        assert asset["landsat:radiance_mult"] == float(mtl[f"RADIANCE_MULT_BAND_{number}"])
        assert asset["landsat:radiance_add"] == float(mtl[f"RADIANCE_ADD_BAND_{number}"])
    properties = item["properties"]
    assert properties["landsat:collection_number"] == mtl["COLLECTION_NUMBER"]
    assert properties["landsat:collection_category"] == mtl["COLLECTION_CATEGORY"]
    assert properties["landsat:correction"] == mtl["DATA_TYPE"] == "L1TP"
    assert properties["eo:cloud_cover"] == float(mtl["CLOUD_COVER"])
    assert properties["view:sun_elevation"] == float(mtl["SUN_ELEVATION"])
    assert item["assets"]["MTL"]["roles"] == ["metadata"]


def test_real_landsat_mtl_goes_into_the_item(engine: Engine, collection: str) -> None:
    folder = SCENES / "landsat8"
    report = run(engine, folder, collection=collection)

    assert (report.inserted, report.problems) == (1, [])
    item = stored(engine, collection)[LANDSAT]
    mtl = mtl_values(folder / f"{LANDSAT}_MTL.txt")
    assert_level1_calibration(item, mtl)
    assert item["properties"]["landsat:collection_number"] == "01"
    assert item["properties"]["landsat:wrs_path"] == "016" and mtl["WRS_PATH"] == "16"
    assert item["properties"]["landsat:wrs_row"] == "037"
    assert item["properties"]["landsat:cloud_cover_land"] == 31.89
    assert "eo:bands" in item["assets"]["B4"] and "scale" not in item["assets"]["BQA"]
    assert item["assets"]["MTL"]["href"] == str(folder / f"{LANDSAT}_MTL.txt")
    assert_valid(served(item), "stac-1.0:item")


def test_synthetic_landsat_mtl_goes_into_the_item(
    engine: Engine, settings: Settings, collection: str, tmp_path: Path
) -> None:
    from territoires.synth import generate

    out = tmp_path / "synth"
    generate(
        (-1.2, 46.1, -1.1, 46.2),
        out,
        size=512,
        sensors=["landsat"],
        start=date(2022, 6, 1),
        end=date(2022, 6, 20),
        settings=settings,
    )
    [mtl_path] = (out / "landsat-c2-l2").glob("*/*_MTL.txt")
    # Its bands named alone: a scene of our collection, not the STAC item synth wrote.
    report = run(engine, *sorted(mtl_path.parent.glob("*.TIF")), collection=collection)

    assert (report.inserted, report.problems) == (1, [])
    [item] = stored(engine, collection).values()
    mtl = mtl_values(mtl_path)
    assert_level1_calibration(item, mtl)
    assert sorted(item["assets"]) == ["B10", "B4", "B5", "MTL"]
    assert item["properties"]["landsat:collection_number"] == "02"
    assert item["properties"]["eo:cloud_cover"] == 0


def level2_mtl(product: str) -> dict[str, Any]:
    """A Collection 2 Level-2 `_MTL.json`, whose Level-1 and Level-2 groups share key names."""
    return {
        "LANDSAT_METADATA_FILE": {
            "PRODUCT_CONTENTS": {
                "LANDSAT_PRODUCT_ID": product,
                "PROCESSING_LEVEL": "L2SP",
                "COLLECTION_NUMBER": "02",
                "COLLECTION_CATEGORY": "T1",
            },
            "IMAGE_ATTRIBUTES": {
                "SPACECRAFT_ID": "LANDSAT_9",
                "WRS_PATH": "199",
                "WRS_ROW": "27",
                "CLOUD_COVER": "12.34",
                "CLOUD_COVER_LAND": "-1",
                "SUN_ELEVATION": "60.5",
            },
            "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
                "REFLECTANCE_MULT_BAND_4": "2.75E-05",
                "REFLECTANCE_ADD_BAND_4": "-0.200000",
            },
            "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS": {
                "TEMPERATURE_MULT_BAND_ST_B10": "0.00341802",
                "TEMPERATURE_ADD_BAND_ST_B10": "149.000000",
            },
            "LEVEL1_RADIOMETRIC_RESCALING": {
                "RADIANCE_MULT_BAND_4": "9.7350E-03",
                "RADIANCE_ADD_BAND_4": "-48.67504",
                "REFLECTANCE_MULT_BAND_4": "2.0000E-05",
                "REFLECTANCE_ADD_BAND_4": "-0.100000",
            },
            "LEVEL1_THERMAL_CONSTANTS": {
                "K1_CONSTANT_BAND_10": "799.0284",
                "K2_CONSTANT_BAND_10": "1329.2405",
            },
        }
    }


def test_collection2_level2_mtl_json(engine: Engine, collection: str, tmp_path: Path) -> None:
    product = "LC09_L2SP_199027_20230712_20230714_02_T1"
    real = SCENES / "landsat8" / f"{LANDSAT}_B4.TIF"
    for band in ("SR_B4", "SR_B5", "ST_B10", "QA_PIXEL"):
        (tmp_path / f"{product}_{band}.TIF").symlink_to(real)
    (tmp_path / f"{product}_MTL.json").write_text(json.dumps(level2_mtl(product)))

    report = run(engine, tmp_path, collection=collection)

    # The MTL is read by its scene, not taken for a STAC document.
    assert (report.inserted, report.problems, report.skipped) == (1, [], [])
    item = stored(engine, collection)[product]
    assets = item["assets"]
    red = assets["SR_B4"]["raster:bands"][0]
    assert (red["scale"], red["offset"]) == (2.75e-05, -0.2)
    # SR_B5 has no entry in this MTL: the USGS constants of Collection 2 Level-2.
    nir = assets["SR_B5"]["raster:bands"][0]
    assert (nir["scale"], nir["offset"]) == (2.75e-05, -0.2)
    thermal = assets["ST_B10"]["raster:bands"][0]
    assert (thermal["scale"], thermal["offset"], thermal["unit"]) == (0.00341802, 149.0, "kelvin")
    assert "scale" not in assets["QA_PIXEL"]["raster:bands"][0]
    assert not any(name.startswith("landsat:") for name in assets["SR_B4"])
    assert assets["MTL"]["type"] == "application/json"
    properties = item["properties"]
    assert properties["platform"] == "landsat-9"
    assert properties["landsat:correction"] == "L2SP"
    assert properties["landsat:collection_number"] == "02"
    assert (properties["landsat:wrs_path"], properties["landsat:wrs_row"]) == ("199", "027")
    assert properties["eo:cloud_cover"] == 12.34
    assert "landsat:cloud_cover_land" not in properties  # -1: not computed


def test_malformed_mtl_is_reported_and_its_scene_still_goes_in(
    engine: Engine, collection: str, tmp_path: Path
) -> None:
    text = (SCENES / "landsat8" / f"{LANDSAT}_MTL.txt").read_text(encoding="utf-8")
    truncated = "LC08_L1TP_016037_20170829_20170914_01_T1"
    bad_value = "LC08_L1TP_016037_20170914_20170928_01_T1"
    scenes = {
        truncated: text[: text.index("GROUP = RADIOMETRIC_RESCALING")],
        bad_value: text.replace("RADIANCE_MULT_BAND_4 = 9.7350E-03", "RADIANCE_MULT_BAND_4 = x"),
    }
    for scene, mtl in scenes.items():
        for band in ("B4", "B10"):
            (tmp_path / f"{scene}_{band}.TIF").symlink_to(SCENES / "landsat8" / f"{LANDSAT}_B4.TIF")
        (tmp_path / f"{scene}_MTL.txt").write_text(mtl)

    report = run(engine, tmp_path, collection=collection)

    assert report.inserted == 2
    assert sorted(report.problems) == [
        (
            str(tmp_path / f"{truncated}_MTL.txt"),
            "MTL not read (GROUP = L1_METADATA_FILE is never closed); "
            "the scene went in without its Landsat metadata",
        ),
        (
            str(tmp_path / f"{bad_value}_MTL.txt"),
            "RADIANCE_MULT_BAND_4 = 'x' is not a number; left out of the item",
        ),
    ]
    items = stored(engine, collection)
    plain = items[truncated]
    assert not any(name.startswith(("landsat:", "view:")) for name in plain["properties"])
    assert "scale" not in plain["assets"]["B4"]["raster:bands"][0]
    partial = items[bad_value]["assets"]["B4"]
    assert "landsat:radiance_mult" not in partial
    assert partial["raster:bands"][0]["scale"] == 2e-05  # reflectance, still whole
    assert items[bad_value]["properties"]["landsat:collection_number"] == "01"
