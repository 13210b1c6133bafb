"""The demo territories: read from the project's files, loaded into PostGIS all or nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from territoires.shared.database import create_sync_database
from territoires.shared.settings import ConfigurationError, Settings
from territoires.shared.territories import (
    count_territories,
    departement_of,
    find_demo_territory,
    load_territories,
    read_demo_territories,
    search_name,
)

DATA = Settings().data_dir


def test_demo_counts_and_la_rochelle() -> None:
    records = list(read_demo_territories(DATA))
    assert sum(r.level == "commune" for r in records) == 609
    assert sum(r.level == "departement" for r in records) == 101
    la_rochelle = find_demo_territory(DATA, "17300")
    assert la_rochelle.name == "La Rochelle"
    assert la_rochelle.parent_code == "17"
    assert la_rochelle.population and la_rochelle.population > 70_000
    minx, miny, maxx, maxy = la_rochelle.geometry.bounds
    assert -1.3 < minx < maxx < -1.0 and 46.1 < miny < maxy < 46.2
    assert find_demo_territory(DATA, "974").level == "departement"
    with pytest.raises(KeyError, match="99999"):
        find_demo_territory(DATA, "99999")


@pytest.mark.parametrize(
    ("code", "departement"), [("17300", "17"), ("97411", "974"), ("2A004", "2A"), ("13055", "13")]
)
def test_departement_of(code: str, departement: str) -> None:
    assert departement_of(code) == departement


def test_search_name_drops_accents_and_case() -> None:
    assert search_name("Île-d'Aix") == "ile-d'aix"
    assert search_name("SAINT-ÉTIENNE") == "saint-etienne"


def test_load_is_complete_idempotent_and_valid(settings) -> None:
    engine = create_sync_database(settings)
    load_territories(engine, read_demo_territories(settings.data_dir))
    load_territories(engine, read_demo_territories(settings.data_dir))
    assert count_territories(engine) == {"commune": 609, "departement": 101}
    with engine.connect() as connection:
        invalid = connection.execute(
            text("SELECT count(*) FROM territories WHERE NOT ST_IsValid(geometry)")
        ).scalar()
        # The commune containing a point of the Vieux-Port of La Rochelle, by spatial index.
        found = connection.execute(
            text(
                "SELECT code FROM territories WHERE level = 'commune' AND "
                "ST_Intersects(geometry, ST_SetSRID(ST_MakePoint(-1.1517, 46.1556), 4326))"
            )
        ).scalar_one()
        prefix = (
            connection.execute(
                text("SELECT name FROM territories WHERE search_name LIKE 'ile-d%' ORDER BY name")
            )
            .scalars()
            .all()
        )
    assert invalid == 0
    assert found == "17300"
    assert "Île-d'Aix" in prefix
    engine.dispose()


def test_missing_demo_file_is_an_actionable_error(tmp_path: Path) -> None:
    shutil.copytree(DATA / "territories", tmp_path / "territories")
    (tmp_path / "territories" / "communes-13-bouches-du-rhone.geojson").unlink()
    with pytest.raises(ConfigurationError, match=r"demo file missing: .*communes-13"):
        list(read_demo_territories(tmp_path))
