"""numba kernels against plain-numpy references, on the real Landsat 8 and Sentinel-2 scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from territoires.compute.kernels import masks, spectral, unmixing, zonal

from ..conftest import KIT

SCENES = KIT / "data" / "scenes"
LANDSAT = SCENES / "landsat8" / "LC08_L1TP_016037_20170813_20170814_01_RT_{}.TIF"
SENTINEL2 = SCENES / "sentinel2" / "S2_19UDP_20170729_L2A_{}.tif"
TOLERANCE = 1e-6


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def ndvi_reference(red: np.ndarray, nir: np.ndarray, nodata: int = 0) -> np.ndarray:
    r, n = red.astype(np.float64), nir.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = (n - r) / (n + r)
    values[(red == nodata) | (nir == nodata) | (n + r == 0)] = np.nan
    return values.astype(np.float32)


def cover_reference(ndvi: np.ndarray) -> np.ndarray:
    """The scaled NDVI between the NDVI of the soil endmember and the mean of the trees' and
    herbaceous plants', written out from their red and NIR reflectance."""
    soil = (0.230 - 0.150) / (0.230 + 0.150)
    vegetation = ((0.350 - 0.025) / (0.350 + 0.025) + (0.420 - 0.040) / (0.420 + 0.040)) / 2
    scaled = (ndvi.astype(np.float64) - soil) / (vegetation - soil)
    return np.clip(scaled, 0, 1).astype(np.float32)


def bqa_valid_reference(qa: np.ndarray) -> np.ndarray:
    fill = qa & 1 == 1
    cloud = qa & (1 << 4) != 0
    shadow_high = (qa >> 7) & 3 == 3
    cirrus_high = (qa >> 11) & 3 == 3
    return ~(fill | cloud | shadow_high | cirrus_high)


def assert_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    assert np.nanmax(np.abs(actual.astype(np.float64) - expected)) <= TOLERANCE


@pytest.mark.parametrize(
    ("red_path", "nir_path"),
    [
        (
            LANDSAT.with_name(LANDSAT.name.format("B4")),
            LANDSAT.with_name(LANDSAT.name.format("B5")),
        ),
        (
            SENTINEL2.with_name(SENTINEL2.name.format("B04")),
            SENTINEL2.with_name(SENTINEL2.name.format("B08")),
        ),
    ],
    ids=["landsat8", "sentinel2"],
)
def test_ndvi_and_cover_equal_numpy_on_real_scenes(red_path: Path, nir_path: Path) -> None:
    red, nir = read(red_path), read(nir_path)
    expected = ndvi_reference(red, nir)
    assert np.isfinite(expected).mean() > 0.5  # the scenes hold real land and water

    plain = np.empty(red.shape, np.float32)
    spectral.ndvi(red, nir, 0, 0, plain)
    assert_close(plain, expected)

    composite = np.full(red.shape, np.nan, np.float32)
    valid = np.ones(red.shape, np.bool_)
    spectral.greenest_ndvi(red, nir, valid, 1.0, 0.0, 1.0, 0.0, 0, 0, composite)
    assert_close(composite, expected)

    cover = np.empty(red.shape, np.float32)
    spectral.vegetation_cover(
        composite, spectral.COVER_NDVI_SOIL, spectral.COVER_NDVI_VEGETATION, cover
    )
    assert_close(cover, cover_reference(expected))
    assert np.nanmin(cover) == 0.0 and np.nanmax(cover) <= 1.0


def test_cover_is_the_plant_share_of_plant_and_soil_mixes() -> None:
    """A pixel mixing green plants (trees or herbaceous) and bare soil, reflectance the
    area-weighted mix of the endmember spectra, gets its plant share back within 3.5 points
    (the scaled NDVI is close to linear in it); Pv would call a half-green pixel fully green."""
    share = np.linspace(0.0, 1.0, 21)
    red_index, nir_index = unmixing.BANDS.index("red"), unmixing.BANDS.index("nir")
    soil = unmixing.ENDMEMBERS["soil"]
    for plant in ("trees", "herbaceous"):
        spectrum = unmixing.ENDMEMBERS[plant]
        red = share * spectrum[red_index] + (1 - share) * soil[red_index]
        nir = share * spectrum[nir_index] + (1 - share) * soil[nir_index]
        values = ((nir - red) / (nir + red)).astype(np.float32)[None, :]
        cover = np.empty(values.shape, np.float32)
        spectral.vegetation_cover(
            values, spectral.COVER_NDVI_SOIL, spectral.COVER_NDVI_VEGETATION, cover
        )
        assert_close(cover, cover_reference(values))
        assert np.abs(cover[0] - share).max() < 0.035, plant


def test_landsat_quality_mask_equals_numpy() -> None:
    red = read(LANDSAT.with_name(LANDSAT.name.format("B4")))
    nir = read(LANDSAT.with_name(LANDSAT.name.format("B5")))
    qa = read(LANDSAT.with_name(LANDSAT.name.format("BQA")))
    valid = np.ones(qa.shape, np.bool_)
    masks.reject_bits(qa, *masks.bit_rules(masks.BQA_RULES), valid)
    expected_valid = bqa_valid_reference(qa)
    assert np.array_equal(valid, expected_valid)
    assert 0.05 < (~valid).mean() < 0.95  # fill around the scene and some cloud: both happen

    composite = np.full(red.shape, np.nan, np.float32)
    spectral.greenest_ndvi(red, nir, valid, 1.0, 0.0, 1.0, 0.0, 0, 0, composite)
    expected = ndvi_reference(red, nir)
    expected[~expected_valid] = np.nan
    assert_close(composite, expected)


def test_scl_classes_and_scaled_reflectance_composite() -> None:
    """Two scenes with the Landsat C2 scale and offset, clouds in one: the greenest valid NDVI."""
    rng = np.random.default_rng(3)
    shape = (300, 257)
    reds = rng.integers(1, 20000, (2, *shape), dtype=np.uint16)
    nirs = rng.integers(1, 40000, (2, *shape), dtype=np.uint16)
    scl = rng.integers(0, 12, shape, dtype=np.uint8)
    valid_first = np.ones(shape, np.bool_)
    masks.reject_classes(scl, masks.class_table(masks.SCL_REJECTED), valid_first)
    assert np.array_equal(valid_first, ~np.isin(scl, [0, 3, 8, 9, 10]))

    composite = np.full(shape, np.nan, np.float32)
    valid_second = np.ones(shape, np.bool_)
    for red, nir, valid in zip(reds, nirs, (valid_first, valid_second), strict=True):
        spectral.greenest_ndvi(red, nir, valid, 2e-5, -0.1, 2e-5, -0.1, 0, 0, composite)

    def scaled(red: np.ndarray, nir: np.ndarray, valid: np.ndarray) -> np.ndarray:
        r = red * 2e-5 - 0.1
        n = nir * 2e-5 - 0.1
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.clip((n - r) / (n + r), -1, 1)
        values[~valid | (n + r <= 0)] = np.nan
        return values

    expected = np.fmax(
        scaled(reds[0], nirs[0], valid_first), scaled(reds[1], nirs[1], valid_second)
    ).astype(np.float32)
    assert_close(composite, expected)


@pytest.mark.parametrize("decimals", [None, 1], ids=["distinct", "many-equal"])
def test_zonal_statistics_equal_numpy(decimals: int | None) -> None:
    rng = np.random.default_rng(7)
    shape = (500, 700)
    values = rng.normal(0.3, 0.2, shape).astype(np.float32)
    if decimals is not None:  # many equal values: selection must still find the right ranks
        values = values.round(decimals)
    values[rng.random(shape) < 0.05] = -9999.0
    values[rng.random(shape) < 0.05] = np.nan
    zones = rng.integers(0, 40, shape, dtype=np.int32)
    zones[:, :10] = 0
    zones[zones == 17] = 0  # a zone without pixels

    out_zones = np.empty(values.size, np.int32)
    out_values = np.empty(values.size, np.float32)
    count = zonal.compact(values, zones, -9999.0, out_zones, out_values)
    offsets, grouped = zonal.group_by_zone(out_zones[:count], out_values[:count], 39)
    percentiles = np.array([10.0, 50.0, 90.0])
    n, mean, low, high, std, quantiles = zonal.zone_statistics(grouped, offsets, percentiles)

    usable = (zones > 0) & np.isfinite(values) & (values != -9999.0)
    assert count == usable.sum()
    for zone in range(1, 40):
        selected = values[usable & (zones == zone)].astype(np.float64)
        assert n[zone] == selected.size
        if zone == 17:
            assert np.isnan(mean[zone])
            continue
        assert mean[zone] == pytest.approx(selected.mean(), abs=TOLERANCE)
        assert std[zone] == pytest.approx(selected.std(), abs=TOLERANCE)
        assert (low[zone], high[zone]) == (selected.min(), selected.max())
        expected = np.percentile(values[usable & (zones == zone)], percentiles)
        assert np.allclose(quantiles[zone], expected, rtol=0, atol=TOLERANCE)


def test_class_runs_count_each_class_per_zone() -> None:
    rng = np.random.default_rng(11)
    zones = rng.integers(1, 6, 10_000).astype(np.int32)
    classes = rng.integers(1, 18, 10_000).astype(np.float32)
    offsets, grouped = zonal.group_by_zone(zones, classes, 5)
    zonal.sort_zones(grouped, offsets)
    run_offsets, run_values, run_counts = zonal.class_runs(grouped, offsets)
    for zone in range(1, 6):
        runs = slice(run_offsets[zone], run_offsets[zone + 1])
        expected_values, expected_counts = np.unique(classes[zones == zone], return_counts=True)
        assert np.array_equal(run_values[runs], expected_values)
        assert np.array_equal(run_counts[runs], expected_counts)
