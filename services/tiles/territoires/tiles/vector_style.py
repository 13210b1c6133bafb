"""A MapLibre style for a vector indicator, coloured from its registry legend.

The same legend that draws the raster tiles and the legend images colours the features: by the
indicator's `colour_by` property, interpolated between the legend's values (continuous) or one
colour per class value (categorical). Geometry type picks the layer kind: fill, line or circle.
"""

from __future__ import annotations

from typing import Any

from territoires.shared.indicators import Indicator
from territoires.tiles.styles import parse_colour

TRANSPARENT = "rgba(0, 0, 0, 0)"
OUTLINE = "rgba(34, 34, 34, 0.6)"


def css_colour(text: str) -> str:
    """`#rrggbb[aa]` as `rgba(…)`, which every style renderer parses."""
    red, green, blue, alpha = parse_colour(text)
    return f"rgba({red}, {green}, {blue}, {round(alpha / 255, 3)})"


def _literal(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def colour_expression(indicator: Indicator) -> Any:
    """The colour of a feature: a MapLibre expression over `colour_by`, or the legend's first
    colour when the indicator names no property."""
    if not indicator.colour_by or not indicator.legend:
        return css_colour(indicator.legend[0].color) if indicator.legend else OUTLINE
    value = ["to-number", ["get", indicator.colour_by]]
    if indicator.kind == "categorical":
        pairs = [
            part
            for entry in indicator.legend
            for part in (_literal(entry.value), css_colour(entry.color))
        ]
        return ["match", value, *pairs, TRANSPARENT]
    stops = [
        part
        for entry in sorted(indicator.legend, key=lambda e: e.value)
        for part in (_literal(entry.value), css_colour(entry.color))
    ]
    if len(indicator.legend) == 1:
        return stops[1]
    return ["interpolate", ["linear"], value, *stops]


def style_layers(indicator: Indicator, source: str) -> list[dict[str, Any]]:
    """The layers drawing the source's features by their declared geometry type."""
    common = {"source": source, "source-layer": indicator.id}
    colour = colour_expression(indicator)
    geometry = (indicator.geometry_type or "Polygon").removeprefix("Multi")
    if geometry == "Point":
        return [
            {
                "id": f"{indicator.id}-points",
                "type": "circle",
                **common,
                "paint": {
                    "circle-color": colour,
                    "circle-radius": 5,
                    "circle-stroke-color": OUTLINE,
                    "circle-stroke-width": 1,
                },
            }
        ]
    if geometry == "LineString":
        return [
            {
                "id": f"{indicator.id}-lines",
                "type": "line",
                **common,
                "paint": {"line-color": colour, "line-width": 2},
            }
        ]
    return [
        {
            "id": f"{indicator.id}-fill",
            "type": "fill",
            **common,
            "paint": {"fill-color": colour, "fill-opacity": 0.75},
        },
        {
            "id": f"{indicator.id}-outline",
            "type": "line",
            **common,
            "paint": {"line-color": OUTLINE, "line-width": 0.5},
        },
    ]


def maplibre_style(indicator: Indicator, tilejson_url: str, attribution: str) -> dict[str, Any]:
    """A complete style (version 8) with the indicator's vector source and layers."""
    return {
        "version": 8,
        "name": indicator.title,
        "metadata": {"territoires:indicator": indicator.id, "territoires:kind": indicator.kind},
        "sources": {
            indicator.id: {"type": "vector", "url": tilejson_url, "attribution": attribution}
        },
        "layers": style_layers(indicator, indicator.id),
    }
