"""`territoires run`: the database, Redis, migrations, demo seed, four services and a worker."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from sqlalchemy import Engine, func, select

from territoires.catalog.ingest.loader import IngestOptions, find_inputs, ingest
from territoires.cli.local.allocator import allocator_environment
from territoires.cli.local.postgres import PrivateCluster, port_is_free
from territoires.cli.local.redis import EmbeddedRedis
from territoires.cli.local.supervisor import Supervisor
from territoires.shared.database import create_sync_database
from territoires.shared.local_mode import clear_backends, write_backends
from territoires.shared.models import Item
from territoires.shared.schema import upgrade
from territoires.shared.service import KEEP_ALIVE_S
from territoires.shared.settings import SERVICE_NAMES, ConfigurationError, Settings
from territoires.shared.storage import LocalStorage, S3Storage, storage_from_settings
from territoires.shared.territories import (
    count_territories,
    load_territories,
    read_demo_territories,
)
from territoires.synth import generate

SERVICES = ("gateway", *SERVICE_NAMES)
LOOPBACK = ["127.0.0.0/8", "::1"]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class Backends:
    database_url: str
    redis_url: str


def check_ports(settings: Settings) -> None:
    for name in SERVICES:
        port = getattr(settings, f"{name}_port")
        if not port_is_free(settings.host, port):
            raise ConfigurationError(
                f"port {port} ({name}) is already in use: stop what uses it "
                f"(`ss -ltnp 'sport = :{port}'`) or set TERRITOIRES_{name.upper()}_PORT"
            )


@contextmanager
def backends(settings: Settings, console: Console) -> Iterator[Backends]:
    """DATABASE_URL and REDIS_URL when given, else a private PostGIS cluster and embedded Redis."""
    cluster = redis = None
    try:
        database_url = settings.database_url
        if not database_url:
            cluster = PrivateCluster(
                settings.local_dir / "pg",
                settings.local_postgres_port,
                durable=settings.local_postgres_durable,
            )
            console.print(f"starting the private PostGIS cluster in {cluster.directory}")
            cluster.start()
            database_url = cluster.url
        redis_url = settings.redis_url
        if not redis_url:
            redis = EmbeddedRedis(settings.local_dir / "redis", settings.local_redis_port)
            console.print("starting the embedded Redis")
            redis.start()
            redis_url = redis.url
        yield Backends(database_url, redis_url)
    finally:
        if redis:
            redis.stop()
        if cluster:
            cluster.stop()


DEMO_TERRITORY = "17300"  # La Rochelle: heat, floods and coastline all matter there


def seed_demo(settings: Settings, database_url: str, console: Console) -> dict[str, int]:
    """Loads the demo territories and scenes unless they are there already (a second run is
    fast): the communes and départements, then synthetic scenes over La Rochelle. A database
    holding the national geography (`territoires territories load`: EPCIs) keeps it."""
    engine = create_sync_database(database_url)
    try:
        counts = count_territories(engine)
        demo_missing = counts.get("commune", 0) < 609 or counts.get("departement", 0) < 101
        if demo_missing and not counts.get("epci"):
            console.print("loading the demo territories (17, 13, 974 and the 101 départements)")
            load_territories(engine, read_demo_territories(settings.data_dir))
            counts = count_territories(engine)
        with engine.connect() as connection:
            scenes = connection.scalar(select(func.count()).select_from(Item))
        if not scenes:
            seed_demo_scenes(settings, engine, console)
        return counts
    finally:
        engine.dispose()


def scenes_root(settings: Settings) -> Path:
    """Where local mode synthesises its demo scenes: in the storage folder, which the tiler and
    the worker read; with results in a bucket, where the default storage folder keeps them
    (so a database seeded by a run on a folder still finds them), which it then trusts
    (`trusted_prefixes`)."""
    storage = storage_from_settings(settings)
    if isinstance(storage, LocalStorage):
        return storage.root / "scenes"
    return settings.local_dir / "storage" / "scenes"


def trusted_prefixes(settings: Settings) -> list[str]:
    """The asset prefixes the services are given: the operator's, and the demo scenes' folder
    when it is not in the storage."""
    if isinstance(storage_from_settings(settings), LocalStorage):
        return settings.asset_prefixes
    return [*settings.asset_prefixes, str(scenes_root(settings))]


def prepare_bucket(settings: Settings, console: Console) -> None:
    """With results in a bucket, the store must answer; local mode makes the bucket when it is
    missing (a developer's own store), as `s3-init` does for compose."""
    storage = storage_from_settings(settings)
    if not isinstance(storage, S3Storage):
        return
    try:
        storage.client.head_bucket(Bucket=storage.bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise ConfigurationError(
                f"bucket {storage.bucket!r} of TERRITOIRES_STORAGE_URL: {error}"
            ) from None
        region = settings.s3_region  # us-east-1 takes no location, every other one needs it
        placed = {"CreateBucketConfiguration": {"LocationConstraint": region}}
        options = {} if region == "us-east-1" else placed
        storage.client.create_bucket(Bucket=storage.bucket, **options)
        console.print(f"created bucket {storage.bucket!r}")
    except BotoCoreError as error:
        raise ConfigurationError(
            f"the S3 store of TERRITOIRES_STORAGE_URL does not answer ({error}): start it or set "
            "TERRITOIRES_S3_ENDPOINT_URL"
        ) from None


def seed_demo_scenes(settings: Settings, engine: Engine, console: Console) -> None:
    """Synthetic Sentinel-2 (spring and autumn of the last year too, for vegetation-strata;
    three scenes each of the last two summers, between which parcels change, for
    land-cover-change), Landsat, Sentinel-1 and VIIRS scenes of the demo commune and its
    buildings and streets (for local-climate-zones), written where the tiler and the worker may
    read them (`scenes_root`) and catalogued."""
    folder = scenes_root(settings) / DEMO_TERRITORY
    size = settings.demo_scene_size
    console.print(f"synthesising the demo scenes over {DEMO_TERRITORY} ({size}² at 10 m)")
    shutil.rmtree(folder, ignore_errors=True)
    generate(
        DEMO_TERRITORY,
        folder,
        size=size,
        settings=settings,
        seasons=True,
        with_buildings=True,
        changes=True,
    )
    report = ingest(engine, find_inputs([folder], IngestOptions()), IngestOptions())
    if report.problems:
        problem = report.problems[0]
        raise ConfigurationError(f"demo scenes not catalogued: {problem.where}: {problem.reason}")
    console.print(f"catalogued {report.written} demo scenes")


def uvicorn_command(name: str, settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"territoires.{name}.app:create_app",
        "--host",
        settings.host,
        "--port",
        str(getattr(settings, f"{name}_port")),
        "--no-access-log",
        "--no-proxy-headers",  # the apps believe forwarding headers from trusted proxies only
        "--timeout-keep-alive",
        str(KEEP_ALIVE_S),
        "--log-level",
        "warning",
    ]


def public_url_environment(settings: Settings) -> dict[str, str]:
    """On a loopback interface links name the gateway whatever Host a client sends; bound to
    another interface, the Host clients use is the one to link to (or TERRITOIRES_PUBLIC_URL)."""
    if settings.public_url:
        return {"TERRITOIRES_PUBLIC_URL": settings.public_url}
    if settings.host in LOOPBACK_HOSTS:
        return {"TERRITOIRES_PUBLIC_URL": f"http://localhost:{settings.gateway_port}"}
    return {}


def run_platform(settings: Settings, console: Console) -> None:
    started = time.monotonic()
    check_ports(settings)
    # SIGTERM (a service manager, a test) stops the platform like Ctrl-C does; a shell may start
    # background jobs with SIGINT ignored, which would leave Ctrl-C (kill -INT) without effect.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored
    prepare_bucket(settings, console)
    with backends(settings, console) as urls:
        revision = upgrade(urls.database_url)
        counts = seed_demo(settings, urls.database_url, console)
        console.print(f"database at revision {revision}; territories {counts}")
        environment = (
            {
                "DATABASE_URL": urls.database_url,
                "REDIS_URL": urls.redis_url,
                "TERRITOIRES_STORAGE_URL": settings.storage_url,
                "TERRITOIRES_ASSET_PREFIXES": json.dumps(trusted_prefixes(settings)),
                # Callbacks to a receiver on this machine, as local development needs.
                "TERRITOIRES_CALLBACK_ALLOW": json.dumps(settings.callback_allow or LOOPBACK),
            }
            | public_url_environment(settings)
            | allocator_environment(settings)
        )
        supervisor = Supervisor(environment)
        try:
            write_backends(settings.local_dir, urls.database_url, urls.redis_url)
            for name in SERVICES:
                supervisor.start(name, uvicorn_command(name, settings))
            supervisor.start("worker", [sys.executable, "-m", "territoires.cli.main", "worker"])
            supervisor.wait_ready(
                {name: f"{settings.service_url(name)}/readyz" for name in SERVICE_NAMES}
                | {"gateway": f"http://{settings.host}:{settings.gateway_port}/readyz"},
                timeout_s=120,
            )
            console.print(
                f"[bold green]Territoires is up[/] in {time.monotonic() - started:.1f} s: "
                f"http://localhost:{settings.gateway_port}  (Ctrl-C stops everything)"
            )
            supervisor.watch()
        except KeyboardInterrupt:
            console.print("stopping…")
        finally:
            clear_backends(settings.local_dir)
            supervisor.stop()
