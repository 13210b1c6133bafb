"""The LST kernel and its scene reader against an independent numpy implementation of
DESIGN.md's formulas, on the real Landsat 8 scene of the data kit (Collection 1 Level-1, with
its MTL and BQA), and the product level read from the item: Level-1, Level-2, no thermal band,
bands in different CRSs."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from territoires.catalog.ingest.cog import group_scenes, scene_item
from territoires.compute.blocks import Grid
from territoires.compute.kernels import lst as lst_kernel
from territoires.compute.kernels import masks
from territoires.compute.processes.land_surface_temperature import (
    Options,
    ThermalBands,
    ThermalReader,
    choose_scenes,
    fill_gaps,
    hot_spots,
)
from territoires.compute.sources import Scene
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError

from .test_kernels import LANDSAT, bqa_valid_reference, read

FOLDER = LANDSAT.parent
PRODUCT = "LC08_L1TP_016037_20170813_20170814_01_RT"
TOLERANCE_K = 0.01


def mtl_numbers(path: Path) -> dict[str, float]:
    """Every numeric `KEY = value` of an MTL, read plainly."""
    numbers = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, equals, value = (part.strip() for part in line.partition("="))
        if equals:
            try:
                numbers[key] = float(value)
            except ValueError:
                continue
    return numbers


def lst_reference_kelvin(
    b10: np.ndarray, b4: np.ndarray, b5: np.ndarray, valid: np.ndarray, mtl: dict[str, float]
) -> np.ndarray:
    """DESIGN.md, written out: L = ML·DN + AL; BT = K2 / ln(K1/L + 1); NDVI of the TOA
    reflectance; Pv = clip((NDVI − 0.2)/(0.5 − 0.2), 0, 1)²; ε = 0.004·Pv + 0.986;
    LST = BT / (1 + (λ·BT/ρ)·ln ε), λ = 10.895 µm, ρ = 1.4388e-2 m·K. NaN where the QA band
    rejects the pixel, a band is nodata (0) or the radiance is not positive."""
    radiance = mtl["RADIANCE_MULT_BAND_10"] * b10.astype(np.float64) + mtl["RADIANCE_ADD_BAND_10"]
    with np.errstate(divide="ignore", invalid="ignore"):
        brightness = mtl["K2_CONSTANT_BAND_10"] / np.log(mtl["K1_CONSTANT_BAND_10"] / radiance + 1)
        red = mtl["REFLECTANCE_MULT_BAND_4"] * b4.astype(np.float64) + mtl["REFLECTANCE_ADD_BAND_4"]
        nir = mtl["REFLECTANCE_MULT_BAND_5"] * b5.astype(np.float64) + mtl["REFLECTANCE_ADD_BAND_5"]
        ndvi = (nir - red) / (nir + red)
        cover = np.where(nir + red > 0, np.clip((ndvi - 0.2) / (0.5 - 0.2), 0, 1) ** 2, 0.0)
        emissivity = 0.004 * cover + 0.986
        lst = brightness / (1 + (10.895e-6 * brightness / 1.4388e-2) * np.log(emissivity))
    unusable = ~valid | (b10 == 0) | (b4 == 0) | (b5 == 0) | ~(radiance > 0)
    return np.where(unusable, np.nan, lst)


def real_scene() -> Scene:
    """The kit's scene as the catalog ingests it (its MTL's constants on the band assets)."""
    [grouped] = group_scenes(sorted(FOLDER.glob(f"{PRODUCT}_*.TIF")))
    item, problems = scene_item(grouped, "landsat-c1-l1")
    assert not problems
    return Scene("landsat-c1-l1", item["id"], datetime(2017, 8, 13, tzinfo=UTC), item)


def test_lst_on_the_real_landsat_scene_equals_numpy_and_clouds_are_nodata() -> None:
    scene = real_scene()
    bands = ThermalBands.of(scene)
    assert (bands.level, bands.thermal, bands.mask) == (1, "B10", "BQA")
    mtl = mtl_numbers(FOLDER / f"{PRODUCT}_MTL.txt")
    assert bands.constants == (
        mtl["RADIANCE_MULT_BAND_10"],
        mtl["RADIANCE_ADD_BAND_10"],
        mtl["K1_CONSTANT_BAND_10"],
        mtl["K2_CONSTANT_BAND_10"],
    )
    with rasterio.open(LANDSAT.with_name(LANDSAT.name.format("B10"))) as b10:
        grid = Grid(b10.crs, b10.transform, b10.width, b10.height)
    with ExitStack() as stack:
        reader = ThermalReader(scene, bands, grid, stack, AssetGuard.of([str(FOLDER)]))
        found, _ = reader.read(Window(0, 0, grid.width, grid.height))

    b10, b4, b5, qa = (
        read(LANDSAT.with_name(LANDSAT.name.format(b))) for b in ("B10", "B4", "B5", "BQA")
    )
    expected = lst_reference_kelvin(b10, b4, b5, bqa_valid_reference(qa), mtl)
    assert np.array_equal(np.isnan(found), np.isnan(expected))
    difference = np.nanmax(np.abs(found.astype(np.float64) + 273.15 - expected))
    cloud = (qa & (1 << 4)) != 0
    print(
        f"real Landsat 8 scene: {np.isfinite(expected).sum()} pixels, max |ours − numpy| = "
        f"{difference:.2e} K, LST {np.nanmin(found):.1f}…{np.nanmax(found):.1f} °C; "
        f"{cloud.sum()} cloud pixels, all nodata: {bool(np.isnan(found[cloud]).all())}"
    )
    assert difference <= TOLERANCE_K
    assert cloud.sum() > 100 and np.isnan(found[cloud]).all()
    assert np.isfinite(found).mean() > 0.3
    assert 5 < np.nanmedian(found) < 45  # a summer afternoon in South Carolina


def test_level2_surface_temperature_is_scaled_and_masked() -> None:
    rng = np.random.default_rng(5)
    st = rng.integers(0, 50000, (64, 70), dtype=np.uint16)
    qa = rng.choice(np.array([21824, 21952, 22280, 23888, 24088, 1], np.uint16), st.shape)
    valid = np.ones(st.shape, np.bool_)
    masks.reject_bits(qa, *masks.bit_rules(masks.QA_PIXEL_RULES), valid)
    out = np.empty(st.shape, np.float32)
    lst_kernel.lst_level2(st, valid, 0.00341802, 149.0, 0, out)
    rejected = (qa & 0b11011) != 0  # fill, dilated cloud, cirrus, cloud, shadow
    expected = np.where(rejected | (st == 0), np.nan, st * 0.00341802 + 149.0 - 273.15)
    assert np.array_equal(np.isnan(out), np.isnan(expected))
    assert np.nanmax(np.abs(out - expected)) < 1e-4
    assert np.isnan(out[qa == 22280]).all()  # a cloud


def item(assets: dict[str, dict[str, Any]], epsg: int = 32630) -> Scene:
    content = {"properties": {"proj:epsg": epsg}, "assets": assets}
    return Scene("landsat-c2-l2", "scene-1", datetime(2023, 7, 1, tzinfo=UTC), content)


def band(common_name: str, **fields: Any) -> dict[str, Any]:
    return {"href": "x.tif", "eo:bands": [{"common_name": common_name}], **fields}


def test_the_product_level_is_read_from_the_item() -> None:
    level2 = item(
        {
            "SR_B4": band("red"),
            "SR_B5": band("nir08"),
            "ST_B10": band("lwir11", **{"raster:bands": [{"scale": 0.00341802, "offset": 149.0}]}),
            "QA_PIXEL": {"href": "qa.tif"},
        }
    )
    assert ThermalBands.of(level2) == ThermalBands(
        2, "ST_B10", "SR_B4", "SR_B5", "QA_PIXEL", (0.00341802, 149.0, 0.0, 0.0)
    )
    constants = {
        "landsat:radiance_mult": 3.342e-4,
        "landsat:radiance_add": 0.1,
        "landsat:k1_constant": 774.8853,
        "landsat:k2_constant": 1321.0789,
    }
    level1 = item({"B4": band("red"), "B5": band("nir08"), "B10": band("lwir11", **constants)})
    assert ThermalBands.of(level1).level == 1
    assert ThermalBands.of(level1).constants == (3.342e-4, 0.1, 774.8853, 1321.0789)


def test_a_scene_without_a_thermal_band_or_its_constants_is_refused() -> None:
    with pytest.raises(BadRequestError, match="no thermal band"):
        ThermalBands.of(item({"B4": band("red"), "B5": band("nir08")}))
    with pytest.raises(BadRequestError, match=r"lacks the MTL constants .*landsat:k1_constant"):
        ThermalBands.of(item({"B4": band("red"), "B5": band("nir08"), "B10": band("lwir11")}))


def test_bands_in_different_crss_are_refused() -> None:
    scene = item(
        {
            "SR_B4": band("red"),
            "SR_B5": band("nir08"),
            "ST_B10": band("lwir11", **{"proj:epsg": 32631}),
        }
    )
    with pytest.raises(BadRequestError, match=r"different CRSs \(ST_B10 in EPSG:32631"):
        ThermalBands.of(scene).check_crs(scene)


def test_each_summer_keeps_its_hottest_clear_scenes() -> None:
    days = ["2021-07-01", "2021-07-17", "2021-08-02", "2022-07-10", "2022-12-20", "2023-01-05"]
    scenes = [Scene("c", day, datetime.fromisoformat(day).replace(tzinfo=UTC), {}) for day in days]
    clear_share = np.array([0.9, 0.2, 0.8, 0.7, 0.9, 0.6])
    means = np.array([30.0, 40.0, 31.0, 28.0, 20.0, 22.0])
    options = Options(2000.0, 10_000.0, 1, 0.5)
    assert choose_scenes(scenes, clear_share, means, options, south=False) == {
        2021: [2],  # the hottest clear one (the 40 °C scene is mostly cloud)
        2022: [3],
        2023: [5],
    }
    south = choose_scenes(scenes, clear_share, means, replace(options, hottest=2), south=True)
    # South of the equator a summer runs from July to June: December 2022 and January 2023 are
    # one summer (2023), whose hottest clear scene here is a July one.
    assert south == {2022: [2, 0], 2023: [3, 5]}
    none_clear = choose_scenes(scenes, clear_share * 0.1, means, options, south=False)
    assert none_clear == {2021: [0]}  # the clearest scene when none is clear


def test_hot_spots_are_connected_cells_above_the_threshold_and_large_enough() -> None:
    grid = Grid(CRS.from_epsg(32630), Affine(30, 0, 600_000, 0, -30, 5_100_000), 20, 20)
    temperature = np.full((20, 20), 30.0, np.float32)
    temperature[2:6, 2:6] = 40.0  # 16 cells: 14,400 m²
    temperature[10, 10] = 45.0  # one cell: too small
    temperature[15:17, 15:17] = 38.0  # 4 cells touching only diagonally the next ones
    temperature[17:19, 17:19] = 38.0
    inside = np.ones((20, 20), np.bool_)
    spots = hot_spots(temperature, inside, 35.0, grid, 3_000.0)
    assert [properties["cells"] for _, properties in spots] == [16, 4, 4]
    largest = spots[0][1]
    assert largest == {
        "area_m2": 14_400.0,
        "cells": 16,
        "mean_c": 40.0,
        "max_c": 40.0,
        "threshold_c": 35.0,
        "rank": 1,
    }


def test_a_summers_cloud_gaps_are_filled_from_every_summers_mean() -> None:
    every = np.array([[20.0, 25.0, 30.0, np.nan]], np.float32)
    summer = np.array([[21.0, np.nan, 31.0, np.nan]], np.float32)
    filled = fill_gaps(summer, every)
    assert filled[0, :3].tolist() == [21.0, 26.0, 31.0] and np.isnan(filled[0, 3])
