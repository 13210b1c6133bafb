"""Landsat MTL metadata → STAC fields, so that readers find a scene's calibration in its item.

Landsat delivers one GeoTIFF of digital numbers per band and the constants that turn them into
physical values in a `<product>_MTL.txt` (Collection 1 and 2, the `GROUP = … / KEY = value`
layout) or `<product>_MTL.json` (Collection 2, the same groups as JSON objects). What goes where:

- item properties: `landsat:collection_number` ("01", "02"), `landsat:collection_category`,
  `landsat:correction` (the processing level: L1TP, L2SP…), `landsat:wrs_path` and
  `landsat:wrs_row` (three digits, as the STAC landsat extension spells them),
  `landsat:scene_id`, `eo:cloud_cover`, `landsat:cloud_cover_land`, `view:sun_elevation` and
  `view:sun_azimuth`;
- a band asset's `raster:bands` scale and offset: top-of-atmosphere reflectance (not corrected
  for the sun elevation) for the optical bands of a Level-1 product, radiance in W/(m² sr µm)
  for its thermal bands, surface reflectance for `SR_B*` and surface temperature in kelvin for
  `ST_B*` of a Level-2 product (the USGS constants when the MTL gives none);
- beside them on the asset, every constant the MTL gives for that band: `landsat:radiance_mult`,
  `landsat:radiance_add`, `landsat:reflectance_mult`, `landsat:reflectance_add`,
  `landsat:k1_constant` and `landsat:k2_constant` (thermal bands).

A file that cannot be read gives no field and one problem; a value that is not a number drops
its own field and says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MTL_SUFFIXES = ("_MTL.txt", "_MTL.json")
LEVEL2 = "LEVEL2"
RADIANCE_UNIT = "W/(m2 sr um)"
# Collection 2 Level-2 constants (USGS Landsat 8-9 Collection 2 Level 2 Science Product guide).
SURFACE_REFLECTANCE = (2.75e-05, -0.2)
SURFACE_TEMPERATURE = (0.00341802, 149.0)
BAND_KEY = re.compile(r"(?P<product>SR_|ST_)?B(?P<number>\d{1,2})", re.IGNORECASE)

Groups = dict[str, dict[str, str]]


class MtlError(ValueError):
    """An MTL file that cannot be read; the message says where, in one line."""


def mtl_beside(folder: Path, scene: str) -> Path | None:
    """The MTL file of a scene in its folder, if there is one (the text first, as USGS ships
    both for Collection 2 with the same content)."""
    for suffix in MTL_SUFFIXES:
        path = folder / f"{scene}{suffix}"
        if path.is_file():
            return path
    return None


def is_mtl(path: Path) -> bool:
    return path.name.upper().endswith(tuple(suffix.upper() for suffix in MTL_SUFFIXES))


def read_groups(path: Path) -> Groups:
    """The MTL's `KEY = value` pairs by innermost group, quotes removed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MtlError(f"unreadable: {error}") from error
    return _json_groups(text) if path.suffix.lower() == ".json" else _odl_groups(text)


def _odl_groups(text: str) -> Groups:
    groups: Groups = {}
    open_groups: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line == "END":
            break
        if not line:
            continue
        key, equals, value = (part.strip() for part in line.partition("="))
        value = value.strip('"')
        if not equals or not key:
            raise MtlError(f"line {number}: not KEY = value: {line[:60]!r}")
        if key == "GROUP":
            open_groups.append(value)
        elif key == "END_GROUP":
            if not open_groups or open_groups[-1] != value:
                raise MtlError(f"line {number}: END_GROUP = {value} closes no open group")
            open_groups.pop()
        elif not open_groups:
            raise MtlError(f"line {number}: {key} outside any GROUP")
        else:
            groups.setdefault(open_groups[-1], {})[key] = value
    if open_groups:
        raise MtlError(f"GROUP = {open_groups[-1]} is never closed")
    if not groups:
        raise MtlError("no GROUP of KEY = value lines")
    return groups


def _json_groups(text: str) -> Groups:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise MtlError(f"invalid JSON: {error}") from error
    if not isinstance(document, dict):
        raise MtlError("not a JSON object of groups")
    groups: Groups = {}

    def walk(name: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(key, value)
            elif isinstance(value, str | int | float) and name:
                groups.setdefault(name, {})[key] = str(value)

    walk("", document)
    if not groups:
        raise MtlError("no group of KEY: value entries")
    return groups


@dataclass
class Mtl:
    """Look-ups in an MTL's groups. Level-1 and Level-2 groups of a Collection 2 Level-2 file
    share key names (REFLECTANCE_MULT_BAND_4 is TOA in one, surface in the other), so each
    look-up says which level it wants. Values that are not numbers are noted in `problems`."""

    groups: Groups
    problems: list[str] = field(default_factory=list)

    def text(self, key: str, level2: bool = False) -> str | None:
        for name, values in self.groups.items():
            if name.upper().startswith(LEVEL2) == level2 and key in values:
                return values[key]
        return None

    def number(self, key: str, level2: bool = False) -> float | None:
        value = self.text(key, level2)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            self.problems.append(f"{key} = {value!r} is not a number")
            return None

    def code(self, key: str, digits: int) -> str | None:
        """A zero-padded code (collection 1 → "01", WRS path 16 → "016")."""
        value = self.text(key)
        if value is None:
            return None
        if not value.isdigit():
            self.problems.append(f"{key} = {value!r} is not a number")
            return None
        return value.zfill(digits)

    def properties(self) -> dict[str, Any]:
        """The item properties the MTL gives."""
        found: dict[str, Any] = {
            "landsat:collection_number": self.code("COLLECTION_NUMBER", 2),
            "landsat:collection_category": self.text("COLLECTION_CATEGORY"),
            "landsat:correction": self.text("PROCESSING_LEVEL") or self.text("DATA_TYPE"),
            "landsat:wrs_path": self.code("WRS_PATH", 3),
            "landsat:wrs_row": self.code("WRS_ROW", 3),
            "landsat:scene_id": self.text("LANDSAT_SCENE_ID"),
            "view:sun_elevation": self.number("SUN_ELEVATION"),
            "view:sun_azimuth": self.number("SUN_AZIMUTH"),
        }
        for key, name in (
            ("CLOUD_COVER", "eo:cloud_cover"),
            ("CLOUD_COVER_LAND", "landsat:cloud_cover_land"),
        ):
            cover = self.number(key)
            # -1 is how USGS says "not computed".
            found[name] = cover if cover is not None and 0 <= cover <= 100 else None
        return {name: value for name, value in found.items() if value is not None}

    def band(self, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(`raster:bands` fields, asset fields) of a band asset key (B4, SR_B4, ST_B10)."""
        match = BAND_KEY.fullmatch(key)
        if match is None:
            return {}, {}
        number, product = int(match["number"]), (match["product"] or "").upper()
        if product == "SR_":
            scale = self._pair("REFLECTANCE", f"BAND_{number}", SURFACE_REFLECTANCE)
            return {"scale": scale[0], "offset": scale[1]}, {}
        if product == "ST_":
            scale = self._pair("TEMPERATURE", f"BAND_ST_B{number}", SURFACE_TEMPERATURE)
            return {"scale": scale[0], "offset": scale[1], "unit": "kelvin"}, {}
        constants = {
            f"landsat:{name.lower()}": self.number(f"{name.upper()}_BAND_{number}")
            for name in ("radiance_mult", "radiance_add", "reflectance_mult", "reflectance_add")
        }
        constants |= {
            f"landsat:k{k}_constant": self.number(f"K{k}_CONSTANT_BAND_{number}") for k in (1, 2)
        }
        constants = {name: value for name, value in constants.items() if value is not None}
        reflectance = [constants.get(f"landsat:reflectance_{part}") for part in ("mult", "add")]
        radiance = [constants.get(f"landsat:radiance_{part}") for part in ("mult", "add")]
        # Thermal bands have no reflectance constants: radiance it is.
        if None not in reflectance:
            return {"scale": reflectance[0], "offset": reflectance[1]}, constants
        if None not in radiance:
            return {"scale": radiance[0], "offset": radiance[1], "unit": RADIANCE_UNIT}, constants
        return {}, constants

    def _pair(
        self, quantity: str, suffix: str, default: tuple[float, float]
    ) -> tuple[float, float]:
        """A Level-2 multiplier and offset, the USGS constants when the MTL lacks either."""
        multiply = self.number(f"{quantity}_MULT_{suffix}", level2=True)
        add = self.number(f"{quantity}_ADD_{suffix}", level2=True)
        return default if multiply is None or add is None else (multiply, add)
