"""One typed place for configuration: every service, the worker and the CLI read it once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class Settings(BaseSettings):
    """Environment variables prefixed TERRITOIRES_, plus the conventional DATABASE_URL/REDIS_URL."""

    model_config = SettingsConfigDict(env_prefix="TERRITOIRES_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "TERRITOIRES_DATABASE_URL"),
        description="PostgreSQL+PostGIS URL; local mode starts a private cluster when unset.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "TERRITOIRES_REDIS_URL"),
        description="Redis URL; local mode starts an embedded Redis when unset.",
    )
    redis_prefix: str = Field(
        default="territoires", description="Prefix of every Redis key (queue, rate limits)."
    )
    storage_url: str = Field(
        default=str(PROJECT_ROOT / ".data" / "storage"),
        description="Where result COGs are written: a local folder or s3://bucket/prefix.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, Garage, …)."
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / "data",
        description="The demo data the project carries (territories with their provenance).",
    )
    local_dir: Path = Field(
        default=PROJECT_ROOT / ".data",
        description="Local mode state: the private PostGIS cluster, embedded Redis, logs.",
    )

    demo_scene_size: int = Field(
        default=2048,
        ge=512,
        le=10980,
        description="Side in 10 m pixels of the synthetic demo scenes local mode catalogues.",
    )

    host: str = Field(default="127.0.0.1", description="Interface the local-mode services bind.")
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    catalog_port: int = Field(default=8001, ge=1, le=65535)
    compute_port: int = Field(default=8002, ge=1, le=65535)
    tiles_port: int = Field(default=8003, ge=1, le=65535)
    local_postgres_port: int = Field(
        default=54329, ge=1, le=65535, description="Port of the private PostGIS cluster."
    )
    local_redis_port: int = Field(
        default=56379, ge=1, le=65535, description="Port of the embedded Redis."
    )
    local_postgres_durable: bool = Field(
        default=True,
        description="The private PostGIS flushes commits to disk (fsync); false trades crash "
        "safety for speed (fsync, synchronous_commit and full_page_writes off).",
    )

    public_url: str | None = Field(
        default=None, description="The gateway's public URL, when behind another proxy."
    )
    catalog_url: str | None = Field(default=None, description="Catalog service base URL.")
    compute_url: str | None = Field(default=None, description="Compute service base URL.")
    tiles_url: str | None = Field(default=None, description="Tiles service base URL.")

    api_key_header: str = Field(default="X-API-Key", description="Header carrying a partner key.")
    api_key_pepper: SecretStr = Field(
        default=SecretStr("territoires-local-pepper"),
        description="Secret mixed into stored API key hashes; set it in production.",
    )

    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (portals) allowed to call the APIs from a browser; * for any.",
    )
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="API requests a minute from one address without a key."
    )
    rate_limit_key_per_minute: int = Field(
        default=6000, ge=1, description="API requests a minute with one partner key."
    )
    rate_limit_tiles_per_minute: int = Field(
        default=60000, ge=1, description="Tile and map requests a minute per address or key."
    )

    readiness_timeout_s: float = Field(
        default=2.0, gt=0, description="How long a /readyz dependency check may take."
    )
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="JSON logs (structlog); false for console.")

    def service_url(self, service: str) -> str:
        """Base URL of a service: its explicit setting, else local mode's host and port."""
        explicit = getattr(self, f"{service}_url", None)
        if explicit:
            return explicit.rstrip("/")
        return f"http://{self.host}:{getattr(self, f'{service}_port')}"

    @property
    def queue_name(self) -> str:
        """The arq queue of indicator jobs (the gateway reports its depth)."""
        return f"{self.redis_prefix}:arq:queue"

    @property
    def services(self) -> dict[str, str]:
        """The services the gateway fronts, by name."""
        return {name: self.service_url(name) for name in SERVICE_NAMES}

    def require_database_url(self) -> str:
        if not self.database_url:
            raise ConfigurationError(
                "DATABASE_URL is not set: export it (postgresql://user@host:port/db) "
                "or start the platform with `make run`, which provides one."
            )
        return self.database_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigurationError(
                "REDIS_URL is not set: export it (redis://host:port/0) "
                "or start the platform with `make run`, which provides one."
            )
        return self.redis_url


SERVICE_NAMES = ("catalog", "compute", "tiles")


class ConfigurationError(RuntimeError):
    """A setup problem the operator fixes; its message is the one-line fix."""


@lru_cache
def get_settings() -> Settings:
    """The process's settings; an invalid variable becomes a ConfigurationError naming it."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{_variable(str(e['loc'][0]))}={e.get('input')!r}: {e['msg']}" for e in error.errors()
        )
        raise ConfigurationError(f"invalid setting {problems}") from None


def _variable(field: str) -> str:
    return field if field.isupper() else f"TERRITOIRES_{field.upper()}"
