"""In-process vector index: exact numpy/SIMD scans, plus an HNSW graph for big libraries."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from usearch.index import Index, ScalarKind

from tusou.index._matrix import F16_MAX, VectorMatrix
from tusou.index._persist import read_graph, read_snapshot, write_snapshot
from tusou.index._rwlock import RWLock
from tusou.index.base import as_id_array

log = logging.getLogger(__name__)

_DTYPES: dict[str, tuple[np.dtype, ScalarKind]] = {
    "f16": (np.dtype(np.float16), ScalarKind.F16), "f32": (np.dtype(np.float32), ScalarKind.F32)}
_CONNECTIVITY = 16
_EXPANSION_ADD = 128
# 64 gave ~0.94 recall@10 for off-distribution queries in tests, 128 ~0.99 for +0.1 ms.
_EXPANSION_SEARCH = 128
# Rows copied per step while building, so writers are never blocked for the whole build.
_BUILD_CHUNK = 65_536
_BUILD_RETRY_S = 60.0


class EmbeddedIndex:
    """Vectors live in one dense matrix (the truth for this process); the HNSW
    graph is an accelerator kept in sync once built and may be dropped at any time.

    Exact scans serve small libraries and selective filters (where HNSW
    post-filtering would under-return); the graph serves large unfiltered or
    broadly filtered queries. Similarities are always rescored from the matrix,
    so both paths report identical values for the same id.
    """

    def __init__(
        self,
        path: Path | None,
        dim: int,
        *,
        hnsw_min_size: int = 20_000,
        dtype: str = "f16",
        filter_exact_max: int = 50_000,
        filter_exact_fraction: float = 0.05,
        background_build: bool = True,
    ) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.dim = dim
        self._path = Path(path) if path is not None else None
        self._np_dtype, self._usearch_dtype = _DTYPES[dtype]
        self._hnsw_min_size = hnsw_min_size
        self._filter_exact_max = filter_exact_max
        self._filter_exact_fraction = filter_exact_fraction
        self._background = background_build

        self._lock = RWLock()
        # The usearch binding reuses per-thread scratch space keyed by a thread
        # number it picks itself, so two Python threads must never search at once.
        self._graph_mutex = threading.Lock()
        self._build_mutex = threading.Lock()
        self._builder_mutex = threading.Lock()
        self._save_mutex = threading.Lock()

        self._matrix = VectorMatrix(dim, self._np_dtype)
        self._graph: Index | None = None
        self._graph_removals = 0
        # Ids changed while a build copies rows without the write lock; replayed at install.
        self._touched: set[int] | None = None
        self._builder: threading.Thread | None = None
        self._retry_build_at = 0.0
        self._version = 0
        self._saved_version = 0
        self._closed = False
        if self._path is not None:
            self._load(self._path)

    # -- reads -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._matrix)

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, (int, np.integer)):
            return False
        with self._lock.read():
            return int(id) in self._matrix

    def ids(self) -> np.ndarray:
        with self._lock.read():
            return self._matrix.ids.copy()

    def vector(self, id: int) -> np.ndarray | None:
        with self._lock.read():
            return self._matrix.vector(int(id))

    @property
    def graph_ready(self) -> bool:
        return self._graph is not None

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        q = self._as_query(query)
        if k <= 0:
            return []
        if allowed is not None:
            allowed = as_id_array(allowed)
            if not len(allowed):
                return []
        n_allowed = None if allowed is None else len(allowed)
        if self._graph is None and self._wants_graph(n_allowed, len(self._matrix)):
            self._start_build()
        with self._lock.read():
            self._check_open()
            if not len(self._matrix):
                return []
            if self._graph is not None and self._wants_graph(n_allowed, len(self._matrix)):
                hits = self._graph_search(q, k, allowed)
                if hits is not None:
                    return hits
            rows = None if allowed is None else self._matrix.rows_in(allowed)
            return self._matrix.top_k(q, k, rows)

    # -- writes ------------------------------------------------------------

    def upsert(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        ids = as_id_array(ids)
        vecs = np.asarray(vectors, dtype=np.float32)
        if vecs.ndim == 1:
            vecs = vecs[None, :]
        if vecs.shape != (len(ids), self.dim):
            raise ValueError(f"expected vectors of shape ({len(ids)}, {self.dim}), got {vecs.shape}")
        if not len(ids):
            return
        if not np.isfinite(vecs).all():
            raise ValueError("vectors must be finite")
        if self._np_dtype is np.float16 and np.abs(vecs).max() > F16_MAX:
            raise ValueError("vector components overflow float16; are they normalised?")
        ids, vecs = _last_wins(ids, np.ascontiguousarray(vecs))
        with self._lock.write():
            self._check_open()
            self._matrix.upsert(ids, vecs)
            if self._touched is not None:
                self._touched.update(ids.tolist())
            if self._graph is not None:
                present = np.asarray(self._graph.contains(ids), dtype=bool)
                if present.any():
                    self._graph.remove(ids[present])
                self._graph.add(ids, vecs)
            self._version += 1

    def remove(self, ids: Iterable[int]) -> None:
        ids = as_id_array(ids)
        if not len(ids):
            return
        with self._lock.write():
            self._check_open()
            removed, moved = self._matrix.remove(ids)
            if not removed:
                return
            if self._touched is not None:
                self._touched.update(removed)
                self._touched.update(moved)
            if self._graph is not None:
                self._graph.remove(np.array(removed, dtype=np.int64))
                self._graph_removals += len(removed)
                n = len(self._matrix)
                # usearch only tombstones removed nodes; past this much churn a
                # fresh build is both smaller and better connected.
                if n < self._hnsw_min_size // 2 or self._graph_removals > max(n, self._hnsw_min_size):
                    self._graph = None
            self._version += 1

    def build_graph(self) -> None:
        """Build the HNSW graph now; searches do this lazily (in the background by default)."""
        with self._build_mutex:
            with self._lock.read():
                self._check_open()
                if self._graph is not None:
                    return
                self._touched = set()
            graph = None
            try:
                graph = self._copy_into_new_graph()
            finally:
                with self._lock.write():
                    touched, self._touched = self._touched or set(), None
                    if graph is not None and not self._closed:
                        self._catch_up(graph, touched)
                        self._graph = graph
                        self._graph_removals = 0
                        self._version += 1

    def save(self) -> None:
        if self._path is None:
            return
        with self._save_mutex:
            # A read lock: searches continue, only writers wait for the disk.
            with self._lock.read():
                self._check_open()
                if self._version == self._saved_version and self._path.exists():
                    return
                version = self._version
                graph = self._graph
                save_graph = None if graph is None else partial(self._save_graph, graph)
                write_snapshot(self._path, self._matrix.ids, self._matrix.vectors, save_graph)
            self._saved_version = version

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.save()
        finally:
            with self._lock.write():
                self._closed = True
                self._graph = None
                self._matrix = VectorMatrix(self.dim, self._np_dtype)
            builder = self._builder
            if builder is not None and builder is not threading.current_thread():
                builder.join()

    # -- internals ---------------------------------------------------------

    def _save_graph(self, graph: Index, file: str) -> None:
        with self._graph_mutex:
            graph.save(file)

    def _load(self, path: Path) -> None:
        snap = read_snapshot(path, self.dim)
        if snap is None:
            if path.exists():
                self._saved_version = -1  # unusable file: the next save must replace it
            return
        self._matrix = VectorMatrix.from_arrays(snap.ids, snap.vectors, self._np_dtype)
        if len(self._matrix) >= self._hnsw_min_size:
            self._graph = read_graph(path, snap.graph_token, self.dim, self._usearch_dtype, snap.ids)
        log.info("index %s: loaded %d vectors (graph: %s)", path, len(self._matrix), self._graph is not None)

    def _wants_graph(self, n_allowed: int | None, n: int) -> bool:
        if n < self._hnsw_min_size:
            return False
        if n_allowed is None:
            return True
        selective = n_allowed < self._filter_exact_max or n_allowed < self._filter_exact_fraction * n
        return not selective

    def _graph_search(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]] | None:
        """None when the graph cannot be trusted to fill k; the caller scans exactly."""
        assert self._graph is not None
        n = len(self._matrix)
        if allowed is None:
            count, need = 2 * k, min(k, n)
        else:
            # Post-filtering keeps ~len(allowed)/n of the candidates; ask for twice enough.
            count, need = max(4 * k, math.ceil(2 * k * n / len(allowed))), min(k, len(allowed))
        if count > n // 4:
            return None  # that many candidates: a scan is cheaper and exact
        with self._graph_mutex:
            found = self._graph.search(q, count, threads=1).keys.astype(np.int64)
        if allowed is not None:
            found = found[np.isin(found, allowed)]
        hits = self._matrix.rank(self._matrix.rows_of(found), q, k)
        return hits if len(hits) >= need else None

    def _start_build(self) -> None:
        if not self._background:
            self.build_graph()
            return
        with self._builder_mutex:
            if self._closed or time.monotonic() < self._retry_build_at:
                return
            if self._builder is not None and self._builder.is_alive():
                return
            self._builder = threading.Thread(target=self._build_quietly, name="tusou-hnsw-build", daemon=True)
            self._builder.start()

    def _build_quietly(self) -> None:
        try:
            started = time.monotonic()
            self.build_graph()
            log.info("hnsw graph built for %d vectors in %.1fs", len(self._matrix), time.monotonic() - started)
        except Exception:
            if not self._closed:
                log.exception("hnsw build failed; exact search continues, retrying later")
                self._retry_build_at = time.monotonic() + _BUILD_RETRY_S

    def _new_graph(self) -> Index:
        return Index(
            ndim=self.dim,
            metric="ip",
            dtype=self._usearch_dtype,
            connectivity=_CONNECTIVITY,
            expansion_add=_EXPANSION_ADD,
            expansion_search=_EXPANSION_SEARCH,
        )

    def _copy_into_new_graph(self) -> Index | None:
        graph = self._new_graph()
        start = 0
        while True:
            with self._lock.read():
                if self._closed:
                    return None
                ids = self._matrix.ids[start : start + _BUILD_CHUNK].copy()
                vecs = self._matrix.vectors[start : start + _BUILD_CHUNK].copy()
            if not len(ids):
                return graph
            start += len(ids)
            # A removed-then-re-added id can be met twice; _catch_up fixes its vector.
            if len(graph):
                fresh = ~np.asarray(graph.contains(ids), dtype=bool)
                ids, vecs = ids[fresh], vecs[fresh]
            if len(ids):
                graph.add(ids, vecs)

    def _catch_up(self, graph: Index, touched: set[int]) -> None:
        if not touched:
            return
        ids = np.fromiter(touched, np.int64, len(touched))
        present = np.asarray(graph.contains(ids), dtype=bool)
        if present.any():
            graph.remove(ids[present])
        rows = self._matrix.rows_of(ids)
        if len(rows):
            graph.add(self._matrix.ids[rows], self._matrix.vectors[rows])

    def _as_query(self, query: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
        if q.shape != (self.dim,):
            raise ValueError(f"expected a query of dim {self.dim}, got shape {np.shape(query)}")
        if not np.isfinite(q).all():
            raise ValueError("query must be finite")
        return q

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("index is closed")


def _last_wins(ids: np.ndarray, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(ids) < 2:
        return ids, vecs
    _, first_from_end = np.unique(ids[::-1], return_index=True)
    if len(first_from_end) == len(ids):
        return ids, vecs
    keep = len(ids) - 1 - first_from_end
    return ids[keep], vecs[keep]
