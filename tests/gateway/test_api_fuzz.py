"""schemathesis over the gateway's merged OpenAPI document, every route: no answer is a 5xx.

Through a gateway of its own whose rate limits are out of reach: the fuzzing is of the
handlers, and a request the limiter refused (429) would test nothing but the limiter.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from territoires.gateway.app import create_app as create_gateway
from territoires.gateway.proxy import ROUTES
from territoires.shared.settings import Settings

from ..servers import serve

# Enough examples per operation to reach the edges (bad bboxes, odd strings, huge numbers)
# while the whole run stays within a few minutes on two cores.
EXAMPLES_PER_OPERATION = 5
# Every operation does its real work (none is cut short by a 429): ~41,500 cases, 12-15 min on
# two cores shared with other work (load average 9-14), against ~5 min when the limiter
# answered a third of them.
FUZZ_TIMEOUT_S = 1500
OUT_OF_REACH = 10**9
METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})


@pytest.fixture(scope="module")
def unlimited_gateway(
    platform_settings: Settings, platform_services: dict[str, str]
) -> Iterator[str]:
    """The platform's gateway with every rate limit raised out of reach."""
    limits = {
        name: OUT_OF_REACH
        for name in Settings.model_fields
        if name.startswith("rate_limit_") and name.endswith("_per_minute")
    }
    settings = platform_settings.model_copy(update=platform_services | limits)
    with serve(create_gateway(settings)) as url:
        yield url


def operations_of_every_service(gateway: str) -> int:
    """The merged /api's operation count, once it holds every service's part.

    The gateway leaves out the part of a service that does not answer in 5 s (tiles, building
    its document under load): schemathesis would then fuzz only the others, and pass. The
    parts are kept a minute, so the document schemathesis reads next is this one.
    """
    deadline = time.monotonic() + 180
    while True:
        paths = httpx.get(f"{gateway}/api", timeout=60).json()["paths"]
        missing = {r.service for r in ROUTES} - {
            r.service for r in ROUTES for path in paths if path.startswith(r.prefix)
        }
        if not missing:
            return sum(len(METHODS.intersection(operations)) for operations in paths.values())
        assert time.monotonic() < deadline, f"/api lacks the {sorted(missing)} services"
        time.sleep(2)


@pytest.mark.timeout(FUZZ_TIMEOUT_S + 300)
def test_no_route_answers_a_server_error(unlimited_gateway: str, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.txt"
    operations = operations_of_every_service(unlimited_gateway)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{unlimited_gateway}/api",
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
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=FUZZ_TIMEOUT_S,
            check=False,
            cwd=tmp_path,  # schemathesis keeps its state in ./.schemathesis
        )
    except subprocess.TimeoutExpired as expired:
        partial = (expired.stdout or b"").decode(errors="replace")
        pytest.fail(f"schemathesis ran past {FUZZ_TIMEOUT_S} s:\n{partial[-4000:]}")
    report.write_text(done.stdout + done.stderr)
    print(done.stdout[-3000:])
    # Only server errors count: schemathesis also exits non-zero on its own generation errors.
    # A 504 is the gateway's answer to a service past its route's timeout, which a machine
    # saturated by the fuzzing itself can cause (seen: a tile at 30 s, load average 20); any
    # other 5xx is a bug.
    statuses = set(re.findall(r"^\[(5\d\d)\] ", done.stdout, re.M))
    assert statuses <= {"504"}, done.stdout[-8000:]
    if "Server error" in done.stdout:
        assert statuses == {"504"}, done.stdout[-8000:]
    cases = re.search(r"(\d+) generated", done.stdout)
    assert cases and int(cases.group(1)) > 5000, done.stdout[-2000:]
    # Every operation was tried, and every request reached its handler: none was refused by
    # the gateway's rate limiter (the counter of refusals was never even created).
    selected = re.search(r"Selected: (\d+)/(\d+)", done.stdout)
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert selected and tested, done.stdout[-2000:]
    assert int(tested.group(1)) == int(selected.group(1)) == int(selected.group(2)) == operations
    metrics = httpx.get(f"{unlimited_gateway}/metrics").text
    assert "territoires_http_requests_total" in metrics
    refused = re.findall(r"^territoires_rate_limited_total\{.*\} (\S+)$", metrics, re.M)
    assert all(float(count) == 0 for count in refused), refused
