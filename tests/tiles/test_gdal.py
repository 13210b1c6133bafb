"""GDAL, as a GIS would, reads a result through our WMTS (Debian's gdal-bin, via the gateway)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from territoires.shared.indicators import INDICATORS
from territoires.tiles.styles import indicator_colormap, lut_index

from .data import BLOCK, NODATA_BLOCK, OLDER_NDVI, ORIGIN, TO_LONLAT, ndvi_value

pytestmark = pytest.mark.skipif(
    not shutil.which("gdalinfo"), reason="gdal-bin is installed by scripts/bootstrap.sh test"
)


def block_centre(row: int, col: int) -> tuple[float, float]:
    x = ORIGIN[0] + (col + 0.5) * BLOCK * 10
    y = ORIGIN[1] - (row + 0.5) * BLOCK * 10
    return TO_LONLAT.transform(x, y)


# GDAL's WMTS driver caches tiles in ./gdalwmscache unless told otherwise.
GDAL_ENVIRONMENT = {
    **os.environ,
    "GDAL_DEFAULT_WMS_CACHE_PATH": str(Path(tempfile.gettempdir()) / "territoires-gdal-wms"),
}


def gdal(*arguments: str) -> str:
    done = subprocess.run(
        arguments, capture_output=True, text=True, timeout=120, check=False, env=GDAL_ENVIRONMENT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def rgba_at(dataset: str, lon: float, lat: float) -> tuple[int, ...]:
    output = gdal("gdallocationinfo", "-wgs84", "-valonly", dataset, str(lon), str(lat))
    return tuple(int(value) for value in output.split())


def test_capabilities_offer_every_grid(tiles_gateway_url: str) -> None:
    capabilities = (
        f"{tiles_gateway_url}/tiles/collections/ndvi/items/ndvi-2025/WMTSCapabilities.xml"
    )
    output = gdal("gdalinfo", f"WMTS:{capabilities}")
    for grid in ("WebMercatorQuad", "WorldCRS84Quad", "LAM93", "UTM30WGS84Quad"):
        assert f"layer=ndvi.ndvi-2025_{grid}_default" in output


@pytest.mark.parametrize("grid", ["WebMercatorQuad", "LAM93", "UTM30WGS84Quad"])
def test_gdal_reads_the_indicator_colours_at_known_points(
    tiles_gateway_url: str, grid: str
) -> None:
    capabilities = (
        f"{tiles_gateway_url}/tiles/collections/ndvi/items/ndvi-2025/WMTSCapabilities.xml"
    )
    dataset = f"WMTS:{capabilities},layer=ndvi.ndvi-2025_{grid}_default,tilematrixset={grid}"
    ndvi, table = INDICATORS["ndvi"], indicator_colormap("ndvi")
    for block in [(1, 2), (3, 4), (2, 0)]:
        colour = table[lut_index(ndvi, ndvi_value(*block))]
        assert rgba_at(dataset, *block_centre(*block)) == colour, block
    assert rgba_at(dataset, *block_centre(*NODATA_BLOCK))[3] == 0


def test_gdal_reads_a_collection_mosaic_for_a_date(tiles_gateway_url: str) -> None:
    capabilities = (
        f"{tiles_gateway_url}/tiles/collections/ndvi/WMTSCapabilities.xml?datetime=2024-07-15"
    )
    dataset = (
        f"WMTS:{capabilities},layer=ndvi_WebMercatorQuad_default,tilematrixset=WebMercatorQuad"
    )
    expected = indicator_colormap("ndvi")[lut_index(INDICATORS["ndvi"], OLDER_NDVI)]
    assert rgba_at(dataset, *block_centre(*NODATA_BLOCK)) == expected
    assert rgba_at(dataset, *block_centre(2, 3)) == expected
