"""Small pixel helpers shared by the extractors. Images arrive as HxWx3 RGB uint8."""

from __future__ import annotations

import math

import cv2
import numpy as np


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 from grey, RGB or RGBA input (alpha dropped: decoding composites it)."""
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]
    elif pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {pixels.dtype}")
    return pixels


def resize_short_side(pixels: np.ndarray, size: int, *, max_ratio: float = 2.0,
                      enlarge_with: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Short side to ``size`` keeping the aspect, long side capped at ``max_ratio * size``;
    shrunk by area, enlarged with ``enlarge_with``."""
    h, w = pixels.shape[:2]
    scale = size / min(h, w)
    if max(h, w) * scale > max_ratio * size:
        scale = max_ratio * size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return pixels
    interp = cv2.INTER_AREA if scale < 1 else enlarge_with
    return cv2.resize(pixels, (nw, nh), interpolation=interp)


def resize_max_side(pixels: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``max_side``; returns the image and the scale."""
    h, w = pixels.shape[:2]
    if max(h, w) <= max_side:
        return pixels, 1.0
    scale = max_side / max(h, w)
    out = cv2.resize(pixels, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return out, scale


def centre_crop(pixels: np.ndarray, share: float) -> np.ndarray:
    """The centred window of ``pixels`` with ``share`` of its area and the same aspect."""
    return window(pixels, share, 0.5, 0.5)


def window(pixels: np.ndarray, share: float, cx: float, cy: float) -> np.ndarray:
    """The window of ``pixels`` with ``share`` of its area and the same aspect, centred at
    (``cx``, ``cy``) in fractions of the width and height, moved inside the image if needed."""
    h, w = pixels.shape[:2]
    side = share ** 0.5
    ch, cw = max(1, round(h * side)), max(1, round(w * side))
    # Floor, so that a centred window of an odd margin leans up and left by half a pixel.
    top = min(max(math.floor(cy * h - ch / 2), 0), h - ch)
    left = min(max(math.floor(cx * w - cw / 2), 0), w - cw)
    return np.ascontiguousarray(pixels[top:top + ch, left:left + cw])
