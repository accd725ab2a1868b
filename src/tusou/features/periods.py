"""Outlines of repeated patterns: a page's period along its sides, and its outline grown by
whole periods while the pattern goes on.

A printed checkerboard, a tiling or stripes fill the page with lines as straight and as
strong as its sides, so the outline found (``pages.find_pages``) can be a row or two of
squares short of the page, or be one row of it: the board's edge, alternately light and
dark against the table, is often not among the strongest lines. Seen square-on, such an
outline's content repeats along its sides; each side is stepped out by one period while
the strip beyond it repeats the strip inside it, and stops where the pattern stops (the
table, a frame, the margin) or leaves the photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from .keypoints import _ncc, _smoothed

# An axis of the page square-on is periodic when its gradients' autocorrelation along it
# (shifts of _SHORTEST_PERIOD px up to half its length) peaks at least this high (0..1);
# the period is the shortest shift peaking within _FUNDAMENTAL of the highest (a
# checkerboard repeats at one, two, three squares...), after falling under _DIP on the
# way (along stripes the autocorrelation stays near 1 at every shift: no period).
MIN_PERIODIC = 0.8
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
    width = max(8, round(0.5 * float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3]))))
    height = max(8, round(0.5 * float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1]))))
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
    corners = np.array([[left, top, 1], [right, top, 1], [right, bottom, 1], [left, bottom, 1]])
    out = corners @ view.to_photo.T
    result: np.ndarray = out[:, :2] / out[:, 2:] - 0.5
    return result
