"""An in-memory table of 256-bit perceptual hashes, scanned by Hamming distance.

A scan of packed bits is ~32 bytes per image: a million images take a few milliseconds,
so no approximate structure is needed. Rebuilt from the store at start.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

HASH_BYTES = 32
# popcount of every byte value
_POPCOUNT = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint16)


class HammingTable:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = np.empty(0, dtype=np.int64)
        self._hashes = np.empty((0, HASH_BYTES), dtype=np.uint8)
        self._rows: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def upsert(self, ids: Sequence[int], hashes: Sequence[bytes]) -> None:
        with self._lock:
            new_ids: list[int] = []
            new_rows: list[np.ndarray] = []
            for image_id, blob in zip(ids, hashes):
                packed = np.frombuffer(blob, dtype=np.uint8)[:HASH_BYTES]
                row = self._rows.get(int(image_id))
                if row is not None:
                    self._hashes[row] = packed
                else:
                    new_ids.append(int(image_id))
                    new_rows.append(packed)
            if new_ids:
                start = len(self._ids)
                self._ids = np.concatenate([self._ids, np.asarray(new_ids, dtype=np.int64)])
                self._hashes = np.concatenate([self._hashes, np.stack(new_rows)])
                for offset, image_id in enumerate(new_ids):
                    self._rows[image_id] = start + offset

    def remove(self, ids: Iterable[int]) -> None:
        with self._lock:
            drop = {int(i) for i in ids if int(i) in self._rows}
            if not drop:
                return
            keep = np.fromiter((int(i) not in drop for i in self._ids), dtype=bool,
                               count=len(self._ids))
            self._ids = self._ids[keep]
            self._hashes = self._hashes[keep]
            self._rows = {int(i): r for r, i in enumerate(self._ids)}

    def within(self, queries: Sequence[bytes], max_distance: int,
               allowed: np.ndarray | None = None) -> dict[int, int]:
        """Ids whose hash is within ``max_distance`` of any query -> smallest distance."""
        with self._lock:
            ids, table = self._ids, self._hashes
        if len(ids) == 0 or not queries:
            return {}
        best = np.full(len(ids), 257, dtype=np.uint16)
        for blob in queries:
            q = np.frombuffer(blob, dtype=np.uint8)[:HASH_BYTES]
            dist = _POPCOUNT[np.bitwise_xor(table, q)].sum(axis=1, dtype=np.uint16)
            np.minimum(best, dist, out=best)
        hit = best <= max_distance
        if allowed is not None:
            hit &= np.isin(ids, allowed)
        return {int(i): int(d) for i, d in zip(ids[hit], best[hit])}
