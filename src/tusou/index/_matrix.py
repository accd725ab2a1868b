"""Dense vector storage with an id -> row map, and exact top-k over it."""

from __future__ import annotations

import numpy as np
from usearch.index import MetricKind
from usearch.index import search as exact_search

# Gathering selected rows copies them; blocks bound that copy (~32 MiB at 256-d f16).
_GATHER_BLOCK = 65_536
# Below this a single-threaded scan beats spawning a thread pool.
_PARALLEL_MIN_ROWS = 4_096
# usearch scans with the query rounded to the storage dtype; a few spare candidates
# let the float32 rescoring restore the true order at the k-th boundary.
_MIN_SPARE = 16

F16_MAX = float(np.finfo(np.float16).max)


class VectorMatrix:
    """Not thread-safe: the owner serialises writers against readers.

    Rows [0, n) are live; removal moves the last row into the hole so scans
    never skip tombstones and memory stays proportional to the live count.
    """

    def __init__(self, dim: int, dtype: np.dtype) -> None:
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self._vecs = np.empty((0, dim), self.dtype)
        self._ids = np.empty(0, np.int64)
        self._n = 0
        self._row: dict[int, int] = {}

    def __len__(self) -> int:
        return self._n

    def __contains__(self, id: int) -> bool:
        return id in self._row

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self._n]

    @property
    def vectors(self) -> np.ndarray:
        return self._vecs[: self._n]

    def vector(self, id: int) -> np.ndarray | None:
        row = self._row.get(id)
        return None if row is None else self._vecs[row].astype(np.float32)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the given ids, unknown ids dropped, order kept."""
        get = self._row.get
        rows = np.fromiter((get(i, -1) for i in ids.tolist()), np.int64, len(ids))
        return rows[rows >= 0]

    def rows_in(self, allowed: np.ndarray) -> np.ndarray:
        """Rows whose id is in `allowed` (any order, duplicates harmless)."""
        if len(allowed) * 8 < self._n:
            return self.rows_of(np.unique(allowed))
        # For broad filters one vectorised pass beats a dict lookup per allowed id.
        return np.flatnonzero(np.isin(self.ids, allowed))

    def upsert(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """`ids` must be unique; `vecs` float32 of shape (len(ids), dim)."""
        get = self._row.get
        rows = np.fromiter((get(i, -1) for i in ids.tolist()), np.int64, len(ids))
        old = rows >= 0
        self._vecs[rows[old]] = vecs[old]
        new = ~old
        m = int(new.sum())
        if not m:
            return
        self._reserve(self._n + m)
        start, end = self._n, self._n + m
        self._vecs[start:end] = vecs[new]
        self._ids[start:end] = ids[new]
        self._row.update(zip(ids[new].tolist(), range(start, end)))
        self._n = end

    def remove(self, ids: np.ndarray) -> tuple[list[int], list[int]]:
        """Returns (removed ids, ids whose row moved to fill a hole)."""
        removed: list[int] = []
        moved: list[int] = []
        for id in ids.tolist():
            row = self._row.pop(id, None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                last_id = int(self._ids[last])
                self._vecs[row] = self._vecs[last]
                self._ids[row] = last_id
                self._row[last_id] = row
                moved.append(last_id)
            self._n = last
            removed.append(id)
        if len(self._ids) > 4096 and self._n < len(self._ids) // 4:
            self._resize(self._n * 2)
        return removed, moved

    def top_k(self, query: np.ndarray, k: int, rows: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Exact best-k over all rows, or over `rows` (unique) when given."""
        total = self._n if rows is None else len(rows)
        k = min(k, total)
        if k <= 0:
            return []
        want = min(total, k + max(_MIN_SPARE, k // 4))
        q = query.astype(self.dtype)
        if rows is None:
            cand = _scan(self.vectors, q, want)
        else:
            parts = []
            for start in range(0, total, _GATHER_BLOCK):
                sub = rows[start : start + _GATHER_BLOCK]
                parts.append(sub[_scan(self._vecs[sub], q, min(want, len(sub)))])
            cand = np.concatenate(parts)
        return self.rank(cand, query, k)

    def rank(self, rows: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Score candidate rows in float32 and keep the best k."""
        if not len(rows):
            return []
        sims = self._vecs[rows].astype(np.float32) @ query
        order = np.argsort(-sims, kind="stable")[:k]
        return list(zip(self._ids[rows[order]].tolist(), sims[order].tolist()))

    def _reserve(self, need: int) -> None:
        if need > len(self._ids):
            self._resize(max(need, len(self._ids) * 3 // 2, 1024))

    def _resize(self, cap: int) -> None:
        vecs = np.empty((cap, self.dim), self.dtype)
        ids = np.empty(cap, np.int64)
        vecs[: self._n] = self._vecs[: self._n]
        ids[: self._n] = self._ids[: self._n]
        self._vecs, self._ids = vecs, ids

    @classmethod
    def from_arrays(cls, ids: np.ndarray, vecs: np.ndarray, dtype: np.dtype) -> VectorMatrix:
        m = cls(vecs.shape[1], dtype)
        m._resize(len(ids))
        m._vecs[: len(ids)] = vecs
        m._ids[: len(ids)] = ids
        m._n = len(ids)
        m._row = dict(zip(ids.tolist(), range(len(ids))))
        return m


def _scan(block: np.ndarray, query: np.ndarray, count: int) -> np.ndarray:
    # usearch's SIMD kernel reads f16 directly; numpy would first cast the whole
    # block to float32, which measured ~5x slower than the scan itself.
    threads = 0 if len(block) >= _PARALLEL_MIN_ROWS else 1
    matches = exact_search(block, query, count, MetricKind.IP, exact=True, threads=threads)
    return matches.keys.astype(np.int64)
