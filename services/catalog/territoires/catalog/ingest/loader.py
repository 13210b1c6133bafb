"""`territoires ingest`: files and folders → catalog items, in bulk, reporting what failed.

Inputs are found first (folders walked recursively, hidden entries skipped), then converted by
tasks — whole JSON files, 4 MiB runs of newline-delimited files, one scene of GeoTIFFs each —
in worker processes while the parent writes batches (`writer.CatalogWriter`).

JSON goes first, collection documents included, so that items find their collection and so that
GeoTIFFs that STAC items among the inputs describe are not catalogued again as scenes: ingesting
the folder `territoires synth` wrote gives its items, not twice as many. The other GeoTIFFs become
scene items of `--collection`; without it they are skipped, or, when the inputs hold no JSON to
describe them, the command refuses to start.

In a folder, files that are neither GeoTIFF nor JSON (metadata text, sidecars) are ignored; a
file named on the command line that is neither is reported. Landsat MTL files (`*_MTL.txt`,
`*_MTL.json`) are no inputs of their own: the scene beside them reads them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from territoires.catalog.ingest import blackmarble
from territoires.catalog.ingest.cog import RASTER_SUFFIXES, Scene, group_scenes
from territoires.catalog.ingest.mtl import is_mtl
from territoires.catalog.ingest.results import Problem
from territoires.catalog.ingest.tasks import (
    ChunkTask,
    FilesTask,
    GranuleTask,
    SceneTask,
    Task,
    convert_all,
)
from territoires.catalog.ingest.writer import CatalogWriter

DOCUMENT_SUFFIXES = frozenset({".json", ".geojson"})
LINES_SUFFIXES = frozenset({".ndjson", ".jsonl", ".geojsonl", ".geojsons"})
CHUNK_BYTES = 4 << 20
FILES_PER_TASK = 64
# Below this much work, starting worker processes costs more than it saves.
POOL_MIN_BYTES = 16 << 20
POOL_MIN_SCENES = 8
MAX_WORKERS = 8
MAX_WRITERS = 4

Progress = Callable[[int, int, int], None]
UNDESCRIBED = "GeoTIFF no STAC item describes; give --collection to catalogue it as a scene"


class UsageError(ValueError):
    """The command cannot start as given (no such path, GeoTIFFs without a collection)."""


@dataclass(frozen=True)
class IngestOptions:
    """`collection` is required for GeoTIFFs and applies to STAC items that name none; `when`
    and `nodata` override what GeoTIFFs say; `workers` (conversion processes) and `writers`
    (database connections writing at once) None pick from the work and the CPUs."""

    collection: str | None = None
    when: datetime | None = None
    nodata: float | None = None
    batch_size: int = 5000
    workers: int | None = None
    writers: int | None = None


@dataclass
class IngestReport:
    inserted: int = 0
    updated: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
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
    """The files found, by kind, with their sizes (what progress counts)."""

    documents: list[Path] = field(default_factory=list)
    lines: list[Path] = field(default_factory=list)
    rasters: list[Path] = field(default_factory=list)
    granules: list[Path] = field(default_factory=list)  # Black Marble HDF5: items of their own
    problems: list[Problem] = field(default_factory=list)
    sizes: dict[Path, int] = field(default_factory=dict)

    @property
    def weight(self) -> int:
        return sum(self.sizes.values())


def find_inputs(paths: Iterable[Path], options: IngestOptions) -> Inputs:
    """Classifies the files under `paths`. UsageError when a path does not exist, or when
    GeoTIFFs have no collection to go into and no JSON among the inputs may describe them."""
    inputs = Inputs()
    named_rasters = False
    for given in paths:
        root = Path(os.path.normpath(given.absolute()))
        if not root.exists():
            raise UsageError(f"no such file or folder: {given}")
        if root.is_dir():
            for folder, folders, names in os.walk(root):
                folders[:] = sorted(name for name in folders if not name.startswith("."))
                for name in sorted(names):
                    if not name.startswith("."):
                        _classify(inputs, Path(folder) / name, named=False)
        else:
            _classify(inputs, root, named=True)
            named_rasters |= root.suffix.lower() in RASTER_SUFFIXES
    described_elsewhere = inputs.documents or inputs.lines
    if not options.collection and (named_rasters or (inputs.rasters and not described_elsewhere)):
        raise UsageError("GeoTIFFs need --collection: the collection their items go into")
    return inputs


def _classify(inputs: Inputs, path: Path, named: bool) -> None:
    if path in inputs.sizes or is_mtl(path):
        return
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        kind = inputs.rasters
    elif suffix in blackmarble.SUFFIXES:
        kind = inputs.granules
    elif suffix in LINES_SUFFIXES:
        kind = inputs.lines
    elif suffix in DOCUMENT_SUFFIXES:
        kind = inputs.documents
    else:
        if named:
            inputs.problems.append(
                Problem(str(path), "neither a GeoTIFF, a Black Marble HDF5 file nor STAC JSON")
            )
        return
    kind.append(path)
    inputs.sizes[path] = path.stat().st_size


def json_tasks(inputs: Inputs, collection: str | None) -> Iterator[Task]:
    """Whole documents first (collections are among them), then newline-delimited files."""
    describe = bool(inputs.rasters)
    for start in range(0, len(inputs.documents), FILES_PER_TASK):
        paths = tuple(inputs.documents[start : start + FILES_PER_TASK])
        yield FilesTask(paths, collection, describe, sum(inputs.sizes[p] for p in paths))
    for path in inputs.lines:
        yield from _chunks(path, collection, describe)


def _chunks(path: Path, collection: str | None, describe: bool) -> Iterator[ChunkTask]:
    """Runs of about CHUNK_BYTES of whole lines, each knowing the number of its first line."""
    offset, line = 0, 1
    with path.open("rb") as file:
        while block := file.read(CHUNK_BYTES):
            block += file.readline()
            yield ChunkTask(path, offset, len(block), line, collection, describe)
            offset += len(block)
            line += block.count(b"\n")


def scene_tasks(scenes: list[Scene], inputs: Inputs, options: IngestOptions) -> Iterator[Task]:
    assert options.collection is not None  # scenes are only made with a collection
    for scene in scenes:
        weight = sum(inputs.sizes[Path(path)] for _, path in scene.bands)
        yield SceneTask(scene, options.collection, options.when, options.nodata, weight)


def granule_tasks(inputs: Inputs) -> Iterator[Task]:
    for start in range(0, len(inputs.granules), FILES_PER_TASK):
        paths = tuple(inputs.granules[start : start + FILES_PER_TASK])
        yield GranuleTask(paths, sum(inputs.sizes[p] for p in paths))


def workers_for(options: IngestOptions, json_bytes: int = 0, scenes: int = 0) -> int:
    """The operator's choice, else no pool for small jobs and one process per CPU (up to
    MAX_WORKERS) for the others."""
    if options.workers is not None:
        return options.workers
    if json_bytes < POOL_MIN_BYTES and scenes < POOL_MIN_SCENES:
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
    report = IngestReport(problems=list(inputs.problems))
    described: set[str] = set()
    done = 0
    writers = options.writers or min(MAX_WRITERS, max(2, (os.cpu_count() or 1) // 4))
    with CatalogWriter(engine, options.batch_size, writers) as writer:

        def run(tasks: Iterable[Task], workers: int) -> None:
            nonlocal done
            for task, converted in convert_all(tasks, workers):
                report.problems += converted.problems
                report.skipped += converted.skipped
                described.update(converted.described or ())
                writer.add_collections(converted.collections)
                writer.add_items(converted.items)
                done += task.weight
                if progress:
                    progress(done, inputs.weight, writer.written)

        json_bytes = sum(inputs.sizes[path] for path in inputs.documents + inputs.lines)
        run(json_tasks(inputs, options.collection), workers_for(options, json_bytes=json_bytes))
        run(granule_tasks(inputs), workers_for(options, scenes=len(inputs.granules) // 8))
        rasters = [path for path in inputs.rasters if str(path) not in described]
        scenes = group_scenes(rasters)
        if options.collection:
            run(scene_tasks(scenes, inputs, options), workers_for(options, scenes=len(scenes)))
        else:
            report.skipped += [Problem(scene.where, UNDESCRIBED) for scene in scenes]
        writer.finish()
    report.inserted, report.updated = writer.inserted, writer.updated
    report.problems += writer.problems
    report.created_collections = writer.created
    report.elapsed_s = time.perf_counter() - started
    if progress:
        progress(inputs.weight, inputs.weight, writer.written)
    return report
