"""A few bands of a stack are read through a VRT of those bands alone, with the same values and
mask as reading them from the whole stack."""

from __future__ import annotations

from pathlib import Path

import numpy
from rio_tiler.io import Reader

from territoires.tiles.readers import MAX_IMPLICIT_BANDS, OPEN_DATASETS, CachedReader

from .data import ORIGIN, TO_LONLAT, write_cog
from .pixels import GRIDS


def test_band_subset_of_a_stack_reads_the_same_pixels(tmp_path: Path) -> None:
    count = MAX_IMPLICIT_BANDS + 8
    nights = numpy.arange(count * 64 * 64, dtype="uint16").reshape(count, 64, 64) % 5000 + 1
    nights[4, :10] = 65535  # a cloudy strip on one night
    path = write_cog(tmp_path / "stack.tif", nights, 100.0, 65535)
    lon, lat = TO_LONLAT.transform(ORIGIN[0] + 3200, ORIGIN[1] - 3200)
    tms = GRIDS.get("WebMercatorQuad")
    tile = tms.tile(lon, lat, 13)
    indexes = [5, count]
    with CachedReader(str(path), tms=tms) as reader:
        subset = reader.tile(tile.x, tile.y, tile.z, indexes=indexes)
    with Reader(str(path), tms=tms) as reader:
        whole = reader.tile(tile.x, tile.y, tile.z, indexes=indexes)
    assert subset.count == 2
    assert numpy.array_equal(subset.array.data, whole.array.data)
    assert numpy.array_equal(subset.array.mask, whole.array.mask)
    assert subset.array.mask[0].any() and not subset.array.mask[1].all()
    assert f"vrt://{path}?bands=5,{count}" in OPEN_DATASETS.datasets
