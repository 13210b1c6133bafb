"""The map pages in a real headless Chromium, through a real gateway, catalog and tiles service:
the embed page of La Rochelle draws its NDVI tiles, shows the legend, the outline and figures,
and logs no error; nothing is fetched from outside the platform."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy
import pytest
from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    sync_playwright,
)

from territoires.shared.indicators import INDICATORS
from territoires.tiles.pages import MAPLIBRE
from territoires.tiles.styles import indicator_colormap, lut_index, parse_colour

from .data import NDVI_SIZE, NODATA_BLOCK, ndvi_value
from .pixels import decode_png

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # With the GPU off, WebGL runs on SwiftShader; Chromium wants the opt-in said explicitly.
    "--enable-unsafe-swiftshader",
]
READY_TIMEOUT_MS = 90_000

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium: scripts/bootstrap.sh test"),
    pytest.mark.slow,
]


@dataclass
class PageRecord:
    """What a page did: console errors, uncaught exceptions, every response it got."""

    errors: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def failed(self, request: Request) -> None:
        # MapLibre aborts the tile requests of a layer it replaces: not a failure.
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"failed: {request.url} {request.failure}")

    def tiles(self, collection: str) -> list[Response]:
        return [r for r in self.responses if f"/tiles/collections/{collection}/tiles/" in r.url]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """One Playwright driver a module: its browsers are started from it."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrowserContext]:
    assert MAPLIBRE.is_file(), "MapLibre is not built: run scripts/bootstrap.sh test"
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 900, "height": 640},
        # The pages' CSP forbids eval, which Playwright's wait_for_function uses; the pages
        # under their policy are checked apart (test_commune_page.py).
        bypass_csp=True,
    )
    yield context
    context.close()


def open_page(browser: BrowserContext, url: str) -> tuple[Page, PageRecord]:
    page = browser.new_page()
    record = PageRecord()
    page.on("console", record.console)
    page.on("pageerror", lambda error: record.errors.append(f"exception: {error}"))
    page.on("response", lambda response: record.responses.append(response))
    page.on("requestfailed", record.failed)
    page.goto(url)
    page.wait_for_function("document.body.dataset.state === 'ready'", timeout=READY_TIMEOUT_MS)
    return page, record


def blended(colour: tuple[int, int, int, int], under: str, opacity: float = 0.85) -> numpy.ndarray:
    base = numpy.array(parse_colour(under)[:3], dtype=float)
    return opacity * numpy.array(colour[:3], dtype=float) + (1 - opacity) * base


def drawn_ndvi_blocks(screenshot: numpy.ndarray) -> set[tuple[int, int]]:
    """The NDVI blocks whose colour (over land or sea) appears in a screenshot."""
    pixels = screenshot[:3].reshape(3, -1).T.astype(float)
    table, ndvi = indicator_colormap("ndvi"), INDICATORS["ndvi"]
    found = set()
    for row in range(NDVI_SIZE[0] // 256):
        for col in range(NDVI_SIZE[1] // 256):
            if (row, col) == NODATA_BLOCK:
                continue
            colour = table[lut_index(ndvi, ndvi_value(row, col))]
            for under in ("#f4f1ea", "#dfe9f0"):
                if (numpy.abs(pixels - blended(colour, under)).max(axis=1) <= 4).sum() > 50:
                    found.add((row, col))
    return found


def test_embed_page_of_la_rochelle(
    browser: BrowserContext, tiles_gateway_url: str, tmp_path: Path
) -> None:
    page, record = open_page(browser, f"{tiles_gateway_url}/embed?territory=17300&indicator=ndvi")

    tiles = record.tiles("ndvi")
    drawn = [r for r in tiles if r.status == 200 and r.headers["content-type"] == "image/png"]
    assert drawn, [(r.url, r.status) for r in tiles]
    assert page.evaluate("window.territoiresMap.isSourceLoaded('data')")

    legend = page.locator("#legend")
    assert legend.get_attribute("data-indicator") == "ndvi"
    assert "NDVI" in legend.locator("h2").inner_text()
    assert legend.locator(".legend-bar").is_visible()
    assert "Rochelle" in page.locator("#territory-name").inner_text()
    assert "17300" in page.locator("#territory-facts").inner_text()
    figures = page.locator("#figures table").inner_text()
    assert all(text in figures for text in ("Mean NDVI", "0.41", "Vegetated share", "37%"))
    attribution = page.locator(".maplibregl-ctrl-attrib").inner_text()
    assert "Copernicus" in attribution and "IGN" in attribution
    assert page.evaluate("window.territoiresMap.getLayer('territory-outline') !== undefined")

    screenshot = tmp_path / "embed-17300-ndvi.png"
    page.screenshot(path=str(screenshot))
    shown = drawn_ndvi_blocks(decode_png(screenshot.read_bytes()))
    assert len(shown) >= 3, shown

    gateway = urlsplit(tiles_gateway_url).netloc
    assert {urlsplit(r.url).netloc for r in record.responses} == {gateway}
    assert not record.errors, record.errors
    page.close()


def test_embed_page_without_figures_says_so(
    browser: BrowserContext, tiles_gateway_url: str
) -> None:
    page, record = open_page(browser, f"{tiles_gateway_url}/embed?territory=17299&indicator=ndvi")
    assert "Rochefort" in page.locator("#territory-name").inner_text()
    assert page.locator("#figures .empty").inner_text() == "No figures yet."
    assert not record.errors, record.errors
    page.close()


def test_map_page_browses_collections_and_dates(
    browser: BrowserContext, tiles_gateway_url: str, tmp_path: Path
) -> None:
    page, record = open_page(browser, f"{tiles_gateway_url}/map?collection=lcz")
    options = page.locator("#layer option").all_inner_texts()
    assert {"ndvi", "lcz", "sentinel-2-l2a"} <= set(options)
    assert page.locator("#legend").get_attribute("data-indicator") == "lcz"
    assert record.tiles("lcz") and not page.locator("#time").is_visible()
    page.select_option("#layer", "ndvi")
    page.wait_for_function("document.getElementById('legend').dataset.indicator === 'ndvi'")
    page.wait_for_function("window.territoiresMap.isSourceLoaded('data')", timeout=READY_TIMEOUT_MS)
    assert page.locator("#time").is_visible()
    # The slider's left end is the older result: its tiles are asked for that date.
    page.locator("#when").fill("0")
    page.wait_for_function("window.territoiresMap.isSourceLoaded('data')", timeout=READY_TIMEOUT_MS)
    page.wait_for_timeout(500)
    assert any("datetime=2024-07-15" in r.url for r in record.tiles("ndvi")), record.tiles("ndvi")
    # A click shows the value under the pointer.
    page.locator("#map canvas").click(position={"x": 300, "y": 300})
    page.wait_for_selector(".maplibregl-popup-content", timeout=10_000)
    assert "ndvi" in page.locator(".maplibregl-popup-content").inner_text()
    page.screenshot(path=str(tmp_path / "map.png"))
    assert not record.errors, record.errors
    page.close()
