"""Vector results as vector tiles: stored features come back, decoded by GDAL's MVT driver, with
their properties, filtered by job and period; the TileJSON, the OGC vector tileset and the
MapLibre style lead to them; bad input is a 4xx Problem Details."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import morecantile
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import insert, text

from territoires.shared.database import create_sync_database
from territoires.shared.indicators import INDICATORS, Indicator, LegendEntry, register
from territoires.shared.models import Job, JobStatus, ResultFeature
from territoires.shared.settings import Settings
from territoires.tiles.vector_style import maplibre_style

from .test_ogc import links_of, valid

MVT = "application/vnd.mapbox-vector-tile"
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")
# The middle of La Rochelle's zoom 12 tile, so that every feature lies in one tile from z 0 to 13.
_MIDDLE = WEB_MERCATOR.bounds(WEB_MERCATOR.tile(-1.2307, 46.1788, 12))
LA_ROCHELLE = ((_MIDDLE.left + _MIDDLE.right) / 2, (_MIDDLE.bottom + _MIDDLE.top) / 2)
ZONES = Indicator(
    id="test-heat-zones",
    title="Test heat zones",
    description="Polygons of a heat class, a vector result of the tests.",
    unit="class",
    kind="categorical",
    value_range=(1, 3),
    legend=(
        LegendEntry(1, "#ffffb2", "mild"),
        LegendEntry(2, "#fd8d3c", "hot"),
        LegendEntry(3, "#bd0026cc", "very hot"),
    ),
    form="vector",
    geometry_type="Polygon",
    colour_by="heat_class",
)
BASE = f"/tiles/vector/collections/{ZONES.id}"
SUMMER_2025 = (datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 31, tzinfo=UTC))
SUMMER_2024 = (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 31, tzinfo=UTC))


@pytest.fixture(scope="module", autouse=True)
def registered_zones() -> Iterator[None]:
    """The test indicator in the registry for this module only: other modules' services
    (the catalog's Features collections) see the registry as shipped."""
    register(ZONES)
    yield
    INDICATORS.pop(ZONES.id, None)


def square(lon: float, lat: float, half: float = 0.002) -> str:
    return box(lon - half, lat - half, lon + half, lat + half).wkt


@pytest.fixture(scope="module")
def jobs(tiles_settings: Settings) -> Iterator[dict[str, uuid.UUID]]:
    """Two jobs' features around La Rochelle: three squares of 2025, one of 2024."""
    ids = {"2025": uuid.uuid4(), "2024": uuid.uuid4()}
    lon, lat = LA_ROCHELLE
    rows = [
        (
            ids["2025"],
            SUMMER_2025,
            square(lon + 0.01 * (i - 2), lat),
            {"heat_class": i, "area_m2": 9e4},
        )
        for i in (1, 2, 3)
    ] + [(ids["2024"], SUMMER_2024, square(lon, lat + 0.01), {"heat_class": 2, "note": "old"})]
    engine = create_sync_database(tiles_settings.database_url)
    with engine.begin() as connection:
        for job_id in ids.values():
            connection.execute(
                insert(Job).values(id=job_id, process_id="test", status=JobStatus.SUCCESSFUL)
            )
        connection.execute(
            insert(ResultFeature),
            [
                {
                    "indicator": ZONES.id,
                    "job_id": job_id,
                    "territory_code": "17300",
                    "period_start": period[0],
                    "period_end": period[1],
                    "properties": properties,
                    "geometry": f"SRID=4326;{wkt}",
                }
                for job_id, period, wkt, properties in rows
            ],
        )
    try:
        yield ids
    finally:
        with engine.begin() as connection:
            connection.execute(
                text("DELETE FROM jobs WHERE id = ANY(:ids)"), {"ids": list(ids.values())}
            )
        engine.dispose()


@pytest.fixture(scope="module")
def client(tiles_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiles_url, timeout=30) as http:
        yield http


def decode(content: bytes, tile: morecantile.Tile, layer: str) -> list[dict[str, Any]]:
    """The features of one layer of a tile, as GDAL reads them (geometry in EPSG:3857)."""
    meta, _, geometries, values = pyogrio.raw.read(
        content, layer=layer, x=tile.x, y=tile.y, z=tile.z
    )
    return [
        {"geometry": shapely.from_wkb(geometry)}
        | {name: column[index] for name, column in zip(meta["fields"], values, strict=True)}
        for index, geometry in enumerate(geometries)
    ]


def expected_count(settings: Settings, tile: morecantile.Tile, job_id: uuid.UUID | None) -> int:
    """What PostGIS says lies in the tile, counted apart from the tile query."""
    engine = create_sync_database(settings.database_url)
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM result_features WHERE indicator = :indicator"
                " AND ST_Intersects(ST_Transform(geometry, 3857), ST_TileEnvelope(:z, :x, :y))"
                " AND (CAST(:job AS uuid) IS NULL OR job_id = CAST(:job AS uuid))"
            ),
            {"indicator": ZONES.id, "z": tile.z, "x": tile.x, "y": tile.y, "job": job_id},
        ).scalar_one()
    engine.dispose()
    return count


def tile_path(tile: morecantile.Tile, query: str = "") -> str:
    return f"{BASE}/tiles/WebMercatorQuad/{tile.z}/{tile.x}/{tile.y}{query}"


def test_a_tile_holds_the_features_and_their_properties(
    client: httpx.Client, jobs: dict[str, uuid.UUID], tiles_settings: Settings
) -> None:
    tile = WEB_MERCATOR.tile(*LA_ROCHELLE, 12)
    response = client.get(tile_path(tile))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    features = decode(response.content, tile, ZONES.id)
    assert len(features) == expected_count(tiles_settings, tile, None) == 4
    newest = sorted(
        (f for f in features if f["job_id"] == str(jobs["2025"])), key=lambda f: f["heat_class"]
    )
    assert [f["heat_class"] for f in newest] == [1, 2, 3]
    assert all(f["territory_code"] == "17300" and f["area_m2"] == 9e4 for f in newest)
    assert newest[0]["period_start"].startswith("2025-07-01")
    centre = shapely.Point(WEB_MERCATOR.xy(*LA_ROCHELLE))
    assert newest[1]["geometry"].centroid.distance(centre) < 20  # metres, a 4096 grid at z12


def test_job_and_datetime_filters(
    client: httpx.Client, jobs: dict[str, uuid.UUID], tiles_settings: Settings
) -> None:
    tile = WEB_MERCATOR.tile(*LA_ROCHELLE, 12)
    of_job = decode(client.get(tile_path(tile, f"?job_id={jobs['2024']}")).content, tile, ZONES.id)
    assert len(of_job) == expected_count(tiles_settings, tile, jobs["2024"]) == 1
    assert of_job[0]["note"] == "old"
    july = client.get(tile_path(tile, "?datetime=2025-07-10"))
    assert {f["job_id"] for f in decode(july.content, tile, ZONES.id)} == {str(jobs["2025"])}
    interval = client.get(tile_path(tile, "?datetime=2024-01-01/2024-12-31"))
    assert len(decode(interval.content, tile, ZONES.id)) == 1
    assert client.get(tile_path(tile, "?datetime=2020-01-01")).status_code == 204


def test_a_tile_without_features_is_204(client: httpx.Client, jobs: dict[str, uuid.UUID]) -> None:
    tile = WEB_MERCATOR.tile(6.86, 45.83, 12)  # the Alps: no result there
    response = client.get(tile_path(tile))
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tiles/vector/collections/ndvi/tiles/WebMercatorQuad/0/0/0", 404),  # raster indicator
        ("/tiles/vector/collections/nope/tiles/WebMercatorQuad/0/0/0", 404),
        ("/tiles/vector/collections/nope/WebMercatorQuad/tilejson.json", 404),
        (f"{BASE}/tiles/LAM93/0/0/0", 404),
        (f"{BASE}/tiles/WebMercatorQuad/3/8/0", 400),
        (f"{BASE}/tiles/WebMercatorQuad/3/0/8", 400),
        (f"{BASE}/tiles/WebMercatorQuad/23/0/0", 400),
        (f"{BASE}/tiles/WebMercatorQuad/-1/0/0", 400),
        (f"{BASE}/tiles/WebMercatorQuad/a/0/0", 400),
        (f"{BASE}/tiles/WebMercatorQuad/0/0/0?job_id=not-a-uuid", 400),
        (f"{BASE}/tiles/WebMercatorQuad/0/0/0?datetime=July", 400),
        (f"{BASE}/tiles/WebMercatorQuad/0/0/0?datetime=2025-02-01/2025-01-01", 400),
        (f"{BASE}/WebMercatorQuad/style.json?datetime=July", 400),
        (f"{BASE}/tiles/WebMercatorQuad?job_id=1", 400),
    ],
)
def test_bad_requests_are_problem_details(client: httpx.Client, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


def test_tilejson_leads_to_the_tiles(client: httpx.Client, jobs: dict[str, uuid.UUID]) -> None:
    document = client.get(f"{BASE}/WebMercatorQuad/tilejson.json?job_id={jobs['2025']}").json()
    assert document["tilejson"] == "3.0.0"
    west, south, east, north = document["bounds"]
    assert west < LA_ROCHELLE[0] < east and south < LA_ROCHELLE[1] < north
    assert east - west < 0.1  # the 2025 job's features, not the world
    (layer,) = document["vector_layers"]
    assert layer["id"] == ZONES.id
    assert {"heat_class", "area_m2", "job_id", "period_start"} <= set(layer["fields"])
    assert "note" not in layer["fields"]  # only the 2024 job has it
    tile = WEB_MERCATOR.tile(*LA_ROCHELLE, 13)
    (template,) = document["tiles"]
    assert f"job_id={jobs['2025']}" in template
    response = client.get(template.format(z=tile.z, x=tile.x, y=tile.y))
    assert response.status_code == 200 and response.headers["content-type"] == MVT
    assert {f["job_id"] for f in decode(response.content, tile, ZONES.id)} == {str(jobs["2025"])}


def test_the_ogc_vector_tileset(client: httpx.Client, jobs: dict[str, uuid.UUID]) -> None:
    (listed,) = client.get(f"{BASE}/tiles").json()["tilesets"]
    tileset = client.get(f"{BASE}/tiles/WebMercatorQuad").json()
    assert listed == tileset
    assert tileset["dataType"] == "vector" and tileset["layers"][0]["id"] == ZONES.id
    assert tileset["layers"][0]["geometryDimension"] == 2
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    links = {link["rel"]: link for link in tileset["links"]}
    assert client.get(
        links["http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"]["href"]
    ).is_success
    item = links["item"]
    assert item["type"] == MVT and item["templated"]
    tile = WEB_MERCATOR.tile(*LA_ROCHELLE, 11)
    href = item["href"].format(tileMatrix=tile.z, tileCol=tile.x, tileRow=tile.y)
    assert len(decode(client.get(href).content, tile, ZONES.id)) == 4
    assert client.get(links["stylesheet"]["href"]).json()["version"] == 8


def test_the_style_colours_by_the_legend(client: httpx.Client, jobs: dict[str, uuid.UUID]) -> None:
    style = client.get(f"{BASE}/WebMercatorQuad/style.json?job_id={jobs['2025']}").json()
    source = style["sources"][ZONES.id]
    assert source["type"] == "vector" and f"job_id={jobs['2025']}" in source["url"]
    assert client.get(source["url"]).json()["vector_layers"][0]["id"] == ZONES.id
    fill = next(layer for layer in style["layers"] if layer["type"] == "fill")
    assert fill["source-layer"] == ZONES.id
    assert fill["paint"]["fill-color"] == [
        "match",
        ["to-number", ["get", "heat_class"]],
        1,
        "rgba(255, 255, 178, 1.0)",
        2,
        "rgba(253, 141, 60, 1.0)",
        3,
        "rgba(189, 0, 38, 0.8)",
        "rgba(0, 0, 0, 0)",
    ]


def test_continuous_points_and_lines_get_a_ramp() -> None:
    ramp = Indicator(
        id="ramp",
        title="Ramp",
        description="",
        unit="m2",
        kind="continuous",
        value_range=(0, 10),
        legend=(LegendEntry(10, "#ffffff", "high"), LegendEntry(0.5, "#000000", "low")),
        form="vector",
        geometry_type="MultiPoint",
        colour_by="area",
    )
    style = maplibre_style(ramp, "http://x/tilejson.json", "us")
    (layer,) = style["layers"]
    assert layer["type"] == "circle"
    assert layer["paint"]["circle-color"] == [
        "interpolate",
        ["linear"],
        ["to-number", ["get", "area"]],
        0.5,
        "rgba(0, 0, 0, 1.0)",
        10,
        "rgba(255, 255, 255, 1.0)",
    ]
    lines = maplibre_style(Indicator(**{**ramp.__dict__, "geometry_type": "LineString"}), "u", "us")
    assert [layer["type"] for layer in lines["layers"]] == ["line"]


def test_vector_tiles_through_the_gateway(
    tiles_gateway_url: str, jobs: dict[str, uuid.UUID]
) -> None:
    tile = WEB_MERCATOR.tile(*LA_ROCHELLE, 12)
    response = httpx.get(f"{tiles_gateway_url}{tile_path(tile)}", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == MVT
    assert response.headers["etag"]
    assert len(decode(response.content, tile, ZONES.id)) == 4
    assert ZONES.id in INDICATORS


def test_vector_collections_are_discovered_and_validate(
    tiles_gateway_url: str, jobs: dict[str, uuid.UUID]
) -> None:
    with httpx.Client(base_url=tiles_gateway_url, timeout=30) as gateway:
        conformance = gateway.get("/tiles/conformance").json()["conformsTo"]
        assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance
        listed = {c["id"]: c for c in gateway.get("/tiles/collections").json()["collections"]}
        collection = gateway.get(f"/tiles/collections/{ZONES.id}").json()
        assert listed[ZONES.id] == collection and collection["dataType"] == "vector"
        valid(collection, "features-1.0:collection")
        links = {link["rel"]: link["href"] for link in collection["links"]}
        tilesets = gateway.get(links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"])
        valid(tilesets.json(), "tiles-1.0:tileSetsList")
        tileset = gateway.get(f"{BASE}/tiles/WebMercatorQuad").json()
        valid(tileset, "tiles-1.0:tileSet")
        hrefs = list(links_of(tileset)) + list(links_of(collection))
        assert all(href.startswith(tiles_gateway_url) for href in hrefs), hrefs
        assert "ndvi" not in {c["id"] for c in listed.values() if c["dataType"] == "vector"}
