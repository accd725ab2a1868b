"""The stored form of an image's keypoints (``Keypoints.to_bytes``): one blob of named
arrays, read back whole or in part (only its thumbnail, only its descriptors) by every
search that meets the image.

Blobs were .npz files until 2026-12-07. Parsing one took most of what reading it cost: a
`same` library's blob (43 KB, 780 keypoints) 600 us whole and 180 us for its thumbnail, of
which JPEG decoding was 70 us; the zip directory and each array's .npy header (parsed by
``ast``) were the rest. A search that nothing answers reads 300-400 of them, in `same`
about 150 ms of its 2 s. A blob is now a fixed header and the arrays laid end to end
(``compose``); blobs stored before are still read as .npz (``parse``), and ``tusou
libraries refresh`` rewrites them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping

import numpy as np

# The arrays a blob holds: points (n, 2) float32, descriptors (n, width) uint8, the image's
# size (2,) int32, the method's name and the JPEG thumbnails as (k,) uint8.
NAMES = ("points", "descriptors", "size", "method", "thumb", "colour")
_MAGIC = b"TKP\x02"
# magic, image width and height, keypoints, descriptor bytes, then the byte length of the
# method's name, the grey thumbnail and the colour one, and which thumbnails are present
_HEADER = struct.Struct("<4sIIIIIIII")
_THUMB, _COLOUR = 1, 2


def compose(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The blob of ``arrays`` (``NAMES``; "thumb" and "colour" may be left out)."""
    points = np.ascontiguousarray(arrays["points"], dtype="<f4").reshape(-1, 2)
    descriptors = np.ascontiguousarray(arrays["descriptors"], dtype=np.uint8)
    if descriptors.ndim != 2 or len(descriptors) != len(points):
        raise ValueError(f"descriptors {descriptors.shape} for {len(points)} points")
    width, height = (int(v) for v in arrays["size"])
    method = np.asarray(arrays["method"], np.uint8).tobytes()
    thumb, colour = (np.asarray(arrays[name], np.uint8).tobytes() if name in arrays else b""
                     for name in ("thumb", "colour"))
    present = (_THUMB if "thumb" in arrays else 0) | (_COLOUR if "colour" in arrays else 0)
    header = _HEADER.pack(_MAGIC, width, height, len(points), descriptors.shape[1], len(method),
                          len(thumb), len(colour), present)
    return b"".join([header, points.tobytes(), descriptors.tobytes(), method, thumb, colour])


def parse(raw: bytes, names: tuple[str, ...] = NAMES) -> dict[str, np.ndarray]:
    """Those of ``names`` that the blob ``raw`` holds, each its own copy (the blob is not
    kept alive by what is read from it)."""
    if raw[:4] != _MAGIC:
        return _parse_npz(raw, names)
    if len(raw) < _HEADER.size:
        raise ValueError(f"a keypoint blob of {len(raw)} bytes, shorter than its header")
    _, width, height, n, d, method_len, thumb_len, colour_len, present = _HEADER.unpack_from(raw)
    spans: dict[str, tuple[int, int]] = {}
    offset = _HEADER.size
    for name, length in (("points", 8 * n), ("descriptors", n * d), ("method", method_len),
                         ("thumb", thumb_len), ("colour", colour_len)):
        spans[name] = (offset, length)
        offset += length
    if offset != len(raw):
        raise ValueError(f"a keypoint blob of {len(raw)} bytes whose header says {offset}")
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "size":
            out[name] = np.array([width, height], np.int32)
            continue
        if (name == "thumb" and not present & _THUMB) or (name == "colour" and not present & _COLOUR):
            continue
        start, length = spans[name]
        if name == "points":
            out[name] = np.frombuffer(raw, "<f4", 2 * n, start).reshape(n, 2).astype(np.float32)
        else:
            array = np.frombuffer(raw, np.uint8, length, start).copy()
            out[name] = array.reshape(n, d) if name == "descriptors" else array
    return out


def _parse_npz(raw: bytes, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A blob stored before 2026-12-07: an .npz (no pickle) of the same arrays."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as z:
        return {name: z[name] for name in names if name in z.files}
