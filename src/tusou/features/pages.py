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
where table and carpet textures fade and a page's border stays, straight lines by Hough
(each edge pixel voting only for lines across its gradient), and every four lines that
close a convex quadrilateral scored by how much of its border runs along an edge across
it. Corners may lie outside the photo (a phone held close). A picture turned on a plain
canvas (a tilted scan or paste) is outlined by its content first, which a stripe parallel
to its side cannot mislead; and a page lying inside the photo, as the region whose colours
differ from the photo's edge (GrabCut), which a table's grain or weave, crowding the page's
sides out of the strongest lines, cannot hide. An outline filled with a repeated pattern
(a checkerboard's own grid lines close outlines a row or two short of it) is grown by
whole periods while the pattern goes on (``periods.grown``); a striped page's outline, whose
outermost stripe on a like-coloured table leaves no edge, is also laid with its sides along
the stripes stepped to the next stripe boundaries (``periods.stepped``).
Candidates come from the first look and from the page seen square-on (``rectified``): on
a textured table, the whole photo's vector can rank the original far down.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .alignment import _MIN_GRADIENT, corner_move, ecc_step
from .frames import ContentMatch
from .keypoints import _SMOOTHING, Keypoints, _smoothed, agreement, colour_copy, weakest_cells
from .periods import grown, stepped
from .pixels import resize_max_side
from .quads import Quad, page_size

# The photo's long side while looking for the outline: textures finer than a few pixels
# here are gone after the blur below, a page's border is not.
WORK_SIDE = 320
# The edges are found at two smoothings (sigma, WORK_SIDE px) and their lines pooled: the
# finer keeps a page's sides sharp; at the coarser, a textured page or table (fur, gravel,
# a woven cloth) fades into its mean colour while the step between the two stays, where
# the finer one's gradients along the border point every way (benchmarks/studies/outlines.py).
_BLURS = (1.5, 3.0)
# Canny's upper threshold at this percentile of the photo's colour gradient (lower: 0.4 x).
_EDGE_PERCENTILE = 85.0
# An edge pixel votes only for lines within this angle of across its gradient, in
# _DIRECTIONS bands of orientation: otherwise any line through a textured area collects as
# many votes as a page's side and crowds it out of the strongest.
_DIRECTIONS = 12
_DIRECTION_SPREAD_DEG = 15.0
# The strongest lines (Hough, suppressed near-duplicates) that outlines are built from.
MAX_LINES = 100
# Opposite sides within this angle of each other, adjacent sides at least this far apart
# (perspective bends a page's right angles, a little).
_MAX_OPPOSITE_DEG = 30.0
_MIN_ADJACENT_DEG = 50.0
# An outline covers this share of the photo at least / at most (counting what lies outside
# it), and its corners may lie this far outside it (a phone held close).
MIN_PAGE_SHARE = 0.08
MAX_PAGE_SHARE = 1.5
_OUTSIDE = 0.25
# ... but each side must show over this share of its length: a quarter, since a page
# photographed close runs out of the frame. Measured with benchmarks/studies/outlines.py
# (2026-12-06, `same`, seeds 0-3): 80 % photos outlined first 16 / 23 / 31 / 26 with half,
# 21 / 24 / 33 / 29 with a quarter (among the outlines returned 16 / 24 / 34 / 30 -> 25 /
# 28 / 36 / 33); the 30 % and 55 % photos' outlines the same with either.
_MIN_VISIBLE = 0.25
# Each side must run along an edge across it over this share of its length (its ends,
# this share of it each, not counted: corners are rounded by the blur).
MIN_SIDE_SUPPORT = 0.5
_SIDE_ENDS = 0.03
# The best _CONTRASTED outlines by their sides' edges are ranked again with how unlike
# their inside is to a ring around them (_RING of their size out) in colour added
# (_region_contrast, 0..1, _CONTRAST_WEIGHT times): a woven or plaid table's own lines
# close quadrilaterals whose sides are as straight and as well supported as a page's, and
# larger (ranked first), but their inside is the table too. Measured with
# benchmarks/studies/outlines.py (2026-12-06; 78 photos each): `same`'s 30 % photos found
# first 58 / 57 / 58 -> 68 / 65 / 66 at seeds 0, 1 and 3, 55 % 65 / 58 / 58 -> 66 / 62 / 62,
# 80 % 13 / 22 / 25 -> 16 / 23 / 26; picturebook's (seed 0, 93 photos) 84 -> 88, 84 -> 84,
# 46 -> 43 (among the outlines returned 48 -> 50). Of 702 `same` photos 7 fell from first
# to second or third, none out. Chosen at seed 3 (30 % photos found first with weight 0.2 /
# 0.5 / 1 / 2 over the best 20: 63 / 64 / 65 / 64; weight 1 over the best 50: 66), then
# checked at seeds 0 and 1 and on picturebook.
_CONTRAST_WEIGHT = 1.0
_CONTRASTED = 50
_RING = 0.25
_BINS = 6
# ... and so are the best _CONTRASTED by their sides' edges plus a contrast sampled at a few
# hundred points (_SAMPLED_GRID squared inside, _SAMPLED_LOOPS of _SAMPLED_LOOP_POINTS in
# the ring; _sampled_contrast): a plaid table's lines close thousands of quadrilaterals
# (16,703 from 100 lines in one photo), all as well supported as the page's and larger, and
# the page's own outline ranked 1,371st by its sides, so that its contrast (0.62, against
# the best table rectangle's 0.34) was never asked. Sampled, an outline costs 1-2 % of
# the exact contrast's time (the exact one for those 16,703 would take 5 s). Measured
# with benchmarks/studies/outlines.py (2026-12-06, `same`, seeds 0-3):
# 30 % photos found first 68 / 65 / 65 / 66 -> 70 / 66 / 67 / 69, 55 % 66 / 62 / 63 / 62 ->
# 66 / 63 / 62 / 64, 80 % unchanged; no photo's outline lost (one fell from third to out
# of the three returned: a generated page its keypoints find). On skimage's moon, camera,
# astronaut and coffee photographed at 30 % (seeds 0-119 each): 7 more found first, none
# fewer. In the evaluation (seeds 3 and 1) 3 and 1 more photos found, nothing else changed.
_SAMPLED_GRID = 10
# ... of at most the best _SAMPLED_MOST by their sides (about 19 ms a thousand): a busy
# generated picture closed 96,000, whose sampling took 2 s.
_SAMPLED_MOST = 4000
_SAMPLED_LOOPS = (1.06, 1.125, 1.19)
_SAMPLED_LOOP_POINTS = 36
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
# ... distinct ones: two assignments whose squared pages correlate this much in grey
# levels and gradients lay the same content, and the second is not kept. Stripes look
# alike mirrored along them, so their 8 assignments come in look-alike pairs, and the
# best two by the quick comparison could be one pair, the true one's pair third
# (banded_0090's 55 % photo, outlined to the page: quick 0.59 twice for a half turn that
# lies at 0.00, 0.57 twice for the true one, which refined agrees 0.975).
_LOOK_ALIKE = 0.98
# A reference whose QUICK_SIDE copy keeps under this share of its thumbnail's grey-level
# deviation has its detail finer than that (fine stripes: there they average out, or alias
# differently in the page and the thumbnail, and even the true assignment can compare at
# about 0): its assignments are also judged at the thumbnail's size, and the best
# _FINE_KEEP of those reaching MIN_GUESS go on too. Not instead: as they lie, before
# refining, a photo's perspective can rank symmetric stripes' other assignments first.
# Measured on the same suite's library (2026-12-05): 18 of its 2,648 images (fine stripes,
# a brick wall, generated patterns); banded_0002's 8-degree turn (0.25) compared 0.005
# quick and 0.97 as it lies; its 30 % photo 0.58 quick (the true assignment) and 0.68 as
# it lies (the turned one, refined 0.85 against the true one's 0.954).
_FINE_DETAIL = 0.3
# Four, not QUICK_KEEP: stripes look alike mirrored along them, so the 8 assignments come
# in look-alike pairs and the best two as they lie can be one pair that is not the true one
# (2026-12-06: banded_0002's 30 % photo at seed 1, its outline 3 px off, lay 0.355 the true
# way and 0.459 twice the other, refined 0.977 and 0.872; found now at seeds 1, 2 and 3, and
# its 55 % photo at seed 1). It costs only fine references, and only the assignments that
# reach MIN_GUESS.
_FINE_KEEP = 4
# Corner assignments whose unrefined agreement is below this are not refined: a true
# page, found a few pixels off, starts above 0.2 (calibration); most wrong ones below.
MIN_GUESS = 0.2
# ... but a fine reference's assignments go on, and are refined, by how far their agreement
# as they lie is from zero, either way, from _FINE_GUESS: an outline a fraction of a period
# off lays fine stripes out of phase, and the true assignment then lies negative (anti-
# phase) while refining it still finds the page (crossed or other stripes lie at about 0).
# Measured (2026-12-08): the `same` suite's banded_0002 55 % photo at seed 18, its outlines
# laying the true assignment at 0.19 / -0.73 / -0.41, refined 0.995 / 0.959 / 0.974; stripes
# of period 12 photographed at seeds 0-5, each outline found and moved 1/4 and 1/2 period:
# 4 of 34 placed before, 19 from 0.2, 21 from 0.1. From 0.1 the striped queries of a fine
# page took 0.9 s longer on average (its 8-degree turn 10 s: each stepped outline of each
# fine candidate refined four ways), from 0.2 0.2 s.
_FINE_GUESS = 0.2
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
# A photographed page that agrees PAGE_FINE_FLOOR or more, but under the bar, is also
# compared with both blurred PAGE_COARSER more (sigma, thumbnail px), as the whole-frame
# look compares a frame (frames.FRAME_COARSER), and counts where that reaches the bar: a
# soft texture's photo keeps its grey levels but not its fine gradients (banded_0136's 55 %
# photo, a woven red and blue stripe: grey levels 0.988, gradients 0.889 however blurred
# the thumbnail alone; 0.975 both blurred 2 px more). Measured with benchmarks/studies/
# pages.py (2026-12-07): over every candidate the page look judges for the `same` suite's
# 1,526 queries at seed 6, the wrong ones that agreed 0.85 or more as compared agreed at
# most 0.900 so (a generated page's framed copy on another page of its template); four
# true pages under the bar as compared reached it. In the picturebook suite (seed 10),
# other pages of a book reached the bar so (47, up to 0.982; 9 as compared), but none their
# weakest cells' 0.75 (at most 0.725, as compared already; the 38 new ones 0.685). Weaker
# evidence than a sharp page: the match says so (``ContentMatch.coarse``), and the
# engine's later looks may still answer better. Not for a reference whose detail is finer
# than the quick comparison's (_finer_than_quick): blurred, fine stripes are flat colour,
# and their mirrored placement agreed 0.98 so.
PAGE_FINE_FLOOR = 0.85
PAGE_COARSER = 2.0
# A page under ``page_match``'s floor (when the caller's floor is under its bar: the
# colourful route, ``matching._page_counts``) that agrees at least SMOOTH_FLOOR as compared
# is compared PAGE_COARSER coarser too, and reaches the floor so: a smooth picture's few
# gradients (the colour wheel's rim and hues) blur away in a photo while its grey levels,
# colours and every part still agree. It stays under the bar, weak evidence, and counts
# only by its colours and weakest cells, which tell pictures apart (matching's COLOURFUL_*:
# no wrong placement with cells >= 0.9 had colours over 0.445). Measured (2026-12-07): the
# colour wheel's 30 %, 55 % and 80 % photos in the `same` suite (seeds 14 and 0), outlined
# right, agreed 0.70 / 0.54 / 0.68 as compared, 0.83 / 0.84 / 0.85 coarser, their weakest
# cells 0.95-0.97.
SMOOTH_FLOOR = 0.5


# A picture turned on a plain canvas (a tilted scan, a rotated paste: the canvas's four
# corners one colour, within _FILL_TOLERANCE on 0..255 in every channel) is outlined by
# the smallest turned rectangle around what differs from that colour by more than
# _CONTENT_CONTRAST (JPEG rings a few levels out from the picture's edge), if the content's
# convex hull fills at least _MIN_FILL of it (a disc on the canvas fills 0.79 of its square,
# and says nothing of a turn). The hull, not the content itself: a picture's parts in the
# canvas's colour (black stripes or squares on a black canvas) leave it half filled, while
# what is not in that colour still reaches its sides (2026-12-05: the same suite's 8-degree
# turns of a chessboard and of black-and-blue stripes, outlined and found so). Its edges
# need not be found: a stripe parallel to a side has as straight an edge as the side.
_FILL_TOLERANCE = 12
_CONTENT_CONTRAST = 40
_CORNER = 3
_MIN_FILL = 0.9
_MIN_TURN_DEG = 1.0
# A picture turned on a canvas grown to hold it (an editor's rotate, ``rot8``) touches the
# canvas's four sides: its outline is the turned rectangle that does, where its content's
# box reaches two opposite sides of it (within _CANVAS_GAP px) and lies inside it, and at
# most _CANVAS_STRAYS of the pixels outside it (that far out) differ from the canvas.
# Stripes the canvas's colour along a side leave that side where no content shows (black
# stripes along the top of a picture on black: its outline was found a stripe, 16 px, in).
_CANVAS_GAP = 2.0
_CANVAS_STRAYS = 0.01

# A page on a textured table (wood grain, a woven cloth, a plaid) can leave its sides out of
# the strongest lines, or among thousands of the table's quadrilaterals: it is also
# outlined as the region whose colours differ from the frame's edge (GrabCut, initialised
# with everything but a _SEGMENT_MARGIN of the frame as possibly the page, at
# _SEGMENT_SIDE px, _SEGMENT_ROUNDS rounds), if the largest part of it is a quadrilateral
# (its hull simplified to 4 corners, filled at least _SEGMENT_FILL) whose sides, refitted
# to the region's border, meet inside the frame's neighbourhood; a region cut off by the
# frame's edge is not a whole page. It goes first among the outlines unless the best
# edge-found one ranks better (_outline_rank) by over _SEGMENT_RANK_MARGIN: GrabCut can
# take in a strip of a like-coloured table, or take the picture printed on a page that
# runs out of the frame for the page. Measured on the same suite's phone photos
# (benchmarks/studies/outlines.py, 2026-12-04; true outline among those returned / first):
# at 30 % of the frame 55 / 50 -> 71 / 58 of 78, at 55 % 63 / 59 -> 70 / 65, at 80 % 13 /
# 13 -> 13 / 13 (the page runs out of the frame); 160 px and 3 rounds found as many as
# 240 px or 5 rounds, and fitting the sides to the border rather than keeping the
# simplified hull's corners 58 -> 65 at 30 %. About 30-40 ms per photo.
_SEGMENT_SIDE = 160
_SEGMENT_MARGIN = 0.02
_SEGMENT_ROUNDS = 3
_SEGMENT_FILL = 0.85
_SEGMENT_RANK_MARGIN = 0.05
# An edge-found outline whose every corner lies this close (share of the photo's long side)
# to the region's is the same page's, put more exactly: it replaces the region's. Half of
# _SAME_OUTLINE: at _SAME_OUTLINE itself a rougher one took the place of one 55 % photo's.
_SNAP_OUTLINE = 0.015


def _edges(small: np.ndarray, blur: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canny edges of the colour gradient of ``small`` (the photo at WORK_SIDE, RGB)
    smoothed by ``blur``, and the gradient itself (the strongest Lab channel's, per
    pixel)."""
    lab = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), blur)
    gx = np.stack([cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0) for c in range(3)], axis=-1)
    gy = np.stack([cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1) for c in range(3)], axis=-1)
    strongest = np.argmax(gx * gx + gy * gy, axis=-1)[..., None]
    dx = np.take_along_axis(gx, strongest, axis=-1)[..., 0]
    dy = np.take_along_axis(gy, strongest, axis=-1)[..., 0]
    high = max(float(np.percentile(np.hypot(dx, dy), _EDGE_PERCENTILE)), 1.0)
    edges = cv2.Canny(np.round(dx).astype(np.int16), np.round(dy).astype(np.int16), 0.4 * high,
                      high, L2gradient=True)
    return edges, dx, dy


def _votes(edges: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> list[tuple[float, float, float]]:
    """Straight lines (Hough) as (rho, theta, votes), each edge pixel voting only for lines
    of about its gradient's direction (_DIRECTIONS bands, _DIRECTION_SPREAD_DEG)."""
    h, w = edges.shape
    ys, xs = np.nonzero(edges)
    direction = np.mod(np.arctan2(dy[ys, xs], dx[ys, xs]), math.pi)  # a line's normal angle
    band = math.pi / _DIRECTIONS
    found: list[tuple[float, float, float]] = []
    for k in range(_DIRECTIONS):
        off = np.abs(direction - (k + 0.5) * band)
        voters = np.minimum(off, math.pi - off) <= math.radians(_DIRECTION_SPREAD_DEG)
        if voters.sum() < 8:
            continue
        mask = np.zeros_like(edges)
        mask[ys[voters], xs[voters]] = 255
        lines = cv2.HoughLinesWithAccumulator(mask, 1, math.pi / 180, max(8, int(0.1 * min(h, w))),
                                              min_theta=k * band, max_theta=(k + 1) * band)
        if lines is not None:
            found.extend((float(r), float(t), float(v)) for r, t, v in lines[:, 0])
    return found


def _strongest(found: list[tuple[float, float, float]]) -> np.ndarray:
    """The MAX_LINES most voted lines as (theta, rho) rows, without near-duplicates."""
    kept: list[tuple[float, float]] = []
    for rho, theta, _ in sorted(found, key=lambda line: -line[2]):
        for theta2, rho2 in kept:
            turn = abs(theta - theta2)
            other = rho2 if turn <= math.pi / 2 else -rho2
            if min(turn, math.pi - turn) < math.radians(3) and abs(rho - other) < 5:
                break
        else:
            kept.append((theta, rho))
            if len(kept) == MAX_LINES:
                break
    return np.array(kept).reshape(-1, 2)


@dataclass(frozen=True, eq=False)
class _Profiles:
    """Along every line, pixel by pixel from -reach to +reach of its foot (the point nearest
    the origin), running counts of the points inside the photo and of those on an edge
    whose gradient crosses the line (within 37 degrees of its normal): any stretch's
    support is then two look-ups."""

    on: np.ndarray  # (L, 2 * reach + 2)
    seen: np.ndarray
    reach: int

    def support(self, line: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The share of each stretch (positions along ``line``, any shape alike) that runs
        along an edge across it, over its visible part; 0 where under _MIN_VISIBLE of it is
        visible."""
        lo, hi = np.minimum(start, end), np.maximum(start, end)
        cut = _SIDE_ENDS * (hi - lo)
        top = 2 * self.reach + 1
        i1 = np.clip(np.round(lo + cut).astype(np.int64) + self.reach, 0, top)
        i2 = np.clip(np.round(hi - cut).astype(np.int64) + self.reach, 0, top)
        visible = self.seen[line, i2] - self.seen[line, i1]
        share = (self.on[line, i2] - self.on[line, i1]) / np.maximum(visible, 1)
        return np.where(visible >= _MIN_VISIBLE * np.maximum(i2 - i1, 1), share, 0.0)


Views = list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # (dilated edges, dx, dy) per smoothing


def _on_edge_across(views: Views, x: np.ndarray, y: np.ndarray, normal_x: np.ndarray | float,
                    normal_y: np.ndarray | float) -> np.ndarray:
    """Whether each pixel (x, y) lies on an edge of one of ``views`` whose gradient crosses
    a line of that unit normal (within 37 degrees of it)."""
    on = np.zeros(np.broadcast(x, normal_x).shape, bool)
    for near, dx, dy in views:
        gx, gy = dx[y, x], dy[y, x]
        across = np.abs(gx * normal_x + gy * normal_y) / (np.hypot(gx, gy) + 1e-9)
        on |= near[y, x] & (across > 0.8)
    return on


def _area_share(quads: np.ndarray, width: int, height: int) -> np.ndarray:
    """The area of each of (Q, 4, 2) ``quads`` as a share of a width x height frame."""
    x, y = quads[..., 0], quads[..., 1]
    area: np.ndarray = 0.5 * np.abs((x * np.roll(y, -1, 1)).sum(1) - (y * np.roll(x, -1, 1)).sum(1))
    return area / (width * height)


def _profiles(lines: np.ndarray, views: Views, width: int,
              height: int) -> _Profiles:
    """Support profiles of ``lines`` on the edges (dilated by a pixel) and gradients of
    ``views``, an edge in any of them counting."""
    theta, rho = lines[:, 0:1], lines[:, 1:2]
    reach = int(math.ceil((1 + 2 * _OUTSIDE) * math.hypot(width, height)))
    t = np.arange(-reach, reach + 1, dtype=np.float64)[None, :]
    xs = rho * np.cos(theta) - t * np.sin(theta)
    ys = rho * np.sin(theta) + t * np.cos(theta)
    seen = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    xi = np.clip(np.round(xs).astype(np.int64), 0, width - 1)
    yi = np.clip(np.round(ys).astype(np.int64), 0, height - 1)
    on = _on_edge_across(views, xi, yi, np.cos(theta), np.sin(theta)) & seen
    zero = np.zeros((len(lines), 1))
    return _Profiles(np.concatenate([zero, np.cumsum(on, axis=1)], axis=1),
                     np.concatenate([zero, np.cumsum(seen, axis=1)], axis=1), reach)


def _quads(lines: np.ndarray, profiles: _Profiles, width: int, height: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every convex quadrilateral two pairs of roughly parallel lines close, with its corners
    in or near the frame (``_OUTSIDE``) and each side supported (MIN_SIDE_SUPPORT): (Q, 4, 2)
    corners, their area as a share of the frame's and (Q, 4) the sides' support.

    Built from rungs: a line crossing both lines of a parallel pair, supported between
    them. A quadrilateral is two parallel pairs each of whose lines is a rung of the other,
    so only the few supported rungs of each pair are ever combined."""
    theta, rho = lines[:, 0], lines[:, 1]
    ct, st = np.cos(theta), np.sin(theta)
    det = ct[:, None] * st[None, :] - st[:, None] * ct[None, :]
    det = np.where(np.abs(det) < 1e-6, np.nan, det)
    # cross[i, j]: where lines i and j meet; along[i, j]: how far along line i that is
    cross = np.stack([(rho[:, None] * st[None, :] - st[:, None] * rho[None, :]) / det,
                      (ct[:, None] * rho[None, :] - rho[:, None] * ct[None, :]) / det], axis=-1)
    along = np.nan_to_num(cross[..., 0] * -st[:, None] + cross[..., 1] * ct[:, None])
    turn = np.abs(theta[:, None] - theta[None, :])
    turn = np.minimum(turn, math.pi - turn)
    with np.errstate(invalid="ignore"):
        near_frame = ((cross[..., 0] >= -_OUTSIDE * width) & (cross[..., 0] <= (1 + _OUTSIDE) * width)
                      & (cross[..., 1] >= -_OUTSIDE * height) & (cross[..., 1] <= (1 + _OUTSIDE) * height))
    corner = near_frame & (turn >= math.radians(_MIN_ADJACENT_DEG))
    first, second = np.triu_indices(len(lines), 1)
    parallel = turn[first, second] <= math.radians(_MAX_OPPOSITE_DEG)
    first, second = first[parallel], second[parallel]
    # support[p, r]: line r between its crossings with pair p's two lines
    closes = (corner[:, first] & corner[:, second]).T
    rungs = np.arange(len(lines))[None, :]
    support = np.where(closes, profiles.support(rungs, along[:, first].T, along[:, second].T), 0.0)
    rung = support >= MIN_SIDE_SUPPORT
    useful = rung.sum(axis=1) >= 2
    first, second, rung, support = first[useful], second[useful], rung[useful], support[useful]
    both = rung[:, first] & rung[:, second]  # both[p, q]: pair q's lines are rungs of pair p
    p, q = np.nonzero(np.triu(both & both.T, 1))
    a, c, b, d = first[p], second[p], first[q], second[q]  # sides a, b, c, d in turn
    quads = np.stack([cross[a, b], cross[b, c], cross[c, d], cross[d, a]], axis=1)
    sides = np.stack([support[q, a], support[p, b], support[q, c], support[p, d]], axis=1)
    share = _area_share(quads, width, height)
    edge = np.roll(quads, -1, axis=1) - quads
    bend = edge[..., 0] * np.roll(edge, -1, 1)[..., 1] - edge[..., 1] * np.roll(edge, -1, 1)[..., 0]
    fine = ((bend > 0).all(axis=1) | (bend < 0).all(axis=1))
    fine &= (share >= MIN_PAGE_SHARE) & (share <= MAX_PAGE_SHARE)
    return quads[fine], share[fine], sides[fine]


def _clockwise(quad: np.ndarray) -> Quad:
    """The corners in clockwise order (on screen), from the one nearest the top left."""
    centre = quad.mean(axis=0)
    turned = quad[np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))]
    return np.roll(turned, -int(np.argmin(turned.sum(axis=1))), axis=0)


def find_pages(pixels: np.ndarray) -> list[Quad]:
    """Outlines of pages (posters, prints, screens) in a photo, most likely first (at most
    MAX_PAGES), as corners in the photo's pixels; none when no four straight edges close
    one and no quadrilateral region stands out from the photo's edge. Each outline of a
    repeated pattern is grown to where the pattern stops."""
    if min(pixels.shape[:2]) < 16:
        return []
    found: list[tuple[float, float, float]] = []
    views = []
    small, scale = resize_max_side(pixels, WORK_SIDE)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    for blur in _BLURS:
        edges, dx, dy = _edges(small, blur)
        found += _votes(edges, dx, dy)
        views.append((cv2.dilate(edges, np.ones((3, 3), np.uint8)) > 0, dx, dy))
    h, w = edges.shape
    lines = _strongest(found)
    quads = np.zeros((0, 4, 2))
    rank = np.zeros(0)
    if len(lines) >= 4:
        quads, share, support = _quads(lines, _profiles(lines, views, w, h), w, h)
        rank = _outline_rank(support, share)
    order = _by_contrast(small, quads, rank)
    ranked: Iterator[Quad] = (_clockwise(quads[k]) for k in order)
    canvas, segmented = _on_plain_canvas(pixels), _segmented(pixels)
    first = [] if canvas is None else [(canvas + 0.5) * scale - 0.5]
    later = []
    if segmented is not None:
        region = (segmented + 0.5) * scale - 0.5
        # The region's outline goes first unless the best edge-found one ranks clearly
        # better: GrabCut can take in a strip of a like-coloured table, or take a picture
        # printed on a page that runs out of the frame for the page.
        score = float(_outline_rank(_side_support(region, views)[None], _area_share(region[None], w, h))[0])
        region = _snapped(region, quads[order], _SNAP_OUTLINE * max(w, h))
        if not len(rank) or score >= float(rank.max()) - _SEGMENT_RANK_MARGIN:
            first.append(region)
        else:
            later.append(region)
    out: list[Quad] = []
    for quad in itertools.chain(first, itertools.islice(ranked, 1), later, ranked):
        if len(out) == MAX_PAGES:
            break
        if not _among(quad, out, _SAME_OUTLINE * max(w, h)):
            out.append(quad)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    whole: list[Quad] = []
    for quad in (grown(grey, quad) for quad in out):
        if not _among(quad, whole, _SAME_OUTLINE * max(w, h)):
            whole.append(quad)
    return [(quad + 0.5) / scale - 0.5 for quad in whole]


def stepped_outlines(pixels: np.ndarray, quads: list[Quad]) -> list[Quad]:
    """Other outlines of the striped pages outlined by ``quads`` (the photo's pixels): their
    sides along the stripes stepped to the nearest stripe boundaries (``periods.stepped``);
    none for a page that is not striped."""
    small, scale = resize_max_side(pixels, WORK_SIDE)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
    return [(other + 0.5) / scale - 0.5 for quad in quads
            for other in stepped(grey, (quad + 0.5) * scale - 0.5)]


def _among(quad: Quad, quads: list[Quad], tolerance: float) -> bool:
    """Whether ``quad``'s corners all lie within ``tolerance`` of one of ``quads``'."""
    return any(np.abs(quad - other).max() < tolerance for other in quads)


def _by_contrast(small: np.ndarray, quads: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """The order of ``quads`` (WORK_SIDE px) by ``rank``, with the best _CONTRASTED of them
    and the best _CONTRASTED by ``rank`` plus their _sampled_contrast (among the best
    _SAMPLED_MOST by ``rank``) first, ranked again with their _region_contrast in ``small``
    (the photo at WORK_SIDE, RGB) added (_CONTRAST_WEIGHT times)."""
    order = np.argsort(-rank, kind="stable")
    chosen = np.zeros(len(quads), bool)
    chosen[order[:_CONTRASTED]] = True
    if len(quads) > _CONTRASTED:
        pool = order[:_SAMPLED_MOST]
        sampled = rank[pool] + _CONTRAST_WEIGHT * _sampled_contrast(small, quads[pool])
        chosen[pool[np.argsort(-sampled, kind="stable")[:_CONTRASTED]]] = True
    top = order[chosen[order]]
    contrast = np.array([_region_contrast(small, quads[k]) for k in top])
    again = top[np.argsort(-(rank[top] + _CONTRAST_WEIGHT * contrast), kind="stable")]
    return np.concatenate([again, order[~chosen[order]]])


@functools.cache
def _sample_weights() -> tuple[np.ndarray, np.ndarray]:
    """Where _sampled_contrast looks, as weights of a quad's 4 corners: (P, 4) points
    inside it (a grid, bilinear in its corners) and (R, 4) in the ring around it (its
    outline grown about its centre)."""
    steps = (np.arange(_SAMPLED_GRID) + 0.5) / _SAMPLED_GRID
    u, v = (grid.ravel() for grid in np.meshgrid(steps, steps))
    inside = np.stack([(1 - u) * (1 - v), u * (1 - v), u * v, (1 - u) * v], axis=1)
    along = (np.arange(_SAMPLED_LOOP_POINTS) + 0.5) / _SAMPLED_LOOP_POINTS * 4
    side = np.floor(along).astype(np.int64)
    rows = np.arange(_SAMPLED_LOOP_POINTS)
    outline = np.zeros((_SAMPLED_LOOP_POINTS, 4))
    outline[rows, side] = 1 - (along - side)
    outline[rows, (side + 1) % 4] += along - side
    ring = np.concatenate([0.25 * (1 - grow) + grow * outline for grow in _SAMPLED_LOOPS])
    for weights in (inside, ring):
        weights.flags.writeable = False  # shared by every call (cached)
    return inside, ring


def _sampled_contrast(small: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """_region_contrast of every one of (Q, 4, 2) ``quads`` at once, estimated from the
    colours at _sample_weights' points (those inside the photo); 0 where either side has
    under 10 of them."""
    h, w = small.shape[:2]
    bins = _BINS ** 3
    binned = small.astype(np.int64) * _BINS // 256
    colour = ((binned[..., 0] * _BINS + binned[..., 1]) * _BINS + binned[..., 2]).ravel()
    rows = np.arange(len(quads))[:, None] * bins
    hists, counts = [], []
    for weights in _sample_weights():
        # matmul, not einsum: einsum is 30x slower for these shapes
        x = np.rint(quads[..., 0] @ weights.T).astype(np.int64)
        y = np.rint(quads[..., 1] @ weights.T).astype(np.int64)
        seen = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        at = colour[np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)]
        hist = np.bincount((rows + at)[seen], minlength=len(quads) * bins).reshape(len(quads), bins)
        count = seen.sum(axis=1)
        hists.append(hist.astype(np.float32) / np.maximum(count, 1)[:, None])
        counts.append(count)
    overlap = np.sqrt(hists[0] * hists[1]).sum(axis=1)
    out: np.ndarray = np.where((counts[0] >= 10) & (counts[1] >= 10),
                               np.sqrt(np.clip(1 - overlap, 0, 1)), 0.0)
    return out


def _region_contrast(small: np.ndarray, quad: np.ndarray) -> float:
    """How unlike the ring around ``quad`` (_RING of its size out) its inside is, in
    colour: the Bhattacharyya distance of their colour histograms (_BINS a channel), 0
    alike .. 1 disjoint; 0 where either has under 50 pixels in the photo."""
    inside = _filled(small.shape, quad)
    centre = quad.mean(axis=0)
    ring = _filled(small.shape, centre + (quad - centre) * (1 + _RING)) & ~inside
    if inside.sum() < 50 or ring.sum() < 50:
        return 0.0
    hists = [cv2.calcHist([small], [0, 1, 2], mask.astype(np.uint8), [_BINS] * 3, [0, 256] * 3)
             for mask in (inside, ring)]
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


def _filled(shape: tuple[int, ...], polygon: np.ndarray) -> np.ndarray:
    """The pixels of a ``shape`` image whose centres lie inside the convex ``polygon``
    (pixel-centre coordinates, to a sixteenth of a pixel), as a bool mask."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(polygon * 16).astype(np.int32), 1, shift=4)
    return mask.astype(bool)


def _outline_rank(support: np.ndarray, share: np.ndarray) -> np.ndarray:
    """How likely each outline is a page's, from its (Q, 4) sides' support and its area's
    share of the photo: larger outlines first among equally supported ones, since a page's
    inner frame, or a picture printed on it, closes a quadrilateral as well as the page."""
    out: np.ndarray = support.mean(axis=1) + 0.3 * np.sqrt(share)
    return out


def _snapped(region: Quad, quads: np.ndarray, tolerance: float) -> Quad:
    """The first of ``quads`` (best first, corners in either turn) that outlines ``region``
    within ``tolerance`` at every corner, clockwise, or ``region`` itself: lines fitted at
    twice the segmentation's size put a page's corners more exactly (one found 2-3 px off
    agreed 0.944 with its thumbnail, its edge-found outline 0.955)."""
    if not len(quads):
        return region
    variants = [np.roll(corners, k, axis=0) for corners in (region, region[::-1]) for k in range(4)]
    near = np.min([np.abs(quads - v).max(axis=(1, 2)) for v in variants], axis=0) < tolerance
    if not near.any():
        return region
    return _clockwise(quads[int(np.argmax(near))])


def _side_support(quad: Quad, views: Views) -> np.ndarray:
    """The share of each of ``quad``'s sides (WORK_SIDE px; its ends left out, as in
    _Profiles) that runs along an edge across it in one of ``views``, over its part
    inside the photo."""
    h, w = views[0][0].shape
    out = np.zeros(4)
    for k in range(4):
        start, end = quad[k], quad[(k + 1) % 4]
        length = float(np.linalg.norm(end - start))
        t = np.linspace(_SIDE_ENDS, 1 - _SIDE_ENDS, max(2, int(length)))[:, None]
        points = start + t * (end - start)
        x, y = np.round(points[:, 0]).astype(np.int64), np.round(points[:, 1]).astype(np.int64)
        seen = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        if seen.sum() < _MIN_VISIBLE * len(t):
            continue
        x, y = x[seen], y[seen]
        normal = np.array([end[1] - start[1], start[0] - end[0]]) / max(length, 1e-9)
        out[k] = _on_edge_across(views, x, y, normal[0], normal[1]).mean()
    return out


def _on_plain_canvas(pixels: np.ndarray) -> Quad | None:
    """The turned rectangle around a picture turned on a plain canvas (see _MIN_FILL), in
    the photo's pixels, or None (also when it is upright)."""
    rgb = pixels if pixels.ndim == 3 else pixels[..., None]
    corners = np.concatenate([rgb[:_CORNER, :_CORNER], rgb[:_CORNER, -_CORNER:],
                              rgb[-_CORNER:, :_CORNER], rgb[-_CORNER:, -_CORNER:]]).reshape(-1, rgb.shape[2])
    fill = np.median(corners, axis=0)
    if np.abs(corners.astype(np.float32) - fill).max() > _FILL_TOLERANCE:
        return None
    # Channel by channel in int16: a 4096 px photo is 50 MB as it is, four times that in float.
    content = np.zeros(rgb.shape[:2], bool)
    for channel in range(rgb.shape[2]):
        content |= np.abs(rgb[..., channel].astype(np.int16) - round(float(fill[channel]))) > _CONTENT_CONTRAST
    rows = np.flatnonzero(content.any(axis=1))
    if not len(rows):
        return None
    # The content's leftmost and rightmost pixel in each row have its convex hull, and so
    # its smallest rectangle: 2 x height points, not every pixel (seconds on a large photo).
    left = content[rows].argmax(axis=1)
    right = rgb.shape[1] - 1 - content[rows, ::-1].argmax(axis=1)
    points = np.concatenate([np.stack([left, rows], 1), np.stack([right, rows], 1)]).astype(np.float32)
    rect = cv2.minAreaRect(points)
    turn = rect[2] % 90.0
    if min(turn, 90.0 - turn) < _MIN_TURN_DEG:
        return None  # upright: a plain border, which the edges and the whole-frame look handle
    area = rect[1][0] * rect[1][1]
    hull = cv2.contourArea(cv2.convexHull(points))
    if area < MIN_PAGE_SHARE * content.size or hull < _MIN_FILL * area:
        return None
    # The box runs through the outermost content pixels' centres, half a pixel inside the
    # outline; JPEG's ringing usually adds about that much, and the content check refines it.
    box = _clockwise(cv2.boxPoints(rect).astype(np.float64))
    whole = _grown_canvas(box, content)
    return box if whole is None else whole


def _grown_canvas(box: Quad, content: np.ndarray) -> Quad | None:
    """The outline of a picture turned as ``box`` (its content's smallest rectangle, pixel
    centres) on a canvas grown to hold it (see _CANVAS_GAP), or None when it is not on
    such a canvas."""
    h, w = content.shape
    across = box[1] - box[0]
    turn = math.degrees(math.atan2(-across[1], across[0]))  # counter-clockwise on screen
    turn = (turn + 45.0) % 90.0 - 45.0  # a quarter turn more is the same outline
    angle = math.radians(abs(turn))
    c, s = math.cos(angle), math.sin(angle)
    if c * c - s * s < 1e-6:
        return None
    width, height = (w * c - h * s) / (c * c - s * s), (h * c - w * s) / (c * c - s * s)
    if width <= 2 or height <= 2:
        return None
    s = math.copysign(s, turn)
    axes = np.array([[c, -s], [s, c]])  # the turned picture's across and down, on screen
    centre = np.array([w / 2, h / 2]) - 0.5  # pixel centres
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    outline = _clockwise(centre + (signs * [width / 2, height / 2]) @ axes)
    # Where the content's box lies in the turned picture, as its distance in from each side
    # (the outermost content pixels' centres lie half a pixel in).
    u, v = ((box - centre) @ axes.T).T
    gaps = np.array([u.min() + width / 2, width / 2 - u.max(), v.min() + height / 2,
                     height / 2 - v.max()]) - 0.5
    if gaps.min() < -_CANVAS_GAP or not (gaps[:2].max() <= _CANVAS_GAP or gaps[2:].max() <= _CANVAS_GAP):
        return None
    grown = centre + (signs * [width / 2 + _CANVAS_GAP, height / 2 + _CANVAS_GAP]) @ axes
    outside = ~_filled(content.shape, grown)
    if outside.any() and float(content[outside].mean()) > _CANVAS_STRAYS:
        return None
    return outline


def _segmented(pixels: np.ndarray) -> Quad | None:
    """The outline of the region that differs from the frame's edge (see _SEGMENT_SIDE), in
    the photo's pixels, or None when that region is not a quadrilateral."""
    small, scale = resize_max_side(pixels, _SEGMENT_SIDE)
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    h, w = small.shape[:2]
    margin = max(2, round(_SEGMENT_MARGIN * max(h, w)))
    if min(h, w) <= 4 * margin:
        return None
    mask = np.zeros((h, w), np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models by k-means++ from OpenCV's RNG, which is per thread and
    # moves on with every use: seeded, the same photo gives the same outline every time.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(np.ascontiguousarray(small), mask, (margin, margin, w - 2 * margin, h - 2 * margin),
                    background, foreground, _SEGMENT_ROUNDS, cv2.GC_INIT_WITH_RECT)
    except cv2.error:  # too few distinct colours to model: no region to find
        return None
    region = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=4)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, width, height = stats[largest, :4]
    if x <= margin or y <= margin or x + width >= w - margin or y + height >= h - margin:
        return None  # cut off by the frame: the page runs out of the photo
    part = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    border = max(contours, key=cv2.contourArea)
    hull = cv2.convexHull(border)
    perimeter = cv2.arcLength(hull, True)
    for tolerance in np.linspace(0.01, 0.1, 19):
        corners = cv2.approxPolyDP(hull, tolerance * perimeter, True)
        if len(corners) <= 4:
            break
    if len(corners) != 4:
        return None
    area = cv2.contourArea(corners)
    if area < MIN_PAGE_SHARE * h * w or int(part.sum()) < _SEGMENT_FILL * area:
        return None
    quad = _refitted(corners[:, 0, :].astype(np.float64), border[:, 0, :].astype(np.float64))
    if quad is None or not (np.abs(quad - [w / 2, h / 2]) <= [(0.5 + _OUTSIDE) * w, (0.5 + _OUTSIDE) * h]).all():
        return None
    return _clockwise((quad + 0.5) / scale - 0.5)


def _refitted(corners: np.ndarray, border: np.ndarray) -> np.ndarray | None:
    """The corners where lines fitted to the ``border`` points along each side between
    ``corners`` meet: simplifying the hull puts corners on its points, a pixel or two off
    the sides' straight runs (Huber fit, each side's ends left out: the corners are
    rounded)."""
    lines = []
    for k in range(4):
        start, end = corners[k], corners[(k + 1) % 4]
        length = float(np.linalg.norm(end - start))
        if length < 4:
            return None
        along = (end - start) / length
        offset = border - start
        t = offset @ along
        near = (t > 0.1 * length) & (t < 0.9 * length)
        near &= np.abs(offset @ np.array([-along[1], along[0]])) < max(3.0, 0.04 * length)
        if near.sum() < 5:
            return None
        vx, vy, x0, y0 = cv2.fitLine(border[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
    out = []
    for k in range(4):
        (p1, d1), (p2, d2) = lines[k - 1], lines[k]
        system = np.array([d1, -d2]).T
        if abs(np.linalg.det(system)) < 1e-3:
            return None
        out.append(p1 + np.linalg.solve(system, p2 - p1)[0] * d1)
    return np.array(out)


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
    width, height = page_size(quad)
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


def _refined(view: PageView, ref: Keypoints, guess: np.ndarray, *, levels: bool = False
             ) -> np.ndarray | None:
    """``guess`` (crop pixels -> reference pixels) corrected by a bounded ECC homography on
    the thumbnail's gradients (or, with ``levels``, its smoothed grey levels); None if ECC
    fails or moves a corner too far."""
    assert ref.image is not None
    th, tw = ref.image.shape[:2]
    step = ecc_step(view.query, ref, guess, _ECC_CRITERIA, _MIN_COVER * th * tw, pinned=True,
                    levels=levels)
    if step is None:
        return None
    refined, warp, _ = step
    if corner_move(warp, (0.0, 0.0, tw, th)) > _MAX_CORNER_MOVE * max(tw, th):
        return None
    return refined


def _squashed(thumb: np.ndarray) -> np.ndarray:
    return cv2.resize(thumb, (QUICK_SIDE, QUICK_SIDE), interpolation=cv2.INTER_AREA)


def _quick(view: PageView, squashed: np.ndarray) -> list[float]:
    """The quick comparison of the page, squared, with a thumbnail ``squashed`` to
    QUICK_SIDE in each of its 8 corner assignments: the lower of the grey levels' and the
    gradients' correlations."""
    levels, gradients = _normalised(squashed)
    return [min(float(a @ levels), float(b @ gradients)) for a, b in view.squares]


def quick_agreement(view: PageView, thumb: np.ndarray) -> float:
    """The page's best quick comparison with the grey thumbnail ``thumb`` (-1..1): what
    ``page_match`` asks first of every candidate, at a fraction of its cost."""
    return max(_quick(view, _squashed(thumb)))


def _finer_than_quick(thumb: np.ndarray, squashed: np.ndarray) -> bool:
    """Whether the reference's detail is finer than the quick comparison's QUICK_SIDE: its
    ``squashed`` copy keeps under _FINE_DETAIL of the thumbnail's grey-level deviation."""
    # Grey levels smoothed as _smoothed smooths them, without its gradients: this is asked
    # of every candidate, before the quick comparison turns most of them away.
    def deviation(grey: np.ndarray) -> float:
        return float(cv2.GaussianBlur(grey.astype(np.float32), (0, 0), _SMOOTHING).std())

    return deviation(squashed) < _FINE_DETAIL * deviation(thumb)


def _distinct(view: PageView, order: list[int], keep: int) -> list[int]:
    """The first ``keep`` of the corner assignments ``order`` lists whose squared page is
    not a look-alike (_LOOK_ALIKE) of one kept before it."""
    out: list[int] = []
    for k in order:
        if len(out) == keep:
            break
        levels, gradients = view.squares[k]
        if not any(min(float(levels @ view.squares[j][0]), float(gradients @ view.squares[j][1])) >= _LOOK_ALIKE
                   for j in out):
            out.append(k)
    return out


def in_focus(query: Keypoints, ref: Keypoints, homography: np.ndarray, as_laid: float) -> float:
    """A placement's agreement ``as_laid`` (``agreement(levels=True)``) or, where higher, its
    agreement against ``ref``'s thumbnail blurred as a photographed page is (PAGE_BLURS)."""
    blurred = (agreement(query, ref, homography, levels=True, ref_blur=blur) for blur in PAGE_BLURS)
    return max([as_laid, *(score for score in blurred if score is not None)])


def page_match(view: PageView, ref: Keypoints, min_agreement: float,
               min_cells: float | None = None, *, bar: float | None = None) -> ContentMatch | None:
    """The best way the page lies on ``ref``'s whole frame whose content agrees at least
    ``min_agreement`` (with the thumbnail as sharp as given or blurred by PAGE_BLURS,
    whichever agrees best; from PAGE_FINE_FLOOR up, both PAGE_COARSER coarser where that
    reaches ``bar``, by default ``min_agreement``) and, if ``min_cells`` is given, whose
    weakest cells (the worst WEAKEST_SHARE, ``keypoints.weakest_cells``) still agree that
    much, or None. Under a ``min_agreement`` that is under ``bar``, a page from SMOOTH_FLOOR
    up is compared coarser too and kept, under ``bar``, where that reaches it. The
    homography maps the photo's pixels to the reference's."""
    if view.query.image is None or ref.image is None or min(ref.image.shape[:2]) < 8:
        return None
    squashed = _squashed(ref.image)
    quick = _quick(view, squashed)
    kept = _distinct(view, [k for k in np.argsort(quick, kind="stable")[::-1] if quick[k] >= MIN_QUICK],
                     QUICK_KEEP)
    guesses = _assignments(view.corners, ref)
    fine = _finer_than_quick(ref.image, squashed)
    judged: list[float | None] = []
    if fine:
        # The quick comparison may see nothing of it: the assignments that agree best as
        # they lie go on too.
        judged = [agreement(view.query, ref, guess, levels=True) for guess in guesses]
        lying = [0.0 if score is None else abs(score) for score in judged]
        kept += [k for k in np.argsort(lying, kind="stable")[::-1][:_FINE_KEEP]
                 if lying[k] >= _FINE_GUESS and k not in kept]
    if not kept:  # most wrong candidates: nothing more to compute for them
        return None
    if float(_smoothed(ref.image)[1].mean()) < _MIN_GRADIENT:
        return None
    best: tuple[float, np.ndarray] | None = None
    for k in kept:
        guess = start = guesses[k]
        # (a fine reference's assignments were all judged as they lie already)
        score = judged[k] if fine else agreement(view.query, ref, guess, levels=True)
        if score is None or (abs(score) < _FINE_GUESS if fine else score < MIN_GUESS):
            continue
        # Refined on the gradients and, from the same guess, on the grey levels: a smooth
        # picture's gradients are its few edges and noise (the colour wheel's are its rim,
        # a circle, about whose centre ECC turned the page or stopped short), and its grey
        # levels are what it has. Measured (2026-12-06): the colour wheel's generated 30 %
        # and 55 % photos (seeds 0-9) found 12 of 20 times before, 19 after; in the `same`
        # suite its 30 % photo at seed 2 agreed 0.173 refined on gradients, 0.965 on levels.
        for on_levels in (False, True):
            refined = _refined(view, ref, start, levels=on_levels)
            if refined is not None:
                again = agreement(view.query, ref, refined, levels=True)
                if again is not None and again > score:
                    score, guess = again, refined
        if best is None or score > best[0]:
            best = (score, guess)
    if best is None:
        return None
    score = in_focus(view.query, ref, best[1], best[0])
    bar = min_agreement if bar is None else bar
    coarse = False
    if PAGE_FINE_FLOOR <= score < bar and not fine:
        compared = agreement(view.query, ref, best[1], levels=True, coarser=PAGE_COARSER)
        if compared is not None and compared >= bar:
            score, coarse = compared, True
    elif SMOOTH_FLOOR <= score < min_agreement < bar and not fine:
        compared = agreement(view.query, ref, best[1], levels=True, coarser=PAGE_COARSER)
        if compared is not None and compared >= min_agreement:
            score, coarse = min(compared, float(np.nextafter(bar, 0.0))), True
    if score < min_agreement:
        return None
    if min_cells is not None:
        cells = weakest_cells(view.query, ref, best[1], WEAKEST_SHARE)
        if cells is None or cells < min_cells:
            return None
    from_photo = best[1] @ np.linalg.inv(view.to_photo)
    return ContentMatch(score, from_photo, (0, 0, ref.width, ref.height), coarse)
