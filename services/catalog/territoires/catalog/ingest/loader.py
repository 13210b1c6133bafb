"""`territoires ingest`: files and folders → catalog items, in bulk, reporting what failed.

Inputs are found first (folders walked recursively, hidden entries skipped), then converted by
tasks — whole JSON files, 4 MiB runs of newline-delimited files, one scene of GeoTIFFs each —
in worker processes while the parent writes batches (`writer.CatalogWriter`). Collection
documents are converted first, so items find their collection when it is among the inputs.

In a folder, files that are neither GeoTIFF nor JSON (metadata text, sidecars) are ignored; a
file named on the command line that is neither is reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from territoires.catalog.ingest.cog import RASTER_SUFFIXES, group_scenes
from territoires.catalog.ingest.results import Problem
from territoires.catalog.ingest.tasks import ChunkTask, FilesTask, SceneTask, Task, convert_all
from territoires.catalog.ingest.writer import CatalogWriter

DOCUMENT_SUFFIXES = frozenset({".json", ".geojson"})
LINES_SUFFIXES = frozenset({".ndjson", ".jsonl", ".geojsonl", ".geojsons"})
CHUNK_BYTES = 4 << 20
FILES_PER_TASK = 64
# Below this much work, starting worker processes costs more than it saves.
POOL_MIN_BYTES = 16 << 20
POOL_MIN_SCENES = 8
MAX_WORKERS = 8

Progress = Callable[[int, int, int], None]


class UsageError(ValueError):
    """The command cannot start as given (no such path, GeoTIFFs without a collection)."""


@dataclass(frozen=True)
class IngestOptions:
    """`collection` is required for GeoTIFFs and applies to STAC items that name none; `when`
    and `nodata` override what GeoTIFFs say; `workers` None picks from the work and the CPUs."""

    collection: str | None = None
    when: datetime | None = None
    nodata: float | None = None
    batch_size: int = 5000
    workers: int | None = None


@dataclass
class IngestReport:
    inserted: int = 0
    updated: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    created_collections: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    @property
    def items_per_s(self) -> float:
        return self.written / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class Inputs:
    """The files found, by kind, with what they weigh (bytes) for progress."""

    documents: list[Path] = field(default_factory=list)
    lines: list[Path] = field(default_factory=list)
    rasters: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    sizes: dict[Path, int] = field(default_factory=dict)

    @property
    def weight(self) -> int:
        return sum(self.sizes.values())


def find_inputs(paths: Iterable[Path], options: IngestOptions) -> Inputs:
    """Classifies the files under `paths`; UsageError when a path does not exist, or when there
    are GeoTIFFs and no collection to put their items in."""
    inputs = Inputs()
    for root in paths:
        if not root.exists():
            raise UsageError(f"no such file or folder: {root}")
        if root.is_dir():
            for folder, folders, names in os.walk(root):
                folders[:] = sorted(name for name in folders if not name.startswith("."))
                for name in sorted(names):
                    if not name.startswith("."):
                        _classify(inputs, Path(folder) / name, named=False)
        else:
            _classify(inputs, root, named=True)
    if inputs.rasters and not options.collection:
        raise UsageError("GeoTIFFs need --collection: the collection their items go into")
    return inputs


def _classify(inputs: Inputs, path: Path, named: bool) -> None:
    if path in inputs.sizes:
        return
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        kind = inputs.rasters
    elif suffix in LINES_SUFFIXES:
        kind = inputs.lines
    elif suffix in DOCUMENT_SUFFIXES:
        kind = inputs.documents
    else:
        if named:
            inputs.problems.append(Problem(str(path), "neither a GeoTIFF nor STAC JSON"))
        return
    kind.append(path)
    inputs.sizes[path] = path.stat().st_size


def plan_tasks(inputs: Inputs, options: IngestOptions) -> Iterator[Task]:
    """Tasks in writing order: JSON documents (collections among them), lines, then scenes."""
    for start in range(0, len(inputs.documents), FILES_PER_TASK):
        paths = tuple(inputs.documents[start : start + FILES_PER_TASK])
        yield FilesTask(paths, options.collection, sum(inputs.sizes[p] for p in paths))
    for path in inputs.lines:
        yield from _chunks(path, options.collection)
    for scene in group_scenes(inputs.rasters):
        assert options.collection is not None  # checked by `ingest`
        weight = sum(inputs.sizes[Path(path)] for _, path in scene.bands)
        yield SceneTask(scene, options.collection, options.when, options.nodata, weight)


def _chunks(path: Path, collection: str | None) -> Iterator[ChunkTask]:
    """Runs of about CHUNK_BYTES of whole lines, each knowing the number of its first line."""
    offset, line = 0, 1
    with path.open("rb") as file:
        while block := file.read(CHUNK_BYTES):
            block += file.readline()
            yield ChunkTask(path, offset, len(block), line, collection)
            offset += len(block)
            line += block.count(b"\n")


def default_workers(inputs: Inputs) -> int:
    """No pool for small jobs; otherwise one process per CPU, up to MAX_WORKERS."""
    json_bytes = sum(inputs.sizes[path] for path in inputs.documents + inputs.lines)
    if json_bytes < POOL_MIN_BYTES and len(group_scenes(inputs.rasters)) < POOL_MIN_SCENES:
        return 0
    return min(os.cpu_count() or 1, MAX_WORKERS)


def ingest(
    engine: Engine,
    inputs: Inputs,
    options: IngestOptions,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingests the files found by `find_inputs`; bad ones are reported, never half-written."""
    started = time.perf_counter()
    workers = default_workers(inputs) if options.workers is None else options.workers
    report = IngestReport(problems=list(inputs.problems))
    done = 0
    with CatalogWriter(engine, options.batch_size) as writer:
        for task, converted in convert_all(plan_tasks(inputs, options), workers):
            report.problems += converted.problems
            report.skipped += converted.skipped
            writer.add_collections(converted.collections)
            writer.add_items(converted.items)
            done += task.weight
            if progress:
                progress(done, inputs.weight, writer.written)
        writer.finish()
    report.inserted, report.updated = writer.inserted, writer.updated
    report.problems += writer.problems
    report.created_collections = writer.created
    report.elapsed_s = time.perf_counter() - started
    if progress:
        progress(inputs.weight, inputs.weight, writer.written)
    return report
