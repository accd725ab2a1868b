"""Finding image files in folders (import and evaluation walk folders the same way)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".gif", ".webp", ".tif",
                            ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"})


def image_files(root: Path) -> Iterator[Path]:
    """Image files under ``root``, recursively, in a stable order (hidden entries skipped)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(dirpath) / name
