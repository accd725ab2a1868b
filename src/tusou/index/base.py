"""The contract every vector index implementation honours."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VectorIndex(Protocol):
    """A derived, rebuildable map id -> L2-normalised vector searched by inner product.

    The metadata store is the source of truth; an index only needs to be
    reconcilable with it through `ids()`, so it is never crash-consistent on its own.
    """

    dim: int

    def upsert(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace; within one call the last occurrence of an id wins."""
        ...

    def remove(self, ids: Iterable[int]) -> None:
        """Drop ids; unknown ids are ignored."""
        ...

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(id, similarity) best first, at most k; limited to `allowed` ids when given.

        Never under-returns: if at least k allowed ids are indexed, k hits come back.
        """
        ...

    def ids(self) -> np.ndarray:
        """Every indexed id as an int64 array, in no particular order."""
        ...

    def vector(self, id: int) -> np.ndarray | None:
        """A float32 copy of the stored vector, or None."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, id: object) -> bool: ...

    def save(self) -> None:
        """Persist atomically; a no-op for memory-only indexes."""
        ...

    def close(self) -> None:
        """Save if needed and release memory; the index is unusable afterwards."""
        ...


def as_id_array(ids: Iterable[int] | np.ndarray) -> np.ndarray:
    """Any iterable of ints as a flat int64 array (rejects floats, which would truncate silently)."""
    arr = ids if isinstance(ids, np.ndarray) else np.fromiter(ids, dtype=np.int64)
    arr = np.asarray(arr).reshape(-1)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got {arr.dtype}")
    return arr.astype(np.int64, copy=False)
