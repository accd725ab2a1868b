"""Outlines of repeated patterns: a page's period along its sides, its outline grown by
whole periods while the pattern goes on, and a striped page's outline stepped to the
stripe boundaries next to its sides.

A printed checkerboard, a tiling or stripes fill the page with lines as straight and as
strong as its sides, so the outline found (``pages.find_pages``) can be a row or two of
squares short of the page, or be one row of it: the board's edge, alternately light and
dark against the table, is often not among the strongest lines. Seen square-on, such an
outline's content repeats along its sides; each side is stepped out by one period while
the strip beyond it repeats the strip inside it, and stops where the pattern stops (the
table, a frame, the margin) or leaves the photo.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .keypoints import _ncc, _smoothed
from .quads import page_size

# An axis of the page square-on is periodic when its gradients' autocorrelation along it
# (shifts of _SHORTEST_PERIOD px up to half its length) peaks at least this high (0..1);
# the period is the shortest shift peaking within _FUNDAMENTAL of the highest (a
# checkerboard repeats at one, two, three squares...), after falling under _DIP on the
# way (along stripes the autocorrelation stays near 1 at every shift: no period).
# 0.75, not 0.8 (2026-12-08): an outline three squares of a board wide, laid square-on
# from a photo's perspective, peaked 0.78 across them (the `same` suite's chessboard
# photographed at 55 %, seed 18), so it grew only along the board and stayed a strip;
# the outlines found for the suites' other photos did not change (`same` seeds 0-3, 936
# photos; picturebook seeds 0-1, 558). More striped outlines are stepped so (``stepped``):
# 38 -> 53 stepped outlines over `same`'s 468 photos at seeds 0 and 18, in 6 photos.
MIN_PERIODIC = 0.75
_SHORTEST_PERIOD = 4
_FUNDAMENTAL = 0.9
_DIP = 0.5
# A period under this share of the outline along its axis is not stepped by: the page
# look's refining moves corners that far (pages._MAX_CORNER_MOVE), while a step of a fine
# pattern's period from an outline already right to a pixel or two can take in that much
# of the table and still look like the pattern (smooth bands of 6 px gradient period did).
_MIN_STEP = 0.06
# A strip one period beyond a side continues the pattern when, against the period inside
# the side, its gradients and its grey levels (or their negative: a checkerboard's next
# square is the other colour) both correlate at least MIN_CONTINUED, and its gradients are
# at least _MIN_STRENGTH as strong (or the other way round), over at least _MIN_SEEN of it
# in the photo (the board's last row can run out of a close photo's frame); at most
# _MOST_STEPS periods a side. Both strips reach _OVERLAP of a period into the next one in:
# a strip that is one stripe alone is flat inside, and only its sides say what it is.
# On gradients alone, a strip of table lined up with a board's outline by the board's edge
# correlated 0.70; its grey levels 0.14. Measured on every growth step of the checkerboard
# photographed at 30, 55 and 80 % (seeds 0-11) and the same suite's photos of its
# chessboard and banded textures (seeds 0-4), 2026-12-06: 690 strips on the page, 465 off
# it; the strips on it passing both correlations had gradient strengths 0.89 apart or
# closer (1st percentile); a table strip past a stripe's edge, 0.62 (``test_periods``).
# The off-page strips that pass are tables of like tiles, around outlines on the table.
# The outcome (benchmarks/studies/periodic_outlines.py, 2026-12-06): the checkerboard's 36
# photos gained a right outline in 16 (a right first one in 21), the same suite's 468 phone
# photos at seeds 0 and 4 in 7, picturebook's 558 in 3; none lost one.
MIN_CONTINUED = 0.7
_MIN_STRENGTH = 0.75
_MIN_SEEN = 0.3
_MOST_STEPS = 8
_OVERLAP = 0.25
# Pixels this close to the photo's edge (or beyond) are not seen: the warp smears them.
_EDGE = 2
# A striped page's outline often runs along a stripe boundary instead of the page's edge:
# its outermost stripe on a table of like colour leaves the weaker edge, and its side
# snaps to the next boundary in (or, extrapolated past the frame, a stripe out). Whole
# periods do not mend that (grown), and the page look's refinement moves a corner at most
# 6 %: a page one stripe of fourteen short is out of phase with its thumbnail everywhere.
# So each side along the stripes may also step to the nearest boundary in or out (a peak
# of the gradients across the stripes, at least _MIN_BOUNDARY of their 95th percentile
# inside the outline, within _MOST_STEP of the outline's size and beyond _LEAST_STEP of
# it), every combination of the two sides' positions an outline to try. Measured (same
# suite, seed 14, 2026-12-07): banded_0090's 55 % photo, its top black stripe on a dark
# table (that edge 0.25 of the boundaries'), laid on its thumbnail agreed 0.998 stepped a
# boundary out at the top and one in at the bottom; banded_0064's 80 % photo, its last
# brown stripe on brown wood (0.28), 0.997 stepped out on the right; neither lies anywhere
# as outlined.
_MIN_BOUNDARY = 0.15
_MOST_STEP = 0.12
_LEAST_STEP = 0.015
# A side steps in only over a strip that is not the page: one that the page's grey levels
# one period in (their own period: equal black and white bands' gradients repeat every
# band) match within _SAME_BAND of their deviation, mean absolute difference, is the
# pattern going on, and stepping in over it would leave a part of the page, which another
# pattern can fill (black and white bands of period 44 lay 0.998 on 7 periods of period-40
# ones). Where under _MIN_SEEN of it shows, the photo cannot say, and the step is tried.
_SAME_BAND = 0.35


def _autocorrelation(grad: np.ndarray, seen: np.ndarray, axis: int) -> np.ndarray:
    """The autocorrelation of ``grad`` along ``axis`` over its ``seen`` pixels, per shift
    (0 up to its length), as a share of shift 0's."""
    if axis == 0:
        grad, seen = grad.T, seen.T
    n = grad.shape[1]
    if not seen.any():
        return np.zeros(n)
    centred = np.where(seen, grad - grad[seen].mean(), 0.0)
    values = np.fft.rfft(centred, 2 * n, axis=1)
    counts = np.fft.rfft(seen.astype(np.float64), 2 * n, axis=1)
    products = np.fft.irfft(values * np.conj(values), 2 * n, axis=1).sum(axis=0)[:n]
    overlap = np.fft.irfft(counts * np.conj(counts), 2 * n, axis=1).sum(axis=0)[:n]
    per_pixel = products / np.maximum(overlap, 1.0)
    if per_pixel[0] <= 1e-9:
        return np.zeros(n)
    out: np.ndarray = per_pixel / per_pixel[0]
    return out


def period(grad: np.ndarray, seen: np.ndarray, axis: int) -> float | None:
    """The period (px, to a fraction) of gradient magnitudes ``grad`` along ``axis``, over
    the ``seen`` pixels; None when it does not repeat (or is too short to tell)."""
    values = _autocorrelation(grad, seen, axis)
    top = len(values) // 2
    if top <= _SHORTEST_PERIOD + 1:
        return None
    peak = float(values[_SHORTEST_PERIOD + 1:top].max())
    if peak < MIN_PERIODIC:
        return None
    for d in range(_SHORTEST_PERIOD + 1, top):
        before, here, after = values[d - 1], values[d], values[d + 1]
        if here >= _FUNDAMENTAL * peak and here > before and here >= after and values[1:d].min() < _DIP:
            curve = before - 2 * here + after
            return d + (0.5 * (before - after) / curve if abs(curve) > 1e-12 else 0.0)
    return None


def _continued(beyond: tuple[np.ndarray, ...], within: tuple[np.ndarray, ...], seen: np.ndarray) -> bool:
    """Whether strip ``beyond`` (gradients, grey levels) goes on with the pattern of strip
    ``within``, over their ``seen`` pixels."""
    strengths = float(beyond[0][seen].std()), float(within[0][seen].std())
    if min(strengths) < _MIN_STRENGTH * max(strengths):
        return False
    gradients = _ncc(beyond[0][seen], within[0][seen])
    levels = abs(_ncc(beyond[1][seen], within[1][seen]))
    return min(gradients, levels) >= MIN_CONTINUED


def _size(quad: np.ndarray) -> tuple[int, int]:
    """An outline's width and height seen square-on, in whole pixels (at least 8)."""
    width, height = page_size(quad)
    return max(8, round(width)), max(8, round(height))


class _SquareOn:
    """The photo around an outline seen square-on: the outline is [0, width] x [0, height],
    with ``margin`` px around it (gradients, and which pixels the photo shows)."""

    def __init__(self, grey: np.ndarray, quad: np.ndarray, width: int, height: int, margin: int) -> None:
        self.margin = margin
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        self.to_photo = cv2.getPerspectiveTransform(corners, (quad + 0.5).astype(np.float32)).astype(np.float64)
        shift = np.array([[1.0, 0, -margin], [0, 1, -margin], [0, 0, 1]])
        to_canvas = np.linalg.inv(self.to_photo @ shift)
        size = (width + 2 * margin, height + 2 * margin)
        canvas = cv2.warpPerspective(grey.astype(np.float32), to_canvas, size, flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REPLICATE)
        inside = np.zeros(grey.shape[:2], np.uint8)
        inside[_EDGE:-_EDGE, _EDGE:-_EDGE] = 1
        self.seen = cv2.warpPerspective(inside, to_canvas, size, flags=cv2.INTER_NEAREST,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        levels, grad = _smoothed(canvas)
        self.levels, self.grad = levels.astype(np.float64), grad.astype(np.float64)

    def in_photo(self, top: float, bottom: float, left: float, right: float) -> np.ndarray:
        """The rectangle [left, right] x [top, bottom] (outline coordinates) as corners in
        the photo's pixels, clockwise from the top left."""
        corners = np.array([[left, top, 1], [right, top, 1], [right, bottom, 1], [left, bottom, 1]])
        mapped = corners @ self.to_photo.T
        out: np.ndarray = mapped[:, :2] / mapped[:, 2:] - 0.5
        return out

    def span(self, lo: float, hi: float) -> slice:
        """The canvas's pixels from ``lo`` to ``hi`` in the outline's coordinates (either axis)."""
        return slice(round(lo) + self.margin, round(hi) + self.margin)

    def strip(self, axis: int, start: float, length: int, across: tuple[float, float]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The gradients, grey levels and seen pixels from ``start`` along ``axis`` (0: down, 1: across)
        for ``length`` px, over ``across`` on the other axis; None past the canvas."""
        along = slice(round(start) + self.margin, round(start) + self.margin + length)
        other = self.span(*across)
        limits = self.grad.shape
        if along.start < 0 or along.stop > limits[axis] or other.start < 0 or other.stop > limits[1 - axis]:
            return None
        cut = (along, other) if axis == 0 else (other, along)
        return self.grad[cut], self.levels[cut], self.seen[cut]


def grown(grey: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """``quad`` (corners in grey ``grey``'s pixels) with each side stepped out by whole
    periods while the pattern inside it goes on beyond it; ``quad`` itself when its content
    does not repeat or nothing goes on."""
    width, height = _size(quad)
    inner = _SquareOn(grey, quad, width, height, 0)
    periods = [period(inner.grad, inner.seen, axis) for axis in (0, 1)]
    if periods == [None, None]:
        return quad
    view = _SquareOn(grey, quad, width, height, max(width, height))
    for axis in (0, 1):
        other = periods[1 - axis]
        if periods[axis] is None and other is not None and (height, width)[axis] < 2 * other:
            # An outline one row of a board high cannot show the rows' period: it is
            # looked for along that axis beyond the outline, over the outline's span (not
            # along stripes, which have none).
            span = view.span(0, width if axis == 0 else height)
            cut = (slice(None), span) if axis == 0 else (span, slice(None))
            periods[axis] = period(view.grad[cut], view.seen[cut], axis)
    bounds = [[0.0, float(height)], [0.0, float(width)]]  # per axis: its low and high side
    for axis in (1, 0):
        step = periods[axis]
        if step is None or step < _MIN_STEP * (height, width)[axis]:
            continue
        # each strip reaches into the next one in, past the side between them: the
        # outermost period, against the table, is judged as well as any other
        reach = round(_OVERLAP * step)
        length = round(step) + reach
        for side, outward in ((0, -1.0), (1, 1.0)):
            for _ in range(_MOST_STEPS):
                edge = bounds[axis][side]
                across = (bounds[1 - axis][0], bounds[1 - axis][1])
                inward = reach if side else 0
                beyond = view.strip(axis, (edge if side else edge - step) - inward, length, across)
                within = view.strip(axis, (edge - step if side else edge) - inward, length, across)
                if beyond is None or within is None:
                    break
                seen = beyond[2] & within[2]
                if seen.mean() < _MIN_SEEN or not _continued(beyond, within, seen):
                    break
                bounds[axis][side] += outward * step
    (top, bottom), (left, right) = bounds
    if (top, bottom, left, right) == (0.0, float(height), 0.0, float(width)):
        return quad
    return view.in_photo(top, bottom, left, right)


def _boundaries(view: _SquareOn, axis: int, extent: int, across: int) -> np.ndarray:
    """Positions along ``axis`` (outline coordinates, 0..``extent`` inside it) where the
    gradients averaged along the stripes (over 0..``across`` on the other axis) peak, at
    least _MIN_BOUNDARY of their 95th percentile inside the outline."""
    other = view.span(0, across)
    grad = view.grad[:, other] if axis == 0 else view.grad[other, :].T
    seen = view.seen[:, other] if axis == 0 else view.seen[other, :].T
    counts = seen.sum(axis=1)
    profile = np.where(counts > 0.5 * seen.shape[1], (grad * seen).sum(axis=1) / np.maximum(counts, 1), 0.0)
    inside = profile[view.margin:view.margin + extent]
    if not len(inside):
        return np.zeros(0)
    floor = _MIN_BOUNDARY * float(np.percentile(inside, 95))
    middle = profile[1:-1]
    peaks = np.nonzero((middle >= profile[:-2]) & (middle > profile[2:]) & (middle >= floor) & (middle > 0))[0] + 1
    before, here, after = profile[peaks - 1], profile[peaks], profile[peaks + 1]
    curve = before - 2 * here + after
    offset = np.where(np.abs(curve) > 1e-9, 0.5 * (before - after) / np.where(curve == 0, 1, curve), 0.0)
    out: np.ndarray = peaks + np.clip(offset, -0.5, 0.5) - view.margin
    return out


def _pattern_goes_on(inner: _SquareOn, view: _SquareOn, axis: int, strip: tuple[float, float],
                     inward: float, repeat: float | None) -> bool:
    """Whether the ``strip`` (its two ends along ``axis``, outline coordinates) is the
    page's pattern going on: its grey levels match those ``repeat`` px further in
    (``inward``: +1 or -1 along ``axis``; _SAME_BAND). Where the pattern has no such
    period, or the strips leave the canvas, nothing tells it from the page: True, and the
    side stays. Where the photo shows under _MIN_SEEN of it (a side extrapolated past the
    frame), False: the step is tried."""
    if repeat is None:
        return True
    lo, hi = sorted(strip)
    length = max(1, round(hi - lo))
    across = (0.0, float(inner.levels.shape[1 - axis]))
    here = view.strip(axis, lo, length, across)
    there = view.strip(axis, lo + inward * repeat, length, across)
    if here is None or there is None:
        return True
    seen = here[2] & there[2]
    if seen.mean() < _MIN_SEEN:
        return False
    deviation = float(inner.levels[inner.seen].std()) if inner.seen.any() else 0.0
    return float(np.abs(here[1][seen] - there[1][seen]).mean()) < _SAME_BAND * max(deviation, 1e-6)


def stepped(grey: np.ndarray, quad: np.ndarray) -> list[np.ndarray]:
    """Outlines of a striped page (``quad``, corners in ``grey``'s pixels, its content
    periodic across one axis and not along the other) with each side along the stripes
    at its place or stepped to the nearest stripe boundary in or out (see _MIN_BOUNDARY),
    ``quad`` itself left out; none for any other content."""
    width, height = _size(quad)
    inner = _SquareOn(grey, quad, width, height, 0)
    periods = [period(inner.grad, inner.seen, axis) for axis in (0, 1)]
    if sum(p is not None for p in periods) != 1:
        return []
    axis = 0 if periods[0] is not None else 1
    extent, across = (height, width) if axis == 0 else (width, height)
    view = _SquareOn(grey, quad, width, height, max(2, math.ceil(_MOST_STEP * extent) + 1))
    found = _boundaries(view, axis, extent, across)
    repeat = period(inner.levels, inner.seen, axis)
    places = []
    for side, inward in ((0.0, 1.0), (float(extent), -1.0)):
        offset = found - side
        near = np.abs(offset) <= _MOST_STEP * extent
        steps = [side]
        for direction in (-1.0, 1.0):
            ahead = offset[near & (direction * offset > _LEAST_STEP * extent)]
            if not len(ahead):
                continue
            step = side + float(ahead[np.argmin(np.abs(ahead))])
            if direction != inward or not _pattern_goes_on(inner, view, axis, (side, step), inward, repeat):
                steps.append(step)
        places.append(steps)
    out = []
    for low in places[0]:
        for high in places[1]:
            if (low, high) == (0.0, float(extent)) or high - low < 0.5 * extent:
                continue
            (top, bottom), (left, right) = ((low, high), (0.0, float(width))) if axis == 0 else \
                ((0.0, float(height)), (low, high))
            out.append(view.in_photo(top, bottom, left, right))
    return out
