"""SQLAlchemy table definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out too (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime}


class LibraryRow(Base):
    __tablename__ = "libraries"
    # Ids are never reused (AUTOINCREMENT): index files and originals are named by id, and
    # the index catch-up compares id sets, so a reused id could pair a new row with an old
    # vector after a crash.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    store_originals: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Which descriptor pipeline built this library's vectors: a library keeps the one it was
    # created with, so installing a better model later never mixes incomparable vectors.
    pipeline: Mapped[str] = mapped_column(String(64), nullable=False)
    # Face-specific settings (owner app, vendor instance options) that the engine carries
    # but never interprets.
    attrs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ImageRow(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("library_id", "cont_sign", name="uq_images_library_cont_sign"),
        Index("ix_images_library_tag1", "library_id", "tag1"),
        Index("ix_images_library_tag2", "library_id", "tag2"),
        Index("ix_images_library_product", "library_id", "product_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    library_id: Mapped[int] = mapped_column(
        ForeignKey("libraries.id", ondelete="CASCADE"), nullable=False)
    cont_sign: Mapped[str] = mapped_column(String(24), nullable=False)
    brief: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Up to two integer tags (class_id1 / class_id2 for product libraries, by position).
    tag1: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tag2: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Identifiers some faces key images by (a product / SKU and a picture name).
    product_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    pic_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    attrs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    image_format: Mapped[str] = mapped_column(String(16), nullable=False)
    # Descriptors: the global vector (float32 little-endian) is the index's source of truth;
    # the others are read back only to re-rank a few candidates.
    # Deferred: reading a record (search results, listings) never drags these along.
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    pdq: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    keypoints: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    # Subject box "x1,y1,x2,y2" for kinds that crop to the subject.
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class ImageDetailRow(Base):
    """Keypoints found at a stored image's full size (``KindSpec.detail_keypoints``): a
    close photo of part of a page shows type and texture finer than the keypoints every
    look reads. In a table of their own, several times the size of those, read for a few
    candidates of a query nothing else answered; gone with their image."""

    __tablename__ = "image_details"

    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"),
                                          primary_key=True)
    keypoints: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class KeypointGenerationRow(Base):
    """How many times a library's stored keypoints were replaced under their images' ids
    (``Store.set_keypoints``). A saved keypoint table (index.keypoint_files) is brought level
    with the store by id sets, which cannot see such a replacement: it records this number,
    and is filled again when the number has moved."""

    __tablename__ = "keypoint_generations"

    library_id: Mapped[int] = mapped_column(ForeignKey("libraries.id", ondelete="CASCADE"),
                                            primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ApiKeyRow(Base):
    """An access key pair the vendor faces authenticate callers with.

    The secret is kept as given: every vendor signing scheme (HMAC) needs it to recompute
    the caller's signature. Protect the database accordingly.
    """

    __tablename__ = "api_keys"

    api_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_key: Mapped[str] = mapped_column(String(256), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AccessTokenRow(Base):
    """An issued bearer token (stored as its SHA-256, never in clear)."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key: Mapped[str] = mapped_column(
        ForeignKey("api_keys.api_key", ondelete="CASCADE"), nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
