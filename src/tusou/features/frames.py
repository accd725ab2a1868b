"""Whole-frame comparison: is the query the reference picture itself, re-encoded, resized,
recoloured, turned by quarter turns, mirrored or framed by a plain border?

Keypoints verify most copies, but some pictures give them nothing to hold on to: smooth
stripes and bands (no corners at all), a chessboard or a dot grid (every corner alike), a
colour wheel. PDQ does not save those either: the DCT of a one-dimensional pattern is
almost all zeros, so most of its hash bits are noise. What is left is the picture: when the
query covers the reference's whole frame, the eight ways it can lie on it are the only
alignments to try, and ``keypoints.agreement`` judges each on the stored thumbnail, in
gradients and in grey levels (nothing else pins the alignment: a pattern shifted by half its
period has the very same gradient magnitudes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .keypoints import Keypoints, _scale_to, agreement

Box = tuple[int, int, int, int]
Area = tuple[float, float, float, float]  # x1, y1, x2, y2 in fractions of the size

# How far the query's aspect (after a quarter turn, without a border) may differ from the
# reference's, in log ratio: rounding when a copy is shrunk, or a border found a pixel off.
MAX_ASPECT_CHANGE = 0.04
# A plain border: lines from an edge whose grey levels vary by at most this (on 0..255) and
# stay within this of the first line's mean.
_BORDER_TOLERANCE = 6.0
# Borders thinner than this share of the short side are not trimmed (noise, a frame line).
_MIN_BORDER_SHARE = 0.02
# A query with fewer pixels than the reference's thumbnail (a copy shrunk to a quarter) is
# laid on it enlarged, without the detail the thumbnail has, and fine stripes then disagree
# in their gradients: the thumbnail is blurred to the query's resolution, by
# FRAME_BLUR * sqrt(m^2 - 1) thumbnail px for an enlargement m > 1 (blurs add in quadrature:
# a thumbnail pixel so blurred is about as wide as a query pixel enlarged m times). Measured
# on the same suite (2026-12-04, every query against its PDQ hits and 20 nearest vectors):
# two striped textures' quarter-size copies 0.913 / 0.949 -> 0.968 / 0.978; the best wrong
# candidates unchanged (0.882, none at 0.9); every library image against its candidates
# (same_frames.py library mode, 50,312 wrong pairs): none above 0.8755 but the texture set's
# two true duplicate pairs, as before.
FRAME_BLUR = 0.5
# A copy compressed hard (JPEG at quality 15) or shrunk keeps its picture's coarse content
# but not its fine detail, and JPEG adds block edges of its own: a whole frame that agrees
# FRAME_FINE_FLOOR or more as compared is also compared with both blurred FRAME_COARSER
# more (sigma, thumbnail px), and counts where that agrees as a frame must. Measured on the
# same suite (same_frames.py, 2026-12-05, every query and every library image against
# their PDQ hits and 20 nearest vectors, 25,538 wrong pairs): none agreed above 0.876 as
# compared (but the texture set's two true duplicate pairs), nor above 0.918 so blurred (two
# blotchy textures, 0.67 as compared); true whole copies that agreed 0.90-0.95 (a striped
# texture's JPEG 15 copy 0.903, soft textures' JPEG 15 and quarter-size copies) 0.96-0.99.
FRAME_COARSER = 2.0
FRAME_FINE_FLOOR = 0.9


@dataclass(frozen=True, eq=False)
class ContentMatch:
    """A match without keypoints: the query laid on the reference, and how well their
    content agrees there (``keypoints.agreement``). Whole frames here, parts in
    ``alignment``."""

    agreement: float
    homography: np.ndarray  # 3x3, query pixels -> reference pixels
    box: Box  # x1, y1, x2, y2: the reference area the query covers
    # The agreement counted is that of both compared coarser (FRAME_COARSER,
    # pages.PAGE_COARSER): a copy that lost its fine detail, or another picture that shares
    # the coarse content; weaker evidence than a sharp agreement.
    coarse: bool = False


def _quarter_turns(width: int, height: int, view: int) -> tuple[np.ndarray, int, int]:
    """Map from a width x height picture's pixel centres to its ``view``-th dihedral variant
    (0-3: turned clockwise by ``view`` quarter turns; 4-7: mirrored first), and that
    variant's size."""
    transform = np.eye(3)
    w, h = width, height
    if view >= 4:
        transform = np.array([[-1.0, 0, w - 1], [0, 1, 0], [0, 0, 1]]) @ transform
    for _ in range(view % 4):
        transform = np.array([[0.0, -1, h - 1], [1, 0, 0], [0, 0, 1]]) @ transform
        w, h = h, w
    return transform, w, h


def _border_run(lines: np.ndarray) -> int:
    """How many of ``lines`` (rows from one edge inwards) are plain and of one level."""
    spread = lines.std(axis=1)
    means = lines.mean(axis=1)
    plain = (spread <= _BORDER_TOLERANCE) & (np.abs(means - means[0]) <= _BORDER_TOLERANCE)
    return int(np.argmin(plain)) if not plain.all() else len(lines)


def content_box(image: np.ndarray) -> Area | None:
    """The part of grey ``image`` inside a plain border, as fractions (x1, y1, x2, y2) of
    its size; None when there is no border worth trimming (or nothing but border)."""
    grey = image.astype(np.float32)
    h, w = grey.shape[:2]
    top, bottom = _border_run(grey), _border_run(grey[::-1])
    left, right = _border_run(grey.T), _border_run(grey.T[::-1])
    if max(top, bottom, left, right) < _MIN_BORDER_SHARE * min(h, w):
        return None
    if top + bottom >= 0.8 * h or left + right >= 0.8 * w:
        return None
    return left / w, top / h, (w - right) / w, (h - bottom) / h


def query_areas(query: Keypoints) -> list[Area]:
    """The parts of the query that may be a whole picture, as fractions (x1, y1, x2, y2):
    all of it, and its content inside a plain border if it has one. Found once per query."""
    if query.image is None:
        return []
    inner = content_box(query.image)
    return [(0.0, 0.0, 1.0, 1.0)] + ([inner] if inner is not None else [])


def _frames(query: Keypoints, ref: Keypoints, areas: Sequence[Area]) -> list[np.ndarray]:
    """Homographies (query pixels -> reference pixels) that lay each of the query's
    ``areas`` onto the reference's whole frame, in every dihedral position that fits."""
    out = []
    for x1, y1, x2, y2 in areas:
        left, top = x1 * query.width, y1 * query.height
        width, height = (x2 - x1) * query.width, (y2 - y1) * query.height
        shift = np.array([[1.0, 0, -left], [0, 1, -top], [0, 0, 1]])
        for view in range(8):
            turn, w, h = _quarter_turns(round(width), round(height), view)
            if abs(np.log((w / h) / (ref.width / ref.height))) > MAX_ASPECT_CHANGE:
                continue
            sx, sy = ref.width / w, ref.height / h
            scale = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
            out.append(scale @ turn @ shift)
    return out


def _enlargement(ref: Keypoints, homography: np.ndarray) -> float:
    """How many of ``ref``'s thumbnail pixels one of the query's pixels covers, across
    (``homography``: query pixels -> reference pixels; whole frames are not in perspective)."""
    assert ref.image is not None
    linear = (_scale_to(ref.image, ref.width, ref.height) @ homography)[:2, :2]
    return math.sqrt(abs(float(np.linalg.det(linear))))


def frame_agreement(query: Keypoints, ref: Keypoints, homography: np.ndarray,
                    coarser: float = 0.0) -> float | None:
    """How well ``query`` laid on ``ref``'s whole frame by ``homography`` agrees, as the
    whole-frame look compares them: in gradients and grey levels, the thumbnail blurred to
    the query's resolution (FRAME_BLUR), and both ``coarser`` more."""
    enlarged = _enlargement(ref, homography)
    blur = FRAME_BLUR * math.sqrt(enlarged * enlarged - 1.0) if enlarged > 1.0 else 0.0
    return agreement(query, ref, homography, levels=True, ref_blur=blur, coarser=coarser)


def frame_match(query: Keypoints, ref: Keypoints, min_agreement: float,
                areas: Sequence[Area] | None = None) -> ContentMatch | None:
    """The best whole-frame alignment of ``query`` on ``ref`` (both with their grey images)
    whose content agrees at least ``min_agreement`` as compared or, from FRAME_FINE_FLOOR
    up, at the coarser scale, or None. ``areas``: query_areas(query), when one query meets
    many references."""
    if query.image is None or ref.image is None:
        return None
    best: ContentMatch | None = None
    for homography in _frames(query, ref, query_areas(query) if areas is None else areas):
        score = frame_agreement(query, ref, homography)
        coarse = score is not None and FRAME_FINE_FLOOR <= score < min_agreement
        if coarse:
            score = frame_agreement(query, ref, homography, FRAME_COARSER)
        if score is not None and score >= min_agreement and (best is None or score > best.agreement):
            best = ContentMatch(score, homography, (0, 0, ref.width, ref.height), coarse)
    return best
