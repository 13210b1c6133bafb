"""Territories: the demo ones the project carries (read from its files, loaded into PostGIS),
and what a territory code given by a client means (its level, a former commune's successor,
the communes it covers)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from territoires.shared.errors import BadRequestError
from territoires.shared.models import FormerCommune, Territory, TerritoryLevel
from territoires.shared.settings import ConfigurationError

DEMO_DEPARTEMENTS = ("17", "13", "974")
COMMUNE_FILES = {
    "17": "communes-17-charente-maritime.geojson",
    "13": "communes-13-bouches-du-rhone.geojson",
    "974": "communes-974-la-reunion.geojson",
}
DEPARTEMENT_FILE = "departements-avec-outre-mer.geojson"
POPULATION_FILE = "cog-2026/communes-17-13-974.json"


@dataclass(frozen=True)
class TerritoryRecord:
    level: TerritoryLevel
    code: str
    name: str
    parent_code: str | None
    population: int | None
    geometry: BaseGeometry
    postcodes: tuple[str, ...] = ()  # a commune's, from the 2026 geography


def search_name(name: str) -> str:
    """Lower case without accents, so that "etang" finds "Étang-des-Aulnes"."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def departement_of(commune_code: str) -> str:
    """INSEE département of a commune code: three digits overseas (97x), else two (2A/2B too)."""
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]


def _multipolygon(geometry: dict[str, Any]) -> MultiPolygon:
    geom = shape(geometry)
    if not geom.is_valid:
        geom = geom.buffer(0)
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def _features(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigurationError(
            f"demo file missing: {path} — restore it with `git checkout -- {path.name}` "
            "or set TERRITOIRES_DATA_DIR to the folder holding the demo territories"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))["features"]
    except (ValueError, KeyError) as error:
        raise ConfigurationError(f"demo file unreadable: {path} ({error})") from None


def _official_communes(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The 2026 geography's communes by code: current names, legal populations and
    postcodes."""
    path = data_dir / "territories" / POPULATION_FILE
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {e["code"]: e for e in entries if e["type"] == "commune-actuelle"}


def read_demo_territories(data_dir: Path) -> Iterator[TerritoryRecord]:
    """The demo's communes (17, 13, 974) and every département, from the carried files."""
    folder = data_dir / "territories"
    official = _official_communes(data_dir)
    for departement in DEMO_DEPARTEMENTS:
        for feature in _features(folder / COMMUNE_FILES[departement]):
            code = feature["properties"]["code"]
            current = official.get(code, {})
            yield TerritoryRecord(
                level=TerritoryLevel.COMMUNE,
                code=code,
                name=current.get("nom", feature["properties"]["nom"]),
                parent_code=departement_of(code),
                population=current.get("population"),
                geometry=_multipolygon(feature["geometry"]),
                postcodes=tuple(current.get("codesPostaux", ())),
            )
    for feature in _features(folder / DEPARTEMENT_FILE):
        yield TerritoryRecord(
            level=TerritoryLevel.DEPARTEMENT,
            code=feature["properties"]["code"],
            name=feature["properties"]["nom"],
            parent_code=None,
            population=None,
            geometry=_multipolygon(feature["geometry"]),
        )


def find_demo_territory(data_dir: Path, code: str) -> TerritoryRecord:
    """A commune by INSEE code, else a département; KeyError naming the code when unknown."""
    matches = [t for t in read_demo_territories(data_dir) if t.code == code]
    if not matches:
        raise KeyError(f"unknown territory code {code!r} (the demo carries 17, 13 and 974)")
    return min(matches, key=lambda t: t.level != TerritoryLevel.COMMUNE)


def load_territories(engine: Engine, records: Iterator[TerritoryRecord]) -> int:
    """Upserts territories in one transaction: all or nothing; returns how many were written."""
    rows = [
        {
            "level": r.level,
            "code": r.code,
            "name": r.name,
            "search_name": search_name(r.name),
            "parent_code": r.parent_code,
            "population": r.population,
            "postcodes": list(r.postcodes) or None,
            "geometry": f"SRID=4326;{r.geometry.wkt}",
        }
        for r in records
    ]
    if not rows:
        return 0
    statement = insert(Territory)
    statement = statement.on_conflict_do_update(
        index_elements=[Territory.level, Territory.code],
        set_={
            column: statement.excluded[column]
            for column in (
                "name",
                "search_name",
                "parent_code",
                "population",
                "postcodes",
                "geometry",
            )
        },
    )
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        connection.execute(statement, rows)
    return len(rows)


def count_territories(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        result = connection.execute(select(Territory.level, func.count()).group_by(Territory.level))
        return {level.value: count for level, count in result}


# INSEE codes by level; a région's two digits are also a département's, so a région is named
# with its level: `region:75`. Any code may carry its level (`epci:241700434`).
CODE_PATTERNS = {
    TerritoryLevel.COMMUNE: re.compile(r"^(\d{5}|2[AB]\d{3})$"),
    TerritoryLevel.EPCI: re.compile(r"^\d{9}$"),
    TerritoryLevel.DEPARTEMENT: re.compile(r"^(\d{2}|2[AB]|97\d)$"),
    TerritoryLevel.REGION: re.compile(r"^\d{2}$"),
}
REFERENCE_HELP = (
    "an INSEE code of a commune (17300), an EPCI (its SIREN, 241700434), a département (17, 2A, "
    "974) or a région (region:75)"
)


@dataclass(frozen=True)
class TerritoryRef:
    """A territory as a client names it: a level and a code, not yet looked up."""

    level: TerritoryLevel
    code: str

    def __str__(self) -> str:
        return self.code if self.level != TerritoryLevel.REGION else f"region:{self.code}"


def parse_reference(value: str) -> TerritoryRef | None:
    """`17300`, `241700434`, `17` or `region:75` (see CODE_PATTERNS); None when it is none."""
    prefix, _, code = value.strip().rpartition(":")
    code = code.upper()
    if prefix:
        try:
            level = TerritoryLevel(prefix.lower())
        except ValueError:
            return None
        return TerritoryRef(level, code) if CODE_PATTERNS[level].match(code) else None
    for level in (TerritoryLevel.COMMUNE, TerritoryLevel.EPCI, TerritoryLevel.DEPARTEMENT):
        if CODE_PATTERNS[level].match(code):
            return TerritoryRef(level, code)
    return None


async def successor_of(connection: AsyncConnection, code: str) -> str | None:
    """The 2026 commune a former commune code now belongs to, if it is one."""
    return await connection.scalar(
        select(FormerCommune.successor_code).where(FormerCommune.code == code)
    )


async def communes_of(connection: AsyncConnection, refs: Sequence[TerritoryRef]) -> list[str]:
    """The codes of the communes the territories cover, in the order given, without repeats: a
    commune (a former one becomes its successor), or every commune of an EPCI, a département
    or a région. BadRequestError naming every reference that is no loaded territory."""
    codes = [ref.code for ref in refs]
    known = set(
        (
            await connection.execute(
                select(Territory.level, Territory.code).where(Territory.code.in_(codes))
            )
        ).all()
    )
    missing = [
        r.code for r in refs if r.level == TerritoryLevel.COMMUNE and (r.level, r.code) not in known
    ]
    successors: dict[str, str] = {}
    if missing:
        rows = await connection.execute(
            select(FormerCommune.code, FormerCommune.successor_code).where(
                FormerCommune.code.in_(missing)
            )
        )
        successors = {code: successor for code, successor in rows}
    unknown = [str(r) for r in refs if (r.level, r.code) not in known and r.code not in successors]
    if unknown:
        raise BadRequestError(
            f"unknown territory code(s): {', '.join(unknown)} (give {REFERENCE_HELP})"
        )
    members = await _members(connection, [r for r in refs if r.level != TerritoryLevel.COMMUNE])
    communes: list[str] = []
    for ref in refs:
        if ref.level == TerritoryLevel.COMMUNE:
            communes.append(successors.get(ref.code, ref.code))
        elif not members.get(ref):
            raise BadRequestError(f"no commune of {ref.level.value} {ref} is loaded")
        else:
            communes += members[ref]
    return list(dict.fromkeys(communes))


async def _members(
    connection: AsyncConnection, refs: Sequence[TerritoryRef]
) -> dict[TerritoryRef, list[str]]:
    """The communes of EPCIs, départements and régions, by code."""
    commune = Territory.__table__.alias("commune")
    departement = Territory.__table__.alias("departement")
    groups = {
        TerritoryLevel.EPCI: commune.c.epci_code,
        TerritoryLevel.DEPARTEMENT: commune.c.parent_code,
        TerritoryLevel.REGION: departement.c.parent_code,
    }
    found: dict[TerritoryRef, list[str]] = {}
    for level, group in groups.items():
        wanted = [r.code for r in refs if r.level == level]
        if not wanted:
            continue
        statement = (
            select(group, commune.c.code)
            .where(commune.c.level == TerritoryLevel.COMMUNE, group.in_(wanted))
            .order_by(commune.c.code)
        )
        if level == TerritoryLevel.REGION:
            statement = statement.join(
                departement,
                (departement.c.level == TerritoryLevel.DEPARTEMENT)
                & (departement.c.code == commune.c.parent_code),
            )
        for parent, code in await connection.execute(statement):
            found.setdefault(TerritoryRef(level, parent), []).append(code)
    return found
