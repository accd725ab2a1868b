"""An in-memory table of 256-bit perceptual hashes, scanned by Hamming distance.

The hashes are packed bits, 32 bytes per image, scanned exactly: there is no approximate
structure to keep in sync. Rebuilt from the store when a library is opened.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

HASH_BYTES = 32
_WORDS = HASH_BYTES // 8
# popcount of every byte value (numpy < 2 has no bitwise_count)
_POPCOUNT8 = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint16)


def popcount_rows(words: np.ndarray) -> np.ndarray:
    """Set bits per row of an (N, W) uint64 array (W up to 1,024, within uint16)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=1, dtype=np.uint16)
    return _POPCOUNT8[words.view(np.uint8)].sum(axis=1, dtype=np.uint16)


class HammingTable:
    """Rows in one growable uint64 matrix; a delete moves the last row into the hole."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = np.empty(16, dtype=np.int64)
        self._words = np.empty((16, _WORDS), dtype=np.uint64)
        self._size = 0
        self._rows: dict[int, int] = {}

    def __len__(self) -> int:
        return self._size

    def _grow(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2)
        self._ids = np.resize(self._ids, capacity)
        words = np.empty((capacity, _WORDS), dtype=np.uint64)
        words[: self._size] = self._words[: self._size]
        self._words = words

    def upsert(self, ids: Sequence[int], hashes: Sequence[bytes]) -> None:
        with self._lock:
            self._grow(self._size + len(ids))
            for image_id, blob in zip(ids, hashes, strict=True):
                packed = np.frombuffer(blob[:HASH_BYTES], dtype=np.uint64)
                row = self._rows.get(int(image_id))
                if row is None:
                    row = self._size
                    self._size += 1
                    self._rows[int(image_id)] = row
                    self._ids[row] = image_id
                self._words[row] = packed

    def remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            for image_id in ids:
                row = self._rows.pop(int(image_id), None)
                if row is None:
                    continue
                last = self._size - 1
                if row != last:
                    moved = int(self._ids[last])
                    self._ids[row] = moved
                    self._words[row] = self._words[last]
                    self._rows[moved] = row
                self._size = last

    def within(self, queries: Sequence[bytes], max_distance: int,
               allowed: np.ndarray | None = None) -> dict[int, int]:
        """Ids whose hash is within ``max_distance`` of any query -> smallest distance."""
        with self._lock:
            ids = self._ids[: self._size].copy()
            table = self._words[: self._size].copy()
        if len(ids) == 0 or not queries:
            return {}
        best = np.full(len(ids), 257, dtype=np.uint16)
        for blob in queries:
            query = np.frombuffer(blob[:HASH_BYTES], dtype=np.uint64)
            np.minimum(best, popcount_rows(np.bitwise_xor(table, query)), out=best)
        hit = best <= max_distance
        if allowed is not None:
            hit &= np.isin(ids, allowed)
        return {int(i): int(d) for i, d in zip(ids[hit], best[hit], strict=True)}
