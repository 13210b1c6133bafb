"""`night-lighting`: street-lighting practices of every commune from VIIRS Black Marble night
radiance — total extinction in the middle of the night, partial extinction or renovation,
relighting — with the month they started, the drop and a confidence.

The work splits by years: each part reads its year's files once for all the communes
(`compute.blackmarble`) and registers one statistics row per commune and month
(`night-radiance`: radiance of the lit cells, good nights or months, lit cells). The combine step
reads those rows back (by commune and month: what any job last filed for them from the same
files) and classifies the whole series (`compute.lighting`), then registers one
feature and one statistics row per commune (`night-lighting`) and the counts of each class per
département, région and EPCI, by the survey's population classes too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from territoires.compute import lighting
from territoires.compute.blackmarble import Granule, monthly_series, reference_night
from territoires.compute.inputs import Interval, check_names, interval, territory_codes, unwrap
from territoires.compute.kernels import lazy
from territoires.compute.processes.base import IndicatorProcess, Outcome, Plan, RunningJob
from territoires.compute.processes.territorial import DATETIME_INPUT, TERRITORY_INPUT
from territoires.compute.results import Feature, Statistic, feature_links, statistics_url
from territoires.compute.sources import (
    Scene,
    Zone,
    among,
    commune_zones,
    communes_of,
    explain_no_scenes,
    find_scenes,
    scenes_by_id,
)
from territoires.shared.assets import AssetGuard
from territoires.shared.blackmarble import PRODUCTS, months_between
from territoires.shared.errors import BadRequestError
from territoires.shared.models import IndicatorStatistic, Territory, TerritoryLevel

lighting_kernels = lazy("lighting")

INDICATOR = "night-lighting"
MONTHLY = "night-radiance"
MAX_GRANULES = 40_000  # 11 years of monthly files over France are 1,188; daily, 33 a month
POPULATION_CLASSES = (
    (1_000, "under 1,000"),
    (5_000, "1,000–5,000"),
    (20_000, "5,000–20,000"),
    (40_000, "20,000–40,000"),
    (None, "over 40,000"),
)

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": INDICATOR,
    "title": "Night lighting: extinction practices per commune",
    "description": "Per commune, the monthly radiance of its lit cells (those above "
    "1 nW·cm⁻²·sr⁻¹ over the reference year) from VIIRS Black Marble VNP46A3 (monthly) or "
    "VNP46A2/VJ146A2 (daily, months as the median of good nights); change points by PELT "
    "(L2 cost, penalty 4·σ²·ln n, σ the MAD of monthly differences) on the log series less "
    "the communes' shared seasonal profile; then total extinction (drop ≥ 50 %), partial "
    "extinction or renovation (≥ 15 %), relit (down by half, back to 75 %), unchanged, or "
    "undetermined (no lit cell, or good values in under 60 % of the months), with the start "
    "month, the drop and a confidence. Counts per département, région and EPCI and by "
    "population class come with the results.",
    "keywords": ["night lighting", "VIIRS", "Black Marble", "public lighting", "extinction"],
    "jobControlOptions": ["sync-execute", "async-execute", "dismiss"],
    "outputTransmission": ["value", "reference"],
    "links": [],
    "inputs": {
        "territory": {**TERRITORY_INPUT, "minOccurs": 1},
        "datetime": {
            **DATETIME_INPUT,
            "description": "start/end; whole months are used, e.g. 2014-01-01/2024-12-31.",
        },
        "product": {
            "title": "Black Marble product",
            "description": "VNP46A3 (monthly, Suomi NPP; default), VNP46A2 (daily, Suomi NPP, "
            "~01:30) or VJ146A2 (daily, NOAA-20, ~00:40).",
            "schema": {"type": "string", "enum": sorted(PRODUCTS)},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "reference_year": {
            "title": "Reference year",
            "description": "The year whose lights define each commune's lit cells (default: the "
            "period's first year).",
            "schema": {"type": "integer", "minimum": 2012, "maximum": 2100},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "update": {
            "title": "Monthly update",
            "description": "true: months whose rows every commune already has (from earlier "
            "jobs over the same files) are not read again; only the new months' files are, "
            "then every commune is classified over the whole period.",
            "schema": {"type": "boolean"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "figures": {
            "title": "Class per commune",
            "description": "class, class_code, start_month (YYYY-MM), drop_percent, confidence, "
            "extinction_month (relit), reason (undetermined), lit_cells, and switch_off "
            "('before 00:40' or 'between 00:40 and 01:30') for a VNP46A2 job over communes "
            "and months a VJ146A2 (NOAA-20) job has filed too.",
            "schema": {"type": "object"},
        },
        "counts": {
            "title": "Counts of each class",
            "description": "national, per région, département and EPCI, and by population "
            "class (under 1,000; 1,000–5,000; 5,000–20,000; 20,000–40,000; over 40,000).",
            "schema": {"type": "object"},
        },
    },
    "example": {"inputs": {"territory": "17", "datetime": "2014-01-01/2024-12-31"}},
}


def month_interval(month: date) -> Interval:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return Interval(start, following - timedelta(microseconds=1))


def monthly_indicator(product: str) -> str:
    """The statistics id of the monthly rows: `night-radiance` from the monthly product, one
    of its own for each daily one (so that jobs of two products never mix their rows)."""
    return MONTHLY if product == "VNP46A3" else f"{MONTHLY}-{PRODUCTS[product].collection}"


def population_class(population: int | None) -> str:
    for limit, label in POPULATION_CLASSES:
        if limit is None or (population or 0) < limit:
            return label
    return POPULATION_CLASSES[-1][1]


class NightLighting(IndicatorProcess):
    metadata = PROCESS_METADATA
    vector_outputs = (INDICATOR,)
    statistics_indicator = INDICATOR
    kernels = (lighting_kernels,)

    async def validate(self, inputs: dict[str, Any], connection: AsyncConnection) -> Plan:
        check_names(inputs, self.metadata["inputs"])
        if inputs.get("geometry") is not None:
            raise BadRequestError("night-lighting works on communes: give input 'territory'")
        codes = territory_codes(inputs)
        if not codes:
            raise BadRequestError(
                "input 'territory' is required (a commune, EPCI, département "
                "or région code, or a list)"
            )
        period = interval(inputs)
        name = unwrap(inputs.get("product")) or "VNP46A3"
        product = PRODUCTS.get(name) if isinstance(name, str) else None
        if product is None:
            raise BadRequestError(f"input 'product' must be one of {', '.join(sorted(PRODUCTS))}")
        communes = await communes_of(connection, codes)
        zones = await commune_zones(connection, communes)
        area = shapely.union_all([zone.geometry for zone in zones])
        collections = [product.collection]
        scenes = await find_scenes(connection, collections, area, period, limit=MAX_GRANULES)
        if not scenes:
            raise await explain_no_scenes(connection, collections, area, period)
        year = unwrap(inputs.get("reference_year")) or period.start.year
        if not isinstance(year, int) or isinstance(year, bool):
            raise BadRequestError(f"input 'reference_year' must be a year, got {year!r}")
        whole_year = Interval(
            datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
        )
        reference = await find_scenes(connection, collections, area, whole_year, MAX_GRANULES)
        if not reference:
            raise BadRequestError(
                f"no {product.short_name} file covers the communes in {year}, the reference "
                "year that says which cells are lit: give another 'reference_year'"
            )
        if product.daily:
            reference = [s for s in reference if reference_night(s.datetime.date())] or reference
        scenes.sort(key=lambda s: (s.datetime, s.id))
        years = sorted({s.datetime.year for s in scenes})
        return Plan(
            inputs={
                "datetime": str(period),
                "product": product.short_name,
                "reference_year": year,
                "communes": communes,
                "scenes": [[s.collection, s.id] for s in scenes],
                "reference": [[s.collection, s.id] for s in reference],
                "update": unwrap(inputs.get("update")) is True,
            },
            pixels=len(scenes) * len(communes) * 100,
            parts=len(years),
        )

    async def split(self, inputs: dict[str, Any], engine: AsyncEngine) -> list[dict]:
        """One part per calendar year of files (time ranges), each reading its year once."""
        period = Interval.parse(inputs["datetime"])
        filed = await self._filed_months(engine, inputs) if inputs.get("update") else set()
        years = [
            year
            for year in range(period.start.year, period.end.year + 1)
            if any(m.year == year and m not in filed for m in _months(period))
        ]
        if len(years) <= 1:
            return [inputs]
        by_year: dict[int, list[list[str]]] = defaultdict(list)
        for key in inputs["scenes"]:
            by_year[int(key[1].split(".")[1][1:5])].append(key)
        return [
            inputs
            | {
                "scenes": by_year[year],
                "range": [
                    max(period.start, datetime(year, 1, 1, tzinfo=UTC)).date().isoformat(),
                    min(period.end, datetime(year, 12, 31, tzinfo=UTC)).date().isoformat(),
                ],
            }
            for year in years
            if by_year.get(year)
        ]

    async def run(self, job: RunningJob) -> Outcome:
        inputs = job.inputs
        period = Interval.parse(inputs["datetime"])
        first, last = (
            (date.fromisoformat(d) for d in inputs["range"])
            if "range" in inputs
            else (period.start.date(), period.end.date())
        )
        filed = set()
        if inputs.get("update") and "range" not in inputs:
            filed = await self._filed_months(job.services.engine, inputs)
        months = [m for m in months_between(first, last) if m not in filed]
        async with job.services.engine.connect() as connection:
            zones = await commune_zones(connection, inputs["communes"])
            scenes = await scenes_by_id(connection, inputs["scenes"]) if months else []
            reference = await scenes_by_id(connection, inputs["reference"]) if months else []
        if filed:
            scenes = [s for s in scenes if Granule.of(s).month in months]
        if not months:  # an update with nothing new: classify what is filed
            radiance, lit_cells = await self._monthly(
                job.services.engine, inputs["product"], inputs, zones
            )
            return await self._classified(
                job.services.engine,
                job.owner,
                job.base_url,
                inputs,
                zones,
                radiance,
                lit_cells,
                period,
            )
        guard = AssetGuard.from_settings(job.services.settings)
        await job.progress(5.0)
        series = await job.in_thread(
            monthly_series,
            zones,
            [Granule.of(s) for s in scenes],
            [Granule.of(s) for s in reference],
            months,
            guard,
        )
        await job.progress(80.0)
        rows = [
            Statistic(
                TerritoryLevel.COMMUNE,
                zone.code or "",
                monthly_indicator(inputs["product"]),
                month_interval(month),
                {
                    "radiance": _number(series.radiance[row, column]),
                    "good": int(series.good[row, column]),
                    "lit_cells": int(series.lit_cells[row]),
                },
            )
            for row, zone in enumerate(zones)
            for column, month in enumerate(months)
        ]
        if "range" in inputs:  # a part: the combine step classifies
            return Outcome(
                results={
                    "months": {
                        "value": [f"{months[0]:%Y-%m}", f"{months[-1]:%Y-%m}"],
                        "mediaType": "application/json",
                    },
                    "statistics": self._statistics_link(job.base_url, job.owner),
                },
                statistics=rows,
            )
        radiance, lit_cells = series.radiance, series.lit_cells
        if filed:  # an update: the months filed before beside the new ones
            radiance, lit_cells = await self._monthly(
                job.services.engine, inputs["product"], inputs, zones
            )
            columns = [_months(period).index(m) for m in months]
            radiance[:, columns] = series.radiance
            lit_cells = np.maximum(lit_cells, series.lit_cells)
        outcome = await self._classified(
            job.services.engine,
            job.owner,
            job.base_url,
            inputs,
            zones,
            radiance,
            lit_cells,
            _scenes_period(scenes, period),
        )
        outcome.statistics = rows + outcome.statistics
        return outcome

    async def combined(
        self,
        connection: AsyncConnection,
        parent: Any,
        part_ids: list[uuid.UUID],
        outputs: list[dict[str, Any]],
    ) -> Outcome:
        """Reads back the monthly rows the parts registered and classifies the series."""
        inputs = parent.inputs
        period = Interval.parse(inputs["datetime"])
        zones = await commune_zones(connection, inputs["communes"])
        radiance, lit_cells = await self._monthly(connection, inputs["product"], inputs, zones)
        return await self._classified(
            connection, parent.id, parent.base_url or "", inputs, zones, radiance, lit_cells, period
        )

    async def _monthly(
        self,
        database: AsyncEngine | AsyncConnection,
        product: str,
        inputs: dict[str, Any],
        zones: list[Zone],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The communes' monthly radiance and lit cells as filed for `product` (by this job's
        parts, or by a job of another product over the same communes and months)."""
        period = Interval.parse(inputs["datetime"])
        months = months_between(period.start.date(), period.end.date())
        row_of = {zone.code: row for row, zone in enumerate(zones)}
        column_of = {month: column for column, month in enumerate(months)}
        radiance = np.full((len(zones), len(months)), np.nan)
        lit_cells = np.zeros(len(zones), np.int64)
        statement = select(
            IndicatorStatistic.territory_code,
            IndicatorStatistic.period_start,
            IndicatorStatistic.figures,
        ).where(
            IndicatorStatistic.indicator == monthly_indicator(product),
            among(IndicatorStatistic.territory_code, inputs["communes"]),
            IndicatorStatistic.period_start >= period.start,
            IndicatorStatistic.period_start <= period.end,
        )
        if isinstance(database, AsyncConnection):
            found = (await database.execute(statement)).all()
        else:
            async with database.connect() as connection:
                found = (await connection.execute(statement)).all()
        for code, start, figures in found:
            row = row_of.get(code)
            column = column_of.get(date(start.year, start.month, 1))
            if row is None or column is None:
                continue
            lit_cells[row] = figures.get("lit_cells") or 0
            if figures.get("radiance") is not None:
                radiance[row, column] = figures["radiance"]
        return radiance, lit_cells

    async def _filed_months(self, engine: AsyncEngine, inputs: dict[str, Any]) -> set[date]:
        """The months of the period every commune already has a row of (any job's)."""
        period = Interval.parse(inputs["datetime"])
        statement = (
            select(IndicatorStatistic.period_start, func.count())
            .where(
                IndicatorStatistic.indicator == monthly_indicator(inputs["product"]),
                among(IndicatorStatistic.territory_code, inputs["communes"]),
                IndicatorStatistic.period_start >= period.start,
                IndicatorStatistic.period_start <= period.end,
            )
            .group_by(IndicatorStatistic.period_start)
        )
        async with engine.connect() as connection:
            counts = (await connection.execute(statement)).all()
        return {
            date(start.year, start.month, 1)
            for start, count in counts
            if count == len(inputs["communes"])
        }

    async def _classified(
        self,
        database: AsyncEngine | AsyncConnection,
        job_id: uuid.UUID,
        base_url: str,
        inputs: dict[str, Any],
        zones: list[Zone],
        radiance: np.ndarray,
        lit_cells: np.ndarray,
        observed: Interval,
    ) -> Outcome:
        """Classes, features, per-commune rows and counts of a whole period's series."""
        period = Interval.parse(inputs["datetime"])
        months = months_between(period.start.date(), period.end.date())
        classes = await asyncio.to_thread(lighting.classify, radiance, months)
        earlier = None
        if inputs["product"] == "VNP46A2":  # NOAA-20's 00:40 pass, where a job filed it
            earlier, _ = await self._monthly(database, "VJ146A2", inputs, zones)
        figures = {}
        features, statistics = [], []
        for row, (zone, result, cells) in enumerate(zip(zones, classes, lit_cells, strict=True)):
            properties = {
                "code": zone.code,
                "name": zone.name,
                "class_code": lighting.CLASSES.index(result.kind),
                **result.properties(months),
                "lit_cells": int(cells),
                "switch_off": (
                    lighting.switch_off_bracket(result, earlier[row])
                    if earlier is not None
                    else None
                ),
            }
            figures[zone.code] = properties
            features.append(Feature(INDICATOR, zone.geometry, properties, observed, zone.code))
            statistics.append(
                Statistic(TerritoryLevel.COMMUNE, zone.code or "", INDICATOR, period, properties)
            )
        counts, count_rows = await self._counts(database, figures, period)
        return Outcome(
            results={
                **feature_links(
                    base_url, INDICATOR, job_id, "Night-time lighting practice per commune"
                ),
                "statistics": self._statistics_link(base_url, job_id),
                "figures": {"value": figures, "mediaType": "application/json"},
                "counts": {"value": counts, "mediaType": "application/json"},
            },
            statistics=statistics + count_rows,
            features=features,
        )

    async def _counts(
        self,
        database: AsyncEngine | AsyncConnection,
        figures: dict[str | None, dict[str, Any]],
        period: Interval,
    ) -> tuple[dict[str, Any], list[Statistic]]:
        """Counts of each class nationally, per région, département and EPCI, and by
        population class in each; one statistics row per territory above the communes."""
        statement = select(
            Territory.code, Territory.parent_code, Territory.epci_code, Territory.population
        ).where(Territory.level == TerritoryLevel.COMMUNE, among(Territory.code, list(figures)))
        regions = select(Territory.code, Territory.parent_code).where(
            Territory.level == TerritoryLevel.DEPARTEMENT
        )
        above = select(Territory.level, Territory.code).where(
            Territory.level != TerritoryLevel.COMMUNE
        )
        if isinstance(database, AsyncConnection):
            communes = (await database.execute(statement)).all()
            region_of = dict((await database.execute(regions)).all())
            loaded = {(level.value, code) for level, code in await database.execute(above)}
        else:
            async with database.connect() as connection:
                communes = (await connection.execute(statement)).all()
                region_of = dict((await connection.execute(regions)).all())
                loaded = {(level.value, code) for level, code in await connection.execute(above)}
        groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for code, departement, epci, population in communes:
            entry = (figures[code]["class"], population_class(population))
            groups[("national", "FR")].append(entry)
            if departement:
                groups[(TerritoryLevel.DEPARTEMENT.value, departement)].append(entry)
                if region_of.get(departement):
                    groups[(TerritoryLevel.REGION.value, region_of[departement])].append(entry)
            if epci:
                groups[(TerritoryLevel.EPCI.value, epci)].append(entry)
        counts: dict[str, Any] = defaultdict(dict)
        rows = []
        for (level, code), entries in sorted(groups.items()):
            tally = {
                "communes": len(entries),
                "classes": dict(Counter(kind for kind, _ in entries)),
                "by_population": {
                    label: dict(Counter(kind for kind, size in entries if size == label))
                    for _, label in POPULATION_CLASSES
                },
            }
            counts[level][code] = tally
            if (level, code) in loaded:  # a row needs its territory (a région partly loaded)
                rows.append(Statistic(TerritoryLevel(level), code, INDICATOR, period, tally))
        return dict(counts), rows

    @staticmethod
    def _statistics_link(base_url: str, job_id: uuid.UUID) -> dict[str, Any]:
        return {
            "href": statistics_url(base_url, job_id),
            "rel": "related",
            "type": "application/geo+json",
            "title": "per-commune monthly radiance and classes (OGC API Features)",
        }


def _months(period: Interval) -> list[date]:
    return months_between(period.start.date(), period.end.date())


def _number(value: float) -> float | None:
    return round(float(value), 3) if np.isfinite(value) else None


def _scenes_period(scenes: list[Scene], period: Interval) -> Interval:
    if not scenes:
        return period
    return Interval(min(s.datetime for s in scenes), max(s.datetime for s in scenes))


PROCESS = NightLighting()
