"""The whole platform for tests: a database with the demo territories and synthetic scenes over
La Rochelle (512² for speed), the compute, catalog, tiles and gateway apps over real HTTP, and
`territoires worker` processes on a queue of the test's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis import Redis
from sqlalchemy import select, text

from territoires.catalog.app import create_app as create_catalog
from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.compute.app import create_app as create_compute
from territoires.gateway.app import create_app as create_gateway
from territoires.shared.apikeys import Scope, create_key
from territoires.shared.database import create_sync_database
from territoires.shared.models import ApiKey
from territoires.shared.schema import upgrade
from territoires.shared.settings import Settings
from territoires.shared.stac.records import collection_row, item_row
from territoires.shared.stac.store import upsert_collections, upsert_items
from territoires.shared.territories import load_territories, read_demo_territories
from territoires.synth import generate

from .conftest import RUN_ID
from .servers import serve

T = TypeVar("T")

SCENE_SIZE = 512
# The synthetic scenes' dates (territoires synth's defaults): summers 2021, 2022 and 2023.
SUMMER_2023 = "2023-06-01/2023-08-31"


@pytest.fixture(scope="session")
def scenes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scenes") / "17300"
    generate("17300", folder, size=SCENE_SIZE)
    return folder


@pytest.fixture(scope="session")
def platform_settings(
    empty_database_factory, redis_url: str, scenes_dir: Path, tmp_path_factory
) -> Settings:
    """Territories loaded, synthetic scenes catalogued, storage in a folder of its own."""
    url = empty_database_factory("compute")
    settings = Settings(
        DATABASE_URL=url,
        REDIS_URL=redis_url,
        redis_prefix=f"territoires-test-{RUN_ID}-compute",
        storage_url=str(tmp_path_factory.mktemp("compute-storage")),
        asset_prefixes=[str(scenes_dir)],
        callback_allow=["127.0.0.0/8"],  # the tests' subscribers listen on loopback
        callback_timeout_s=2.0,
    )
    prepare_database(settings, scenes_dir)
    return settings


def prepare_database(settings: Settings, scenes_dir: Path) -> None:
    """Migrates the database, loads the demo territories and catalogues the scenes."""
    url = settings.require_database_url()
    upgrade(url)
    engine = create_sync_database(url)
    load_territories(engine, read_demo_territories(settings.data_dir))
    report = ingest(engine, find_inputs([scenes_dir], IngestOptions()), IngestOptions())
    assert not report.problems, report.problems
    engine.dispose()


def issue_key(settings: Settings, name: str, scope: Scope) -> str:
    """A partner key with one scope, stored in the test database."""
    engine = create_sync_database(settings)
    key = create_key(
        engine,
        f"{name}-{uuid.uuid4().hex[:6]}",
        [scope],
        settings.api_key_pepper.get_secret_value(),
    )
    engine.dispose()
    return key


def key_row(settings: Settings, key: str) -> ApiKey:
    """The stored row of a key issued by `issue_key`: what the API sees as the caller."""
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        row = connection.execute(select(ApiKey).where(ApiKey.prefix == key.split("_")[1])).one()
    engine.dispose()
    return row


def written_by(settings: Settings, job_id: str) -> tuple[int, int]:
    """(items, statistics rows) a job has in the catalog."""
    engine = create_sync_database(settings)
    with engine.connect() as connection:
        items = connection.scalar(
            text(
                "SELECT count(*) FROM items WHERE content->'properties'->>'territoires:job_id'"
                " = :id"
            ),
            {"id": job_id},
        )
        rows = connection.scalar(
            text("SELECT count(*) FROM indicator_statistics WHERE job_id = :id"), {"id": job_id}
        )
    engine.dispose()
    return items, rows


@pytest.fixture(scope="session")
def api_key(platform_settings: Settings) -> str:
    return issue_key(platform_settings, "partner", Scope.EXECUTE)


@pytest.fixture(scope="session")
def read_only_key(platform_settings: Settings) -> str:
    return issue_key(platform_settings, "reader", Scope.INGEST)


@pytest.fixture(scope="session")
def compute_url(platform_settings: Settings) -> Iterator[str]:
    with serve(create_compute(platform_settings)) as url:
        yield url


@contextmanager
def services_over(settings: Settings, compute_url: str) -> Iterator[dict[str, str]]:
    """Catalog and tiles started on `settings` beside compute, as the gateway's `*_url`
    settings."""
    from territoires.tiles.app import create_app as create_tiles

    with (
        serve(create_catalog(settings)) as catalog_url,
        serve(create_tiles(settings)) as tiles_url,
    ):
        yield {"catalog_url": catalog_url, "compute_url": compute_url, "tiles_url": tiles_url}


@contextmanager
def gateway_over(settings: Settings, compute_url: str) -> Iterator[str]:
    """The gateway in front of compute, and of catalog and tiles started on `settings`."""
    with (
        services_over(settings, compute_url) as services,
        serve(create_gateway(settings.model_copy(update=services))) as url,
    ):
        yield url


@pytest.fixture(scope="session")
def platform_services(platform_settings: Settings, compute_url: str) -> Iterator[dict[str, str]]:
    """Compute, catalog and tiles on the test database, as the gateway's `*_url` settings."""
    with services_over(platform_settings, compute_url) as services:
        yield services


@pytest.fixture(scope="session")
def platform_url(platform_settings: Settings, platform_services: dict[str, str]) -> Iterator[str]:
    """The gateway in front of compute, catalog and tiles on the test database."""
    with serve(create_gateway(platform_settings.model_copy(update=platform_services))) as url:
        yield url


def worker_environment(settings: Settings) -> dict[str, str]:
    return (
        os.environ
        | {
            "DATABASE_URL": settings.database_url or "",
            "REDIS_URL": settings.redis_url or "",
            # Outside local mode (backends on other hosts) the development pepper is refused.
            "TERRITOIRES_API_KEY_PEPPER": settings.api_key_pepper.get_secret_value(),
            "TERRITOIRES_REDIS_PREFIX": settings.redis_prefix,
            "TERRITOIRES_STORAGE_URL": settings.storage_url,
            "TERRITOIRES_ASSET_PREFIXES": json.dumps(settings.asset_prefixes),
            "TERRITOIRES_CALLBACK_ALLOW": json.dumps(settings.callback_allow),
            "TERRITOIRES_CALLBACK_TIMEOUT_S": str(settings.callback_timeout_s),
            "TERRITOIRES_PLUGINS": json.dumps(settings.plugins),
            "TERRITOIRES_WORKER_MAX_JOBS": str(settings.worker_max_jobs),
            "TERRITOIRES_FANOUT_COMMUNES": str(settings.fanout_communes),
            "TERRITOIRES_LOG_JSON": "false",
        }
        | s3_environment(settings)
    )


def s3_environment(settings: Settings) -> dict[str, str]:
    """The S3 store's settings as a deployment's environment names them (none without one)."""
    if settings.s3_endpoint_url is None:
        return {}
    key, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return {
        "TERRITOIRES_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "TERRITOIRES_S3_REGION": settings.s3_region,
        "AWS_ACCESS_KEY_ID": key.get_secret_value() if key else "",
        "AWS_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
    }


WORKER_COMMAND = (sys.executable, "-m", "territoires.cli.main", "worker")


def start_worker(
    settings: Settings, log: Path, command: Sequence[str] = WORKER_COMMAND, **popen: Any
) -> subprocess.Popen:
    """`territoires worker` as operators run it (or `command`), logging to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            list(command),
            env=worker_environment(settings),
            stdout=output,
            stderr=subprocess.STDOUT,
            **popen,
        )


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def worker(platform_settings: Settings, tmp_path_factory) -> Iterator[subprocess.Popen]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(platform_settings, log)
    wait_for_worker(platform_settings, process, log)
    yield process
    stop_worker(process)
    forget_queue(platform_settings)


def forget_queue(settings: Settings) -> None:
    """Removes the settings' Redis keys: the next platform of the run starts with an empty queue."""
    queue = Redis.from_url(settings.redis_url or "")
    keys = list(queue.scan_iter(f"{settings.redis_prefix}*"))
    if keys:
        queue.delete(*keys)
    queue.close()


def scenes_platform_settings(
    database_url: str, redis_url: str, name: str, scenes: Path, storage: Path
) -> Settings:
    """A platform of a test module's own over its own synthetic scenes, catalogued."""
    settings = Settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        redis_prefix=f"territoires-test-{RUN_ID}-{name}",
        storage_url=str(storage),
        asset_prefixes=[str(scenes)],
    )
    prepare_database(settings, scenes)
    return settings


@contextmanager
def platform_with_worker(
    settings: Settings, log: Path, worker_start_s: float = 120
) -> Iterator[str]:
    """A worker, the compute API and the gateway over `settings`: the gateway's URL."""
    worker = start_worker(settings, log)
    try:
        wait_for_worker(settings, worker, log, timeout_s=worker_start_s)
        with (
            serve(create_compute(settings)) as compute_url,
            gateway_over(settings, compute_url) as url,
        ):
            yield url
    finally:
        stop_worker(worker)
        forget_queue(settings)


def wait_for_worker(
    settings: Settings, process: subprocess.Popen, log: Path, timeout_s: float = 120
) -> None:
    """Until the worker has reported its health (it has started and warmed its kernels)."""
    queue = Redis.from_url(settings.redis_url or "")
    deadline = time.monotonic() + timeout_s
    try:
        while not queue.exists(f"{settings.queue_name}:health-check"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
    finally:
        queue.close()


def owslib_client(kind: Callable[[str], T], url: str, headers: Mapping[str, str]) -> T:
    """An OWSLib OGC API client that sends `headers`. OWSLib's own `headers=` updates its
    module-wide REQUEST_HEADERS, so every later client in the process would send them too (a
    key of another test's database: 401)."""
    client = kind(url)
    client.headers = {**client.headers, **headers}  # type: ignore[attr-defined]
    return client


def catalogue(settings: Settings, collection: str, items: list[dict[str, Any]]) -> None:
    """`items` in a collection of their own."""
    document = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection,
        "description": collection,
        "license": "CC0-1.0",
        "extent": {
            "spatial": {"bbox": [items[0]["bbox"]]},
            "temporal": {"interval": [["2021-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }
    engine = create_sync_database(settings)
    with engine.begin() as connection:
        upsert_collections(connection, [collection_row(document)])
        upsert_items(connection, [item_row(item) for item in items])
    engine.dispose()


def catalogue_variant(
    settings: Settings, path: Path, collection: str, change: Callable[[dict, Path], object]
) -> None:
    """A copy of the synthetic item at `path` (hrefs made absolute), changed by `change(item,
    its folder)`, catalogued in a collection of its own: bad scenes without touching the demo's."""
    item = json.loads(path.read_text())
    for asset in item["assets"].values():
        asset["href"] = str((path.parent / asset["href"]).resolve())
    item |= {"collection": collection, "id": f"{collection}-1", "links": []}
    change(item, path.parent)
    catalogue(settings, collection, [item])
