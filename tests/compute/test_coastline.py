"""DSAS statistics on transects (`compute/coastline.py`) against the coast `territoires synth`
plants over ten years (every point moving along the sea direction at a known rate), and
against an independent numpy computation on the same crossings; then the shorelines the
`coastline` process extracts from the synthetic Sentinel-2 scenes (MNDWI, Otsu, sub-pixel
contour) scored against the planted lines on the same transects."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from scipy import stats
from shapely.geometry import LineString, shape

from territoires.compute import coastline
from territoires.compute.blocks import Grid
from territoires.compute.processes import coastline as process
from territoires.compute.sources import Scene
from territoires.shared.assets import AssetGuard
from territoires.synth import generate

MAX_LRR_ERROR = 0.1  # m/yr, on at least 95 % of the transects


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
            f["properties"]["hidden_m"],
        )
        for f in features
    )
    return {
        "root": root,
        "truth": truth["shoreline"],
        "dates": [d for d, _, _ in lines],
        "lines": [line for _, line, _ in lines],
        "by_date": {day: (line, hidden) for day, line, hidden in lines},
    }


def planted_position(transect: coastline.Transect, line: Any, hidden: list[list[float]]) -> float:
    """The transect's crossing with a planted line, NaN where river or lake water hides the
    planted coast (the synth's `hidden_m` stretches: no image shows the line there)."""
    position = transect.position(line)
    if np.isnan(position):
        return position
    (x, y), (dx, dy) = transect.origin, transect.direction
    along = line.project(shapely.Point(x + dx * position, y + dy * position))
    return np.nan if any(low <= along <= high for low, high in hidden) else position


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
    baseline = coast["lines"][0].simplify(coastline.BASELINE_SMOOTHING_M)
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


def test_student_t_and_wlr_against_scipy_and_numpy() -> None:
    for freedom in (1, 2, 3, 5, 8, 30):
        assert coastline.student_t975(freedom) == pytest.approx(
            stats.t.ppf(0.975, freedom), abs=0.003
        )
    years = coastline.decimal_years([date(2014 + k, 7, 1) for k in range(6)])
    positions = np.array([3.0, 1.5, 0.2, -2.0, -2.5, -4.8])
    uncertainty = np.array([10.0, 10.0, 30.0, 30.0, 10.0, 20.0])
    measured = coastline.change(years, positions, uncertainty)
    assert measured is not None
    slope, _ = np.polyfit(years, positions, 1, w=1 / uncertainty)
    assert measured.wlr == pytest.approx(slope, rel=1e-9)
    fit = stats.linregress(years, positions)
    assert measured.lrr_ci95 == pytest.approx(fit.stderr * stats.t.ppf(0.975, 4), rel=1e-9)


def test_despiking_drops_a_cloud_crossing_only() -> None:
    years = coastline.decimal_years([date(2014 + k, 7, 1) for k in range(8)])
    positions = -6.0 * (years - years[0]) + np.array([0.5, -1, 2, 0, -0.5, 1, 0, 0.3])
    positions[5] += 300.0
    kept = coastline.despiked(years, positions, 40.0)
    assert np.isnan(kept[5]) and np.isfinite(np.delete(kept, 5)).all()


def test_crossings_placed_by_area_find_a_straight_coast() -> None:
    """Pixels holding their exact share of sea (supersampled 16 × 16) behind a straight coast
    at 20° from a column: the line through the summed shares lies on the coast, where
    interpolating two pixels' shares is off by up to a tenth of a pixel."""
    size, fine = 40, 16
    normal = np.array([np.cos(np.radians(20)), np.sin(np.radians(20))])
    offsets = (np.arange(fine) + 0.5) / fine - 0.5
    rows, cols = np.mgrid[0:size, 0:size]
    sub_r = rows[..., None, None] + offsets[:, None]
    sub_c = cols[..., None, None] + offsets[None, :]
    shares = ((sub_c * normal[0] + sub_r * normal[1]) > 20.3).mean(axis=(2, 3))
    field = shares - 0.5
    identity = rasterio.Affine.identity()
    errors = {}
    for name, summed in (("linear", None), ("summed", shares)):
        lines = coastline.contours(field, identity, shares=summed)
        points = np.concatenate([shapely.get_coordinates(line) for line in lines])
        # Map coordinates of pixel centres are (column + 0.5, row + 0.5).
        across = (points[:, 0] - 0.5) * normal[0] + (points[:, 1] - 0.5) * normal[1] - 20.3
        inner = (points[:, 1] > 3) & (points[:, 1] < size - 4)
        errors[name] = float(np.abs(across[inner]).max())
    print(
        f"straight coast: max distance to it {errors['linear']:.3f} px interpolated, "
        f"{errors['summed']:.4f} px summed"
    )
    assert errors["summed"] <= 0.01 < errors["linear"]


def synthetic_scenes(root: Path) -> list[Scene]:
    """The Sentinel-2 items `territoires synth` catalogued, their hrefs made absolute."""
    scenes = []
    for line in (root / "items.ndjson").read_text().splitlines():
        item = json.loads(line)
        for asset in item["assets"].values():
            asset["href"] = str(root / asset["href"])
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        scenes.append(Scene(item["collection"], item["id"], when.astimezone(UTC), item))
    return sorted(scenes, key=lambda scene: scene.datetime)


@pytest.fixture(scope="module")
def extracted(coast: dict[str, Any]) -> dict[str, Any]:
    """Each scene's shoreline as the process draws it (its readers, grid at the SWIR
    resolution), the transects on its mean shoreline, and per transect and date the crossing
    with the extracted line (despiked) and with the planted line. The synthetic scenes show
    the coast on every date, so none is left out."""
    root = coast["root"]
    scenes = synthetic_scenes(root)
    resolution = process.PROCESS.resolution(scenes[0])
    with rasterio.open(scenes[0].asset("B03")["href"]) as ten_metre:
        grid = Grid.covering(
            ten_metre.bounds,
            ten_metre.crs,
            resolution,
            (ten_metre.transform.c, ten_metre.transform.f),
        )
    guard = AssetGuard.of([str(root)])
    with ExitStack() as stack:
        land = process.land_spectra(scenes, grid, stack, guard)
        found = [process.SceneLine(scene, grid, stack, guard, land) for scene in scenes]
    found_transects, years, measured = process.crossed(found, grid)
    dates = [scene.datetime.date() for scene in scenes]
    planted = [
        np.array([planted_position(transect, *coast["by_date"][day]) for day in dates])
        for transect in found_transects
    ]
    return {
        "grid": grid,
        "found": found,
        "years": years,
        "transects": found_transects,
        "measured": measured,
        "planted": np.array(planted),
    }


def scores(coast: dict[str, Any], extracted: dict[str, Any]) -> dict[str, float]:
    """Position errors (in pixels of the grid, the SWIR band's 20 m) and LRR errors against the
    planted lines' LRR on the same transects."""
    pixel = extracted["grid"].resolution
    errors = (extracted["measured"] - extracted["planted"]) / pixel
    years = extracted["years"]
    lrr_errors, hidden = [], 0
    for measured, planted in zip(extracted["measured"], extracted["planted"], strict=True):
        # On the dates the planted coast is hidden there is nothing to score a crossing
        # against; the planted motion is linear, so its rate is the same on any dates.
        seen = np.where(np.isfinite(planted), measured, np.nan)
        ours, truth = coastline.change(years, seen), coastline.change(years, planted)
        if truth is None or truth.lrr is None:
            hidden += 1  # the planted coast is hidden on most dates: nothing to score
            continue
        ok = ours is not None and ours.lrr is not None
        lrr_errors.append(abs(ours.lrr - truth.lrr) if ok else np.inf)  # type: ignore[union-attr]
    lrr_errors = np.array(lrr_errors)
    figures = {
        "transects": len(extracted["transects"]),
        "hidden": hidden,
        "crossings": int(np.isfinite(errors).sum()),
        "missed": float(np.isnan(errors).mean()),
        "rmse_px": float(np.sqrt(np.nanmean(errors**2))),
        "median_px": float(np.nanmedian(np.abs(errors))),
        "within_half_px": float((np.abs(errors[np.isfinite(errors)]) <= 0.5).mean()),
        "lrr_within": float((lrr_errors <= MAX_LRR_ERROR).mean()),
        "lrr_median": float(np.median(lrr_errors)),
        "planted": coast["truth"]["rate_m_per_year"],
    }
    print(
        f"{figures['transects']} transects ({hidden} where river or lake water hides the "
        f"planted coast), {figures['crossings']} crossings scored "
        f"({figures['missed']:.0%} missed: clouds, outliers, river mouths, hidden coast) on "
        f"{len(years)} Sentinel-2 dates, "
        f"{pixel:g} m pixels: position RMSE {figures['rmse_px']:.2f} px, median |error| "
        f"{figures['median_px']:.2f} px, {figures['within_half_px']:.0%} within 0.5 px; LRR "
        f"within {MAX_LRR_ERROR} m/yr of the planted lines' on {figures['lrr_within']:.0%} of "
        f"the transects (median error {figures['lrr_median']:.3f} m/yr, planted "
        f"{figures['planted']} m/yr)"
    )
    return figures


def test_extracted_shorelines_against_the_planted_coast(
    coast: dict[str, Any], extracted: dict[str, Any]
) -> None:
    reasons = [f.found.reason for f in extracted["found"] if f.found.line is None]
    assert not reasons, reasons
    figures = scores(coast, extracted)
    assert figures["transects"] - figures["hidden"] >= 20
    assert figures["median_px"] <= 0.25
    assert figures["within_half_px"] >= 0.85
    for measured in extracted["measured"]:
        found = coastline.change(extracted["years"], measured)
        if found is None or found.lrr is None:
            continue
        expected = numpy_statistics(extracted["years"], measured)
        for name, value in expected.items():
            assert getattr(found, name) == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_extracted_shorelines_meet_the_position_target(
    coast: dict[str, Any], extracted: dict[str, Any]
) -> None:
    figures = scores(coast, extracted)
    assert figures["rmse_px"] <= 0.5


@pytest.mark.xfail(
    strict=True,
    reason="issue 13's LRR bar is not reached yet: within 0.1 m/yr on 78 % of the transects "
    "(median error 0.036 m/yr). The crossings err by 0.67 m rms (0.25-1.12 m by date), and the "
    "LRR's standard error is that over about 7.7 years for nine dates over nine years (0.09 "
    "m/yr); 95 % needs about 0.4 m rms, a share error near 0.01 where it is 0.02-0.03. A land "
    "reference from the years before the period did not help (76-78 %)",
)
def test_extracted_shorelines_meet_the_lrr_target(
    coast: dict[str, Any], extracted: dict[str, Any]
) -> None:
    figures = scores(coast, extracted)
    assert figures["lrr_within"] >= 0.95
