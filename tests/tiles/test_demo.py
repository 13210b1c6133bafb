"""The demo as a new user sees it: `territoires synth` scenes catalogued, a vegetation run through
the gateway; then every collection (scenes and results) draws a visible tile with no styling
parameters, and the embed page of La Rochelle shows the run's figures beside the NDVI map."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy
import pytest

from .pixels import GRIDS, decode_npy, decode_png

# The synthetic collections, and the results a vegetation run adds.
DEMO_COLLECTIONS = {"sentinel-2-l2a", "landsat-c2-l2", "sentinel-1-grd", "viirs-dnb-night"}
VEGETATION_RESULTS = {"ndvi", "vegetation-cover"}
LATEST_PERIOD = "2021-01-01/2024-12-31"
# About 10 m per tile pixel at this latitude: the scale of the scenes and results.
ZOOM = 14
# A visible tile: mostly drawn, and not one flat colour.
MIN_OPAQUE_SHARE = 0.5
MIN_COLOUR_SPREAD = 2.0
FILL = 65535  # the nightly stack's cloud fill

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(platform_url: str, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def vegetation_run(client: httpx.Client, worker: Any) -> dict[str, Any]:
    """A vegetation job over La Rochelle's summers, run to success: its results document. Its
    period ends after any other test's, so that its row is the newest the page shows."""
    accepted = client.post(
        "/processes/vegetation/execution",
        json={"inputs": {"territory": "17300", "datetime": LATEST_PERIOD}},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    job = accepted.headers["Location"]
    deadline = time.monotonic() + 180
    while (status := client.get(job).json())["status"] not in ("successful", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "successful", status
    return client.get(f"{job}/results").json()


def collections(client: httpx.Client) -> dict[str, dict[str, Any]]:
    listed = client.get("/tiles/collections").json()["collections"]
    return {c["id"]: c for c in listed if c.get("itemCount", c.get("item_count"))}


def visible(content: bytes) -> tuple[float, float]:
    """Share of drawn pixels, and the largest standard deviation of a colour among them."""
    bands = decode_png(content)
    drawn = bands[-1] > 0
    colours = bands[:-1][:, drawn].astype(float)
    return float(drawn.mean()), float(colours.std(axis=1).max()) if colours.size else 0.0


def test_every_demo_collection_and_result_draws_a_visible_default_tile(
    client: httpx.Client, vegetation_run: dict[str, Any]
) -> None:
    found = collections(client)
    assert set(found) >= DEMO_COLLECTIONS | VEGETATION_RESULTS, sorted(found)
    seen = {}
    # Other tests of the session catalogue collections of their own (hostile hrefs among them).
    for collection_id in sorted(DEMO_COLLECTIONS | VEGETATION_RESULTS):
        document = found[collection_id]
        west, south, east, north = document["extent"]["spatial"]["bbox"][0]
        tile = GRIDS.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, ZOOM)
        path = f"/tiles/collections/{collection_id}/tiles/WebMercatorQuad/{ZOOM}/{tile.x}/{tile.y}"
        response = client.get(f"{path}.png")
        assert response.status_code == 200, (collection_id, response.text)
        seen[collection_id] = visible(response.content)
    print("drawn share, colour spread per collection:", seen)
    for collection_id, (drawn, spread) in seen.items():
        assert drawn >= MIN_OPAQUE_SHARE and spread >= MIN_COLOUR_SPREAD, (collection_id, seen)


def test_the_embed_page_shows_the_run_figures_beside_the_ndvi_map(
    client: httpx.Client, vegetation_run: dict[str, Any]
) -> None:
    share = vegetation_run["figures"]["value"]["17300"]["vegetated_share"]
    for indicator in VEGETATION_RESULTS:
        page = client.get(
            "/embed", params={"territory": "17300", "indicator": indicator, "lang": "en"}
        )
        assert page.status_code == 200, page.text
        assert "No figures yet." not in page.text
        assert f"<td>Vegetated share</td><td>{share:.0%}</td>" in page.text, indicator
        assert "<td>Mean NDVI</td>" in page.text


def test_a_request_naming_assets_gets_their_values_unprocessed(client: httpx.Client) -> None:
    """Night radiance by default: the log10 of the recent nights' median radiance; nights
    asked for by name: their digital numbers, as stored."""
    document = collections(client)["viirs-dnb-night"]
    west, south, east, north = document["extent"]["spatial"]["bbox"][0]
    tile = GRIDS.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, ZOOM)
    path = f"/tiles/collections/viirs-dnb-night/tiles/WebMercatorQuad/{ZOOM}/{tile.x}/{tile.y}"
    styled, valid = decode_npy(client.get(f"{path}.npy").content)
    assert styled.shape[0] == 1 and valid.mean() > MIN_OPAQUE_SHARE
    assert styled[0][valid].min() >= -1.01 and styled[0][valid].max() <= 2.5
    nights = ",".join(str(n) for n in range(1, 17))
    named = client.get(f"{path}.npy", params={"assets": f"radiance|bidx={nights}"})
    raw, _ = decode_npy(named.content)
    assert raw.shape[0] == 16 and raw.dtype == numpy.uint16
    assert raw[raw < FILL].max() > 100  # digital numbers: radiance / 0.1
