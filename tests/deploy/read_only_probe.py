"""Run by test_read_only_root.py inside a mount namespace whose root is read-only and whose /tmp
is a fresh tmpfs, as in the pods: every service answers, numba caches its kernels, a job's
scratch raster becomes a COG. Prints one line per check; any write outside /tmp raises."""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.windows import Window

from territoires.compute.blocks import Grid, Output, write_cog
from territoires.compute.kernels import masks, spectral


def main() -> None:
    for service in ("gateway", "catalog", "compute", "tiles"):
        app = importlib.import_module(f"territoires.{service}.app").create_app()
        with TestClient(app) as client:
            codes = [client.get(path).status_code for path in ("/healthz", "/readyz")]
        print(f"{service} {codes[0]} {codes[1]}")
    spectral.warm_up()
    masks.warm_up()
    cached = [path for path in Path(os.environ["NUMBA_CACHE_DIR"]).rglob("*") if path.is_file()]
    print(f"numba {len(cached)}")
    scratch = Path(tempfile.mkdtemp(prefix="territoires-job-"))
    grid = Grid(CRS.from_epsg(2154), from_origin(380000, 6580000, 10, 10), 2048, 2048)
    output = Output(scratch / "part.tif", grid, "float32", -9999.0)
    output.write(Window(0, 0, 1024, 1024), np.ones((1024, 1024), np.float32))
    output.close()
    write_cog(scratch / "part.tif", scratch / "result.tif", {}, "average")
    print(f"cog {(scratch / 'result.tif').stat().st_size}")


if __name__ == "__main__":
    main()
