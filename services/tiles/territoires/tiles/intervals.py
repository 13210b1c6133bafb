"""The `datetime` parameter of collection mosaics: an instant, a day, or an interval.

The same grammar as OGC API / STAC (`2024-07-01T10:30:00Z`, `2024-07-01/2024-07-31`,
`../2024-07-31`), plus a bare date meaning that whole day, which is what a date picker sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from territoires.shared.errors import BadRequestError

OPEN = ("", "..")


@dataclass(frozen=True)
class Interval:
    """Closed bounds; None is open-ended. Items match when their own interval overlaps it."""

    start: datetime | None
    end: datetime | None


def _bound(text: str, *, end: bool) -> datetime | None:
    if text in OPEN:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) - timedelta(microseconds=1) if end else start
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadRequestError(f"datetime: {text!r} is not an RFC 3339 date or date-time") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def parse_interval(value: str) -> Interval:
    """`value` as an Interval; BadRequestError saying what is wrong with it."""
    text = value.strip()
    if "/" not in text:
        if text in OPEN:
            raise BadRequestError("datetime: give a date, a date-time or an interval a/b")
        return Interval(_bound(text, end=False), _bound(text, end=True))
    first, _, second = text.partition("/")
    interval = Interval(_bound(first, end=False), _bound(second, end=True))
    if interval.start is None and interval.end is None:
        raise BadRequestError("datetime: an interval needs at least one bound")
    if interval.start and interval.end and interval.start > interval.end:
        raise BadRequestError(f"datetime: {value!r} starts after it ends")
    return interval
