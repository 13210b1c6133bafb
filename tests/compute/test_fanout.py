"""How a large request is cut into parts: batches of `fanout_communes` neighbouring communes,
every commune in exactly one, the largest windows first so that the last parts to start are
small ones and the workers finish together."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from territoires.compute.processes import PROCESSES
from territoires.shared.database import create_async_database
from territoires.shared.models import Territory, TerritoryLevel
from territoires.shared.settings import Settings, get_settings


def window_area(rows: list[Any]) -> float:
    """Square degrees of the box around the communes' outlines (as the split measures it)."""
    return (max(r.xmax for r in rows) - min(r.xmin for r in rows)) * (
        max(r.ymax for r in rows) - min(r.ymin for r in rows)
    )


@pytest.mark.parametrize("batch", [25, 7])
async def test_a_departement_splits_into_batches_largest_window_first(
    platform_settings: Settings, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERRITOIRES_FANOUT_COMMUNES", str(batch))
    get_settings.cache_clear()
    engine = create_async_database(platform_settings)
    try:
        async with engine.connect() as connection:
            outlines = {
                row.code: row
                for row in await connection.execute(
                    select(
                        Territory.code,
                        func.ST_XMin(Territory.geometry).label("xmin"),
                        func.ST_YMin(Territory.geometry).label("ymin"),
                        func.ST_XMax(Territory.geometry).label("xmax"),
                        func.ST_YMax(Territory.geometry).label("ymax"),
                    ).where(Territory.level == TerritoryLevel.COMMUNE, Territory.code.like("17%"))
                )
            }
        communes = sorted(outlines)
        parts = await PROCESSES["vegetation"].split(
            {"communes": communes, "datetime": "2023-06-01/2023-08-31"}, engine
        )
    finally:
        await engine.dispose()
        get_settings.cache_clear()

    assert len(parts) == -(-len(communes) // batch)
    assert all(len(part["communes"]) <= batch for part in parts)
    assert sorted(code for part in parts for code in part["communes"]) == communes
    windows = [window_area([outlines[code] for code in part["communes"]]) for part in parts]
    assert windows == sorted(windows, reverse=True)
    assert all(part["datetime"] == "2023-06-01/2023-08-31" for part in parts)
