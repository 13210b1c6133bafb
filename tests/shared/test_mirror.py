"""Local copies of a `mirror` source's assets: COGs of an archive on loopback (tests/archives.py)
copied into the storage, validated with rio-cogeo, read locally afterwards, the least recently
used removed beyond the size budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate
from sqlalchemy import text

from territoires.compute.errors import UnreadableAssetError
from territoires.compute.sources import Scene
from territoires.shared.assets import AssetGuard
from territoires.shared.database import create_sync_database
from territoires.shared.mirror import MIRROR_PROPERTY, Mirror, MirrorError
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.storage import LocalStorage

from ..archives import file_server, write_scene

SCENE = "S2B_30TXS_20230715"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The scene's COGs over HTTP, beside a plain GeoTIFF (striped and larger than 512², so not
    cloud-optimised)."""
    root = tmp_path_factory.mktemp("mirror-archive")
    write_scene(root / SCENE)
    with rasterio.open(root / SCENE / "B04.tif") as cog:
        data = np.tile(cog.read(1), (6, 6))
        profile = cog.profile | {
            "driver": "GTiff",
            "tiled": False,
            "compress": None,
            "width": data.shape[1],
            "height": data.shape[0],
        }
        del profile["blockxsize"], profile["blockysize"]
    with rasterio.open(root / "plain.tif", "w", **profile) as plain:
        plain.write(data, 1)
    with file_server(root) as (url, log):
        yield {"root": root, "url": url, "log": log}


@pytest.fixture(scope="module")
def database(empty_database_factory) -> str:
    url = empty_database_factory("mirror")
    upgrade(url)
    return url


def copies(database: str) -> dict[str, tuple[str, int]]:
    engine = create_sync_database(database)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT href, key, bytes FROM mirrored_assets")).all()
    engine.dispose()
    return {href: (key, size) for href, key, size in rows}


def test_copies_are_read_locally_and_the_least_recently_used_go_beyond_the_budget(
    archive: dict[str, Any], database: str, tmp_path: Path
) -> None:
    root, url, log = archive["root"], archive["url"], archive["log"]
    sizes = {band: (root / SCENE / f"{band}.tif").stat().st_size for band in ("B04", "B08", "SCL")}
    assert sizes["SCL"] < sizes["B08"]
    storage = LocalStorage(tmp_path / "storage")
    mirror = Mirror(storage, database, budget=sizes["B04"] + sizes["B08"])
    href = {band: f"{url}/{SCENE}/{band}.tif" for band in sizes}

    red = mirror.local(href["B04"], href["B04"])
    nir = mirror.local(href["B08"], href["B08"])
    # The archive's own bytes (they are COGs already), in the storage, valid COGs.
    for band, copy in (("B04", red), ("B08", nir)):
        assert Path(copy).is_relative_to(storage.root)
        assert Path(copy).read_bytes() == (root / SCENE / f"{band}.tif").read_bytes()
        assert cog_validate(copy, quiet=True)[0]
    # Read again: the copy, without a request to the archive.
    log.seen.clear()
    assert mirror.local(href["B04"], href["B04"]) == red
    assert log.total == 0
    # B04 was used last: the new copy of SCL pushes B08 out, not B04.
    scl = mirror.local(href["SCL"], href["SCL"])
    kept = copies(database)
    assert set(kept) == {href["B04"], href["SCL"]}
    assert sum(size for _, size in kept.values()) <= mirror.budget
    assert Path(red).exists() and Path(scl).exists() and not Path(nir).exists()
    # Asked for again, B08 is copied again (and B04, now least recent, goes).
    again = mirror.local(href["B08"], href["B08"])
    assert Path(again).read_bytes() == (root / SCENE / "B08.tif").read_bytes()
    assert set(copies(database)) == {href["SCL"], href["B08"]}
    assert not Path(red).exists()


def test_a_plain_geotiff_is_copied_as_a_cog_with_the_same_pixels(
    archive: dict[str, Any], database: str, tmp_path: Path
) -> None:
    source = archive["root"] / "plain.tif"
    assert not cog_validate(source, quiet=True)[0]
    mirror = Mirror(LocalStorage(tmp_path / "storage"), database, budget=10**9)
    copy = mirror.local(f"{archive['url']}/plain.tif", f"{archive['url']}/plain.tif")
    assert cog_validate(copy, quiet=True)[0]
    with rasterio.open(source) as original, rasterio.open(copy) as copied:
        assert copied.transform == original.transform and copied.crs == original.crs
        assert np.array_equal(copied.read(1), original.read(1))


def test_missing_or_oversized_assets(
    archive: dict[str, Any], database: str, tmp_path: Path
) -> None:
    url = archive["url"]
    mirror = Mirror(LocalStorage(tmp_path / "storage"), database, budget=1000)
    with pytest.raises(MirrorError):
        mirror.local(f"{url}/gone/B04.tif", f"{url}/gone/B04.tif")
    # Larger than the whole budget: read in place, nothing kept.
    red = f"{url}/{SCENE}/B04.tif"
    assert mirror.local(red, red) == red
    assert red not in copies(database)
    assert not any((tmp_path / "storage").rglob("*.tif"))


def test_jobs_read_the_copy_only_for_items_of_a_mirror_source(
    archive: dict[str, Any], database: str, tmp_path: Path
) -> None:
    settings = Settings(
        DATABASE_URL=database,
        storage_url=str(tmp_path / "storage"),
        asset_prefixes=[f"{archive['url']}/"],
    )
    guard = AssetGuard.from_settings(settings)
    href = f"{archive['url']}/{SCENE}/B08.tif"

    def scene(mirrored: bool, asset_href: str = href) -> Scene:
        properties = {MIRROR_PROPERTY: True} if mirrored else {}
        return Scene(
            "sentinel-2-l2a",
            SCENE,
            datetime(2023, 7, 15, tzinfo=UTC),
            {"properties": properties, "assets": {"nir": {"href": asset_href}}},
        )

    assert scene(False).raster("nir", guard).href == href
    local = scene(True).raster("nir", guard).href
    assert Path(local).is_relative_to(tmp_path / "storage" / "mirror")
    # The guard still comes first; a copy that cannot be made is an unreadable asset.
    with pytest.raises(UnreadableAssetError, match=f"scene {SCENE} asset nir cannot be read"):
        scene(True, "https://elsewhere.example/B08.tif").raster("nir", guard)
    with pytest.raises(UnreadableAssetError, match=f"scene {SCENE} asset nir cannot be read"):
        scene(True, f"{archive['url']}/gone/B08.tif").raster("nir", guard)
