"""`vegetation` scored against the planted truth of `territoires synth`: the cover a partner
downloads over HTTP, cell by cell and as the commune's vegetated share, against
truth/vegetation_fraction.tif, with the scoring helper every indicator's tests use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import rasterio
from rasterio.features import geometry_mask
from rasterio.warp import Resampling, reproject, transform_geom

from territoires.synth.scoring import score_continuous
from territoires.synth.truth import VEGETATION_FRACTION

from ..stack import SUMMER_2023

SHARE_TOLERANCE = 0.03  # the commune's vegetated share, within 3 points of the planted one


def commune_outline(data_dir: Path, code: str) -> dict[str, Any]:
    communes = json.loads(
        (data_dir / "territories" / "communes-17-charente-maritime.geojson").read_text()
    )
    return next(f["geometry"] for f in communes["features"] if f["properties"]["code"] == code)


def test_vegetation_cover_against_the_planted_fraction(
    platform_url: str, api_key: str, scenes_dir: Path, platform_settings: Any, worker: Any
) -> None:
    with httpx.Client(base_url=platform_url, headers={"X-API-Key": api_key}, timeout=120) as http:
        answer = http.post(
            "/processes/vegetation/execution",
            json={"inputs": {"territory": "17300", "datetime": SUMMER_2023}},
        )
    assert answer.status_code == 200, answer.text
    results = answer.json()
    with rasterio.open(scenes_dir / VEGETATION_FRACTION) as planted:
        truth = planted.read(1, masked=True).astype(np.float64).filled(np.nan) / 100  # percent
        found = np.full(truth.shape, np.nan)
        with rasterio.open(results["vegetation-cover"]["href"]) as cover:
            reproject(
                rasterio.band(cover, 1),
                found,
                src_nodata=cover.nodata,
                dst_transform=planted.transform,
                dst_crs=planted.crs,
                dst_nodata=np.nan,
                resampling=Resampling.nearest,
            )
        outline = transform_geom(
            "EPSG:4326", planted.crs, commune_outline(platform_settings.data_dir, "17300")
        )
        inside = geometry_mask([outline], truth.shape, planted.transform, invert=True)

    cells = score_continuous(found, truth, inside)
    planted_share = float(np.nanmean(np.where(inside, truth, np.nan)))
    measured_share = results["figures"]["value"]["17300"]["vegetated_share"]
    print(
        f"vegetation-cover vs planted fraction over 17300: {cells.count} cells, "
        f"RMSE {cells.rmse:.3f}, MAE {cells.mae:.3f}, bias {cells.bias:+.3f}; vegetated share "
        f"{measured_share:.3f} vs planted {planted_share:.3f}"
    )
    assert cells.count > 10_000
    assert abs(measured_share - planted_share) <= SHARE_TOLERANCE, (
        f"vegetated share {measured_share:.3f} vs planted {planted_share:.3f}: more than "
        f"{SHARE_TOLERANCE:.0%} apart"
    )
