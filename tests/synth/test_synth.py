"""The scene generator: same seed same bytes, valid COGs and STAC, and a planted truth that the
scenes really carry (NDVI, LST chain, flood backscatter, night-light extinction, shoreline)."""

from __future__ import annotations

import json
import math
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
import typer
from rio_cogeo import cog_validate
from typer.testing import CliRunner

from territoires.cli.synth import synth_command
from territoires.synth import generate

from ..conftest import KIT

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = KIT / "schemas"
SIZE = 512


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("17300", tmp_path_factory.mktemp("synth") / "first", size=SIZE, seed=0).out_dir


@pytest.fixture(scope="module")
def truth(output: Path) -> dict:
    return json.loads((output / "truth.json").read_text(encoding="utf-8"))


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def scene_folder(output: Path, collection: str, index: int = 0) -> Path:
    return sorted(path for path in (output / collection).iterdir() if path.is_dir())[index]


def rasters(output: Path) -> list[Path]:
    return sorted(path for path in output.rglob("*") if path.suffix.lower() == ".tif")


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(output: Path, tmp_path: Path):
    again = generate("17300", tmp_path / "again", size=SIZE, seed=0).out_dir
    files = sorted(path.relative_to(output) for path in output.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(again) for path in again.rglob("*") if path.is_file())
    for relative in files:
        assert (output / relative).read_bytes() == (again / relative).read_bytes(), relative

    other = generate("17300", tmp_path / "other", size=SIZE, seed=1, sensors=["s2"]).out_dir
    band = Path("B04.tif")
    first = scene_folder(output, "sentinel-2-l2a") / band
    assert first.read_bytes() != (scene_folder(other, "sentinel-2-l2a") / band).read_bytes()
    assert (output / "truth/land_cover.tif").read_bytes() != (
        other / "truth/land_cover.tif"
    ).read_bytes()


def test_every_raster_is_a_valid_cog(output: Path):
    paths = rasters(output)
    assert len(paths) >= 30
    for path in paths:
        valid, errors, warnings = cog_validate(str(path), quiet=True)
        assert valid and not errors and not warnings, (path, errors, warnings)
        with rasterio.open(path) as dataset:
            assert dataset.block_shapes[0] in {(512, 512), (128, 128)}
            assert dataset.compression.name == "deflate"
    with rasterio.open(scene_folder(output, "viirs-dnb-night") / "radiance.tif") as dataset:
        assert dataset.nodata == 65535
        assert dataset.crs.to_epsg() == 4326
        assert dataset.res == pytest.approx((1 / 240, 1 / 240))
        assert dataset.descriptions[0] == "2021-01-01"
        assert dataset.descriptions[-1] == "2023-12-31"


def test_stac_items_and_collections_validate(output: Path):
    sys.path.insert(0, str(SCHEMAS))
    from validate import format_error, validate_document

    items = sorted(output.glob("*/*/*.json"))
    assert {item.parent.parent.name for item in items} == {
        "sentinel-2-l2a",
        "landsat-c2-l2",
        "sentinel-1-grd",
        "viirs-dnb-night",
        "imperviousness-density",
        "population-grid",
    }
    for path in items:
        item = json.loads(path.read_text(encoding="utf-8"))
        errors = validate_document(item, "stac-1.0:item")
        assert not errors, [format_error(error) for error in errors]
        assert item["properties"]["proj:epsg"] in {32630, 4326}
        for asset in item["assets"].values():
            assert (path.parent / asset["href"]).is_file()
            if "data" in asset["roles"]:
                assert asset["type"] == "image/tiff; application=geotiff; profile=cloud-optimized"
                assert asset["raster:bands"]
        if item["collection"] == "sentinel-1-grd":
            assert item["properties"]["sar:polarizations"] == ["VV", "VH"]
            assert item["properties"]["sar:product_type"] == "GRD"
            assert (
                "https://stac-extensions.github.io/sar/v1.0.0/schema.json"
                in (item["stac_extensions"])
            )
        elif item["collection"] not in {"imperviousness-density", "population-grid"}:
            assert "eo:cloud_cover" in item["properties"]
    for path in sorted((output / "collections").glob("*.json")):
        errors = validate_document(json.loads(path.read_text()), "stac-1.0:collection")
        assert not errors, [format_error(error) for error in errors]
    lines = (output / "items.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(items)
    for line in lines:
        item = json.loads(line)
        assert not validate_document(item, "stac-1.0:item")
        for asset in item["assets"].values():
            assert (output / asset["href"]).is_file()


def test_vegetation_is_green_water_dark_and_clouds_bright(output: Path):
    folder = scene_folder(output, "sentinel-2-l2a")
    red = read(folder / "B04.tif").astype(np.float64) / 10000
    nir = read(folder / "B08.tif").astype(np.float64) / 10000
    blue = read(folder / "B02.tif").astype(np.float64) / 10000
    classes = np.repeat(np.repeat(read(folder / "SCL.tif"), 2, axis=0), 2, axis=1)
    clear = np.isin(classes, [4, 5, 6])
    ndvi = (nir - red) / (nir + red)
    land_cover = read(output / "truth/land_cover.tif")
    vegetation = np.isin(land_cover, [2, 3]) & clear
    water = land_cover == 5
    inner_water = water.copy()  # away from the shore, whose mixed pixels may be green
    for axis in (0, 1):
        for shift in (1, -1):
            inner_water &= np.roll(water, shift, axis=axis)
    inner_water &= clear
    assert vegetation.sum() > 1000 and inner_water.sum() > 1000
    assert np.median(ndvi[vegetation]) > 0.55
    assert np.mean(ndvi[vegetation] > 0.5) > 0.9
    assert np.median(ndvi[inner_water]) < -0.3
    assert np.mean(ndvi[inner_water] < 0) > 0.98
    cloudy_scenes = 0
    for scene in sorted(path for path in folder.parent.iterdir() if path.is_dir()):
        classes = np.repeat(np.repeat(read(scene / "SCL.tif"), 2, axis=0), 2, axis=1)
        if np.count_nonzero(classes == 9) < 100:
            continue
        cloudy_scenes += 1
        for band in ("B02", "B03", "B04", "B08", "B11", "B12"):
            values = read(scene / f"{band}.tif").astype(np.float64) / 10000
            if values.shape != classes.shape:
                values = np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)
            clear_level = np.median(values[np.isin(classes, [4, 5, 6])])
            assert values[classes == 9].mean() > max(0.25, 1.5 * clear_level), (scene.name, band)
            assert values[classes >= 8].mean() > 1.2 * clear_level, (scene.name, band)
    assert cloudy_scenes >= 1
    assert blue[clear].mean() < 0.1


def mtl_constants(path: Path) -> dict[str, float]:
    constants = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.strip().partition(" = ")
        if name.startswith(("RADIANCE_", "REFLECTANCE_", "K1_", "K2_")):
            constants[name] = float(value)
    return constants


def test_landsat_thermal_band_gives_back_the_planted_temperature(output: Path, truth: dict):
    heat = truth["land_surface_temperature"]
    assert heat["level"] == 1 and len(heat["scenes"]) == 3  # a scene per summer, 2021–2023
    folder = scene_folder(output, "landsat-c2-l2")
    constants = mtl_constants(next(folder.glob("*_MTL.txt")))
    bands = {band: read(next(folder.glob(f"*_B{band}.TIF"))) for band in (4, 5, 10)}
    reflectance = {
        band: constants[f"REFLECTANCE_MULT_BAND_{band}"] * bands[band].astype(np.float64)
        + constants[f"REFLECTANCE_ADD_BAND_{band}"]
        for band in (4, 5)
    }
    ndvi = (reflectance[5] - reflectance[4]) / (reflectance[5] + reflectance[4])
    cover = np.clip((ndvi - 0.2) / (0.5 - 0.2), 0, 1) ** 2
    emissivity = 0.004 * cover + 0.986
    radiance = constants["RADIANCE_MULT_BAND_10"] * bands[10] + constants["RADIANCE_ADD_BAND_10"]
    brightness = constants["K2_CONSTANT_BAND_10"] / np.log(
        constants["K1_CONSTANT_BAND_10"] / radiance + 1
    )
    recovered = brightness / (1 + (10.895e-6 * brightness / 1.4388e-2) * np.log(emissivity))
    first = heat["scenes"][0]
    planted = read(output / first["raster"])
    assert np.abs(recovered - 273.15 - planted).max() < 0.02
    built = read(output / "truth/built_fraction.tif").astype(np.float64)
    rows, columns = planted.shape
    built = np.pad(built, ((0, 3 * rows - built.shape[0]), (0, 3 * columns - built.shape[1])))
    built = built.reshape(rows, 3, columns, 3).mean(axis=(1, 3))
    vegetated = (built < 5) & (ndvi > 0.6)
    assert planted[built >= 60].mean() > planted[vegetated].mean() + 3.0
    assert first["minimum_c"] > 5.0 and first["maximum_c"] < 60.0
    if first["density_heat_island_c"] is not None:
        assert 2.0 < first["density_heat_island_c"] < 15.0
    [rochelle] = [c for c in first["communes"] if c["code"] == "17300"]
    assert rochelle["urban_cells"] > 1000  # the scene lies within the commune: no rural ring
    thermal = json.loads(next(folder.glob("*.json")).read_text())["assets"]["B10"]
    assert thermal["landsat:k1_constant"] == constants["K1_CONSTANT_BAND_10"]


def test_landsat_level2_scenes_carry_surface_temperature_and_clouds(tmp_path: Path):
    out = generate(
        "17300", tmp_path / "level2", size=SIZE, sensors=["landsat"], landsat_level=2
    ).out_dir
    heat = json.loads((out / "truth.json").read_text())["land_surface_temperature"]
    assert heat["level"] == 2 and len(heat["scenes"]) == 3
    for scene in heat["scenes"]:
        folder = scene_folder(out, "landsat-c2-l2", heat["scenes"].index(scene))
        st = read(next(folder.glob("*_ST_B10.TIF"))).astype(np.float64)
        qa = read(next(folder.glob("*_QA_PIXEL.TIF")))
        planted = read(out / scene["raster"])
        clear = (qa & 0b11010) == 0  # no dilated cloud, cloud or shadow
        kelvin = st * 0.00341802 + 149.0
        # Thin cloud and shadow edges below the flags' thresholds move a clear pixel < 0.3 K.
        assert np.abs(kelvin[clear] - 273.15 - planted[clear]).max() < 0.3
        cloud = (qa & (1 << 3)) != 0
        assert cloud.any() and kelvin[cloud].mean() - 273.15 < planted[cloud].mean() - 5.0
        assert scene["cloud_cover"] > 0
        item = json.loads(next(folder.glob("*.json")).read_text())
        assert item["assets"]["ST_B10"]["raster:bands"][0]["scale"] == 0.00341802
        assert item["properties"]["landsat:correction"] == "L2SP"
        assert {"SR_B2", "SR_B7", "QA_PIXEL"} <= set(item["assets"])


def test_flood_darkens_the_post_event_backscatter(output: Path, truth: dict):
    before, after = (
        read(scene_folder(output, "sentinel-1-grd", index) / "vv.tif") for index in (0, 1)
    )
    flooded = read(output / "truth/flood.tif") == 1
    assert flooded.sum() * 100 == truth["flood"]["area_m2"] > 0
    open_flood = flooded & (read(output / "truth/built_fraction.tif") < 10)
    assert open_flood.sum() > 100
    assert after[open_flood].mean() < before[open_flood].mean() - 5.0
    assert after[flooded].mean() < before[flooded].mean() - 4.0
    dry_land = ~flooded & (read(output / "truth/land_cover.tif") != 5)
    assert abs(after[dry_land].mean() - before[dry_land].mean()) < 2.0


def test_night_lights_fall_after_a_total_extinction(output: Path, truth: dict):
    communes = truth["night_lighting"]["communes"]
    total = max(
        (commune for commune in communes if commune["class"] == "total"),
        key=lambda commune: commune["pixels"],
    )
    assert total["pixels"] >= 4
    with rasterio.open(scene_folder(output, "viirs-dnb-night") / "radiance.tif") as dataset:
        cube = dataset.read().astype(np.float64)
        nights = [date.fromisoformat(text) for text in dataset.descriptions]
    inside = read(output / "truth/viirs_communes.tif") == total["position"]
    pixels = cube[:, inside]
    clear = pixels != 65535
    seen = clear.sum(axis=1) > 0
    nightly = (np.where(clear, pixels, 0).sum(axis=1)[seen] / clear.sum(axis=1)[seen]) * 0.1
    nights = [night for night, visible in zip(nights, seen, strict=True) if visible]
    start = date.fromisoformat(total["start_month"] + "-01")
    after = np.array([night >= start for night in nights])
    before_level = np.nanmedian(nightly[~after])
    after_level = np.nanmedian(nightly[after])
    assert after_level < 0.5 * before_level
    assert 0.3 < np.mean(cube == 65535) < 0.7
    unchanged = [commune for commune in communes if commune["class"] == "none"]
    assert all(commune["artificial_light_drop"] == 0 for commune in unchanged)


def test_shoreline_moves_at_the_planted_rate(output: Path, truth: dict):
    shoreline = truth["shoreline"]
    lines = json.loads((output / shoreline["lines"]).read_text(encoding="utf-8"))["features"]
    assert len(lines) >= 3
    reference = date.fromisoformat(shoreline["reference_date"])
    for line in lines:
        years = (date.fromisoformat(line["properties"]["date"]) - reference).days / 365.25
        expected = shoreline["rate_m_per_year"] * years
        assert line["properties"]["offset_m"] == pytest.approx(expected, abs=0.01)
        # Where river or lake water meets the coast: ordered stretches along the line.
        bounds = np.array(line["properties"]["hidden_m"]).reshape(-1)
        assert (np.diff(bounds) >= 0).all() and (bounds >= 0).all()
    assert math.hypot(*shoreline["sea_direction"]) == pytest.approx(1.0)


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command(name="synth")(synth_command)
    app.callback()(lambda: None)
    return app


@pytest.mark.parametrize(
    "arguments",
    [
        ["--territory", "99999"],
        ["--bbox", "1,2,3"],
        ["--bbox", "a,b,c,d"],
        ["--bbox", "3,45,2,46"],
        ["--bbox", "2,45,3,95"],
        ["--territory", "17300", "--size", "100"],
        ["--territory", "17300", "--size", "20000"],
        ["--territory", "17300", "--sensors", "s2,modis"],
        ["--territory", "17300", "--start", "2023-01-01", "--end", "2022-01-01"],
        ["--territory", "17300", "--start", "yesterday"],
        ["--territory", "17300", "--bbox", "1,45,2,46"],
        [],
    ],
)
def test_bad_input_exits_2_with_one_line(arguments: list[str], tmp_path: Path):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli(), ["synth", *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_exits_2_and_leaves_nothing(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        cli(), ["synth", "--territory", "17300", "--size", "512", "--out", str(blocker / "out")]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cannot write to")
    assert sorted(tmp_path.iterdir()) == [blocker]


def test_cli_writes_a_bbox_outside_the_demo_communes(tmp_path: Path):
    out = tmp_path / "paris"
    arguments = ["--bbox", "2.30,48.82,2.40,48.90", "--size", "512", "--sensors", "s2,viirs"]
    dates = ["--start", "2022-01-01", "--end", "2022-12-31", "--out", str(out)]
    result = CliRunner().invoke(cli(), ["synth", *arguments, *dates])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert document["crs"] == "EPSG:32631"
    assert document["night_lighting"]["communes"] == []
    assert len(document["urban"]["settlements"]) >= 3
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == [
        "collections",
        "sentinel-2-l2a",
        "truth",
        "viirs-dnb-night",
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["paris"]

    again = CliRunner().invoke(cli(), ["synth", *arguments[:-1], "viirs", *dates])
    assert again.exit_code == 0, again.output
    assert not (out / "sentinel-2-l2a").exists()  # the earlier output was replaced whole
    assert [path.name for path in tmp_path.iterdir()] == ["paris"]


def test_an_existing_folder_that_is_not_an_output_is_refused(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(
        cli(), ["synth", "--territory", "17300", "--size", "512", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "is not an earlier synth output" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_seasons_plant_the_strata_and_keep_the_summer_scenes(output: Path, tmp_path: Path):
    """`--seasons` adds a spring and an autumn scene to the last summer's; the summer scenes
    are the bytes of a run without it; the strata add up to the vegetation truth; grass is
    greener than trees in spring and drier in autumn."""
    out = tmp_path / "seasons"
    arguments = ["--territory", "17300", "--size", str(SIZE), "--seasons", "--out", str(out)]
    result = CliRunner().invoke(cli(), ["synth", *arguments, "--sensors", "s2"])
    assert result.exit_code == 0, result.output
    planted = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    document, seasons = planted["vegetation_strata"], planted["vegetation_strata"]["scenes"]
    assert [seasons[day] for day in sorted(seasons) if day >= "2023"] == [
        "spring",
        "summer",
        "autumn",
    ]
    summer = scene_folder(output, "sentinel-2-l2a", 2)
    assert (summer / "B08.tif").read_bytes() == (
        out / "sentinel-2-l2a" / summer.name / "B08.tif"
    ).read_bytes()
    year = document["years"]["2023"]
    strata = sum(read(out / year[name]).astype(int) for name in ("tree", "shrub", "herbaceous"))
    vegetation = read(out / "truth" / "vegetation_fraction.tif").astype(int)
    # Each raster rounded on its own; the coast moved between 2021 (vegetation) and 2023.
    assert (np.abs(strata - vegetation) <= 2).mean() > 0.99
    assert read(out / year["shrub"]).mean() > 1.0
    grass = read(out / year["herbaceous"]) > 40
    trees = read(out / year["tree"]) > 40
    assert grass.sum() > 100 and trees.sum() > 100
    folders = {seasons[scene["date"]]: scene["id"] for scene in planted["scenes"]}
    for season, greener in (("spring", True), ("autumn", False)):
        nir = read(out / "sentinel-2-l2a" / folders[season] / "B08.tif").astype(float)
        print(f"{season}: NIR grass {nir[grass].mean():.0f}, trees {nir[trees].mean():.0f}")
        assert (nir[grass].mean() > nir[trees].mean()) == greener


def test_changes_plant_parcels_that_the_summer_scenes_show(tmp_path: Path):
    """`--changes` plants parcels (0.1 to 4 ha, each class) changing between the summers of
    2022 and 2023, each summer seen three times; their polygons and per-commune hectares are
    in the truth; the scenes' NDVI falls on sealed and felled parcels, rises on greened and
    planted ones, and stays where nothing changed."""
    out = tmp_path / "changes"
    arguments = ["--territory", "17300", "--size", str(SIZE), "--changes", "--out", str(out)]
    result = CliRunner().invoke(cli(), ["synth", *arguments, "--sensors", "s2"])
    assert result.exit_code == 0, result.output
    planted = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    document = planted["land_cover_change"]
    assert (document["before"][:4], document["date"][:4], document["after"][:4]) == (
        "2022",
        "2023",
        "2023",
    )
    dates = sorted(scene["date"] for scene in planted["scenes"])
    assert [day[:4] for day in dates] == ["2021"] + ["2022"] * 3 + ["2023"] * 3
    assert all(day[5:7] in ("06", "07", "08") for day in dates)
    parcels = json.loads((out / document["polygons"]).read_text())["features"]
    areas = [parcel["properties"]["area_ha"] for parcel in parcels]
    classes = {parcel["properties"]["class"] for parcel in parcels}
    print(f"{len(parcels)} parcels, {min(areas):.2f} to {max(areas):.2f} ha, classes {classes}")
    assert classes == {"sealed", "de-sealed", "vegetation lost", "vegetation gained"}
    assert 0.1 <= min(areas) < 0.5 and max(areas) <= 4.0
    assert sum(area < 0.5 for area in areas) >= 2
    communes = document["communes"]["17300"]
    assert sum(communes.values()) > 0
    for parcel in parcels:
        assert (
            sum(parcel["properties"]["communes"].values()) <= parcel["properties"]["area_ha"] + 1e-3
        )

    truth = read(out / document["raster"])

    def ndvi(day: str) -> np.ndarray:
        folder = next((out / "sentinel-2-l2a").glob(f"*-{day.replace('-', '')}"))
        red = read(folder / "B04.tif").astype(float)
        nir = read(folder / "B08.tif").astype(float)
        return (nir - red) / (nir + red)

    change = ndvi(document["after"]) - ndvi(document["before"])
    clear = np.abs(change) < 0.5  # clouds at one date or the other
    for code, direction in ((1, -1), (2, 1), (3, -1), (4, 1)):
        moved = change[(truth == code) & clear].mean()
        print(f"class {code}: NDVI change {moved:+.3f}")
        assert moved * direction > 0.1
    assert abs(np.median(change[(truth == 0) & clear])) < 0.01


def test_changes_need_two_summers(tmp_path: Path):
    out = tmp_path / "out"
    arguments = ["--territory", "17300", "--size", "512", "--changes", "--out", str(out)]
    dates = ["--start", "2023-01-01", "--end", "2023-12-31"]
    result = CliRunner().invoke(cli(), ["synth", *arguments, *dates])
    assert result.exit_code == 2, result.output
    assert "changes are planted between two summers" in result.stderr
    assert result.stderr.count("\n") == 1
