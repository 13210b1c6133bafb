"""`territoires harvest` against a STAC API and a COG server on loopback (tests/archives.py), as an
operator runs it; then a `vegetation` job on the harvested items, read over HTTP in place, equal
pixel for pixel to the same job on local copies of the same files."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from sqlalchemy import text

from territoires.shared.apikeys import Scope
from territoires.shared.database import create_sync_database
from territoires.shared.mirror import MIRROR_PROPERTY
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.storage import s3_client
from territoires.shared.territories import load_territories, read_demo_territories

from ..archives import (
    CENTRE,
    add_items,
    cdse_item,
    earth_search_item,
    file_server,
    seed_archive,
    stac_api,
    static_stac_api,
    write_scene,
)
from ..conftest import RUN_ID
from ..s3 import S3Server
from ..servers import free_port, serve
from ..stack import issue_key, start_worker, stop_worker, wait_for_worker

SUMMER = "2023-06-01/2023-08-31"
CLI = (sys.executable, "-m", "territoires.cli.main", "harvest")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The COG server and its scene's grid."""
    root = tmp_path_factory.mktemp("archive")
    grid = write_scene(root / "S2B_30TXS_20230715")
    with file_server(root) as (url, log):
        yield {"root": root, "url": url, "log": log, "grid": grid}


@pytest.fixture(scope="module")
def remote(
    archive: dict[str, Any], empty_database_factory, redis_url: str
) -> Iterator[tuple[str, str]]:
    """The remote STAC API: Earth Search and Data Space layouts, plus a cloudy scene and one
    without a near-infrared band."""
    base, grid = f"{archive['url']}/S2B_30TXS_20230715", archive["grid"]
    no_nir = earth_search_item("S2B_30TXS_20230725_0_L2A", "2023-07-25T11:00:00Z", base, grid)
    del no_nir["assets"]["nir"]
    items = [
        earth_search_item("S2B_30TXS_20230715_0_L2A", "2023-07-15T11:00:00Z", base, grid),
        earth_search_item("S2B_30TXS_20230705_0_L2A", "2023-07-05T11:00:00Z", base, grid, cloud=90),
        no_nir,
        cdse_item("S2A_MSIL2A_20230720T110621_T30TXS", "2023-07-20T11:06:21Z", base, grid),
    ]
    url = empty_database_factory("remote-archive")
    seed_archive(url, items)
    settings = Settings(DATABASE_URL=url, REDIS_URL=redis_url, redis_prefix=f"remote-{RUN_ID}")
    with stac_api(settings) as api:
        yield api, url


@pytest.fixture(scope="module")
def platform(
    archive: dict[str, Any], empty_database_factory, redis_url: str, tmp_path_factory
) -> Settings:
    """Our platform's settings: territories loaded, no scene, the archive's prefix trusted."""
    url = empty_database_factory("harvest")
    upgrade(url)
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix=f"territoires-test-{RUN_ID}-harvest",
        storage_url=str(tmp_path_factory.mktemp("harvest-storage")),
        asset_prefixes=[f"{archive['url']}/", str(archive["root"])],
    )
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    engine.dispose()
    return settings


def run_harvest(
    settings: Settings, *arguments: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    environment = os.environ | {
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "TERRITOIRES_STORAGE_URL": settings.storage_url,
        "TERRITOIRES_ASSET_PREFIXES": json.dumps(settings.asset_prefixes),
        "COLUMNS": "200",
        **extra,
    }
    return subprocess.run(
        [*CLI, *arguments], env=environment, capture_output=True, text=True, timeout=120
    )


def stored(settings: Settings) -> dict[str, dict[str, Any]]:
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, content FROM items WHERE collection_id = 'sentinel-2-l2a'")
        ).all()
    engine.dispose()
    return dict(rows)


def sources_file(folder: Path, remote: str, dead: str) -> Path:
    path = folder / "sources.yaml"
    path.write_text(
        f"""
sources:
  - url: {remote}
    collections: [sentinel-2-l2a]
    territories: ["17300"]
    datetime: {SUMMER}
    max_cloud: 20
  - url: {dead}
    collections: [sentinel-2-l2a]
    territories: ["17300"]
  - url: {remote}
    collections: [sentinel-2-l2a-cdse]
    into: sentinel-2-l2a
    territories: ["17300"]
    datetime: {SUMMER}
    mirror: true
""",
        encoding="utf-8",
    )
    return path


def test_harvest_then_vegetation_on_remote_cogs_equals_local_copies(
    remote: tuple[str, str], archive: dict[str, Any], platform: Settings, tmp_path: Path
) -> None:
    api, remote_database = remote
    dead = f"http://127.0.0.1:{free_port()}/stac"
    sources = sources_file(tmp_path, api, dead)

    first = run_harvest(platform, "--sources", str(sources))
    # The unreachable source is reported and the others go on; the run says one failed.
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    lines = first.stderr.splitlines()
    assert any(f"failed {dead}" in line and "cannot reach" in line for line in lines), lines
    summary = next((line for line in lines if "sentinel-2-l2a →" in line), None)
    assert summary is not None, lines
    # The cloudy scene is left out by the search; the one without NIR is refused.
    assert "2 found, 1 new, 0 updated, 0 unchanged, 1 refused" in summary, lines
    assert any("refused 1: no nir or nir08 band" in line for line in lines), lines
    assert any("sentinel-2-l2a-cdse → sentinel-2-l2a: 1 found, 1 new" in line for line in lines)
    assert "1 of 3 sources failed" in lines[-1]

    items = stored(platform)
    assert set(items) == {"S2B_30TXS_20230715_0_L2A", "S2A_MSIL2A_20230720T110621_T30TXS"}
    earth = items["S2B_30TXS_20230715_0_L2A"]
    assert set(earth["assets"]) == {"red", "nir", "SCL"}  # no JPEG 2000 twin, no thumbnail
    assert earth["assets"]["red"]["href"].startswith(archive["url"])
    assert earth["assets"]["red"]["raster:bands"][0]["scale"] == 0.0001
    assert earth["properties"]["proj:epsg"] == 32630
    cdse = items["S2A_MSIL2A_20230720T110621_T30TXS"]
    assert set(cdse["assets"]) == {"B04_10m", "B08_10m", "SCL"}  # the finest of each band
    # The Data Space source is mirrored: jobs read its assets from copies in our storage.
    assert cdse["properties"][MIRROR_PROPERTY] is True
    assert MIRROR_PROPERTY not in earth["properties"]

    # A second harvest catalogues nothing again; a scene published since is the only new one.
    second = run_harvest(
        platform,
        api,
        "--collection",
        "sentinel-2-l2a",
        "--territory",
        "17300",
        "--datetime",
        SUMMER,
        "--max-cloud",
        "20",
    )
    assert second.returncode == 0, second.stderr
    # Searched from the mark (the latest scene catalogued, inclusive): that scene again, and the
    # refused one after it, refused again (nothing of it was kept).
    assert "2 found, 0 new, 0 updated, 1 unchanged, 1 refused" in second.stderr, second.stderr
    base = f"{archive['url']}/S2B_30TXS_20230715"
    newer = earth_search_item(
        "S2A_30TXS_20230730_0_L2A", "2023-07-30T11:00:00Z", base, archive["grid"]
    )
    add_items(remote_database, [newer])
    third = run_harvest(
        platform,
        api,
        "--collection",
        "sentinel-2-l2a",
        "--territory",
        "17300",
        "--datetime",
        SUMMER,
        "--max-cloud",
        "20",
    )
    assert "1 new" in third.stderr and "0 unchanged" not in third.stderr, third.stderr

    # A vegetation job reads the archive's COGs over HTTP; the same job on local copies of the
    # same files gives the same pixels.
    archive["log"].seen.clear()
    tile_over_http = red_tile(platform)
    assert archive["log"].seen[("GET", 206)] > 0, archive["log"].seen
    archive["log"].seen.clear()
    over_http = run_vegetation(platform, tmp_path)
    assert archive["log"].seen[("GET", 206)] > 0, archive["log"].seen
    mirrored = list(Path(platform.storage_url, "mirror").rglob("*.tif"))
    assert {path.name for path in mirrored} == {"B04.tif", "B08.tif", "SCL.tif"}, mirrored
    localise(platform, archive)
    archive["log"].seen.clear()
    local = run_vegetation(platform, tmp_path)
    tile_local = red_tile(platform)
    assert archive["log"].total == 0
    values, valid = tile_over_http
    assert valid.sum() > 1000
    assert np.array_equal(values, tile_local[0]) and np.array_equal(valid, tile_local[1])
    assert over_http["figures"] == local["figures"]
    for name in ("ndvi", "vegetation-cover"):
        assert over_http[name].shape == local[name].shape
        assert np.array_equal(over_http[name], local[name])
        assert (over_http[name] != -9999).sum() > 100


def run_vegetation(settings: Settings, folder: Path) -> dict[str, Any]:
    """A synchronous vegetation job over 17300 in the summer, run by a worker: its figures and
    the pixels of its COGs."""
    from territoires.compute.app import create_app as create_compute

    key = issue_key(settings, "harvest", Scope.EXECUTE)
    log = folder / "worker.log"
    worker = start_worker(settings, log)
    try:
        wait_for_worker(settings, worker, log)
        with (
            serve(create_compute(settings)) as compute,
            httpx.Client(base_url=compute, headers={"X-API-Key": key}, timeout=180) as http,
        ):
            answer = http.post(
                "/processes/vegetation/execution",
                json={"inputs": {"territory": "17300", "datetime": SUMMER}},
            )
            assert answer.status_code == 200, (answer.text, log.read_text()[-3000:])
            results = answer.json()
            found: dict[str, Any] = {"figures": results["figures"]["value"]}
    finally:
        stop_worker(worker)
    for name in ("ndvi", "vegetation-cover"):
        with rasterio.open(stored_result(settings, results[f"{name}-item"]["href"])) as cog:
            found[name] = cog.read(1)
    return found


def red_tile(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The red band of the harvested Earth Search scene as an NPY tile over La Rochelle, from
    the tiles service: values and validity."""
    from territoires.tiles.app import create_app as create_tiles

    tile = morecantile.tms.get("WebMercatorQuad").tile(*CENTRE, 12)
    path = (
        "/tiles/collections/sentinel-2-l2a/items/S2B_30TXS_20230715_0_L2A/tiles/"
        f"WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}.npy"
    )
    with serve(create_tiles(settings)) as tiles, httpx.Client(base_url=tiles, timeout=60) as http:
        answer = http.get(path, params={"assets": "red"})
    assert answer.status_code == 200, answer.text
    array = np.load(io.BytesIO(answer.content))
    return array[:-1], array[-1] > 0


def stored_result(settings: Settings, item_url: str) -> str:
    """Where the storage holds the COG of a result item (public documents show a download
    URL of the tiles service instead)."""
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        content = connection.scalar(
            text("SELECT content FROM items WHERE id = :id"), {"id": item_url.rsplit("/", 1)[-1]}
        )
    engine.dispose()
    return next(a["href"] for a in content["assets"].values() if a["href"].endswith(".tif"))


def localise(settings: Settings, archive: dict[str, Any]) -> None:
    """The harvested items pointed at the archive's files on disk: the same items and the
    same bytes, read locally."""
    engine = create_sync_database(settings)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE items SET content = replace(content::text, :url, :path)::jsonb "
                "WHERE collection_id = 'sentinel-2-l2a'"
            ),
            {"url": archive["url"], "path": str(archive["root"])},
        )
    engine.dispose()


@pytest.mark.parametrize(
    ("arguments", "status", "says"),
    [
        (("--collection", "nope"), 1, "has no collection 'nope'"),
        (
            ("--collection", "sentinel-2-l2a", "--datetime", "2023-08-31/2023-06-01"),
            2,
            "starts after it ends",
        ),
        (
            ("--collection", "sentinel-2-l2a", "--datetime", "last summer"),
            2,
            "is not START/END in ISO 8601",
        ),
        (("--collection", "sentinel-2-l2a", "--territory", "99999"), 1, "unknown territory 99999"),
        (("--collection", "sentinel-2-l2a", "--max-cloud", "120"), 2, "not a percentage"),
    ],
)
def test_bad_harvests_end_with_one_line(
    remote: tuple[str, str], platform: Settings, arguments: tuple[str, ...], status: int, says: str
) -> None:
    answer = run_harvest(platform, remote[0], *arguments)
    assert answer.returncode == status, answer.stderr
    assert len(answer.stderr.strip().splitlines()) == 1, answer.stderr
    assert says in answer.stderr


def test_an_unreachable_api_is_one_line(platform: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}/stac"
    answer = run_harvest(platform, dead, "--collection", "sentinel-2-l2a")
    assert answer.returncode == 1
    assert answer.stderr.strip() == (
        f"failed {dead} sentinel-2-l2a: cannot reach the STAC API at {dead}: Connection refused"
    )


@contextmanager
def silent_server() -> Iterator[str]:
    """A STAC API that takes connections and never answers (a stalled archive)."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/stac"


def test_a_source_that_times_out_is_reported_and_the_others_go_on(
    remote: tuple[str, str], platform: Settings, tmp_path: Path
) -> None:
    sources = tmp_path / "sources.yaml"
    with silent_server() as stalled:
        sources.write_text(
            f"""
- url: {stalled}
  collections: [sentinel-2-l2a]
- url: {remote[0]}
  collections: [sentinel-2-l2a]
  into: after-a-stall
  territories: ["17300"]
""",
            encoding="utf-8",
        )
        began = time.monotonic()
        answer = run_harvest(platform, "--sources", str(sources), TERRITOIRES_HARVEST_TIMEOUT_S="1")
    assert answer.returncode == 1, answer.stderr
    lines = answer.stderr.splitlines()
    assert lines[0] == (
        f"failed {stalled} sentinel-2-l2a: the STAC API at {stalled} did not answer within 1 s"
    ), lines
    assert "sentinel-2-l2a → after-a-stall: " in lines[1] and " 0 new" not in lines[1], lines
    assert lines[-1].endswith("1 of 2 sources failed"), lines
    assert time.monotonic() - began < 60


def test_the_worker_harvests_the_configured_sources_on_schedule(
    remote: tuple[str, str], platform: Settings, tmp_path: Path
) -> None:
    from territoires.compute.worker import WorkerSettings, scheduled_harvest

    dead = f"http://127.0.0.1:{free_port()}/stac"
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps(
            [
                {"url": dead, "collections": ["sentinel-2-l2a"]},
                {
                    "url": remote[0],
                    "collections": ["sentinel-2-l2a"],
                    "into": "scheduled-s2",
                    "territories": ["17300"],
                    "max_cloud": 20,
                },
            ]
        )
    )
    context = {
        "services": SimpleNamespace(
            settings=platform.model_copy(update={"harvest_sources": sources})
        )
    }
    assert "cron:scheduled_harvest" in {job.name for job in WorkerSettings.cron_jobs}
    # The unreachable source is logged and the other harvested; the next run finds nothing new.
    assert asyncio.run(scheduled_harvest(context)) >= 1
    assert asyncio.run(scheduled_harvest(context)) == 0
    engine = create_sync_database(platform)
    with engine.connect() as connection:
        count = connection.scalar(
            text("SELECT count(*) FROM items WHERE collection_id = 'scheduled-s2'")
        )
    engine.dispose()
    assert count >= 1


def test_a_job_on_an_asset_the_archive_lost_fails_with_a_clear_message(
    archive: dict[str, Any], empty_database_factory, redis_url: str, tmp_path: Path
) -> None:
    """Harvest does not fetch the COGs, so an asset that 404s is found by the job that reads
    it: the job fails naming the scene and asset, nothing of the archive's URL."""
    from territoires.catalog.harvest import harvest, make_source
    from territoires.compute.app import create_app as create_compute
    from territoires.shared.assets import AssetGuard

    url = empty_database_factory("harvest-lost")
    upgrade(url)
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix=f"territoires-test-{RUN_ID}-harvest-lost",
        storage_url=str(tmp_path / "storage"),
        asset_prefixes=[f"{archive['url']}/"],
    )
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    lost = earth_search_item(
        "S2B_30TXS_20230716_0_L2A",
        "2023-07-16T11:00:00Z",
        f"{archive['url']}/S2B_30TXS_20230715",
        archive["grid"],
    )
    lost["assets"]["nir"]["href"] = f"{archive['url']}/gone/B08.tif"
    lost_db = empty_database_factory("remote-lost")
    seed_archive(lost_db, [lost])
    with stac_api(Settings(DATABASE_URL=lost_db, REDIS_URL=redis_url)) as api:
        report = harvest(
            engine,
            make_source(api, "sentinel-2-l2a"),
            AssetGuard.from_settings(settings),
            settings.harvest_timeout_s,
        )
    engine.dispose()
    assert report.new == 1
    key = issue_key(settings, "harvest-lost", Scope.EXECUTE)
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        wait_for_worker(settings, worker, log)
        with (
            serve(create_compute(settings)) as compute,
            httpx.Client(base_url=compute, headers={"X-API-Key": key}, timeout=60) as http,
        ):
            accepted = http.post(
                "/processes/vegetation/execution",
                headers={"Prefer": "respond-async"},
                json={"inputs": {"territory": "17300", "datetime": SUMMER}},
            )
            assert accepted.status_code == 201, accepted.text
            status = http.get(f"/jobs/{accepted.json()['jobID']}").json()
            deadline = time.monotonic() + 120
            while status["status"] not in ("successful", "failed") and time.monotonic() < deadline:
                time.sleep(0.2)
                status = http.get(f"/jobs/{accepted.json()['jobID']}").json()
    finally:
        stop_worker(worker)
    assert status["status"] == "failed", status
    assert status["message"] == "scene S2B_30TXS_20230716_0_L2A asset nir cannot be read"


def test_s3_hrefs_of_a_configured_archive_are_read_through_vsis3(
    archive: dict[str, Any],
    s3_server: S3Server,
    empty_database_factory,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """An archive on S3 (moto's server over HTTP): items with `s3://` hrefs are harvested when
    the bucket is trusted, and the tiles service and the compute readers read them through
    GDAL's /vsis3/ with the configured endpoint and keys, the same pixels as the files on disk."""
    from territoires.catalog.harvest import harvest, make_source
    from territoires.compute.blocks import open_raster
    from territoires.compute.sources import Scene
    from territoires.shared.assets import AssetGuard

    bucket = f"archive-{RUN_ID.lower()}"[:40].replace("_", "-")
    url = empty_database_factory("harvest-s3")
    upgrade(url)
    settings = s3_server.settings(
        Settings(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            redis_prefix=f"territoires-test-{RUN_ID}-harvest-s3",
        ),
        bucket,
    ).model_copy(
        update={"storage_url": str(tmp_path / "storage"), "asset_prefixes": [f"s3://{bucket}/"]}
    )
    client = s3_client(settings)
    client.create_bucket(Bucket=bucket)
    scene = archive["root"] / "S2B_30TXS_20230715"
    for band in ("B04", "B08", "SCL"):
        client.upload_file(str(scene / f"{band}.tif"), bucket, f"{scene.name}/{band}.tif")
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    item = earth_search_item(
        "S2B_30TXS_20230715_0_L2A",
        "2023-07-15T11:00:00Z",
        f"s3://{bucket}/{scene.name}",
        archive["grid"],
    )
    guard = AssetGuard.from_settings(settings)
    with static_stac_api([item]) as api:
        report = harvest(
            engine,
            make_source(api, "sentinel-2-l2a", territories=("17300",)),
            guard,
            settings.harvest_timeout_s,
        )
    engine.dispose()
    assert (report.new, sum(report.refused.values())) == (1, 0), report
    content = stored(settings)["S2B_30TXS_20230715_0_L2A"]
    assert content["assets"]["red"]["href"] == f"s3://{bucket}/{scene.name}/B04.tif"

    # The compute readers: /vsis3/ paths, the bytes of the bucket.
    harvested = Scene("sentinel-2-l2a", "S2B_30TXS_20230715_0_L2A", datetime.now(UTC), content)
    for key, band in (("red", "B04"), ("nir", "B08"), ("SCL", "SCL")):
        raster = harvested.raster(key, guard)
        assert raster.href == f"/vsis3/{bucket}/{scene.name}/{band}.tif"
        with open_raster(raster) as remote_file, rasterio.open(scene / f"{band}.tif") as local:
            assert np.array_equal(remote_file.read(1), local.read(1))
    # The tiles service, against the same tile once the item points at the files on disk.
    over_s3 = red_tile(settings)
    assert over_s3[1].sum() > 1000
    localise(settings, {"url": f"s3://{bucket}", "root": archive["root"]})
    on_disk = red_tile(settings.model_copy(update={"asset_prefixes": [str(archive["root"])]}))
    assert np.array_equal(over_s3[0], on_disk[0]) and np.array_equal(over_s3[1], on_disk[1])
