"""The strata kernel of `vegetation-strata` against its plain-numpy statement on the real
Sentinel-2 L2A scene of the kit, against known mixes of its phenological endmembers, and
against the strata `territoires synth --seasons` plants (scored with the shared helper, per cell
and per commune)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from territoires.compute.kernels import masks, strata
from territoires.shared.settings import get_settings
from territoires.synth import generate
from territoires.synth.scoring import score_continuous
from territoires.synth.truth import strata_fraction

from .test_kernels import SENTINEL2, read

TOLERANCE = 1e-4  # percentage points: the kernel writes float32, numpy float64
SEASONS = ("spring", "summer", "autumn")
BANDS = len(strata.BANDS)
SCALES = np.full((len(SEASONS), BANDS), 1e-4)
ZEROS = np.zeros((len(SEASONS), BANDS))
CELL_MAE_POINTS = 10.0
COMMUNE_MAE_POINTS = 3.0
MIN_COMMUNE_CELLS = 20_000  # communes with at least 200 ha fitted in the scenes are scored
SYNTH_STRATA = {"trees": "tree", "shrubs": "shrub", "herbaceous": "herbaceous"}


def kernel(
    bands: np.ndarray, valid: np.ndarray, max_residual: float = strata.MAX_RESIDUAL_PER_DATE
) -> np.ndarray:
    endmembers = strata.endmember_matrix(SEASONS)
    solvers, members = strata.date_solvers(endmembers, len(SEASONS))
    fractions = np.empty((len(strata.STRATA), *bands.shape[2:]), np.float32)
    strata.strata_fractions(
        bands, valid, SCALES, ZEROS, ZEROS, solvers, members, endmembers, strata.STRATUM_INDEX,
        strata.WATER, strata.MIN_DATES, max_residual, fractions,
    )  # fmt: skip
    return fractions


def reference(
    bands: np.ndarray, valid: np.ndarray, max_residual: float = strata.MAX_RESIDUAL_PER_DATE
) -> np.ndarray:
    return strata.strata_numpy(
        bands, valid, SCALES, ZEROS, ZEROS, strata.endmember_matrix(SEASONS), strata.MIN_DATES,
        max_residual,
    )  # fmt: skip


@pytest.mark.parametrize(
    "max_residual", [strata.MAX_RESIDUAL_PER_DATE, np.inf], ids=["haze-check", "every-fit"]
)
def test_kernel_equals_numpy_on_the_real_sentinel2_scene(max_residual: float) -> None:
    """The real scene as three dates (itself, mirrored, shifted), each with its own masked
    strip, so that cells are seen at three, two and one dates."""
    names = ("B02", "B03", "B04", "B08", "B11", "B12")  # blue green red nir swir16 swir22
    scene = np.stack([read(SENTINEL2.with_name(SENTINEL2.name.format(name))) for name in names])
    bands = np.ascontiguousarray(np.stack([scene, scene[:, :, ::-1], np.roll(scene, 17, axis=1)]))
    valid = np.ones((len(SEASONS), *scene.shape[1:]), np.bool_)
    valid[0, :20] = False
    valid[1, 10:30] = False
    valid[2, :, :15] = False
    expected = reference(bands, valid, max_residual)
    found = kernel(bands, valid, max_residual)
    assert np.array_equal(np.isnan(found), np.isnan(expected))
    assert np.isnan(found[:, 10:20]).all()  # seen at one date only
    observed = np.isfinite(expected[0])
    difference = np.abs(found[:, observed] - expected[:, observed])
    print(
        f"real S2 L2A 19UDP 2017-07-29 as 3 dates ({scene.shape[2]}×{scene.shape[1]}), max "
        f"residual {max_residual:g}: {observed.sum()} cells unmixed, kernel vs numpy max |Δ| "
        f"{difference.max():.2e} points; mean trees/shrubs/herbaceous "
        + "/".join(f"{value:.1f}" for value in expected[:, observed].mean(axis=1))
        + " %"
    )
    assert observed.sum() > (1000 if np.isfinite(max_residual) else 8000)
    assert difference.max() <= TOLERANCE
    assert (expected[:, observed] >= 0).all() and (
        expected[:, observed].sum(axis=0) <= 100 + 1e-9
    ).all()


def test_known_mixes_of_phenological_endmembers_are_recovered() -> None:
    """Random mixes, each cover brighter or darker than its endmember, with sensor noise, a
    tenth of the cells clouded at one date."""
    rng = np.random.default_rng(11)
    endmembers = strata.endmember_matrix(SEASONS)
    count = 20_000
    abundances = rng.dirichlet(np.full(len(endmembers), 0.4), count)
    abundances[:, strata.WATER] = 0.0
    abundances /= abundances.sum(axis=1, keepdims=True)
    brightness = rng.uniform(0.9, 1.1, (count, 1))
    reflectance = (abundances * brightness) @ endmembers + rng.normal(0, 0.003, (count, 18))
    digital = np.clip(np.rint(reflectance / 1e-4), 1, 65535).astype(np.uint16)
    bands = np.ascontiguousarray(digital.T.reshape(len(SEASONS), BANDS, 1, count))
    valid = np.ones((len(SEASONS), 1, count), np.bool_)
    clouded = rng.uniform(size=count) < 0.1
    valid[rng.integers(0, len(SEASONS), count)[clouded], 0, np.flatnonzero(clouded)] = False
    found = kernel(bands, valid, np.inf)[:, 0]
    assert np.nanmax(np.abs(found - reference(bands, valid, np.inf)[:, 0])) <= TOLERANCE
    truth = 100.0 * abundances[:, strata.STRATUM_INDEX].T
    for name, mine, planted in zip(strata.STRATA, found, truth, strict=True):
        error = np.abs(mine - planted)
        print(
            f"known mixes, {name}: MAE {error.mean():.2f} points "
            f"(one date clouded: {error[clouded].mean():.2f})"
        )
        assert error.mean() <= CELL_MAE_POINTS


@pytest.fixture(scope="module")
def seasons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("strata") / "17300"
    generate("17300", folder, size=1024, sensors=["s2"], seasons=True)
    return folder


def read_scene(folder: Path, like: rasterio.DatasetReader) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic scene's six bands on the 10 m grid (20 m bilinear, as jobs read them) and
    where its SCL keeps the cell."""
    shape = (like.height, like.width)
    bands = []
    for name in ("B02", "B03", "B04", "B08", "B11", "B12"):
        with rasterio.open(folder / f"{name}.tif") as band:
            bands.append(band.read(1, out_shape=shape, resampling=Resampling.bilinear))
    with rasterio.open(folder / "SCL.tif") as scl:
        classes = scl.read(1, out_shape=shape, resampling=Resampling.nearest)
    valid = np.ones(shape, np.bool_)
    masks.reject_classes(classes, masks.class_table(masks.SCL_REJECTED), valid)
    return np.stack(bands), valid


def test_strata_against_the_planted_truth_per_cell_and_commune(seasons: Path) -> None:
    truth_document = json.loads((seasons / "truth.json").read_text())["vegetation_strata"]
    dates = {day: name for day, name in truth_document["scenes"].items() if day.startswith("2023")}
    assert sorted(dates.values()) == sorted(SEASONS)
    with rasterio.open(seasons / strata_fraction(2023, "tree")) as planted:
        read_dates = [
            read_scene(
                seasons / "sentinel-2-l2a" / f"sentinel-2-l2a-17300-1024-s0-{day.replace('-', '')}",
                planted,
            )
            for day in sorted(dates, key=lambda day: SEASONS.index(dates[day]))
        ]
        crs, transform, shape = planted.crs, planted.transform, (planted.height, planted.width)
    bands = np.ascontiguousarray(np.stack([b for b, _ in read_dates]))
    valid = np.stack([v for _, v in read_dates])
    found = kernel(bands, valid)
    path = get_settings().data_dir / "territories" / "communes-17-charente-maritime.geojson"
    communes = {
        f["properties"]["code"]: f["geometry"] for f in json.loads(path.read_text())["features"]
    }
    codes = [
        s["code"]
        for s in json.loads((seasons / "truth.json").read_text())["urban"]["settlements"]
        if s["code"]
    ]
    inside = {
        code: geometry_mask(
            [transform_geom("EPSG:4326", crs, communes[code])], shape, transform, invert=True
        )
        for code in codes
    }
    fitted = np.isfinite(found[0])
    inside = {
        code: mask for code, mask in inside.items() if (mask & fitted).sum() >= MIN_COMMUNE_CELLS
    }
    assert "17300" in inside
    print(f"seen at ≥ 2 dates and fitted: {np.isfinite(found[0]).mean():.1%} of the cells")
    for index, name in enumerate(strata.STRATA):
        with rasterio.open(seasons / strata_fraction(2023, SYNTH_STRATA[name])) as planted:
            truth = planted.read(1).astype(np.float64)
        cells = score_continuous(found[index], truth)
        errors = [
            abs(found[index][mask & fitted].mean() - truth[mask & fitted].mean())
            for mask in inside.values()
        ]
        print(
            f"synth 17300 1024² {name}: per cell MAE {cells.mae:.2f} RMSE {cells.rmse:.2f} bias "
            f"{cells.bias:+.2f} points ({cells.count} cells); per commune ({len(errors)}) MAE "
            f"{np.mean(errors):.2f} max {np.max(errors):.2f} points"
        )
        assert cells.mae <= CELL_MAE_POINTS
        assert np.mean(errors) <= COMMUNE_MAE_POINTS
