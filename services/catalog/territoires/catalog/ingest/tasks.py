"""Units of conversion work, small enough to spread over processes and to weigh for progress.

A task reads its inputs and returns encoded rows and problems; it never raises for bad input, so
one corrupt file costs its own items only. Tasks run in worker processes (`convert_all`) while
the parent writes the previous batches, so conversion and database writes overlap.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from territoires.catalog.ingest.blackmarble import convert_granule
from territoires.catalog.ingest.cog import Scene, scene_item
from territoires.catalog.ingest.results import Converted, Problem
from territoires.catalog.ingest.stac import add_item, convert_chunk, convert_file


@dataclass(frozen=True)
class SceneTask:
    """One scene's GeoTIFFs → one item."""

    scene: Scene
    collection: str
    when: datetime | None
    nodata: float | None
    weight: int

    def run(self) -> Converted:
        where = self.scene.where
        try:
            item, problems = scene_item(self.scene, self.collection, self.when, self.nodata)
        # GDAL and numpy raise many kinds of errors on a corrupt file; each is this scene's only.
        except Exception as error:
            return Converted(problems=[Problem(where, _reason(error))])
        converted = Converted(problems=problems)
        add_item(converted, item, where, str(Path(self.scene.bands[0][1]).parent), None)
        return converted


@dataclass(frozen=True)
class FilesTask:
    """Whole JSON files, each one document or newline-delimited documents."""

    paths: tuple[Path, ...]
    collection: str | None
    describe: bool
    weight: int

    def run(self) -> Converted:
        converted = Converted(described=set() if self.describe else None)
        for path in self.paths:
            converted.extend(convert_file(path, self.collection, self.describe))
        return converted


@dataclass(frozen=True)
class ChunkTask:
    """A run of whole lines of a newline-delimited file."""

    path: Path
    offset: int
    length: int
    first_line: int
    collection: str | None
    describe: bool

    @property
    def weight(self) -> int:
        return self.length

    def run(self) -> Converted:
        return convert_chunk(
            self.path, self.offset, self.length, self.first_line, self.collection, self.describe
        )


@dataclass(frozen=True)
class GranuleTask:
    """Black Marble HDF5 files → one item each."""

    paths: tuple[Path, ...]
    weight: int

    def run(self) -> Converted:
        converted = Converted()
        for path in self.paths:
            converted.extend(convert_granule(path))
        return converted


Task = SceneTask | FilesTask | ChunkTask | GranuleTask


def run_task(task: Task) -> Converted:
    """Runs a task with the cyclic garbage collector paused. Conversion makes no reference
    cycles (parsed JSON is trees), so reference counting frees everything, while the collector's
    passes over the many rows a task holds took as long as the conversion itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return task.run()
    finally:
        if enabled:
            gc.enable()


def convert_all(tasks: Iterable[Task], workers: int) -> Iterator[tuple[Task, Converted]]:
    """Each task with its result, in order; with workers, a bounded number run ahead of the
    consumer so memory stays flat however large the input."""
    if workers < 1:
        for task in tasks:
            yield task, run_task(task)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    window: deque[tuple[Task, Future[Converted]]] = deque()
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        try:
            for task in tasks:
                window.append((task, pool.submit(run_task, task)))
                if len(window) > 2 * workers:
                    done, future = window.popleft()
                    yield done, future.result()
            while window:
                done, future = window.popleft()
                yield done, future.result()
        finally:
            for _, future in window:
                future.cancel()


def _reason(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
