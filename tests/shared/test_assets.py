"""The asset guard: only hrefs under the storage folder or a trusted prefix are opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoires.shared.assets import AssetGuard
from territoires.shared.errors import ForbiddenError


@pytest.fixture
def guard(tmp_path: Path) -> AssetGuard:
    (tmp_path / "storage" / "ndvi").mkdir(parents=True)
    (tmp_path / "storage" / "ndvi" / "a.tif").touch()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "storage" / "ndvi" / "link.tif").symlink_to(tmp_path / "elsewhere")
    return AssetGuard.of([str(tmp_path / "storage"), "https://data.example.org/cogs"])


def test_storage_paths_and_trusted_urls_are_read(guard: AssetGuard, tmp_path: Path) -> None:
    inside = tmp_path / "storage" / "ndvi" / "a.tif"
    assert guard.check(str(inside)) == str(inside)
    assert guard.check(inside.as_uri()) == str(inside)
    url = "https://data.example.org/cogs/ndvi/a.tif"
    assert guard.check(url) == url


@pytest.mark.parametrize(
    "href",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "{storage}/../../etc/passwd",
        "file://{storage}/%2e%2e/%2e%2e/etc/passwd",
        "{storage}/ndvi/link.tif",
        "ndvi/a.tif",
        "http://127.0.0.1:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "https://data.example.org/cogs/../private/a.tif",
        "https://data.example.org/cogs/%2e%2e/private/a.tif",
        "https://data.example.org.evil.net/cogs/a.tif",
        "https://user@data.example.org/cogs/a.tif",
        "https://data.example.org/cogsecret/a.tif",
        "/vsicurl/http://127.0.0.1:6379/",
        "/vsizip//etc/passwd.zip",
        "ftp://data.example.org/cogs/a.tif",
        "gs://bucket/a.tif",
        "{storage}/ndvi/a.tif\x00.png",
    ],
)
def test_anything_else_is_refused(guard: AssetGuard, tmp_path: Path, href: str) -> None:
    with pytest.raises(ForbiddenError, match="refused"):
        guard.check(href.format(storage=tmp_path / "storage"))
