"""Tiles of catalogued results decode to the values and colours their COGs and the indicator
registry say, in every grid, per item and as collection mosaics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy
import pytest

from territoires.shared.indicators import INDICATORS
from territoires.tiles.styles import indicator_colormap, lut_index

from .data import OLDER_NDVI, SCENE_BANDS, lcz_at, ndvi_at, older_at
from .pixels import GRIDS, cell_size_m, decode_npy, decode_png, pixel_centres

# Near the corner of the nodata block: tiles there hold values, nodata and the outside.
LA_ROCHELLE = (-1.2307, 46.1788)
NDVI_ITEM = "/tiles/collections/ndvi/items/ndvi-2025"
# Zooms where a tile pixel is 10–40 m, like the result's own 10 m pixels and overviews.
GRID_ZOOMS = {"WebMercatorQuad": 13, "UTM30WGS84Quad": 12, "LAM93": 9, "WorldCRS84Quad": 12}


@pytest.fixture(scope="module")
def client(tiles_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiles_url, timeout=30) as http:
        yield http


def tile_path(
    prefix: str, grid: str, zoom: int, extension: str, query: str = ""
) -> tuple[str, object]:
    tile = GRIDS.get(grid).tile(*LA_ROCHELLE, zoom)
    return f"{prefix}/tiles/{grid}/{tile.z}/{tile.x}/{tile.y}.{extension}{query}", tile


def expected_samples(grid: str, tile, zoom: int, read=ndvi_at):
    """(row, col, value) of sampled pixels away from block edges; value None for nodata."""
    margin = 2.5 * cell_size_m(grid, zoom)
    for row, col, lon, lat in pixel_centres(grid, tile, 256, 8):
        value = read(lon, lat, margin)
        if value != "edge":
            yield row, col, value


@pytest.mark.parametrize("grid", list(GRID_ZOOMS))
def test_npy_tile_holds_the_result_values(client: httpx.Client, grid: str) -> None:
    zoom = GRID_ZOOMS[grid]
    path, tile = tile_path(NDVI_ITEM, grid, zoom, "npy")
    response = client.get(path)
    assert response.status_code == 200, response.text
    values, valid = decode_npy(response.content)
    assert values.shape == (1, 256, 256)
    checked = nodata = 0
    for row, col, expected in expected_samples(grid, tile, zoom):
        if expected is None:
            assert not valid[row, col], (row, col)
            nodata += 1
        else:
            assert valid[row, col], (row, col, expected)
            assert values[0, row, col] == numpy.float32(expected), (row, col)
            checked += 1
    assert checked > 100 and nodata > 10, (checked, nodata)


def test_png_tile_has_the_indicator_colours_with_no_parameters(client: httpx.Client) -> None:
    zoom = GRID_ZOOMS["WebMercatorQuad"]
    path, tile = tile_path(NDVI_ITEM, "WebMercatorQuad", zoom, "png")
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgba = decode_png(response.content)
    table, ndvi = indicator_colormap("ndvi"), INDICATORS["ndvi"]
    checked = 0
    for row, col, expected in expected_samples("WebMercatorQuad", tile, zoom):
        pixel = rgba[:, row, col]
        if expected is None:
            assert pixel[3] == 0, (row, col)
            continue
        colour = table[lut_index(ndvi, expected)]
        assert numpy.abs(pixel.astype(int) - colour).max() <= 3, (row, col, expected, pixel, colour)
        checked += 1
    assert checked > 100
    # Without an extension a tile is PNG too (TiTiler would pick JPEG for full tiles).
    assert client.get(path.removesuffix(".png")).headers["content-type"] == "image/png"


def test_categorical_tiles_use_one_colour_per_class(client: httpx.Client) -> None:
    zoom = 12
    path, tile = tile_path("/tiles/collections/lcz/items/lcz-2025", "WebMercatorQuad", zoom, "png")
    rgba = decode_png(client.get(path).content)
    table = indicator_colormap("lcz")
    classes = set()
    for row, col, expected in expected_samples("WebMercatorQuad", tile, zoom, lcz_at):
        pixel = tuple(int(v) for v in rgba[:, row, col])
        if expected in (None, 0):
            assert pixel[3] == 0
        else:
            assert pixel == table[expected], (row, col, expected, pixel)
            classes.add(expected)
    assert len(classes) >= 2


def test_scenes_render_in_true_colour_by_default(client: httpx.Client) -> None:
    path, _ = tile_path(
        "/tiles/collections/sentinel-2-l2a/items/S2-T30TXS-20250715", "WebMercatorQuad", 12, "png"
    )
    response = client.get(path)
    assert response.status_code == 200, response.text
    rgba = decode_png(response.content)
    opaque = rgba[3] == 255
    assert opaque.sum() > 10_000
    # Reflectance stretched over 0–30 %: 15 % → 127, 7.5 % → 63, 30 % → 255.
    expected = [int(value / 3000 * 255) for _, value in SCENE_BANDS.values()]
    assert [sorted(set(rgba[band][opaque].tolist())) for band in range(3)] == [
        [v] for v in expected
    ]


def test_query_parameters_still_override_the_style(client: httpx.Client) -> None:
    path, _ = tile_path(NDVI_ITEM, "WebMercatorQuad", 13, "png")
    default = decode_png(client.get(path).content)
    grey = decode_png(client.get(f"{path}?rescale=-1,1&colormap_name=greys").content)
    assert not numpy.array_equal(default[:3], grey[:3])


def test_collection_mosaic_fills_nodata_from_older_items(client: httpx.Client) -> None:
    zoom = GRID_ZOOMS["WebMercatorQuad"]
    path, tile = tile_path("/tiles/collections/ndvi", "WebMercatorQuad", zoom, "npy")
    values, valid = decode_npy(client.get(path).content)
    margin = 2.5 * cell_size_m("WebMercatorQuad", zoom)
    underneath = 0
    for row, col, lon, lat in pixel_centres("WebMercatorQuad", tile, 256, 8):
        newest, older_covers = ndvi_at(lon, lat, margin), older_at(lon, lat, margin)
        if newest is None and older_covers is True:
            # The newest result's nodata block shows the older result underneath.
            assert valid[row, col] and values[0, row, col] == numpy.float32(OLDER_NDVI)
            underneath += 1
        elif newest not in (None, "edge"):
            assert values[0, row, col] == numpy.float32(newest)
    assert underneath > 10


@pytest.mark.parametrize(
    ("datetime", "status", "value"),
    [
        ("2024-07-15", 200, OLDER_NDVI),
        ("2024-07-15T11:00:00Z", 200, OLDER_NDVI),
        ("2024-01-01/2024-12-31", 200, OLDER_NDVI),
        ("2023-01-01", 204, None),
    ],
)
def test_collection_mosaic_for_a_datetime(
    client: httpx.Client, datetime: str, status: int, value: float | None
) -> None:
    path, _ = tile_path("/tiles/collections/ndvi", "WebMercatorQuad", 13, "npy")
    response = client.get(path, params={"datetime": datetime})
    assert response.status_code == status, response.text
    if value is not None:
        values, valid = decode_npy(response.content)
        assert valid.any() and (values[0][valid] == numpy.float32(value)).all()


def test_mosaic_tiles_without_items_are_empty_not_errors(client: httpx.Client) -> None:
    response = client.get("/tiles/collections/ndvi/tiles/WebMercatorQuad/12/0/0.png")
    assert response.status_code == 204 and response.content == b""


def test_item_tiles_outside_the_result_are_404_problems(client: httpx.Client) -> None:
    response = client.get(f"{NDVI_ITEM}/tiles/WebMercatorQuad/12/0/0.png")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_tilejson_info_statistics_and_point(client: httpx.Client) -> None:
    tilejson = client.get(f"{NDVI_ITEM}/WebMercatorQuad/tilejson.json").json()
    west, south, east, north = tilejson["bounds"]
    assert west < LA_ROCHELLE[0] < east and south < LA_ROCHELLE[1] < north
    assert tilejson["tiles"][0].startswith(f"{client.base_url}{NDVI_ITEM}/tiles/WebMercatorQuad/")
    assert tilejson["minzoom"] <= 11 and tilejson["maxzoom"] >= 13
    info = client.get(f"{NDVI_ITEM}/info").json()
    assert info["ndvi"]["crs"].endswith("/32630") and info["ndvi"]["nodata_value"] == -9999.0
    statistics = client.get(f"{NDVI_ITEM}/statistics").json()
    band = next(iter(statistics.values()))
    assert band["min"] == pytest.approx(-0.81) and band["max"] == pytest.approx(0.81)
    lon, lat = -1.2, 46.17
    point = client.get(f"{NDVI_ITEM}/point/{lon},{lat}").json()
    assert point["values"][0] == pytest.approx(ndvi_at(lon, lat, 0), abs=1e-6)
    mosaic_point = client.get(f"/tiles/collections/ndvi/point/{lon},{lat}").json()
    assert [a["name"] for a in mosaic_point["assets"]] == ["ndvi-2025", "ndvi-2024"]


def test_legends_as_json_and_png(client: httpx.Client) -> None:
    legend = client.get("/tiles/legend/lcz").json()
    assert legend["kind"] == "categorical" and len(legend["entries"]) == 17
    assert legend["entries"][0] == {
        "value": 1.0,
        "color": "#8c0000",
        "label": "1 Compact high-rise",
    }
    for path, headers in [
        ("/tiles/legend/ndvi.png", {}),
        ("/tiles/legend/ndvi?f=png", {}),
        ("/tiles/legend/lcz", {"Accept": "image/png"}),
    ]:
        response = client.get(path, headers=headers)
        assert response.headers["content-type"] == "image/png", path
        assert decode_png(response.content).shape[0] == 4
    assert {entry["id"] for entry in client.get("/tiles/legend").json()} == set(INDICATORS)
    missing = client.get("/tiles/legend/nope")
    assert missing.status_code == 404 and "ndvi" in missing.json()["detail"]


def test_base_map_vector_tiles(client: httpx.Client) -> None:
    tile = GRIDS.get("WebMercatorQuad").tile(*LA_ROCHELLE, 9)
    response = client.get(f"/tiles/basemap/{tile.z}/{tile.x}/{tile.y}.mvt")
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert b"departements" in response.content and b"communes" in response.content
    assert b"Rochelle" in response.content
    low = client.get("/tiles/basemap/5/15/11.mvt").content
    assert b"departements" in low and b"communes" not in low
    assert client.get("/tiles/basemap/3/9/0.mvt").status_code == 404


def test_tiles_carry_cache_validators(client: httpx.Client) -> None:
    path, _ = tile_path(NDVI_ITEM, "WebMercatorQuad", 13, "png")
    first = client.get(path)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    other, _ = tile_path(NDVI_ITEM, "WebMercatorQuad", 12, "png")
    assert client.get(other).headers["etag"] != etag
    assert "etag" not in client.get(f"{NDVI_ITEM}/info").headers
