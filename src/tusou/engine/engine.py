"""The engine: the one object every face talks to. Owns the store, models and indexes."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from tusou.config import Settings
from tusou.engine.credentials import Credentials
from tusou.engine.describe import Describer
from tusou.engine.kinds import kind_spec
from tusou.engine.library import Library, LibraryState
from tusou.engine.originals import OriginalStore
from tusou.errors import InvalidParameter, LibraryExists, LibraryNotFound
from tusou.features import FeatureModels
from tusou.images.fetch import UrlFetcher
from tusou.index import open_index
from tusou.index.hamming import HammingTable
from tusou.index.keypoint_table import KeypointTable
from tusou.store import LibraryRecord, Store

log = logging.getLogger(__name__)

# Letters (any script), digits, '_', '-', '.': safe in URL paths and file names.
_LIBRARY_NAME = re.compile(r"[\w.-]{1,64}")
_RECONCILE_CHUNK = 2000


def validate_library_name(name: str) -> str:
    if not isinstance(name, str) or not _LIBRARY_NAME.fullmatch(name) or name in {".", ".."}:
        raise InvalidParameter("library name must be 1-64 letters, digits, '_', '-' or '.'",
                               field="name")
    return name


class Engine:
    def __init__(self, settings: Settings, *, fill_tables: bool = False) -> None:
        """``fill_tables``: fill each library's keypoint table in the background as the
        library opens (a server, whose queries should not wait for it); otherwise the first
        query that needs it fills it (one-shot commands, which may never)."""
        self.settings = settings
        self._fill_tables = fill_tables
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.resolved_database_url)
        self.credentials = Credentials(self.store.credentials)
        self.models = FeatureModels(settings.models_dir, threads=settings.model_threads)
        self.describer = Describer(self.models)
        self.fetcher = UrlFetcher(allow_loopback=settings.url_allow_loopback,
                                  timeout_s=settings.url_timeout_s,
                                  max_bytes=settings.url_max_bytes,
                                  max_redirects=settings.url_max_redirects)
        self.originals = OriginalStore(settings.data_dir / "originals")
        self._index_dir = settings.data_dir / "index"
        self._index_dir.mkdir(parents=True, exist_ok=True)
        self._libraries: dict[str, Library] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # --- libraries ----------------------------------------------------------------------

    def create_library(self, name: str, kind: str, *, store_originals: bool = False,
                       description: str = "", attrs: dict[str, Any] | None = None
                       ) -> LibraryRecord:
        validate_library_name(name)
        spec = kind_spec(kind)
        if len(description) > 1024:
            raise InvalidParameter("description is at most 1024 characters", field="description")
        return self.store.create_library(name=name, kind=spec.name,
                                         pipeline=self.describer.pipeline(spec),
                                         description=description,
                                         store_originals=store_originals, attrs=attrs)

    def ensure_library(self, name: str, kind: str, *,
                       attrs: dict[str, Any] | None = None) -> Library:
        """The library ``name``, created with ``kind`` on first use (faces that provision
        libraries implicitly, such as one library per app and kind)."""
        try:
            return self.library(name)
        except LibraryNotFound:
            pass
        try:
            self.create_library(name, kind, attrs=attrs)
        except LibraryExists:
            pass  # created by a concurrent request
        return self.library(name)

    def libraries(self) -> list[LibraryRecord]:
        return self.store.list_libraries()

    def describe_library(self, name: str) -> LibraryRecord:
        return self.store.get_library(name)

    def library(self, name: str) -> Library:
        """The library's service, loading (and reconciling) its index on first use.

        Opening a large library takes a while; only requests for that library wait.
        """
        with self._lock:
            cached = self._libraries.get(name)
            if cached is not None:
                return cached
            opening = self._opening.setdefault(name, threading.Lock())
        with opening:
            with self._lock:
                cached = self._libraries.get(name)
                if cached is not None:
                    return cached
            try:
                record = self.store.get_library(name)
                library = Library(record, kind_spec(record.kind), self._open_state(record),
                                  store=self.store, describer=self.describer,
                                  fetcher=self.fetcher, originals=self.originals,
                                  flush_every=self.settings.index_flush_every)
                with self._lock:
                    self._libraries[name] = library
                if self._fill_tables:
                    library.load_in_background()
                return library
            finally:
                # Never keep a lock per name asked for (unknown names would pile up).
                with self._lock:
                    self._opening.pop(name, None)

    def open_all(self, stop: threading.Event) -> None:
        """Open every library, one at a time, and fill its keypoint table (kinds that
        vote), so that no request waits for either; until ``stop`` is set. A server runs
        this in the background at start. A library deleted meanwhile is passed over."""
        start, records = time.perf_counter(), self.libraries()
        for record in records:
            if stop.is_set():
                return
            try:
                loader = self.library(record.name).load_in_background()
            except LibraryNotFound:
                continue
            except Exception:
                if stop.is_set():  # the engine closed under it
                    return
                log.exception("could not open library %s", record.name)
                continue
            # One at a time: each fill reads the store and builds at full speed.
            while loader is not None and loader.is_alive() and not stop.is_set():
                loader.join(timeout=0.5)
        if records:
            log.info("%d libraries opened in %.1f s", len(records), time.perf_counter() - start)

    def opened(self) -> list[Library]:
        """The libraries open in this engine (asked by name since it started), none opened."""
        with self._lock:
            return list(self._libraries.values())

    def delete_library(self, name: str) -> LibraryRecord:
        with self._lock:
            opening = self._opening.setdefault(name, threading.Lock())
        # Waits for a request that is opening this library, so that it cannot cache a
        # library that no longer exists once this delete is done.
        with opening:
            with self._lock:
                record = self.store.delete_library(name)
                cached = self._libraries.pop(name, None)
                self._opening.pop(name, None)
            if cached is not None:
                cached.close()
        for path in self._index_dir.glob(f"{record.id}.*"):
            path.unlink(missing_ok=True)
        self.originals.drop_library(record.id)
        return record

    def close(self) -> None:
        with self._lock:
            for library in self._libraries.values():
                try:
                    library.close()
                except Exception:  # closing must go on for the other libraries
                    log.exception("could not save the index of %s", library.name)
            self._libraries.clear()
        self.store.close()

    # --- index upkeep -------------------------------------------------------------------

    def _index_path(self, library_id: int) -> Path:
        return self._index_dir / f"{library_id}.idx"

    def _table_path(self, library_id: int) -> Path:
        """The keypoint table's manifest; its segments' files lie beside it."""
        return self._index_dir / f"{library_id}.kpt"

    def _open_state(self, record: LibraryRecord) -> LibraryState:
        """Load the persisted index and bring it level with the store (the source of truth)."""
        # The stored vectors say the dimension, so a library stays readable and deletable
        # even when the model that built it is no longer installed.
        dim = self.store.vector_dimension(record.id) or self.describer.dimension(record.pipeline)
        index = open_index(self._index_path(record.id), dim)
        stored = self.store.image_ids(record.id)
        indexed = index.ids()
        missing = np.setdiff1d(stored, indexed, assume_unique=True)
        extra = np.setdiff1d(indexed, stored, assume_unique=True)
        if len(extra):
            index.remove(extra.tolist())
        for start in range(0, len(missing), _RECONCILE_CHUNK):
            ids, vectors = self.store.vectors(missing[start:start + _RECONCILE_CHUNK].tolist())
            if len(ids):
                index.upsert(ids, vectors)
        if len(missing) or len(extra):
            log.info("library %s: index caught up (+%d, -%d)", record.name, len(missing),
                     len(extra))
            index.save()
        hashes = HammingTable()
        hash_ids, blobs = self.store.pdq_hashes(record.id)
        if len(hash_ids):
            hashes.upsert(hash_ids.tolist(), blobs)
        spec = kind_spec(record.kind)
        votes = KeypointTable(per_image=spec.vote_keypoints or None,
                              path=self._table_path(record.id)) if spec.vote_candidates else None
        return LibraryState(index=index, hashes=hashes, write_lock=threading.Lock(), votes=votes)
