"""The platform's tables: the catalog (collections, items), territories, statistics and jobs."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, ClassVar

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB, list[Any]: JSONB}


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class CollectionKind(enum.StrEnum):
    SOURCE = "source"
    INDICATOR = "indicator"


class Collection(Base):
    """A STAC collection: a source product (sentinel-2-l2a, …) or an indicator's results."""

    __tablename__ = "collections"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[CollectionKind] = mapped_column(
        Enum(CollectionKind, name="collection_kind", values_callable=lambda e: [m.value for m in e])
    )
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    # The STAC collection document as given, less its derived links.
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Item(Base):
    """A STAC item: a scene or an indicator result.

    `content` is the item as given (geometry included, derived links left out) so that a
    response is a lookup, not an assembly; footprint and time are copied into indexed columns.
    """

    __tablename__ = "items"

    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    geometry: Mapped[Any] = mapped_column(Geometry(srid=SRID, spatial_index=False), nullable=False)
    # The item's datetime, or its start_datetime when it has a range: what "sort by date" means.
    datetime: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    start_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    end_datetime: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    content: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("start_datetime <= end_datetime", name="time_order"),
        Index("ix_items_geometry", "geometry", postgresql_using="gist"),
        Index("ix_items_collection_datetime", "collection_id", "datetime", "id"),
        Index("ix_items_datetime_id", "datetime", "id"),
        # How far a range extends around `datetime`: bounds time filters on the indexed column.
        Index("ix_items_end_after_datetime", text("(end_datetime - datetime)")),
        Index("ix_items_datetime_after_start", text("(datetime - start_datetime)")),
    )


class ApiKey(Base):
    """A partner system's key: only a peppered hash is stored; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    scopes: Mapped[list[Any]] = mapped_column(nullable=False, default=list)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TerritoryLevel(enum.StrEnum):
    COMMUNE = "commune"
    EPCI = "epci"
    DEPARTEMENT = "departement"
    REGION = "region"


TERRITORY_LEVEL = Enum(
    TerritoryLevel, name="territory_level", values_callable=lambda e: [m.value for m in e]
)


class Territory(Base):
    """A French administrative unit; codes are INSEE codes, unique within a level."""

    __tablename__ = "territories"

    level: Mapped[TerritoryLevel] = mapped_column(TERRITORY_LEVEL, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    # Lower-case, accents removed: what a name-prefix look-up matches against.
    search_name: Mapped[str] = mapped_column(Text, nullable=False)
    parent_code: Mapped[str | None] = mapped_column(String(16))
    # A commune's EPCI (its parent_code is its département, a département's its région).
    epci_code: Mapped[str | None] = mapped_column(String(16))
    population: Mapped[int | None] = mapped_column(Integer)
    # A commune's postcodes (2026 geography), which the search also matches; None elsewhere.
    postcodes: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    geometry: Mapped[Any] = mapped_column(
        Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False), nullable=False
    )

    __table_args__ = (
        Index("ix_territories_geometry", "geometry", postgresql_using="gist"),
        Index(
            "ix_territories_search_name",
            "search_name",
            postgresql_ops={"search_name": "text_pattern_ops"},
        ),
        Index("ix_territories_code", "code"),
        Index("ix_territories_epci_code", "epci_code"),
        Index("ix_territories_postcodes", "postcodes", postgresql_using="gin"),
    )


class FormerCommune(Base):
    """A commune merged into another since 2016: its INSEE code answers with its successor's."""

    __tablename__ = "former_communes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    successor_code: Mapped[str] = mapped_column(String(16), nullable=False, index=True)


class IndicatorStatistic(Base):
    """Figures of one indicator over one territory and period (one row per result)."""

    __tablename__ = "indicator_statistics"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    territory_level: Mapped[TerritoryLevel] = mapped_column(TERRITORY_LEVEL, nullable=False)
    territory_code: Mapped[str] = mapped_column(String(16), nullable=False)
    indicator: Mapped[str] = mapped_column(String(64), nullable=False)
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The year of the geography the territory's outline and code belong to.
    geography_year: Mapped[int] = mapped_column(
        SmallInteger, nullable=False, server_default=text("2026")
    )
    item_collection_id: Mapped[str | None] = mapped_column(String(128))
    item_id: Mapped[str | None] = mapped_column(String(256))
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        ForeignKeyConstraint(
            ["territory_level", "territory_code"],
            ["territories.level", "territories.code"],
            ondelete="CASCADE",
        ),
        # A retried job rewrites its rows instead of adding duplicates.
        UniqueConstraint(
            "territory_level",
            "territory_code",
            "indicator",
            "period_start",
            "period_end",
            name="territory_period",
        ),
        Index("ix_indicator_statistics_indicator_period", "indicator", "period_start"),
    )


class ResultFeature(Base):
    """A feature of a vector result (a hot spot, a transect, a class per commune): one row per
    feature, published as the OGC API Features collection of its indicator."""

    __tablename__ = "result_features"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    indicator: Mapped[str] = mapped_column(String(64), nullable=False)
    job_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    )
    territory_code: Mapped[str | None] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    geometry: Mapped[Any] = mapped_column(Geometry(srid=SRID, spatial_index=False), nullable=False)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("ix_result_features_geometry", "geometry", postgresql_using="gist"),
        Index("ix_result_features_indicator_period", "indicator", "period_start"),
        Index("ix_result_features_job_id", "job_id"),
    )


class JobStatus(enum.StrEnum):
    """OGC API Processes status codes."""

    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    DISMISSED = "dismissed"


class Job(Base):
    """An OGC API Processes job; the arq queue carries only its id."""

    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    process_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", values_callable=lambda e: [m.value for m in e]),
        nullable=False,
        default=JobStatus.ACCEPTED,
    )
    message: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outputs: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    subscriber: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE")
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The partner key that submitted the job (its parts carry it too): only it, or an admin
    # key, sees and dismisses the job. NULL for jobs made before keys owned jobs.
    owner_key_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    # A client's Idempotency-Key and the digest of the request it came with: the same key
    # again returns the same job, with another request it is refused.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_digest: Mapped[str | None] = mapped_column(String(64))
    # The public URL the job was submitted at: the links its outputs carry are made from it.
    base_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        Index("ix_jobs_process_status_created", "process_id", "status", "created_at"),
        Index("ix_jobs_parent_id", "parent_id"),
        Index("ix_jobs_created_at", "created_at"),
        Index("ix_jobs_owner_status", "owner_key_id", "status"),
        Index(
            "ux_jobs_idempotency",
            "owner_key_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )


class MirroredAsset(Base):
    """A local copy of a `mirror` source's remote asset in the storage, and when a job last
    read it: the least recently used go first when the copies outgrow their budget."""

    __tablename__ = "mirrored_assets"

    href: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_used: Mapped[datetime] = _now()
