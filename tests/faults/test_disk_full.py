"""The disk fills while a job writes its rasters: the job fails with a message saying so, and
leaves nothing behind — no item, no statistics row, no file."""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path

import pytest

from territoires.shared.settings import Settings

from .jobs import JobsClient, Workers, Written, summer, written

pytestmark = pytest.mark.slow

# Larger than anything the worker writes before a job (its log, numba's cache index), smaller
# than one result raster of La Rochelle.
FILE_SIZE_LIMIT = 256 * 1024


def small_files_only() -> None:
    """In the worker process: writing past FILE_SIZE_LIMIT fails as a full disk does (EFBIG;
    Python ignores SIGXFSZ, so the write returns an error instead of killing the process)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def test_disk_full_while_writing_a_cog(
    fault_settings: Settings, jobs: JobsClient, workers: Workers
) -> None:
    workers.start(preexec_fn=small_files_only)
    job = jobs.submit({"territory": "17300", "datetime": summer()})
    ended = jobs.wait([job], timeout_s=60)[job]

    assert ended["status"] == "failed", (ended, workers.tail())
    assert ended["message"].startswith("could not write the result raster: the worker's disk is")
    assert written(fault_settings, job) == Written({}, 0, [])
    assert not list(Path(tempfile.gettempdir()).glob(f"territoires-{job}-*")), "scratch left"
    assert workers.alive(), "the worker died"
