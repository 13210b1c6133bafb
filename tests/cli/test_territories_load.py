"""`territoires territories load` as operators run it, and commands finding local mode's
database and Redis without DATABASE_URL."""

from __future__ import annotations

import os
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


HOLDER = """
import fcntl, sys, time
from pathlib import Path
path = Path(sys.argv[1])
handle = path.open("w")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.write("TERRITOIRES_LOCAL_PID=1\\nDATABASE_URL=postgresql://127.0.0.1:1/local\\n"
             "REDIS_URL=redis://127.0.0.1:1/0\\n")
handle.flush()
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def platform_stand_in(tmp_path: Path) -> subprocess.Popen:
    """Another process holding the state file's lock, as a running `territoires run` does."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / STATE_FILE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "holding\n"
    yield process
    process.kill()
    process.wait()


def test_settings_find_a_running_local_mode(tmp_path: Path, platform_stand_in) -> None:
    found = Settings(local_dir=tmp_path)
    assert (found.database_url, found.redis_url) == (
        "postgresql://127.0.0.1:1/local",
        "redis://127.0.0.1:1/0",
    )
    given = Settings(local_dir=tmp_path, DATABASE_URL="postgresql://localhost:2/given")
    assert given.database_url == "postgresql://localhost:2/given"
    assert given.redis_url == "redis://127.0.0.1:1/0"


def test_a_file_nobody_holds_is_no_local_mode(tmp_path: Path, platform_stand_in) -> None:
    platform_stand_in.kill()
    platform_stand_in.wait()  # killed, as a platform that never cleared its file
    assert (tmp_path / STATE_FILE).exists()
    assert Settings(local_dir=tmp_path).database_url is None
    (tmp_path / STATE_FILE).write_text(f"TERRITOIRES_LOCAL_PID={os.getpid()}\nDATABASE_URL=x\n")
    assert Settings(local_dir=tmp_path).database_url is None  # a live pid is not enough


def test_this_process_finds_its_own_platform(tmp_path: Path) -> None:
    write_backends(tmp_path, "postgresql://127.0.0.1:1/mine", "redis://127.0.0.1:1/0")
    try:
        assert Settings(local_dir=tmp_path).database_url == "postgresql://127.0.0.1:1/mine"
    finally:
        clear_backends(tmp_path)
    assert Settings(local_dir=tmp_path).database_url is None


def test_the_state_file_is_private_and_removed_by_its_writer(tmp_path: Path) -> None:
    path = write_backends(tmp_path, "postgresql://u:secret@h/db", "redis://h:1/0")
    assert path.stat().st_mode & 0o777 == 0o600
    clear_backends(tmp_path)
    assert not path.exists()
