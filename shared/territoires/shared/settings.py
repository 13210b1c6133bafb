"""One typed place for configuration: every service, the worker and the CLI read it once."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from territoires.shared.local_mode import running_backends

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# Secrets this project has shipped as examples or defaults (local mode's pepper, the former
# docker-compose defaults, the placeholders of k8s/base/secret.yaml), compared ignoring case:
# anyone can read them, so outside local mode they protect nothing.
DEVELOPMENT_SECRETS = frozenset(
    {
        "territoires",
        "territoires-local-pepper",
        "territoires-compose-pepper",
        "territoires-compose-secret",
        "change-me",
    }
)


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
    asset_prefixes: list[str] = Field(
        default_factory=list,
        description="Roots besides the storage folder that catalogued hrefs may point into, for "
        "the tiler and the compute worker alike: local folders, or https:// / s3:// prefixes of "
        "a trusted store, as a JSON list "
        '(TERRITOIRES_ASSET_PREFIXES=\'["/srv/scenes", "https://data.example.fr/cogs/"]\').',
    )
    harvest_sources: Path | None = Field(
        default=None,
        description="A YAML or JSON source file (`territoires harvest --sources`) the worker "
        "harvests on schedule; none: no scheduled harvest.",
    )
    harvest_hours: list[Annotated[int, Field(ge=0, le=23)]] = Field(
        default=[3],
        description="The hours (UTC) of the scheduled harvest, as a JSON list ('[3, 15]').",
    )
    harvest_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a harvest waits for a STAC API's answer before the source is "
        "reported failed (the other sources go on).",
    )
    mirror_budget_mb: float = Field(
        default=20480,
        ge=0,
        description="Size budget of the local copies of `mirror` sources' assets in the storage "
        "(under `mirror/`); beyond it the least recently used copies are removed.",
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="Modules of indicator plug-ins (registry entries and their process), as a "
        "JSON list ('[\"territoires_lst.plugin\"]'); every service and worker imports them.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of an S3-compatible store (http(s)://host[:port]: MinIO, Garage, "
        "Versity, …); unset for AWS S3.",
    )
    s3_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("TERRITOIRES_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="Region of the S3 store (most S3-compatible stores take any).",
    )
    s3_path_style: bool | None = Field(
        default=None,
        description="Path-style addressing (http://host/bucket/key) rather than virtual-hosted "
        "(http://bucket.host/key); unset: path-style exactly when an endpoint is given.",
    )
    s3_access_key_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ACCESS_KEY_ID", "TERRITOIRES_S3_ACCESS_KEY_ID"),
        description="S3 access key; unset: the AWS default chain (instance or pod role).",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_SECRET_ACCESS_KEY", "TERRITOIRES_S3_SECRET_ACCESS_KEY"),
        description="S3 secret key, with the access key.",
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / "data",
        description="The demo data the project carries (territories with their provenance).",
    )
    kit_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared",
        description="The data kit holding the national territories (`territoires territories "
        "load`): data/territories/ with the 2016 outlines and cog-2026/.",
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

    local_allocator: Literal["auto", "jemalloc", "system"] = Field(
        default="auto",
        description="Allocator of local mode's services and worker: jemalloc when installed "
        "(auto), jemalloc or fail (jemalloc), or glibc's malloc (system).",
    )

    public_url: str | None = Field(
        default=None,
        description=(
            "The gateway's public URL (http(s)://host[:port][/prefix]); when set, every link "
            "uses it whatever the request's Host and forwarding headers say."
        ),
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network("127.0.0.1/32"), ip_network("::1/128")],
        description=(
            "Addresses or networks of the proxies whose forwarding headers (Forwarded, "
            "X-Forwarded-For/-Host/-Proto/-Port/-Prefix) are believed; from any other peer "
            "they are dropped."
        ),
    )
    catalog_url: str | None = Field(default=None, description="Catalog service base URL.")
    compute_url: str | None = Field(default=None, description="Compute service base URL.")
    tiles_url: str | None = Field(default=None, description="Tiles service base URL.")

    api_key_header: str = Field(default="X-API-Key", description="Header carrying a partner key.")
    api_key_pepper: SecretStr = Field(
        default=SecretStr("territoires-local-pepper"),
        description="Secret mixed into stored API key hashes; outside local mode it must be "
        "set, and not to a development default.",
    )

    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins (portals) allowed to call the APIs from a browser; * for any.",
    )
    frame_ancestors: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Sources allowed to frame /embed (its Content-Security-Policy "
        'frame-ancestors), e.g. ["https://www.ville-la-rochelle.fr"]; * for any. The other '
        "pages may be framed by the platform's own origin only.",
    )
    base_map: Literal["outlines", "plan-ign", "orthophotos-ign"] = Field(
        default="outlines",
        description="Base map of the map pages: the commune and département outlines the "
        "platform cuts itself (no internet needed), or IGN Géoplateforme's WMTS under them: "
        "Plan IGN (plan-ign) or the orthophotos (orthophotos-ign).",
    )
    ign_wmts_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://data.geopf.fr/wmts"),
        description="IGN Géoplateforme's WMTS endpoint (KVP GetTile), used when base_map names "
        "an IGN layer; the pages' Content-Security-Policy lets its origin in.",
    )
    accessibility_contact: str | None = Field(
        default=None,
        description="E-mail address or URL for accessibility feedback, named by the "
        "accessibility statement (/accessibilite).",
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
    rate_limit_failed_keys_per_minute: int = Field(
        default=20,
        ge=1,
        description="Invalid API keys a minute from one address before its keys are refused.",
    )
    metrics_refresh_s: float = Field(
        default=15.0,
        gt=0,
        description="At most one database and queue read for /metrics in this many seconds.",
    )
    max_request_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body accepted (413)."
    )
    max_json_depth: int = Field(
        default=32, ge=2, description="Deepest nesting of a JSON request body accepted (400)."
    )

    max_active_jobs_per_key: int = Field(
        default=50,
        ge=1,
        description="Jobs one partner key may have queued or running at once; more is a 429.",
    )
    max_queue_depth: int = Field(
        default=10000,
        ge=1,
        description="Queued jobs past which execution answers 503 (Retry-After) for everyone.",
    )
    callback_allow: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR or single addresses) and host names that job callbacks may "
        "reach although loopback, private, link-local or reserved, as a JSON list "
        '(\'["127.0.0.0/8", "::1"]\' for tests and local mode); every other such address is '
        "refused.",
    )
    callback_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest a whole callback may take (resolve, connect, send, answer): a "
        "slower subscriber is cut off and never holds a job slot.",
    )
    cql2_max_chars: int = Field(
        default=65_536,
        ge=16,
        description="Longest CQL2 filter (text, or JSON written compactly) a catalog search "
        "takes, in characters.",
    )
    cql2_max_depth: int = Field(
        default=16,
        ge=1,
        le=100,
        description="Deepest nesting of operations (and/or/not, comparisons, functions) in a "
        "CQL2 filter; at most 100, well short of what the parsers' stacks hold.",
    )
    geometry_max_vertices: int = Field(
        default=10_000,
        ge=4,
        description="Vertices of a search geometry (STAC `intersects`, the geometries of a "
        "CQL2 filter), all together.",
    )
    stac_transaction_max_items: int = Field(
        default=1_000,
        ge=1,
        le=4_000,
        description="Items one STAC transaction (an ItemCollection POSTed) may write; "
        "at most 4,000, what one INSERT statement holds. Bulk loads go through "
        "`territoires ingest`.",
    )
    catalog_statement_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="How long one catalog database statement (a STAC search, a Features "
        "query) may run before PostgreSQL cancels it and the request answers 504.",
    )

    worker_max_jobs: int = Field(
        default=4,
        ge=1,
        description="Jobs one `territoires worker` runs at a time, each in a thread of its own; "
        "1 with NUMBA_NUM_THREADS=1 and compute_threads=1 makes a single-threaded worker, "
        "scaled by replicas.",
    )
    compute_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads GDAL uses within a job to decode inputs and encode result COGs; "
        "unset: every CPU of the machine. Set it to the CPUs a worker is given (a container's "
        "CPU limit) so that workers sharing a node do not oversubscribe it; numba's kernels "
        "follow NUMBA_NUM_THREADS.",
    )
    fanout_communes: int = Field(
        default=25,
        ge=1,
        description="Communes per sub-job when a request fans out: smaller parts spread a "
        "job over more workers, each part costing a fixed set-up (scenes opened, COGs and "
        "items written).",
    )

    tile_cache_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="Bytes of rendered item tiles the tiles service keeps in Redis, shared by "
        "its replicas; past it the oldest go first. 0 turns the cache off.",
    )
    tile_cache_ttl_s: int = Field(
        default=24 * 3600,
        ge=1,
        description="Longest a rendered tile stays in the Redis cache. A re-ingested or "
        "re-computed item never serves its former tiles: they are keyed by the item's version.",
    )

    readiness_timeout_s: float = Field(
        default=2.0, gt=0, description="How long a /readyz dependency check may take."
    )
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="JSON logs (structlog); false for console.")

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError("must be an http(s) URL with a host and no query")
        return value.rstrip("/")

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError("must be an http(s) URL with a host and no path")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _local_mode_backends(self) -> Settings:
        """Unset DATABASE_URL/REDIS_URL: those of the local mode running from `local_dir`."""
        if not (self.database_url and self.redis_url):
            found = running_backends(self.local_dir)
            self.database_url = self.database_url or found.get("DATABASE_URL")
            self.redis_url = self.redis_url or found.get("REDIS_URL")
        return self

    @model_validator(mode="after")
    def _no_development_secrets_outside_local_mode(self) -> Settings:
        """A deployment whose database or Redis is on another host refuses the pepper and
        passwords anyone can read in this repository, rather than running with them."""
        if self.local_mode:
            return self
        pepper = self.api_key_pepper.get_secret_value()
        refused = [
            name
            for name, secret in (
                ("TERRITOIRES_API_KEY_PEPPER", pepper),
                ("the password of DATABASE_URL", _password(self.database_url)),
                ("the password of REDIS_URL", _password(self.redis_url)),
                ("AWS_SECRET_ACCESS_KEY", _secret(self.s3_secret_access_key)),
            )
            if secret is not None and secret.casefold() in DEVELOPMENT_SECRETS
        ]
        if not pepper:
            refused.insert(0, "TERRITOIRES_API_KEY_PEPPER (empty)")
        if refused:
            plural = len(refused) > 1
            what = "development defaults" if plural else "a development default"
            them = "them" if plural else "it"
            raise ValueError(
                f"{', '.join(refused)}: {what}, refused outside local mode (DATABASE_URL or "
                f"REDIS_URL on another host); set {them} to a secret of your own "
                "(`openssl rand -hex 32`)"
            )
        return self

    @property
    def local_mode(self) -> bool:
        """Whether the database and Redis are this machine's (unset: local mode starts them;
        a Unix socket; a loopback address): what `make run` and the tests use, where the
        development secrets are allowed."""
        return _on_this_machine(self.database_url) and _on_this_machine(self.redis_url)

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
                "or start `make run`: while it runs, commands find its database."
            )
        return self.database_url

    def require_redis_url(self) -> str:
        if not self.redis_url:
            raise ConfigurationError(
                "REDIS_URL is not set: export it (redis://host:port/0) "
                "or start `make run`: while it runs, commands find its Redis."
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
        problems = "; ".join(_problem(e) for e in error.errors())
        raise ConfigurationError(f"invalid setting {problems}") from None


def settings_or_exit() -> Settings:
    """The settings of a service or worker process, which exits with the one-line fix (status
    1) instead of a traceback when they are invalid."""
    try:
        return get_settings()
    except ConfigurationError as error:
        raise SystemExit(f"territoires: {error}") from None


def _problem(error: ErrorDetails) -> str:
    if not error["loc"]:  # a check across settings, whose message names them
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{_variable(str(error['loc'][0]))}={error.get('input')!r}: {error['msg']}"


def _variable(field: str) -> str:
    return field if field.isupper() else f"TERRITOIRES_{field.upper()}"


def _on_this_machine(url: str | None) -> bool:
    if not url:
        return True
    host = urlsplit(url).hostname
    if not host or host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _password(url: str | None) -> str | None:
    password = urlsplit(url).password if url else None
    return unquote(password) if password is not None else None
