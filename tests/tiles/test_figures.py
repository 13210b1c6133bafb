"""The embed page's key figures: read from the statistics rows the indicator's registry entry
names, rendered in the page's HTML, labelled and formatted as the entry says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from territoires.shared.indicators import INDICATORS, MONTH, Figure, Indicator
from territoires.tiles.figures import ShownFigure, format_figure, shown_figures
from territoires.tiles.messages import month_label

from .conftest import FIGURES


@pytest.fixture(scope="module")
def client(tiles_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiles_url, timeout=30) as http:
        yield http


def figures_section(html: str) -> str:
    start = html.index('<section id="figures"')
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize("indicator", ["ndvi", "vegetation-cover"])
def test_embed_page_shows_the_vegetation_run_figures(client: httpx.Client, indicator: str) -> None:
    params = {"territory": "17300", "indicator": indicator, "lang": "en"}
    response = client.get("/embed", params=params)
    assert response.status_code == 200, response.text
    section = figures_section(response.text)
    assert "<td>Vegetated share</td><td>37%</td>" in section
    assert "<td>Observed (cloud-free) share</td><td>92%</td>" in section
    assert "<td>Mean NDVI</td><td>0.41</td>" in section
    assert "2025-07-01 – 2025-07-31" in section
    assert "No figures yet." not in section
    # French by default: French labels, decimal comma, day/month/year.
    french = figures_section(client.get("/embed", params={**params, "lang": "fr"}).text)
    assert "<td>Part végétalisée</td><td>37\u202f%</td>" in french
    assert "<td>NDVI moyen</td><td>0,41</td>" in french
    assert "01/07/2025 – 31/07/2025" in french


def test_embed_page_without_a_row_says_so(client: httpx.Client) -> None:
    response = client.get("/embed", params={"territory": "17299", "indicator": "ndvi"})
    assert response.status_code == 200
    assert "Pas encore de chiffres" in figures_section(response.text)
    # LCZ rows are not vegetation rows: La Rochelle has none.
    response = client.get("/embed", params={"territory": "17300", "indicator": "lcz", "lang": "en"})
    assert "No figures yet." in figures_section(response.text)


def test_every_statistics_id_is_a_registered_indicator() -> None:
    for indicator in INDICATORS.values():
        assert indicator.statistics_id in INDICATORS, indicator.id
    assert INDICATORS["ndvi"].statistics_id == "vegetation-cover"
    assert INDICATORS["lcz"].statistics_id == "lcz"


def test_listed_figures_follow_nested_keys_and_skip_missing_ones() -> None:
    entry = INDICATORS["ndvi"]
    assert shown_figures(entry, FIGURES) == (
        ShownFigure("Vegetated share", "37%"),
        ShownFigure("Mean NDVI", "0.41"),
        ShownFigure("Observed (cloud-free) share", "92%"),
    )
    assert shown_figures(entry, {"ndvi": {"mean": None}, "vegetated_share": "high"}) == ()


def test_an_entry_without_figures_shows_every_top_level_number() -> None:
    bare = Indicator(
        id="toy",
        title="Toy",
        description="",
        unit="1",
        kind="continuous",
        value_range=(0, 1),
        legend=(),
    )
    row = {"mean": 0.123456, "pixels": 132_000, "done": True, "classes": {"a": 1}}
    assert shown_figures(bare, row) == (
        ShownFigure("Mean", "0.1235"),
        ShownFigure("Pixels", "132,000"),
    )
    listed = replace(bare, figures=(Figure("classes.a", "A", "{:d}"),))
    assert shown_figures(listed, row) == (ShownFigure("A", "1"),)


def test_figures_are_written_the_french_way() -> None:
    hot_spots = Figure("hot_spots", "Hot spots", "{:d}")
    assert format_figure(Figure("n", "N", "{:,}"), 1234, "fr") == "1\u202f234"
    # A median of counts may fall between two: shown with one decimal, not an error.
    assert format_figure(hot_spots, 4.5, "fr") == "4,5"
    assert format_figure(hot_spots, 1234.5, "en") == "1,234.5"
    assert format_figure(Figure("share", "Share", "{:.0%}"), 0.372, "fr") == "37\u202f%"
    assert format_figure(Figure("t", "T", "{:+.1f} °C"), 2.06, "en") == "+2.1 °C"


def test_months_are_written_by_name_in_the_page_language() -> None:
    night = {"start_month": "2016-03"}
    assert shown_figures(INDICATORS["night-lighting"], night, "fr") == (
        ShownFigure("Depuis", "mars 2016"),
    )
    since = Figure("start_month", "Since", "{}", "Depuis", MONTH)
    assert format_figure(since, "2016-03", "en") == "March 2016"
    assert format_figure(since, "2024-12", "fr") == "décembre 2024"
    assert format_figure(since, "2024-08", "fr") == "août 2024"
    # A value that is not a month is shown as it is, never an error.
    for odd in ("2016-13", "2016", "mars", "16-03", "2016-3x"):
        assert month_label(odd, "fr") == odd
