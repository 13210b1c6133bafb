"""Zonal statistics of the 466 communes of Charente-Maritime on a 10 m raster: the compute
service's block pipeline against exactextract, measured in the same run.

    uv run python bench/zonal.py [--resolution 10] [--keep]

Both compute count, mean, min, max, standard deviation and the 10th/50th/90th percentiles of
every commune from the same uint16 GeoTIFF (Lambert-93, deflate, 512² tiles). Ours reads the
raster block by block, rasterises the communes by the pixel-centre rule and sorts values by
commune; exactextract weighs cells by their covered fraction (more work per cell, a different
rule), which is the reference it is usually measured against.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
import shapely
from exactextract import exact_extract
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.windows import Window
from shapely.geometry import mapping

from territoires.compute.blocks import Grid
from territoires.compute.processes.zonal_statistics import zonal_figures
from territoires.compute.worker import warm_kernels
from territoires.shared.models import TerritoryLevel
from territoires.shared.settings import Settings
from territoires.shared.territories import read_demo_territories

LAMBERT93 = CRS.from_epsg(2154)
OPERATIONS = [
    "count",
    "mean",
    "min",
    "max",
    "stdev",
    "quantile(q=0.1)",
    "quantile(q=0.5)",
    "quantile(q=0.9)",
]


def communes() -> list[shapely.Geometry]:
    to_lambert = Transformer.from_crs("EPSG:4326", LAMBERT93, always_xy=True)
    return [
        shapely.transform(r.geometry, to_lambert.transform, interleaved=False)
        for r in read_demo_territories(Settings().data_dir)
        if r.level == TerritoryLevel.COMMUNE and r.parent_code == "17"
    ]


def write_raster(path: Path, grid: Grid) -> None:
    """Reflectance-like uint16 values with structure (fields, towns) and noise, 0 as nodata."""
    rng = np.random.default_rng(0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype="uint16",
        crs=grid.crs,
        transform=grid.transform,
        nodata=0,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        zlevel=1,
        BIGTIFF="YES",
    ) as dataset:
        for window in grid.windows(2048):
            rows, cols = np.mgrid[
                window.row_off : window.row_off + window.height,
                window.col_off : window.col_off + window.width,
            ]
            field = 3000 + 1500 * np.sin(rows / 311.0) * np.cos(cols / 173.0)
            values = field + rng.normal(0, 400, field.shape)
            dataset.write(
                np.clip(values, 1, 65535).astype(np.uint16),
                1,
                window=Window(window.col_off, window.row_off, window.width, window.height),
            )


async def ours(path: Path, zones: list[shapely.Geometry], grid: Grid) -> list[dict]:
    async def progress(_: float) -> None:
        return None

    shapes = [(geometry, number) for number, geometry in enumerate(zones, start=1)]
    with ThreadPoolExecutor(1) as executor:
        return await zonal_figures([str(path)], shapes, grid, False, executor, progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the raster (printed path)")
    args = parser.parse_args()

    zones = communes()
    grid = Grid.covering(shapely.union_all(zones).bounds, LAMBERT93, args.resolution, (0.0, 0.0))
    folder = Path(tempfile.mkdtemp(prefix="bench-zonal-"))
    raster = folder / "values.tif"
    began = time.perf_counter()
    write_raster(raster, grid)
    features = [
        {"type": "Feature", "properties": {"zone": n}, "geometry": mapping(g)}
        for n, g in enumerate(zones, start=1)
    ]
    print(
        f"{len(zones)} communes on {grid.width}×{grid.height} = {grid.pixels / 1e6:.0f} Mpx "
        f"at {args.resolution:g} m (raster written in {time.perf_counter() - began:.0f} s)"
    )
    warm_kernels()

    began = time.perf_counter()
    figures = asyncio.run(ours(raster, zones, grid))
    ours_s = time.perf_counter() - began

    began = time.perf_counter()
    theirs = exact_extract(str(raster), features, OPERATIONS)
    theirs_s = time.perf_counter() - began

    counted = sum(f["count"] for f in figures)
    means = np.array([f.get("mean", np.nan) for f in figures])
    their_means = np.array([f["properties"]["mean"] for f in theirs], dtype=float)
    gap = np.nanmax(np.abs(means - their_means) / their_means)
    print(
        f"  territoires (pixel centres, exact percentiles)  {ours_s:7.1f} s  "
        f"({counted / 1e6:.0f} Mpx in communes)"
    )
    print(f"  exactextract (coverage fractions)               {theirs_s:7.1f} s")
    print(
        f"  ratio ours / exactextract                       {ours_s / theirs_s:7.2f}×  "
        "(goal ≤ 1.0×)"
    )
    print(f"  largest relative gap between the two means: {gap:.1e} (the rules differ at edges)")
    if args.keep:
        print(f"  raster kept in {folder}")
    else:
        raster.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
