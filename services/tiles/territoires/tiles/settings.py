"""The tiles service's own knobs (limits, caches, GDAL), read once from TERRITOIRES_TILES_*.

Database, storage and ports stay in `territoires.shared.settings`; these only concern how the
tiler reads and answers, so that an operator can tune them without touching the platform's.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TilesSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TERRITOIRES_TILES_", env_file=".env", extra="ignore"
    )

    max_tile_size: int = Field(default=1024, ge=64, description="Largest tilesize in pixels.")
    max_image_size: int = Field(
        default=2048, ge=64, description="Largest width or height of a preview, bbox or feature."
    )
    max_pixels: int = Field(
        default=2048 * 2048, ge=64 * 64, description="Largest width × height of an image answer."
    )
    max_mosaic_items: int = Field(
        default=500, ge=1, description="Most items a collection mosaic draws from (newest first)."
    )
    catalog_ttl_s: float = Field(
        default=30.0, ge=0, description="How long an item's resolved assets are reused."
    )
    cache_max_age_s: int = Field(
        default=300, ge=0, description="Cache-Control max-age of tiles and legends."
    )
    gdal_cachemax_mb: int = Field(default=512, ge=16, description="GDAL block cache (MB).")
    attribution: str = Field(
        default="Territoires · contains modified Copernicus Sentinel and USGS Landsat data",
        description="Attribution of every layer (TileJSON, tilesets, map pages).",
    )


@lru_cache
def get_tiles_settings() -> TilesSettings:
    return TilesSettings()
