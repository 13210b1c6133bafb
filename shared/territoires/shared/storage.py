"""Where result COGs live; callers name objects by key and never see the backend."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from territoires.shared.settings import ConfigurationError, Settings


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


def storage_from_settings(settings: Settings) -> Storage:
    url = settings.storage_url
    scheme = urlparse(url).scheme
    if scheme in ("", "file"):
        return LocalStorage(Path(urlparse(url).path if scheme else url))
    raise ConfigurationError(
        f"TERRITOIRES_STORAGE_URL={url}: only a local folder is supported in this release "
        "(S3-compatible storage comes with the object-store issue)"
    )
