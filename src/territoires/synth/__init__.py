"""`territoires synth`: realistic synthetic Sentinel-2, Landsat 8, Sentinel-1 and VIIRS scenes
over a territory, with the truth planted in them, so every indicator can be scored and every
benchmark can scale."""

from territoires.synth.generate import (
    DEFAULT_END,
    DEFAULT_START,
    MAX_SIZE,
    MIN_SIZE,
    SENSORS,
    Summary,
    SynthInputError,
    Target,
    generate,
    parse_bbox,
    parse_sensors,
)

__all__ = [
    "DEFAULT_END",
    "DEFAULT_START",
    "MAX_SIZE",
    "MIN_SIZE",
    "SENSORS",
    "Summary",
    "SynthInputError",
    "Target",
    "generate",
    "parse_bbox",
    "parse_sensors",
]
