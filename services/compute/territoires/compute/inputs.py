"""Parsing of execute-request inputs shared by the processes: territories, geometry, dates.

Every problem is a BadRequestError naming the input and saying what would be accepted, raised
before anything is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from territoires.shared.errors import BadRequestError
from territoires.shared.stac.records import geometry_wkb
from territoires.shared.territories import REFERENCE_HELP, parse_reference

MAX_TERRITORIES = 5000


def unwrap(value: Any) -> Any:
    """The value of a qualified input (`{"value": …, "mediaType": …}`), else the input itself."""
    if isinstance(value, dict) and "value" in value and "type" not in value:
        return value["value"]
    return value


def check_names(inputs: dict[str, Any], description: dict[str, Any]) -> None:
    """Unknown inputs and missing required ones, against a process description's `inputs`."""
    known = description.keys()
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise BadRequestError(
            f"unknown input(s) {', '.join(unknown)}; this process takes {', '.join(known)}"
        )
    missing = [name for name, spec in description.items() if spec.get("minOccurs", 1) > 0]
    missing = [name for name in missing if name not in inputs]
    if missing:
        raise BadRequestError(f"missing required input(s): {', '.join(missing)}")


def text(inputs: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = unwrap(inputs.get(name, default))
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise BadRequestError(f"input {name!r} must be a non-empty string, got {value!r}")
    return value


def flag(inputs: dict[str, Any], name: str) -> bool | None:
    value = unwrap(inputs.get(name))
    if value is not None and not isinstance(value, bool):
        raise BadRequestError(f"input {name!r} must be true or false, got {value!r}")
    return value


def number(inputs: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    """A numeric input within [low, high], `default` when absent."""
    value = unwrap(inputs.get(name, default))
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequestError(
            f"input {name!r} must be a number from {low:g} to {high:g}, got {value!r}"
        )
    return float(value)


def territory_codes(inputs: dict[str, Any]) -> list[str] | None:
    """Territory codes from `territory`: one or a list (see `parse_reference`), in the order
    given, without repeats."""
    value = unwrap(inputs.get("territory"))
    if value is None:
        return None
    codes = [value] if isinstance(value, str) else value
    if not isinstance(codes, list) or not codes:
        raise BadRequestError(
            "input 'territory' must be an INSEE code or a non-empty list of codes, e.g. "
            '"17300" or ["17300", "17028"]'
        )
    if len(codes) > MAX_TERRITORIES:
        raise BadRequestError(f"input 'territory' lists more than {MAX_TERRITORIES} codes")
    for code in codes:
        if not isinstance(code, str) or parse_reference(code) is None:
            raise BadRequestError(f"input 'territory': {code!r} is not {REFERENCE_HELP}")
    return list(dict.fromkeys(codes))


def area_geometry(inputs: dict[str, Any]) -> BaseGeometry | None:
    """`geometry`: a GeoJSON Polygon or MultiPolygon in longitude/latitude."""
    value = unwrap(inputs.get("geometry"))
    if value is None:
        return None
    geometry_wkb(value, "input 'geometry'")  # the shared checks: parseable, valid, in range
    if value.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadRequestError("input 'geometry' must be a GeoJSON Polygon or MultiPolygon")
    return shape(value)


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{_iso(self.start)}/{_iso(self.end)}"

    @classmethod
    def parse(cls, text_value: str) -> Interval:
        start, end = text_value.split("/")
        return cls(datetime.fromisoformat(start), datetime.fromisoformat(end))


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def interval(inputs: dict[str, Any], name: str = "datetime") -> Interval:
    """`start/end`, each an RFC 3339 date-time or a date (a date as the end means the whole
    day); a range that ends before it starts is refused as empty."""
    value = unwrap(inputs.get(name))
    if not isinstance(value, str) or value.count("/") != 1:
        raise BadRequestError(
            f"input {name!r} must be an interval 'start/end', e.g. 2023-06-01/2023-08-31"
        )
    first, last = (part.strip() for part in value.split("/"))
    if ".." in (first, last) or "" in (first, last):
        raise BadRequestError(f"input {name!r} must be bounded at both ends, got {value!r}")
    start = _instant(first, name, end_of_day=False)
    end = _instant(last, name, end_of_day=True)
    if end < start:
        raise BadRequestError(f"input {name!r} is an empty date range: {last} comes before {first}")
    return Interval(start, end)


def _instant(text_value: str, name: str, end_of_day: bool) -> datetime:
    try:
        if len(text_value) == 10:
            day = date.fromisoformat(text_value)
            instant = datetime.combine(day, time.min, tzinfo=UTC)
            return instant + timedelta(days=1, microseconds=-1) if end_of_day else instant
        parsed = datetime.fromisoformat(text_value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"input {name!r}: {text_value!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 "
            "date-time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
