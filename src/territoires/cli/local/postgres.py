"""A private PostGIS cluster under `.data/`, run from the system's PostgreSQL binaries.

PostgreSQL refuses to run as root, so when the caller is root the cluster belongs to the
unprivileged `postgres` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from territoires.shared.settings import ConfigurationError

CLUSTER_USER = "postgres"
DATABASE = "territoires"
# Off only when asked (TERRITOIRES_LOCAL_POSTGRES_DURABLE=false): a crash may then lose or
# corrupt committed data, which is fine for a throwaway cluster and nothing else.
UNSAFE_SPEED_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
StopMode = Literal["smart", "fast", "immediate"]
INSTALL_HINT = "sudo apt-get install -y postgresql postgresql-15-postgis-3"


def _versions() -> list[Path]:
    """Installed PostgreSQL versions' bin folders, newest first."""
    roots = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    return [p.parent for p in roots]


def find_postgres_bin() -> Path:
    """The bin folder of a PostgreSQL that has PostGIS; ConfigurationError saying how to get one."""
    candidates = _versions()
    if not candidates:
        raise ConfigurationError(
            f"PostgreSQL is not installed: run `{INSTALL_HINT}` (or `make run`, which does it "
            "as root), or set DATABASE_URL to an existing PostGIS database"
        )
    for bin_dir in candidates:
        version = bin_dir.parent.name
        if Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            return bin_dir
    version = candidates[0].parent.name
    raise ConfigurationError(
        f"PostGIS is not installed for PostgreSQL {version}: run "
        f"`sudo apt-get install -y postgresql-{version}-postgis-3`, or set DATABASE_URL"
    )


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class PrivateCluster:
    """One PostgreSQL cluster in `directory`, listening on `host`:`port` only (loopback unless
    told: the multi-host tests give an address of their own); `durable` keeps PostgreSQL's
    crash safety (fsync), which the options of each start decide."""

    directory: Path
    port: int
    durable: bool = True
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{CLUSTER_USER}@{self.host}:{self.port}/{DATABASE}"

    def _as_owner(self, *command: str | Path) -> list[str]:
        args = [str(c) for c in command]
        if os.geteuid() == 0:
            return ["runuser", "-u", CLUSTER_USER, "--", *args]
        return args

    def _run(self, *command: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._as_owner(*command), capture_output=True, text=True, check=False, cwd="/"
        )

    def _prepare_directory(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(CLUSTER_USER)
            except KeyError:
                raise ConfigurationError(
                    f"running as root needs the unprivileged user {CLUSTER_USER!r} for the "
                    f"private PostgreSQL: create it (`useradd --system {CLUSTER_USER}`) or run "
                    "as a normal user"
                ) from None
            for path in (self.directory, *self.directory.rglob("*")):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self.directory.chmod(0o700)

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def running(self) -> bool:
        bin_dir = find_postgres_bin()
        return self._run(bin_dir / "pg_ctl", "-D", self.data, "status").returncode == 0

    def server_options(self) -> str:
        """The `postgres` options of each start (a start decides durability, not initdb)."""
        options = f"-p {self.port} -c listen_addresses={self.host} -k {self.directory}"
        return options if self.durable else f"{options} {UNSAFE_SPEED_OPTIONS}"

    def start(self) -> None:
        """Initialises the cluster on first use, then starts it and creates the database."""
        bin_dir = find_postgres_bin()
        self._prepare_directory()
        if not self.initialised():
            result = self._run(
                bin_dir / "initdb",
                "-D",
                self.data,
                "-U",
                CLUSTER_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
            if result.returncode != 0:
                raise ConfigurationError(f"initdb failed: {result.stderr.strip()[-300:]}")
        if self.host != "127.0.0.1":
            self._trust_own_network()
        if self.running():
            return
        if not port_is_free(self.host, self.port):
            raise ConfigurationError(
                f"port {self.port} is already in use, so the private PostgreSQL cannot start: "
                "stop what uses it or set TERRITOIRES_LOCAL_POSTGRES_PORT to a free port"
            )
        result = self._run(
            bin_dir / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.log_file,
            "-o",
            self.server_options(),
            "-w",
            "-t",
            "60",
            "start",
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-1:]
            raise ConfigurationError(
                f"the private PostgreSQL did not start: {' '.join(tail) or result.stderr.strip()}"
            )
        self._create_database(bin_dir)

    def _trust_own_network(self) -> None:
        """Listening beyond loopback, the cluster trusts the networks its host is on (initdb
        trusts loopback only): the multi-host tests' bridge."""
        hba = self.data / "pg_hba.conf"
        line = "host all all samenet trust\n"
        if line not in hba.read_text():
            with hba.open("a") as rules:
                rules.write(line)

    def _create_database(self, bin_dir: Path) -> None:
        for _ in range(50):
            probe = self._run(
                bin_dir / "psql",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                CLUSTER_USER,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'",
            )
            if probe.returncode == 0:
                break
            time.sleep(0.1)
        if probe.stdout.strip() != "1":
            created = self._run(
                bin_dir / "createdb",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                CLUSTER_USER,
                DATABASE,
            )
            if created.returncode != 0:
                raise ConfigurationError(f"createdb failed: {created.stderr.strip()}")

    def stop(self, mode: StopMode = "fast") -> None:
        """Stops the server; `immediate` is a crash (no checkpoint: the next start replays WAL)."""
        if self.initialised():
            self._run(find_postgres_bin() / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
