"""STAC JSON → catalog rows: a file holding an item, a collection, a FeatureCollection of items,
or one such document per line (newline-delimited JSON, whatever the file's extension).

Asset hrefs relative to the file (as `territoires synth` writes them) become absolute paths, so
that the catalog's items point at the files wherever the service runs from. JSON that is no STAC
document (no `stac_version`: a product's metadata, plain GeoJSON lying beside the rasters) and
STAC catalogs are skipped, not reported as errors.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import orjson

from territoires.catalog.ingest.results import Converted, EncodedItem, Problem
from territoires.shared.errors import BadRequestError
from territoires.shared.stac.records import collection_row, item_row, polygons_wkb
from territoires.shared.stac.store import item_copy_line

STAC_TYPES = frozenset({"Feature", "FeatureCollection", "Collection"})
# An RFC 3986 scheme; two characters at least, so that a Windows drive letter is no scheme.
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")
# Lines parsed before their footprints are made at once: enough to vectorise, few enough that
# the documents held meanwhile do not make the garbage collector's passes long.
LINES_PER_BATCH = 256


def absolute_hrefs(document: dict[str, Any], base: str, local: set[str] | None = None) -> bool:
    """Makes relative asset hrefs absolute paths under `base`, adding the local files assets
    point at to `local`; True when an href was changed."""
    changed = False
    assets = document.get("assets")
    if not isinstance(assets, dict):
        return False
    for asset in assets.values():
        href = asset.get("href") if isinstance(asset, dict) else None
        if not isinstance(href, str) or not href:
            continue
        if not _absolute(href):
            href = asset["href"] = os.path.normpath(f"{base}/{href}")
            changed = True
        if local is not None and os.path.isabs(href):  # noqa: PTH117 (see _absolute)
            local.add(href)
    return changed


# String tests rather than pathlib and urllib: they run for every asset of millions of items,
# where pathlib alone costs more than validating the item.
def _absolute(href: str) -> bool:
    return URL_SCHEME.match(href) is not None or os.path.isabs(href)  # noqa: PTH117


def add_document(
    into: Converted,
    document: Any,
    where: str,
    base: str,
    collection: str | None,
    text: str | None = None,
    geometry: bytes | None = None,
    plain: bool = False,
) -> None:
    """Adds the rows of one parsed JSON document; `text` is its source when the document is one
    item, so that an item stored as given is not serialised again, `geometry` the EWKB of its
    footprint when a batch has made it (`records.polygons_wkb`), and `plain` whether orjson
    parsed it (see `add_item`)."""
    if not _is_stac(document):
        into.skipped.append(Problem(where, "not a STAC document"))
        return
    kind = document.get("type")
    if kind not in STAC_TYPES:
        into.skipped.append(Problem(where, f"a STAC {kind}, neither an item nor a collection"))
    elif kind == "Collection":
        try:
            absolute_hrefs(document, base)
            into.collections.append((where, collection_row(document)))
        except BadRequestError as error:
            into.problems.append(Problem(where, str(error)))
    elif kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            into.problems.append(Problem(where, "a FeatureCollection needs a 'features' array"))
            return
        footprints = polygons_wkb([_geometry(feature) for feature in features])
        for index, (feature, footprint) in enumerate(zip(features, footprints, strict=True)):
            where_feature = f"{where} feature {index}"
            add_item(into, feature, where_feature, base, collection, None, footprint, plain)
    else:
        add_item(into, document, where, base, collection, text, geometry, plain)


def _geometry(document: Any) -> Any:
    return document.get("geometry") if type(document) is dict else None


def _item_geometry(document: Any) -> Any:
    """The geometry of a document that is an item, else None."""
    return (
        _geometry(document)
        if type(document) is dict and document.get("type") == "Feature"
        else None
    )


def _is_stac(document: Any) -> bool:
    """STAC documents say their version; a FeatureCollection of items, in its features."""
    if not isinstance(document, dict):
        return False
    if "stac_version" in document:
        return True
    features = document.get("features") if document.get("type") == "FeatureCollection" else None
    return isinstance(features, list) and any(
        isinstance(feature, dict) and "stac_version" in feature for feature in features
    )


def add_item(
    into: Converted,
    item: Any,
    where: str,
    base: str,
    collection: str | None,
    text: str | None = None,
    geometry: bytes | None = None,
    plain: bool = False,
) -> None:
    """Adds one item as a COPY line; `collection` applies to items that name none.

    An item changed on the way (relative hrefs made absolute) is serialised again: by orjson
    when orjson parsed it (`plain`: then it holds nothing orjson writes differently from the
    standard library — no NaN, no integer beyond 64 bits), else by the standard library."""
    try:
        if not isinstance(item, dict):
            raise BadRequestError("a STAC item is a JSON object")
        changed = absolute_hrefs(item, base, into.described)
        row = item_row(item, None if item.get("collection") else collection, geometry)
    except BadRequestError as error:
        into.problems.append(Problem(where, str(error)))
        return
    verbatim = text if text is not None and not changed and row["content"] == item else None
    if verbatim is None and plain:
        verbatim = orjson.dumps(row["content"]).decode()
    line = item_copy_line(row, verbatim)
    into.items.append(EncodedItem(row["collection_id"], row["id"], line, where))


def parse_line(raw: bytes) -> tuple[Any, str, bool]:
    """A JSON line's document, its text, and whether orjson parsed it. orjson first (several
    times faster); what it refuses goes through the standard library, which accepts a little
    more (NaN, huge integers, lone surrogates) and words the errors the command reports:
    ValueError as before."""
    try:
        return orjson.loads(raw), raw.decode("utf-8"), True
    except orjson.JSONDecodeError:
        line = raw.decode("utf-8")
        return json.loads(line), line, False


def convert_lines(
    lines: list[bytes], path: Path, first_line: int, collection: str | None, describe: bool
) -> Converted:
    """Rows of newline-delimited JSON; blank lines are allowed, a bad line is one problem."""
    converted = Converted(described=set() if describe else None)
    for start in range(0, len(lines), LINES_PER_BATCH):
        batch = lines[start : start + LINES_PER_BATCH]
        _convert_batch(converted, batch, path, first_line + start, collection)
    return converted


def _convert_batch(
    into: Converted, lines: list[bytes], path: Path, first_line: int, collection: str | None
) -> None:
    """Parses the lines first, so that the footprints of the items among them are made in one
    batch (`records.polygons_wkb`); rows and problems still come in the order of the lines."""
    base = str(path.parent)
    prefix = f"{path}:"
    parsed: list[tuple[str, Any, str, bool] | Problem] = []
    for number, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        where = f"{prefix}{number}"
        try:
            document, line, plain = parse_line(raw)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError alike
            parsed.append(Problem(where, f"invalid JSON: {error}"))
            continue
        parsed.append((where, document, line, plain))
    footprints = polygons_wkb(
        [None if isinstance(entry, Problem) else _item_geometry(entry[1]) for entry in parsed]
    )
    for entry, footprint in zip(parsed, footprints, strict=True):
        if isinstance(entry, Problem):
            into.problems.append(entry)
        else:
            where, document, line, plain = entry
            add_document(into, document, where, base, collection, line, footprint, plain)


def convert_file(path: Path, collection: str | None, describe: bool) -> Converted:
    """Rows of a JSON file: one document, or newline-delimited documents."""
    try:
        with path.open("rb") as file:
            data = file.read()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Converted(problems=[Problem(str(path), f"unreadable: {error}")])
    try:
        document, plain = orjson.loads(data), True
    except orjson.JSONDecodeError:
        try:
            document, plain = json.loads(text), False
        except json.JSONDecodeError as error:
            if error.msg == "Extra data":
                return convert_lines(data.split(b"\n"), path, 1, collection, describe)
            return Converted(problems=[Problem(str(path), f"invalid JSON: {error}")])
    converted = Converted(described=set() if describe else None)
    where, base = str(path), str(path.parent)
    add_document(converted, document, where, base, collection, text, None, plain)
    return converted


def convert_chunk(
    path: Path, offset: int, length: int, first_line: int, collection: str | None, describe: bool
) -> Converted:
    """Rows of a byte range of a newline-delimited file that starts and ends on line ends."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read(length)
    except OSError as error:
        return Converted(problems=[Problem(str(path), f"unreadable: {error}")])
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return convert_lines(lines, path, first_line, collection, describe)
