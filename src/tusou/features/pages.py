"""Photographed pages: find a printed page's outline in a photo and lay it on a thumbnail.

A phone photo of a poster or page shows the picture in perspective, small, on a table or
wall. Keypoints verify it when the picture has corners; a smooth one (a colour wheel, soft
textures, stripes, a silhouette) gives them nothing, and the whole-frame look
(``frames``) needs the picture to fill the frame. But a printed page has an outline: four
straight edges. Found, its corners pin the alignment as a whole-frame copy's do, so each
candidate is judged in its eight corner assignments (quarter turns, mirrors), refined by a
bounded ECC homography on the thumbnail (the corners are found to a pixel or two of the
detection scale, which the content check notices), by ``keypoints.agreement`` in gradients
and grey levels.

The outline is found the classic way (document scanners): colour edges at a coarse scale,
where table and carpet textures fade and a page's border stays, straight lines by Hough,
and every four lines that close a convex quadrilateral scored by how much of its border
runs along an edge across it. Corners may lie outside the photo (a phone held close).
Candidates come from the first look and from the page seen square-on (``rectified``): on
a textured table, the whole photo's vector can rank the original far down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .alignment import _MIN_GRADIENT
from .frames import ContentMatch
from .keypoints import Keypoints, _scale_to, _smoothed, agreement, colour_copy, warp_onto, weakest_cells
from .pixels import resize_max_side

# The photo's long side while looking for the outline: textures finer than a few pixels
# here are gone after the blur below, a page's border is not.
WORK_SIDE = 320
_BLUR = 1.5
# Canny's upper threshold at this percentile of the photo's colour gradient (lower: 0.4 x).
_EDGE_PERCENTILE = 85.0
# The strongest lines (Hough, suppressed near-duplicates) that outlines are built from.
MAX_LINES = 40
# Opposite sides within this angle of each other, adjacent sides at least this far apart
# (perspective bends a page's right angles, a little).
_MAX_OPPOSITE_DEG = 30.0
_MIN_ADJACENT_DEG = 50.0
# An outline covers this share of the photo at least / at most (counting what lies outside
# it), and its corners may lie this far outside it (a phone held close).
MIN_PAGE_SHARE = 0.08
MAX_PAGE_SHARE = 1.5
_OUTSIDE = 0.25
# ... but each side must show over this share of its length.
_MIN_VISIBLE = 0.5
# Each side must run along an edge across it over this share of its length.
MIN_SIDE_SUPPORT = 0.5
# Outlines tried per photo, best first (a page's inner frame or a picture on it also
# closes a quadrilateral); ones whose corners lie this close (share of the long side) to
# a better one's are the same outline.
MAX_PAGES = 3
_SAME_OUTLINE = 0.03
# The page's crop is kept with this long side for the content check (the stored
# thumbnails have 160).
VIEW_SIDE = 320
# The quick comparison: the page squared and the thumbnail squashed to this side; the
# best QUICK_KEEP corner assignments that reach MIN_QUICK go on to the content check.
QUICK_SIDE = 48
QUICK_KEEP = 2
MIN_QUICK = 0.5
# Corner assignments whose unrefined agreement is below this are not refined: a true
# page, found a few pixels off, starts above 0.2 (calibration); most wrong ones below.
MIN_GUESS = 0.2
# How far ECC may move the thumbnail's corners, as a share of its long side.
_MAX_CORNER_MOVE = 0.06
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4)
# The page must cover this share of the thumbnail once laid on it (and the thumbnail have
# the keypoint-free look's least texture: a flat patch agrees with anything flat).
_MIN_COVER = 0.5
# The share of the page's finer cells whose agreement ``min_cells`` bounds from below (the
# lower quartile): a photo keeps nearly every part of its page, while another page of the
# same book agrees only in its margins and type.
WEAKEST_SHARE = 0.25
# A photographed page is blurrier than the reference's thumbnail (the camera's focus, and
# the smoothing that shrinks the photo's page onto the thumbnail), and fine textures then
# lose their gradients' agreement: the placement found is also judged against the
# thumbnail blurred this much more (sigma, thumbnail px), and the best of them counts.
# Measured on the same suite (benchmarks/studies/pages.py, 2026-12-03): true pages of soft
# textures 0.88-0.947 sharp reach 0.95-0.985; the best wrong page 0.879 -> 0.892.
PAGE_BLURS = (0.7, 1.0)

Quad = np.ndarray  # (4, 2) float64 corners, clockwise from the one nearest the top left


def _edges(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Canny edges of the photo's colour gradient at WORK_SIDE, the gradient itself (the
    strongest Lab channel's, per pixel) and the scale from the photo to it."""
    small, scale = resize_max_side(pixels, WORK_SIDE)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    lab = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), _BLUR)
    gx = np.stack([cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0) for c in range(3)], axis=-1)
    gy = np.stack([cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1) for c in range(3)], axis=-1)
    strongest = np.argmax(gx * gx + gy * gy, axis=-1)[..., None]
    dx = np.take_along_axis(gx, strongest, axis=-1)[..., 0]
    dy = np.take_along_axis(gy, strongest, axis=-1)[..., 0]
    high = max(float(np.percentile(np.hypot(dx, dy), _EDGE_PERCENTILE)), 1.0)
    edges = cv2.Canny(np.round(dx).astype(np.int16), np.round(dy).astype(np.int16), 0.4 * high,
                      high, L2gradient=True)
    return edges, dx, dy, scale


def _lines(edges: np.ndarray) -> np.ndarray:
    """The strongest straight lines as (theta, rho) rows (Hough's normal form), without
    near-duplicates."""
    h, w = edges.shape
    found = cv2.HoughLines(edges, 1, math.pi / 180, max(8, int(0.1 * min(h, w))))
    if found is None:
        return np.zeros((0, 2))
    kept: list[tuple[float, float]] = []
    for rho, theta in found[:, 0]:
        for theta2, rho2 in kept:
            turn = abs(float(theta) - theta2)
            other = rho2 if turn <= math.pi / 2 else -rho2
            if min(turn, math.pi - turn) < math.radians(3) and abs(float(rho) - other) < 5:
                break
        else:
            kept.append((float(theta), float(rho)))
            if len(kept) == MAX_LINES:
                break
    return np.array(kept)


def _meet(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where lines a and b ((theta, rho) rows) cross, (N, 2); NaN where parallel."""
    ca, sa, cb, sb = np.cos(a[:, 0]), np.sin(a[:, 0]), np.cos(b[:, 0]), np.sin(b[:, 0])
    det = ca * sb - sa * cb
    det = np.where(np.abs(det) < 1e-6, np.nan, det)
    return np.stack([(a[:, 1] * sb - sa * b[:, 1]) / det, (ca * b[:, 1] - a[:, 1] * cb) / det], axis=-1)


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    turn = np.abs(a - b)
    return np.minimum(turn, math.pi - turn)


def _quads(lines: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Every convex quadrilateral two pairs of roughly parallel lines close with its corners
    in or near the frame (``_OUTSIDE``), (Q, 4, 2), and its area as a share of the frame's."""
    first, second = np.triu_indices(len(lines), 1)
    parallel = _angle(lines[first, 0], lines[second, 0]) <= math.radians(_MAX_OPPOSITE_DEG)
    first, second = first[parallel], second[parallel]
    p, q = np.triu_indices(len(first), 1)
    a, c, b, d = first[p], second[p], first[q], second[q]  # sides a, b, c, d in turn
    keep = (a != b) & (a != d) & (c != b) & (c != d)
    keep &= _angle(lines[a, 0], lines[b, 0]) >= math.radians(_MIN_ADJACENT_DEG)
    a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    quads = np.stack([_meet(lines[a], lines[b]), _meet(lines[b], lines[c]),
                      _meet(lines[c], lines[d]), _meet(lines[d], lines[a])], axis=1)
    x, y = quads[..., 0], quads[..., 1]
    with np.errstate(invalid="ignore"):
        inside = ((x >= -_OUTSIDE * width) & (x <= (1 + _OUTSIDE) * width)
                  & (y >= -_OUTSIDE * height) & (y <= (1 + _OUTSIDE) * height)).all(axis=1)
    quads, x, y = quads[inside], x[inside], y[inside]
    share = 0.5 * np.abs((x * np.roll(y, -1, 1)).sum(1) - (y * np.roll(x, -1, 1)).sum(1)) / (width * height)
    side = np.roll(quads, -1, axis=1) - quads
    turn = side[..., 0] * np.roll(side, -1, 1)[..., 1] - side[..., 1] * np.roll(side, -1, 1)[..., 0]
    fine = ((turn > 0).all(axis=1) | (turn < 0).all(axis=1))
    fine &= (share >= MIN_PAGE_SHARE) & (share <= MAX_PAGE_SHARE)
    return quads[fine], share[fine]


def _support(quads: np.ndarray, edges: np.ndarray, dx: np.ndarray, dy: np.ndarray,
             samples: int = 48) -> np.ndarray:
    """(Q, 4): the share of each side's length that runs along an edge whose gradient
    crosses the side (within 37 degrees of its normal)."""
    h, w = edges.shape
    near = cv2.dilate(edges, np.ones((3, 3), np.uint8)) > 0
    start, end = quads, np.roll(quads, -1, axis=1)
    t = np.linspace(0.03, 0.97, samples)[None, None, :, None]
    points = start[:, :, None, :] + (end - start)[:, :, None, :] * t
    xs, ys = points[..., 0], points[..., 1]
    seen = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    xi = np.clip(np.round(xs).astype(int), 0, w - 1)
    yi = np.clip(np.round(ys).astype(int), 0, h - 1)
    direction = end - start
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True) + 1e-9
    gx, gy = dx[yi, xi], dy[yi, xi]
    across = np.abs(gx * -direction[..., 1:2] + gy * direction[..., 0:1]) / (np.hypot(gx, gy) + 1e-9)
    # Over the visible part of the side (a phone held close cuts a page's corners off),
    # none where too little of it is visible.
    visible = seen.sum(axis=-1)
    on: np.ndarray = (near[yi, xi] & (across > 0.8) & seen).sum(axis=-1) / np.maximum(visible, 1)
    on[visible < _MIN_VISIBLE * samples] = 0.0
    return on


def _clockwise(quad: np.ndarray) -> Quad:
    """The corners in clockwise order (on screen), from the one nearest the top left."""
    centre = quad.mean(axis=0)
    turned = quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]
    return np.roll(turned, -int(np.argmin(turned.sum(axis=1))), axis=0)


def find_pages(pixels: np.ndarray) -> list[Quad]:
    """Outlines of pages (posters, prints, screens) in a photo, most likely first (at most
    MAX_PAGES), as corners in the photo's pixels; none when no four straight edges close
    one."""
    if min(pixels.shape[:2]) < 16:
        return []
    edges, dx, dy, scale = _edges(pixels)
    lines = _lines(edges)
    if len(lines) < 4:
        return []
    h, w = edges.shape
    quads, share = _quads(lines, w, h)
    if not len(quads):
        return []
    support = _support(quads, edges, dx, dy)
    good = support.min(axis=1) >= MIN_SIDE_SUPPORT
    quads, share, support = quads[good], share[good], support[good]
    # Larger outlines first among equally supported ones: a page's inner frame, or a
    # picture printed on it, closes a quadrilateral as well as the page does.
    rank = support.mean(axis=1) + 0.3 * np.sqrt(share)
    out: list[Quad] = []
    for k in np.argsort(-rank, kind="stable"):
        quad = _clockwise(quads[k])
        if any(np.abs(quad - o).max() < _SAME_OUTLINE * max(w, h) for o in out):
            continue
        out.append(quad)
        if len(out) == MAX_PAGES:
            break
    return [(quad + 0.5) / scale - 0.5 for quad in out]


@dataclass(frozen=True, eq=False)
class PageView:
    """A page found in a photo, prepared for the content check: a grey and a colour copy of
    a crop around it (``query.image``, ``query.colour``; ``query.width`` x ``query.height``
    are the crop's size in the photo's pixels) and its corners in those pixels."""

    query: Keypoints
    corners: Quad
    offset: tuple[int, int]  # the crop's top-left corner in the photo
    # The page squared: its quad warped onto QUICK_SIDE x QUICK_SIDE, smoothed, in its 8
    # corner assignments' order (grey levels, gradients), for the quick first comparison.
    squares: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def to_photo(self) -> np.ndarray:
        """3x3 map from the crop's pixels to the photo's."""
        return np.array([[1.0, 0, self.offset[0]], [0, 1.0, self.offset[1]], [0, 0, 1.0]])


def page_view(pixels: np.ndarray, quad: Quad) -> PageView:
    h, w = pixels.shape[:2]
    x0, y0 = (max(0, int(math.floor(v)) - 2) for v in quad.min(axis=0))
    x1, y1 = (int(math.ceil(v)) + 3 for v in quad.max(axis=0))
    x1, y1 = min(w, x1), min(h, y1)
    crop = pixels[y0:y1, x0:x1]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    small, _ = resize_max_side(np.ascontiguousarray(grey), VIEW_SIDE)
    query = Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), x1 - x0, y1 - y0,
                      "page", small, colour_copy(np.ascontiguousarray(crop)))
    corners = quad - np.array([x0, y0], np.float64)
    square = rectified(np.ascontiguousarray(grey), corners, QUICK_SIDE, square=True)
    squares = []
    for mirrored in (False, True):
        for turn in range(4):
            # the square as assignment (mirrored, turn) lays it on the reference
            variant = np.rot90(square[:, ::-1] if mirrored else square, -turn)
            squares.append(_normalised(variant))
    return PageView(query, corners, (x0, y0), tuple(squares))


def _normalised(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grey levels and gradient magnitudes, smoothed, each at zero mean and unit norm."""
    levels, gradients = _smoothed(np.ascontiguousarray(grey))
    out = []
    for image in (levels, gradients):
        flat = image.astype(np.float64).ravel()
        flat = flat - flat.mean()
        out.append(flat / (np.linalg.norm(flat) + 1e-9))
    return out[0], out[1]


def rectified(pixels: np.ndarray, quad: Quad, side: int = VIEW_SIDE, *, square: bool = False
              ) -> np.ndarray:
    """The page seen square-on: its quad warped to a rectangle of its mean side lengths
    (long side ``side``), for the vector that finds its candidates; or to a square."""
    width = 0.5 * float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3]))
    height = 0.5 * float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1]))
    scale = side / max(width, height, 1.0)
    out_w, out_h = max(8, round(width * scale)), max(8, round(height * scale))
    if square:
        out_w = out_h = side
    if scale < 0.5:  # shrink first: a perspective warp alone would alias
        pixels, shrink = resize_max_side(pixels, round(2 * scale * max(pixels.shape[:2])))
        quad = (quad + 0.5) * shrink - 0.5
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    warp = cv2.getPerspectiveTransform((quad + 0.5).astype(np.float32), target)
    out: np.ndarray = cv2.warpPerspective(pixels, warp, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_REPLICATE)
    return out


def _assignments(corners: Quad, ref: Keypoints) -> list[np.ndarray]:
    """Homographies (crop pixels -> reference pixels) laying the page's corners on the
    reference's, in its 4 quarter turns and their mirrors."""
    target = np.array([[-0.5, -0.5], [ref.width - 0.5, -0.5], [ref.width - 0.5, ref.height - 0.5],
                       [-0.5, ref.height - 0.5]], np.float32)
    out = []
    for mirrored in (False, True):
        source = corners[[1, 0, 3, 2]] if mirrored else corners
        for turn in range(4):
            out.append(cv2.getPerspectiveTransform(source.astype(np.float32),
                                                   np.roll(target, -turn, axis=0)).astype(np.float64))
    return out


def _refined(view: PageView, ref: Keypoints, target: np.ndarray, guess: np.ndarray
             ) -> np.ndarray | None:
    """``guess`` (crop pixels -> reference pixels) corrected by a bounded ECC homography on
    the thumbnail's gradients ``target``; None if ECC fails or moves a corner too far."""
    assert ref.image is not None and view.query.image is not None
    th, tw = target.shape[:2]
    to_thumb = _scale_to(ref.image, ref.width, ref.height)
    from_crop = np.linalg.inv(_scale_to(view.query.image, view.query.width, view.query.height))
    laid = warp_onto(view.query.image, to_thumb @ guess @ from_crop, (tw, th))
    if laid is None:
        return None
    warped, mask = laid
    if int(mask.sum()) < _MIN_COVER * th * tw:
        return None
    warp: np.ndarray = np.eye(3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(_smoothed(warped)[1], target, warp, cv2.MOTION_HOMOGRAPHY,
                                       _ECC_CRITERIA, mask, 1)
    except cv2.error:  # did not converge
        return None
    corners = np.array([[0.0, tw, tw, 0.0], [0.0, 0.0, th, th], [1.0, 1.0, 1.0, 1.0]])
    moved = warp.astype(np.float64) @ corners
    if np.any(np.abs(moved[2]) < 1e-9):
        return None
    if np.abs(moved[:2] / moved[2] - corners[:2]).max() > _MAX_CORNER_MOVE * max(tw, th):
        return None
    refined: np.ndarray = np.linalg.inv(to_thumb) @ warp.astype(np.float64) @ to_thumb @ guess
    return refined


def page_match(view: PageView, ref: Keypoints, min_agreement: float,
               min_cells: float | None = None) -> ContentMatch | None:
    """The best way the page lies on ``ref``'s whole frame whose content agrees at least
    ``min_agreement`` (with the thumbnail as sharp as given or blurred by PAGE_BLURS,
    whichever agrees best) and, if ``min_cells`` is given, whose weakest cells (the worst
    WEAKEST_SHARE, ``keypoints.weakest_cells``) still agree that much, or None. The
    homography maps the photo's pixels to the reference's."""
    if view.query.image is None or ref.image is None or min(ref.image.shape[:2]) < 8:
        return None
    levels, gradients = _normalised(cv2.resize(ref.image, (QUICK_SIDE, QUICK_SIDE),
                                               interpolation=cv2.INTER_AREA))
    quick = [min(float(a @ levels), float(b @ gradients)) for a, b in view.squares]
    kept = [k for k in np.argsort(quick)[::-1][:QUICK_KEEP] if quick[k] >= MIN_QUICK]
    if not kept:  # most wrong candidates: nothing more to compute for them
        return None
    target = _smoothed(ref.image)[1]
    if float(target.mean()) < _MIN_GRADIENT:
        return None
    guesses = _assignments(view.corners, ref)
    best: tuple[float, np.ndarray] | None = None
    for k in kept:
        guess = guesses[k]
        score = agreement(view.query, ref, guess, levels=True)
        if score is None or score < MIN_GUESS:
            continue
        refined = _refined(view, ref, target, guess)
        if refined is not None:
            again = agreement(view.query, ref, refined, levels=True)
            if again is not None and again > score:
                score, guess = again, refined
        if best is None or score > best[0]:
            best = (score, guess)
    if best is None:
        return None
    score = max([best[0], *(agreement(view.query, ref, best[1], levels=True, ref_blur=blur) or -1.0
                            for blur in PAGE_BLURS)])
    if score < min_agreement:
        return None
    if min_cells is not None:
        cells = weakest_cells(view.query, ref, best[1], WEAKEST_SHARE)
        if cells is None or cells < min_cells:
            return None
    from_photo = best[1] @ np.linalg.inv(view.to_photo)
    return ContentMatch(score, from_photo, (0, 0, ref.width, ref.height))
