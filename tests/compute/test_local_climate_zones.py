"""`local-climate-zones` on `territoires synth --buildings` over La Rochelle (1024² at 10 m, a
Sentinel-2 scene per summer 2021–2023, the town blocks' buildings as BD TOPO- and OSM-like
files), catalogued in a database of its own and run as a worker runs it (validate, then run).

Scored against the planted class of each unit (truth/lcz_units.geojson) with the shared helper:
overall accuracy, kappa and the confusion matrix printed. Then the outputs (units as features,
the class COG, per-commune figures), heights from storeys or the default, and bad input: a
buildings collection that is not catalogued, and a territory without buildings."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from shapely.geometry import shape

from territoires.compute.processes.base import IndicatorProcess, Outcome, RunningJob, Services
from territoires.compute.processes.local_climate_zones import (
    NAMES,
    PROCESS,
    PROPERTIES,
    building_heights,
    classify,
)
from territoires.shared.database import create_async_database
from territoires.shared.errors import BadRequestError
from territoires.shared.settings import Settings
from territoires.shared.storage import storage_from_settings
from territoires.synth import generate
from territoires.synth.buildings import BDTOPO, LCZ_UNITS, OSM, ROADS
from territoires.synth.scoring import score_classes

from ..stack import scenes_platform_settings

SIZE = 1024
SUMMERS = "2021-06-01/2023-08-31"
ACCURACY_GOAL = 0.90
KAPPA_GOAL = 0.85

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lcz") / "17300"
    generate("17300", folder, size=SIZE, sensors=["s2"], with_buildings=True)
    return folder


@pytest.fixture(scope="module")
def settings(empty_database_factory, redis_url: str, town: Path, tmp_path_factory) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("lcz"),
        redis_url,
        "lcz",
        town,
        tmp_path_factory.mktemp("lcz-storage"),
    )


def execute(
    settings: Settings,
    inputs: dict[str, Any],
    scratch: Path,
    process: IndicatorProcess = PROCESS,
) -> Outcome:
    """What the API and a worker do with a request: validate, then run the plan."""

    async def both() -> Outcome:
        engine = create_async_database(settings)
        try:
            async with engine.connect() as connection:
                plan = await process.validate(inputs, connection)
            job = RunningJob(
                id=uuid.uuid4(),
                owner=uuid.uuid4(),
                attempt=1,
                inputs=plan.inputs,
                base_url="http://localhost",
                services=Services(settings, engine, storage_from_settings(settings)),
                executor=ThreadPoolExecutor(1),
                scratch=scratch,
                progress=lambda _: asyncio.sleep(0),
            )
            return await process.run(job)
        finally:
            await engine.dispose()

    scratch.mkdir(parents=True, exist_ok=True)
    return asyncio.run(both())


def communes(town: Path) -> list[str]:
    settlements = json.loads((town / "truth.json").read_text())["urban"]["settlements"]
    return [s["code"] for s in settlements if s["code"]]


@pytest.fixture(scope="module")
def rochelle(settings: Settings, town: Path, tmp_path_factory) -> Outcome:
    """The communes of the scene, units bounded by the BD TOPO-like streets."""
    inputs = {"territory": communes(town), "datetime": SUMMERS}
    return execute(settings, inputs, tmp_path_factory.mktemp("lcz-job"))


def matched(outcome: Outcome, town: Path) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(found, planted) class values of the planted units whose representative point lies in
    a result unit, and the planted units' properties."""
    features = [f for f in outcome.features if f.indicator == "lcz-units"]
    tree = shapely.STRtree([f.geometry for f in features])
    planted = [
        f for f in json.loads((town / LCZ_UNITS).read_text())["features"] if f["properties"]["lcz"]
    ]
    points = [shape(f["geometry"]).representative_point() for f in planted]
    unit, result = tree.query(points, predicate="within")
    found = np.array([features[r].properties["lcz"] for r in result])
    truth = np.array([planted[u]["properties"]["lcz"] for u in unit])
    return found, truth, [planted[u]["properties"] for u in unit]


def scored(outcome: Outcome, town: Path, label: str) -> None:
    """Scores the run against the planted units, prints the figures, checks the goals."""
    found, truth, _ = matched(outcome, town)
    score = score_classes(found, truth)
    names = [NAMES[c] for c in score.classes]
    print(
        f"\nsynth {label} {SIZE}² --buildings, {score.count} planted units scored: overall "
        f"accuracy {score.accuracy:.1%}, kappa {score.kappa:.3f}"
    )
    print("confusion (rows planted, columns found): " + " ".join(f"{n:>5}" for n in names))
    for name, row in zip(names, score.confusion, strict=True):
        print(f"{name:>41} " + " ".join(f"{v:5d}" for v in row))
    print("IoU: " + ", ".join(f"{NAMES[c]} {v:.2f}" for c, v in score.iou.items()))
    assert score.count > 1000
    assert score.accuracy >= ACCURACY_GOAL
    assert score.kappa >= KAPPA_GOAL


def test_classes_against_the_planted_units(rochelle: Outcome, town: Path) -> None:
    scored(rochelle, town, "17300")


@pytest.fixture(scope="module")
def reunion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Saint-Denis de La Réunion: UTM 40 S, the BD TOPO-like file in the same UTM zone."""
    folder = tmp_path_factory.mktemp("lcz-974") / "97411"
    generate("97411", folder, size=SIZE, sensors=["s2"], with_buildings=True)
    return folder


def test_classes_overseas_in_their_own_utm_zone(
    empty_database_factory, redis_url: str, reunion: Path, tmp_path_factory
) -> None:
    settings = scenes_platform_settings(
        empty_database_factory("lcz974"),
        redis_url,
        "lcz974",
        reunion,
        tmp_path_factory.mktemp("lcz-974-storage"),
    )
    inputs = {"territory": communes(reunion), "datetime": SUMMERS}
    outcome = execute(settings, inputs, tmp_path_factory.mktemp("lcz-974-job"))
    [item] = outcome.items
    href = next(iter(item["assets"].values()))["href"]
    with rasterio.open(href) as cog:
        assert cog.crs.to_string() == "EPSG:32740"
    scored(outcome, reunion, "97411 (UTM 40 S, southern summers)")


def test_outputs_units_cog_and_figures(rochelle: Outcome, town: Path) -> None:
    features = [f for f in rochelle.features if f.indicator == "lcz-units"]
    kinds = {f.properties["unit"] for f in features}
    assert kinds == {"block", "cell"}
    sample = next(f for f in features if f.properties["unit"] == "block" and f.properties["bsf"])
    for name in ("lcz", "lcz_name", "confidence", "bsf", "isf", "psf", "height_m", "hw", "svf"):
        assert name in sample.properties
    assert 0 <= sample.properties["svf"] <= 1 and 0 <= sample.properties["confidence"] <= 1
    [item] = [i for i in rochelle.items if "lcz" in json.dumps(i["assets"])]
    href = next(iter(item["assets"].values()))["href"]
    with rasterio.open(href) as cog:
        values = cog.read(1)
        assert cog.dtypes[0] == "uint8" and cog.nodata == 0
        assert cog.crs.to_string() == json.loads((town / "truth.json").read_text())["crs"]
    assert set(np.unique(values)) - {0} <= set(NAMES)
    figures = rochelle.results["figures"]["value"]["17300"]
    print(f"\n17300 figures: { {k: v for k, v in figures.items() if k != 'definitions'} }")
    assert abs(sum(figures["class_shares"].values()) - 1.0) < 0.01
    assert 0.0 < figures["population_share_lcz_1_3"] < 1.0
    assert figures["population_lcz_1_3"] > 0
    assert figures["heights"]["height"] > 0 and figures["heights"]["storeys"] > 0
    rows = [s for s in rochelle.statistics if s.code == "17300"]
    assert rows and rows[0].indicator == "lcz"


def test_osm_buildings_on_a_grid_state_defaulted_heights(
    settings: Settings, town: Path, tmp_path: Path
) -> None:
    """The OSM-like file (some buildings with storeys only, some with neither) on 200 m
    cells: heights defaulted are counted and said."""
    inputs = {
        "territory": "17300",
        "datetime": "2023-06-01/2023-08-31",
        "buildings": "buildings-osm",
        "units": "grid",
        "cell_size": 200,
        "default_height": 7.5,
    }
    outcome = execute(settings, inputs, tmp_path)
    figures = outcome.results["figures"]["value"]["17300"]
    heights = figures["heights"]
    print(f"\nOSM-like buildings, 200 m cells: heights {heights}, notes {figures['notes']}")
    assert heights["default"] > 0 and heights["storeys"] > 0 and heights["default_height_m"] == 7.5
    assert any("taken as 7.5 m" in note for note in figures["notes"])
    units = [f for f in outcome.features if f.indicator == "lcz-units"]
    assert {f.properties["unit"] for f in units} == {"cell"}
    assert max(f.properties["area_m2"] for f in units) == pytest.approx(40_000, rel=1e-6)


def test_a_buildings_collection_not_catalogued_is_a_400(settings: Settings, tmp_path: Path):
    inputs = {"territory": "17300", "datetime": SUMMERS, "buildings": "bd-topo-2024"}
    with pytest.raises(BadRequestError, match="collection 'bd-topo-2024' has no item"):
        execute(settings, inputs, tmp_path)


def test_an_area_without_buildings_is_classed_from_its_cover(
    settings: Settings, town: Path, tmp_path: Path
) -> None:
    """A square of sea and shore with no building: every unit a natural class, said so."""
    planted = json.loads((town / LCZ_UNITS).read_text())["features"]
    water = next(
        f for f in planted if f["properties"]["lcz"] == 17 and f["properties"]["kind"] == "cell"
    )
    area = shape(water["geometry"]).buffer(0.004)
    inputs = {"geometry": shapely.geometry.mapping(area), "datetime": SUMMERS}
    outcome = execute(settings, inputs, tmp_path)
    figures = outcome.results["figures"]["value"]["area"]
    print(f"\nno building: {figures['class_shares']}, notes {figures['notes']}")
    assert figures["buildings"] == 0 and figures["population_share_lcz_1_3"] is None
    assert any("no building" in note for note in figures["notes"])
    assert set(figures["class_shares"]) <= {"A", "B", "D", "E", "F", "G"}


def test_the_synthetic_buildings_follow_bd_topo_and_osm(town: Path) -> None:
    """BD TOPO's layers and columns in Lambert-93 on the mainland; OSM tags in lon/lat."""
    batiment = pyogrio.read_info(town / BDTOPO, layer="batiment")
    assert batiment["crs"] == "EPSG:2154" and batiment["geometry_type"] == "Polygon"
    assert {"cleabs", "hauteur", "nombre_d_etages", "usage_1"} <= set(batiment["fields"])
    roads = pyogrio.read_info(town / BDTOPO, layer="troncon_de_route")
    assert roads["geometry_type"] == "LineString" and roads["features"] > 1000
    osm = json.loads((town / OSM).read_text())["features"]
    tags = [set(f["properties"]) for f in osm]
    assert len(osm) == batiment["features"]
    assert any("height" in t for t in tags) and any("building:levels" in t for t in tags)
    assert any(t == {"building"} for t in tags)
    assert json.loads((town / ROADS).read_text())["features"][0]["geometry"]["type"] == (
        "LineString"
    )


def test_heights_from_storeys_and_the_default() -> None:
    fields = {
        "height": np.array(["12.5", "9 m", None, None, "bad"], object),
        "building:levels": np.array([None, None, "4", None, None], object),
    }
    heights, sources = building_heights(fields, 5, 6.0)
    assert heights.tolist() == [12.5, 9.0, 12.0, 6.0, 6.0]
    assert sources == {"height": 2, "storeys": 1, "default": 2}


def test_the_rule_set_on_stewart_and_oke_typical_values() -> None:
    """Mid-range values of classes 1–10 are classed as themselves; cover rules without
    buildings."""
    typical = {
        1: (0.3, 2.5, 0.5, 0.5, 0.05, 40, 1500),
        2: (0.45, 1.2, 0.55, 0.4, 0.1, 17, 1000),
        3: (0.4, 1.0, 0.55, 0.35, 0.15, 6, 300),
        5: (0.65, 0.5, 0.3, 0.4, 0.3, 17, 800),
        6: (0.75, 0.5, 0.3, 0.35, 0.45, 6, 300),
        8: (0.85, 0.2, 0.4, 0.45, 0.1, 6, 3000),
        9: (0.9, 0.15, 0.15, 0.1, 0.7, 6, 200),
        10: (0.75, 0.35, 0.25, 0.3, 0.45, 8, 3000),
    }
    properties = np.array(list(typical.values()), float)
    zero = np.zeros(len(typical))
    shares = {"sealed": zero, "tree": zero, "water": zero, "bare": zero}
    industry = np.array([c == 10 for c in typical], float)
    classes, confidence = classify(properties, shares, industry)
    assert classes.tolist() == list(typical)
    assert classify(properties[-1:], {k: v[-1:] for k, v in shares.items()}, zero[-1:])[0] != 10
    assert (confidence > 0.5).all()
    empty = np.zeros((4, len(PROPERTIES)))
    cover = {
        "tree": np.array([0.8, 0.3, 0.0, 0.0]),
        "water": np.array([0.0, 0.0, 0.9, 0.0]),
        "sealed": np.zeros(4),
        "bare": np.array([0.0, 0.0, 0.0, 0.1]),
    }
    classes, _ = classify(empty, cover, np.zeros(4))
    assert [NAMES[c] for c in classes] == ["A", "B", "G", "D"]
