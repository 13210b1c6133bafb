"""Where a running local mode keeps its database and Redis, for the other commands to find.

`territoires run` writes `<local_dir>/local-mode.env` (its pid, DATABASE_URL and REDIS_URL) once
its backends are up and removes it when it stops; settings read it when DATABASE_URL or REDIS_URL
is unset, so `uv run territoires keys create …` in a second terminal needs no variable. A file
left by a platform that was killed is ignored: its pid no longer runs `territoires`.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_FILE = "local-mode.env"
PID = "TERRITOIRES_LOCAL_PID"


def state_file(local_dir: Path) -> Path:
    return local_dir / STATE_FILE


def write_backends(local_dir: Path, database_url: str, redis_url: str) -> Path:
    """Writes the file (owner-only: a given DATABASE_URL may hold a password) atomically."""
    path = state_file(local_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(
        "# written by `territoires run` while it runs; `set -a; . ./.data/local-mode.env` "
        "exports it\n"
        f"{PID}={os.getpid()}\nDATABASE_URL={database_url}\nREDIS_URL={redis_url}\n",
        encoding="utf-8",
    )
    partial.chmod(0o600)
    partial.replace(path)
    return path


def clear_backends(local_dir: Path) -> None:
    """Removes the file if this process wrote it (a second platform's file stays)."""
    path = state_file(local_dir)
    if read_state(path).get(PID) == str(os.getpid()):
        path.unlink(missing_ok=True)


def running_backends(local_dir: Path) -> dict[str, str]:
    """DATABASE_URL and REDIS_URL of the local mode running from `local_dir`; empty when none."""
    state = read_state(state_file(local_dir))
    if not _runs_territoires(state.get(PID, "")):
        return {}
    return {key: state[key] for key in ("DATABASE_URL", "REDIS_URL") if state.get(key)}


def read_state(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _runs_territoires(pid: str) -> bool:
    """Whether process `pid` is alive and (where /proc tells) a `territoires` command."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): alive is what can be told
    return b"territoires" in command
