"""Keypoint-free alignment: does the query line up with a part of a stored thumbnail?

Keypoint matching needs corners. Smooth illustrations, silhouettes, soft textures and
colour gradients have few, so a crop or a slightly tilted copy of one can fail to verify
although it is plainly a part of the same picture (whole copies are ``frames``' job). Here
the query is aligned with the reference's stored grey thumbnail instead: one of its 8 quarter
turns and mirrors, at one of a few scales, slid over the thumbnail (template matching of
gradient images at a coarse size), then corrected by ECC (Evangelidis & Psarakis) at the
thumbnail's size, and judged by ``keypoints.agreement`` in gradients and grey levels.

The alignment space is kept small on purpose. With a free affine warp, any two stripe
patterns line up: ECC may only correct the coarse guess a little (scale, shear, rotation
and shift bounds below), so a different picture cannot be bent onto the thumbnail. Periodic
references (a chessboard, stripes, a dot grid) line up with any pattern of their period;
the engine answers those only where the query also has their colours
(``keypoints.periodicity``, ``keypoints.colour_agreement``; a grey one only where no other
picture judged lines up too). On them the gradients can also lay the query half a period
off, where its grey levels are the reference's negative: their placements are also tried put
in phase by grey levels (``keypoints.in_phase``); and their coarse placements all but tie, so
more of them are judged (PERIODIC_HYPOTHESES), as on any reference where the best coarse
placements tie (a crop of a page's plaid illustration: ``_tied``).

A placement that does not count as it is can be refined (``DenseProbe.refine``) by the ECC
homographies that refine a keypoint fit from few inliers (``refined``): the affine
alignment lays a part seen in perspective only roughly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .frames import ContentMatch, _quarter_turns, query_areas
from .keypoints import PERIODIC, Keypoints, _scale_to, _smoothed, agreement, in_phase, periodicity, warp_onto
from .pixels import resize_max_side

# Template matching runs with the thumbnail's long side at this size (and the query at
# twice it, so that its scaled templates are made by shrinking).
COARSE_SIDE = 64
# The query's size relative to the reference, fitted inside it: crops are smaller than
# their original, a copy with a border or a grown canvas is larger.
SCALES = (0.5, 0.56, 0.63, 0.71, 0.8, 0.9, 1.0, 1.12, 1.25)
# The best coarse placements that are refined and judged, if their coarse correlation
# reaches MIN_COARSE: every true alignment the calibration accepted started at 0.82 or more,
# and 69 % of all candidates stay below 0.6, so most wrong ones cost no ECC step at all.
# Four, not two (2026-12-06): on flat shapes the turned and mirrored views slide about as
# well as the true one (a generated page's 40 % photo, `same` seed 1: the true placement
# third at 0.894, behind two turned ones at 0.919 and 0.900; refined, 0.995). Two more cost
# an unanswered `same` query about 4 % (beside an evaluation).
TOP_HYPOTHESES = 4
MIN_COARSE = 0.6
# ... and on a reference that repeats a pattern, this many: its coarse placements all but
# tie (every period's shift slides alike, a symmetric pattern's mirror image too, and fine
# stripes alias at the coarse size), so the true one can rank far down. Crops of the
# suite's striped textures and chessboard had it 3rd-12th.
PERIODIC_HYPOTHESES = 12
# ... and as many (up to that) wherever the best coarse placements tie as closely (within
# TIED of the best, from TIED_FLOOR up) on a reference that is not periodic as a whole: a
# page whose illustration repeats a noisy plaid had its crop's true placement 12th of 12
# within 0.016 of the best.
TIED = 0.02
TIED_FLOOR = 0.9
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
# The query's middle, this share of each side off every edge, is aligned as well: a page
# photographed close runs out of the frame on one side or two, where the whole frame, table
# and all, is larger than the page on one axis only and slides nowhere; its middle is the
# page's alone (80 % photos: `same` seed 13's horse silhouette, `picturebook` seed 15's
# colour wheel, 2026-12-07).
MIDDLE = 0.15
# ... and only laid where it covers this share of the reference at least: the middle of a
# page that fills the frame is a large part of it, while a small one is where a few broad
# stripes line up with another picture's (benchmarks/studies/dense/middle_view.py). Never on
# a reference that repeats a pattern: free of the frame's edges, the middle of one pattern
# lines up with another of a different period at some scale. (Which of its placements count:
# engine.matching.MIDDLE_WHOLE.)
MIDDLE_COVER = 0.35
# refined(): a keypoint fit from few inliers is refined by an ECC homography on the
# thumbnail, which may move the corners of the query's footprint this share of the
# thumbnail's long side at most. The true fits refined in the calibration (matching's
# KindSpec.refined_min_inliers) moved up to 0.14.
_MAX_REFINE_MOVE = 0.15
_REFINE_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4)
# A second pass, from the query warped anew, converges where one stops short: a quarter of
# a generated page laid 1 % and 1 degree off agreed 0.49, 0.95 after one pass, 0.97 after two.
_REFINE_PASSES = 2
# ... but only from a placement that agrees this much already (gradients and grey levels):
# a wrong one seldom does, and every true one the calibration refined agreed 0.94+ after
# one pass. (ECC is most of a refining's 20-40 ms.)
_REFINE_ON_FROM = 0.8
# Footprints smaller than this many thumbnail pixels are not refined.
_MIN_REFINE_FOOTPRINT = 200
# A reference that varies in one direction only (stripes, a ramp: the coherence of its
# gradients' structure tensor at least ONE_DIRECTIONAL; the suite's striped textures
# 0.96-1.0, a blotchy one 0.18) gives ECC nothing to hold along its stripes, and the warp
# drifts there without bound (a photographed page of horizontal stripes, laid by its
# corners 0.909: x scaled by -151, so every bound refused it). There the step moves across
# the stripes only (``_across``), solved by Gauss-Newton on the correlation ECC maximises:
# tilted and shifted, and rescaled (in perspective) only where a page's outline pins the
# scale (0.909 -> 0.967 there). A part's scale nothing pins: rescaled, a part of stripes
# lines up with stripes of the same profile at another period (a whole picture of bands 44
# px apart as a part of bands 37 px apart, 0.83).
ONE_DIRECTIONAL = 0.9
_ACROSS_ITERATIONS = 40
_ACROSS_EPS = 1e-3  # px: the step's largest change over the footprint, to stop


def _gradient(grey: np.ndarray) -> np.ndarray:
    return _smoothed(grey)[1]


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
        self._middle = -1  # which of them is the middle view
        if query.image is None or min(query.image.shape[:2]) < 8:
            return
        work, _ = resize_max_side(query.image, 4 * COARSE_SIDE)
        from_query = _scale_to(work, query.width, query.height)
        views: list[_View] = []
        # The whole query, its content inside a plain border if it has one, and its middle.
        areas = [(area, False) for area in query_areas(query)]
        if MIDDLE:
            areas.append(((MIDDLE, MIDDLE, 1.0 - MIDDLE, 1.0 - MIDDLE), True))
        for (x1, y1, x2, y2), is_middle in areas:
            h, w = work.shape[:2]
            left, top = round(x1 * w), round(y1 * h)
            right, bottom = round(x2 * w), round(y2 * h)
            if right - left < 8 or bottom - top < 8:
                continue
            if is_middle:
                self._middle = len(views)
            shift = np.array([[1.0, 0.0, -left], [0.0, 1.0, -top], [0.0, 0.0, 1.0]])
            views.append(_View(np.ascontiguousarray(work[top:bottom, left:right]),
                               shift @ from_query))
        for view in views:
            coarse, _ = resize_max_side(view.image, 2 * COARSE_SIDE)
            to_coarse = _scale_to(coarse, view.image.shape[1], view.image.shape[0])
            self._views.append((view, _View(coarse, to_coarse @ view.from_query)))
        self._templates: dict[tuple[int, int, int, int], np.ndarray] = {}

    def _template(self, n: int, turned: int, size: tuple[int, int]) -> np.ndarray:
        """The ``n``-th view's coarse image in its ``turned``-th dihedral position
        (frames._quarter_turns), resized to ``size``, as gradients."""
        key = (n, turned) + size
        cached = self._templates.get(key)
        if cached is None:
            coarse = self._views[n][1].image
            mirrored = coarse[:, ::-1] if turned >= 4 else coarse
            view = np.ascontiguousarray(np.rot90(mirrored, -(turned % 4)))  # clockwise
            cached = _gradient(cv2.resize(view, size, interpolation=cv2.INTER_AREA))
            self._templates[key] = cached
        return cached

    def _placements(self, thumb: np.ndarray, only: int | None = None) -> list[tuple[float, int, np.ndarray]]:
        """Coarse placements, best first: (correlation, view, map query px -> thumb px), of
        the view ``only`` or of every view but the middle one."""
        small, target = _coarse_target(thumb)
        up = np.linalg.inv(_scale_to(small, thumb.shape[1], thumb.shape[0]))
        out: list[tuple[float, int, np.ndarray]] = []
        for n, (_, coarse) in enumerate(self._views):
            if (n != only) if only is not None else (n == self._middle):
                continue
            # (a photo is never mirrored: its middle is laid in its four quarter turns only)
            for turned in range(4 if n == self._middle else 8):
                turn, slid = self._slid(n, turned, target, inside_only=False)
                out += [(value, n, up @ place @ turn @ coarse.from_query) for value, place in slid]
        out.sort(key=lambda p: -p[0])
        return out

    def upright(self, thumb: np.ndarray) -> float:
        """The best coarse correlation of the whole query, neither turned nor mirrored and
        no larger than the thumbnail, with it: a cheap first ranking of many candidates for
        a crop (9 of the up to 144 template matches ``match`` makes); -1 if none fits."""
        if not self._views or min(thumb.shape[:2]) < 8:
            return -1.0
        _, target = _coarse_target(thumb)
        return max((value for value, _ in self._slid(0, 0, target, inside_only=True)[1]), default=-1.0)

    def _slid(self, n: int, turned: int, target: np.ndarray, *, inside_only: bool
              ) -> tuple[np.ndarray, list[tuple[float, np.ndarray]]]:
        """The ``n``-th view in its ``turned``-th position slid over the coarse gradients
        ``target`` at each of SCALES: the turn (coarse view px -> turned px) and, per scale,
        (correlation, map turned px -> coarse thumb px)."""
        th, tw = target.shape[:2]
        coarse = self._views[n][1]
        ch, cw = coarse.image.shape[:2]
        turn, vw, vh = _quarter_turns(cw, ch, turned)
        fit = min(tw / vw, th / vh)
        out = []
        for scale in SCALES:
            size = (max(6, round(vw * fit * scale)), max(6, round(vh * fit * scale)))
            inside = size[0] <= tw and size[1] <= th
            if not inside and (inside_only or not (size[0] >= tw and size[1] >= th)):
                continue  # sticks out on one side only: no placement to slide
            if n == self._middle and size[0] * size[1] < MIDDLE_COVER * tw * th:
                continue  # a part too small (quarter turns: its outline's box is this size)
            template = self._template(n, turned, size)
            if inside:
                result = cv2.matchTemplate(target, template, cv2.TM_CCOEFF_NORMED)
                _, value, _, (tx, ty) = cv2.minMaxLoc(result)
            else:
                result = cv2.matchTemplate(template, target, cv2.TM_CCOEFF_NORMED)
                _, value, _, (x, y) = cv2.minMaxLoc(result)
                tx, ty = -x, -y
            sx, sy = size[0] / vw, size[1] / vh
            place = np.array([[sx, 0.0, 0.5 * sx - 0.5 + tx],
                              [0.0, sy, 0.5 * sy - 0.5 + ty], [0.0, 0.0, 1.0]])
            out.append((float(value), place))
        return turn, out

    def _aligned(self, view: _View, target: np.ndarray, guess: np.ndarray,
                 normal: np.ndarray | None) -> list[np.ndarray]:
        """``guess`` (query px -> thumb px) corrected by a bounded ECC affine step on the
        thumbnail's gradients ``target`` (across its stripes only where it has the stripes'
        ``normal``), and the guess itself (periodic content can pull ECC away from a right
        guess); nothing if the guess covers too little of the thumbnail or too flat a part
        of it."""
        th, tw = target.shape[:2]
        laid = warp_onto(view.image, guess @ np.linalg.inv(view.from_query), (tw, th))
        if laid is None:
            return []
        warped, mask = laid
        if int(mask.sum()) < _MIN_COVER * th * tw:
            return []
        if float(target[mask > 0].mean()) < _MIN_GRADIENT:
            return []
        step = _step(_gradient(warped), target, mask, normal, cv2.MOTION_AFFINE, _ECC_CRITERIA,
                     pinned=False)
        if step is None:
            return [guess]
        warp = step[:2].astype(np.float32)
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

    def match(self, ref: Keypoints) -> ContentMatch | None:
        """The best alignment of the query with ``ref``'s thumbnail, or None if nothing
        lines up (or either side has no image)."""
        found = self.matches(ref)
        return found[0] if found else None

    def matches(self, ref: Keypoints, *, middle: bool = False) -> list[ContentMatch]:
        """Every alignment of the query with ``ref``'s thumbnail judged, best first (the
        best coarse placements, each as ECC corrected it and as it was); none if nothing
        lines up (or either side has no image). With ``middle``, the query's middle's
        (MIDDLE) instead of the whole query's: asked apart, where the whole query has no
        placement at all, so that its placements never crowd out the whole query's."""
        thumb = ref.image
        if not self._views or thumb is None or min(thumb.shape[:2]) < 8:
            return []
        if middle and (self._middle < 0 or periodicity(thumb) >= PERIODIC):
            return []
        from_thumb = np.linalg.inv(_scale_to(thumb, ref.width, ref.height))
        found: list[ContentMatch] = []
        target: np.ndarray | None = None  # the thumbnail's gradients, once per reference
        placements = self._placements(thumb, self._middle if middle else None)
        if not placements or placements[0][0] < MIN_COARSE:
            return []
        periodic = not middle and periodicity(thumb) >= PERIODIC
        normal = stripes_normal(thumb)
        for value, n, guess in placements[:PERIODIC_HYPOTHESES if periodic else _tied(placements)]:
            if value < MIN_COARSE:
                break
            view = self._views[n][0]
            if target is None:
                target = _gradient(thumb)
            for placed in self._aligned(view, target, guess, normal):
                homographies = [from_thumb @ placed]
                if periodic:
                    phased = in_phase(self.query, ref, homographies[0])
                    if phased is not homographies[0]:  # already in phase: judged once
                        homographies.append(phased)
                for homography in homographies:
                    score = agreement(self.query, ref, homography, levels=True)
                    if score is not None:
                        found.append(ContentMatch(score, homography,
                                                  _outline(homography, view, self.query, ref)))
        found.sort(key=lambda m: -m.agreement)
        return found

    def frame_cover(self, homography: np.ndarray, ref: Keypoints) -> float:
        """The share of ``ref`` the whole query covers, laid by ``homography`` (query
        pixels -> reference pixels): the area the two share, not the laid query's box (a
        tilted frame's box takes in the corners it leaves out)."""
        w, h = self.query.width, self.query.height
        corners = np.array([[-0.5, -0.5, 1.0], [w - 0.5, -0.5, 1.0], [w - 0.5, h - 0.5, 1.0],
                            [-0.5, h - 0.5, 1.0]])
        points = (homography @ corners.T).T
        if (points[:, 2] <= 1e-9).any():  # a corner behind the camera: not a page's frame
            return 1.0
        laid = (points[:, :2] / points[:, 2:3]).astype(np.float32)
        page = np.array([[-0.5, -0.5], [ref.width - 0.5, -0.5], [ref.width - 0.5, ref.height - 0.5],
                         [-0.5, ref.height - 0.5]], np.float32)
        shared, _ = cv2.intersectConvexConvex(laid, page)
        return float(shared) / float(ref.width * ref.height)

    def refine(self, match: ContentMatch, ref: Keypoints, *, levels: bool = False
               ) -> ContentMatch | None:
        """``match`` (of this query on ``ref``) refined by ECC homographies (``refined``,
        on grey levels with ``levels``), judged anew; None where refining fails. The affine
        alignment lays a part seen in perspective (a photo of part of a page) only roughly:
        the horse silhouette's 40 % page photo agreed 0.77 laid so, and 0.995 refined."""
        better = refined(self.query, ref, match.homography, levels=levels)
        if better is None:
            return None
        homography, score = better
        return ContentMatch(score, homography,
                            _moved(match.box, homography @ np.linalg.inv(match.homography), ref))


def _tied(placements: list[tuple[float, int, np.ndarray]]) -> int:
    """How many of ``placements`` (best first) to judge on a reference that does not repeat
    a pattern: TOP_HYPOTHESES, or all that tie with the best (TIED, TIED_FLOOR), up to
    PERIODIC_HYPOTHESES."""
    bar = max(placements[0][0] - TIED, TIED_FLOOR)
    tied = sum(1 for value, _, _ in placements[:PERIODIC_HYPOTHESES] if value >= bar)
    return max(TOP_HYPOTHESES, tied)


def _moved(box: tuple[int, int, int, int], warp: np.ndarray, ref: Keypoints
           ) -> tuple[int, int, int, int]:
    """``box`` (reference pixels) moved by ``warp``, and clipped to the reference."""
    x1, y1, x2, y2 = box
    corners = warp @ np.array([[x1, x2, x2, x1], [y1, y1, y2, y2], [1.0, 1.0, 1.0, 1.0]])
    xy = corners[:2] / corners[2]
    left, top = np.clip(xy.min(axis=1), 0, [ref.width, ref.height])
    right, bottom = np.clip(xy.max(axis=1), 0, [ref.width, ref.height])
    return int(np.floor(left)), int(np.floor(top)), int(np.ceil(right)), int(np.ceil(bottom))


def _coarse_target(thumb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The thumbnail at COARSE_SIDE and its gradients, what coarse placements slide over."""
    small, _ = resize_max_side(thumb, COARSE_SIDE)
    return small, _gradient(small)


def box_cover(box: tuple[int, int, int, int], ref: Keypoints) -> float:
    """The share of ``ref``'s area that ``box`` (x1, y1, x2, y2 in its pixels) covers."""
    x1, y1, x2, y2 = box
    return max(0, x2 - x1) * max(0, y2 - y1) / max(ref.width * ref.height, 1)


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


def ecc_step(query: Keypoints, ref: Keypoints, homography: np.ndarray,
             criteria: tuple[int, int, float], min_footprint: float, *, pinned: bool = False,
             levels: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One ECC step (Evangelidis & Psarakis) from ``homography`` (query pixels -> reference
    pixels): the query laid on the reference thumbnail by it, and the ECC homography under
    which the thumbnail's gradients (or, with ``levels``, its smoothed grey levels) match
    the laid query's over its footprint.
    Returns the corrected homography, that thumbnail-to-thumbnail step (to bound how far
    it moved) and the footprint; None when the footprint has fewer than ``min_footprint``
    pixels or ECC does not converge."""
    assert query.image is not None and ref.image is not None
    target = _smoothed(ref.image)[0] if levels else _gradient(ref.image)
    th, tw = target.shape[:2]
    to_thumb = _scale_to(ref.image, ref.width, ref.height)
    from_query = np.linalg.inv(_scale_to(query.image, query.width, query.height))
    laid = warp_onto(query.image, to_thumb @ homography @ from_query, (tw, th))
    if laid is None:
        return None
    warped, mask = laid
    if int(mask.sum()) < min_footprint:
        return None
    template = _smoothed(warped)[0] if levels else _gradient(warped)
    step = _step(template, target, mask, stripes_normal(ref.image), cv2.MOTION_HOMOGRAPHY,
                 criteria, pinned=pinned)
    if step is None:
        return None
    return np.linalg.inv(to_thumb) @ step @ to_thumb @ homography, step, mask


def _step(template: np.ndarray, target: np.ndarray, mask: np.ndarray, normal: np.ndarray | None,
          motion: int, criteria: tuple[int, int, float], *, pinned: bool) -> np.ndarray | None:
    """The 3x3 step (thumbnail px -> thumbnail px) under which ``target`` matches
    ``template`` over ``mask``: ECC's, with ``motion`` (affine or homography), or on a
    reference with stripes (their ``normal``) the step across them (``_across``); None
    where it does not converge."""
    if normal is not None:
        return _across(template, target, mask, normal, pinned=pinned)
    warp: np.ndarray = np.eye(3 if motion == cv2.MOTION_HOMOGRAPHY else 2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(template, target, warp, motion, criteria, mask, 1)
    except cv2.error:  # did not converge
        return None
    if warp.shape[0] == 2:  # affine
        warp = np.vstack([warp, [0.0, 0.0, 1.0]])
    return warp.astype(np.float64)


def stripes_normal(grey: np.ndarray) -> np.ndarray | None:
    """The unit normal (x, y) of ``grey``'s stripes where it varies in one direction only
    (ONE_DIRECTIONAL), else None."""
    smooth = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), 1.0)
    dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0).astype(np.float64)
    dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1).astype(np.float64)
    xx, yy, xy = float(np.sum(dx * dx)), float(np.sum(dy * dy)), float(np.sum(dx * dy))
    if xx + yy <= 1e-9 or math.hypot(xx - yy, 2 * xy) / (xx + yy) < ONE_DIRECTIONAL:
        return None
    angle = 0.5 * math.atan2(2 * xy, xx - yy)
    return np.array([math.cos(angle), math.sin(angle)])


def _across(template: np.ndarray, target: np.ndarray, mask: np.ndarray, normal: np.ndarray, *,
            pinned: bool) -> np.ndarray | None:
    """The 3x3 step W (thumbnail px -> thumbnail px) that moves points across the stripes
    (unit ``normal``) only, under which ``target`` at W(x) matches ``template`` at x best
    over ``mask`` (zero-mean normalised correlation, Gauss-Newton); None if it folds the
    stripes over. In the stripes' frame (u along, v across, centred on the footprint and
    scaled to its size) v' = a u + v + c: tilted and shifted, not rescaled, since a part of
    stripes whose scale nothing pins lines up, rescaled, with stripes of another period.
    Where the scale is ``pinned`` (a page's outline laid on the reference's corners),
    v' = (a u + b v + c) / (d u + e v + 1), the perspective a homography puts across
    stripes; u' = u / (d u + e v + 1), which matters to nothing, keeps W a homography."""
    ys, xs = np.nonzero(mask)
    cx, cy = float(xs.mean()), float(ys.mean())
    along = np.array([-normal[1], normal[0]])
    u = (xs - cx) * along[0] + (ys - cy) * along[1]
    v = (xs - cx) * normal[0] + (ys - cy) * normal[1]
    size = max(float(np.abs(u).max()), float(np.abs(v).max()), 1.0)
    u, v = u / size, v / size
    # NumPy's own sums throughout, not BLAS products (whose order of addition depends on
    # threads and memory): scores must be the same run after run (``keypoints._ncc``).
    wanted = template[ys, xs].astype(np.float64)
    wanted -= wanted.mean()
    wanted /= np.sqrt(np.sum(wanted * wanted)) + 1e-12
    # d target / d v in normalised units
    slope = ((cv2.Sobel(target, cv2.CV_32F, 1, 0) * normal[0]
              + cv2.Sobel(target, cv2.CV_32F, 0, 1) * normal[1]) * (size / 8.0)).astype(np.float32)
    params = np.array([0.0, 1.0, 0.0, 0.0, 0.0])  # a, b, c, d, e
    free = [0, 1, 2, 3, 4] if pinned else [0, 2]
    for _ in range(_ACROSS_ITERATIONS):
        w = 1.0 + params[3] * u + params[4] * v
        if float(w.min()) <= 0.1:
            return None
        moved = (params[0] * u + params[1] * v + params[2]) / w
        spread = u / w
        map_x = (cx + size * (spread * along[0] + moved * normal[0])).astype(np.float32).reshape(1, -1)
        map_y = (cy + size * (spread * along[1] + moved * normal[1])).astype(np.float32).reshape(1, -1)
        seen = cv2.remap(target, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT).ravel().astype(np.float64)
        rate = cv2.remap(slope, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT).ravel().astype(np.float64)
        seen -= seen.mean()
        norm = float(np.sqrt(np.sum(seen * seen))) + 1e-12
        residual = wanted - seen / norm
        columns = [u / w, v / w, 1.0 / w, -u * moved / w, -v * moved / w]
        jacobian = np.stack([rate * columns[k] for k in free], axis=1) / norm
        jacobian -= jacobian.mean(axis=0)
        normal_matrix = np.sum(jacobian[:, :, None] * jacobian[:, None, :], axis=0)
        try:
            delta = np.linalg.solve(normal_matrix, np.sum(jacobian * residual[:, None], axis=0))
        except np.linalg.LinAlgError:  # nothing across the stripes to move by
            return None
        params[free] += delta
        if not np.all(np.isfinite(params)) or params[1] <= 0:
            return None
        if float(np.abs(delta).sum()) * size < _ACROSS_EPS:
            break
    a, b, c, d, e = params
    centred = np.array([[1.0 / size, 0.0, -cx / size], [0.0, 1.0 / size, -cy / size], [0.0, 0.0, 1.0]])
    frame = np.array([[along[0], along[1], 0.0], [normal[0], normal[1], 0.0], [0.0, 0.0, 1.0]])
    step = np.array([[1.0, 0.0, 0.0], [a, b, c], [d, e, 1.0]])
    out: np.ndarray = np.linalg.inv(frame @ centred) @ step @ frame @ centred
    return out / out[2, 2]


def corner_move(warp: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """How far (thumbnail pixels) ``warp`` moves the farthest corner of ``box``
    (x1, y1, x2, y2); infinite where it sends one to infinity."""
    x1, y1, x2, y2 = box
    corners = np.array([[x1, x2, x2, x1], [y1, y1, y2, y2], [1.0, 1.0, 1.0, 1.0]])
    moved = warp @ corners
    if np.any(np.abs(moved[2]) < 1e-9):
        return math.inf
    return float(np.abs(moved[:2] / moved[2] - corners[:2]).max())


def refined(query: Keypoints, ref: Keypoints, homography: np.ndarray, *, levels: bool = False
            ) -> tuple[np.ndarray, float] | None:
    """``homography`` (query pixels -> reference pixels) corrected by ECC homographies on
    the reference thumbnail's gradients (or, with ``levels``, its smoothed grey levels),
    over the query's footprint on it
    (_REFINE_PASSES, each from the query warped anew by the last), and the placement's
    agreement there (``agreement(levels=True)``, judged after each pass); None without both
    images, when the footprint is too small, when a pass leaves the placement agreeing
    under _REFINE_ON_FROM, or when ECC fails or moves a corner of the footprint more than
    _MAX_REFINE_MOVE of the thumbnail in all.

    A homography fitted to a few keypoints (a smooth picture has few corners) is right
    only near them: the colour wheel turned 8 degrees, laid by 7 inliers, agreed 0.71
    with its original, and 0.998 once refined. ECC pulls a wrong placement onto whatever
    lines up too, so a refined placement is judged in every part
    (``keypoints.weakest_cells``), not as a whole only."""
    if query.image is None or ref.image is None or min(ref.image.shape[:2]) < 8:
        return None
    th, tw = ref.image.shape[:2]
    fitted = homography
    footprint: tuple[float, float, float, float] | None = None
    score = 0.0
    for _ in range(_REFINE_PASSES):
        step = ecc_step(query, ref, fitted, _REFINE_CRITERIA, _MIN_REFINE_FOOTPRINT, levels=levels)
        if step is None:
            return None
        fitted, _, mask = step
        if footprint is None:
            ys, xs = np.nonzero(mask)
            footprint = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        score = agreement(query, ref, fitted, levels=True) or 0.0
        if score < _REFINE_ON_FROM:
            return None
    assert footprint is not None
    to_thumb = _scale_to(ref.image, ref.width, ref.height)
    moved = to_thumb @ fitted @ np.linalg.inv(homography) @ np.linalg.inv(to_thumb)
    if corner_move(moved, footprint) > _MAX_REFINE_MOVE * max(tw, th):
        return None
    return fitted, score
