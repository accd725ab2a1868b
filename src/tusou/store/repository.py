"""The repository: every read and write of the metadata store goes through ``Store``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import CursorResult, Engine, and_, create_engine, delete, event, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from tusou.errors import DuplicateImage, ImageNotFound, LibraryExists, LibraryNotFound
from tusou.store.credentials import CredentialStore
from tusou.store.models import Base, ImageDetailRow, ImageRow, KeypointGenerationRow, LibraryRow

# SQLite caps bound parameters per statement; chunk IN (...) lists below it.
_IN_CHUNK = 900


@dataclass(frozen=True)
class LibraryRecord:
    id: int
    name: str
    kind: str
    description: str
    store_originals: bool
    pipeline: str
    attrs: dict[str, Any]
    created_at: datetime
    image_count: int = 0


@dataclass(frozen=True)
class ImageRecord:
    """An image's metadata, without its descriptors."""

    id: int
    library_id: int
    cont_sign: str
    brief: str
    # The two tag positions as stored (class_id1 / class_id2 for product libraries).
    labels: tuple[int | None, int | None]
    product_id: str | None
    pic_name: str | None
    attrs: dict[str, Any]
    width: int
    height: int
    image_format: str
    region: tuple[int, int, int, int] | None
    created_at: datetime
    updated_at: datetime

    @property
    def tags(self) -> tuple[int, ...]:
        return tuple(t for t in self.labels if t is not None)

    @property
    def class_ids(self) -> tuple[int | None, int | None]:
        return self.labels


@dataclass(frozen=True)
class NewImage:
    cont_sign: str
    brief: str
    width: int
    height: int
    image_format: str
    vector: np.ndarray
    tags: tuple[int | None, int | None] = (None, None)
    product_id: str | None = None
    pic_name: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    pdq: bytes | None = None
    keypoints: bytes | None = None
    details: bytes | None = None  # keypoints at full size (ImageDetailRow)
    region: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class TagFilter:
    """Which images a search may return.

    ``any_of`` / ``all_of``: set semantics over an image's (up to two) tags.
    ``positional``: exact value per tag position (product class_id1 / class_id2).
    """

    all_of: tuple[int, ...] = ()
    any_of: tuple[int, ...] = ()
    positional: tuple[int | None, int | None] = (None, None)

    @property
    def is_empty(self) -> bool:
        return not self.all_of and not self.any_of and self.positional == (None, None)

    def clause(self) -> ColumnElement[bool] | None:
        parts: list[ColumnElement[bool]] = []
        for tag in self.all_of:
            parts.append(or_(ImageRow.tag1 == tag, ImageRow.tag2 == tag))
        if self.any_of:
            parts.append(or_(ImageRow.tag1.in_(self.any_of), ImageRow.tag2.in_(self.any_of)))
        if self.positional[0] is not None:
            parts.append(ImageRow.tag1 == self.positional[0])
        if self.positional[1] is not None:
            parts.append(ImageRow.tag2 == self.positional[1])
        return and_(*parts) if parts else None


def _region_text(region: tuple[int, int, int, int] | None) -> str | None:
    return None if region is None else ",".join(str(int(v)) for v in region)


def _region_tuple(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    a, b, c, d = (int(v) for v in text.split(","))
    return a, b, c, d


def _image_record(row: ImageRow) -> ImageRecord:
    return ImageRecord(
        id=row.id, library_id=row.library_id, cont_sign=row.cont_sign, brief=row.brief,
        labels=(row.tag1, row.tag2),
        product_id=row.product_id, pic_name=row.pic_name, attrs=dict(row.attrs or {}),
        width=row.width, height=row.height, image_format=row.image_format,
        region=_region_tuple(row.region), created_at=row.created_at, updated_at=row.updated_at)


def _library_record(row: LibraryRow, count: int = 0) -> LibraryRecord:
    return LibraryRecord(id=row.id, name=row.name, kind=row.kind, description=row.description,
                         store_originals=row.store_originals, pipeline=row.pipeline,
                         attrs=dict(row.attrs or {}), created_at=row.created_at,
                         image_count=count)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start:start + _IN_CHUNK]


def _library_row(s: Session, name: str) -> LibraryRow:
    row = s.scalar(select(LibraryRow).where(LibraryRow.name == name))
    if row is None:
        raise LibraryNotFound(f"no library named {name!r}", field="name")
    return row


def _existing_row(s: Session, library_id: int, cont_sign: str) -> ImageRow:
    row = s.scalar(select(ImageRow).where(ImageRow.library_id == library_id,
                                          ImageRow.cont_sign == cont_sign))
    if row is None:
        raise ImageNotFound(f"no image with cont_sign {cont_sign} in this library",
                            field="cont_sign")
    return row


def _generation(s: Session, library_id: int) -> int:
    return s.scalar(select(KeypointGenerationRow.generation)
                    .where(KeypointGenerationRow.library_id == library_id)) or 0


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # WAL lets searches read while an add commits; FULL makes an acknowledged commit
        # survive power loss, not only a killed process.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


class Store:
    """Libraries and images in SQL (SQLite by default, PostgreSQL for shared deployments)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            db_file = Path(url.removeprefix("sqlite:///"))
            db_file.parent.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(url, connect_args={"check_same_thread": False,
                                                            "timeout": 30})
            _configure_sqlite(self._engine)
        else:
            self._engine = create_engine(url, pool_pre_ping=True)
        Base.metadata.create_all(self._engine)
        if url.startswith("sqlite:///"):
            # The store holds API secret keys: readable by the service's user only.
            for path in db_file.parent.glob(db_file.name + "*"):
                path.chmod(0o600)
        self._session = sessionmaker(self._engine, expire_on_commit=False)
        self.credentials = CredentialStore(self._session)

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        """Raises if the database cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # --- libraries ----------------------------------------------------------------------

    def create_library(self, *, name: str, kind: str, pipeline: str, description: str = "",
                       store_originals: bool = False,
                       attrs: dict[str, Any] | None = None) -> LibraryRecord:
        row = LibraryRow(name=name, kind=kind, pipeline=pipeline, description=description,
                         store_originals=store_originals, attrs=attrs or {})
        with self._session() as s:
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                raise LibraryExists(f"library {name!r} already exists", field="name") from None
            return _library_record(row)

    def get_library(self, name: str) -> LibraryRecord:
        with self._session() as s:
            row = _library_row(s, name)
            count = s.scalar(select(func.count(ImageRow.id))
                             .where(ImageRow.library_id == row.id)) or 0
            return _library_record(row, count)

    def list_libraries(self) -> list[LibraryRecord]:
        with self._session() as s:
            counts: dict[int, int] = {library_id: count for library_id, count in s.execute(
                select(ImageRow.library_id, func.count(ImageRow.id)).group_by(ImageRow.library_id))}
            rows = s.scalars(select(LibraryRow).order_by(LibraryRow.name)).all()
            return [_library_record(r, counts.get(r.id, 0)) for r in rows]

    def delete_library(self, name: str) -> LibraryRecord:
        with self._session() as s:
            row = _library_row(s, name)
            record = _library_record(row)
            s.execute(delete(ImageRow).where(ImageRow.library_id == row.id))
            s.delete(row)
            s.commit()
            return record

    # --- images: writes -----------------------------------------------------------------

    def insert_image(self, library_id: int, image: NewImage) -> ImageRecord:
        """Commit one image; raises DuplicateImage if its cont_sign is already there."""
        row = ImageRow(
            library_id=library_id, cont_sign=image.cont_sign, brief=image.brief,
            tag1=image.tags[0], tag2=image.tags[1], product_id=image.product_id,
            pic_name=image.pic_name, attrs=image.attrs or None, width=image.width,
            height=image.height, image_format=image.image_format,
            vector=np.ascontiguousarray(image.vector, dtype="<f4").tobytes(),
            pdq=image.pdq, keypoints=image.keypoints, region=_region_text(image.region))
        with self._session() as s:
            s.add(row)
            try:
                s.flush()  # the row's id, for its details, in the same transaction
                if image.details is not None:
                    s.add(ImageDetailRow(image_id=row.id, keypoints=image.details))
                s.commit()
            except IntegrityError:
                s.rollback()
                # Either the cont_sign is taken (a concurrent add of the same image) or the
                # library itself was deleted meanwhile (foreign key): tell them apart.
                if s.get(LibraryRow, library_id) is None:
                    raise LibraryNotFound("the library was deleted", field="name") from None
                raise DuplicateImage(image.cont_sign) from None
            return _image_record(row)

    def update_image(self, library_id: int, cont_sign: str, *, brief: str | None = None,
                     tags: tuple[int | None, int | None] | None = None,
                     attrs: dict[str, Any] | None = None) -> ImageRecord:
        with self._session() as s:
            row = _existing_row(s, library_id, cont_sign)
            if brief is not None:
                row.brief = brief
            if tags is not None:
                row.tag1, row.tag2 = tags
            if attrs is not None:
                row.attrs = attrs
            s.commit()
            return _image_record(row)

    def set_keypoints(self, image_id: int, keypoints: bytes | None,
                      details: bytes | None = None) -> int | None:
        """Replace one image's stored local features and its keypoints at full size (None:
        none), together; returns its library's keypoint generation after the change (see
        ``keypoint_generation``), None if the image was deleted meanwhile."""
        with self._session() as s:
            # The write first: a read first would start a transaction that SQLite cannot
            # turn into a write once another connection has written (WAL: busy, no wait).
            done = cast("CursorResult[Any]", s.execute(update(ImageRow).where(ImageRow.id == image_id)
                                                       .values(keypoints=keypoints)))
            if not done.rowcount:
                s.rollback()
                return None
            library_id = s.scalar(select(ImageRow.library_id).where(ImageRow.id == image_id))
            assert library_id is not None  # the row this transaction just wrote
            s.execute(delete(ImageDetailRow).where(ImageDetailRow.image_id == image_id))
            if details is not None:
                s.add(ImageDetailRow(image_id=image_id, keypoints=details))
            bumped = cast("CursorResult[Any]", s.execute(
                update(KeypointGenerationRow).where(KeypointGenerationRow.library_id == library_id)
                .values(generation=KeypointGenerationRow.generation + 1)))
            if not bumped.rowcount:  # the library's first replacement
                s.add(KeypointGenerationRow(library_id=library_id, generation=1))
            # Read inside the transaction, which holds the write: this change's number, not
            # one that another writer's change has moved on since.
            generation = _generation(s, library_id)
            s.commit()
            return generation

    def keypoint_generation(self, library_id: int) -> int:
        """How many times the library's stored keypoints were replaced under their images'
        ids (0 for none): a saved keypoint table records it to know it still matches."""
        with self._session() as s:
            return _generation(s, library_id)

    def delete_images(self, library_id: int, cont_signs: Sequence[str]) -> list[ImageRecord]:
        """Delete what exists among ``cont_signs``; returns the deleted records."""
        deleted: list[ImageRecord] = []
        with self._session() as s:
            for chunk in _chunks(list(cont_signs)):
                rows = s.scalars(select(ImageRow).where(ImageRow.library_id == library_id,
                                                        ImageRow.cont_sign.in_(chunk))).all()
                deleted.extend(_image_record(r) for r in rows)
                if rows:
                    s.execute(delete(ImageRow).where(ImageRow.id.in_([r.id for r in rows])))
            s.commit()
        return deleted

    # --- images: reads ------------------------------------------------------------------

    def find_image(self, library_id: int, cont_sign: str) -> ImageRecord | None:
        with self._session() as s:
            row = s.scalar(select(ImageRow).where(ImageRow.library_id == library_id,
                                                  ImageRow.cont_sign == cont_sign))
            return None if row is None else _image_record(row)

    def image_id(self, library_id: int, cont_sign: str) -> int | None:
        with self._session() as s:
            return s.scalar(select(ImageRow.id).where(ImageRow.library_id == library_id,
                                                      ImageRow.cont_sign == cont_sign))

    def images_by_id(self, ids: Sequence[int]) -> dict[int, ImageRecord]:
        out: dict[int, ImageRecord] = {}
        with self._session() as s:
            for chunk in _chunks(list(ids)):
                for row in s.scalars(select(ImageRow).where(ImageRow.id.in_(chunk))):
                    out[row.id] = _image_record(row)
        return out

    def list_images(self, library_id: int, *, offset: int = 0,
                    limit: int = 100) -> list[ImageRecord]:
        with self._session() as s:
            rows = s.scalars(select(ImageRow).where(ImageRow.library_id == library_id)
                             .order_by(ImageRow.id).offset(offset).limit(limit)).all()
            return [_image_record(r) for r in rows]

    def image_ids(self, library_id: int, tag_filter: TagFilter | None = None) -> np.ndarray:
        query = select(ImageRow.id).where(ImageRow.library_id == library_id)
        clause = tag_filter.clause() if tag_filter else None
        if clause is not None:
            query = query.where(clause)
        with self._session() as s:
            return np.fromiter(s.scalars(query), dtype=np.int64)

    def vectors(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The stored global vectors of those ``ids`` that still exist: (ids, N x dim)."""
        found: list[int] = []
        blobs: list[bytes] = []
        with self._session() as s:
            for chunk in _chunks(list(ids)):
                for rid, blob in s.execute(select(ImageRow.id, ImageRow.vector)
                                           .where(ImageRow.id.in_(chunk))):
                    found.append(rid)
                    blobs.append(blob)
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
        return np.asarray(found, dtype=np.int64), matrix

    def vector_dimension(self, library_id: int) -> int | None:
        """The length of the library's stored vectors, None while it is empty."""
        with self._session() as s:
            blob = s.scalar(select(ImageRow.vector).where(ImageRow.library_id == library_id)
                            .limit(1))
        return None if blob is None else len(blob) // 4

    def pdq_hashes(self, library_id: int) -> tuple[np.ndarray, list[bytes]]:
        with self._session() as s:
            rows = s.execute(select(ImageRow.id, ImageRow.pdq)
                             .where(ImageRow.library_id == library_id,
                                    ImageRow.pdq.is_not(None))).all()
        return np.asarray([r[0] for r in rows], dtype=np.int64), [bytes(r[1] or b"") for r in rows]

    def keypoints(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The stored local features of those of ``ids`` that have them."""
        return self._blobs(ImageRow.id, ImageRow.keypoints, ids)

    def details(self, ids: Sequence[int]) -> dict[int, bytes]:
        """The keypoints at full size of those of ``ids`` that have them."""
        return self._blobs(ImageDetailRow.image_id, ImageDetailRow.keypoints, ids)

    def _blobs(self, key: InstrumentedAttribute[int], column: InstrumentedAttribute[Any],
               ids: Sequence[int]) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        with self._session() as s:
            for chunk in _chunks(list(ids)):
                for image_id, blob in s.execute(select(key, column).where(key.in_(chunk))):
                    if blob is not None:
                        out[image_id] = blob
        return out
