"""Sentinel-1 to analysis-ready backscatter: the SAR kernels against plain numpy, and the real
GCP-georeferenced GRD scene of the kit read onto an output grid — placed where its ground
control points say, flagged uncalibrated (it has no calibration table), and calibrated to σ0
when a calibration table is given."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.transform import GCPTransformer
from shapely.geometry import Point, box

from territoires.compute.blocks import Grid, Source
from territoires.compute.kernels import sar
from territoires.compute.processes.base import RunningJob, Services
from territoires.compute.processes.flood_extent import (
    PROCESS,
    Backscatter,
    SplitThreshold,
    utm_crs,
)
from territoires.compute.sources import Scene, Zone
from territoires.shared.assets import AssetGuard
from territoires.shared.settings import Settings

from ..conftest import find_kit

VV = find_kit() / "data" / "scenes" / "sentinel1" / "S1A_IW_GRDH_20180716_vv.tiff"
CENTRE = (76.9, 10.2)  # inside the scene's footprint (southern India)
REAL_PERIOD = "2018-07-16T00:00:00+00:00/2018-07-16T23:59:59+00:00"  # the acquisition day


def lee_reference(intensity: np.ndarray, radius: int, looks: float) -> np.ndarray:
    rows, cols = intensity.shape[0] - 2 * radius, intensity.shape[1] - 2 * radius
    out = np.full((rows, cols), np.nan)
    cu2 = 1 / looks
    for i in range(rows):
        for j in range(cols):
            centre = intensity[i + radius, j + radius]
            window = intensity[i : i + 2 * radius + 1, j : j + 2 * radius + 1]
            window = window[np.isfinite(window)].astype(np.float64)
            if not np.isfinite(centre):
                continue
            mean, variance = window.mean(), window.var()
            signal = (variance - mean**2 * cu2) / (1 + cu2)
            gain = 0.0 if variance <= 0 else min(1.0, max(0.0, signal / variance))
            out[i, j] = mean + gain * (centre - mean)
    return out


def test_lee_filter_and_decibels_equal_numpy() -> None:
    rng = np.random.default_rng(7)
    sigma = np.where(np.arange(40)[None, :] < 20, 0.01, 0.2) * np.ones((36, 1))
    intensity = (sigma * rng.standard_gamma(4.4, sigma.shape) / 4.4).astype(np.float32)
    intensity[5, 7] = intensity[20:23, 30] = np.nan
    out = np.empty((32, 36), np.float32)
    sar.lee_filter(intensity, 2, 4.4, out)
    np.testing.assert_allclose(out, lee_reference(intensity, 2, 4.4), rtol=1e-5)
    decibels = np.empty_like(out)
    sar.to_db(out, decibels)
    np.testing.assert_allclose(decibels, 10 * np.log10(out), rtol=1e-5)
    # Speckle is reduced: the filtered dark half varies less than the raw one.
    assert np.nanstd(out[:, :10]) < 0.6 * np.nanstd(intensity[2:-2, 2:12])


def test_otsu_and_ashman_d_on_histograms() -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(-21, 1.5, 30_000), rng.normal(-8, 2.0, 70_000)])
    counts = sar.histogram(values, sar.HISTOGRAM_DB)
    threshold = sar.otsu(counts, sar.HISTOGRAM_DB)
    centres = sar.bin_centres(sar.HISTOGRAM_DB)
    brute = max(
        centres[1:] - 0.05,
        key=lambda edge: (
            counts[centres < edge].sum()
            * counts[centres >= edge].sum()
            * (
                np.average(centres[centres < edge], weights=counts[centres < edge] + 1e-12)
                - np.average(centres[centres >= edge], weights=counts[centres >= edge] + 1e-12)
            )
            ** 2
        ),
    )
    assert threshold == pytest.approx(brute, abs=1e-9)
    assert -17 < threshold < -12
    d, share, dark_mean, bright_mean = sar.ashman_d(counts, sar.HISTOGRAM_DB, threshold)
    assert d > 5 and share == pytest.approx(0.3, abs=0.01)
    assert dark_mean == pytest.approx(-21, abs=0.1)
    assert bright_mean == pytest.approx(-8, abs=0.1)
    one_mode = sar.histogram(rng.normal(-8, 2.0, 100_000), sar.HISTOGRAM_DB)
    assert sar.ashman_d(one_mode, sar.HISTOGRAM_DB, sar.otsu(one_mode, sar.HISTOGRAM_DB))[0] < 2


def real_scene(tmp_path: Path, table: float | None) -> Scene:
    assets = {"vv": {"href": str(VV), "raster:bands": [{"data_type": "uint16"}]}}
    if table is not None:
        xml = tmp_path / "calibration-iw-vv.xml"
        pixels = " ".join(str(p) for p in (0, 640, 1279))
        vectors = "".join(
            f"<calibrationVector><line>{line}</line><pixel>{pixels}</pixel>"
            f"<sigmaNought>{table} {table} {table}</sigmaNought></calibrationVector>"
            for line in (0, 836)
        )
        xml.write_text(
            f"<calibration><calibrationVectorList>{vectors}</calibrationVectorList></calibration>"
        )
        assets["calibration-vv"] = {"href": str(xml), "type": "application/xml"}
    footprint = json.loads((VV.parent / "productInfo.json").read_text())["footprint"]
    content = {"assets": assets, "properties": {}, "geometry": footprint}
    return Scene(
        "sentinel-1-grd", "S1A_IW_GRDH_20180716", datetime(2018, 7, 16, tzinfo=UTC), content
    )


def real_grid() -> Grid:
    crs = utm_crs([Zone(Point(*CENTRE))])
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*CENTRE)
    return Grid.covering((x - 15_000, y - 15_000, x + 15_000, y + 15_000), crs, 100.0)


def test_the_real_gcp_scene_lands_where_its_control_points_say(tmp_path: Path) -> None:
    grid = real_grid()
    guard = AssetGuard.of([str(VV.parent), str(tmp_path)])
    with rasterio.open(VV) as raw:
        stored = raw.read(1)
        locate = GCPTransformer(raw.gcps[0])
    source = Source(real_scene(tmp_path, None).raster("vv", guard), grid, Resampling.nearest)
    try:
        [window] = grid.windows()
        warped = source.read(window)
    finally:
        source.close()
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width] + 0.5
    x, y = grid.transform * (cols, rows)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    line, pixel = locate.rowcol(lon.ravel(), lat.ravel())
    expected = stored[np.asarray(line), np.asarray(pixel)].reshape(warped.shape)
    agree = np.mean(warped == expected)
    print(
        f"real S1 scene warped through its GCPs onto {grid.width}×{grid.height} UTM cells: "
        f"{agree:.1%} equal the DN the GCP transformer points to"
    )
    assert agree > 0.95


def test_the_real_scene_is_flagged_uncalibrated_and_calibrated_with_a_table(
    tmp_path: Path,
) -> None:
    grid = real_grid()
    guard = AssetGuard.of([str(VV.parent), str(tmp_path)])
    [window] = grid.windows()
    with ExitStack() as stack:
        relative = Backscatter(real_scene(tmp_path, None), grid, stack, guard)
        calibrated = Backscatter(real_scene(tmp_path, 600.0), grid, stack, guard)
        uncalibrated_db, sigma0_db = relative.read(window), calibrated.read(window)
    assert not relative.radiometry.calibrated
    assert "uncalibrated" in (relative.radiometry.note or "")
    assert calibrated.radiometry.calibrated and calibrated.radiometry.note is None
    assert np.isfinite(uncalibrated_db).mean() > 0.99
    # σ0 = DN² / A²: a constant table shifts every cell by −20·log10(A) dB.
    np.testing.assert_allclose(sigma0_db, uncalibrated_db - 20 * math.log10(600.0), atol=1e-3)
    split = SplitThreshold(sar.HISTOGRAM_DB, -15.0)
    split.add(sigma0_db)
    print(
        f"real scene σ0 (table A=600): median {np.nanmedian(sigma0_db):.1f} dB; "
        f"{split.bimodal} of {split.tiles} tiles bimodal"
    )
    assert split.tiles >= 1


def test_flood_extent_runs_on_the_real_scene_alone_flagged_uncalibrated(tmp_path: Path) -> None:
    """The whole science of the process over 4 × 4 km of the real scene: one acquisition
    without calibration table, so a degraded result that says why, never an error."""
    x, y = CENTRE
    area = box(x - 0.02, y - 0.02, x + 0.02, y + 0.02)
    settings = Settings(storage_url=str(tmp_path / "storage"), asset_prefixes=[str(VV.parent)])
    scene = real_scene(tmp_path, None)
    job = RunningJob(
        id=uuid.uuid4(),
        owner=uuid.uuid4(),
        attempt=1,
        inputs={"post_event": scene.id, "pre_event": None, "datetime": REAL_PERIOD},
        base_url="http://localhost",
        services=Services(settings, None, None),  # type: ignore[arg-type]  # no territory: unused
        executor=ThreadPoolExecutor(1),
        scratch=tmp_path,
        progress=lambda _: asyncio.sleep(0),
    )
    computed = asyncio.run(PROCESS.compute(job, [Zone(area)], [scene]))
    [figures] = computed.figures
    print(f"flood-extent on the real scene: {figures}")
    assert figures["calibrated"] is False and figures["members"] == ["split-threshold"]
    assert any("uncalibrated" in note for note in figures["notes"])
    assert any("no pre-event acquisition" in note for note in figures["notes"])
    assert figures["observed_share"] > 0.99
    assert figures["exposed_population"] is None and "not a commune" in figures["exposure"]
    with rasterio.open(computed.rasters["flood-extent"]) as mask:
        assert mask.crs == utm_crs([Zone(area)]) and set(np.unique(mask.read(1))) <= {0, 1}
