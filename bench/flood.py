"""`flood-extent`'s science on a whole Sentinel-1-like pair (N² float32 dB at 10 m, speckled,
a flooded band planted across it): wall time and peak RSS, which the block-wise reading keeps
bounded whatever N (two 1024² blocks with their halo per acquisition, the tile histograms).

    uv run python bench/flood.py [--size 25000]

The pair is written first (not timed) as tiled GeoTIFFs in a scratch folder; then
`FloodExtent.compute` runs over a geometry covering the scene, as a worker runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box, mapping, shape

from territoires.compute.processes.base import RunningJob, Services
from territoires.compute.processes.flood_extent import PROCESS
from territoires.compute.sources import Scene, Zone
from territoires.shared.settings import Settings

EPSG = 32630
ORIGIN = (600_000.0, 5_130_000.0)  # La Rochelle's UTM zone
LAND_DB, WATER_DB, LOOKS = -8.0, -21.0, 4.4
ROWS = 1024


def write_pair(folder: Path, size: int) -> list[Scene]:
    """Pre- and post-event acquisitions; the post one has a flooded band of a fifth of the rows."""
    transform = Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1])
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": f"EPSG:{EPSG}",
        "transform": transform,
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "BIGTIFF": "YES",
    }
    rng = np.random.default_rng(1)
    scenes = []
    for day, flooded in ((1, False), (13, True)):
        path = folder / f"vv-{day}.tif"
        with rasterio.open(path, "w", **profile) as out:
            for top in range(0, size, ROWS):
                rows = min(ROWS, size - top)
                sigma = np.full((rows, size), 10 ** (LAND_DB / 10), np.float32)
                sigma[:, : size // 10] = 10 ** (WATER_DB / 10)  # a lake, permanent water
                if flooded:
                    band = (np.arange(top, top + rows) % (size // 2)) < size // 10
                    sigma[band, size // 10 : size // 2] = 10 ** (WATER_DB / 10)
                sigma *= rng.standard_gamma(LOOKS, sigma.shape).astype(np.float32) / LOOKS
                out.write(10 * np.log10(sigma), 1, window=((top, top + rows), (0, size)))
        footprint = box(*rasterio.open(path).bounds)
        to_lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True)
        outline = box(*to_lonlat.transform_bounds(*footprint.bounds))
        content = {
            "assets": {"vv": {"href": str(path), "raster:bands": [{"unit": "dB"}]}},
            "properties": {"sar:looks_equivalent_number": LOOKS, "gsd": 10},
            "geometry": mapping(outline),
        }
        scenes.append(
            Scene("sentinel-1-grd", f"s1-{day}", datetime(2023, 11, day, tzinfo=UTC), content)
        )
    return scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=25_000)
    size = parser.parse_args().size
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        began = time.perf_counter()
        pre, post = write_pair(folder, size)
        print(f"pair of {size}² written in {time.perf_counter() - began:.1f} s")
        area = Zone(shape(post.content["geometry"]).buffer(-0.001))
        settings = Settings(storage_url=str(folder / "storage"), asset_prefixes=[str(folder)])
        job = RunningJob(
            id=uuid.uuid4(),
            owner=uuid.uuid4(),
            attempt=1,
            inputs={
                "post_event": post.id,
                "pre_event": pre.id,
                "datetime": f"{pre.datetime.isoformat()}/{post.datetime.isoformat()}",
            },
            base_url="http://localhost",
            services=Services(settings, None, None),  # type: ignore[arg-type]
            executor=ThreadPoolExecutor(1),
            scratch=folder,
            progress=lambda _: asyncio.sleep(0),
        )
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        began = time.perf_counter()
        computed = asyncio.run(PROCESS.compute(job, [area], [post, pre]))
        elapsed = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        [figures] = computed.figures
        print(
            f"flood-extent on {size}² ({size * size / 1e6:.0f} Mpx): {elapsed:.1f} s, "
            f"{size * size / elapsed / 1e6:.1f} Mpx/s; peak RSS {peak:.0f} MB (before the run "
            f"{before:.0f} MB); flooded {figures['flooded_area_ha']:.0f} ha "
            f"(planted {0.2 * 0.4 * size * size / 100:.0f} ha), excluded "
            f"{figures['excluded_area_ha']:.0f} ha, thresholds {figures['thresholds_db']}"
        )


if __name__ == "__main__":
    main()
