"""Process inputs over the national geography: an EPCI, a région, a former commune's code or a
list of them are planned as the 2026 communes they cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.compute.processes import PROCESSES
from territoires.shared.database import create_async_database, create_sync_database
from territoires.shared.errors import BadRequestError
from territoires.shared.geography import load_national, read_national
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings

from ..conftest import KIT
from ..stack import SUMMER_2023

LA_ROCHELLE_AGGLOMERATION = "241700434"


@pytest.fixture(scope="module")
def national_17(empty_database_factory, redis_url: str, scenes_dir: Path) -> Settings:
    """Charente-Maritime of 2026 with its EPCIs, and the synthetic scenes over La Rochelle."""
    url = empty_database_factory("inputs")
    upgrade(url)
    engine = create_sync_database(url)
    load_national(engine, read_national(KIT / "data" / "territories", ["17"]))
    report = ingest(engine, find_inputs([scenes_dir], IngestOptions()), IngestOptions())
    engine.dispose()
    assert not report.problems, report.problems
    return Settings(DATABASE_URL=url, REDIS_URL=redis_url)


async def plan(settings: Settings, territory: str | list[str]):
    engine = create_async_database(settings)
    try:
        async with engine.connect() as connection:
            return await PROCESSES["vegetation"].validate(
                {"territory": territory, "datetime": SUMMER_2023}, connection
            )
    finally:
        await engine.dispose()


async def test_a_vegetation_job_over_an_epci_is_planned_over_its_communes(
    national_17: Settings,
) -> None:
    planned = await plan(national_17, LA_ROCHELLE_AGGLOMERATION)
    communes = planned.inputs["communes"]
    assert "17300" in communes and len(communes) == 28  # the CA de La Rochelle's members
    assert planned.parts == 2  # batches of 25 communes
    qualified = await plan(national_17, [f"epci:{LA_ROCHELLE_AGGLOMERATION}", "17300"])
    assert qualified.inputs["communes"] == communes


async def test_a_former_commune_code_is_planned_as_its_successor(national_17: Settings) -> None:
    geography = read_national(KIT / "data" / "territories", ["17"])
    former, successor = next((c, s) for c, _, s in geography.former if s != "17300")
    planned = await plan(national_17, [former, "17300"])
    assert planned.inputs["communes"] == [successor, "17300"]


@pytest.mark.parametrize(
    ("territory", "message"),
    [
        ("epci:17300", "is not an INSEE code of a commune"),
        ("region:75", r"unknown territory code\(s\): region:75"),
        ("200000172", "unknown territory code"),  # an EPCI of Haute-Savoie, not loaded
    ],
)
async def test_codes_that_mean_nothing_loaded_are_400s(
    national_17: Settings, territory: str, message: str
) -> None:
    with pytest.raises(BadRequestError, match=message):
        await plan(national_17, territory)
