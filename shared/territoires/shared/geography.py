"""The national geography of 2026 from the data kit: every commune of France, overseas included,
the EPCIs, départements and régions, and the codes of communes merged since 2016.

The kit's outlines carry the 2016 communes; the official geography (cog-2026) lists, for each
current commune, the codes merged into it (`anciensCodes`). A 2026 commune's outline is the union
of its own and its former communes' outlines, and every level above is dissolved from the level
below in PostGIS (ST_Union), so borders nest exactly. The load is one transaction: all or
nothing, and a second run finds every row as it would write it and changes none.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from territoires.shared.models import TerritoryLevel
from territoires.shared.settings import ConfigurationError
from territoires.shared.territories import search_name

GEOGRAPHY_YEAR = 2026
OUTLINES_FILE = "communes-france.geojson"
COG_DIR = "cog-2026"
# Collectivités d'outre-mer (975, 977, 978, 98x) have communes but no outline in the kit.
ZONES = ("metro", "drom")
STEPS = ("outlines", "communes", "EPCIs", "départements", "régions", "former codes")


@dataclass(frozen=True)
class Unit:
    """A territory to write; its outline is dissolved in the database."""

    level: TerritoryLevel
    code: str
    name: str
    parent_code: str | None = None
    epci_code: str | None = None
    population: int | None = None
    postcodes: tuple[str, ...] = ()  # a commune's


@dataclass
class NationalGeography:
    # (2016 code, 2026 commune it is part of, GeoJSON geometry)
    outlines: list[tuple[str, str, str]] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    # (former code, its 2016 name when known, 2026 successor)
    former: list[tuple[str, str | None, str]] = field(default_factory=list)
    # 2026 communes none of whose codes has a 2016 outline (restored since): not loaded.
    without_outline: list[Unit] = field(default_factory=list)
    # The départements loaded when only some are; None for all of France.
    departements: list[str] | None = None

    def count(self, level: TerritoryLevel) -> int:
        return sum(unit.level == level for unit in self.units)


@dataclass(frozen=True)
class LoadReport:
    written: dict[str, int]  # rows inserted or changed, by level ("former" for former codes)
    removed: dict[str, int]  # rows of codes the geography no longer has


def find_national_dir(candidates: Iterable[Path | None]) -> Path:
    """The first folder holding the outlines and cog-2026, given as the folder itself or as the
    data kit above it; ConfigurationError saying what to pass when none does."""
    tried = []
    for candidate in (c for c in candidates if c is not None):
        for folder in (candidate, candidate / "territories", candidate / "data" / "territories"):
            if (folder / OUTLINES_FILE).is_file() and (folder / COG_DIR).is_dir():
                return folder
        tried.append(str(candidate))
    raise ConfigurationError(
        f"no national territories ({OUTLINES_FILE} and {COG_DIR}/) in "
        f"{', '.join(tried) or 'no folder'}: pass --data DIR or set TERRITOIRES_KIT_DIR"
    )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"national territories file missing: {path}") from None
    except ValueError as error:
        raise ConfigurationError(
            f"national territories file unreadable: {path} ({error})"
        ) from None


def read_national(folder: Path, departements: Collection[str] | None = None) -> NationalGeography:
    """The geography in `folder` (see `find_national_dir`), or only the communes of
    `departements` with the EPCIs and régions all of whose communes those are."""
    cog = folder / COG_DIR
    entries = _json(cog / "communes.json")
    current = [e for e in entries if e["type"] == "commune-actuelle" and e["zone"] in ZONES]
    epcis = _json(cog / "epci.json")
    member_of = {m["code"]: e["code"] for e in epcis for m in e["membres"]}
    population = {e["code"]: e.get("population") for e in current}
    kept = [e for e in current if departements is None or e["departement"] in departements]
    kept_codes = {e["code"] for e in kept}
    successor = {old: e["code"] for e in kept for old in (e["code"], *e.get("anciensCodes", ()))}

    geography = NationalGeography(departements=sorted(departements) if departements else None)
    names_2016: dict[str, str] = {}
    for feature in _json(folder / OUTLINES_FILE)["features"]:
        code = feature["properties"]["code"]
        names_2016[code] = feature["properties"]["nom"]
        if code in successor:
            geometry = json.dumps(feature["geometry"], separators=(",", ":"))
            geography.outlines.append((code, successor[code], geometry))
    outlined = {commune for _, commune, _ in geography.outlines}
    other_names = {e["code"]: e["nom"] for e in entries if e["type"] != "commune-actuelle"}

    for e in kept:
        unit = Unit(
            TerritoryLevel.COMMUNE,
            e["code"],
            e["nom"],
            e["departement"],
            member_of.get(e["code"]),
            e.get("population"),
            tuple(e.get("codesPostaux", ())),
        )
        (geography.units if e["code"] in outlined else geography.without_outline).append(unit)
        geography.former += [
            (old, names_2016.get(old) or other_names.get(old), e["code"])
            for old in e.get("anciensCodes", ())
        ]
    for epci in epcis:
        members = [m["code"] for m in epci["membres"]]
        if set(members) <= kept_codes:
            geography.units.append(
                Unit(
                    TerritoryLevel.EPCI,
                    epci["code"],
                    epci["nom"],
                    population=_total(population.get(code) for code in members),
                )
            )
    _add_departements_and_regions(geography, cog, current, kept_codes)
    return geography


def _add_departements_and_regions(
    geography: NationalGeography, cog: Path, current: list[dict[str, Any]], kept: set[str]
) -> None:
    """Départements all of whose communes are kept; régions all of whose départements are."""
    communes_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in current:
        communes_of[e["departement"]].append(e)
        communes_of[f"region:{e['region']}"].append(e)
    for departement in _json(cog / "departements.json"):
        communes = communes_of.get(departement["code"])
        if communes and {e["code"] for e in communes} <= kept:
            geography.units.append(
                Unit(
                    TerritoryLevel.DEPARTEMENT,
                    departement["code"],
                    departement["nom"],
                    departement["region"],
                    population=_total(e.get("population") for e in communes),
                )
            )
    loaded = {u.code for u in geography.units if u.level == TerritoryLevel.DEPARTEMENT}
    for region in _json(cog / "regions.json"):
        communes = communes_of.get(f"region:{region['code']}")
        if communes and {e["departement"] for e in communes} <= loaded:
            geography.units.append(
                Unit(
                    TerritoryLevel.REGION,
                    region["code"],
                    region["nom"],
                    population=_total(e.get("population") for e in communes),
                )
            )


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


COLUMNS = "level, code, name, search_name, parent_code, epci_code, population, postcodes, geometry"
UPSERT = f"""
    INSERT INTO territories ({COLUMNS})
    SELECT u.level, u.code, u.name, u.search_name, u.parent_code, u.epci_code, u.population,
           u.postcodes, ST_Multi(ST_CollectionExtract(ST_Union(part.geometry), 3))
    FROM national_units AS u
    JOIN {{parts}} AS part ON part.unit = u.code
    WHERE u.level = :level
    GROUP BY u.level, u.code, u.name, u.search_name, u.parent_code, u.epci_code, u.population,
             u.postcodes
    ON CONFLICT (level, code) DO UPDATE SET
        name = excluded.name, search_name = excluded.search_name,
        parent_code = excluded.parent_code, epci_code = excluded.epci_code,
        population = excluded.population, postcodes = excluded.postcodes,
        geometry = excluded.geometry
    WHERE (territories.name, territories.search_name, territories.parent_code,
           territories.epci_code, territories.population, territories.postcodes,
           territories.geometry)
        IS DISTINCT FROM (excluded.name, excluded.search_name, excluded.parent_code,
           excluded.epci_code, excluded.population, excluded.postcodes, excluded.geometry)
"""
# What each level is dissolved from: a `unit` column naming the territory a part belongs to.
PARTS = {
    TerritoryLevel.COMMUNE: "(SELECT commune AS unit, ST_GeomFromGeoJSON(geojson) AS geometry "
    "FROM national_outlines)",
    TerritoryLevel.EPCI: "(SELECT epci_code AS unit, geometry FROM territories "
    "WHERE level = 'commune' AND epci_code IS NOT NULL)",
    TerritoryLevel.DEPARTEMENT: "(SELECT parent_code AS unit, geometry FROM territories "
    "WHERE level = 'commune')",
    TerritoryLevel.REGION: "(SELECT parent_code AS unit, geometry FROM territories "
    "WHERE level = 'departement')",
}
STALE = """
    DELETE FROM territories AS t
    WHERE t.level = :level
      AND NOT EXISTS (SELECT 1 FROM national_units AS u WHERE u.level = t.level AND u.code = t.code)
      AND (CAST(:departements AS text[]) IS NULL OR t.parent_code = ANY(:departements))
"""
FORMER = """
    INSERT INTO former_communes (code, name, successor_code)
    SELECT code, name, successor_code FROM national_former
    ON CONFLICT (code) DO UPDATE SET name = excluded.name, successor_code = excluded.successor_code
    WHERE (former_communes.name, former_communes.successor_code)
        IS DISTINCT FROM (excluded.name, excluded.successor_code)
"""


def _copy(connection: Connection, table: str, rows: Iterable[Iterable[Any]]) -> None:
    """Rows into a temporary table by COPY (CSV: names and GeoJSON hold commas and quotes)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    buffer.seek(0)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.copy_expert(f"COPY {table} FROM STDIN WITH (FORMAT csv)", buffer)


def _stage(connection: Connection, geography: NationalGeography) -> None:
    connection.execute(
        text(
            "CREATE TEMP TABLE national_outlines (code text, commune text, geojson text) "
            "ON COMMIT DROP; "
            "CREATE TEMP TABLE national_units (level territory_level, code text, name text, "
            "search_name text, parent_code text, epci_code text, population integer, "
            "postcodes text[]) "
            "ON COMMIT DROP; "
            "CREATE TEMP TABLE national_former (code text, name text, successor_code text) "
            "ON COMMIT DROP"
        )
    )
    _copy(connection, "national_outlines", geography.outlines)
    _copy(
        connection,
        "national_units",
        (
            (
                u.level.value,
                u.code,
                u.name,
                search_name(u.name),
                u.parent_code,
                u.epci_code,
                u.population,
                # An array literal (postcodes are digits); none is NULL (an empty CSV field).
                "{" + ",".join(u.postcodes) + "}" if u.postcodes else None,
            )
            for u in geography.units
        ),
    )
    _copy(connection, "national_former", geography.former)
    connection.execute(text("ANALYZE national_outlines; ANALYZE national_units"))


def load_national(
    engine: Engine, geography: NationalGeography, step: Callable[[str], None] = lambda _: None
) -> LoadReport:
    """Writes the geography in one transaction, calling `step` before each of STEPS. Codes the
    geography no longer has are removed (at the commune level, within the départements loaded
    when only some are; at every level when all of France is)."""
    written: dict[str, int] = {}
    removed: dict[str, int] = {}
    scope = {"departements": geography.departements}
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        step(STEPS[0])
        _stage(connection, geography)
        for level, name in zip(TerritoryLevel, STEPS[1:5], strict=True):
            step(name)
            if level == TerritoryLevel.COMMUNE or geography.departements is None:
                removed[level.value] = _remove_stale(connection, level, scope)
            statement = text(UPSERT.format(parts=PARTS[level]))
            written[level.value] = connection.execute(statement, {"level": level.value}).rowcount
        step(STEPS[5])
        written["former"] = connection.execute(text(FORMER)).rowcount
        if geography.departements is None:
            removed["former"] = connection.execute(
                text(
                    "DELETE FROM former_communes AS f WHERE NOT EXISTS "
                    "(SELECT 1 FROM national_former AS n WHERE n.code = f.code)"
                )
            ).rowcount
    return LoadReport(written, removed)


def _remove_stale(connection: Connection, level: TerritoryLevel, scope: dict[str, Any]) -> int:
    return connection.execute(text(STALE), {"level": level.value, **scope}).rowcount
