"""What an image must satisfy to enter a library of a given kind."""

from __future__ import annotations

from dataclasses import dataclass

# Formats are Pillow's format names, lower-cased.
BASE_FORMATS: frozenset[str] = frozenset({"jpeg", "png", "bmp"})

MAX_BASE64_CHARS = 4 * 1024 * 1024
# Raw bytes equivalent of 4 MiB of base64 text.
MAX_IMAGE_BYTES = MAX_BASE64_CHARS // 4 * 3
MAX_SIDE = 4096
# Anything declaring more pixels than this is refused before its pixels are decoded.
MAX_DECLARED_PIXELS = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """Per-kind acceptance rules, checked after EXIF orientation is applied."""

    min_side: int = 50
    max_side: int = MAX_SIDE
    formats: frozenset[str] = BASE_FORMATS
    # Long side / short side, e.g. 10.0 for "between 1:10 and 10:1"; None = unlimited.
    max_aspect: float | None = None
    max_bytes: int = MAX_IMAGE_BYTES
    max_base64_chars: int = MAX_BASE64_CHARS
