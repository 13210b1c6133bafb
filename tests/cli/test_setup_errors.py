"""Bad setup through the real command: a one-line actionable message and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ..conftest import ROOT


def territoires(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "-m", "territoires.cli.main", *args],
        env=env | environment,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("args", "environment", "expected"),
    [
        (("db", "upgrade"), {}, "DATABASE_URL is not set"),
        (
            ("db", "upgrade"),
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/territoires"},
            "cannot connect to the database postgresql://postgres@127.0.0.1:1/territoires",
        ),
        (("worker",), {}, "REDIS_URL is not set"),
    ],
)
def test_one_line_error_and_exit_1(
    args: tuple[str, ...], environment: dict[str, str], expected: str
) -> None:
    result = territoires(*args, **environment)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr


def test_missing_demo_files_are_named(database_url_migrated: str, tmp_path) -> None:
    result = territoires(
        "seed", DATABASE_URL=database_url_migrated, TERRITOIRES_DATA_DIR=str(tmp_path)
    )
    assert result.returncode == 1
    assert "demo file missing" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
