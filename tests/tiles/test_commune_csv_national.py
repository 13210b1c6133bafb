"""The CSV download for a commune outside the demo: L'Abergement-Clémenciat (01001, Ain), loaded
from the data kit's national geography with the national loader, keeps its accents and its
leading zero, and validates against the download's TableSchema with Frictionless, the
validator data.gouv.fr's schema tools build on.

Only Ain is loaded (`read_national(..., ["01"])`): the whole of France is loaded once per run,
by tests/shared/test_geography.py, and a second full load would add minutes for no more
coverage of the CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from frictionless import Resource, Schema
from sqlalchemy import insert

from territoires.shared.database import create_sync_database
from territoires.shared.geography import find_national_dir, load_national, read_national
from territoires.shared.models import IndicatorStatistic, TerritoryLevel
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.tiles.app import create_app as create_tiles

from ..conftest import KIT
from ..servers import serve
from .conftest import FIGURES

CODE, NAME = "01001", "L'Abergement-Clémenciat"
NIGHT = {"class": "relit", "start_month": "2019-10", "drop_percent": -35.0, "confidence": 0.7}


@pytest.fixture(scope="module")
def ain(empty_database_factory, redis_url: str, tmp_path_factory) -> Iterator[httpx.Client]:
    """The tiles service over a database holding Ain's communes of 2026 and two rows of 01001."""
    url = empty_database_factory("ain")
    upgrade(url)
    engine = create_sync_database(url)
    load_national(engine, read_national(find_national_dir([KIT]), ["01"]))
    rows = [
        ("vegetation-cover", datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 31, tzinfo=UTC)),
        ("night-lighting", datetime(2016, 1, 1, tzinfo=UTC), datetime(2021, 12, 31, tzinfo=UTC)),
    ]
    with engine.begin() as connection:
        for indicator, start, end in rows:
            connection.execute(
                insert(IndicatorStatistic).values(
                    territory_level=TerritoryLevel.COMMUNE,
                    territory_code=CODE,
                    indicator=indicator,
                    period_start=start,
                    period_end=end,
                    figures=FIGURES if indicator == "vegetation-cover" else NIGHT,
                )
            )
    engine.dispose()
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix="territoires-test-ain",
        storage_url=str(tmp_path_factory.mktemp("ain-storage")),
    )
    with serve(create_tiles(settings)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client


def described(path: Path, client: httpx.Client) -> Resource:
    """A CSV file on disk with the schema the service publishes (Frictionless reads files only
    under a base path)."""
    descriptor = client.get("/communes/schema.json").json()
    return Resource(
        path=path.name, basepath=str(path.parent), schema=Schema.from_descriptor(descriptor)
    )


def test_csv_of_a_commune_of_ain_keeps_accents_and_leading_zeros(
    ain: httpx.Client, tmp_path: Path
) -> None:
    response = ain.get(f"/communes/{CODE}/statistiques.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")  # strict: not Latin-1, no byte-order mark
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["code_insee"], r["nom_commune"], r["annee_geographie"]) for r in rows} == {
        (CODE, NAME, "2026")
    }
    assert text.splitlines()[1].startswith(f"{CODE},{NAME},2026,")
    assert {"Part végétalisée", "Pratique d'éclairage"} <= {r["libelle"] for r in rows}
    since = next(r for r in rows if r["mesure"] == "start_month")
    assert (since["valeur_texte"], since["unite"]) == ("2019-10", "month")  # ISO in the data
    spreadsheet = ain.get(f"/communes/{CODE}/statistiques-tableur.csv").content
    assert spreadsheet.decode("utf-8-sig").splitlines()[1].startswith(f"{CODE};{NAME};2026;")

    # Validated as a portal would: the file on disk against the schema the service publishes.
    path = tmp_path / f"statistiques-{CODE}.csv"
    path.write_bytes(response.content)
    report = described(path, ain).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    table = report.tasks[0]
    assert table.stats["rows"] == len(rows) == 7  # 3 vegetation figures, 4 night-lighting
    # Read back through the schema, the code stays text with its zero.
    typed = described(path, ain).read_rows()
    assert {row["code_insee"] for row in typed} == {CODE}


def test_a_broken_csv_fails_the_same_validation(ain: httpx.Client, tmp_path: Path) -> None:
    """The validator would catch a lost leading zero: the check above can fail."""
    text = ain.get(f"/communes/{CODE}/statistiques.csv").content.decode("utf-8")
    path = tmp_path / "statistiques-sans-zero.csv"
    path.write_text(text.replace(f"{CODE},", f"{CODE.lstrip('0')},"), encoding="utf-8")
    report = described(path, ain).validate()
    assert not report.valid
    errors = report.flatten(["fieldName", "type"])
    assert errors and all(error == ["code_insee", "constraint-error"] for error in errors)
