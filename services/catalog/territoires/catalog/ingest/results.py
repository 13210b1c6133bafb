"""What converting inputs yields, in a form cheap to send back from a worker process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Problem(NamedTuple):
    """Why something did not go in; `where` is a path, 'path:line' or 'path feature N'."""

    where: str
    reason: str


class EncodedItem(NamedTuple):
    """An item as a line of COPY text, with its key (the last of duplicates wins) and origin."""

    collection_id: str
    id: str
    line: str
    where: str


@dataclass
class Converted:
    """What one conversion task produced. `described`, when asked for (there are GeoTIFFs among
    the inputs), gathers the local files items' assets point at — items refused included, their
    files being meant as assets all the same — so that those files are not catalogued a second
    time as scenes of their own."""

    items: list[EncodedItem] = field(default_factory=list)
    collections: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    described: set[str] | None = None

    def extend(self, other: Converted) -> None:
        self.items += other.items
        self.collections += other.collections
        self.problems += other.problems
        self.skipped += other.skipped
        if self.described is not None and other.described:
            self.described |= other.described
