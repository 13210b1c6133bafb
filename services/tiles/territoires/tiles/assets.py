"""Which hrefs the tiler may open: catalogued ones under trusted roots, nothing else (SSRF).

A tiler that opens what it is told to reads `/etc/passwd` or probes `http://127.0.0.1:6379` for
whoever asks. Ours takes no dataset URL from requests at all, and even an href written in the
catalog is opened only when it lies inside the storage folder or a configured trusted prefix:
an item registered with a hostile href cannot turn the tiler into a proxy either.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from territoires.shared.errors import ForbiddenError

REMOTE_SCHEMES = ("http", "https", "s3")


@dataclass(frozen=True)
class AssetGuard:
    """Local folders and remote URL prefixes under which assets may be read."""

    folders: tuple[Path, ...]
    prefixes: tuple[str, ...]

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

    def check(self, href: str) -> str:
        """The path or URL to open for `href`; ForbiddenError when it is outside every root."""
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
            raise ForbiddenError("asset href refused: outside the storage the tiler may read")
        return str(real)

    def _remote(self, href: str) -> str:
        decoded = unquote(href)
        segments = urlsplit(decoded).path.split("/")
        if ".." in segments or "@" in urlsplit(decoded).netloc:
            raise ForbiddenError("asset href refused: dot segments or credentials in the URL")
        if not decoded.startswith(self.prefixes) or not href.startswith(self.prefixes):
            raise ForbiddenError("asset href refused: not under a trusted storage prefix")
        return href
