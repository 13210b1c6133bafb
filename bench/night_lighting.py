"""Night lighting against planted truth, and its speed: Black Marble VNP46A3 files written by
`territoires synth --night-lights` over some départements, reduced to per-commune monthly series
(each file read once), classified, and scored against truth/night_lighting.csv beside a
`ruptures` baseline (PELT, L2 cost, BIC-like penalty σ²·ln n·2, on the same deseasonalised
series, with the same class rules).

    uv run python bench/night_lighting.py [--departements 17] [--start 2014-01-01]
        [--end 2024-12-31] [--dir .data/bench/night-lights] [--calibrate] [--threads 2]

Prints: class accuracy and exact start month (over the communes whose lights changed) of ours
and of the baseline; seconds to read the files and to classify; the national run (34,969
communes × 132 months) extrapolated from the files and communes measured, labelled as such.
--calibrate scores a grid of penalties (how PENALTY in compute/lighting.py was chosen: run it on
another seed than the tests').
"""

from __future__ import annotations

import argparse
import math
import os
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import shapely

from territoires.catalog.ingest.blackmarble import granule_item
from territoires.compute import lighting
from territoires.compute.blackmarble import Granule, monthly_series
from territoires.compute.sources import Scene, Zone
from territoires.shared.assets import AssetGuard
from territoires.shared.blackmarble import months_between
from territoires.shared.geography import read_national
from territoires.synth.blackmarble import TRUTH_FILE, generate_night_lights, read_truth

DATA = Path(os.environ.get("TERRITOIRES_KIT_DIR", "/work/shared")) / "data" / "territories"
NATIONAL_COMMUNES = 34_969
NATIONAL_TILES = (
    9  # h17v03 h17v04 h18v03 h18v04 (mainland, Corsica), h11v07, h12v08, h22v10, h23v11
)
NATIONAL_MONTHS = 132


def zones_of(departements: list[str]) -> list[Zone]:
    geography = read_national(DATA, departements)
    pieces: dict[str, list] = {}
    for _, commune, geometry in geography.outlines:
        pieces.setdefault(commune, []).append(shapely.from_geojson(geometry))
    return [Zone(shapely.union_all(p), code=code) for code, p in pieces.items()]


def granules_in(folder: Path) -> list[Granule]:
    granules = []
    for path in sorted(folder.glob("*.h5")):
        item = granule_item(path)
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        granules.append(Granule.of(Scene(item["collection"], item["id"], when, item)))
    return granules


def ruptures_classes(radiance: np.ndarray, months: list[date]) -> list[lighting.Classification]:
    """The baseline: ruptures' PELT on the same series, our class rules after it."""
    import ruptures

    logs = lighting.deseasonalise(lighting.log_series(radiance), months)
    sigma = lighting.noise(logs)
    found = []
    for row, y in enumerate(logs):
        observed = np.flatnonzero(np.isfinite(y))
        if observed.size < 2 * lighting.MIN_SEGMENT or not np.isfinite(sigma[row]):
            found.append(np.zeros(0, np.int64))
            continue
        penalty = 2 * sigma[row] ** 2 * math.log(observed.size)
        ends = (
            ruptures.Pelt(model="l2", min_size=lighting.MIN_SEGMENT, jump=1)
            .fit(y[observed])
            .predict(pen=penalty)
        )
        found.append(observed[np.array(ends[:-1], np.int64)])
    return [
        lighting._classify_row(logs[row], found[row], float(sigma[row])) for row in range(len(logs))
    ]


def score(
    name: str,
    codes: list[str],
    found: list[lighting.Classification],
    months: list[date],
    truth: dict[str, dict[str, str]],
) -> tuple[float, float]:
    right = changed = on_time = 0
    for code, result in zip(codes, found, strict=True):
        planted = truth[code]
        right += result.kind == planted["class"]
        if planted["start"]:
            changed += 1
            start = f"{months[result.start]:%Y-%m}" if result.start is not None else ""
            on_time += result.kind == planted["class"] and start == planted["start"]
    accuracy, timing = right / len(codes), on_time / max(changed, 1)
    print(
        f"{name:<26} class {accuracy:6.1%} of {len(codes)} communes; start month exact "
        f"{timing:6.1%} of {changed} that changed"
    )
    return accuracy, timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--departements", default="17")
    parser.add_argument("--start", default="2014-01-01")
    parser.add_argument("--end", default="2024-12-31")
    parser.add_argument("--dir", type=Path, default=Path(".data/bench/night-lights"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    departements = args.departements.split(",")
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    folder = args.dir / f"{'-'.join(departements)}-{start:%Y%m}-{end:%Y%m}-{args.seed}"
    if not (folder / TRUTH_FILE).is_file():
        began = time.perf_counter()
        summary = generate_night_lights(folder, DATA, departements, start, end, args.seed)
        print(f"generated {len(summary.files)} files in {time.perf_counter() - began:.1f} s")
    truth = read_truth(folder / TRUTH_FILE)
    zones = [z for z in zones_of(departements) if z.code in truth]
    codes = [z.code or "" for z in zones]
    granules = granules_in(folder)
    months = months_between(start, end)
    reference = [g for g in granules if g.month.year == start.year]
    guard = AssetGuard.of([str(folder.resolve())])

    began = time.perf_counter()
    series = monthly_series(zones, granules, reference, months, guard)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    ours = lighting.classify(series.radiance, months)
    classify_s = time.perf_counter() - began
    began = time.perf_counter()
    baseline = ruptures_classes(series.radiance, months)
    ruptures_s = time.perf_counter() - began

    print(
        f"{len(zones)} communes × {len(months)} months, {len(granules)} files "
        f"(+{len(reference)} reference reads); {os.cpu_count()} CPUs, "
        f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'all')}"
    )
    score("ours (numba PELT)", codes, ours, months, truth)
    score("ruptures PELT baseline", codes, baseline, months, truth)
    print(
        f"read + reduce {read_s:.1f} s ({read_s / (len(granules) + len(reference)):.3f} s a "
        f"file); classify {classify_s:.2f} s (ruptures {ruptures_s:.2f} s, "
        f"{ruptures_s / max(classify_s, 1e-9):.0f}× ours)"
    )
    per_file = read_s / (len(granules) + len(reference))
    tiles = len({g.tile for g in granules})
    national_read = per_file * NATIONAL_TILES * (NATIONAL_MONTHS + 12) * _window_share(zones, tiles)
    national_classify = classify_s * NATIONAL_COMMUNES / len(zones) * NATIONAL_MONTHS / len(months)
    print(
        f"EXTRAPOLATED national monthly run (not measured): {NATIONAL_COMMUNES} communes × "
        f"{NATIONAL_MONTHS} months ≈ {national_read / 60:.1f} min reading "
        f"{NATIONAL_TILES * (NATIONAL_MONTHS + 12)} files + {national_classify:.0f} s "
        "classifying"
    )
    if args.calibrate:
        for penalty in (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0):
            score(
                f"penalty {penalty:>4}",
                codes,
                lighting.classify(series.radiance, months, penalty),
                months,
                truth,
            )


def _window_share(zones: list[Zone], tiles: int) -> float:
    """How much bigger a whole tile is than the windows read here (reading scales with cells)."""
    left, bottom, right, top = shapely.union_all([z.geometry for z in zones]).bounds
    cells = (right - left) * (top - bottom) * 240 * 240
    return 2400 * 2400 / max(cells / tiles, 1.0)


if __name__ == "__main__":
    main()
