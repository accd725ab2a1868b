"""Vector indexes: derived from the metadata store, rebuildable, one per library."""

from __future__ import annotations

from pathlib import Path

from tusou.index.base import VectorIndex
from tusou.index.embedded import EmbeddedIndex

__all__ = ["EmbeddedIndex", "VectorIndex", "open_index"]


def open_index(path: Path | None, dim: int) -> VectorIndex:
    """The index for one library; `path=None` keeps it in memory only."""
    return EmbeddedIndex(path, dim)
