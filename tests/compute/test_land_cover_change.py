"""`land-cover-change`'s science against the changes `territoires synth --changes` plants
(parcels built on, car parks greened, woods felled, bare ground planted between the summers of
2022 and 2023, three Sentinel-2 scenes each), scored with the shared helper: the change
polygons (precision and recall), the class raster cell by cell, each commune's hectares; the
per-cell errors the significance rule rests on; and the vegetated share the unmixing kernel
folds against its plain-numpy statement on the real Sentinel-2 scene of the kit.

Match rule: a planted parcel is found, and a found polygon is right, when the two are of the
same class and the centroid of one lies inside the other. Recall counts the parcels of at least
0.1 ha seen cloud-free in both periods over half their area; precision the found polygons of
at least 0.1 ha.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from territoires.compute.blocks import Grid, zone_raster
from territoires.compute.inputs import interval
from territoires.compute.kernels import unmixing
from territoires.compute.kernels.endmembers import group_weights
from territoires.compute.processes import land_cover_change as process
from territoires.compute.sources import Scene
from territoires.shared.assets import AssetGuard
from territoires.shared.settings import get_settings
from territoires.synth import generate
from territoires.synth.scoring import score_classes, score_continuous
from territoires.synth.truth import BUILT_FRACTION, VEGETATION_FRACTION

from .test_kernels import SENTINEL2, read

SIZE = 1024  # 10 km around La Rochelle
BEFORE, AFTER = "2022-06-01/2022-08-31", "2023-06-01/2023-08-31"
BLOCK = 256  # blocks smaller than the jobs' so that block edges cut parcels, joined again
MIN_AREA_HA = 0.1
PRECISION = RECALL = 0.9
SEEN_SHARE = 0.5
ERROR_MARGIN = 1.1
"""The per-cell errors measured here stay within 10 % of those the thresholds rest on."""
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def changes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("changes") / "17300"
    generate("17300", folder, size=SIZE, sensors=["s2"], changes=True)
    return folder


def catalogued(folder: Path) -> list[Scene]:
    """The synthetic Sentinel-2 items as the catalog gives them to a job (absolute hrefs)."""
    scenes = []
    for path in sorted((folder / "sentinel-2-l2a").glob("*/*.json")):
        item = json.loads(path.read_text())
        for asset in item["assets"].values():
            asset["href"] = str((path.parent / asset["href"]).resolve())
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        scenes.append(Scene(item["collection"], item["id"], when, item))
    return scenes


def in_period(scenes: list[Scene], period: str) -> list[Scene]:
    span = interval({"period": period}, "period")
    return [scene for scene in scenes if span.start <= scene.datetime <= span.end]


@pytest.fixture(scope="module")
def mapped(changes: Path) -> dict[str, Any]:
    """The class raster and polygons of the process's science over the whole scene, block by
    block (the synthetic land reaches where the real coast is sea: the polygons are those of
    the whole scene, as over a `geometry`), and the cells of each class per commune."""
    scenes = catalogued(changes)
    periods = process.pick_scenes(
        {"before": in_period(scenes, BEFORE), "after": in_period(scenes, AFTER)}
    )
    with rasterio.open(changes / BUILT_FRACTION) as truth:
        grid = Grid(truth.crs, truth.transform, truth.width, truth.height)
    communes = commune_outlines(changes)
    shapes = [
        (shape(transform_geom("EPSG:4326", grid.crs, outline)), number)
        for number, outline in enumerate(communes.values(), start=1)
    ]
    classes = np.full((grid.height, grid.width), process.NODATA, np.uint8)
    tally = process.Tally(len(communes))
    pieces = []
    with ExitStack() as stack:
        changed = process.ChangeMap(periods, grid, stack, AssetGuard.of([str(changes)]))
        for window in grid.windows(BLOCK):
            found, sealed, vegetation = changed.read(window)
            classes[window.toslices()] = found
            whole = np.ones(found.shape, np.int32)
            pieces += process.change_pieces(found, whole, sealed, vegetation, grid, window)
            zones = zone_raster(shapes, grid, window)
            tally.add(np.where(zones > 0, found, process.NODATA).astype(np.uint8), zones)
    return {
        "grid": grid,
        "periods": periods,
        "classes": classes,
        "tally": tally,
        "polygons": process.joined_pieces(pieces),
        "communes": list(communes),
        "cut": sum(piece.edge for piece in pieces),
    }


def commune_outlines(folder: Path) -> dict[str, dict[str, Any]]:
    """The communes the scene meets (their settlements in the truth), lon/lat outlines."""
    path = get_settings().data_dir / "territories" / "communes-17-charente-maritime.geojson"
    outlines = {
        f["properties"]["code"]: f["geometry"] for f in json.loads(path.read_text())["features"]
    }
    settlements = json.loads((folder / "truth.json").read_text())["urban"]["settlements"]
    return {s["code"]: outlines[s["code"]] for s in settlements if s["code"] in outlines}


def planted(folder: Path, grid: Grid) -> list[tuple[int, BaseGeometry, dict[str, Any]]]:
    """The planted parcels in the grid's CRS: (class, polygon, properties)."""
    document = json.loads((folder / "truth.json").read_text())["land_cover_change"]
    features = json.loads((folder / document["polygons"]).read_text())["features"]
    return [
        (
            f["properties"]["class_code"],
            shape(transform_geom("EPSG:4326", grid.crs, f["geometry"])),
            f["properties"],
        )
        for f in features
    ]


def matches(first: tuple[int, BaseGeometry], second: tuple[int, BaseGeometry]) -> bool:
    """Same class, and the centroid of one inside the other."""
    return first[0] == second[0] and (
        first[1].contains(second[1].centroid) or second[1].contains(first[1].centroid)
    )


def test_periods_pick_three_summer_scenes_each(mapped: dict[str, Any]) -> None:
    dates = {
        name: [f"{scene.datetime:%Y-%m-%d}" for scene in scenes]
        for name, scenes in mapped["periods"].items()
    }
    print(f"scenes: {dates}; {mapped['cut']} patches cut by {BLOCK}² block edges, joined")
    assert [len(found) for found in dates.values()] == [3, 3]
    assert mapped["cut"] > 0


def test_change_polygons_against_the_planted_parcels(changes: Path, mapped: dict[str, Any]) -> None:
    grid, classes = mapped["grid"], mapped["classes"]
    truth = planted(changes, grid)
    observed = classes != process.NODATA
    seen = []
    for code, polygon, properties in truth:
        cells = geometry_mask([polygon], classes.shape, grid.transform, invert=True)
        if properties["area_ha"] >= MIN_AREA_HA and observed[cells].mean() >= SEEN_SHARE:
            seen.append((code, polygon))
    found = [(piece.code, piece.geometry) for piece in mapped["polygons"]]
    large = [f for f in found if f[1].area / 10_000 >= MIN_AREA_HA]
    recalled = [any(matches(t, f) for f in found) for t in seen]
    right = [any(matches(f, (code, polygon)) for code, polygon, _ in truth) for f in large]
    right_all = [any(matches(f, (code, polygon)) for code, polygon, _ in truth) for f in found]
    overlaps = [
        t[1].intersection(f[1]).area / t[1].union(f[1]).area
        for t in seen
        for f in found
        if matches(t, f)
    ]
    recall, precision = float(np.mean(recalled)), float(np.mean(right))
    print(
        f"synth 17300 {SIZE}², {len(truth)} parcels planted, {len(seen)} of ≥ {MIN_AREA_HA} ha "
        f"seen in both periods: recall {recall:.3f} ({sum(recalled)}/{len(seen)}); "
        f"{len(found)} polygons found, precision of those ≥ {MIN_AREA_HA} ha {precision:.3f} "
        f"({sum(right)}/{len(large)}), of all {np.mean(right_all):.3f}; IoU of the matches "
        f"median {np.median(overlaps):.2f}, 10th percentile {np.percentile(overlaps, 10):.2f}"
    )
    for name, code in (
        ("sealed", process.SEALED),
        ("de-sealed", process.DESEALED),
        ("vegetation lost", process.VEGETATION_LOST),
        ("vegetation gained", process.VEGETATION_GAINED),
    ):
        hits = [hit for t, hit in zip(seen, recalled, strict=True) if t[0] == code]
        print(f"  {name}: {len(hits)} parcels, {sum(hits)} found")
    missed = [
        (t[0], round(t[1].area / 10_000, 3))
        for t, hit in zip(seen, recalled, strict=True)
        if not hit
    ]
    wrong = [
        (f[0], round(f[1].area / 10_000, 3)) for f, hit in zip(large, right, strict=True) if not hit
    ]
    print(f"  missed (class, ha): {missed}; wrong: {wrong}")
    assert len(seen) >= 40
    assert recall >= RECALL and precision >= PRECISION


def test_class_raster_and_hectares_per_commune(changes: Path, mapped: dict[str, Any]) -> None:
    document = json.loads((changes / "truth.json").read_text())["land_cover_change"]
    with rasterio.open(changes / document["raster"]) as raster:
        truth = raster.read(1)
    classes = mapped["classes"]
    score = score_classes(classes, truth, classes != process.NODATA)
    print(
        f"class raster vs planted ({score.count} cells): accuracy {score.accuracy:.4f}, kappa "
        f"{score.kappa:.3f}, IoU "
        + ", ".join(f"{process.CLASSES[c]} {score.iou[c]:.2f}" for c in score.classes)
    )
    assert score.kappa > 0.7
    tally, cell_ha = mapped["tally"], mapped["grid"].resolution ** 2 / 10_000
    print("hectares per commune, found / planted (parcels):")
    errors = []
    for number, code in enumerate(mapped["communes"], start=1):
        figures = process.territory_figures(tally, number, cell_ha, 1.0)
        planted_ha = document["communes"].get(code, {})
        row = []
        for key, name in (
            ("sealed", "sealed"),
            ("desealed", "de-sealed"),
            ("vegetation_lost", "vegetation lost"),
            ("vegetation_gained", "vegetation gained"),
        ):
            mine, theirs = figures[f"{key}_ha"] or 0.0, planted_ha.get(name, 0.0)
            errors.append(mine - theirs)
            row.append(f"{name} {mine:.2f}/{theirs:.2f}")
        print(f"  {code}: " + ", ".join(row) + f" (seen {figures['valid_share']:.1%})")
    errors = np.array(errors)
    print(
        f"  per commune and class: MAE {np.abs(errors).mean():.2f} ha, bias {errors.mean():+.2f} ha"
    )
    assert np.abs(errors).mean() <= 1.0


def test_the_per_cell_errors_the_thresholds_rest_on(changes: Path, mapped: dict[str, Any]) -> None:
    """Each period's sealed and vegetated shares against the planted fractions, outside the
    parcels and water: the errors e of the rule k·√2·e."""
    grid = mapped["grid"]
    with ExitStack() as stack:
        changed = process.ChangeMap(mapped["periods"], grid, stack, AssetGuard.of([str(changes)]))
        whole = rasterio.windows.Window(0, 0, grid.width, grid.height)
        sealed, vegetation = process.period_shares(changed.readers["before"], whole, changed.tables)
    document = json.loads((changes / "truth.json").read_text())["land_cover_change"]
    with rasterio.open(changes / document["raster"]) as raster:
        outside = raster.read(1) == 0
    with rasterio.open(changes / "truth" / "land_cover.tif") as raster:
        outside &= raster.read(1) != 5  # water
    for name, found, path, error in (
        ("sealed", sealed, BUILT_FRACTION, process.SEALED_CELL_ERROR),
        ("vegetated", vegetation, VEGETATION_FRACTION, process.VEGETATION_CELL_ERROR),
    ):
        with rasterio.open(changes / path) as raster:
            truth = raster.read(1).astype(np.float64)
        score = score_continuous(found, truth, outside)
        print(
            f"{name} share of the period before, per cell ({score.count} cells): RMSE "
            f"{score.rmse:.2f} points (the rule's e: {error}), MAE {score.mae:.2f}, bias "
            f"{score.bias:+.2f}"
        )
        assert score.rmse <= ERROR_MARGIN * error


def test_vegetated_share_kernel_equals_numpy_on_the_real_sentinel2_scene() -> None:
    """The unmixing kernel folding the vegetation endmembers' share, against its plain-numpy
    statement, on the kit's real scene."""
    names = ("B02", "B03", "B04", "B08", "B11", "B12")
    bands = np.stack([read(SENTINEL2.with_name(SENTINEL2.name.format(name))) for name in names])
    valid = np.ones(bands.shape[1:], np.bool_)
    valid[:10] = False
    endmembers = unmixing.endmember_matrix()
    solvers, members = unmixing.subset_solvers(endmembers)
    weights = group_weights(process.VEGETATION)
    scales, zeros = np.full(len(names), 1e-4), np.zeros(len(names))
    sums = np.zeros(bands.shape[1:], np.float32)
    counts = np.zeros(bands.shape[1:], np.uint16)
    unmixing.fold_sealed(
        bands, valid, scales, zeros, zeros, solvers, members, endmembers, weights,
        unmixing.WATER, unmixing.MAX_RESIDUAL, sums, counts,
    )  # fmt: skip
    found = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    expected = unmixing.sealed_numpy(
        bands, valid, scales, zeros, zeros, endmembers, weights, unmixing.WATER,
        unmixing.MAX_RESIDUAL,
    )  # fmt: skip
    assert np.array_equal(np.isnan(found), np.isnan(expected))
    observed = np.isfinite(expected)
    difference = np.abs(found[observed] - expected[observed])
    print(
        f"real S2 L2A 19UDP 2017-07-29: {observed.sum()} cells, vegetated share kernel vs numpy "
        f"max |Δ| {difference.max():.2e} points, mean {expected[observed].mean():.1f} %"
    )
    assert observed.sum() > 3000 and difference.max() <= TOLERANCE


def test_the_rule_classes_and_the_minimum_mapping_unit() -> None:
    """Changes in points: each class by its thresholds, a vegetation loss to sealing is
    sealing; patches under 5 cells merged into their largest neighbour (a hole is filled, a
    speck beside a patch joins the unchanged ground around both), then dropped."""
    sealed = np.array([40.0, -40.0, 5.0, -5.0, 20.0, 0.0, np.nan], np.float32)
    vegetation = np.array([-60.0, 60.0, -30.0, 30.0, -30.0, 5.0, 0.0], np.float32)
    assert process.classify(sealed, vegetation).tolist() == [1, 2, 3, 4, 0, 0, 255]
    classes = np.zeros((20, 20), np.uint8)
    classes[2:4, 2:4] = process.SEALED  # 4 cells: dropped
    classes[10:13, 10:12] = process.VEGETATION_LOST  # 6 cells: kept
    classes[10, 12] = process.SEALED  # a speck beside it
    classes[5:8, 14:17] = process.DESEALED
    classes[6, 15] = process.UNCHANGED  # a hole in a 9-cell patch
    classes[0, :] = process.NODATA
    kept = process.mapped(classes)
    assert (kept[2:4, 2:4] == 0).all()
    assert (kept[10:13, 10:12] == process.VEGETATION_LOST).all()
    assert kept[10, 12] == process.UNCHANGED
    assert (kept[5:8, 14:17] == process.DESEALED).all()
    assert (kept[0] == process.NODATA).all()
