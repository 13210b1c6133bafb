"""Indicator colours, true colour and the `datetime` grammar, without servers."""

from __future__ import annotations

from datetime import UTC, datetime

import pystac
import pytest

from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS, LCZ_CLASSES
from territoires.tiles.intervals import Interval, parse_interval
from territoires.tiles.styles import (
    indicator_colormap,
    lut_index,
    parse_colour,
    style_of,
    true_colour_assets,
)

from .data import SCENE_BANDS, cog_asset


def item(assets: dict) -> pystac.Item:
    return pystac.Item.from_dict(
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": "x",
            "bbox": [0, 0, 1, 1],
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "properties": {"datetime": "2025-01-01T00:00:00Z"},
            "assets": assets,
            "links": [],
        }
    )


@pytest.mark.parametrize(
    "indicator_id", [i for i, v in INDICATORS.items() if v.kind == "continuous"]
)
def test_continuous_tables_hit_every_legend_stop(indicator_id: str) -> None:
    indicator = INDICATORS[indicator_id]
    table = indicator_colormap(indicator_id)
    assert sorted(table) == list(range(256))
    for entry in indicator.legend:
        index = lut_index(indicator, entry.value)
        expected = parse_colour(entry.color)
        assert all(abs(a - b) <= 6 for a, b in zip(table[index], expected, strict=True)), entry


def test_continuous_table_interpolates_between_stops() -> None:
    ndvi = INDICATORS["ndvi"]
    table = indicator_colormap("ndvi")
    # Halfway between 0.2 (#f2e394) and 0.5 (#7fbf4d): the mean of both colours.
    middle = table[lut_index(ndvi, 0.35)]
    low, high = parse_colour("#f2e394"), parse_colour("#7fbf4d")
    assert all(abs(m - (a + b) / 2) <= 3 for m, a, b in zip(middle, low, high, strict=True))


def test_lcz_uses_the_standard_colours_one_per_class() -> None:
    table = indicator_colormap("lcz")
    assert table == {int(e.value): parse_colour(e.color) for e in LCZ_CLASSES}
    assert table[1] == (0x8C, 0x00, 0x00, 255)  # compact high-rise
    assert table[17] == (0x6A, 0x6A, 0xFF, 255)  # water


def test_transparent_legend_entries_stay_transparent() -> None:
    assert indicator_colormap("flood-extent")[0][3] == 0


def test_indicator_style_reads_its_asset_with_range_and_nodata() -> None:
    style = style_of(
        "ndvi",
        item({"ndvi": cog_asset("/s/ndvi.tif"), "thumb": {"href": "/t.png", "type": "image/png"}}),
    )
    assert style.assets == ("ndvi",)
    assert style.rescale == ((-1.0, 1.0),)
    assert style.nodata == -9999.0
    categorical = style_of("lcz", item({"data": cog_asset("/s/lcz.tif")}))
    assert categorical.rescale is None and categorical.nodata == 0


def test_scene_style_is_true_colour_from_common_names() -> None:
    assets = {
        band: cog_asset(
            f"/s/{band}.tif",
            **{
                "eo:bands": [{"name": band, "common_name": name}],
                "raster:bands": [{"scale": 0.0001, "offset": -0.1}],
            },
        )
        for band, (name, _) in SCENE_BANDS.items()
    }
    assets["B08"] = cog_asset("/s/B08.tif", **{"eo:bands": [{"name": "B08", "common_name": "nir"}]})
    style = style_of("sentinel-2-l2a", item(assets))
    assert style.assets == ("B04", "B03", "B02")
    # 0 and 30 % reflectance with offset −0.1: digital numbers 1000 and 4000.
    assert style.rescale is not None
    assert style.rescale[0] == pytest.approx((1000.0, 4000.0))
    assert style.colormap is None


def test_one_visual_asset_gives_its_bands_in_rgb_order() -> None:
    bands = [{"name": n, "common_name": n} for n in ("blue", "green", "red")]
    visual = cog_asset(
        "/s/tci.tif", **{"eo:bands": bands, "raster:bands": [{"data_type": "uint8"}] * 3}
    )
    stac = item({"visual": visual})
    assert true_colour_assets(stac) == ({"name": "visual", "indexes": [3, 2, 1]},)
    assert style_of("sentinel-2-l2a", stac).rescale is None


def test_a_scene_without_colour_bands_shows_its_first_raster() -> None:
    style = style_of(
        "sentinel-1-grd", item({"vv": cog_asset("/s/vv.tif"), "vh": cog_asset("/s/vh.tif")})
    )
    assert style.assets == ("vv",) and style.rescale is None


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        (
            "2025-07-15T11:00:00Z",
            datetime(2025, 7, 15, 11, tzinfo=UTC),
            datetime(2025, 7, 15, 11, tzinfo=UTC),
        ),
        (
            "2025-07-15",
            datetime(2025, 7, 15, tzinfo=UTC),
            datetime(2025, 7, 15, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        (
            "2025-01-01/2025-12-31",
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
        ("../2025-01-01T00:00:00+01:00", None, datetime(2024, 12, 31, 23, tzinfo=UTC)),
        ("2025-01-01T00:00:00Z/..", datetime(2025, 1, 1, tzinfo=UTC), None),
    ],
)
def test_datetime_parameter(text: str, start: datetime | None, end: datetime | None) -> None:
    assert parse_interval(text) == Interval(start, end)


@pytest.mark.parametrize(
    "text", ["", "..", "../..", "yesterday", "2025-13-01", "2025-02-01/2025-01-01"]
)
def test_bad_datetime_parameter(text: str) -> None:
    with pytest.raises(BadRequestError, match="datetime"):
        parse_interval(text)
