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
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from territoires.catalog.ingest.results import Converted, EncodedItem, Problem
from territoires.catalog.stac.records import collection_row, item_row
from territoires.catalog.stac.store import item_copy_line
from territoires.shared.errors import BadRequestError

STAC_TYPES = frozenset({"Feature", "FeatureCollection", "Collection"})


def absolute_hrefs(document: dict[str, Any], base: Path) -> bool:
    """Makes relative asset hrefs absolute paths under `base`; True when one was changed."""
    changed = False
    assets = document.get("assets")
    if not isinstance(assets, dict):
        return False
    for asset in assets.values():
        href = asset.get("href") if isinstance(asset, dict) else None
        if isinstance(href, str) and href and not _absolute(href):
            asset["href"] = os.path.normpath(base / href)
            changed = True
    return changed


def _absolute(href: str) -> bool:
    return Path(href).is_absolute() or len(urlsplit(href).scheme) > 1


def convert_document(
    document: Any, where: str, base: Path, collection: str | None, text: str | None = None
) -> Converted:
    """Rows of one parsed JSON document; `text` is its source when the document is one item, so
    that an item stored as given is not serialised again."""
    converted = Converted()
    if not _is_stac(document):
        converted.skipped.append(Problem(where, "not a STAC document"))
        return converted
    kind = document.get("type")
    if kind not in STAC_TYPES:
        converted.skipped.append(Problem(where, f"a STAC {kind}, neither an item nor a collection"))
        return converted
    try:
        if kind == "Collection":
            absolute_hrefs(document, base)
            converted.collections.append((where, collection_row(document)))
        elif kind == "FeatureCollection":
            features = document.get("features")
            if not isinstance(features, list):
                raise BadRequestError("a FeatureCollection has a 'features' array")
            for index, feature in enumerate(features):
                converted.extend(
                    convert_item(feature, f"{where} feature {index}", base, collection)
                )
        else:
            converted.extend(convert_item(document, where, base, collection, text))
    except BadRequestError as error:
        converted.problems.append(Problem(where, str(error)))
    return converted


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


def convert_item(
    item: Any, where: str, base: Path, collection: str | None, text: str | None = None
) -> Converted:
    """One item as a COPY line; `collection` applies to items that name none."""
    converted = Converted()
    try:
        if not isinstance(item, dict):
            raise BadRequestError("a STAC item is a JSON object")
        changed = absolute_hrefs(item, base)
        row = item_row(item, None if item.get("collection") else collection)
        verbatim = text if text is not None and not changed and row["content"] == item else None
        line = item_copy_line(row, verbatim)
        converted.items.append(EncodedItem(row["collection_id"], row["id"], line, where))
        converted.described.update(_local_files(item))
    except BadRequestError as error:
        converted.problems.append(Problem(where, str(error)))
    return converted


def _local_files(item: dict[str, Any]) -> Iterator[str]:
    """The files on this machine an item's assets point at."""
    for asset in item["assets"].values():
        href = asset.get("href") if isinstance(asset, dict) else None
        if isinstance(href, str) and Path(href).is_absolute():
            yield os.path.normpath(href)


def convert_lines(
    lines: list[bytes], path: Path, first_line: int, collection: str | None
) -> Converted:
    """Rows of newline-delimited JSON; blank lines are allowed, a bad line is one problem."""
    converted = Converted()
    base = path.parent
    for number, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
            document = json.loads(line)
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError alike
            converted.problems.append(Problem(where, f"invalid JSON: {error}"))
            continue
        converted.extend(convert_document(document, where, base, collection, line))
    return converted


def convert_file(path: Path, collection: str | None) -> Converted:
    """Rows of a JSON file: one document, or newline-delimited documents."""
    try:
        with path.open("rb") as file:
            data = file.read()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Converted(problems=[Problem(str(path), f"unreadable: {error}")])
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":
            return convert_lines(data.split(b"\n"), path, 1, collection)
        return Converted(problems=[Problem(str(path), f"invalid JSON: {error}")])
    return convert_document(document, str(path), path.parent, collection, text)


def convert_chunk(
    path: Path, offset: int, length: int, first_line: int, collection: str | None
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
    return convert_lines(lines, path, first_line, collection)
