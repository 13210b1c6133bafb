"""Harvesting public STAC APIs (Earth Search, the Copernicus Data Space, USGS…) into the catalog,
with the remote hrefs kept: jobs and tiles then read the archives' COGs in place.

A source names a STAC API, one of its collections, the collection of ours its items go into, the
territories to cover, a period and a cloud-cover ceiling. Each remote item is mapped onto what
our processes read (`territoires.compute.readers`): one asset per band with its `eo:bands`
common name, the finest of the resolutions an archive offers for a band (the Data Space has
`B04_10m`, `B04_20m`, `B04_60m`), COG before JPEG 2000, `raster:bands` scale and offset and
`proj:*` as published, and the quality asset under the key the processes look for (`SCL`).

An item is refused, with the reason, when it lacks the bands its collection is used for or when
one of its hrefs lies outside the trusted prefixes (`TERRITOIRES_ASSET_PREFIXES`): nothing would
ever read it. Each harvested item records its source (`territoires:harvest`), so the next
harvest of the same source asks only for scenes acquired since the latest one catalogued (its
high-water mark, read back from the catalog itself: no state of its own to lose); an item
found again is rewritten only when its document changed. The items of a `mirror` source carry
`territoires:mirror`: jobs keep local copies of their assets (`territoires.shared.mirror`).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import requests
import yaml
from pystac_client import Client
from pystac_client.exceptions import APIError
from sqlalchemy import Engine, text

from territoires.catalog.ingest.bands import SENTINEL2_BANDS
from territoires.catalog.ingest.writer import minimal_collection
from territoires.shared.assets import AssetGuard
from territoires.shared.errors import BadRequestError, ForbiddenError
from territoires.shared.mirror import MIRROR_PROPERTY
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items

HARVEST_PROPERTY = "territoires:harvest"
PAGE_SIZE = 100
# Bands a collection's processes cannot do without: (alternatives), all of them needed.
NEEDED_BANDS = {
    "sentinel-2-l2a": (("red",), ("nir", "nir08")),
    "landsat-c2-l2": (("red",), ("nir08", "nir")),
}
# The quality assets the processes know (`readers.QUALITY_ASSETS`), by band name.
QUALITY_KEYS = {"SCL": "SCL", "QA_PIXEL": "qa_pixel"}
# A band name at the start of an asset key: `B04`, `B8A` (Sentinel-2), `SCL`, `QA_PIXEL`.
KEY_BAND = re.compile(r"^(B\d{1,2}A?|SCL|QA_PIXEL)(?:_|$)", re.IGNORECASE)
KEY_RESOLUTION = re.compile(r"_(\d+)m$")
OS_REASON = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


class HarvestError(Exception):
    """A source that cannot be harvested: unreachable, or asking for what the API lacks."""


@dataclass(frozen=True)
class Source:
    """One STAC API collection to follow, and what of it to catalogue."""

    url: str
    collection: str
    into: str
    territories: tuple[str, ...] = ()
    datetime: str | None = None
    max_cloud: float | None = None
    mirror: bool = False  # jobs copy the assets they read into our storage (`shared.mirror`)

    @property
    def key(self) -> str:
        """What the items it catalogued record, to find its high-water mark again."""
        cloud = "" if self.max_cloud is None else f"{self.max_cloud:g}"
        period = self.datetime or ""
        return f"{self.url}#{self.collection}#{','.join(self.territories)}#{period}#{cloud}"


def make_source(
    url: str,
    collection: str,
    into: str | None = None,
    territories: tuple[str, ...] = (),
    period: str | None = None,
    max_cloud: float | None = None,
    mirror: bool = False,
) -> Source:
    """A checked source; ValueError saying what is wrong with it."""
    if not re.match(r"^https?://", url):
        raise ValueError(f"source URL {url!r} is not an http(s):// STAC API")
    if period is not None:
        parse_period(period)
    if max_cloud is not None and not 0 <= max_cloud <= 100:
        raise ValueError(f"max cloud cover {max_cloud} is not a percentage (0 to 100)")
    return Source(
        url, collection, into or collection, tuple(territories), period, max_cloud, mirror
    )


def parse_period(value: str) -> tuple[datetime | None, datetime | None]:
    """`START/END` (dates or date-times, `..` open), or one date; ValueError when malformed."""
    parts = value.split("/")
    if len(parts) > 2 or not value.strip():
        raise ValueError(f"datetime {value!r} is not START/END in ISO 8601")
    bounds = [_instant(part, value) for part in parts]
    start, end = bounds[0], bounds[-1]
    if start and end and start > end:
        raise ValueError(f"datetime {value!r} starts after it ends")
    return start, end


def _instant(text_value: str, whole: str) -> datetime | None:
    if text_value in ("", ".."):
        return None
    try:
        if len(text_value) == 10:
            day = date.fromisoformat(text_value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text_value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"datetime {whole!r} is not START/END in ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def load_sources(path: Path) -> list[Source]:
    """The sources of a YAML or JSON file: a list of sources (or `{"sources": [...]}`), each with
    `url`, `collections` (or `collection`), and optionally `into`, `territories`, `datetime`,
    `max_cloud`, `mirror`; one Source per collection. ValueError naming the file when malformed."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: unreadable source file ({error})") from None
    entries = document.get("sources") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: a source file is a non-empty list of sources")
    sources = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: source {number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ValueError(f"{where}: each source is a mapping with a 'url'")
        collections = entry.get("collections") or [entry.get("collection")]
        if not all(isinstance(c, str) and c for c in collections):
            raise ValueError(f"{where}: 'collections' is a list of collection ids")
        territories = entry.get("territories") or []
        cloud = entry.get("max_cloud")
        mirror = entry.get("mirror", False)
        if not isinstance(mirror, bool):
            raise ValueError(f"{where}: 'mirror' is true or false")
        try:
            for collection in collections:
                sources.append(
                    make_source(
                        entry["url"],
                        collection,
                        entry.get("into"),
                        tuple(str(code) for code in territories),
                        None if entry.get("datetime") is None else str(entry["datetime"]),
                        None if cloud is None else float(cloud),
                        mirror,
                    )
                )
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
    return sources


@dataclass
class SourceReport:
    """What one source gave: items found, catalogued new, rewritten, unchanged, refused."""

    source: Source
    found: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    error: str | None = None


class RefusedItemError(Exception):
    """A remote item we do not catalogue, and why."""


def harvest(
    engine: Engine,
    source: Source,
    guard: AssetGuard,
    timeout_s: float,
    progress: Callable[[int, int | None], None] = lambda done, total: None,
) -> SourceReport:
    """Catalogues the new and changed items of `source`; `progress(found, matched)` after each
    page. HarvestError when the source cannot be reached or searched, or answers nothing within
    `timeout_s` (nothing of it is lost: each page is written whole, and the next harvest starts
    again from the mark)."""
    report = SourceReport(source)
    bbox = _territories_bbox(engine, source.territories)
    mark = _high_water_mark(engine, source)
    search = _search(source, bbox, mark, timeout_s)
    matched = _matched(search)
    _ensure_collection(engine, source.into)
    for page in _pages(search, source):
        rows = []
        for remote in page:
            report.found += 1
            try:
                rows.append(item_row(map_item(remote, source, guard)))
            except (RefusedItemError, BadRequestError) as why:
                report.refused[str(why)] += 1
        _write(engine, source.into, rows, report)
        progress(report.found, matched)
    return report


def _territories_bbox(engine: Engine, codes: tuple[str, ...]) -> list[float] | None:
    """The bounding box of the territories (any level) named by `codes`; HarvestError naming an
    unknown one."""
    if not codes:
        return None
    with engine.connect() as connection:
        found = dict(
            connection.execute(
                text(
                    "SELECT code, Box2D(geometry)::text FROM territories WHERE code = ANY(:codes)"
                ),
                {"codes": list(codes)},
            ).all()
        )
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise HarvestError(f"unknown territory {', '.join(unknown)} (load the territories first)")
    boxes = [[float(v) for v in re.findall(r"-?[\d.e+-]+", box)] for box in found.values()]
    return [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]


def _high_water_mark(engine: Engine, source: Source) -> datetime | None:
    """The acquisition time of the latest scene this source catalogued."""
    with engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT max(datetime) FROM items WHERE collection_id = :collection "
                f"AND content->'properties'->>'{HARVEST_PROPERTY}' = :key"
            ),
            {"collection": source.into, "key": source.key},
        )


def _search(
    source: Source, bbox: list[float] | None, mark: datetime | None, timeout_s: float
) -> Any:
    """The search of the source's items since `mark` (inclusive: a scene acquired at the same
    instant as the mark may have come later; found again, it is left unchanged)."""
    start, end = parse_period(source.datetime) if source.datetime else (None, None)
    if mark is not None and (start is None or mark > start):
        start = mark
    period = None
    if start or end:
        period = f"{_iso(start)}/{_iso(end)}"
    try:
        client = Client.open(source.url, timeout=timeout_s)
        collection = client.get_collection(source.collection)
    except APIError as error:
        status = getattr(error, "status_code", None)
        if status is not None:
            raise HarvestError(f"{source.url} answered {status}: {_first_line(error)}") from None
        # pystac-client reports a connection that failed as an APIError without a status.
        raise _unreachable(source, error, timeout_s) from None
    except (requests.RequestException, OSError, ValueError) as error:
        raise _unreachable(source, error, timeout_s) from None
    if collection is None:
        raise HarvestError(f"{source.url} has no collection {source.collection!r}")
    cloud = None
    if source.max_cloud is not None:
        cloud = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, source.max_cloud]}
    return client.search(
        collections=[source.collection],
        bbox=bbox,
        datetime=period,
        filter=cloud,
        filter_lang="cql2-json" if cloud else None,
        limit=PAGE_SIZE,
    )


def _unreachable(source: Source, error: BaseException, timeout_s: float) -> HarvestError:
    reason = _first_line(error)
    if reason == "timed out":
        return HarvestError(f"the STAC API at {source.url} did not answer within {timeout_s:g} s")
    return HarvestError(f"cannot reach the STAC API at {source.url}: {reason}")


def _iso(instant: datetime | None) -> str:
    return ".." if instant is None else instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _first_line(error: BaseException) -> str:
    """The gist of an error: the system's reason for a failed connection (urllib3 wraps it in
    three layers of repr), else the first line of the message."""
    message = str(error).strip() or type(error).__name__
    system = OS_REASON.search(message)
    if system:
        return system.group(1)
    timed_out = "timed out" in message.lower()
    return "timed out" if timed_out else message.splitlines()[0][:300]


def _matched(search: Any) -> int | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an API that does not count is no concern of the operator
        try:
            return search.matched()
        except (APIError, requests.RequestException):
            return None


def _pages(search: Any, source: Source) -> Iterator[list[dict[str, Any]]]:
    """The search's pages of item documents; HarvestError when a page cannot be fetched."""
    pages = search.pages_as_dicts()
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except (APIError, requests.RequestException, OSError) as error:
            raise HarvestError(f"{source.url} failed midway: {_first_line(error)}") from None
        yield [item for item in page.get("features", []) if isinstance(item, dict)]


def map_item(remote: dict[str, Any], source: Source, guard: AssetGuard) -> dict[str, Any]:
    """The item we catalogue for a remote item; RefusedItemError saying why there is none."""
    properties = dict(remote.get("properties") or {})
    cloud = properties.get("eo:cloud_cover")
    if source.max_cloud is not None and isinstance(cloud, int | float) and cloud > source.max_cloud:
        raise RefusedItemError(f"cloud cover above {source.max_cloud:g} %")
    assets = _assets(remote.get("assets") or {})
    for needed in NEEDED_BANDS.get(source.into, ()):
        if not any(_common_name(asset) in needed for asset in assets.values()):
            raise RefusedItemError(f"no {' or '.join(needed)} band")
    if not any(_common_name(a) for a in assets.values()):
        raise RefusedItemError("no spectral band")
    for key, asset in assets.items():
        try:
            guard.check(asset["href"])
        except ForbiddenError:
            raise RefusedItemError(
                f"asset {key} is outside the trusted prefixes (TERRITOIRES_ASSET_PREFIXES)"
            ) from None
    properties[HARVEST_PROPERTY] = source.key
    if source.mirror:
        properties[MIRROR_PROPERTY] = True
    self_link = next(
        (link.get("href") for link in remote.get("links", []) if link.get("rel") == "self"), None
    )
    return {
        "type": "Feature",
        "stac_version": remote.get("stac_version", "1.0.0"),
        "stac_extensions": remote.get("stac_extensions", []),
        "id": remote.get("id"),
        "collection": source.into,
        "geometry": remote.get("geometry"),
        "bbox": remote.get("bbox"),
        "properties": properties,
        "assets": assets,
        "links": [{"rel": "via", "href": self_link, "type": "application/geo+json"}]
        if self_link
        else [],
    }


def _assets(remote: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One asset per band (COG before other formats, then the finest resolution), with its common
    name; the quality asset under the key the processes read."""
    chosen: dict[str, tuple[tuple[bool, float], str, dict[str, Any]]] = {}
    for key, asset in remote.items():
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            continue
        band = _band_name(key, asset)
        if band is None:
            continue
        asset = dict(asset)
        common = _common_name(asset) or SENTINEL2_BANDS.get(band, (None,))[0]
        if common and not _common_name(asset):
            asset["eo:bands"] = [{"name": band, "common_name": common}]
        if common is None and band not in QUALITY_KEYS:
            continue
        rank = ("cloud-optimized" not in asset.get("type", ""), _resolution(key, asset))
        if band not in chosen or rank < chosen[band][0]:
            chosen[band] = (rank, QUALITY_KEYS.get(band, key), asset)
    return {key: asset for _, key, asset in chosen.values()}


def _band_name(key: str, asset: dict[str, Any]) -> str | None:
    """The band an asset holds: its `eo:bands` name, else the start of its key (`B04_10m`)."""
    bands = asset.get("eo:bands") or []
    if len(bands) == 1 and isinstance(bands[0].get("name"), str):
        return bands[0]["name"].upper()
    if len(bands) > 1:
        return None
    matched = KEY_BAND.match(key)
    return matched.group(1).upper() if matched else None


def _common_name(asset: dict[str, Any]) -> str | None:
    bands = asset.get("eo:bands") or [{}]
    return bands[0].get("common_name") if len(bands) == 1 else None


def _resolution(key: str, asset: dict[str, Any]) -> float:
    for candidate in (
        asset.get("gsd"),
        ((asset.get("raster:bands") or [{}])[0] or {}).get("spatial_resolution"),
    ):
        if isinstance(candidate, int | float):
            return float(candidate)
    suffix = KEY_RESOLUTION.search(key)
    return float(suffix.group(1)) if suffix else float("inf")


def _ensure_collection(engine: Engine, identifier: str) -> None:
    """A minimal collection for items whose collection nobody has described yet."""
    with engine.begin() as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM collections WHERE id = :id"), {"id": identifier}
        )
        if not exists:
            upsert_collections(connection, [collection_row(minimal_collection(identifier))])


def _write(
    engine: Engine, collection: str, rows: list[dict[str, Any]], report: SourceReport
) -> None:
    """Writes the page's new and changed items in one transaction."""
    if not rows:
        return
    with engine.begin() as connection:
        stored = dict(
            connection.execute(
                text("SELECT id, content FROM items WHERE collection_id = :c AND id = ANY(:ids)"),
                {"c": collection, "ids": [row["id"] for row in rows]},
            ).all()
        )
        changed = []
        for row in rows:
            before = stored.get(row["id"])
            if before is None:
                report.new += 1
            elif _comparable(before) == _comparable(row["content"]):
                report.unchanged += 1
                continue
            else:
                report.updated += 1
            changed.append(row)
        upsert_items(connection, changed)


def _comparable(content: dict[str, Any]) -> dict[str, Any]:
    """A document as the catalog stores it, less what the catalog adds on reading."""
    return {key: value for key, value in content.items() if key != "links"} | {
        "links": [link for link in content.get("links", []) if link.get("rel") == "via"]
    }


def harvest_all(
    engine: Engine, sources: list[Source], guard: AssetGuard, timeout_s: float
) -> list[SourceReport]:
    """Harvests each source in turn; one that fails is reported (`error`), the others go on."""
    reports = []
    for source in sources:
        try:
            reports.append(harvest(engine, source, guard, timeout_s))
        except HarvestError as error:
            reports.append(SourceReport(source, error=str(error)))
    return reports
