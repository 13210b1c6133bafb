"""Night-lighting kernels against plain numpy and ruptures, and the class rules on series with
a known change."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
import ruptures

from territoires.compute import lighting
from territoires.compute.kernels.lighting import add_cells, change_points, good_table, zone_means
from territoires.shared.blackmarble import months_between

MONTHS = months_between(date(2014, 1, 1), date(2024, 12, 1))


def test_zone_means_match_numpy() -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(0, 600, (300, 400)).astype(np.uint16)
    values[rng.random(values.shape) < 0.05] = 65535
    quality = rng.integers(0, 3, values.shape).astype(np.uint8)
    zones = rng.integers(0, 8, values.shape).astype(np.int32)
    lit = rng.random(values.shape) < 0.7
    sums, counts = np.zeros(8), np.zeros(8, np.int64)
    zone_means(values, quality, good_table((0, 1)), np.uint16(65535), zones, lit, sums, counts)
    kept = (values != 65535) & (quality <= 1) & lit & (zones > 0)
    for zone in range(1, 8):
        chosen = kept & (zones == zone)
        assert counts[zone] == chosen.sum()
        assert sums[zone] == pytest.approx(values[chosen].astype(np.float64).sum())
    assert counts[0] == 0

    cell_sums, cell_counts = np.zeros(values.shape), np.zeros(values.shape, np.int32)
    add_cells(values, quality, good_table((0, 1)), np.uint16(65535), cell_sums, cell_counts)
    good = (values != 65535) & (quality <= 1)
    assert np.array_equal(cell_counts, good.astype(np.int32))
    assert np.array_equal(cell_sums, np.where(good, values, 0).astype(np.float64))


@pytest.mark.parametrize("seed", range(5))
def test_change_points_match_ruptures_pelt(seed: int) -> None:
    """The same segmentation as ruptures' PELT with the L2 cost, penalty and minimum size."""
    rng = np.random.default_rng(seed)
    series = np.concatenate(
        [rng.normal(level, 0.1, size) for level, size in ((1.0, 40), (0.3, 30), (0.8, 62))]
    )
    penalty, min_size = 4 * 0.01 * math.log(series.size), 3
    breaks, counts = np.zeros((1, 16), np.int64), np.zeros(1, np.int64)
    change_points(series[None, :], np.array([penalty]), min_size, breaks, counts)
    expected = ruptures.Pelt(model="l2", min_size=min_size, jump=1).fit(series)
    assert list(breaks[0, : counts[0]]) == expected.predict(pen=penalty)[:-1]


def step(drop: float, start: int, rng: np.random.Generator, level: float = 12.0) -> np.ndarray:
    series = level * np.exp(rng.normal(0, 0.05, len(MONTHS)))
    series[start:] *= 1 - drop
    return series


def test_steps_are_classified_with_their_start_month() -> None:
    rng = np.random.default_rng(3)
    rows = [
        step(0.7, 60, rng),
        step(0.3, 80, rng),
        step(0.0, 0, rng),
        np.full(len(MONTHS), np.nan),
    ]
    relit = step(0.7, 40, rng)
    relit[70:] /= 0.3
    missing = step(0.7, 50, rng)
    missing[::2] = np.nan
    found = lighting.classify(np.vstack([*rows, relit, missing]), MONTHS)
    assert [r.kind for r in found] == [
        "total-extinction",
        "partial-extinction",
        "unchanged",
        "undetermined",
        "relit",
        "undetermined",
    ]
    assert (found[0].start, found[1].start, found[4].start) == (60, 80, 70)
    assert found[4].extinction == 40
    assert found[0].drop == pytest.approx(0.7, abs=0.03)
    assert found[3].reason.startswith("no lit cell") and "few months" in found[5].reason
    assert all(0 <= r.confidence <= 1 for r in found)


def test_the_earlier_pass_brackets_the_switch_off_hour() -> None:
    rng = np.random.default_rng(4)
    (seen,) = lighting.classify(step(0.7, 60, rng)[None, :], MONTHS)
    already_off = step(0.7, 60, rng)
    still_on = step(0.0, 60, rng)
    assert lighting.switch_off_bracket(seen, already_off) == "before 00:40"
    assert lighting.switch_off_bracket(seen, still_on) == "between 00:40 and 01:30"
    assert lighting.switch_off_bracket(seen, np.full(len(MONTHS), np.nan)) is None
