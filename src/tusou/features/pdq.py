"""PDQ perceptual hashes (Meta's ``pdqhash``) for exact and near-exact copies.

Two images with a distance of at most 31 bits are, by PDQ's own convention, the same
picture. PDQ is blind to crops, borders and perspective; keypoints handle those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash

from .pixels import as_rgb, resize_max_side

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
# PDQ's reference threshold for "same image".
MATCH_DISTANCE = 31
# PDQ filters the image down to 64x64 anyway; hashing a 512 px copy changes a handful of
# bits at most and is ~50x faster on camera-sized photos.
_HASH_SIDE = 512

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_POPCOUNT.setflags(write=False)


@dataclass(frozen=True, eq=False)
class PdqHash:
    """256 bits packed big-endian into 32 bytes (hex matches PDQ's usual hex form), and
    PDQ's quality 0..100 (below ~50 the image is too flat for the hash to mean much)."""

    bits: np.ndarray
    quality: int

    def __post_init__(self) -> None:
        if self.bits.dtype != np.uint8 or self.bits.shape != (HASH_BYTES,):
            raise ValueError("PdqHash.bits must be 32 packed uint8 bytes")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PdqHash):
            return NotImplemented
        return self.quality == other.quality and self.bits.tobytes() == other.bits.tobytes()

    def __hash__(self) -> int:
        return hash((self.bits.tobytes(), self.quality))

    def to_bytes(self) -> bytes:
        """33 bytes: the hash, then the quality."""
        return self.bits.tobytes() + bytes([max(0, min(255, self.quality))])

    @classmethod
    def from_bytes(cls, raw: bytes) -> PdqHash:
        if len(raw) != HASH_BYTES + 1:
            raise ValueError(f"expected {HASH_BYTES + 1} bytes, got {len(raw)}")
        return cls(np.frombuffer(raw[:HASH_BYTES], dtype=np.uint8).copy(), raw[HASH_BYTES])

    def hex(self) -> str:
        return self.bits.tobytes().hex()

    @classmethod
    def from_hex(cls, text: str, quality: int = 100) -> PdqHash:
        return cls(np.frombuffer(bytes.fromhex(text), dtype=np.uint8).copy(), quality)

    @classmethod
    def from_bit_vector(cls, vector: np.ndarray, quality: int) -> PdqHash:
        return cls(np.packbits(np.asarray(vector, dtype=np.uint8)), int(quality))


def _hash_input(pixels: np.ndarray) -> np.ndarray:
    small, _ = resize_max_side(as_rgb(pixels), _HASH_SIDE)
    return np.ascontiguousarray(small)


def pdq_hash(pixels: np.ndarray) -> PdqHash:
    vector, quality = pdqhash.compute(_hash_input(pixels))
    return PdqHash.from_bit_vector(vector, quality)


def pdq_dihedral(pixels: np.ndarray) -> list[PdqHash]:
    """The hashes of the 8 rotations/mirrors, the original first (one DCT, cheap)."""
    vectors, quality = pdqhash.compute_dihedral(_hash_input(pixels))
    return [PdqHash.from_bit_vector(v, quality) for v in vectors]


def hamming(a: PdqHash, b: PdqHash) -> int:
    return int(_POPCOUNT[np.bitwise_xor(a.bits, b.bits)].sum())
