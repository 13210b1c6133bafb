"""`territoires worker` with its stale-job sweep every 2 s, counting a job stale after
TERRITOIRES_TEST_STALE_AFTER_S (the worker sweeps every minute, for jobs a minute old): the fault
tests wait seconds, not minutes, for what the sweep recovers. Everything else is the worker
operators run."""

from __future__ import annotations

import os
from datetime import timedelta

from arq import cron
from arq.worker import run_worker

from territoires.compute import worker

if __name__ == "__main__":
    worker.STALE_AFTER = timedelta(
        seconds=float(os.environ.get("TERRITOIRES_TEST_STALE_AFTER_S", "3"))
    )
    sweep = cron(worker.requeue_stale_jobs, second=set(range(0, 60, 2)), run_at_startup=True)
    # arq reads a settings class's own attributes only: the worker's, as a dict, with our sweep.
    run_worker({**vars(worker.WorkerSettings), "cron_jobs": [sweep]})  # type: ignore[arg-type]
