"""flood-extent's optical member on the real Landsat 8 and Sentinel-2 scenes of the kit: its
MNDWI and water mask (through the same readers, scaling and cloud mask as a job) against a
plain-numpy reference."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from territoires.catalog.ingest.mtl import Mtl, read_groups
from territoires.compute.blocks import Grid
from territoires.compute.processes.flood_extent import GREEN, MNDWI_WATER, SWIR, mndwi
from territoires.compute.processes.vegetation import Bands, SceneReader
from territoires.compute.sources import Scene
from territoires.shared.assets import AssetGuard

from ..conftest import find_kit

SCENES = find_kit() / "data" / "scenes"
LANDSAT = SCENES / "landsat8" / "LC08_L1TP_016037_20170813_20170814_01_RT_{}"
SENTINEL2 = SCENES / "sentinel2" / "S2_19UDP_20170729_L2A_{}.tif"
TOLERANCE = 1e-6


def asset(path: Path, common_name: str | None, scale: float = 1.0, offset: float = 0.0) -> dict:
    document: dict[str, Any] = {
        "href": str(path),
        "raster:bands": [{"nodata": 0, "scale": scale, "offset": offset}],
    }
    if common_name:
        document["eo:bands"] = [{"name": path.stem, "common_name": common_name}]
    return document


def landsat() -> tuple[Scene, dict[str, tuple[float, float]]]:
    """The Level-1 scene with its TOA reflectance scaling from the MTL, and BQA."""
    mtl = Mtl(read_groups(Path(str(LANDSAT).format("MTL.txt"))))
    scaling = {
        band: (
            mtl.number(f"REFLECTANCE_MULT_BAND_{band}") or missing_scaling(band),
            mtl.number(f"REFLECTANCE_ADD_BAND_{band}") or missing_scaling(band),
        )
        for band in (3, 6)
    }
    assets = {
        "B3": asset(Path(str(LANDSAT).format("B3.TIF")), "green", *scaling[3]),
        "B6": asset(Path(str(LANDSAT).format("B6.TIF")), "swir16", *scaling[6]),
        "BQA": asset(Path(str(LANDSAT).format("BQA.TIF")), None),
    }
    content = {"assets": assets, "properties": {"landsat:collection_number": "01"}}
    return Scene(
        "landsat-c2-l2", "LC08_016037_20170813", datetime(2017, 8, 13, tzinfo=UTC), content
    ), {
        "green": scaling[3],
        "swir": scaling[6],
    }


def missing_scaling(band: int) -> float:
    raise AssertionError(f"the MTL has no reflectance scaling for band {band}")


def sentinel2() -> Scene:
    assets = {
        "B03": asset(Path(str(SENTINEL2).format("B03")), "green", 0.0001),
        "B11": asset(Path(str(SENTINEL2).format("B11")), "swir16", 0.0001),
    }
    return Scene(
        "sentinel-2-l2a",
        "S2_19UDP_20170729",
        datetime(2017, 7, 29, tzinfo=UTC),
        {"assets": assets, "properties": {}},
    )


def bqa_clear(qa: np.ndarray) -> np.ndarray:
    """Not fill, not cloud, no high-confidence cloud shadow or cirrus (Collection 1 BQA)."""
    return ~((qa & 1 == 1) | (qa & (1 << 4) != 0) | ((qa >> 7) & 3 == 3) | ((qa >> 11) & 3 == 3))


def reference(
    green_path: str, swir_path: str, scaling: dict, clear: np.ndarray | None
) -> np.ndarray:
    with rasterio.open(green_path) as g, rasterio.open(swir_path) as s:
        green_dn, swir_dn = g.read(1), s.read(1)
    green = green_dn * scaling["green"][0] + scaling["green"][1]
    swir = swir_dn * scaling["swir"][0] + scaling["swir"][1]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = (green - swir) / (green + swir)
    unusable = (green_dn == 0) | (swir_dn == 0) | (green + swir == 0)
    if clear is not None:
        unusable |= ~clear
    values[unusable] = np.nan
    return values


@pytest.mark.parametrize("sensor", ["landsat8", "sentinel2"])
def test_mndwi_and_water_mask_equal_numpy_on_real_scenes(sensor: str) -> None:
    if sensor == "landsat8":
        scene, scaling = landsat()
        with rasterio.open(scene.asset("BQA")["href"]) as qa:
            clear = bqa_clear(qa.read(1))
    else:
        scene, scaling, clear = sentinel2(), {"green": (0.0001, 0.0), "swir": (0.0001, 0.0)}, None
    bands = Bands.of(scene, SWIR, GREEN)
    green_href, swir_href = scene.asset(bands.nir)["href"], scene.asset(bands.red)["href"]
    expected = reference(green_href, swir_href, scaling, clear)
    with rasterio.open(green_href) as dataset:
        grid = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
    guard = AssetGuard.of([str(SCENES)])
    with ExitStack() as stack:
        reader = SceneReader(scene, grid, stack, guard, bands)
        found = mndwi(reader, Window(0, 0, grid.width, grid.height))
    assert np.array_equal(np.isnan(found), np.isnan(expected))
    assert np.nanmax(np.abs(found - expected)) <= TOLERANCE
    decided = np.abs(np.nan_to_num(expected, nan=1.0) - MNDWI_WATER) > TOLERANCE
    water, expected_water = found > MNDWI_WATER, expected > MNDWI_WATER
    assert np.array_equal(water[decided], expected_water[decided])
    seen = np.isfinite(expected)
    print(
        f"{sensor}: MNDWI on {seen.sum()} clear pixels equal numpy within "
        f"{np.nanmax(np.abs(found - expected)):.1e}; water {expected_water[seen].mean():.1%} "
        f"of them, the same mask; masked {(~seen).mean():.1%}"
    )
    assert 0.2 < expected_water[seen].mean() < 0.9  # both scenes hold real water and land
