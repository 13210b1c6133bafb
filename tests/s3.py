"""A real S3-compatible server for the suite: moto's server mode, started as its own process on
a free loopback port (the object store is reached over HTTP, by boto3 and by GDAL's /vsis3/,
exactly as a deployment's store is), with a fresh bucket per test that asks for one."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from territoires.shared.settings import Settings
from territoires.shared.storage import S3Storage, s3_client

from .servers import free_port

# moto takes any credentials; these are the ones every test client and GDAL sign with.
ACCESS_KEY = "territoires-test"
SECRET_KEY = "territoires-test-secret"


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def settings(self, settings: Settings, bucket: str, prefix: str = "results") -> Settings:
        """`settings` with their storage in `bucket` of this server."""
        return settings.model_copy(
            update={
                "storage_url": f"s3://{bucket}/{prefix}",
                "s3_endpoint_url": self.endpoint,
                "s3_access_key_id": SecretStr(ACCESS_KEY),
                "s3_secret_access_key": SecretStr(SECRET_KEY),
            }
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("s3") / "moto.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(endpoint, process, log)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(endpoint: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's S3 server did not start:\n{log.read_text()}") from None
            time.sleep(0.1)


def new_bucket(server: S3Server, settings: Settings) -> S3Storage:
    """A bucket of its own, and the storage in it under `results/`."""
    s3_settings = server.settings(settings, f"territoires-{uuid.uuid4().hex[:12]}")
    storage = S3Storage(s3_settings.storage_url, s3_client(s3_settings))
    storage.client.create_bucket(Bucket=storage.bucket)
    return storage


def object_keys(storage: S3Storage, prefix: str = "") -> list[str]:
    """Every key under `prefix` of the storage's bucket, however many pages."""
    pages = storage.client.get_paginator("list_objects_v2").paginate(
        Bucket=storage.bucket, Prefix=prefix
    )
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]
