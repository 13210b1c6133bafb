"""Results on an S3-compatible store (moto's server, over HTTP): a vegetation job run by a
`territoires worker` process writes its COGs to the bucket, pixel for pixel what the same job
writes to a folder; tiles and downloads are read from the bucket; dismissal empties the job's
keys; the asset guard trusts the storage's bucket and prefix and nothing else."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

from territoires.compute.app import create_app as create_compute
from territoires.compute.worker import outage
from territoires.shared.apikeys import Scope
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import ForbiddenError
from territoires.shared.settings import Settings
from territoires.shared.storage import (
    S3Storage,
    StorageUnavailableError,
    StorageUnreachableError,
    s3_client,
    storage_from_settings,
)

from ..s3 import S3Server, new_bucket, object_keys
from ..servers import free_port, serve
from ..stack import (
    SUMMER_2023,
    gateway_over,
    issue_key,
    prepare_database,
    start_worker,
    stop_worker,
    wait_for_worker,
)
from .test_plugins import tile_url
from .test_vegetation import executed, follow

RASTERS = ("ndvi", "vegetation-cover")


@pytest.fixture(scope="module", autouse=True)
def own_environment() -> Iterator[None]:
    """GDAL's S3 options go into the process environment (`configure_gdal`): the rest of the
    suite gets it back as it was."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@dataclass(frozen=True)
class S3Platform:
    url: str
    settings: Settings
    storage: S3Storage
    execute_key: str
    ingest_key: str


@pytest.fixture(scope="module")
def s3_platform(
    s3_server: S3Server,
    platform_settings: Settings,
    empty_database_factory,
    scenes_dir,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[S3Platform]:
    """The whole platform (its own database and queue) with its results in a bucket, and a
    worker process that finds the store from its environment alone."""
    storage = new_bucket(s3_server, platform_settings)
    settings = s3_server.settings(platform_settings, storage.bucket).model_copy(
        update={
            "database_url": empty_database_factory("s3"),
            "redis_prefix": f"{platform_settings.redis_prefix}-s3",
        }
    )
    prepare_database(settings, scenes_dir)
    log = tmp_path_factory.mktemp("s3-worker") / "worker.log"
    worker = start_worker(settings, log)
    try:
        wait_for_worker(settings, worker, log)
        with (
            serve(create_compute(settings)) as compute_url,
            gateway_over(settings, compute_url) as url,
        ):
            yield S3Platform(
                url,
                settings,
                storage,
                issue_key(settings, "s3-partner", Scope.EXECUTE),
                issue_key(settings, "s3-ingest", Scope.INGEST),
            )
    finally:
        stop_worker(worker)


def run_vegetation(url: str, key: str) -> tuple[str, dict[str, Any]]:
    """A vegetation job over La Rochelle, run to its end: its id and results document."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as http:
        inputs = {"territory": "17300", "datetime": SUMMER_2023}
        return executed(http, "vegetation", inputs, timeout_s=120)


def pixels(http: httpx.Client, url: str) -> str:
    """The SHA-256 of a downloaded COG's pixels (its tags name its job, so its bytes differ)."""
    answer = http.get(url)
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["content-length"]) == len(answer.content)
    with MemoryFile(answer.content) as memory, memory.open() as dataset:
        digest = hashlib.sha256(dataset.read().tobytes())
        digest.update(repr((dataset.transform, dataset.crs.to_wkt(), dataset.nodata)).encode())
        return digest.hexdigest()


def test_a_vegetation_job_on_s3_equals_the_local_one_and_is_served_and_dismissed(
    s3_platform: S3Platform, platform_url: str, api_key: str, worker: Any
) -> None:
    _, local_results = run_vegetation(platform_url, api_key)
    job, results = run_vegetation(s3_platform.url, s3_platform.execute_key)

    keys = object_keys(s3_platform.storage, f"results/jobs/{job}/")
    assert sorted(key.rsplit("/", 1)[-1] for key in keys) == sorted(f"{r}.tif" for r in RASTERS)
    seen = [str(results)]
    headers = {"X-API-Key": s3_platform.execute_key}
    with (
        httpx.Client(base_url=s3_platform.url, headers=headers, timeout=60) as http,
        httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as local,
    ):
        for name in RASTERS:
            # The same pixels, downloaded from the bucket and from the folder.
            url = results[name]["href"]
            assert url.startswith(s3_platform.url), url
            assert pixels(http, url) == pixels(local, local_results[name]["href"])

            head = http.head(url)
            assert head.status_code == 200 and head.headers["accept-ranges"] == "bytes"
            size = int(head.headers["content-length"])
            part = http.get(url, headers={"Range": "bytes=0-15"})
            assert part.status_code == 206 and len(part.content) == 16
            assert part.headers["content-range"] == f"bytes 0-15/{size}"
            tail = http.get(url, headers={"Range": "bytes=-4", "If-Range": head.headers["etag"]})
            assert tail.status_code == 206 and len(tail.content) == 4
            stale = http.get(url, headers={"Range": "bytes=0-15", "If-Range": '"other"'})
            assert stale.status_code == 200 and len(stale.content) == size
            outside = http.get(url, headers={"Range": f"bytes={size}-"})
            assert outside.status_code == 416
            assert outside.headers["content-range"] == f"bytes */{size}"

            # GDAL reads the download with ranged requests, as a partner's QGIS does.
            info = subprocess.run(
                ["gdalinfo", f"/vsicurl/{url}"],
                capture_output=True,
                text=True,
                timeout=60,
                env={"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "PATH": "/usr/bin:/bin"},
            )
            assert info.returncode == 0 and "LAYOUT=COG" in info.stdout, info.stderr

            # A tile of the result, rendered from the bucket through the gateway.
            tilejson = http.get(results[f"{name}-tiles"]["href"])
            assert tilejson.status_code == 200, tilejson.text
            seen.append(tilejson.text)
            lon, lat = tilejson.json()["center"][:2]
            zoom = tilejson.json()["minzoom"] + 2
            tile = http.get(tile_url(tilejson.json()["tiles"][0], lon, lat, zoom))
            assert tile.status_code == 200, tile.text
            assert tile.content.startswith(b"\x89PNG")
            # And as the collection's mosaic, which opens the same COG through the same guard.
            at = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, zoom)
            mosaic = http.get(
                f"/tiles/collections/{name}/tiles/WebMercatorQuad/{at.z}/{at.x}/{at.y}.png"
            )
            assert mosaic.status_code == 200 and mosaic.content.startswith(b"\x89PNG"), mosaic.text
            item = http.get(results[f"{name}-item"]["href"])
            seen.append(item.text)

        leaks = [body[:200] for body in seen if "s3:" in body or s3_platform.storage.bucket in body]
        assert not leaks

        # A worker reads the result back from the bucket as a job's input (GDAL's /vsis3/).
        zonal = http.post(
            "/processes/zonal-statistics/execution",
            json={"inputs": {"territory": "17300", "collection": "ndvi", "datetime": SUMMER_2023}},
            headers={"Prefer": "respond-async"},
        )
        assert zonal.status_code == 201, zonal.text
        ended = follow(http, zonal.headers["Location"])[-1]
        assert ended["status"] == "successful", ended

        dismissed = http.delete(f"/jobs/{job}")
        assert dismissed.status_code == 200, dismissed.text
        assert object_keys(s3_platform.storage, f"results/jobs/{job}/") == []
        assert http.get(results["ndvi"]["href"]).status_code == 404


def test_the_guard_trusts_the_storage_bucket_and_prefix_only(
    s3_platform: S3Platform, s3_server: S3Server, tmp_path
) -> None:
    """A real COG in another bucket of the same store, and in the storage's bucket outside its
    prefix, catalogued with an ingest key: refused (403) by the tiler and the downloads; a
    `/vsis3/` href too; the storage's own objects are read."""
    other = new_bucket(s3_server, s3_platform.settings)
    cog = tmp_path / "a.tif"
    profile = {"driver": "COG", "width": 256, "height": 256, "count": 1, "dtype": "uint8"}
    transform = from_origin(-1.2, 46.2, 0.0001, 0.0001)
    with rasterio.open(cog, "w", crs="EPSG:4326", transform=transform, **profile) as output:
        output.write(np.full((1, 256, 256), 7, dtype="uint8"))
    storage = s3_platform.storage
    hrefs = [
        other.put("a.tif", cog),
        f"s3://{storage.bucket}/elsewhere/a.tif",
        f"/vsis3/{storage.bucket}/results/scenes/a.tif",
        storage.put(f"scenes/{uuid.uuid4().hex[:6]}/a.tif", cog),
    ]
    storage.client.upload_file(str(cog), storage.bucket, "elsewhere/a.tif")

    guard = AssetGuard.from_settings(s3_platform.settings)
    for href in hrefs[:3]:
        with pytest.raises(ForbiddenError):
            guard.check(href)
    assert guard.check(hrefs[3]) == f"/vsis3/{hrefs[3].removeprefix('s3://')}"

    collection = catalogue(s3_platform, hrefs)
    for number, href in enumerate(hrefs, start=1):
        item = f"{s3_platform.url}/tiles/collections/{collection}/items/item-{number}"
        info = httpx.get(f"{item}/info", params={"assets": "data"})
        download = httpx.get(
            f"{s3_platform.url}/assets/collections/{collection}/items/item-{number}/data/a.tif",
            headers={"X-API-Key": s3_platform.execute_key},
        )
        expected = 200 if href == hrefs[-1] else 403
        assert (info.status_code, download.status_code) == (expected, expected), (href, info.text)
        assert s3_platform.storage.bucket not in info.text and "s3:" not in download.text[:500]


def catalogue(platform: S3Platform, hrefs: list[str]) -> str:
    """A collection of one item per href, over La Rochelle."""
    headers = {"X-API-Key": platform.ingest_key}
    with httpx.Client(base_url=platform.url, headers=headers) as ingest:
        model = ingest.get("/stac/collections/sentinel-2-l2a/items", params={"limit": 1}).json()
        scene = model["features"][0]
        collection = ingest.get("/stac/collections/sentinel-2-l2a").json()
        name = f"buckets-{uuid.uuid4().hex[:8]}"
        created = ingest.post(
            "/stac/collections", json=collection | {"id": name, "title": name, "links": []}
        )
        assert created.status_code in (200, 201), created.text
        for number, href in enumerate(hrefs, start=1):
            item = {
                "type": "Feature",
                "stac_version": scene["stac_version"],
                "id": f"item-{number}",
                "collection": name,
                "geometry": scene["geometry"],
                "bbox": scene["bbox"],
                "properties": scene["properties"] | {"datetime": f"2019-01-{number:02d}T10:00Z"},
                "assets": {"data": {"href": href, "type": "image/tiff; application=geotiff"}},
                "links": [],
            }
            posted = ingest.post(f"/stac/collections/{name}/items", json=item)
            assert posted.status_code in (200, 201), posted.text
    return name


def test_storage_keys_exists_and_paginated_deletion(
    s3_server: S3Server, settings: Settings, tmp_path
) -> None:
    """More keys than one listing page holds are deleted; a neighbour sharing the first
    characters of the prefix is not; keys cannot climb out of the prefix."""
    storage = new_bucket(s3_server, settings)
    assert isinstance(storage_from_settings(s3_server.settings(settings, "b")), S3Storage)
    source = tmp_path / "x.tif"
    source.write_bytes(b"x")
    assert (
        storage.put("jobs/1/a/1/x.tif", source) == f"s3://{storage.bucket}/results/jobs/1/a/1/x.tif"
    )
    assert storage.exists("jobs/1/a/1/x.tif") and not storage.exists("jobs/1/a/1/y.tif")
    storage.put("jobs/10/x.tif", source)
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda n: storage.client.put_object(
                    Bucket=storage.bucket, Key=f"results/jobs/1/b/{n}.tif", Body=b"x"
                ),
                range(1100),
            )
        )
    storage.put("jobs/1/c/2/x.tif", source)
    assert storage.delete_prefix("jobs/1/c/2/") == 1  # an attempt's prefix, as the worker names it
    assert storage.delete_prefix("jobs/1") == 1101
    assert object_keys(storage) == ["results/jobs/10/x.tif"]
    assert storage.delete_prefix("jobs/1") == 0
    for key in ("../x.tif", "jobs/../../x.tif", "/x.tif"):
        with pytest.raises(ValueError, match="escapes"):
            storage.put(key, source)


def test_compute_and_tiles_are_ready_only_with_their_bucket(
    s3_server: S3Server, settings: Settings
) -> None:
    from territoires.tiles.app import create_app as create_tiles

    present = new_bucket(s3_server, settings).bucket
    for bucket, status in ((present, 200), (f"missing-{uuid.uuid4().hex[:8]}", 503)):
        for create in (create_compute, create_tiles):
            with serve(create(s3_server.settings(settings, bucket))) as url:
                ready = httpx.get(f"{url}/readyz", timeout=30)
                assert ready.status_code == status, ready.text
                expected = "ok" if status == 200 else "error"
                assert ready.json()["checks"]["storage"]["status"] == expected


def test_a_download_while_the_store_is_down_is_a_503(s3_platform: S3Platform, tmp_path) -> None:
    from territoires.tiles.app import create_app as create_tiles

    key = f"scenes/{uuid.uuid4().hex[:6]}/a.tif"
    source = tmp_path / "a.tif"
    source.write_bytes(b"II*\x00")
    collection = catalogue(s3_platform, [s3_platform.storage.put(key, source)])
    down = s3_platform.settings.model_copy(
        update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"}
    )
    environment = dict(os.environ)  # the tiles app below points GDAL at the dead endpoint
    try:
        with serve(create_tiles(down)) as tiles:
            answer = httpx.get(
                f"{tiles}/assets/collections/{collection}/items/item-1/data/a.tif", timeout=60
            )
    finally:
        os.environ.clear()
        os.environ.update(environment)
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"] == "the object store does not answer"


def test_a_store_that_refuses_or_is_gone_is_named_not_quoted(
    s3_server: S3Server, settings: Settings, tmp_path
) -> None:
    """A missing bucket is refused (the job fails with the platform's words); a store that does
    not answer is unreachable, an outage the worker runs the job again after."""
    source = tmp_path / "x.tif"
    source.write_bytes(b"x")
    missing = s3_server.settings(settings, f"missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageUnavailableError, match="refused") as refused:
        S3Storage(missing.storage_url, s3_client(missing)).put("jobs/1/x.tif", source)
    assert not isinstance(refused.value, StorageUnreachableError)
    assert "missing-" not in str(refused.value)
    gone = missing.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(StorageUnreachableError, match="does not answer") as unreachable:
        S3Storage(gone.storage_url, s3_client(gone)).put("jobs/1/x.tif", source)
    assert outage(unreachable.value) and "127.0.0.1" not in str(unreachable.value)
