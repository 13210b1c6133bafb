"""`desealing-priority` on `territoires synth --buildings` over La Rochelle (1024² at 10 m,
Sentinel-2 and Landsat scenes per summer 2021–2023, the town blocks' buildings), catalogued in a
database of its own and run as a worker runs it.

The synth plants paved parcels without buildings — car parks, squares — as units of LCZ E
(truth/lcz_units.geojson): the best-ranked sectors should lie in them (precision of the top N
printed), and no sector lies under a building footprint. Bad input: no Landsat scene in the
period, no buildings collection, weights all zero."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from shapely.geometry import mapping, shape

from territoires.compute.processes.base import Outcome
from territoires.compute.processes.desealing_priority import PROCESS
from territoires.shared.errors import BadRequestError
from territoires.shared.settings import Settings
from territoires.synth import generate
from territoires.synth.buildings import LCZ_UNITS, OSM

from ..stack import scenes_platform_settings
from .test_local_climate_zones import SIZE, SUMMERS, execute

OSM_ITEM = "buildings-osm-17300-1024-s0-20210715"
PLACES_ITEM = "places-17300"
PAVED = 15  # LCZ E, bare rock or paved: a paved parcel without building
TOP = 10
PRECISION_GOAL = 0.8
MAX_BUILT_OVERLAP = 1e-6
"""Cells a footprint touches are never candidates: sectors only share edges with roofs."""

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenes, and a `places` collection of sensitive places: a point at the centre of
    every fifth planted car park, catalogued as the buildings are (a STAC item beside a GeoJSON)."""
    folder = tmp_path_factory.mktemp("desealing") / "17300"
    generate("17300", folder, size=SIZE, sensors=["s2", "landsat"], with_buildings=True)
    parks = [
        shape(f["geometry"])
        for f in json.loads((folder / LCZ_UNITS).read_text())["features"]
        if f["properties"]["lcz"] == PAVED and f["properties"]["kind"] == "block"
    ]
    points = [
        {"type": "Feature", "properties": {"kind": "school"}, "geometry": mapping(p.centroid)}
        for p in parks[::5]
    ]
    (folder / "buildings" / "places.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": points})
    )
    item = json.loads((folder / "buildings" / f"{OSM_ITEM}.json").read_text())
    item |= {"id": PLACES_ITEM, "collection": "places"}
    item["assets"] = {"data": item["assets"]["data"] | {"href": "places.geojson"}}
    for link in item["links"]:
        link["href"] = "../collections/places.json"
    (folder / "buildings" / f"{PLACES_ITEM}.json").write_text(json.dumps(item))
    collection = json.loads((folder / "collections" / "buildings-osm.json").read_text())
    collection |= {"id": "places", "title": "places", "description": "Sensitive places"}
    (folder / "collections" / "places.json").write_text(json.dumps(collection))
    return folder


@pytest.fixture(scope="module")
def settings(empty_database_factory, redis_url: str, town: Path, tmp_path_factory) -> Settings:
    return scenes_platform_settings(
        empty_database_factory("desealing"),
        redis_url,
        "desealing",
        town,
        tmp_path_factory.mktemp("desealing-storage"),
    )


@pytest.fixture(scope="module")
def rochelle(settings: Settings, tmp_path_factory) -> Outcome:
    inputs = {"territory": "17300", "datetime": SUMMERS}
    return execute(settings, inputs, tmp_path_factory.mktemp("desealing-job"), PROCESS)


def sectors(outcome: Outcome) -> list:
    return sorted(
        (f for f in outcome.features if f.indicator == "desealing-sectors"),
        key=lambda f: f.properties["rank"],
    )


def test_planted_car_parks_rank_first(rochelle: Outcome, town: Path) -> None:
    found = sectors(rochelle)
    paved = shapely.union_all(
        [
            shape(f["geometry"])
            for f in json.loads((town / LCZ_UNITS).read_text())["features"]
            if f["properties"]["lcz"] == PAVED
        ]
    )
    top = found[:TOP]
    hits = [f.geometry.intersection(paved).area / f.geometry.area >= 0.5 for f in top]
    precision = sum(hits) / len(top)
    print(
        f"\n17300: {len(found)} sectors; top {len(top)} (score, ha, in a planted paved parcel): "
        + ", ".join(
            f"{f.properties['score']:.3f}/{f.properties['area_ha']:.2f}/{'yes' if hit else 'no'}"
            for f, hit in zip(top, hits, strict=True)
        )
        + f"; precision {precision:.0%}"
    )
    assert len(top) == TOP
    assert precision >= PRECISION_GOAL
    assert [f.properties["rank"] for f in found] == list(range(1, len(found) + 1))
    scores = [f.properties["score"] for f in found]
    assert scores == sorted(scores, reverse=True)


def test_no_sector_under_a_building(rochelle: Outcome, town: Path) -> None:
    """Footprints are read in longitude/latitude here from the OSM-like file (the same
    buildings as the BD TOPO-like one the process read)."""
    _, _, geometry, _ = pyogrio.raw.read(town / OSM)
    built = shapely.union_all(shapely.make_valid(shapely.from_wkb(geometry)))
    found = sectors(rochelle)
    under = np.array([f.geometry.intersection(built).area / f.geometry.area for f in found])
    areas = np.array([f.geometry.area for f in found])
    print(
        f"\nsectors' area under building footprints: {(under * areas).sum() / areas.sum():.2%} "
        f"at most {under.max():.2e} of a sector"
    )
    assert under.max() < MAX_BUILT_OVERLAP
    assert not any(built.contains(f.geometry.representative_point()) for f in found)


def test_outputs_cog_and_figures(rochelle: Outcome, town: Path) -> None:
    sample = sectors(rochelle)[0].properties
    for name in ("area_ha", "sealed_share", "mean_lst_c", "canopy_share", "score", "rank"):
        assert sample[name] is not None
    assert sample["commune"] == "17300" and sample["sealed_share"] >= 0.5
    [item] = [i for i in rochelle.items if "desealing-priority" in json.dumps(i["assets"])]
    href = next(iter(item["assets"].values()))["href"]
    with rasterio.open(href) as cog:
        values = cog.read(1, masked=True)
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.count() > 0
    figures = rochelle.results["figures"]["value"]["17300"]
    print(f"\n17300 figures: { {k: v for k, v in figures.items() if k != 'definitions'} }")
    assert figures["candidate_area_ha"] > figures["sector_area_ha"] > 0
    assert figures["sectors"] == len(sectors(rochelle))
    assert figures["top_sector_score"] == sample["score"]
    assert figures["places"] is False and "score" in figures["definitions"]
    rows = [s for s in rochelle.statistics if s.code == "17300"]
    assert rows and rows[0].indicator == "desealing-priority"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"datetime": "2021-07-01/2021-07-16"}, "no scene of collection 'landsat-c2-l2'"),
        ({"buildings": "bd-topo-2030"}, "collection 'bd-topo-2030' has no item"),
        ({"weight_heat": 0, "weight_canopy": 0, "weight_places": 0}, "weights must not all"),
        ({"weight_heat": 0, "weight_canopy": 0}, "weight_places counts only with `places`"),
    ],
)
def test_bad_input_is_a_400(settings: Settings, tmp_path: Path, inputs: dict, message: str) -> None:
    request = {"territory": "17300", "datetime": SUMMERS} | inputs
    with pytest.raises(BadRequestError, match=message):
        execute(settings, request, tmp_path, PROCESS)


def test_sensitive_places_raise_their_sectors(
    settings: Settings, rochelle: Outcome, town: Path, tmp_path: Path
) -> None:
    """With `places`, the weights sum to 1 instead of 0.8: a sector over 300 m from every
    place keeps 0.8 of its score; one holding a place adds 0.2 × its mean nearness, which is
    1 at the place and over 0.5 across a car park (under 150 m wide)."""
    inputs = {"territory": "17300", "datetime": SUMMERS, "places": "places"}
    near = sectors(execute(settings, inputs, tmp_path, PROCESS))
    features = json.loads((town / "buildings" / "places.geojson").read_text())["features"]
    places = shapely.union_all([shape(f["geometry"]) for f in features])
    before = {
        f.geometry.representative_point().wkt: f.properties["score"] for f in sectors(rochelle)
    }
    holding = [f for f in near if f.geometry.buffer(1e-9).intersects(places)]
    gains = [
        (before[f.geometry.representative_point().wkt], f.properties["score"]) for f in holding
    ]
    print(f"\nsectors holding a school, score without and with places: {gains}")
    assert holding and all(now - 0.8 * was > 0.2 * 0.5 for was, now in gains)
    far = [f for f in near if f.geometry.distance(places) > 0.005]  # over 300 m here
    assert far and all(
        f.properties["score"]
        == pytest.approx(0.8 * before[f.geometry.representative_point().wkt], abs=2e-4)
        for f in far
    )
