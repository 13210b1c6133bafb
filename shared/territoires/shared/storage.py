"""Where result COGs live; callers name objects by key and never see the backend.

Two backends: a folder every service shares (local mode, one host) and an S3-compatible bucket
(any number of hosts). Hrefs are what the catalog records and readers open: a path, or
`s3://bucket/key`, which the asset guard hands to GDAL as `/vsis3/bucket/key`; GDAL finds the
endpoint, region, addressing style and credentials in the process environment, set from the
settings by `storage_from_settings`, which every service and the worker call.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import urlparse, urlsplit

import boto3
from boto3.exceptions import Boto3Error
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from territoires.shared.errors import ServiceUnavailableError
from territoires.shared.settings import ConfigurationError, Settings

S3_SCHEME = "s3://"
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


class Storage(Protocol):
    def put(self, key: str, source: Path) -> str:
        """Stores a local file under `key`; returns the href readers (rasterio, TiTiler) open."""

    def href(self, key: str) -> str: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int:
        """Removes every object under `prefix` (a dismissed job's outputs); returns the count."""


class LocalStorage:
    """A folder on a disk every service shares (local mode, one host)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def put(self, key: str, source: Path) -> str:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        partial.replace(target)  # readers never see a half-written COG
        return str(target)

    def href(self, key: str) -> str:
        return str(self._path(key))

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete_prefix(self, prefix: str) -> int:
        folder = self._path(prefix)
        if folder.is_file():
            folder.unlink()
            return 1
        if not folder.is_dir():
            return 0
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder, onerror=_gone_already)
        return count


def _gone_already(function: object, path: str, info: tuple) -> None:
    """A file or folder another process removed meanwhile (a job's worker cleaning up while it
    is dismissed) is what was wanted; anything else is an error."""
    if not isinstance(info[1], FileNotFoundError):
        raise info[1]


class StorageUnavailableError(ServiceUnavailableError):
    """The object store refused (a missing bucket, denied access): a job fails with these words
    rather than the store's, a dismissal is a 503 to send again."""


class StorageUnreachableError(StorageUnavailableError):
    """The object store did not answer, after the client's retries: an outage, like the
    database's, that the worker runs the job again after."""


@contextmanager
def _reaching_the_store(doing: str) -> Iterator[None]:
    try:
        yield
    except BotoCoreError as error:
        raise StorageUnreachableError(
            f"{doing}: the object store does not answer; try again later"
        ) from error
    except (ClientError, Boto3Error) as error:
        raise StorageUnavailableError(f"{doing}: the object store refused") from error


class S3Storage:
    """A bucket (and a prefix in it) of an S3-compatible store that every host reaches."""

    def __init__(self, url: str, client: BaseClient) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigurationError(f"TERRITOIRES_STORAGE_URL={url}: not s3://bucket[/prefix]")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.client = client

    def _key(self, key: str) -> str:
        segments = PurePosixPath(key).parts
        if key.startswith("/") or ".." in segments:
            raise ValueError(f"storage key escapes the storage prefix: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, source: Path) -> str:
        # An object appears whole when its upload completes (a multipart one included): readers
        # never see a half-written COG.
        media_type = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
        with _reaching_the_store("could not store the result (nothing was catalogued)"):
            self.client.upload_file(
                str(source), self.bucket, self._key(key), ExtraArgs={"ContentType": media_type}
            )
        return self.href(key)

    def href(self, key: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        with _reaching_the_store("could not look in the storage"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if _status(error) == 404:
                    return False
                raise
        return True

    def delete_prefix(self, prefix: str) -> int:
        """The object `prefix` names and those under `prefix/`, as a folder's, not others that
        merely start with the same characters (`jobs/1` spares `jobs/10/…`)."""
        base = self._key(prefix).rstrip("/")
        with _reaching_the_store("could not delete the stored files"):
            return self._delete_under(base)

    def _delete_under(self, base: str) -> int:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base, PaginationConfig={"PageSize": DELETE_BATCH}
        )
        count = 0
        for page in pages:
            keys = [
                entry["Key"]
                for entry in page.get("Contents", [])
                if entry["Key"] == base or entry["Key"].startswith(f"{base}/")
            ]
            if not keys:
                continue
            answer = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
            errors = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise StorageUnavailableError(
                    f"could not delete the stored files: the object store refused "
                    f"({errors[0].get('Code')}); try again later"
                )
            count += len(keys)
        return count


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def path_style(settings: Settings) -> bool:
    """Path-style addressing unless told otherwise: what S3-compatible stores at an endpoint of
    their own serve; AWS S3 (no endpoint) takes virtual-hosted buckets."""
    if settings.s3_path_style is not None:
        return settings.s3_path_style
    return settings.s3_endpoint_url is not None


def s3_client(settings: Settings) -> BaseClient:
    """The process's S3 client for these settings (boto3 clients are thread-safe)."""
    key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
    return _client(
        settings.s3_endpoint_url,
        settings.s3_region,
        path_style(settings),
        key_id.get_secret_value() if key_id else None,
        secret.get_secret_value() if secret else None,
    )


@lru_cache(maxsize=8)
def _client(
    endpoint: str | None, region: str, path: bool, key_id: str | None, secret: str | None
) -> BaseClient:
    config = Config(
        s3={"addressing_style": "path" if path else "virtual"},
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def uses_s3(settings: Settings) -> bool:
    """Whether the storage or a trusted asset prefix is on an S3 store."""
    return settings.storage_url.startswith(S3_SCHEME) or any(
        prefix.startswith(S3_SCHEME) for prefix in settings.asset_prefixes
    )


def gdal_s3_options(settings: Settings) -> dict[str, str]:
    """GDAL's configuration for /vsis3/ from the settings the S3 client reads, so that GDAL
    (rasterio, TiTiler, the worker) and boto3 reach the same store the same way."""
    options = {
        "AWS_REGION": settings.s3_region,
        "AWS_VIRTUAL_HOSTING": "FALSE" if path_style(settings) else "TRUE",
    }
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        options["AWS_S3_ENDPOINT"] = endpoint.netloc
        options["AWS_HTTPS"] = "YES" if endpoint.scheme == "https" else "NO"
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        options["AWS_ACCESS_KEY_ID"] = settings.s3_access_key_id.get_secret_value()
        options["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    return options


# How GDAL reads COGs over HTTP(S) and S3 (/vsicurl/, /vsis3/), for the worker and the tiler
# alike; an operator's own environment wins. The reasons are in the README ("Remote archives").
GDAL_REMOTE_OPTIONS = {
    # Opening a COG is ranged GETs of the file, never a listing of its folder.
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # Nor probes for side-car files (.aux.xml, .ovr, .msk) that archives do not publish.
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF,.jp2,.JP2",
    # The header and the first tiles' offsets in one request rather than several.
    "GDAL_INGESTED_BYTES_AT_OPEN": "32768",
    # Adjacent blocks of a window in one request; parallel requests on one HTTP/2 connection
    # where the archive speaks it over TLS (HTTP/1.1 otherwise).
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2TLS",
    # An archive's 429 and 5xx answered again after 1, 2, 4 s (GDAL doubles the delay).
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    # A stalled archive fails the read (the job is retried later) instead of hanging it.
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "60",
    # Bytes already fetched stay in memory for the next window of the same file (bounded).
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": str(50 * 1024 * 1024),
    # Remote ranges already fetched shared by every file handle of the process (bounded).
    "CPL_VSIL_CURL_CACHE_SIZE": str(128 * 1024 * 1024),
}


def configure_gdal(settings: Settings) -> None:
    """Sets GDAL's S3 options in the process environment, where GDAL looks them up on every
    open, whichever thread or library (rasterio, rio-tiler) opens the file; and the options of
    remote reading when the storage or a trusted prefix is remote."""
    if uses_s3(settings):
        os.environ.update(gdal_s3_options(settings))
    remote = ("http://", "https://", S3_SCHEME)
    if settings.storage_url.startswith(S3_SCHEME) or any(
        prefix.startswith(remote) for prefix in settings.asset_prefixes
    ):
        for name, value in GDAL_REMOTE_OPTIONS.items():
            os.environ.setdefault(name, value)


def storage_from_settings(settings: Settings) -> Storage:
    """The storage the settings name; with S3 anywhere, GDAL configured to read from it."""
    configure_gdal(settings)
    url = settings.storage_url
    scheme = urlparse(url).scheme
    if scheme in ("", "file"):
        return LocalStorage(Path(urlparse(url).path if scheme else url))
    if scheme == "s3":
        return S3Storage(url, s3_client(settings))
    raise ConfigurationError(
        f"TERRITOIRES_STORAGE_URL={url}: a local folder or s3://bucket[/prefix], not {scheme}://"
    )
