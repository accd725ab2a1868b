"""Local features and homography verification: does the query show (part of) the reference?

Used by the ``same`` kind (ORB; partial duplicates, crops, borders) and ``picturebook``
(AKAZE; a phone photo of part of a page). Keypoints are detected on a downscaled grey copy
for speed and stored in the original image's pixel coordinates, so a match box can be
reported in the reference image's own coordinates.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Method = Literal["orb", "akaze"]

# AKAZE's default detector threshold (1e-3) finds few points on soft, low-contrast photos
# of printed pages; 2e-4 finds several hundred there and we keep the strongest anyway.
AKAZE_THRESHOLD = 2e-4


@dataclass(frozen=True, eq=False)
class Keypoints:
    points: np.ndarray  # (N,2) float32, x/y in the original image's pixels
    descriptors: np.ndarray  # (N,D) uint8 binary descriptors (ORB 32, AKAZE 61 bytes)
    width: int
    height: int
    method: str

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def to_bytes(self) -> bytes:
        """A small .npz (no pickle): points as float32, descriptors as uint8."""
        buf = io.BytesIO()
        np.savez(
            buf,
            points=self.points.astype(np.float32),
            descriptors=self.descriptors.astype(np.uint8),
            size=np.array([self.width, self.height], np.int32),
            method=np.frombuffer(self.method.encode("ascii"), np.uint8),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Keypoints:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            w, h = (int(v) for v in z["size"])
            return cls(z["points"], z["descriptors"], w, h, z["method"].tobytes().decode("ascii"))


def _grey(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def _detector(method: Method, max_features: int, fast_threshold: int = 12) -> cv2.Feature2D:
    if method == "orb":
        # A lower FAST threshold than the default (20) keeps flat, low-contrast images
        # from coming back almost empty; ORB keeps the best max_features by Harris score.
        return cv2.ORB.create(nfeatures=max_features, scaleFactor=1.2, nlevels=8,
                              fastThreshold=fast_threshold)
    if method == "akaze":
        return cv2.AKAZE.create(threshold=AKAZE_THRESHOLD)
    raise ValueError(f"unknown keypoint method {method!r}")


# Images are detected at this long side: large ones shrunk for speed, small ones enlarged
# (at most MAX_UPSCALE times) because ORB ignores a 31 px border and FAST needs room, so a
# 100 px thumbnail would otherwise yield no keypoints at all.
WORK_SIDE = 640
MAX_UPSCALE = 4.0
# ORB on soft or low-contrast pictures (smooth stripes, faded scans) finds few corners at
# the usual FAST threshold; below this share of the budget it tries again more sensitively.
_RETRY_SHARE = 0.25
_RETRY_FAST_THRESHOLD = 4


def _work_copy(grey: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    long_side = max(grey.shape[:2])
    scale = min(max_side / long_side, MAX_UPSCALE)
    if abs(scale - 1.0) < 1e-3:
        return grey, 1.0
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(grey, size, interpolation=interp), scale


def extract_keypoints(
    pixels: np.ndarray,
    method: Method,
    *,
    max_features: int = 1000,
    max_side: int = WORK_SIDE,
) -> Keypoints:
    """Binary keypoints of ``pixels`` (RGB or grey uint8), strongest first."""
    grey = _grey(pixels)
    height, width = grey.shape[:2]
    small, scale = _work_copy(grey, max_side)
    kps, desc = _detector(method, max_features).detectAndCompute(small, None)
    if method == "orb" and len(kps or ()) < _RETRY_SHARE * max_features:
        again = _detector(method, max_features, _RETRY_FAST_THRESHOLD).detectAndCompute(small, None)
        if len(again[0] or ()) > len(kps or ()):
            kps, desc = again
    if desc is None or not kps:
        dim = 32 if method == "orb" else 61
        return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, dim), np.uint8), width, height, method)
    order = np.argsort([-k.response for k in kps], kind="stable")[:max_features]
    pts = np.array([kps[i].pt for i in order], np.float32)
    # Pixel centres: a point at x in the small image sits at (x + 0.5) / scale - 0.5.
    pts = (pts + 0.5) / np.float32(scale) - 0.5
    return Keypoints(pts, np.ascontiguousarray(desc[order]), width, height, method)


@dataclass(frozen=True, eq=False)
class GeometricMatch:
    inliers: int
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the query's outline in the reference
    homography: np.ndarray  # 3x3, query pixels -> reference pixels


def _good_matches(query: Keypoints, ref: Keypoints, ratio: float, cross_check: bool) -> list[tuple[int, int]]:
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    forward = matcher.knnMatch(query.descriptors, ref.descriptors, k=2)
    pairs: dict[int, tuple[int, float]] = {}
    for m in forward:
        if len(m) < 2:
            continue
        best, second = m
        if best.distance >= ratio * second.distance:
            continue
        # One reference point may only be claimed once (keep the closest query point);
        # repeated patterns otherwise inflate the inlier count.
        prev = pairs.get(best.trainIdx)
        if prev is None or best.distance < prev[1]:
            pairs[best.trainIdx] = (best.queryIdx, best.distance)
    if cross_check and pairs:
        backward = matcher.match(ref.descriptors, query.descriptors)
        back = {m.queryIdx: m.trainIdx for m in backward}
        return [(q, r) for r, (q, _) in pairs.items() if back.get(r) == q]
    return [(q, r) for r, (q, _) in pairs.items()]


def _convex(poly: np.ndarray) -> bool:
    edges = np.roll(poly, -1, axis=0) - poly
    nxt = np.roll(edges, -1, axis=0)
    cross = edges[:, 0] * nxt[:, 1] - edges[:, 1] * nxt[:, 0]
    return bool(np.all(cross > 0) or np.all(cross < 0))


def _project(h: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = pts @ h[2, :2] + h[2, 2]
    return (pts @ h[:2, :2].T + h[:2, 2]) / w[:, None], w


def _in_front(h: np.ndarray, poly: np.ndarray, eps: float) -> np.ndarray:
    """``poly`` clipped to where the homography's denominator is >= eps (Sutherland-Hodgman
    against one line): beyond it points map to infinity or behind the camera."""
    w = poly @ h[2, :2] + h[2, 2]
    out: list[np.ndarray] = []
    for i in range(len(poly)):
        a, b, wa, wb = poly[i], poly[(i + 1) % len(poly)], w[i], w[(i + 1) % len(poly)]
        if wa >= eps:
            out.append(a)
        if (wa >= eps) != (wb >= eps):
            out.append(a + (b - a) * (eps - wa) / (wb - wa))
    return np.array(out, np.float64).reshape(-1, 2)


def _plausible(
    h: np.ndarray, query: Keypoints, ref: Keypoints, support: np.ndarray
) -> tuple[int, int, int, int] | None:
    """The clipped box of the query's outline in the reference, or None if ``h`` is
    degenerate where the matches are (``support``: inlier query points): mirrored, wildly
    anisotropic, absurdly scaled, twisted, or collapsed to a sliver."""
    if not np.all(np.isfinite(h)):
        return None
    # Scale so the denominator is +1 at the matches: "in front of the camera" is then
    # w > 0 even when the query's origin lies beyond the horizon (h[2,2] <= 0).
    centre = support.mean(axis=0)
    w_centre = float(centre @ h[2, :2] + h[2, 2])
    if abs(w_centre) < 1e-12:
        return None
    h = h / w_centre
    lo, hi = support.min(axis=0), support.max(axis=0)
    quad = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]], np.float64)
    proj, w = _project(h, quad)
    if np.any(w <= 1e-6) or not _convex(proj):
        return None
    # Local linear map at the centre of the matches: orientation, scale, anisotropy.
    (y,), _ = _project(h, centre[None])
    jac = h[:2, :2] - np.outer(y, h[2, :2])
    det = float(np.linalg.det(jac))
    if det <= 0:
        return None  # a mirror image; callers verify a flipped query for that
    # Query and reference can differ in resolution a lot (phone photo vs thumbnail), so
    # allow 100x each way in linear scale.
    if not 1e-4 <= det <= 1e4:
        return None
    sv = np.linalg.svd(jac, compute_uv=False)
    if sv[0] / max(sv[1], 1e-12) > 8.0:
        return None
    px1, py1 = np.clip(proj.min(axis=0), 0, [ref.width, ref.height])
    px2, py2 = np.clip(proj.max(axis=0), 0, [ref.width, ref.height])
    min_side = max(8.0, 0.02 * min(ref.width, ref.height))
    if px2 - px1 < min_side or py2 - py1 < min_side:
        return None
    outline = np.array([[0, 0], [query.width, 0], [query.width, query.height], [0, query.height]], np.float64)
    # Far from the matched area the outline may cross the horizon (a page photographed
    # small and at an angle); only the part in front of the camera has an image.
    visible = _in_front(h, outline, eps=1e-3 * float(np.min(w)))
    ref_pts, _ = _project(h, visible)
    x1, y1 = np.clip(ref_pts.min(axis=0), 0, [ref.width, ref.height])
    x2, y2 = np.clip(ref_pts.max(axis=0), 0, [ref.width, ref.height])
    return int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2))


def verify(
    query: Keypoints,
    ref: Keypoints,
    *,
    min_inliers: int = 12,
    ratio: float = 0.8,
    cross_check: bool = False,
) -> GeometricMatch | None:
    """Match ``query`` against ``ref`` and fit a homography; None if it is not the same
    flat content (fewer than ``min_inliers`` consistent matches or an implausible fit)."""
    if len(query) < 4 or len(ref) < 4 or query.descriptors.shape[1] != ref.descriptors.shape[1]:
        return None
    pairs = _good_matches(query, ref, ratio, cross_check)
    if len(pairs) < max(min_inliers, 4):
        return None
    qi, ri = np.array(pairs, np.int64).T
    src = query.points[qi].astype(np.float64)
    dst = ref.points[ri].astype(np.float64)
    # Keypoints were found at <= 640 px, so their position noise scales with the image.
    threshold = max(2.0, 0.005 * max(ref.width, ref.height))
    h, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, threshold, maxIters=2000, confidence=0.999)
    if h is None or mask is None:
        return None
    inlier = mask.ravel().astype(bool)
    inliers = int(inlier.sum())
    if inliers < min_inliers:
        return None
    box = _plausible(h, query, ref, src[inlier])
    if box is None:
        return None
    if abs(h[2, 2]) > 1e-9:
        h = h / h[2, 2]
    return GeometricMatch(inliers, box, h)
