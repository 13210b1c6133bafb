"""Which hrefs the platform may open: catalogued ones under trusted roots, nothing else (SSRF).

A service that opens what it is told to reads `/etc/passwd` or probes `http://127.0.0.1:6379`
for whoever asks. An href written in the catalog (by anyone with an ingest key) is opened, by
the tiler and by the compute worker alike, only when it lies inside the storage (its folder or
its `s3://bucket/prefix/`) or a prefix the operator trusts (`TERRITOIRES_ASSET_PREFIXES`); GDAL's
virtual file systems (`/vsi…`) and other schemes never: a hostile item cannot turn either into a
proxy or a file reader. An `s3://` href let through is opened as GDAL's `/vsis3/` path; a
remote href of a `mirror` source is read by jobs from its copy in the storage (`mirror`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from territoires.shared.errors import ForbiddenError
from territoires.shared.mirror import Mirror
from territoires.shared.settings import Settings
from territoires.shared.storage import S3_SCHEME, storage_from_settings

REMOTE_SCHEMES = ("http", "https", "s3")


@dataclass(frozen=True)
class AssetGuard:
    """Local folders and remote URL prefixes under which assets may be read."""

    folders: tuple[Path, ...]
    prefixes: tuple[str, ...]
    mirror: Mirror | None = field(default=None, compare=False)

    @classmethod
    def of(cls, roots: Iterable[str]) -> AssetGuard:
        """Roots as configured: local folders (or file:// URLs) and http(s)/s3 URL prefixes."""
        folders: list[Path] = []
        prefixes: list[str] = []
        for root in roots:
            scheme = urlsplit(root).scheme
            if scheme in REMOTE_SCHEMES:
                prefixes.append(root if root.endswith("/") else f"{root}/")
            else:
                path = unquote(urlsplit(root).path) if scheme == "file" else root
                folders.append(Path(os.path.realpath(path)))
        return cls(tuple(folders), tuple(prefixes))

    @classmethod
    def from_settings(cls, settings: Settings) -> AssetGuard:
        """The storage results are written to, plus the operator's trusted prefixes; remote
        assets of `mirror` sources copied into the storage when the database is known."""
        guard = cls.of([storage_from_settings(settings).href(""), *settings.asset_prefixes])
        if settings.database_url is None:
            return guard
        return cls(guard.folders, guard.prefixes, Mirror.from_settings(settings))

    def check(self, href: str) -> str:
        """The path or URL GDAL opens for `href` (`/vsis3/bucket/key` for `s3://bucket/key`);
        ForbiddenError when it is outside every root."""
        if "\x00" in href or href.startswith("/vsi"):
            raise ForbiddenError("asset href refused: GDAL virtual file systems are not readable")
        parts = urlsplit(href)
        if parts.scheme in REMOTE_SCHEMES:
            return self._remote(href)
        if parts.scheme not in ("", "file"):
            raise ForbiddenError(f"asset href refused: scheme {parts.scheme!r} is not readable")
        path = unquote(parts.path) if parts.scheme == "file" else href
        if not Path(path).is_absolute():
            raise ForbiddenError("asset href refused: not an absolute path in the storage")
        real = Path(os.path.realpath(path))
        if not any(real.is_relative_to(folder) for folder in self.folders):
            raise ForbiddenError("asset href refused: outside the storage and the trusted prefixes")
        return str(real)

    def for_job(self, href: str, mirrored: bool) -> str:
        """What a job opens for `href` (`check`): for a remote asset of a `mirror` source, its
        copy in the storage (made on first use). ForbiddenError as `check`; MirrorError when
        the copy cannot be made."""
        opened = self.check(href)
        if not mirrored or self.mirror is None or urlsplit(href).scheme not in REMOTE_SCHEMES:
            return opened
        return self.mirror.local(href, opened)

    def _remote(self, href: str) -> str:
        decoded = unquote(href)
        segments = urlsplit(decoded).path.split("/")
        if ".." in segments or "@" in urlsplit(decoded).netloc:
            raise ForbiddenError("asset href refused: dot segments or credentials in the URL")
        if not decoded.startswith(self.prefixes) or not href.startswith(self.prefixes):
            raise ForbiddenError("asset href refused: not under a trusted storage prefix")
        if href.startswith(S3_SCHEME):
            return f"/vsis3/{href.removeprefix(S3_SCHEME)}"
        return href
