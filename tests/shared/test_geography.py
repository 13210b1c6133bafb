"""The national geography from the data kit: all of France once (counts, validity, timing),
the demo départements for the rest (replacing the demo's 2016 communes, idempotency, what a
territory code means, a former commune's code in the look-up API)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from territoires.catalog.app import create_app as create_catalog
from territoires.shared.database import create_async_database, create_sync_database
from territoires.shared.errors import BadRequestError
from territoires.shared.geography import (
    NationalGeography,
    find_national_dir,
    load_national,
    read_national,
)
from territoires.shared.models import TerritoryLevel
from territoires.shared.schema import upgrade
from territoires.shared.settings import ConfigurationError, Settings
from territoires.shared.territories import (
    TerritoryRef,
    communes_of,
    count_territories,
    load_territories,
    parse_reference,
    read_demo_territories,
)

from ..conftest import KIT

NATIONAL = KIT / "data" / "territories"
DEMO = ("13", "17", "974")
LA_ROCHELLE_AGGLOMERATION = "241700434"  # CA de La Rochelle (28 communes)
SNAPSHOT = """
    SELECT level, code, name, search_name, parent_code, epci_code, population, postcodes,
           md5(ST_AsEWKB(geometry)) AS outline, xmin::text AS version
    FROM territories ORDER BY level, code
"""


def snapshot(engine: Engine) -> list[Any]:
    """Every territory and former code, with each row's version: unchanged rows keep theirs."""
    with engine.connect() as connection:
        territories = connection.execute(text(SNAPSHOT)).all()
        former = connection.execute(
            text("SELECT code, name, successor_code, xmin::text FROM former_communes ORDER BY 1")
        ).all()
    return [territories, former]


def invalid_outlines(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM territories WHERE NOT ST_IsValid(geometry) "
                "OR GeometryType(geometry) <> 'MULTIPOLYGON'"
            )
        )


def test_all_of_france_in_minutes(empty_database_factory) -> None:
    """The one full load of the suite: about 35,000 communes of 2026, 1,255 EPCIs, 101
    départements and 18 régions, valid outlines nesting, former codes mapped."""
    url = empty_database_factory("france")
    upgrade(url)
    engine = create_sync_database(url)
    started = time.monotonic()
    geography = read_national(NATIONAL)
    report = load_national(engine, geography)
    elapsed = time.monotonic() - started
    print(f"national geography loaded in {elapsed:.1f} s")
    counts = count_territories(engine)
    assert 34_500 < counts["commune"] < 35_500, counts
    assert counts == {
        "commune": geography.count(TerritoryLevel.COMMUNE),
        "epci": 1255,
        "departement": 101,
        "region": 18,
    }
    assert report.written["commune"] == counts["commune"]
    # Restored after 2016 from communes nouvelles, so the 2016 outlines do not hold them.
    assert len(geography.without_outline) < 10
    assert invalid_outlines(engine) == 0
    with engine.connect() as connection:
        overseas = connection.execute(
            text(
                "SELECT parent_code, count(*) FROM territories WHERE level = 'commune' "
                "AND parent_code LIKE '97%' GROUP BY 1 ORDER BY 1"
            )
        ).all()
        successor = connection.scalar(
            text("SELECT successor_code FROM former_communes WHERE code = '74011'")
        )
        # Annecy-le-Vieux's town hall lies in Annecy (74010) since the 2017 merger.
        annecy = connection.scalar(
            text(
                "SELECT code FROM territories WHERE level = 'commune' AND "
                "ST_Intersects(geometry, ST_SetSRID(ST_MakePoint(6.1427, 45.9193), 4326))"
            )
        )
        # The département's outline is its communes' (dissolved, not the 2016 file's).
        areas = connection.execute(
            text(
                "SELECT (SELECT ST_Area(geometry) FROM territories WHERE level = 'departement' "
                "AND code = '17'), (SELECT sum(ST_Area(geometry)) FROM territories "
                "WHERE level = 'commune' AND parent_code = '17')"
            )
        ).one()
    engine.dispose()
    assert [code for code, _ in overseas] == ["971", "972", "973", "974", "976"]
    assert successor == "74010" and annecy == "74010"
    assert areas[0] == pytest.approx(areas[1], rel=1e-6)
    assert elapsed < 300


@pytest.fixture(scope="module")
def demo_geography() -> NationalGeography:
    return read_national(NATIONAL, DEMO)


@pytest.fixture(scope="module")
def national_url(empty_database_factory, demo_geography: NationalGeography) -> str:
    """The demo's territories (2016 communes), then the demo départements of 2026 over them."""
    url = empty_database_factory("geography")
    upgrade(url)
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(Settings().data_dir))
    load_national(engine, demo_geography)
    engine.dispose()
    return url


def former_in(geography: NationalGeography, departement: str) -> tuple[str, str]:
    """A former commune of `departement` whose 2016 outline is part of its successor's."""
    outlined = {code for code, _, _ in geography.outlines}
    return next(
        (code, successor)
        for code, _, successor in geography.former
        if successor.startswith(departement) and code in outlined
    )


def test_the_demo_departements_replace_the_2016_communes(
    national_url: str, demo_geography: NationalGeography
) -> None:
    engine = create_sync_database(national_url)
    counts = count_territories(engine)
    former, successor = former_in(demo_geography, "17")
    with engine.connect() as connection:
        by_departement = dict(
            connection.execute(
                text(
                    "SELECT parent_code, count(*) FROM territories WHERE level = 'commune' "
                    "GROUP BY 1"
                )
            ).all()
        )
        stale = connection.scalar(
            text("SELECT count(*) FROM territories WHERE code = :code"), {"code": former}
        )
        la_rochelle = connection.execute(
            text(
                "SELECT parent_code, epci_code, postcodes FROM territories "
                "WHERE level = 'commune' AND code = '17300'"
            )
        ).one()
    engine.dispose()
    assert counts["commune"] == demo_geography.count(TerritoryLevel.COMMUNE) < 609
    assert set(by_departement) == set(DEMO)
    assert counts["departement"] == 101  # the demo's, three of them now dissolved from communes
    assert counts["region"] == 1  # La Réunion: the only région all of whose communes are loaded
    assert counts["epci"] == demo_geography.count(TerritoryLevel.EPCI) > 15
    assert stale == 0
    assert tuple(la_rochelle) == ("17", LA_ROCHELLE_AGGLOMERATION, ["17000"])
    assert successor in {commune for _, commune, _ in demo_geography.outlines}


def test_a_second_load_changes_no_row(national_url: str, demo_geography: NationalGeography) -> None:
    engine = create_sync_database(national_url)
    before = snapshot(engine)
    report = load_national(engine, demo_geography)
    after = snapshot(engine)
    assert invalid_outlines(engine) == 0
    engine.dispose()
    assert set(report.written.values()) == {0} and set(report.removed.values()) == {0}
    assert after == before


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("17300", TerritoryRef(TerritoryLevel.COMMUNE, "17300")),
        ("2a004", TerritoryRef(TerritoryLevel.COMMUNE, "2A004")),
        ("241700434", TerritoryRef(TerritoryLevel.EPCI, "241700434")),
        ("17", TerritoryRef(TerritoryLevel.DEPARTEMENT, "17")),
        ("974", TerritoryRef(TerritoryLevel.DEPARTEMENT, "974")),
        ("region:75", TerritoryRef(TerritoryLevel.REGION, "75")),
        ("departement:2B", TerritoryRef(TerritoryLevel.DEPARTEMENT, "2B")),
        ("epci:17300", None),
        ("canton:1701", None),
        ("1", None),
        ("1730", None),
    ],
)
def test_parse_reference(given: str, expected: TerritoryRef | None) -> None:
    assert parse_reference(given) == expected


async def test_codes_mean_communes(national_url: str, demo_geography: NationalGeography) -> None:
    former, successor = former_in(demo_geography, "17")
    engine = create_async_database(Settings(DATABASE_URL=national_url))
    refs = [parse_reference(code) for code in ("17300", LA_ROCHELLE_AGGLOMERATION, former)]
    try:
        async with engine.connect() as connection:
            agglomeration = await communes_of(connection, [r for r in refs if r])
            reunion = await communes_of(connection, [TerritoryRef(TerritoryLevel.REGION, "04")])
            departement = await communes_of(connection, [parse_reference("974")])  # type: ignore[list-item]
            with pytest.raises(BadRequestError, match=r"unknown territory code.*99999, region:75"):
                await communes_of(
                    connection,
                    [parse_reference("99999"), TerritoryRef(TerritoryLevel.REGION, "75")],  # type: ignore[list-item]
                )
    finally:
        await engine.dispose()
    assert agglomeration[0] == "17300"
    assert 20 < len(agglomeration) < 40 and len(set(agglomeration)) == len(agglomeration)
    assert successor in agglomeration
    assert reunion == departement and len(reunion) == 24


@pytest.fixture
async def catalog(national_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(DATABASE_URL=national_url, REDIS_URL=redis_url, redis_prefix="t-geo")
    transport = httpx.ASGITransport(app=create_catalog(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://catalog.test") as client:
        yield client


async def test_a_former_commune_redirects_to_its_successor(
    catalog: httpx.AsyncClient, demo_geography: NationalGeography
) -> None:
    former, successor = former_in(demo_geography, "17")
    moved = await catalog.get(f"/territories/{former}")
    assert moved.status_code == 308
    assert moved.headers["location"] == f"http://catalog.test/territories/{successor}"
    followed = await catalog.get(moved.headers["location"])
    assert followed.json()["properties"]["code"] == successor
    epci = (await catalog.get(f"/territories/{LA_ROCHELLE_AGGLOMERATION}")).json()
    assert epci["properties"]["level"] == "epci"
    assert epci["properties"]["population"] > 150_000
    region = await catalog.get("/territories/04", params={"level": "region"})
    assert region.json()["properties"]["name"] == "La Réunion"
    assert (await catalog.get("/territories/99999")).status_code == 404


def test_missing_national_files_say_what_to_pass(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="pass --data DIR or set TERRITOIRES_KIT_DIR"):
        find_national_dir([tmp_path, None])
    assert find_national_dir([KIT]) == NATIONAL


async def test_communes_are_found_by_postcode(catalog: httpx.AsyncClient) -> None:
    """17300 is Rochefort's postcode (and Vergeroux's) but La Rochelle's INSEE code: all three
    are found, by population; Marseille has sixteen postcodes, 13001 to 13016 (13016 is also
    La Bouilladisse's INSEE code)."""
    found = (await catalog.get("/territories", params={"q": "17300", "level": "commune"})).json()
    answers = [(f["properties"]["code"], f["properties"]["postcodes"]) for f in found["features"]]
    assert answers == [("17300", ["17000"]), ("17299", ["17300"]), ("17463", ["17300"])]
    marseille = (await catalog.get("/territories", params={"q": "13016"})).json()["features"]
    assert [f["properties"]["name"] for f in marseille] == ["Marseille", "La Bouilladisse"]
    assert (await catalog.get("/territories/17")).json()["properties"]["postcodes"] is None
