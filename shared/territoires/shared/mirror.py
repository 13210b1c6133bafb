"""Local copies of the remote assets of `mirror` sources, so that later jobs read them locally.

A harvested source marked `mirror` gives its items the property `territoires:mirror`; a job that
reads one of their assets copies it, the first time, into the storage under `mirror/` (the
archive's bytes as they are when the file is a valid COG, so that results do not change by a
pixel; otherwise translated to a COG; either way validated with rio-cogeo) and reads the copy
from then on. The copies live within a size budget (`TERRITOIRES_MIRROR_BUDGET_MB`): each read
marks its copy used, and a new copy removes the least recently used ones beyond the budget. A
copy larger than the whole budget is not kept: the job reads the archive in place.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.shutil import copyfiles
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles
from sqlalchemy import Engine, text

from territoires.shared.database import create_sync_database
from territoires.shared.settings import Settings
from territoires.shared.storage import Storage, storage_from_settings

MIRROR_PROPERTY = "territoires:mirror"
PREFIX = "mirror"


class MirrorError(OSError):
    """A remote asset that could not be copied into a valid COG."""


@lru_cache(maxsize=8)
def _engine(database_url: str) -> Engine:
    """One small pool per process and database: a job's readers copy one asset at a time."""
    return create_sync_database(database_url, pool_size=2, max_overflow=2)


@dataclass(frozen=True)
class Mirror:
    """The storage's copies of remote assets, within `budget` bytes."""

    storage: Storage
    database_url: str
    budget: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Mirror:
        return cls(
            storage_from_settings(settings),
            settings.require_database_url(),
            int(settings.mirror_budget_mb * 1024 * 1024),
        )

    def local(self, href: str, opened: str) -> str:
        """What a job opens for remote `href` (which GDAL opens as `opened`): its copy in the
        storage, made now when there is none. MirrorError when it cannot be copied."""
        engine = _engine(self.database_url)
        with engine.begin() as connection:
            key = connection.scalar(
                text(
                    "UPDATE mirrored_assets SET last_used = clock_timestamp() "
                    "WHERE href = :href RETURNING key"
                ),
                {"href": href},
            )
        if key is not None and self.storage.exists(key):
            return self.storage.href(key)
        key = mirror_key(href)
        with tempfile.TemporaryDirectory(prefix="territoires-mirror-") as folder:
            copy = as_cog(opened, Path(folder))
            size = copy.stat().st_size
            if size > self.budget:
                return opened
            stored = self.storage.put(key, copy)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO mirrored_assets (href, key, bytes, last_used) "
                    "VALUES (:href, :key, :bytes, clock_timestamp()) ON CONFLICT (href) DO "
                    "UPDATE SET key = :key, bytes = :bytes, last_used = clock_timestamp()"
                ),
                {"href": href, "key": key, "bytes": size},
            )
            evicted = connection.scalars(
                text(
                    "WITH ranked AS (SELECT href, sum(bytes) OVER "
                    "(ORDER BY last_used DESC, href) AS running FROM mirrored_assets) "
                    "DELETE FROM mirrored_assets m USING ranked r "
                    "WHERE m.href = r.href AND r.running > :budget RETURNING m.key"
                ),
                {"budget": self.budget},
            ).all()
        for old in evicted:
            self.storage.delete_prefix(old)
        return stored


def mirror_key(href: str) -> str:
    """The storage key of `href`'s copy: one folder per href, the file's own name inside, as a
    GeoTIFF (a JPEG 2000 asset is copied as a COG)."""
    digest = hashlib.sha256(href.encode()).hexdigest()[:32]
    stem = PurePosixPath(urlsplit(href).path).stem or "asset"
    return f"{PREFIX}/{digest}/{stem}.tif"


def as_cog(opened: str, folder: Path) -> Path:
    """A validated COG of the raster GDAL opens as `opened`, in `folder`: its bytes as they are
    when it is one already, else translated (deflate, the same pixels)."""
    copy = folder / "copy.tif"
    try:
        copyfiles(opened, copy)
        valid, _, _ = cog_validate(copy, quiet=True)
        if not valid:
            translated = folder / "translated.tif"
            cog_translate(copy, translated, cog_profiles.get("deflate"), quiet=True)
            copy.unlink()
            copy = translated
            valid, errors, _ = cog_validate(copy, quiet=True)
            if not valid:
                raise MirrorError(f"the copy is not a valid COG: {'; '.join(errors)}")
    except (RasterioError, CPLE_BaseError) as error:
        raise MirrorError(str(error)) from error
    return copy
