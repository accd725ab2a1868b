"""Original images and thumbnails on disk, for libraries created with ``store_originals``."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tusou.fileutil import atomic_write_bytes

THUMBNAIL_SIDE = 256


class OriginalStore:
    """One folder per library; files named by cont_sign. Written before the row commits,
    so an acknowledged image always has its files; an orphan file after a crash is harmless."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _dir(self, library_id: int) -> Path:
        return self._root / str(library_id)

    def _stem(self, library_id: int, cont_sign: str) -> Path:
        return self._dir(library_id) / cont_sign.replace(",", "_")

    def put(self, library_id: int, cont_sign: str, data: bytes, image_format: str,
            pixels: np.ndarray) -> None:
        self._dir(library_id).mkdir(parents=True, exist_ok=True)
        stem = self._stem(library_id, cont_sign)
        atomic_write_bytes(stem.with_suffix(f".{image_format}"), data)
        thumb = Image.fromarray(pixels)
        thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        buf = io.BytesIO()
        thumb.save(buf, format="JPEG", quality=85)
        atomic_write_bytes(stem.with_suffix(".thumb.jpg"), buf.getvalue())

    def original(self, library_id: int, cont_sign: str, image_format: str) -> bytes | None:
        path = self._stem(library_id, cont_sign).with_suffix(f".{image_format}")
        return path.read_bytes() if path.exists() else None

    def thumbnail(self, library_id: int, cont_sign: str) -> bytes | None:
        path = self._stem(library_id, cont_sign).with_suffix(".thumb.jpg")
        return path.read_bytes() if path.exists() else None

    def remove(self, library_id: int, cont_sign: str) -> None:
        stem = self._stem(library_id, cont_sign)
        for path in stem.parent.glob(stem.name + ".*"):
            path.unlink(missing_ok=True)

    def drop_library(self, library_id: int) -> None:
        shutil.rmtree(self._dir(library_id), ignore_errors=True)
