"""Indicators as plug-ins: every registry entry names a process that exists (or is planned),
every process outputs only registered ids, and a toy indicator — its process, kernel and
registry entry only — runs through the gateway to a COG, features, tiles, a legend and
statistics."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import morecantile
import pyogrio.raw
import pytest
import shapely

from territoires.compute.app import create_app as create_compute
from territoires.compute.processes import PROCESSES
from territoires.shared.indicators import INDICATORS
from territoires.shared.settings import ConfigurationError, Settings

from ..servers import serve
from ..stack import SUMMER_2023, gateway_over, start_worker, stop_worker, wait_for_worker
from .test_vegetation import executed

TOY = "tests.compute.toy_indicator"


API_IMPORTS = """
import sys
import territoires.compute.app
from territoires.compute.processes import PROCESSES
described = [process.metadata["outputs"] for process in PROCESSES.values()]
print(sorted(m for m in ("numba", "territoires.compute.worker") if m in sys.modules))
"""


def test_the_api_imports_neither_the_worker_nor_numba() -> None:
    """The processes' descriptions load without their kernels: numba (seconds of import) is the
    worker's, and the worker's module is no part of the API."""
    loaded = subprocess.run(
        [sys.executable, "-c", API_IMPORTS], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_the_registry_and_the_processes_agree() -> None:
    for indicator in INDICATORS.values():
        if indicator.process and not indicator.planned:
            assert indicator.process in PROCESSES, f"{indicator.id}: no {indicator.process!r}"
    for process in PROCESSES.values():
        for indicator_id in process.indicators():
            assert indicator_id in INDICATORS, f"{process.id} outputs unregistered {indicator_id}"
            assert INDICATORS[indicator_id].process == process.id


@pytest.fixture(scope="module")
def toy_platform(
    platform_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The platform with the toy plug-in named in its settings, and a worker of its own."""
    settings = platform_settings.model_copy(
        update={"plugins": [TOY], "redis_prefix": f"{platform_settings.redis_prefix}-toy"}
    )
    log = tmp_path_factory.mktemp("toy") / "worker.log"
    worker = start_worker(settings, log)
    try:
        wait_for_worker(settings, worker, log)
        with (
            serve(create_compute(settings)) as compute_url,
            gateway_over(settings, compute_url) as url,
        ):
            yield url
    finally:
        stop_worker(worker)


def test_a_toy_indicator_plug_in_runs_end_to_end(toy_platform: str, api_key: str) -> None:
    with httpx.Client(base_url=toy_platform, headers={"X-API-Key": api_key}, timeout=60) as http:
        assert "toy" in {p["id"] for p in http.get("/processes").json()["processes"]}
        outputs = http.get("/processes/toy").json()["outputs"]
        assert {"toy-brightness", "toy-brightness-tiles", "toy-bright-spots"} <= set(outputs)
        assert "toy-bright-spots-gpkg" in outputs
        job_id, results = executed(
            http, "toy", {"territory": "17300", "datetime": SUMMER_2023}, timeout_s=600
        )

        cog = http.get(results["toy-brightness"]["href"], headers={"Range": "bytes=0-3"})
        assert cog.status_code == 206 and cog.content[:2] in (b"II", b"MM")
        spots = http.get(results["toy-bright-spots"]["href"]).json()
        assert spots["features"]
        package = http.get(results["toy-bright-spots-gpkg"]["href"])
        assert package.headers["content-type"] == "application/geopackage+sqlite3"
        assert pyogrio.read_info(package.content)["features"] == len(spots["features"])
        assert all(f["properties"]["area_m2"] > 0 for f in spots["features"])
        listed = http.get("/features/collections/toy-bright-spots").json()
        assert listed["id"] == "toy-bright-spots"
        assert_vector_tiles(http, job_id, spots["features"])

        tilejson = http.get(results["toy-brightness-tiles"]["href"]).json()
        z = tilejson["minzoom"] + 2
        lon, lat = tilejson["center"][:2]
        tile = http.get(tile_url(tilejson["tiles"][0], lon, lat, z))
        assert tile.status_code == 200 and tile.headers["content-type"].startswith("image/")
        legend = http.get("/tiles/legend/toy-brightness")
        assert legend.status_code == 200
        rows = http.get(results["statistics"]["href"]).json()["features"]
        assert {r["properties"]["indicator"] for r in rows} == {"toy-brightness"}
        assert rows[0]["properties"]["figures"]["count"] > 1000


def assert_vector_tiles(http: httpx.Client, job_id: str, features: list[dict]) -> None:
    """The job's bright spots as vector tiles: TileJSON, a tile holding a spot, the style."""
    vector = "/tiles/vector/collections/toy-bright-spots"
    tilejson = http.get(f"{vector}/WebMercatorQuad/tilejson.json", params={"job_id": job_id})
    assert tilejson.status_code == 200, tilejson.text
    spot = shapely.geometry.shape(features[0]["geometry"]).representative_point()
    tile = morecantile.tms.get("WebMercatorQuad").tile(spot.x, spot.y, 14)
    response = http.get(tilejson.json()["tiles"][0].format(z=tile.z, x=tile.x, y=tile.y))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    meta, _, geometries, values = pyogrio.raw.read(
        response.content, layer="toy-bright-spots", x=tile.x, y=tile.y, z=tile.z
    )
    fields = dict(zip(meta["fields"], values, strict=True))
    assert len(geometries) >= 1 and (fields["area_m2"] > 0).all()
    assert set(fields["job_id"]) == {job_id}
    style = http.get(f"{vector}/WebMercatorQuad/style.json").json()
    fill = next(layer for layer in style["layers"] if layer["type"] == "fill")
    assert fill["paint"]["fill-color"][:3] == [
        "interpolate",
        ["linear"],
        ["to-number", ["get", "area_m2"]],
    ]
    raster = http.get("/tiles/vector/collections/toy-brightness/tiles/WebMercatorQuad/0/0/0")
    assert raster.status_code == 404


def tile_url(template: str, lon: float, lat: float, zoom: int) -> str:
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, zoom)
    return template.format(z=tile.z, x=tile.x, y=tile.y)


def test_a_plug_in_that_cannot_be_imported_is_named(platform_settings: Settings) -> None:
    broken = platform_settings.model_copy(update={"plugins": ["no_such_plugin"]})
    with pytest.raises(ConfigurationError, match="no_such_plugin"):
        create_compute(broken)
