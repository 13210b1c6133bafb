"""Where a running local mode keeps its database and Redis, for the other commands to find.

`territoires run` writes `<local_dir>/local-mode.env` (its pid, DATABASE_URL and REDIS_URL) once
its backends are up, holds a lock on it while it runs and removes it when it stops; settings read
it when DATABASE_URL or REDIS_URL is unset, so `uv run territoires keys create …` in a second
terminal needs no variable. A file left by a platform that was killed is ignored: nobody holds its
lock any more (the kernel drops it with the process), which no pid check can tell as surely — a
pid is reused, and in a container /proc may show another namespace's processes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

STATE_FILE = "local-mode.env"
PID = "TERRITOIRES_LOCAL_PID"

_held: dict[Path, IO[str]] = {}
"""The state files this process wrote, kept open: their lock lives as long as the handle."""


def state_file(local_dir: Path) -> Path:
    return local_dir / STATE_FILE


def write_backends(local_dir: Path, database_url: str, redis_url: str) -> Path:
    """Writes the file (owner-only: a given DATABASE_URL may hold a password) atomically, locked
    before it appears so that no reader sees it unheld."""
    path = state_file(local_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    handle = partial.open("w", encoding="utf-8")
    fcntl.flock(handle, fcntl.LOCK_EX)
    handle.write(
        "# written by `territoires run` while it runs; `set -a; . ./.data/local-mode.env` "
        "exports it\n"
        f"{PID}={os.getpid()}\nDATABASE_URL={database_url}\nREDIS_URL={redis_url}\n"
    )
    handle.flush()
    partial.chmod(0o600)
    partial.replace(path)
    _held[path] = handle
    return path


def clear_backends(local_dir: Path) -> None:
    """Removes the file if this process wrote it (a second platform's file stays)."""
    path = state_file(local_dir)
    handle = _held.pop(path, None)
    if handle is None:
        return
    if read_state(path).get(PID) == str(os.getpid()):
        path.unlink(missing_ok=True)
    handle.close()


def running_backends(local_dir: Path) -> dict[str, str]:
    """DATABASE_URL and REDIS_URL of the local mode running from `local_dir`; empty when none."""
    path = state_file(local_dir)
    if not _locked_by_a_running_platform(path):
        return {}
    state = read_state(path)
    return {key: state[key] for key in ("DATABASE_URL", "REDIS_URL") if state.get(key)}


def read_state(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _locked_by_a_running_platform(path: Path) -> bool:
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
