"""The tiler reads only what the catalog lists, inside the storage, within size limits; bad or
hostile requests get a 4xx Problem Details, never a 500 nor a file's or a host's content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from .data import HOSTILE_COLLECTION

ITEM = "/tiles/collections/ndvi/items/ndvi-2025"
TILE = f"{ITEM}/tiles/WebMercatorQuad/13/4067/2908.png"
MOSAIC_TILE = "/tiles/collections/ndvi/tiles/WebMercatorQuad/13/4067/2908.png"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def gateway(tiles_gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiles_gateway_url, timeout=30) as http:
        yield http


def assert_problem(response: httpx.Response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == response.status_code and body["title"]
    assert "root:" not in response.text  # nothing of /etc/passwd
    return body


def dataset_urls(redis_url: str) -> list[str]:
    redis = urlsplit(redis_url)
    return [
        "file:///etc/passwd",
        "/etc/passwd",
        f"http://127.0.0.1:{redis.port or 6379}/",
        "http://169.254.169.254/latest/meta-data/",
        "/vsicurl/http://127.0.0.1:6379/x.tif",
    ]


@pytest.mark.parametrize(
    "path",
    [
        TILE,
        MOSAIC_TILE,
        f"{ITEM}/info",
        f"{ITEM}/WebMercatorQuad/tilejson.json",
        f"{ITEM}/WMTSCapabilities.xml",
        f"{ITEM}/point/-1.2,46.17",
        "/tiles/collections/ndvi/WebMercatorQuad/tilejson.json",
        "/tiles",
        "/tiles/legend/ndvi",
        "/map",
        "/embed?territory=17300&indicator=ndvi",
        # Stock TiTiler's own endpoints do not exist here at all.
        "/tiles/cog/tiles/WebMercatorQuad/0/0/0.png",
        "/tiles/cog/info",
        "/cog/info",
    ],
)
def test_no_dataset_url_is_ever_read(gateway: httpx.Client, redis_url: str, path: str) -> None:
    for url in dataset_urls(redis_url):
        separator = "&" if "?" in path else "?"
        for name in ("url", "URL"):
            response = gateway.get(f"{path}{separator}{name}={url}")
            assert_problem(response)


@pytest.mark.parametrize(
    "raw_path",
    [
        "/tiles/collections/ndvi/items/..%2F..%2F..%2F..%2Fetc%2Fpasswd/info",
        "/tiles/collections/ndvi/items/%2e%2e%2f%2e%2e%2fetc%2fpasswd/info",
        "/tiles/collections/%2e%2e/items/ndvi-2025/info",
        "/tiles/collections/ndvi/items/ndvi-2025/tiles/WebMercatorQuad/13/..%2F..%2F/2885.png",
        "/tiles/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/tiles/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/tiles/static/%2e%2e/app.py",
        "/tiles/static/vendor/%2e%2e/%2e%2e/settings.py",
        "/tiles/legend/..%2F..%2Fetc%2Fpasswd",
        "/tiles/basemap/..%2F..%2F/1/1.mvt",
    ],
)
def test_path_tricks_are_refused(gateway: httpx.Client, tiles_url: str, raw_path: str) -> None:
    for base in (str(gateway.base_url), tiles_url):
        # Sent as written: httpx would otherwise normalise the dot segments away.
        request = httpx.Request("GET", httpx.URL(base, raw_path=raw_path.encode()))
        response = gateway.send(request)
        assert_problem(response)


@pytest.mark.parametrize("name", ["passwd", "loopback", "traversal", "vsicurl", "file-url"])
def test_catalogued_hrefs_outside_the_storage_are_not_read(
    gateway: httpx.Client, name: str
) -> None:
    item = f"/tiles/collections/{HOSTILE_COLLECTION}/items/hostile-{name}"
    for path in (
        f"{item}/tiles/WebMercatorQuad/13/4067/2908.png",
        f"{item}/info",
        f"{item}/point/-1.2,46.17",
        f"{item}/preview.png",
        f"/tiles/collections/{HOSTILE_COLLECTION}/tiles/WebMercatorQuad/13/4067/2908.png",
    ):
        body = assert_problem(gateway.get(path), 403)
        assert "refused" in body["detail"]


@pytest.mark.parametrize(
    "path",
    [
        f"{TILE}?tilesize=4096",
        f"{ITEM}/tiles/WebMercatorQuad/13/4067/2908@4x.png",
        f"{TILE}?buffer=1000",
        f"{ITEM}/preview.png?width=5000",
        f"{ITEM}/preview.png?max_size=100000",
        f"{ITEM}/preview/3000x3000.png",
        f"{ITEM}/bbox/-1.26,46.1,-1.1,46.2.png?width=2048&height=2049",
        f"{ITEM}/bbox/-1.26,46.1,-1.1,46.2/4000x10.png",
        "/tiles/collections/ndvi/bbox/-1.26,46.1,-1.1,46.2.png?max_size=9999",
        # Found by the fuzzing: a WMTS document of a million zoom levels (30 s of CPU, then 504).
        f"{ITEM}/WMTSCapabilities.xml?zooms=*::0,939013",
        "/tiles/collections/ndvi/WMTSCapabilities.xml?zooms=WebMercatorQuad::0,4688180265668",
    ],
)
def test_oversized_images_are_refused_before_reading(gateway: httpx.Client, path: str) -> None:
    assert_problem(gateway.get(path))


def test_unsized_bbox_images_are_capped(gateway: httpx.Client) -> None:
    response = gateway.get(f"{ITEM}/bbox/-1.26,46.1,-1.1,46.2.tif")
    assert response.status_code == 200
    from rasterio.io import MemoryFile

    with MemoryFile(response.content) as memory, memory.open() as dataset:
        assert max(dataset.width, dataset.height) <= 1024


def test_oversized_features_are_refused(gateway: httpx.Client) -> None:
    feature = {
        "type": "Feature",
        "properties": {},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-1.26, 46.1], [-1.1, 46.1], [-1.1, 46.2], [-1.26, 46.1]]],
        },
    }
    assert_problem(gateway.post(f"{ITEM}/feature.png?width=9000&height=10", json=feature))
    ok = gateway.post(f"{ITEM}/feature.png", json=feature)
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    "path",
    [
        f"{TILE}?rescale=abc",
        f"{TILE}?rescale=1,0",
        f"{TILE}?colormap=not-json",
        f"{TILE}?colormap=" + json.dumps({"a": 1}),
        f"{TILE}?colormap_name=no-such-map",
        f"{TILE}?assets=nope",
        f"{TILE}?expression=b1+%2B+os.system",
        f"{TILE}?color_formula=bogus",
        f"{TILE}?return_mask=maybe",
        f"{ITEM}/tiles/NoSuchGrid/13/4067/2908.png",
        f"{ITEM}/tiles/WebMercatorQuad/99/0/0.png",
        f"{ITEM}/tiles/WebMercatorQuad/13/4067/2908.gif",
        f"{MOSAIC_TILE}?datetime=yesterday",
        f"{MOSAIC_TILE}?datetime=2025-02-01/2025-01-01",
        "/tiles/collections/nope/tiles/WebMercatorQuad/13/4067/2908.png",
        "/tiles/collections/ndvi/items/nope/info",
        f"{ITEM}/point/200,100",
        "/embed?territory=17300&indicator=nope",
        "/embed?territory=17300",
        "/embed?territory=../../etc&indicator=ndvi",
        "/embed?territory=17300&indicator=ndvi&datetime=never",
    ],
)
def test_bad_requests_are_4xx_problems(gateway: httpx.Client, path: str) -> None:
    assert_problem(gateway.get(path))
