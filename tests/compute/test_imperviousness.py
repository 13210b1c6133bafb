"""The unmixing kernel of `imperviousness` against its plain-numpy statement, on the real
Sentinel-2 L2A scene of the kit, and against known mixes of its endmembers."""

from __future__ import annotations

import numpy as np
import pytest

from territoires.compute.kernels import unmixing

from .test_kernels import SENTINEL2, read

TOLERANCE = 1e-4  # percentage points: the kernel sums in float32, numpy in float64
SCALES = np.full(len(unmixing.BANDS), 1e-4)
ZEROS = np.zeros(len(unmixing.BANDS))


def kernel(
    bands: np.ndarray,
    valid: np.ndarray,
    scenes: int = 1,
    max_residual: float = unmixing.MAX_RESIDUAL,
) -> np.ndarray:
    """The kernel's mean sealed percent after folding the same scene `scenes` times."""
    endmembers = unmixing.endmember_matrix()
    solvers, members = unmixing.subset_solvers(endmembers)
    sums = np.zeros(bands.shape[1:], np.float32)
    counts = np.zeros(bands.shape[1:], np.uint16)
    for _ in range(scenes):
        unmixing.fold_sealed(
            bands, valid, SCALES, ZEROS, ZEROS, solvers, members, endmembers,
            unmixing.sealed_weights(), unmixing.WATER, max_residual, sums, counts,
        )  # fmt: skip
    assert set(np.unique(counts)) <= {0, scenes}
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def reference(
    bands: np.ndarray, valid: np.ndarray, max_residual: float = unmixing.MAX_RESIDUAL
) -> np.ndarray:
    return unmixing.sealed_numpy(
        bands, valid, SCALES, ZEROS, ZEROS, unmixing.endmember_matrix(),
        unmixing.sealed_weights(), unmixing.WATER, max_residual,
    )  # fmt: skip


@pytest.mark.parametrize(
    "max_residual", [unmixing.MAX_RESIDUAL, np.inf], ids=["haze-check", "every-fit"]
)
def test_kernel_equals_numpy_on_the_real_sentinel2_scene(max_residual: float) -> None:
    names = ("B02", "B03", "B04", "B08", "B11", "B12")  # blue green red nir swir16 swir22
    bands = np.stack([read(SENTINEL2.with_name(SENTINEL2.name.format(name))) for name in names])
    valid = np.ones(bands.shape[1:], np.bool_)
    valid[:10] = False  # a masked strip
    expected = reference(bands, valid, max_residual)
    found = kernel(bands, valid, 3, max_residual)
    assert np.array_equal(np.isnan(found), np.isnan(expected))
    assert np.isnan(found[:10]).all()
    observed = np.isfinite(expected)
    difference = np.abs(found[observed] - expected[observed])
    green, swir = bands[1].astype(float), bands[4].astype(float)
    wet = observed & (green > swir)
    print(
        f"real S2 L2A 19UDP 2017-07-29 ({bands.shape[2]}×{bands.shape[1]}), max residual "
        f"{max_residual:g}: {observed.sum()} of {(valid & (bands > 0).all(axis=0)).sum()} "
        f"cells unmixed, kernel vs numpy max |Δ| {difference.max():.2e} points; sealed mean "
        f"{expected[observed].mean():.2f} %, over water (MNDWI > 0, {wet.sum()} cells) "
        f"{expected[wet].mean():.2f} %"
    )
    assert observed.sum() > (3000 if np.isfinite(max_residual) else 8000)
    assert difference.max() <= TOLERANCE
    assert (expected[observed] >= 0).all() and (expected[observed] <= 100 + 1e-9).all()
    assert expected[wet].mean() < 5.0  # the estuary is not sealed


def test_pure_and_mixed_endmembers_are_recovered() -> None:
    """Known mixes, each material brighter or darker than its endmember, in digital numbers."""
    rng = np.random.default_rng(7)
    endmembers = unmixing.endmember_matrix()
    count = 20_000
    abundances = rng.dirichlet(np.full(len(endmembers), 0.3), count)
    abundances[:, unmixing.WATER] = 0.0  # water only pure, below
    abundances /= abundances.sum(axis=1, keepdims=True)
    abundances[:100] = np.eye(len(endmembers))[unmixing.WATER]
    brightness = rng.uniform(0.85, 1.15, (count, 1))
    reflectance = (abundances * brightness) @ endmembers
    reflectance += rng.normal(0.0, 0.002, reflectance.shape)
    bands = np.clip(np.rint(reflectance / 1e-4), 1, 65535).astype(np.uint16).T[:, None, :]
    bands[:, 0, 150] = 0  # one cell of no data
    valid = np.ones((1, count), np.bool_)
    found = kernel(bands, valid)[0]
    truth = 100.0 * abundances @ unmixing.sealed_weights()
    assert np.isnan(found[150]) and np.isfinite(np.delete(found, 150)).all()
    error = np.abs(np.delete(found - truth, 150))
    print(
        f"known mixes: {count} cells, MAE {error.mean():.2f} points, "
        f"pure water {found[:100].mean():.2f}"
    )
    assert np.nanmax(np.abs(found - reference(bands, valid)[0])) <= TOLERANCE
    assert error.mean() <= 10.0
    assert found[:100].mean() < 1.0  # pure water: sensor noise only
