"""The reference of `bench/catalog.py`: stac-fastapi-pgstac over pgstac, in a virtualenv of its own.

stac-fastapi-pgstac and pypgstac pin other versions of what our services use (psycopg 3,
orjson, brotli middleware…), so they live in `.data/bench-pgstac`, created on first use with
`uv venv` + `uv pip install`, and run as separate processes: `pypgstac` for the schema and the
load, uvicorn for the API. Nothing of theirs is imported into our environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".data" / "bench-pgstac"
PACKAGES = ("stac-fastapi.pgstac", "pypgstac[psycopg]", "uvicorn")


def ensure_venv() -> Path:
    """The virtualenv's bin folder, installing the packages the first time."""
    bin_dir = VENV / "bin"
    if not (bin_dir / "pypgstac").exists():
        subprocess.run(["uv", "venv", "-q", "--python", sys.executable, str(VENV)], check=True)
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", str(bin_dir / "python"), *PACKAGES],
            check=True,
        )
    return bin_dir


def version() -> str:
    """Versions of the reference, for the report."""
    found = subprocess.run(
        [
            str(ensure_venv() / "python"),
            "-c",
            "from importlib.metadata import version as v; "
            "print(f\"stac-fastapi-pgstac {v('stac-fastapi.pgstac')}, pypgstac {v('pypgstac')}\")",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return found.stdout.strip()


def _pypgstac(dsn: str, *arguments: str) -> None:
    subprocess.run(
        [str(ensure_venv() / "pypgstac"), *arguments, "--dsn", dsn],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def migrate(dsn: str) -> None:
    """pgstac's schema in the (empty) database `dsn`."""
    _pypgstac(dsn, "migrate")


def load(dsn: str, collections: Path, items: Path) -> float:
    """Loads the collections, then the items with pypgstac's loader; returns the items' seconds."""
    _pypgstac(dsn, "load", "collections", str(collections), "--method", "insert_ignore")
    started = time.perf_counter()
    _pypgstac(dsn, "load", "items", str(items), "--method", "insert_ignore")
    return time.perf_counter() - started


def serve(
    host: str, port: int, user: str, password: str, dbhost: str, dbport: int, database: str
) -> subprocess.Popen[bytes]:
    """stac-fastapi-pgstac as its documentation runs it: uvicorn, one worker, all extensions."""
    environment = {
        **os.environ,
        "PGUSER": user,
        "PGPASSWORD": password,
        "PGHOST": dbhost,
        "PGPORT": str(dbport),
        "PGDATABASE": database,
        "ENABLE_TRANSACTIONS_EXTENSIONS": "false",
        "STAC_FASTAPI_TITLE": "stac-fastapi-pgstac (bench/catalog.py)",
        "STAC_FASTAPI_DESCRIPTION": "The reference of bench/catalog.py",
        "STAC_FASTAPI_LANDING_ID": "pgstac",
        "STAC_FASTAPI_VERSION": "bench",
    }
    return subprocess.Popen(
        [
            str(ensure_venv() / "uvicorn"),
            "--factory",
            "stac_fastapi.pgstac.app:create_app",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=environment,
        cwd=VENV,
    )
