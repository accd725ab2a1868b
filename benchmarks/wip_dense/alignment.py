"""Keypoint-free verification: does the query line up with a stored thumbnail, pixel for pixel?

Keypoint matching needs corners. Stripes, smooth gradients, silhouettes and line drawings
have few, so a re-encoded, rotated or cropped copy of one can fail to verify although it is
plainly the same picture. Here the query is aligned with the reference's stored grey
thumbnail instead: one of its 8 flips / quarter turns, at one of a few scales, slid over the
thumbnail (template matching of gradient images at a coarse size), then corrected by ECC
(Evangelidis & Psarakis) at the thumbnail's size, and judged by ``keypoints.agreement``.

The alignment space is kept small on purpose. With a free affine warp, any two stripe
patterns line up: ECC may only correct the coarse guess a little (scale, shear, rotation
and shift bounds below), so a different picture cannot be bent onto the thumbnail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tusou.features.keypoints import Keypoints, agreement
from tusou.features.keypoints import _scale_to as scale_to
from tusou.features.pixels import resize_max_side

# Template matching runs with the thumbnail's long side at this size (and the query at
# twice it, so that its scaled templates are made by shrinking).
COARSE_SIDE = 64
# The query's size relative to the reference, fitted inside it: crops are smaller than
# their original, a copy with a border or a grown canvas is larger.
SCALES = (0.5, 0.56, 0.63, 0.71, 0.8, 0.9, 1.0, 1.12, 1.25)
# The best coarse placements that are refined and judged.
TOP_HYPOTHESES = 2
# How far ECC may move the coarse placement: the singular values of its linear part, their
# ratio, its rotation, and its shift as a share of the thumbnail's long side.
_SCALE_BOUNDS = (0.88, 1.12)
_MAX_ANISOTROPY = 1.08
_MAX_ROTATION_DEG = 12.0
_MAX_SHIFT = 0.12
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
# The query must cover at least this share of the thumbnail (a 25 % crop still does), and
# the covered part must have some texture: a flat patch agrees with anything flat.
_MIN_COVER = 0.2
_MIN_GRADIENT = 2.0
# Borders: rows/columns this uniform (grey-level spread) are trimmed before matching, up to
# this share of each side (letterboxing, a frame or padding added to a copy).
_BORDER_SPREAD = 4.0
_MAX_BORDER = 0.3


@dataclass(frozen=True, eq=False)
class DenseMatch:
    agreement: float
    homography: np.ndarray  # 3x3, query pixels -> reference pixels
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the query's outline in the reference


def _dihedral(width: int, height: int, turns: int, flip: bool) -> tuple[np.ndarray, int, int]:
    """The 3x3 map from an image's pixels to those of np.rot90(image[:, ::-1] if flip else
    image, turns), and that view's width and height."""
    m = np.eye(3)
    w, h = width, height
    if flip:
        m = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
    for _ in range(turns):
        # np.rot90 turns counter-clockwise: (x, y) of a w x h image goes to (y, w - 1 - x).
        m = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, w - 1.0], [0.0, 0.0, 1.0]]) @ m
        w, h = h, w
    return m, w, h


def _gradient(grey: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a lightly blurred copy: grey-level changes (a hue shift, grey
    scale, exposure) move it far less than the grey levels themselves."""
    g = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)
    return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))


def _content_box(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """x0, y0, x1, y1 inside a solid border (rows / columns of one grey level, the same as
    the image's edge), or None if there is none."""
    h, w = grey.shape[:2]
    g = grey.astype(np.float32)

    def run(lines: np.ndarray) -> int:
        """How many leading lines (rows of ``lines``) are one flat colour, the first's."""
        limit = int(_MAX_BORDER * len(lines))
        edge = float(lines[0].mean())
        n = 0
        while (n < limit and float(lines[n].std()) < _BORDER_SPREAD
               and abs(float(lines[n].mean()) - edge) < _BORDER_SPREAD):
            n += 1
        return n

    top, bottom = run(g), run(g[::-1])
    left, right = run(g.T), run(g.T[::-1])
    if max(top, bottom, left, right) < 2:
        return None
    return left, top, w - right, h - bottom


@dataclass(frozen=True, eq=False)
class _View:
    """A grey query image to align, with the map from the query's full-size pixels to it."""

    image: np.ndarray
    from_query: np.ndarray


class DenseProbe:
    """A query prepared once for aligning against many stored thumbnails."""

    def __init__(self, query: Keypoints) -> None:
        self.query = query
        self._views: list[tuple[_View, _View]] = []  # (refine size, coarse size)
        if query.image is None or min(query.image.shape[:2]) < 8:
            return
        work, _ = resize_max_side(query.image, 4 * COARSE_SIDE)
        whole = _View(work, scale_to(work, query.width, query.height))
        views = [whole]
        box = _content_box(work)
        if box is not None:
            x0, y0, x1, y1 = box
            if x1 - x0 >= 8 and y1 - y0 >= 8:
                shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
                views.append(_View(np.ascontiguousarray(work[y0:y1, x0:x1]),
                                   shift @ whole.from_query))
        for view in views:
            coarse, _ = resize_max_side(view.image, 2 * COARSE_SIDE)
            to_coarse = scale_to(coarse, view.image.shape[1], view.image.shape[0])
            self._views.append((view, _View(coarse, to_coarse @ view.from_query)))
        self._templates: dict[tuple[int, int, int, bool, int, int], np.ndarray] = {}

    def _template(self, n: int, turns: int, flip: bool, size: tuple[int, int]) -> np.ndarray:
        key = (n, turns, flip) + size
        cached = self._templates.get(key)
        if cached is None:
            coarse = self._views[n][1].image
            view = np.ascontiguousarray(np.rot90(coarse[:, ::-1] if flip else coarse, turns))
            cached = _gradient(cv2.resize(view, size, interpolation=cv2.INTER_AREA))
            self._templates[key] = cached
        return cached

    def _placements(self, thumb: np.ndarray) -> list[tuple[float, int, np.ndarray]]:
        """Coarse placements, best first: (correlation, view, map query px -> thumb px)."""
        small, _ = resize_max_side(thumb, COARSE_SIDE)
        th, tw = small.shape[:2]
        target = _gradient(small)
        up = np.linalg.inv(scale_to(small, thumb.shape[1], thumb.shape[0]))
        out: list[tuple[float, int, np.ndarray]] = []
        for n, (_, coarse) in enumerate(self._views):
            ch, cw = coarse.image.shape[:2]
            for flip in (False, True):
                for turns in range(4):
                    turn, vw, vh = _dihedral(cw, ch, turns, flip)
                    fit = min(tw / vw, th / vh)
                    for scale in SCALES:
                        size = (max(6, round(vw * fit * scale)), max(6, round(vh * fit * scale)))
                        template = self._template(n, turns, flip, size)
                        if size[0] <= tw and size[1] <= th:
                            result = cv2.matchTemplate(target, template, cv2.TM_CCOEFF_NORMED)
                            _, value, _, (tx, ty) = cv2.minMaxLoc(result)
                        elif size[0] >= tw and size[1] >= th:
                            result = cv2.matchTemplate(template, target, cv2.TM_CCOEFF_NORMED)
                            _, value, _, (x, y) = cv2.minMaxLoc(result)
                            tx, ty = -x, -y
                        else:
                            continue
                        sx, sy = size[0] / vw, size[1] / vh
                        place = np.array([[sx, 0.0, 0.5 * sx - 0.5 + tx],
                                          [0.0, sy, 0.5 * sy - 0.5 + ty], [0.0, 0.0, 1.0]])
                        out.append((float(value), n, up @ place @ turn @ coarse.from_query))
        out.sort(key=lambda p: -p[0])
        return out

    def _aligned(self, view: _View, thumb: np.ndarray, guess: np.ndarray) -> list[np.ndarray]:
        """``guess`` (query px -> thumb px) corrected by a bounded ECC affine step, and the
        guess itself (periodic content can pull ECC away from a right guess); nothing if
        the guess covers too little of the thumbnail or too flat a part of it."""
        th, tw = thumb.shape[:2]
        to_thumb = guess @ np.linalg.inv(view.from_query)
        source = view.image.astype(np.float32)
        shrink = 1.0 / math.sqrt(max(abs(float(np.linalg.det(to_thumb[:2, :2]))), 1e-12))
        if shrink > 1.5:
            source = cv2.GaussianBlur(source, (0, 0), 0.5 * shrink)
        warped = cv2.warpPerspective(source, to_thumb, (tw, th), flags=cv2.INTER_LINEAR)
        footprint = cv2.warpPerspective(np.ones(source.shape, np.uint8), to_thumb, (tw, th),
                                        flags=cv2.INTER_NEAREST)
        mask = cv2.erode(footprint, np.ones((5, 5), np.uint8))
        if int(mask.sum()) < _MIN_COVER * th * tw:
            return []
        target = _gradient(thumb)
        if float(target[mask > 0].mean()) < _MIN_GRADIENT:
            return []
        warp = np.eye(2, 3, dtype=np.float32)
        try:
            _, warp = cv2.findTransformECC(_gradient(warped), target, warp, cv2.MOTION_AFFINE,
                                           _ECC_CRITERIA, mask, 1)
        except cv2.error:  # did not converge
            return [guess]
        linear = warp[:, :2].astype(np.float64)
        singular = np.linalg.svd(linear, compute_uv=False)
        rotation = math.degrees(abs(math.atan2(linear[1, 0] - linear[0, 1],
                                               linear[0, 0] + linear[1, 1])))
        if (np.linalg.det(linear) <= 0 or singular[1] < _SCALE_BOUNDS[0]
                or singular[0] > _SCALE_BOUNDS[1] or singular[0] / singular[1] > _MAX_ANISOTROPY
                or rotation > _MAX_ROTATION_DEG):
            return [guess]
        # The shift of the warped query's centre, not of the origin (rotation moves that).
        centre = np.array([tw / 2.0, th / 2.0])
        if np.abs(linear @ centre + warp[:, 2] - centre).max() > _MAX_SHIFT * max(tw, th):
            return [guess]
        return [np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]]) @ guess, guess]

    def match(self, ref: Keypoints) -> DenseMatch | None:
        """The best alignment of the query with ``ref``'s thumbnail, or None if nothing
        lines up (or either side has no image)."""
        thumb = ref.image
        if not self._views or thumb is None or min(thumb.shape[:2]) < 8:
            return None
        from_thumb = np.linalg.inv(scale_to(thumb, ref.width, ref.height))
        best: DenseMatch | None = None
        for _, n, guess in self._placements(thumb)[:TOP_HYPOTHESES]:
            view = self._views[n][0]
            for placed in self._aligned(view, thumb, guess):
                homography = from_thumb @ placed
                score = agreement(self.query, ref, homography)
                if score is not None and (best is None or score > best.agreement):
                    best = DenseMatch(score, homography,
                                      _outline(homography, view, self.query, ref))
        return best


def _outline(homography: np.ndarray, view: _View, query: Keypoints, ref: Keypoints
             ) -> tuple[int, int, int, int]:
    """The box of the aligned view's outline in the reference, clipped to it."""
    h, w = view.image.shape[:2]
    corners = np.array([[-0.5, -0.5, 1.0], [w - 0.5, -0.5, 1.0], [w - 0.5, h - 0.5, 1.0],
                        [-0.5, h - 0.5, 1.0]])
    points = (homography @ np.linalg.inv(view.from_query) @ corners.T).T
    xy = points[:, :2] / points[:, 2:3]
    x1, y1 = np.clip(xy.min(axis=0), 0, [ref.width, ref.height])
    x2, y2 = np.clip(xy.max(axis=0), 0, [ref.width, ref.height])
    return int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2))
