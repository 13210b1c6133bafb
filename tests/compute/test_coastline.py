"""DSAS statistics on transects (`compute/coastline.py`) against the coast `territoires synth`
plants over ten years (every point moving along the sea direction at a known rate), and
against an independent numpy computation on the same crossings."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, shape

from territoires.compute import coastline
from territoires.synth import generate

MAX_LRR_ERROR = 0.1  # m/yr, on at least 95 % of the transects
BASELINE_SMOOTHING_M = 300.0


@pytest.fixture(scope="module")
def coast(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Ten years of planted shorelines over La Rochelle, in the scene's UTM zone."""
    root = tmp_path_factory.mktemp("coast") / "17300"
    generate(
        "17300", root, size=512, sensors=["s2"], start=date(2014, 1, 1), end=date(2023, 12, 31)
    )
    truth = json.loads((root / "truth.json").read_text())
    features = json.loads((root / truth["shoreline"]["lines"]).read_text())["features"]
    to_utm = Transformer.from_crs("EPSG:4326", truth["crs"], always_xy=True)
    lines = sorted(
        (
            date.fromisoformat(f["properties"]["date"]),
            shapely.transform(
                shape(f["geometry"]), lambda xy: np.column_stack(to_utm.transform(*xy.T))
            ),
        )
        for f in features
    )
    return {
        "truth": truth["shoreline"],
        "dates": [d for d, _ in lines],
        "lines": [line for _, line in lines],
    }


def numpy_statistics(years: np.ndarray, positions: np.ndarray) -> dict[str, float]:
    """NSM, SCE, EPR, LRR, R² the textbook way: polyfit and a correlation coefficient."""
    seen = np.isfinite(positions)
    t, d = years[seen], positions[seen]
    oldest, newest = np.argmin(t), np.argmax(t)
    slope, _ = np.polyfit(t, d, 1)
    return {
        "nsm": d[newest] - d[oldest],
        "sce": np.ptp(d),
        "epr": (d[newest] - d[oldest]) / (t[newest] - t[oldest]),
        "lrr": slope,
        "lrr_r2": np.corrcoef(t, d)[0, 1] ** 2,
    }


def test_transects_every_200_m_and_rates_against_the_planted_coast(coast: dict[str, Any]) -> None:
    baseline = coast["lines"][0].simplify(BASELINE_SMOOTHING_M)
    found = coastline.transects(baseline, tuple(coast["truth"]["sea_direction"]))
    along = np.array([baseline.project(shapely.Point(t.origin)) for t in found])
    assert np.allclose(np.diff(along), coastline.TRANSECT_SPACING_M)
    years = coastline.decimal_years(coast["dates"])
    rate = coast["truth"]["rate_m_per_year"]
    errors, compared = [], 0
    for transect in found:
        positions = np.array([transect.position(line) for line in coast["lines"]])
        measured = coastline.change(years, positions)
        assert measured is not None and measured.lrr is not None
        errors.append(measured.lrr - rate)
        expected = numpy_statistics(years, positions)
        for name, value in expected.items():
            assert getattr(measured, name) == pytest.approx(value, rel=1e-9, abs=1e-9), name
        compared += 1
    errors = np.abs(errors)
    within = (errors <= MAX_LRR_ERROR).mean()
    print(
        f"{len(found)} transects over {baseline.length / 1000:.2f} km of coast, "
        f"{len(coast['dates'])} shorelines {coast['dates'][0]}..{coast['dates'][-1]}: LRR vs "
        f"planted {rate} m/yr: max error {errors.max():.4f} m/yr, {within:.0%} within "
        f"{MAX_LRR_ERROR}; NSM/SCE/EPR/LRR/R² equal numpy on {compared} transects"
    )
    assert len(found) >= 20
    assert within >= 0.95


def test_too_few_crossings_give_no_rate() -> None:
    transect = coastline.Transect((0.0, 0.0), (1.0, 0.0), 100.0)
    assert np.isnan(transect.position(LineString([(0, 200), (10, 300)])))
    years = coastline.decimal_years([date(2020, 1, 1), date(2021, 1, 1)])
    assert coastline.change(years[:1], np.array([5.0])) is None
    assert coastline.change(years, np.array([5.0, np.nan])) is None
    two = coastline.change(years, np.array([5.0, 3.0]))
    assert two is not None and two.lrr is None and two.nsm == -2.0
    assert two.epr == pytest.approx(-2.0 / (366 / coastline.DAYS_PER_YEAR))
