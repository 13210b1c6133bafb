"""The commune page through a real gateway, catalog and tiles service: French by default and
English on request, every indicator with statistics rows shown (figures, comparison, history),
a working search, downloads parsed back, former codes redirected, unknown ones a French 404 —
and, in headless Chromium, the map with its layers and basic accessibility checks."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from xml.etree import ElementTree

import httpx
import jsonschema
import numpy
import pytest
import rasterio
import shapely
from playwright.sync_api import BrowserContext, Playwright, Route
from rasterio.transform import xy
from rasterio.warp import transform
from sqlalchemy import delete, insert, text

from territoires.shared.database import create_sync_database
from territoires.shared.indicators import INDICATORS
from territoires.shared.models import FormerCommune, IndicatorStatistic, TerritoryLevel
from territoires.shared.settings import Settings
from territoires.tiles.app import create_app as create_tiles
from territoires.tiles.clip import qml as qml_style

from ..servers import serve
from .test_pages import CHROMIUM, FLAGS, READY_TIMEOUT_MS, browser, open_page, playwright  # noqa: F401

# Two summers of LST for La Rochelle, one for two other communes of Charente-Maritime; a former
# commune code that now answers with La Rochelle's.
LST_ROWS = [
    ("17300", 2024, {"mean": 31.2, "p90": 36.0, "suhi_c": 2.1, "hot_spots": 4, "valid_share": 0.9}),
    ("17300", 2025, {"mean": 33.5, "p90": 38.4, "suhi_c": 2.6, "hot_spots": 6, "valid_share": 0.8}),
    ("17299", 2025, {"mean": 30.1, "p90": 34.0, "suhi_c": 1.2, "hot_spots": 2, "valid_share": 0.9}),
    ("17306", 2025, {"mean": 29.0, "p90": 33.0, "suhi_c": 0.9, "hot_spots": 1, "valid_share": 0.9}),
    # Aix-en-Provence: in La Rochelle's population class (50,000 to 200,000), not its département.
    ("13001", 2025, {"mean": 31.5, "p90": 35.2, "suhi_c": 1.6, "hot_spots": 3, "valid_share": 0.9}),
]
SUMMERS = [
    {"summer": 2023, "mean_c": 30.4, "suhi_c": 1.8},
    {"summer": 2024, "mean_c": 31.2, "suhi_c": 2.1},
    {"summer": 2025, "mean_c": 33.5, "suhi_c": 2.6},
]
LST_ROWS[1][2]["summers"] = SUMMERS
# La Rochelle's lights switched off in the middle of the night from March 2016: 48 months of
# radiance, and the class the night-lighting job found in them.
NIGHT_MONTHS = [datetime(2014 + i // 12, i % 12 + 1, 1, tzinfo=UTC) for i in range(48)]
NIGHT_CLASS = {
    "class": "total-extinction",
    "class_code": 1,
    "start_month": "2016-03",
    "drop_percent": 62.0,
    "confidence": 0.87,
    "lit_cells": 40,
}
# Sealed soil by summer (a chart of two points) and one flood over La Rochelle, as the
# imperviousness and flood-extent processes store them.
SEALING_ROWS = [
    (2023, {"sealed_share": 0.401, "sealed_area_ha": 1270.4, "valid_share": 0.977}),
    (2025, {"sealed_share": 0.412, "sealed_area_ha": 1304.8, "valid_share": 0.95}),
]
FLOOD_ROW = {
    "flooded_area_ha": 247.6,
    "flooded_share": 0.078,
    "excluded_area_ha": 12.3,
    "observed_share": 1.0,
    "flooded_built_up_ha": 147.0,
    "exposed_population": 10930,
    "flood_polygons": 3,
}
FORMER = "17999"
# What the tests leave to look at (screenshots, the PDF report and its pages): under the
# repository's ignored out/ folder, kept after the run.
ARTEFACTS = Path(__file__).parents[2] / "out" / "tests" / "commune-page"
UPPER_LEVELS = """
    INSERT INTO territories (level, code, name, search_name, geometry)
    SELECT 'region'::territory_level, '75', 'Nouvelle-Aquitaine', 'nouvelle-aquitaine', geometry
    FROM territories WHERE level = 'departement' AND code = '17'
    UNION ALL
    SELECT 'epci'::territory_level, '241700434', 'CA de La Rochelle', 'ca de la rochelle', geometry
    FROM territories WHERE level = 'commune' AND code = '17300';
    UPDATE territories SET parent_code = '75' WHERE level = 'departement' AND code = '17';
    UPDATE territories SET epci_code = '241700434' WHERE level = 'commune' AND code = '17300';
"""
UNDO_UPPER_LEVELS = """
    UPDATE territories SET epci_code = NULL WHERE level = 'commune' AND code = '17300';
    UPDATE territories SET parent_code = NULL WHERE level = 'departement' AND code = '17';
    DELETE FROM territories WHERE (level, code) IN (('region', '75'), ('epci', '241700434'));
"""


@pytest.fixture(scope="module")
def commune_data(tiles_settings: Settings) -> Iterator[None]:
    engine = create_sync_database(tiles_settings.database_url)
    with engine.begin() as connection:
        for code, year, figures in LST_ROWS:
            connection.execute(
                insert(IndicatorStatistic).values(
                    territory_level=TerritoryLevel.COMMUNE,
                    territory_code=code,
                    indicator="lst",
                    period_start=datetime(year, 6, 1, tzinfo=UTC),
                    period_end=datetime(year, 8, 31, tzinfo=UTC),
                    figures=figures,
                    item_collection_id="lst",
                    item_id=f"lst-{code}-{year}",
                )
            )
        night = [
            {
                "indicator": "night-radiance",
                "period_start": month,
                "period_end": month.replace(day=28),
                "figures": {"radiance": 24.0 if month < NIGHT_MONTHS[26] else 9.1, "good": 1},
            }
            for month in NIGHT_MONTHS
        ]
        night.append(
            {
                "indicator": "night-lighting",
                "period_start": NIGHT_MONTHS[0],
                "period_end": datetime(2017, 12, 31, tzinfo=UTC),
                "figures": NIGHT_CLASS,
            }
        )
        for year, figures in SEALING_ROWS:
            night.append(
                {
                    "indicator": "imperviousness",
                    "period_start": datetime(year, 6, 1, tzinfo=UTC),
                    "period_end": datetime(year, 8, 31, tzinfo=UTC),
                    "figures": figures,
                }
            )
        night.append(
            {
                "indicator": "flood-extent",
                "period_start": datetime(2025, 12, 10, tzinfo=UTC),
                "period_end": datetime(2025, 12, 22, tzinfo=UTC),
                "figures": FLOOD_ROW,
            }
        )
        for row in night:
            connection.execute(
                insert(IndicatorStatistic).values(
                    territory_level=TerritoryLevel.COMMUNE, territory_code="17300", **row
                )
            )
        connection.execute(insert(FormerCommune).values(code=FORMER, successor_code="17300"))
        # A région over Charente-Maritime and an EPCI over La Rochelle (the demo carries neither).
        connection.execute(text(UPPER_LEVELS))
    yield
    with engine.begin() as connection:
        connection.execute(text(UNDO_UPPER_LEVELS))
        connection.execute(delete(IndicatorStatistic).where(IndicatorStatistic.indicator == "lst"))
        connection.execute(
            delete(IndicatorStatistic).where(
                IndicatorStatistic.territory_code == "17300",
                IndicatorStatistic.indicator.in_(
                    ("night-radiance", "night-lighting", "imperviousness", "flood-extent")
                ),
            )
        )
        connection.execute(delete(FormerCommune).where(FormerCommune.code == FORMER))
    engine.dispose()


@pytest.fixture(scope="module")
def gateway(tiles_gateway_url: str, commune_data: None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiles_gateway_url, timeout=30) as client:
        yield client


def test_page_is_french_with_every_indicator(gateway: httpx.Client) -> None:
    response = gateway.get("/communes/17300")
    assert response.status_code == 200, response.text
    html = unescape(response.text)
    assert '<html lang="fr">' in html
    assert "La Rochelle" in html and "Chiffres clés" in html
    # Vegetation (French labels, French numbers) and LST, with units, period and source.
    assert "Part végétalisée" in html and "37\u202f%" in html and "0,41" in html
    assert "Température de surface moyenne" in html and "33,5\u202f°C" in html
    assert "01/06/2025 – 31/08/2025" in html and "lst/lst-17300-2025" in html
    # Plain-language explanation and limits from the registry.
    assert "Ses limites" in html and "pas celle de l'air" in html
    # Comparison with the département's communes (3 with LST in 2025) and history of two summers.
    assert "Médiane des communes du département" in html and "3 communes comparées" in html
    # And with the communes of its population class, wherever they are: La Rochelle and Aix.
    assert "Médiane des communes de même taille" in html and "2 communes comparées" in html
    assert "32,5\u202f°C" in html  # the median of 33.5 and 31.5 °C
    assert "Évolution" in html and "<svg" in html and "31,2\u202f°C" in html
    assert "Licence Ouverte 2.0" in html


def test_page_shows_lst_by_summer_and_night_radiance_by_month(gateway: httpx.Client) -> None:
    html = unescape(gateway.get("/communes/17300").text)
    lst = html[
        html.index('id="indicator-lst"') : html.index(
            "</article>", html.index('id="indicator-lst"')
        )
    ]
    # LST by summer: a chart and its data table, one row per summer.
    assert "<h4>Par été</h4>" in lst and lst.count('<svg class="chart"') >= 3
    summers = lst[lst.index('class="series-data"') :]
    assert '<th scope="row">2023</th><td>30,4 °C</td><td>+1,8 °C</td>' in summers
    # Night lighting: the class in words, and the monthly radiance with the change marked.
    night = html[html.index('id="indicator-night-lighting"') :]
    night = night[: night.index("</article>")]
    assert '<th scope="row">Pratique d\'éclairage</th><td>extinction totale</td>' in night
    assert "<td>62 %</td>" in night and "<td>87 %</td>" in night
    assert '<th scope="row">Depuis</th><td>mars 2016</td>' in night  # not ISO "2016-03"
    assert "Radiance nocturne par mois" in night and "changement détecté en mars 2016" in night
    assert 'class="change"' in night
    table = night[night.index('class="series-data"') :]
    assert table.count('<tr><th scope="row">') == 48
    assert '<th scope="row">février 2016</th><td>24,00</td>' in table
    assert '<th scope="row">mars 2016</th><td>9,10</td>' in table
    # The monthly rows are the night-lighting section's series, not a section of their own.
    assert 'id="indicator-night-radiance"' not in html
    english = unescape(gateway.get("/communes/17300", params={"lang": "en"}).text)
    assert "<td>total extinction</td>" in english and "change detected in March 2016" in english
    assert '<th scope="row">Since</th><td>March 2016</td>' in english
    # The embed's key figures write the month the same way.
    embed = {"territory": "17300", "indicator": "night-lighting"}
    assert "<td>Depuis</td><td>mars 2016</td>" in unescape(gateway.get("/embed", params=embed).text)
    english_embed = gateway.get("/embed", params={**embed, "lang": "en"}).text
    assert "<td>Since</td><td>March 2016</td>" in unescape(english_embed)
    assert "<h4>By summer</h4>" in english


def section_of(html: str, indicator: str) -> str:
    """The page's article of one indicator."""
    start = html.index(f'<article class="indicator" id="indicator-{indicator}"')
    return html[start : html.index("</article>", start)]


def test_page_shows_sealing_and_flood_in_french(gateway: httpx.Client) -> None:
    """The indicators landed since the page was first built: imperviousness (a history of two
    summers, drawn) and flood extent, with French labels, figures, explanations and CSV lines."""
    html = unescape(gateway.get("/communes/17300").text)
    sealing = section_of(html, "imperviousness")
    assert "<h3>Sols imperméabilisés</h3>" in sealing
    assert "Part imperméabilisée" in sealing and "41,2\u202f%" in sealing
    assert "Surface imperméabilisée" in sealing and "1\u202f304,8 ha" in sealing
    assert "<svg" in sealing and "40,1\u202f%" in sealing  # the 2023 summer in the history
    assert "Ses limites" in sealing and "ZAN" in sealing
    flood = section_of(html, "flood-extent")
    assert "<h3>Étendue de l'inondation</h3>" in flood
    for label, value in [
        ("Surface inondée", "247,6 ha"),
        ("Surface bâtie inondée", "147,0 ha"),
        ("Population exposée", "10\u202f930"),
        ("Zones inondées (≥ 0,5 ha)", "3"),
    ]:
        assert label in flood and value in flood, (label, value)
    assert "10/12/2025 – 22/12/2025" in flood and "Sentinel-1" in flood
    english = unescape(gateway.get("/communes/17300", params={"lang": "en"}).text)
    assert "Sealed share" in english and "Exposed population" in english and "10,930" in english
    rows = list(csv.DictReader(io.StringIO(gateway.get("/communes/17300/statistiques.csv").text)))
    measures = {(r["indicateur"], r["mesure"], r["date_debut"], r["valeur"]) for r in rows}
    assert ("imperviousness", "sealed_share", "2025-06-01", "0.412") in measures
    assert ("flood-extent", "exposed_population", "2025-12-10", "10930") in measures


def test_english_on_request(gateway: httpx.Client) -> None:
    by_query = gateway.get("/communes/17300", params={"lang": "en"}).text
    by_header = gateway.get("/communes/17300", headers={"Accept-Language": "en-GB,en;q=0.8"}).text
    for html in (by_query, by_header):
        assert '<html lang="en">' in html and "Key figures" in html and "Mean LST" in html
    preferred = gateway.get("/communes/17300", headers={"Accept-Language": "en;q=0.5,fr"}).text
    assert '<html lang="fr">' in preferred


def test_map_page_is_french_too(gateway: httpx.Client) -> None:
    french = gateway.get("/map").text
    assert '<html lang="fr">' in french and "Couche affichée" in french
    assert "Cliquez sur la carte" in french
    english = gateway.get("/map", params={"lang": "en"}).text
    assert '<html lang="en">' in english and "Click the map" in english


def test_unknown_code_is_a_french_404(gateway: httpx.Client) -> None:
    page = gateway.get("/communes/99999")
    assert page.status_code == 404
    assert '<html lang="fr">' in page.text and "Commune introuvable" in page.text
    download = gateway.get("/communes/99999/statistiques.csv")
    assert download.status_code == 404
    assert download.headers["content-type"].startswith("application/problem+json")
    assert "Aucune commune" in download.json()["detail"]
    bad = gateway.get("/communes/not-a-code!")
    assert bad.status_code in (400, 404, 422) and bad.status_code != 500


def test_departement_page_lists_its_communes(gateway: httpx.Client) -> None:
    response = gateway.get("/departements/17")
    assert response.status_code == 200, response.text
    html = unescape(response.text)
    assert '<html lang="fr">' in html and "Charente-Maritime" in html
    assert "Communes du territoire" in html and 'href="/communes/17300"' in html
    assert "/departements/17/statistiques.csv" in html
    header = gateway.get("/departements/17/statistiques.csv").text.splitlines()[0]
    assert header.startswith("code_insee,nom_departement,annee_geographie")
    schema = gateway.get("/departements/schema.json").json()
    assert schema["fields"][1]["name"] == "nom_departement"
    # The commune page links to its département.
    assert 'href="/departements/17"' in gateway.get("/communes/17300").text
    missing = gateway.get("/departements/99")
    assert missing.status_code == 404 and "Territoire introuvable" in missing.text


@pytest.mark.parametrize("prefix", ["/communes", "/epci", "/departements", "/regions"])
@pytest.mark.parametrize(
    "rest", ["/0", "/ZZZZZZZZZZZZZZZZ", "/2a004/statistiques.geojson", "/00000/statistiques.csv"]
)
def test_odd_requests_are_never_server_errors(
    gateway: httpx.Client, prefix: str, rest: str
) -> None:
    headers = {"Accept-Language": "q=nan;;, fr;q=abc, *;q=0, en-US;q=inf"}
    response = gateway.get(f"{prefix}{rest}", params={"lang": "xx"}, headers=headers)
    assert response.status_code in (200, 404), response.text


def test_region_and_epci_pages(gateway: httpx.Client) -> None:
    region = unescape(gateway.get("/regions/75").text)
    assert "Nouvelle-Aquitaine" in region and 'href="/communes/17299"' in region
    assert 'href="/regions/75"' in gateway.get("/departements/17").text
    epci = unescape(gateway.get("/epci/241700434", params={"lang": "en"}).text)
    assert "CA de La Rochelle" in epci and "SIREN code" in epci
    assert 'href="/communes/17300?lang=en"' in epci and 'href="/communes/17299' not in epci
    assert 'href="/epci/241700434"' in gateway.get("/communes/17300").text
    header = gateway.get("/epci/241700434/statistiques.csv").text.splitlines()[0]
    assert header.startswith("code_insee,nom_epci,")


def test_former_code_redirects(gateway: httpx.Client) -> None:
    response = gateway.get(f"/communes/{FORMER}/statistiques.csv?x=1")
    assert response.status_code == 308
    assert response.headers["location"].endswith("/communes/17300/statistiques.csv?x=1")


def test_csv_downloads_and_schema(gateway: httpx.Client) -> None:
    response = gateway.get("/communes/17300/statistiques.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    lst = [r for r in rows if r["indicateur"] == "lst" and r["mesure"] == "mean"]
    assert [(r["date_debut"], r["valeur"]) for r in lst] == [
        ("2024-06-01", "31.2"),
        ("2025-06-01", "33.5"),
    ]
    assert {r["code_insee"] for r in rows} == {"17300"}
    assert {r["annee_geographie"] for r in rows} == {"2026"}
    assert any(r["libelle"] == "Part végétalisée" for r in rows)
    night = next(r for r in rows if r["indicateur"] == "night-lighting" and r["mesure"] == "class")
    assert (night["valeur"], night["valeur_texte"]) == ("", "total-extinction")

    schema = gateway.get("/communes/schema.json").json()
    names = [f["name"] for f in schema["fields"]]
    assert names == list(rows[0])
    # The schema's own shape, then each row against the types and constraints it declares.
    table_schema = {
        "type": "object",
        "required": ["fields"],
        "properties": {
            "fields": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {
                        "type": {"enum": ["string", "number", "integer", "date"]},
                    },
                },
            },
            "primaryKey": {"type": "array", "items": {"enum": names}},
        },
    }
    jsonschema.validate(schema, table_schema)
    code_pattern = next(f for f in schema["fields"] if f["name"] == "code_insee")
    assert all(
        jsonschema.Draft202012Validator(
            {"pattern": code_pattern["constraints"]["pattern"]}
        ).is_valid(r["code_insee"])
        for r in rows
    )
    for row in rows:
        assert bool(row["valeur"]) != bool(row["valeur_texte"])
        if row["valeur"]:
            float(row["valeur"])
        datetime.fromisoformat(row["date_fin"])

    spreadsheet = gateway.get("/communes/17300/statistiques-tableur.csv").content.decode("utf-8")
    assert spreadsheet.startswith("\ufeffcode_insee;nom_commune;")
    assert ";33,5;" in spreadsheet

    geojson = gateway.get("/communes/17300/statistiques.geojson").json()
    feature = geojson["features"][0]
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["code_insee"] == "17300"


def key_figures(html: str) -> list[tuple[str, str]]:
    """(label, value) of every key-figures table row of a page."""
    rows = re.findall(
        r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td>',
        "".join(re.findall(r'<table class="key-figures">.*?</table>', html, re.S)),
    )
    return [(unescape(label), unescape(value)) for label, value in rows]


def plain(text: str) -> str:
    """Text with its spaces and line breaks as single spaces (a PDF wraps long labels)."""
    return re.sub(r"-\s", "-", re.sub(r"[\s\u202f\u00a0]+", " ", text))


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="poppler-utils: scripts/bootstrap.sh test")
@pytest.mark.parametrize("language", ["fr", "en"])
def test_pdf_report_opens_and_shows_the_page_figures(gateway: httpx.Client, language: str) -> None:
    page = gateway.get("/communes/17300", params={"lang": language}).text
    assert f'href="/communes/17300/rapport.pdf{"?lang=en" if language == "en" else ""}"' in page
    response = gateway.get("/communes/17300/rapport.pdf", params={"lang": language})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTEFACTS / f"rapport-17300-{language}.pdf"
    pdf.write_bytes(response.content)
    # poppler renders every page, and the first is not blank.
    prefix = ARTEFACTS / f"rapport-17300-{language}"
    for stale in ARTEFACTS.glob(f"{prefix.name}-*.png"):
        stale.unlink()
    subprocess.run(["pdftoppm", "-r", "60", "-png", pdf, prefix], check=True, timeout=120)
    pages = sorted(ARTEFACTS.glob(f"{prefix.name}-*.png"))
    assert pages and all(p.stat().st_size > 2_000 for p in pages)
    info = subprocess.run(["pdfinfo", pdf], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Tagged:\s+yes$", info, re.M), info  # PDF/UA: for screen readers
    # Its text carries the page's key figures, each value right after its label.
    raw = ["pdftotext", "-raw", pdf, "-"]
    text = plain(subprocess.run(raw, capture_output=True, text=True, check=True).stdout)
    figures = key_figures(page)
    assert len(figures) >= 8, figures
    for label, value in figures:
        assert plain(f"{label} {value}") in text, (label, value)
    assert "La Rochelle" in text and "Licence Ouverte 2.0" in text
    assert ("mars 2016" if language == "fr" else "March 2016") in text  # the night change
    missing = gateway.get("/communes/99999/rapport.pdf")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_layer_geotiff_cut_to_the_commune(gateway: httpx.Client) -> None:
    page = gateway.get("/communes/17300").text
    assert 'href="/communes/17300/couches/ndvi.zip"' in page
    response = gateway.get("/communes/17300/couches/ndvi.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["17300-ndvi.json", "17300-ndvi.qml", "17300-ndvi.tif"]
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    archive.extractall(ARTEFACTS)
    outline = shapely.geometry.shape(
        gateway.get("/communes/17300/statistiques.geojson").json()["features"][0]["geometry"]
    )
    with rasterio.open(ARTEFACTS / "17300-ndvi.tif") as tif:
        values = tif.read(1)
        assert tif.nodata == -9999.0 and tif.crs.to_epsg() == 32630
        # Cut to the commune's box, in the result's own grid (10 m pixels, no resampling).
        assert tif.res == (10.0, 10.0) and values.shape[0] < 1024
        inside = values != tif.nodata
        assert inside.any() and (~inside).any()
        assert ((values[inside] >= -1) & (values[inside] <= 1)).all()
        # A pixel kept is on the outline or in it; the box's corners outside it are nodata.
        rows, cols = numpy.nonzero(inside)
        xs, ys = xy(tif.transform, rows[::500], cols[::500])
        lons, lats = transform(tif.crs, "EPSG:4326", xs, ys)
        points = shapely.points(lons, lats)
        assert shapely.dwithin(outline, points, 0.0003).all()
    qml = ElementTree.fromstring(archive.read("17300-ndvi.qml").decode().split("\n", 1)[1])
    items = qml.findall(".//colorrampshader/item")
    assert [(i.get("value"), i.get("color")) for i in items][:2] == [
        ("-1", "#0c3b7a"),
        ("0", "#d9c9a3"),
    ]
    metadata = json.loads(archive.read("17300-ndvi.json"))
    assert metadata["source"]["element"] == "ndvi-2025" and metadata["unite"] == "1"
    assert metadata["territoire"]["code_insee"] == "17300" and "Licence Ouverte" in str(metadata)
    # Categorical layers get one colour per class, labelled; vector and unknown layers are 404s.
    palette = ElementTree.fromstring(qml_style(INDICATORS["lcz"]).split("\n", 1)[1])
    entries = palette.findall(".//colorPalette/paletteEntry")
    assert len(entries) == 17 and entries[16].get("label") == "G Water"
    for missing in ("lst-hot-spots", "nothing"):
        answer = gateway.get(f"/communes/17300/couches/{missing}.zip")
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")


def frame_ancestors(response: httpx.Response) -> str:
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "object-src 'none'" in policy
    return next(p for p in policy.split("; ") if p.startswith("frame-ancestors")).split(" ", 1)[1]


def test_pages_have_a_content_security_policy(
    gateway: httpx.Client, tiles_settings: Settings
) -> None:
    # Through the gateway with the default settings: /embed for any portal, pages for this site.
    assert frame_ancestors(gateway.get("/communes/17300")) == "'self'"
    assert frame_ancestors(gateway.get("/departements/17")) == "'self'"
    embed = gateway.get("/embed", params={"territory": "17300", "indicator": "ndvi"})
    assert frame_ancestors(embed) == "*"
    assert "content-security-policy" not in gateway.get("/communes/schema.json").headers
    # The portals named in the settings, and only them.
    portals = ["https://www.ville-la-rochelle.fr", "https://agglo-larochelle.fr"]
    configured = tiles_settings.model_copy(update={"frame_ancestors": portals})
    with serve(create_tiles(configured)) as url, httpx.Client(base_url=url) as tiles:
        embed = tiles.get("/embed", params={"territory": "17300", "indicator": "ndvi"})
        assert frame_ancestors(embed) == " ".join(portals)
        assert frame_ancestors(tiles.get("/communes/17300")) == "'self'"


def test_accessibility_statement(gateway: httpx.Client) -> None:
    page = gateway.get("/communes/17300")
    assert 'href="/accessibilite"' in page.text and "Accessibilité : partiellement conforme" in (
        unescape(page.text)
    )
    statement = gateway.get("/accessibilite")
    assert statement.status_code == 200
    html = unescape(statement.text)
    assert '<html lang="fr">' in html and "Déclaration d'accessibilité" in html
    assert "RGAA 4.1.2" in html and "Défenseur des droits" in html
    assert frame_ancestors(statement) == "'self'"
    english = unescape(gateway.get("/accessibilite", params={"lang": "en"}).text)
    assert "Accessibility statement" in english and "partially compliant" in english


def test_search_api_ignores_accents(gateway: httpx.Client) -> None:
    found = gateway.get("/territories", params={"q": "rochefort", "level": "commune"}).json()
    assert any(f["properties"]["code"] == "17299" for f in found["features"])
    accented = gateway.get("/territories", params={"q": "ÎLE D'AIX", "level": "commune"}).json()
    assert [f["properties"]["name"] for f in accented["features"]] == ["Île-d'Aix"]
    empty = gateway.get("/territories", params={"q": ""})
    assert empty.status_code in (400, 422)
    assert empty.headers["content-type"].startswith("application/problem+json")


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium: scripts/bootstrap.sh test")
def test_page_in_chromium(
    browser: BrowserContext,  # noqa: F811
    tiles_gateway_url: str,
    commune_data: None,
) -> None:
    shots = ARTEFACTS
    shots.mkdir(parents=True, exist_ok=True)
    for name in ("commune-17300-fr.png", "commune-17300-en.png", "embed-17300-fr.png"):
        (shots / name).unlink(missing_ok=True)  # this run's screenshots only
    # As a French browser asks (Chromium's own default is en-US, which the page would honour).
    browser.set_extra_http_headers({"Accept-Language": "fr-FR,fr;q=0.9"})
    page, record = open_page(browser, f"{tiles_gateway_url}/communes/17300")
    assert page.evaluate("document.documentElement.lang") == "fr"
    layers = page.locator('#layers input[name="layer"]')
    values = [layers.nth(i).get_attribute("value") for i in range(layers.count())]
    assert {"ndvi", "lst-hot-spots"} <= set(values), values
    assert page.locator("#legend").get_attribute("data-indicator") == values[1]
    # Another layer by keyboard: focus the radio group and move with the arrow keys.
    page.locator('#layers input[value="ndvi"]').focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.getElementById('legend').dataset.indicator !== 'ndvi'")
    page.screenshot(path=str(shots / "commune-17300-fr.png"), full_page=True)

    # Basic accessibility: landmarks, one h1, labelled controls, images with a text alternative.
    assert page.locator("main").count() == 1 and page.locator("h1").count() == 1
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
           .map((e) => e.outerHTML)"""
    )
    assert not unlabelled, unlabelled
    unnamed = page.evaluate(
        """[...document.querySelectorAll('img, svg[role=img], [role=img]')]
           .filter((e) => !(e.getAttribute('alt') || e.getAttribute('aria-label')))
           .map((e) => e.outerHTML.slice(0, 80))"""
    )
    assert not unnamed, unnamed

    # The search box finds a commune whatever its accents, and links to its page.
    page.fill("#search-input", "ile d aix")
    page.click("#search-form button")
    page.wait_for_selector("#search-results a")
    link = page.locator("#search-results a").first
    assert "Île-d'Aix" in link.inner_text()
    assert link.get_attribute("href").startswith("/communes/17")
    # A postcode finds the communes that have it, named beside their INSEE code.
    page.fill("#search-input", "17300")
    page.click("#search-form button")
    page.wait_for_selector("#search-results a >> text=Rochefort")
    answers = page.locator("#search-results a").all_inner_texts()
    assert answers[:2] == ["La Rochelle (17300)", "Rochefort (17299) — code postal 17300"]

    # The iframe snippet follows the layer chosen for it, and titles its iframe.
    snippet = page.locator("#embed-snippet")
    assert (
        "indicator=ndvi" in snippet.input_value() and 'title="La Rochelle' in snippet.input_value()
    )
    page.select_option("#embed-layer", "lst-hot-spots")
    assert "indicator=lst-hot-spots" in snippet.input_value()

    # The CSV link downloads the file the page names, with its leading zeros kept as text.
    with page.expect_download() as download:
        page.click("#download-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("code_insee,nom_commune,annee_geographie")
    assert not record.errors, record.errors
    page.close()

    embed, record = open_page(browser, f"{tiles_gateway_url}/embed?territory=17300&indicator=ndvi")
    assert embed.evaluate("document.documentElement.lang") == "fr"
    figures = embed.locator("#figures").inner_text()
    assert all(text in figures for text in ("Chiffres clés", "NDVI moyen", "0,41", "01/07/2025"))
    assert "habitants" in embed.locator("#territory-facts").inner_text()
    assert "NDVI" in embed.locator("#legend h2").inner_text()
    embed.screenshot(path=str(shots / "embed-17300-fr.png"))
    assert not record.errors, record.errors
    embed.close()

    # A host page hears the embed's events.
    # A portal's page: an http page (frame-ancestors * matches http and https origins, not
    # about:blank), on the same host so that Chromium's private-network rules stay out of it.
    host = browser.new_page()
    portal = f"{tiles_gateway_url}/portail-test.html"
    host.route(
        portal,
        lambda route: route.fulfill(
            content_type="text/html",
            body="<script>window.heard = []; addEventListener('message', "
            "(e) => heard.push(e.data));</script><iframe title='carte' width='600' height='400' "
            f"src='{tiles_gateway_url}/embed?territory=17300&indicator=ndvi'></iframe>",
        ),
    )
    host.goto(portal)
    host.wait_for_function("window.heard.some((m) => m.type === 'ready')", timeout=READY_TIMEOUT_MS)
    ready = host.evaluate("window.heard.find((m) => m.type === 'ready')")
    assert ready == {
        "source": "territoires",
        "type": "ready",
        "territory": "17300",
        "indicator": "ndvi",
    }
    # A click on the embedded map is told to the host, with where it was.
    host.locator("iframe").click()
    host.wait_for_function("window.heard.some((m) => m.type === 'territory-clicked')")
    clicked = host.evaluate("window.heard.find((m) => m.type === 'territory-clicked')")
    assert clicked["source"] == "territoires" and clicked["territory"] == "17300", clicked
    assert -1.3 < clicked["lng"] < -1.0 and 46.0 < clicked["lat"] < 46.3, clicked  # La Rochelle
    host.close()

    english, record = open_page(browser, f"{tiles_gateway_url}/communes/17300?lang=en")
    assert english.evaluate("document.documentElement.lang") == "en"
    assert "Key figures" in english.inner_text("main")
    english.screenshot(path=str(shots / "commune-17300-en.png"), full_page=True)
    for name in ("commune-17300-fr.png", "commune-17300-en.png", "embed-17300-fr.png"):
        assert (shots / name).stat().st_size > 20_000, name
    assert not record.errors, record.errors
    english.close()
    print(f"screenshots in {shots}")


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium: scripts/bootstrap.sh test")
@pytest.mark.parametrize(
    "path",
    [
        "/communes/17300",
        "/embed?territory=17300&indicator=ndvi",
        "/map?collection=lcz",
        "/accessibilite",
    ],
)
def test_pages_work_under_their_content_security_policy(
    playwright: Playwright,  # noqa: F811
    tiles_gateway_url: str,
    commune_data: None,
    path: str,
    tmp_path: Path,
) -> None:
    """In a browser that enforces the policy: the page gets ready (map drawn), and nothing it
    needs is refused (Chromium reports each refusal as a console error)."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path), executable_path=CHROMIUM, headless=True, args=FLAGS
    )
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: m.type == "error" and refused.append(m.text))
        page.on("pageerror", lambda error: refused.append(str(error)))
        response = page.goto(f"{tiles_gateway_url}{path}")
        assert response is not None and "content-security-policy" in response.headers
        if path != "/accessibilite":
            ready = "body[data-state='ready']"
            page.wait_for_selector(ready, state="attached", timeout=READY_TIMEOUT_MS)
    finally:
        context.close()
    assert not refused, refused


AXE = Path(__file__).parents[2] / "services/tiles/frontend/node_modules/axe-core/axe.min.js"
AXE_PAGES = [
    "/accessibilite",
    "/communes/17300",
    "/communes/17300?lang=en",
    "/departements/17",
    "/map?collection=lcz",
    "/map?collection=lcz&lang=en",
    "/embed?territory=17300&indicator=ndvi",
    "/embed?territory=17300&indicator=ndvi&lang=en",
]


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium: scripts/bootstrap.sh test")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core: scripts/bootstrap.sh test (npm ci)")
@pytest.mark.parametrize("path", AXE_PAGES)
def test_axe_finds_no_serious_violation(
    browser: BrowserContext,  # noqa: F811
    tiles_gateway_url: str,
    commune_data: None,
    path: str,
) -> None:
    """axe-core's WCAG 2.1 A and AA rules (what RGAA 4.1 maps to), run in the page as served."""
    page, record = open_page(browser, f"{tiles_gateway_url}{path}")
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """axe.run(document, {runOnly: {type: "tag",
             values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, serious
    assert not record.errors, record.errors
    page.close()


def page_config(html: str) -> dict:
    """The configuration a map page hands its script."""
    found = re.search(r'<script type="application/json" id="config">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))


def policy_sources(response: httpx.Response, directive: str) -> list[str]:
    policy = response.headers["content-security-policy"]
    return next(p for p in policy.split("; ") if p.startswith(f"{directive} ")).split()[1:]


MAP_PAGES = ["/communes/17300", "/map", "/embed?territory=17300&indicator=ndvi"]
IGN = "https://data.geopf.fr"


def test_base_map_is_ign_wmts_when_configured(
    gateway: httpx.Client, tiles_settings: Settings
) -> None:
    # The default: the offline outlines alone, and nothing outside the platform in the policy.
    for path in MAP_PAGES:
        response = gateway.get(path)
        assert page_config(response.text)["basemap"] is None, path
        assert policy_sources(response, "img-src") == ["'self'", "data:", "blob:"], path
        assert policy_sources(response, "connect-src") == ["'self'"], path
    # Configured: Plan IGN from the Géoplateforme's WMTS (Web Mercator, KVP GetTile).
    configured = tiles_settings.model_copy(update={"base_map": "plan-ign"})
    with serve(create_tiles(configured)) as url, httpx.Client(base_url=url, timeout=30) as tiles:
        for path in MAP_PAGES:
            response = tiles.get(path)
            base_map = page_config(response.text)["basemap"]
            assert base_map["id"] == "plan-ign" and base_map["tileSize"] == 256, path
            (template,) = base_map["tiles"]
            assert template.startswith(f"{IGN}/wmts?SERVICE=WMTS&REQUEST=GetTile&"), template
            for part in (
                "LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2",
                "TILEMATRIXSET=PM",
                "FORMAT=image%2Fpng",
                "TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
            ):
                assert part in template, (part, template)
            assert "IGN" in base_map["attribution"]
            assert IGN in policy_sources(response, "img-src"), path
            assert IGN in policy_sources(response, "connect-src"), path
            assert "frame-ancestors" in response.headers["content-security-policy"]
    ortho = tiles_settings.model_copy(update={"base_map": "orthophotos-ign"})
    with serve(create_tiles(ortho)) as url, httpx.Client(base_url=url, timeout=30) as tiles:
        (template,) = page_config(tiles.get("/communes/17300").text)["basemap"]["tiles"]
        assert "LAYER=ORTHOIMAGERY.ORTHOPHOTOS" in template and "FORMAT=image%2Fjpeg" in template


def wmts_tile() -> bytes:
    """A 256-pixel PNG standing in for the Géoplateforme's tiles (the tests run offline)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium: scripts/bootstrap.sh test")
def test_pages_draw_the_configured_ign_base_map(
    playwright: Playwright,  # noqa: F811
    tiles_gateway_url: str,
    tiles_settings: Settings,
    commune_data: None,
    tmp_path: Path,
) -> None:
    """In Chromium, under the pages' own policy: the map's style has the WMTS raster source under
    the outlines and asks it for tiles when configured, and the offline style otherwise."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path), executable_path=CHROMIUM, headless=True, args=FLAGS
    )
    tile = wmts_tile()
    asked: list[str] = []  # the WMTS tiles the page asked for
    refused: list[str] = []  # the page's errors: refusals under its policy among them

    def answer(route: Route) -> None:  # the Géoplateforme, offline (it allows any origin)
        asked.append(route.request.url)
        route.fulfill(
            status=200,
            content_type="image/png",
            headers={"access-control-allow-origin": "*"},
            body=tile,
        )

    context.route(f"{IGN}/**", answer)
    configured = tiles_settings.model_copy(update={"base_map": "plan-ign"})
    try:
        with serve(create_tiles(configured)) as url:
            for base, expect_ign in ((url, True), (tiles_gateway_url, False)):
                for path in ("/communes/17300", "/map?collection=lcz"):
                    page = context.new_page()
                    page.on("console", lambda m: m.type == "error" and refused.append(m.text))
                    page.on("pageerror", lambda error: refused.append(str(error)))
                    asked.clear()
                    refused.clear()
                    page.goto(f"{base}{path}")
                    ready = "body[data-state='ready']"
                    page.wait_for_selector(ready, state="attached", timeout=READY_TIMEOUT_MS)
                    style = page.evaluate("window.territoiresMap.getStyle()")
                    layers = [layer["id"] for layer in style["layers"]]
                    if expect_ign:
                        source = style["sources"]["basemap"]
                        assert source["type"] == "raster", source
                        assert source["tiles"][0].startswith(f"{IGN}/wmts?"), source
                        # Over the sea, under the outlines and any indicator layer.
                        assert layers[:2] == ["sea", "basemap"] and "land" not in layers, layers
                        assert layers.index("basemap") < layers.index("communes")
                        assert asked and all("TILEMATRIXSET=PM" in a for a in asked), asked
                    else:
                        assert "basemap" not in style["sources"] and "land" in layers, layers
                        assert not asked, asked
                    # The tiles service alone answers the catalog's APIs 404: only the policy's
                    # refusals count there; through the gateway, every error does.
                    policy = [e for e in refused if "Content Security Policy" in e]
                    assert not (policy if expect_ign else refused), (path, refused)
                    page.close()
    finally:
        context.close()
