"""Night lighting against planted truth, and its speed: Black Marble VNP46A3 files written by
`territoires synth --night-lights` over some départements, reduced to per-commune monthly series
(each file read once), classified, and scored against truth/night_lighting.csv beside a
`ruptures` baseline (PELT, L2 cost, BIC-like penalty σ²·ln n·2, on the same deseasonalised
series, with the same class rules).

    uv run python bench/night_lighting.py [--departements 17 | --national] [--daily]
        [--start 2014-01-01] [--end 2024-12-31] [--dir .data/bench/night-lights]
        [--baseline-sample N] [--calibrate] [--national-month] [--parts-at-once N]

On 2 cores as the issue asks: `NUMBA_NUM_THREADS=2 taskset -c 0,1 uv run python …`.

Prints: class accuracy and exact start month (over the communes whose lights changed) of ours
and of the baseline; seconds to read the files and to classify; the whole run's wall and CPU
time and the load average; without --national, classifying at national size.
--calibrate scores a grid of penalties (how PENALTY in compute/lighting.py was chosen: run it on
another seed than the tests'). --national writes and reads all of France (34,969 communes, those
with an outline scored) and times the whole run from the files (loading the communes, reading
the files' items, reading + reducing, classifying; nothing extrapolated). --daily writes VNP46A2
and VJ146A2 (both satellites) instead of VNP46A3, classifies the 01:30 pass's monthly medians and
brackets the switch-off hour with the 00:40 pass (the reference year one night a week, as the
process reads it). --parts-at-once N splits the reading as the process does (one part per
calendar year, each reading the reference year again) and runs N parts at once in processes of
their own, as N workers would. --baseline-sample N runs ruptures (~0.2–0.5 s
a commune) on N communes drawn with seed 0, scored beside ours on the same N. --national-month
writes one month of all France (34,969 communes, 9 tiles), measures reading it for every commune
and extrapolates the national run from it, labelled as such.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.transform import Affine
from shapely.geometry import mapping

from territoires.catalog.ingest.blackmarble import granule_item
from territoires.compute import lighting
from territoires.compute.blackmarble import (
    Granule,
    Series,
    TileZones,
    good_observations,
    monthly_series,
    reduce,
    reference_lit,
    reference_night,
    tile_zones,
)
from territoires.compute.kernels import lighting as kernels
from territoires.compute.kernels.lighting import zone_means
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


def zones_of(departements: list[str] | None) -> list[Zone]:
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


def yearly_part(
    zones: list[Zone],
    granules: list[Granule],
    reference: list[Granule],
    months: list[date],
    guard: AssetGuard,
) -> Series:
    kernels.warm_up()
    return monthly_series(zones, granules, reference, months, guard)


def series_of(
    zones: list[Zone],
    granules: list[Granule],
    reference: list[Granule],
    months: list[date],
    guard: AssetGuard,
    parts_at_once: int,
) -> Series:
    """The communes' monthly series in one pass, or in the process's yearly parts, so many at
    once, combined in month order."""
    if parts_at_once <= 1:
        return monthly_series(zones, granules, reference, months, guard)
    years = sorted({month.year for month in months})
    with ProcessPoolExecutor(parts_at_once, mp_context=get_context("spawn")) as pool:
        parts = list(
            pool.map(
                yearly_part,
                *zip(
                    *[
                        (
                            zones,
                            [g for g in granules if g.month.year == year],
                            reference,
                            [m for m in months if m.year == year],
                            guard,
                        )
                        for year in years
                    ],
                    strict=True,
                ),
            )
        )
    return Series(
        months,
        np.hstack([part.radiance for part in parts]),
        np.hstack([part.good for part in parts]),
        parts[0].lit_cells,
    )


def reference_of(granules: list[Granule], year: int) -> list[Granule]:
    """The reference year's files as the process picks them."""
    files = [g for g in granules if g.month.year == year]
    return [g for g in files if not g.product.daily or reference_night(g.day)] or files


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
    parser.add_argument("--national", action="store_true", help="all of France")
    parser.add_argument("--daily", action="store_true", help="VNP46A2 and VJ146A2 daily files")
    parser.add_argument("--start", default="2014-01-01")
    parser.add_argument("--end", default="2024-12-31")
    parser.add_argument("--dir", type=Path, default=Path(".data/bench/night-lights"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--national-month", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip ruptures (slow)")
    parser.add_argument(
        "--baseline-sample", type=int, default=0, help="ruptures on this many communes (seed 0)"
    )
    parser.add_argument(
        "--parts-at-once", type=int, default=1, help="yearly parts read at once (processes)"
    )
    args = parser.parse_args()
    departements = None if args.national else args.departements.split(",")
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    products = ("VNP46A2", "VJ146A2") if args.daily else ("VNP46A3",)
    folder = args.dir.resolve() / (
        f"{'-'.join(departements or ['france'])}-{start:%Y%m}-{end:%Y%m}-{args.seed}"
        + ("-daily" if args.daily else "")
    )
    if not (folder / TRUTH_FILE).is_file():
        began = time.perf_counter()
        summary = generate_night_lights(
            folder, DATA, departements, start, end, args.seed, products=products
        )
        print(f"generated {len(summary.files)} files in {time.perf_counter() - began:.1f} s")
    truth = read_truth(folder / TRUTH_FILE)
    kernels.warm_up()
    run_began, run_cpu = time.perf_counter(), time.process_time()
    zones = [z for z in zones_of(departements) if z.code in truth]
    codes = [z.code or "" for z in zones]
    zones_s = time.perf_counter() - run_began
    began = time.perf_counter()
    every = granules_in(folder)  # what ingest does once, as the files come
    catalogue_s = time.perf_counter() - began
    granules = [g for g in every if g.product.short_name == products[0]]
    months = months_between(start, end)
    reference = reference_of(granules, start.year)
    parts = len({month.year for month in months}) if args.parts_at_once > 1 else 1
    reference_reads = len(reference) * parts
    guard = AssetGuard.of([str(folder.resolve())])

    began = time.perf_counter()
    series = series_of(zones, granules, reference, months, guard, args.parts_at_once)
    read_s = time.perf_counter() - began
    began = time.perf_counter()
    ours = lighting.classify(series.radiance, months)
    classify_s = time.perf_counter() - began
    earlier_s = 0.0
    if args.daily:  # NOAA-20's earlier pass: its own series, the switch-off bracket
        began = time.perf_counter()
        noaa = [g for g in every if g.product.short_name == products[1]]
        earlier = series_of(
            zones, noaa, reference_of(noaa, start.year), months, guard, args.parts_at_once
        )
        brackets = [
            lighting.switch_off_bracket(result, earlier.radiance[row])
            for row, result in enumerate(ours)
        ]
        earlier_s = time.perf_counter() - began
    run_s, run_cpu = time.perf_counter() - run_began, time.process_time() - run_cpu
    load = os.getloadavg()
    sample = np.arange(len(zones))
    if 0 < args.baseline_sample < len(zones):
        sample = np.sort(
            np.random.default_rng(0).choice(len(zones), args.baseline_sample, replace=False)
        )
    began = time.perf_counter()
    baseline = (
        ruptures_classes(np.ascontiguousarray(series.radiance[sample]), months)
        if not args.no_baseline
        else []
    )
    ruptures_s = time.perf_counter() - began

    print(
        f"{len(zones)} communes × {len(months)} months ({len(truth)} in the truth file), "
        f"{len(every)} files of {', '.join(products)} (+{reference_reads} reference reads of "
        f"{products[0]}); {os.cpu_count()} CPUs, "
        f"NUMBA_NUM_THREADS={os.environ.get('NUMBA_NUM_THREADS', 'all')}"
    )
    score("ours (numba PELT)", codes, ours, months, truth)
    if not args.no_baseline:
        picked = [codes[i] for i in sample]
        label = "" if len(sample) == len(zones) else f" (sample of {len(sample)}, seed 0)"
        if label:
            score(f"ours on the sample{label}", picked, [ours[i] for i in sample], months, truth)
        score(f"ruptures PELT{label}", picked, baseline, months, truth)
    print(
        f"read + reduce {read_s:.1f} s ({read_s / (len(granules) + reference_reads):.3f} s a "
        f"file); classify {classify_s:.2f} s (ruptures {ruptures_s:.2f} s on {len(sample)} "
        f"communes, {ruptures_s / max(classify_s * len(sample) / len(zones), 1e-9):.0f}× ours)"
    )
    if args.daily:
        said = [b for b in brackets if b]
        print(
            f"NOAA-20 (00:40) series and switch-off bracket {earlier_s:.1f} s: "
            f"{sum(b.startswith('before') for b in said)} communes off before 00:40, "
            f"{sum(b.startswith('between') for b in said)} between 00:40 and 01:30"
        )
    print(
        f"RUN FROM FILES (communes, reading every file, reducing, classifying"
        f"{', both satellites' if args.daily else ''}): {run_s:.1f} s wall = {run_s / 60:.1f} "
        f"min, {run_cpu:.1f} s CPU; of which loading the communes {zones_s:.1f} s, reading "
        f"the {len(every)} files' items (ingest's work) {catalogue_s:.1f} s; without these "
        f"{(run_s - zones_s - catalogue_s) / 60:.1f} min; load average {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f}"
    )
    if args.national:
        return
    national = np.ascontiguousarray(
        series.radiance[np.random.default_rng(0).integers(0, len(zones), NATIONAL_COMMUNES)]
    )
    began = time.perf_counter()
    lighting.classify(national, months)
    national_classify_s = time.perf_counter() - began
    print(
        f"classify {NATIONAL_COMMUNES} communes × {len(months)} months (this département's "
        f"series drawn again to national size): {national_classify_s:.1f} s"
    )
    if args.national_month:
        national_month(args.dir.resolve(), len(months), national_classify_s)
    if args.calibrate:
        for penalty in (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0):
            score(
                f"penalty {penalty:>4}",
                codes,
                lighting.classify(series.radiance, months, penalty),
                months,
                truth,
            )


def against_exactextract(granule: Granule, zones: list[Zone], guard: AssetGuard) -> None:
    """One file's reduction for every commune of its tile (rasterising, reading the layers,
    the zonal kernel) against exactextract's mean on the same radiance as a GeoTIFF."""
    from exactextract import exact_extract

    began = time.perf_counter()
    tile = tile_zones(zones, granule.transform)
    rasterise_s = time.perf_counter() - began
    values, scale, fill, quality, good = good_observations(granule, guard, tile.window)
    count = len(zones) + 1
    sums, counts = np.zeros(count), np.zeros(count, np.int64)
    everywhere = np.ones(tile.zones.shape, np.bool_)
    zone_means(values, quality, good, values.dtype.type(fill), tile.zones, everywhere, sums, counts)
    ours_s = time.perf_counter() - began
    radiance = np.where(values == fill, np.nan, values * scale).astype(np.float32)
    path = Path(tempfile.mkdtemp(prefix="bench-night-")) / "radiance.tif"
    profile = {
        "driver": "GTiff",
        "width": radiance.shape[1],
        "height": radiance.shape[0],
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "nodata": np.nan,
        "tiled": True,
        "transform": granule.transform
        @ Affine.translation(tile.window.col_off, tile.window.row_off),
    }
    with rasterio.open(path, "w", **profile) as out:
        out.write(radiance, 1)
    present = np.flatnonzero(counts[1:]) + 1
    features = [
        {
            "type": "Feature",
            "properties": {"zone": int(n)},
            "geometry": mapping(zones[n - 1].geometry),
        }
        for n in present
    ]
    began = time.perf_counter()
    exact_extract(str(path), features, ["mean"])
    theirs_s = time.perf_counter() - began
    print(
        f"one file ({granule.tile}, {len(present)} communes): ours {ours_s:.1f} s (rasterising "
        f"{rasterise_s:.1f} s, once a run; reading + kernel {ours_s - rasterise_s:.2f} s), "
        f"exactextract mean on the same radiance {theirs_s:.1f} s: ratio {ours_s / theirs_s:.2f}× "
        f"with rasterising, {(ours_s - rasterise_s) / theirs_s:.3f}× for each further file"
    )


def national_month(folder: Path, months: int, classify_s: float) -> None:
    """One month of all France measured (its files written if missing), the whole run
    extrapolated from it: rasterising the communes once, then reading each month's files."""
    january = folder / "france-201401"
    if not (january / TRUTH_FILE).is_file():
        began = time.perf_counter()
        summary = generate_night_lights(january, DATA, None, date(2014, 1, 1), date(2014, 1, 31))
        print(
            f"generated {len(summary.files)} national files in {time.perf_counter() - began:.0f} s"
        )
    began = time.perf_counter()
    zones = zones_of(None)
    granules = granules_in(january)
    print(f"{len(zones)} communes loaded in {time.perf_counter() - began:.0f} s")
    guard = AssetGuard.of([str(january.resolve())])
    tiles: dict[str, TileZones] = {}
    began = time.perf_counter()
    for granule in granules:
        tiles[granule.tile] = tile_zones(zones, granule.transform)
    setup_s = time.perf_counter() - began
    began = time.perf_counter()
    cpu = time.process_time()
    reference_lit(granules, tiles, guard)
    series = reduce(granules, len(zones), tiles, [date(2014, 1, 1)], guard)
    month_s = (time.perf_counter() - began) / 2  # the reference year's read, then the month's
    month_cpu = (time.process_time() - cpu) / 2
    lit = int((series.lit_cells > 0).sum())
    total = setup_s + month_s * (months + 12) + classify_s
    print(
        f"national month measured: rasterising {len(zones)} communes on {len(tiles)} tiles "
        f"{setup_s:.0f} s; reading one month's {len(granules)} files for all of them "
        f"{month_s:.1f} s wall, {month_cpu:.1f} s CPU ({lit} communes with lit cells; load "
        f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    against_exactextract(max(granules, key=lambda g: tiles[g.tile].zones.size), zones, guard)
    print(
        f"EXTRAPOLATED national monthly run ({len(zones)} communes × {months} months, "
        f"{months + 12} file reads of each tile with the reference year): {total / 60:.1f} min "
        f"= {setup_s:.0f} s + {months + 12} × {month_s:.1f} s + {classify_s:.0f} s classifying "
        f"(with the month's CPU time instead of its wall time: "
        f"{(setup_s + (months + 12) * month_cpu + classify_s) / 60:.1f} min)"
    )


if __name__ == "__main__":
    main()
