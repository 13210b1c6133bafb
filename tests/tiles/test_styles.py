"""Indicator colours, true colour and the `datetime` grammar, without servers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy
import pystac
import pytest
from rio_tiler.models import ImageData

from territoires.shared.errors import BadRequestError
from territoires.shared.indicators import INDICATORS, LCZ_CLASSES
from territoires.tiles.algorithms import LogScale, PercentileStretch, Steps
from territoires.tiles.intervals import Interval, parse_interval
from territoires.tiles.styles import (
    indicator_colormap,
    lut_index,
    parse_colour,
    style_of,
    true_colour_assets,
)

from .data import SCENE_BANDS, cog_asset


def item(assets: dict, **properties: Any) -> pystac.Item:
    return pystac.Item.from_dict(
        {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": "x",
            "bbox": [0, 0, 1, 1],
            "geometry": {"type": "Point", "coordinates": [0, 0]},
            "properties": {"datetime": "2025-01-01T00:00:00Z", **properties},
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


def raster(data_type: str, count: int = 1, **band: Any) -> dict[str, Any]:
    return {"raster:bands": [{"data_type": data_type, **band}] * count}


def test_sar_backscatter_in_db_is_grey_over_minus_25_to_0() -> None:
    stac = item(
        {
            "vh": cog_asset("/s/vh.tif", **raster("float32", unit="dB")),
            "vv": cog_asset("/s/vv.tif", **raster("float32", unit="dB")),
        },
        **{"sar:polarizations": ["VV", "VH"]},
    )
    style = style_of("any-sar-collection", stac)
    assert style.assets == ("vv",) and style.rescale == ((-25.0, 0.0),)
    assert style.colormap is None and style.process is None


def test_linear_sar_backscatter_is_turned_into_decibels() -> None:
    stac = item({"hh": cog_asset("/s/hh.tif", **raster("float32"))}, **{"sar:product_type": "RTC"})
    style = style_of("sentinel-1-rtc", stac)
    assert style.assets == ("hh",) and isinstance(style.process, LogScale)
    assert style.process.factor == 10.0 and style.rescale == ((-25.0, 0.0),)


def test_night_radiance_stack_shows_the_log_of_its_recent_nights_median() -> None:
    stac = item(
        {"radiance": cog_asset("/s/r.tif", **raster("uint16", 400, scale=0.1, unit="nW cm-2 sr-1"))}
    )
    style = style_of("viirs-dnb-night", stac)
    assert style.assets == ({"name": "radiance", "indexes": list(range(385, 401))},)
    assert isinstance(style.process, Steps) and style.rescale == ((-1.0, 2.0),)
    single = style_of(
        "viirs-monthly", item({"avg": cog_asset("/s/a.tif", **raster("float32", unit="nW"))})
    )
    assert single.assets == ("avg",) and isinstance(single.process, LogScale)


def test_night_radiance_process_is_median_then_log10_of_radiance() -> None:
    nights = numpy.ma.masked_equal(
        numpy.array([[[10, 65535]], [[30, 65535]], [[65535, 65535]]], dtype="uint16"), 65535
    )
    stac = item(
        {"radiance": cog_asset("/s/r.tif", **raster("uint16", 3, scale=0.1, unit="nW cm-2 sr-1"))}
    )
    process = style_of("viirs", stac).process
    assert process is not None
    image = process(ImageData(nights, band_descriptions=["a", "b", "c"]))
    assert image.count == 1
    # Median of 1.0 and 3.0 nW: 2.0; the pixel cloudy every night stays masked.
    assert image.array[0, 0, 0] == pytest.approx(numpy.log10(2.0))
    assert bool(image.array.mask[0, 0, 1])


def test_surface_temperature_in_kelvin_spans_minus_5_to_45_celsius() -> None:
    band = raster("uint16", scale=0.00341802, offset=149.0, unit="kelvin")
    stac = item(
        {
            "red": cog_asset("/s/red.tif", **{"eo:bands": [{"common_name": "red"}]}),
            "lwir11": cog_asset("/s/st.tif", **{"eo:bands": [{"common_name": "lwir11"}]}, **band),
        }
    )
    style = style_of("landsat-c2-l2", stac)
    assert style.assets == ("lwir11",) and style.colormap is not None
    low, high = style.rescale[0]  # type: ignore[index]
    assert low * 0.00341802 + 149.0 == pytest.approx(268.15)
    assert high * 0.00341802 + 149.0 == pytest.approx(318.15)


def test_thermal_radiance_spans_the_brightness_temperatures() -> None:
    """Landsat 8 band 10 radiance (Collection 1 or Level-1): digital numbers whose brightness
    temperature, K2 / ln(K1 / L + 1), is −5 and 45 °C."""
    band = raster("uint16", scale=3.342e-4, offset=0.1, unit="W/(m2 sr um)")
    stac = item({"B10": cog_asset("/s/b10.tif", **band)})
    low, high = style_of("landsat-c2-l2", stac).rescale[0]  # type: ignore[index]
    for number, celsius in ((low, -5.0), (high, 45.0)):
        radiance = number * 3.342e-4 + 0.1
        kelvin = 1321.0789 / numpy.log(774.8853 / radiance + 1)
        assert kelvin - 273.15 == pytest.approx(celsius)


def test_a_single_band_is_stretched_from_its_statistics() -> None:
    histogram = {"count": 4, "min": 0, "max": 400, "buckets": [1, 48, 49, 2]}
    from_histogram = style_of(
        "dem", item({"data": cog_asset("/s/h.tif", **raster("int16", histogram=histogram))})
    )
    # 1 % of the values in the first bucket, 2 % in the last: the 2–98 % span is 100–300.
    assert from_histogram.rescale == ((100.0, 300.0),)
    statistics = {"minimum": 0, "maximum": 1000, "mean": 300, "stddev": 100}
    from_moments = style_of(
        "dem", item({"data": cog_asset("/s/s.tif", **raster("float32", statistics=statistics))})
    )
    assert from_moments.rescale == ((100.0, 500.0),)
    assert from_moments.process is None


def test_a_single_band_without_statistics_gets_a_visible_stretch() -> None:
    style = style_of(
        "sentinel-1-grd", item({"vv": cog_asset("/s/vv.tif"), "vh": cog_asset("/s/vh.tif")})
    )
    assert style.assets == ("vv",) and style.rescale is None
    assert isinstance(style.process, PercentileStretch)
    eight_bit = style_of("classes", item({"data": cog_asset("/s/c.tif", **raster("uint8"))}))
    assert eight_bit.process is None and eight_bit.rescale is None
    stack = style_of("stack", item({"data": cog_asset("/s/c.tif", **raster("int16", 30))}))
    assert stack.assets == ({"name": "data", "indexes": [1]},)


def test_percentile_stretch_spans_0_to_255_and_keeps_the_mask() -> None:
    values = numpy.ma.masked_equal(numpy.arange(-50, 51, dtype="float32").reshape(1, 1, 101), 0)
    image = PercentileStretch()(ImageData(values))
    assert image.array.dtype == numpy.uint8
    assert image.array.min() == 0 and image.array.max() == 255
    assert bool(image.array.mask[0, 0, 50])
    flat = PercentileStretch()(ImageData(numpy.ma.MaskedArray(numpy.full((1, 2, 2), 7.0))))
    assert (flat.array == 128).all()


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
