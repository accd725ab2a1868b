"""Content signatures ("cont_sign"): the id an image has in a library, derived from its pixels.

Hashing the decoded pixels rather than the file means the same picture re-encoded
losslessly (PNG, BMP, PPM...) is recognised as a duplicate. The wire form follows the
vendor APIs: two unsigned 32-bit integers in decimal, joined by a comma.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Sequence

import numpy as np

from tusou.errors import InvalidParameter, MissingParameter

_FIELD = "cont_sign"
# Versioned so a future change of pixel pipeline can never collide with today's signs.
_HEADER_TAG = b"tusou-rgb8-v1"
# Leading zeros are tolerated on input; ten significant digits bound the value near 2**32.
_SIGN_RE = re.compile(r"0*([0-9]{1,10}),0*([0-9]{1,10})", re.ASCII)
_MAX_UINT32 = 0xFFFFFFFF
_MAX_SIGN_CHARS = 64


def cont_sign(pixels: np.ndarray) -> str:
    """The signature of an HxWx3 uint8 RGB image: ``"<uint32>,<uint32>"``."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 pixels, got shape {pixels.shape} dtype {pixels.dtype}")
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    digest = hashlib.sha256()
    # The shape goes in first so that equal bytes laid out differently sign differently.
    digest.update(_HEADER_TAG + struct.pack(">II", height, width))
    digest.update(np.ascontiguousarray(pixels).data)
    high, low = struct.unpack(">II", digest.digest()[:8])
    return f"{high},{low}"


def parse_cont_sign(text: str) -> str:
    """Validate a caller-supplied cont_sign and return it in canonical form."""
    if not isinstance(text, str) or len(text) > _MAX_SIGN_CHARS:
        raise InvalidParameter("cont_sign must be two unsigned 32-bit integers like '123,456'", field=_FIELD)
    match = _SIGN_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidParameter(
            f"cont_sign {text.strip()!r} is not two unsigned 32-bit integers like '123,456'", field=_FIELD
        )
    high, low = int(match.group(1)), int(match.group(2))
    if high > _MAX_UINT32 or low > _MAX_UINT32:
        raise InvalidParameter(f"cont_sign {text.strip()!r} has a part above {_MAX_UINT32}", field=_FIELD)
    return f"{high},{low}"


def parse_cont_sign_list(text: str | Sequence[str], *, max_count: int, sep: str = ";") -> list[str]:
    """Parse cont_signs given as ``sep``-separated text or as a list: blanks skipped,
    duplicates dropped, at most ``max_count``."""
    if not isinstance(text, (str, list, tuple)):
        raise InvalidParameter("cont_signs must be a list or ';'-separated text", field=_FIELD)
    items = text.split(sep) if isinstance(text, str) else [str(item) for item in text]
    signs: dict[str, None] = {}  # insertion-ordered set
    for item in items:
        if not item.strip():
            continue
        signs[parse_cont_sign(item)] = None
        if len(signs) > max_count:
            raise InvalidParameter(f"at most {max_count} cont_signs may be given at once", field=_FIELD)
    if not signs:
        raise MissingParameter("no cont_sign given", field=_FIELD)
    return list(signs)
