"""Zonal statistics of the 466 communes of Charente-Maritime equal rasterstats' (same
pixel-centre rule), for a continuous and a categorical raster."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterstats import zonal_stats

from territoires.compute.blocks import Grid, Raster
from territoires.compute.processes.zonal_statistics import zonal_figures
from territoires.shared.models import TerritoryLevel
from territoires.shared.settings import Settings
from territoires.shared.territories import read_demo_territories

LAMBERT93 = CRS.from_epsg(2154)
RESOLUTION = 100.0
STATISTICS = [
    "count",
    "mean",
    "min",
    "max",
    "std",
    "percentile_10",
    "percentile_50",
    "percentile_90",
]


@pytest.fixture(scope="module")
def communes() -> list[shapely.Geometry]:
    """The communes of Charente-Maritime in Lambert-93."""
    to_lambert = Transformer.from_crs("EPSG:4326", LAMBERT93, always_xy=True)
    records = [
        r
        for r in read_demo_territories(Settings().data_dir)
        if r.level == TerritoryLevel.COMMUNE and r.parent_code == "17"
    ]
    assert len(records) == 466
    return [shapely.transform(r.geometry, to_lambert.transform, interleaved=False) for r in records]


def write_raster(path: Path, communes: list[shapely.Geometry], dtype: str, nodata: float) -> Grid:
    """A 100 m raster over the département: a smooth field with noise (or classes), and a
    stripe of nodata."""
    left, bottom, right, top = shapely.union_all(communes).bounds
    grid = Grid.covering((left, bottom, right, top), LAMBERT93, RESOLUTION, (0.0, 0.0))
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    rng = np.random.default_rng(17)
    field = np.sin(rows / 37.0) * np.cos(cols / 53.0) + rng.normal(0, 0.3, rows.shape)
    if dtype == "uint8":
        values = np.digitize(field, [-0.8, -0.2, 0.3, 0.9]).astype(np.uint8) + 1
    else:
        values = field.astype(dtype)
    values[grid.height // 3 : grid.height // 3 + 40, :] = nodata
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype=dtype,
        crs=grid.crs,
        transform=grid.transform,
        nodata=nodata,
        tiled=True,
    ) as dataset:
        dataset.write(values, 1)
    return grid


async def ours(path: Path, communes: list[shapely.Geometry], grid: Grid, classes: bool):
    async def progress(_: float) -> None:
        return None

    shapes = [(geometry, number) for number, geometry in enumerate(communes, start=1)]
    with ThreadPoolExecutor(1) as executor:
        return await zonal_figures(
            [Raster(str(path), path.name)], shapes, grid, classes, executor, progress
        )


async def test_continuous_raster_equals_rasterstats(communes, tmp_path: Path) -> None:
    path = tmp_path / "values.tif"
    grid = write_raster(path, communes, "float32", -9999.0)
    figures = await ours(path, communes, grid, classes=False)
    expected = zonal_stats(communes, str(path), stats=STATISTICS, all_touched=False)
    compared = 0
    for mine, theirs in zip(figures, expected, strict=True):
        assert mine["count"] == theirs["count"]
        if not theirs["count"]:
            continue
        compared += 1
        for key, theirs_key in (
            ("mean", "mean"),
            ("min", "min"),
            ("max", "max"),
            ("std", "std"),
            ("p10", "percentile_10"),
            ("p50", "percentile_50"),
            ("p90", "percentile_90"),
        ):
            assert mine[key] == pytest.approx(theirs[theirs_key], rel=1e-5, abs=1e-6), key
    assert compared > 400  # a few islets are smaller than a 100 m pixel


async def test_categorical_raster_class_shares_equal_rasterstats(communes, tmp_path) -> None:
    path = tmp_path / "classes.tif"
    grid = write_raster(path, communes, "uint8", 0)
    figures = await ours(path, communes, grid, classes=True)
    expected = zonal_stats(communes, str(path), categorical=True, all_touched=False)
    for mine, theirs in zip(figures, expected, strict=True):
        total = sum(theirs.values())
        assert mine["count"] == total
        if total:
            assert mine["classes"] == {str(k): v / total for k, v in sorted(theirs.items())}


def test_grid_lattice() -> None:
    """A grid covering bounds snaps outwards onto the anchor's pixel lattice."""
    grid = Grid.covering((105.0, 190.0, 290.0, 410.0), LAMBERT93, 100.0, (0.0, 0.0))
    assert grid.transform == Affine(100.0, 0.0, 100.0, 0.0, -100.0, 500.0)
    assert (grid.width, grid.height) == (2, 4)
