"""schemathesis over the gateway's merged OpenAPI document, every route: no answer is a 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# Enough examples per operation to reach the edges (bad bboxes, odd strings, huge numbers)
# while the whole run stays within a few minutes on two cores.
EXAMPLES_PER_OPERATION = 5


@pytest.mark.timeout(1200)
def test_no_route_answers_a_server_error(platform_url: str, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.txt"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{platform_url}/api",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--generation-deterministic",
            "--request-timeout",
            "60",
            "--workers",
            "4",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp_path,  # schemathesis keeps its state in ./.schemathesis
    )
    report.write_text(done.stdout + done.stderr)
    print(done.stdout[-3000:])
    # Only server errors count: schemathesis also exits non-zero on its own generation errors.
    assert "Server error" not in done.stdout, done.stdout[-8000:]
    cases = re.search(r"(\d+) generated", done.stdout)
    assert cases and int(cases.group(1)) > 5000, done.stdout[-2000:]
