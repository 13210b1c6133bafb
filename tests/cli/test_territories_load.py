"""`territoires territories load` as operators run it, and commands finding local mode's
database and Redis without DATABASE_URL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from territoires.shared.local_mode import STATE_FILE, clear_backends, write_backends
from territoires.shared.settings import Settings

from ..conftest import KIT
from .test_setup_errors import territoires


def test_load_one_departement_twice(empty_database_factory) -> None:
    from territoires.shared.schema import upgrade

    url = empty_database_factory("cli-geo")
    upgrade(url)
    first = territoires("territories", "load", "--data", str(KIT), "-d", "974", DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert "geography 2026 loaded" in first.stderr
    assert "written commune 24, epci 5, departement 1, region 1" in first.stderr
    second = territoires("territories", "load", "--data", str(KIT), "-d", "974", DATABASE_URL=url)
    assert second.returncode == 0, second.stderr
    assert "written commune 0, epci 0, departement 0, region 0, former 0" in second.stderr


def test_missing_national_files_are_one_line(database_url_migrated: str, tmp_path) -> None:
    result = territoires(
        "territories", "load", "--data", str(tmp_path), DATABASE_URL=database_url_migrated
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "pass --data DIR or set TERRITOIRES_KIT_DIR" in result.stderr


@pytest.mark.parametrize("revision", [None, "0009"])  # none, or before the postcodes
def test_an_unmigrated_database_says_to_upgrade(
    empty_database_factory, revision: str | None
) -> None:
    from territoires.shared.schema import upgrade

    url = empty_database_factory("cli-geo-bare")
    if revision:
        upgrade(url, revision)
    result = territoires("territories", "load", "--data", str(KIT), DATABASE_URL=url)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "run `territoires db upgrade` first" in result.stderr


def state(local_dir: Path, pid: int) -> None:
    local_dir.mkdir(exist_ok=True)
    (local_dir / STATE_FILE).write_text(
        f"TERRITOIRES_LOCAL_PID={pid}\nDATABASE_URL=postgresql://127.0.0.1:1/local\n"
        "REDIS_URL=redis://127.0.0.1:1/0\n"
    )


@pytest.fixture
def stand_in() -> subprocess.Popen:
    """A live process whose command line names territoires, as `territoires run`'s does."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "territoires"])
    yield process
    process.kill()
    process.wait()


def test_settings_find_a_running_local_mode(tmp_path: Path, stand_in: subprocess.Popen) -> None:
    state(tmp_path, stand_in.pid)
    found = Settings(local_dir=tmp_path)
    assert (found.database_url, found.redis_url) == (
        "postgresql://127.0.0.1:1/local",
        "redis://127.0.0.1:1/0",
    )
    given = Settings(local_dir=tmp_path, DATABASE_URL="postgresql://localhost:2/given")
    assert given.database_url == "postgresql://localhost:2/given"
    assert given.redis_url == "redis://127.0.0.1:1/0"


def test_a_stopped_or_foreign_process_is_no_local_mode(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        state(tmp_path, sleeper.pid)
        assert Settings(local_dir=tmp_path).database_url is None
    finally:
        sleeper.kill()
        sleeper.wait()
    state(tmp_path, sleeper.pid)  # no longer runs
    assert Settings(local_dir=tmp_path).database_url is None


def test_the_state_file_is_private_and_removed_by_its_writer(tmp_path: Path) -> None:
    path = write_backends(tmp_path, "postgresql://u:secret@h/db", "redis://h:1/0")
    assert path.stat().st_mode & 0o777 == 0o600
    clear_backends(tmp_path)
    assert not path.exists()
