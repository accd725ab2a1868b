"""Local features and homography verification: does the query show (part of) the reference?

Used by the ``same`` kind (ORB; partial duplicates, crops, borders) and ``picturebook``
(AKAZE; a phone photo of part of a page). Keypoints are detected on a downscaled grey copy
for speed and stored in the original image's pixel coordinates, so a match box can be
reported in the reference image's own coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import cv2
import numpy as np

from . import keypoint_blobs
from .pixels import resize_max_side

Method = Literal["orb", "akaze"]

# AKAZE's default detector threshold (1e-3) finds few points on soft, low-contrast photos
# of printed pages; 2e-4 finds several hundred there and we keep the strongest anyway.
AKAZE_THRESHOLD = 2e-4


# Stored images keep a grey thumbnail of this long side beside their keypoints: enough to
# check that a geometric match also agrees in content (see ``agreement``), a few KB as JPEG.
THUMB_SIDE = 160
_THUMB_QUALITY = 90
# And a colour one of this long side: grey levels cannot tell a repeated pattern from another
# of its period in other colours (an orange/blue checkerboard agreed 0.98 with a green/cyan
# one), so content-only answers on such a picture also check colour (``colour_agreement``).
COLOUR_SIDE = 128


@dataclass(frozen=True, eq=False)
class Keypoints:
    points: np.ndarray  # (N,2) float32, x/y in the original image's pixels
    descriptors: np.ndarray  # (N,D) uint8 binary descriptors (ORB 32, AKAZE 61 bytes)
    width: int
    height: int
    method: str
    # A grey copy of the image (any size; scaled to width x height when compared), or None
    # for keypoints stored before thumbnails were (those matches skip the content check).
    image: np.ndarray | None = None
    # A small RGB copy (COLOUR_SIDE), or that copy's JPEG bytes as stored (a 1-d uint8
    # array, decoded on first use: a search loads many references and needs the colour of
    # few), or None: grey pictures, and keypoints stored before colour thumbnails were.
    colour_data: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @cached_property
    def matchable(self) -> np.ndarray:
        """The descriptors as matched, padded once to whole SIMD blocks (``_padded``)."""
        return _padded(self.descriptors)

    @cached_property
    def colour(self) -> np.ndarray | None:
        """The RGB colour copy (see ``colour_data``), or None."""
        data = self.colour_data
        if data is None or data.ndim == 3:
            return data
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def to_bytes(self) -> bytes:
        """A blob (``keypoint_blobs``): points as float32, descriptors as uint8, the grey and
        colour thumbnails as JPEG bytes."""
        arrays: dict[str, np.ndarray] = {
            "points": self.points.astype(np.float32),
            "descriptors": self.descriptors.astype(np.uint8),
            "size": np.array([self.width, self.height], np.int32),
            "method": np.frombuffer(self.method.encode("ascii"), np.uint8),
        }
        if self.image is not None:
            thumb, _ = resize_max_side(self.image, THUMB_SIDE)
            ok, jpeg = cv2.imencode(".jpg", thumb, [cv2.IMWRITE_JPEG_QUALITY, _THUMB_QUALITY])
            if ok:
                arrays["thumb"] = jpeg.ravel()
        if self.colour_data is not None and self.colour_data.ndim == 1:
            arrays["colour"] = self.colour_data  # as it was stored
        elif self.colour_data is not None:
            small, _ = resize_max_side(self.colour_data, COLOUR_SIDE)
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                                    [cv2.IMWRITE_JPEG_QUALITY, _THUMB_QUALITY])
            if ok:
                arrays["colour"] = jpeg.ravel()
        return keypoint_blobs.compose(arrays)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Keypoints:
        z = keypoint_blobs.parse(raw)
        w, h = (int(v) for v in z["size"])
        return cls(z["points"], z["descriptors"], w, h, z["method"].tobytes().decode("ascii"),
                   _thumbnail(z), z.get("colour"))


def descriptors_from_bytes(raw: bytes) -> np.ndarray:
    """Only the descriptors of stored keypoints (``Keypoints.to_bytes``): what an index of
    every image's keypoints reads, without decoding thumbnails."""
    return keypoint_blobs.parse(raw, ("descriptors",))["descriptors"]


def thumbnail_from_bytes(raw: bytes) -> np.ndarray | None:
    """Only the grey thumbnail of stored keypoints (``Keypoints.to_bytes``), or None: for
    looks that rank hundreds of thumbnails."""
    return _thumbnail(keypoint_blobs.parse(raw, ("thumb",)))


def thumbnail_and_descriptors_from_bytes(raw: bytes) -> tuple[np.ndarray | None, np.ndarray]:
    """The grey thumbnail (or None) and the descriptors of stored keypoints, in one read:
    for looks that rank hundreds of thumbnails and vote over their descriptors."""
    z = keypoint_blobs.parse(raw, ("thumb", "descriptors"))
    return _thumbnail(z), z["descriptors"]


def _thumbnail(z: dict[str, np.ndarray]) -> np.ndarray | None:
    return cv2.imdecode(z["thumb"], cv2.IMREAD_GRAYSCALE) if "thumb" in z else None


def _grey(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    if pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def colour_copy(pixels: np.ndarray) -> np.ndarray | None:
    """A COLOUR_SIDE RGB copy of ``pixels``, or None for a grey picture."""
    if pixels.ndim != 3:
        return None
    return np.ascontiguousarray(resize_max_side(np.ascontiguousarray(pixels[..., :3]), COLOUR_SIDE)[0])


def _detector(method: Method, max_features: int, sensitive: bool = False) -> cv2.Feature2D:
    if method == "orb":
        # A lower FAST threshold than the default (20) keeps flat, low-contrast images
        # from coming back almost empty; ORB keeps the best max_features by Harris score.
        return cv2.ORB.create(nfeatures=max_features, scaleFactor=1.2, nlevels=8,
                              fastThreshold=_RETRY_FAST_THRESHOLD if sensitive else 12)
    if method == "akaze":
        return cv2.AKAZE.create(threshold=_RETRY_AKAZE_THRESHOLD if sensitive else AKAZE_THRESHOLD)
    raise ValueError(f"unknown keypoint method {method!r}")


# Images are detected with their long side at most WORK_SIDE (shrunk for speed) and at
# least MIN_WORK_SIDE: ORB ignores a 31 px border and FAST needs room, so a 100 px
# thumbnail would otherwise yield no keypoints at all (enlarged at most MAX_UPSCALE times).
WORK_SIDE = 640
MIN_WORK_SIDE = 320
MAX_UPSCALE = 4.0
# ORB on soft or low-contrast pictures (smooth stripes, faded scans) finds few corners at
# the usual FAST threshold; below this share of the budget it tries again more sensitively.
_RETRY_SHARE = 0.25
_RETRY_FAST_THRESHOLD = 4
# AKAZE likewise: a 40 % window of a flat illustration can yield a dozen points at
# AKAZE_THRESHOLD and several dozen at half of it.
_RETRY_AKAZE_THRESHOLD = 1e-4


def _work_copy(grey: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    long_side = max(grey.shape[:2])
    if long_side >= MIN_WORK_SIDE:
        return resize_max_side(grey, max_side)
    scale = min(MIN_WORK_SIDE / long_side, MAX_UPSCALE)
    size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_CUBIC), scale


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
    if len(kps or ()) < _RETRY_SHARE * max_features:
        again = _detector(method, max_features, sensitive=True).detectAndCompute(small, None)
        if len(again[0] or ()) > len(kps or ()):
            kps, desc = again
    if desc is None or not kps:
        dim = 32 if method == "orb" else 61
        return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, dim), np.uint8), width, height,
                         method, small, colour_copy(pixels))
    order = np.argsort([-k.response for k in kps], kind="stable")[:max_features]
    pts = np.array([kps[i].pt for i in order], np.float32)
    # Pixel centres: a point at x in the small image sits at (x + 0.5) / scale - 0.5.
    pts = (pts + 0.5) / np.float32(scale) - 0.5
    return Keypoints(pts, np.ascontiguousarray(desc[order]), width, height, method, small,
                     colour_copy(pixels))


@dataclass(frozen=True, eq=False)
class GeometricMatch:
    inliers: int
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the query's outline in the reference
    homography: np.ndarray  # 3x3, query pixels -> reference pixels
    # How well the query, warped onto the reference, agrees with it in content (see
    # ``agreement``); None when either side has no image to compare.
    agreement: float | None = None
    # The inliers' query points (what the fit rests on; ``refitted`` judges a new
    # homography's plausibility where they are).
    support: np.ndarray | None = None


def _scale_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """3x3 map from full-size pixel coordinates to ``image``'s (a scaled copy)."""
    sx, sy = image.shape[1] / width, image.shape[0] / height
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    # In float64 and with NumPy's own sums, not a BLAS dot: BLAS adds in an order that
    # depends on its threads and on where the arrays lie in memory, and scores must be the
    # same run after run, to the last digit shown.
    a = a.astype(np.float64) - a.mean(dtype=np.float64)
    b = b.astype(np.float64) - b.mean(dtype=np.float64)
    denominator = float(np.sqrt(float(np.sum(a * a)) * float(np.sum(b * b))))
    return float(np.sum(a * b)) / denominator if denominator > 1e-9 else 0.0


# Overlaps smaller than this many thumbnail pixels are too small to judge.
_MIN_OVERLAP = 100
# The overlap is also judged cell by cell (a GRID x GRID split of its bounding box), so that
# a caption or banner pasted over part of a copy cannot outvote the rest; cells mostly
# outside the overlap or without texture in either image do not vote.
_GRID = 4
# weakest_cells' finer split: a picture-book page's illustration spans a third to a half of
# it, several of these cells.
FINE_GRID = 6
# In weakest_cells, a query cell blank in the reference votes only with this much grey-level
# deviation: a photo's noise and uneven light give a few levels on a blank part.
MIN_DRAWN_STD = 8.0
_MIN_CELL_COVER = 0.6
_MIN_CELL_STD = 2.0


def agreement(query: Keypoints, ref: Keypoints, homography: np.ndarray, *,
              levels: bool = False, ref_blur: float = 0.0, coarser: float = 0.0) -> float | None:
    """How well the query, warped onto the reference thumbnail by ``homography``, agrees
    with it in content: the correlation of gradient magnitudes over the whole overlap or,
    if higher, the median of that correlation over textured cells of it (-1..1).

    Keypoints and RANSAC also agree on what merely shares a layout: two pages of one book
    (same frame, margins, type), two forms, two slides of one template. The content in
    between then differs, and this measure sees it. Gradient magnitudes, not grey levels,
    so that grey-scaled, hue-shifted and re-exposed copies still agree.

    ``levels``: the lower of that and the same correlation of grey levels. Gradient
    magnitudes cannot tell a pattern from itself shifted by half its period, or a
    chessboard from its negative; grey levels can, where no keypoints pinned the alignment.

    ``ref_blur``: the reference thumbnail blurred this much more (Gaussian sigma, thumbnail
    pixels) than the query, for a query known to be blurrier than its reference.

    ``coarser``: both compared blurred this much more (sigma, thumbnail pixels).
    """
    laid = _laid(query, ref, homography, ref_blur, coarser)
    if laid is None:
        return None if query.image is None or ref.image is None else 0.0
    grey_a, grad_a, grey_b, grad_b, mask = laid
    cells = _textured_cells(mask, grey_a, grey_b)
    score = _correlation(grad_a, grad_b, mask, cells)
    if levels:
        score = min(score, _correlation(grey_a, grey_b, mask, cells))
    return score


def weakest_cells(query: Keypoints, ref: Keypoints, homography: np.ndarray, share: float, *,
                  drawn: float = MIN_DRAWN_STD) -> float | None:
    """The grey-level correlation that the worst ``share`` of the overlap's finer cells
    (FINE_GRID x FINE_GRID) fall to or below: where ``agreement`` asks whether most of the
    overlap agrees, this asks whether every part does. A cell votes where the reference has
    texture, or where the query has clearly more than a photo's noise and uneven light
    (grey-level deviation ``drawn``): a part that is blank in one and drawn in the other
    disagrees.

    Pages of one picture book share their margins, frame and lines of type, which can be
    most of a page: laid on another page of its book, a photo agreed up to 0.974 while the
    illustrations, half the page, did not agree at all (benchmarks/studies/pages.py)."""
    laid = _laid(query, ref, homography)
    if laid is None:
        return None if query.image is None or ref.image is None else 0.0
    grey_a, _, grey_b, _, mask = laid
    values = [_ncc(grey_a[r, c][m], grey_b[r, c][m])
              for r, c, m in _cells(mask, grey_a, grey_b, FINE_GRID, (_MIN_CELL_STD, drawn), both=False)]
    if not values:
        return _ncc(grey_a[mask], grey_b[mask])
    return float(np.quantile(values, share, method="lower"))


# colour_agreement: a reference whose median chroma (CIELAB a*b*, 0..~130) is below this is
# too grey for colour to tell anything; a pixel agrees where the chroma differs less than
# COLOUR_TOLERANCE (a photo's exposure and JPEG move it a few units, another colour tens).
MIN_CHROMA = 8.0
COLOUR_TOLERANCE = 16.0
# vividness_agreement: a pixel is as vivid as the reference's within this (0..255).
VIVIDNESS_TOLERANCE = 24.0


def colour_agreement(query: Keypoints, ref: Keypoints, homography: np.ndarray, *,
                     greys: bool = False) -> float | None:
    """The share of the overlap where the query, laid on the reference's colour thumbnail by
    ``homography``, has the reference's colour (CIELAB chroma within COLOUR_TOLERANCE), or
    None when either has no colour copy, the overlap is too small, or the reference is too
    grey for colour to tell (MIN_CHROMA) and ``greys`` does not ask whether the query is
    grey there too.

    Chroma only, not lightness: exposure and contrast are already judged in grey levels,
    and a photo changes them more than it changes colour. But not nothing: CIELAB chroma
    grows and shrinks with exposure, so the reference's colours are compared as the photo's
    exposure shows them (``_exposed_colours``)."""
    laid = _overlay(query.colour, query, ref.colour, ref, homography)
    if laid is None:
        return None
    thumb, warped, mask = laid
    chroma_ref, chroma_query = _chroma(_exposed_colours(thumb, warped, mask))[mask], _chroma(warped)[mask]
    if not greys and float(np.median(np.hypot(chroma_ref[:, 0], chroma_ref[:, 1]))) < MIN_CHROMA:
        return None
    difference = chroma_ref - chroma_query
    return float(np.mean(np.hypot(difference[:, 0], difference[:, 1]) < COLOUR_TOLERANCE))


def hue_blind(keypoints: Keypoints) -> Keypoints | None:
    """``keypoints`` with its colour copy's HSV value (the largest of R, G and B) as its grey
    copy, or None without a colour copy. A hue rotation (an editor's hue slider) keeps
    every pixel's value; it does not keep luma, whose weights differ by channel: stripes of
    orange and beige turned towards blue and green had their grey-level contrast changed so
    much that the whole-frame look compared them 0.929 in grey levels, 0.971 in value."""
    colour = keypoints.colour
    if colour is None:
        return None
    return replace(keypoints, image=np.ascontiguousarray(colour.max(axis=2)), colour_data=colour)


def vividness_agreement(query: Keypoints, ref: Keypoints, homography: np.ndarray) -> float | None:
    """The share of the overlap where the query, laid on the reference's colour thumbnail by
    ``homography``, is as vivid as the reference (HSV chroma, the largest of R, G and B less
    the smallest, within VIVIDNESS_TOLERANCE on 0..255), whatever its hue: a hue rotation
    keeps it, so it tells a repeated pattern's hue-turned copy from another pattern of its
    period and values where ``colour_agreement`` cannot. None without both colour copies or
    overlap."""
    laid = _overlay(query.colour, query, ref.colour, ref, homography)
    if laid is None:
        return None
    thumb, warped, mask = laid

    def vividness(rgb: np.ndarray) -> np.ndarray:
        blurred = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.0)
        out: np.ndarray = blurred.max(axis=2) - blurred.min(axis=2)
        return out

    return float(np.mean(np.abs(vividness(thumb) - vividness(warped))[mask] < VIVIDNESS_TOLERANCE))


def colour_spread(query: Keypoints, ref: Keypoints, homography: np.ndarray) -> float | None:
    """How much the reference's colours vary where the query lies on it by ``homography``:
    the median distance (CIELAB a*b*) of the overlap's chroma from its mean; None without
    colour copies or overlap. Agreeing in colours that vary by several times
    COLOUR_TOLERANCE pins a placement; agreeing in one tint does not."""
    laid = _overlay(query.colour, query, ref.colour, ref, homography)
    if laid is None:
        return None
    thumb, _, mask = laid
    chroma = _chroma(thumb.astype(np.float32))[mask]
    offsets = chroma - chroma.mean(axis=0)
    return float(np.median(np.hypot(offsets[:, 0], offsets[:, 1])))


# A photo's exposure as _exposed_colours accepts it: the reference's grey levels mapped to
# the photo's by a line of slope within EXPOSURE_SLOPE and offset within EXPOSURE_OFFSET
# (0..255; the suite's phone photos scale by 0.75-1.2 and lift by up to 20 levels, then
# blur). Beyond it a lighter or darker colourway of a pattern would pass as an exposure.
EXPOSURE_SLOPE = (0.6, 1.6)
EXPOSURE_OFFSET = 48.0
# The line is fitted to both copies blurred this much (sigma, COLOUR_SIDE px).
_EXPOSURE_BLUR = 3.0


def _exposed_colours(thumb: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The reference's colour copy ``thumb`` as the photo ``warped`` (laid on it, ``mask``
    where they overlap) shows it: mapped channel by channel by the line fitting their grey
    levels and clipped, as float32; unchanged (as float32) where that line is not an
    exposure (EXPOSURE_SLOPE, EXPOSURE_OFFSET). The colour wheel's partial photo, 0.72 as
    bright as its original, had its colours in 0.63 of the overlap, 1.0 compared so."""
    out = thumb.astype(np.float32)
    # Both blurred alike first: a photo's blur flattens the fitted line (its detail has less
    # contrast than the sharp thumbnail's) where its exposure did not (a generated page's
    # partial photo: 0.83 x + 35 fitted sharp, which took its colours from 0.997 to 0.83).
    # The overlap's edge is left out, where the blur mixes in what lies outside it.
    reach = 2 * round(2 * _EXPOSURE_BLUR) + 1
    inside = cv2.erode(mask.astype(np.uint8), np.ones((reach, reach), np.uint8)) > 0
    line = _exposure_line(cv2.GaussianBlur(_grey(out), (0, 0), _EXPOSURE_BLUR),
                          cv2.GaussianBlur(_grey(warped), (0, 0), _EXPOSURE_BLUR), inside)
    if line is None or not EXPOSURE_SLOPE[0] <= line[0] <= EXPOSURE_SLOPE[1] or abs(line[1]) > EXPOSURE_OFFSET:
        return out
    shown: np.ndarray = np.clip(line[0] * out + np.float32(line[1]), 0.0, 255.0).astype(np.float32)
    return shown


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """CIELAB a*, b* of float RGB (0..255), lightly blurred as ``_smoothed`` blurs grey."""
    blurred = cv2.GaussianBlur(rgb, (0, 0), 1.0)
    lab = cv2.cvtColor(np.clip(blurred / 255.0, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)
    return np.ascontiguousarray(lab[..., 1:])


Laid = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _laid(query: Keypoints, ref: Keypoints, homography: np.ndarray, ref_blur: float = 0.0,
          coarser: float = 0.0) -> Laid | None:
    """The reference thumbnail's (blurred ``ref_blur`` more) and the warped query's grey
    levels and gradients (both blurred ``coarser`` more), and where they overlap; None
    without images or when the overlap is too small to judge."""
    laid = _overlay(query.image, query, ref.image, ref, homography)
    if laid is None:
        return None
    thumb, warped, mask = laid
    sigma = float(np.hypot(_SMOOTHING, coarser))
    grey_a, grad_a = _smoothed(_exposed_as(thumb, warped, mask), float(np.hypot(sigma, ref_blur)))
    grey_b, grad_b = _smoothed(warped, sigma)
    return grey_a, grad_a, grey_b, grad_b, mask


# A photo's exposure can push a bright picture past white (or a dark one past black): the
# query is then flat where the reference still has content, and disagrees there by nothing
# but the clipping. Where at least _MIN_CLIPPED of the overlap is at the query's white or
# black (within _CLIP_MARGIN levels), the reference is compared as such a photo shows it.
_CLIP_MARGIN = 5.0
_MIN_CLIPPED = 0.05


def _exposed_as(thumb: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``thumb`` as the photo ``warped`` would show it where the photo's exposure clipped:
    its grey levels mapped by the line that fits the photo's unclipped ones
    (``_exposure_line``) and clipped to 0..255 too; ``thumb`` itself where little is
    clipped, or where that line says the photo's white and black are the picture's own.

    Correlation is blind to a line (exposure and contrast), not to where it saturates: a
    washed-out photo of a soft texture (three quarters at white) agreed 0.55 with its
    original laid by 45 inliers, 0.62 compared so. A wrong placement gains little: the
    line fitted to it is flat, and a flat line clips nothing."""
    clipped = mask & ((warped >= 255.0 - _CLIP_MARGIN) | (warped <= _CLIP_MARGIN))
    if int(clipped.sum()) < _MIN_CLIPPED * int(mask.sum()):
        return thumb
    line = _exposure_line(thumb, warped, mask)
    if line is None:
        return thumb
    shown = line[0] * thumb.astype(np.float64) + line[1]
    if float(shown.max()) <= 255.0 and float(shown.min()) >= 0.0:
        return thumb  # the line clips nothing: correlation is the same either way
    return np.clip(shown, 0.0, 255.0).astype(np.float32)


def _exposure_line(thumb: np.ndarray, warped: np.ndarray, mask: np.ndarray
                   ) -> tuple[float, float] | None:
    """(slope, offset) of the line that maps the reference's grey levels ``thumb`` to the
    photo's ``warped`` (least squares over the overlap ``mask``, leaving out what the photo
    clipped), or None where too little is left or the line does not rise: no photo inverts
    its picture."""
    free = mask & (warped < 255.0 - _CLIP_MARGIN) & (warped > _CLIP_MARGIN)
    if int(free.sum()) < _MIN_OVERLAP:
        return None
    # NumPy's own sums, as in _ncc: the same scores run after run.
    ref = thumb[free].astype(np.float64)
    photo = warped[free].astype(np.float64)
    ref_centred = ref - ref.mean()
    spread = float(np.sum(ref_centred * ref_centred))
    if spread < 1e-6:
        return None
    slope = float(np.sum(ref_centred * (photo - photo.mean()))) / spread
    if slope <= 0.0:
        return None
    return slope, float(photo.mean()) - slope * float(ref.mean())


def _overlay(image: np.ndarray | None, query: Keypoints, thumb: np.ndarray | None, ref: Keypoints,
             homography: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``thumb`` (a copy of the reference, grey or colour), ``image`` (the same kind of copy
    of the query) laid on it by ``homography``, and where the two overlap; None without
    both copies, or when the overlap is too small to judge."""
    if image is None or thumb is None:
        return None
    warp = (_scale_to(thumb, ref.width, ref.height) @ homography
            @ np.linalg.inv(_scale_to(image, query.width, query.height)))
    laid = warp_onto(image, warp, (thumb.shape[1], thumb.shape[0]))
    if laid is None:
        return None
    warped, footprint = laid
    mask = footprint > 0
    return None if int(mask.sum()) < _MIN_OVERLAP else (thumb, warped, mask)


def warp_onto(image: np.ndarray, warp: np.ndarray, size: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """Grey (or colour) ``image`` warped by the 3x3 ``warp`` onto a ``size`` (width, height)
    canvas, as float32, and where it landed (uint8, 1 inside, eroded so that edges do not
    count); None if the warp sends the image's centre to infinity. Where the warp shrinks
    the image a lot, it is blurred first, so that the comparison sees no aliasing. Beyond
    the footprint the image's edge is repeated, not black: content is compared smoothed
    (``_smoothed``), and a black surround would blur a step into the footprint's edge that
    outweighs a soft picture's own gradients (a quarter crop of a soft texture, grey levels
    deviating 8, agreed 0.86 with the place it was cut from; 0.99 so)."""
    centre = np.array([image.shape[1] / 2, image.shape[0] / 2, 1.0])
    w = float(warp[2] @ centre)
    if abs(w) < 1e-12:
        return None
    jac = (warp[:2, :2] - np.outer((warp[:2] @ centre) / w, warp[2, :2])) / w
    shrink = 1.0 / np.sqrt(max(abs(float(np.linalg.det(jac))), 1e-12))
    source: np.ndarray = image.astype(np.float32)
    if shrink > 1.5:
        source = cv2.GaussianBlur(source, (0, 0), 0.5 * shrink)
    warped = cv2.warpPerspective(source, warp, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    footprint = cv2.warpPerspective(np.ones(source.shape[:2], np.uint8), warp, size,
                                    flags=cv2.INTER_NEAREST)
    return warped, cv2.erode(footprint, np.ones((5, 5), np.uint8))


Cell = tuple[slice, slice, np.ndarray]


def _textured_cells(mask: np.ndarray, grey_a: np.ndarray, grey_b: np.ndarray) -> list[Cell]:
    """The GRID x GRID cells of the overlap's bounding box that may vote: mostly inside the
    overlap, and with texture in both images (rows, columns, and the overlap within)."""
    return _cells(mask, grey_a, grey_b, _GRID, (_MIN_CELL_STD, _MIN_CELL_STD), both=True)


def _cells(mask: np.ndarray, grey_a: np.ndarray, grey_b: np.ndarray, grid: int,
           floors: tuple[float, float], *, both: bool) -> list[Cell]:
    """The ``grid`` x ``grid`` cells of the overlap's bounding box mostly inside the overlap
    whose grey levels deviate at least ``floors`` (a's, b's) in both images, or with
    ``both`` False in either."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    cells = []
    for i in range(grid):
        rows = slice(y0 + (y1 - y0) * i // grid, y0 + (y1 - y0) * (i + 1) // grid)
        for j in range(grid):
            cols = slice(x0 + (x1 - x0) * j // grid, x0 + (x1 - x0) * (j + 1) // grid)
            inside = mask[rows, cols]
            if inside.size == 0 or inside.mean() < _MIN_CELL_COVER or inside.sum() < 20:
                continue
            textured = (grey_a[rows, cols][inside].std() >= floors[0],
                        grey_b[rows, cols][inside].std() >= floors[1])
            if all(textured) if both else any(textured):
                cells.append((rows, cols, inside))
    return cells


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray, cells: list[Cell]) -> float:
    """The correlation of ``a`` and ``b`` over ``mask`` or, if higher, its median over
    ``cells``."""
    whole = _ncc(a[mask], b[mask])
    if not cells:
        return whole
    return max(whole, float(np.median([_ncc(a[r, c][m], b[r, c][m]) for r, c, m in cells])))


# The light blur (sigma, px) that content is compared at.
_SMOOTHING = 1.0


def _smoothed(image: np.ndarray, sigma: float = _SMOOTHING) -> tuple[np.ndarray, np.ndarray]:
    """Grey ``image`` as float, blurred ``sigma`` (JPEG and resampling noise), and its
    gradient magnitudes: what content is compared by."""
    grey = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    dx, dy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    # NumPy, not cv2.magnitude: OpenCV's vectorised square root rounds the last bit
    # differently from one call to the next (where the array lies in memory decides which
    # pixels take the vector path), and ECC then drifts the page look's score by up to 1e-5.
    return grey, np.sqrt(dx * dx + dy * dy)


# periodicity at or above this: the picture repeats a pattern (checkerboards, dot grids and
# stripes about 0.95-1.0; photos and pages 0.4-0.8).
PERIODIC = 0.9


def periodicity(image: np.ndarray) -> float:
    """How periodic grey ``image`` is: the strongest off-centre peak of its gradient
    magnitudes' autocorrelation (shifts of 6+ px, up to half the size), relative to the
    centre (0..1). Checkerboards and dot grids score about 0.97; photos and pages 0.4-0.8.
    Keypoints on a repeated pattern find a plausible fit on any other pattern of its period."""
    _, grad = _smoothed(image)
    grad -= grad.mean()
    h, w = grad.shape
    spectrum = np.fft.rfft2(grad, s=(2 * h, 2 * w))
    corr = np.fft.irfft2(spectrum * np.conj(spectrum), s=(2 * h, 2 * w))
    dy = np.minimum(np.arange(2 * h), 2 * h - np.arange(2 * h))[:, None]
    dx = np.minimum(np.arange(2 * w), 2 * w - np.arange(2 * w))[None, :]
    overlap = np.clip(h - dy, 0, None) * np.clip(w - dx, 0, None)
    corr = corr / np.maximum(overlap, 1)  # per overlapping pixel, so far shifts are not penalised
    if corr[0, 0] <= 1e-9:
        return 0.0
    shifts = (dy < h // 2) & (dx < w // 2) & (dy**2 + dx**2 >= 36)
    return float(corr[shifts].max() / corr[0, 0]) if shifts.any() else 0.0


# in_phase: how far the grey levels may move an alignment, as a share of the thumbnail's
# long side (half a period of the coarsest stripes measured, 10 px at 160, fits in it).
PHASE_RADIUS = 0.1
# ... and the least the laid query's inner part must measure, in thumbnail pixels, to be slid.
_MIN_PHASE_TEMPLATE = 16


def in_phase(query: Keypoints, ref: Keypoints, homography: np.ndarray,
             radius: float = PHASE_RADIUS) -> np.ndarray:
    """``homography`` moved, by at most ``radius`` of the thumbnail's long side, to where the
    laid query's grey levels correlate best with the thumbnail's; unchanged when the overlap
    is too small to slide.

    Alignments of a repeated pattern are found on gradient magnitudes, which are the same a
    half period on, where the grey levels are the negative of the reference's (a stripe crop
    laid at -0.95): the grey levels put it back in phase. Unchanged means the very object
    given."""
    laid = _overlay(query.image, query, ref.image, ref, homography)
    if laid is None:
        return homography
    thumb, warped, mask = laid
    r = max(1, round(radius * max(thumb.shape[:2])))
    ys, xs = np.nonzero(mask)
    y1, y2, x1, x2 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    if min(y2 - y1, x2 - x1) - 2 * r < _MIN_PHASE_TEMPLATE:
        return homography
    template = np.ascontiguousarray(warped[y1 + r:y2 - r, x1 + r:x2 - r], np.float32)
    result = cv2.matchTemplate(np.ascontiguousarray(thumb[y1:y2, x1:x2], np.float32), template,
                               cv2.TM_CCOEFF_NORMED)
    _, _, _, (bx, by) = cv2.minMaxLoc(result)
    if (bx, by) == (r, r):
        return homography
    to_thumb = _scale_to(thumb, ref.width, ref.height)
    shift = np.array([[1.0, 0.0, bx - r], [0.0, 1.0, by - r], [0.0, 0.0, 1.0]])
    moved: np.ndarray = np.linalg.inv(to_thumb) @ shift @ to_thumb @ homography
    return moved


# OpenCV's Hamming distance runs its vector loop over whole SIMD registers (16 or 32 bytes),
# the rest by a slower scalar loop: AKAZE's 61-byte descriptors padded with zero bytes to 64
# (every distance the same) match 20-30 % faster (a stored page's 1,000 against another's,
# 5.6-6.1 -> 4.2-4.7 ms). Padding takes 30 us a thousand, so each side is padded once
# (``Keypoints.matchable``): a query meets hundreds of references, a reference several looks.
_BLOCK = 32


def _padded(descriptors: np.ndarray) -> np.ndarray:
    extra = -descriptors.shape[1] % _BLOCK
    return np.pad(descriptors, ((0, 0), (0, extra))) if extra else descriptors


def _good_matches(query: Keypoints, ref: Keypoints, ratio: float, cross_check: bool) -> list[tuple[int, int]]:
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    forward = matcher.knnMatch(query.matchable, ref.matchable, k=2)
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
        backward = matcher.match(ref.matchable, query.matchable)
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


# The inliers' convex hull must cover at least this share of the query or of the reference.
# Measured on the `same` suite: true matches >= 0.021 (a partial photo), while wrong fits that
# agreed in content (0.61-0.78 with 10-17 inliers) covered 0.002-0.010 of both.
MIN_SUPPORT_SHARE = 0.01


def _hull_share(points: np.ndarray, width: int, height: int) -> float:
    if len(points) < 3:
        return 0.0
    area = cv2.contourArea(cv2.convexHull(points.astype(np.float32)))
    return float(area) / max(width * height, 1)


def _plausible(
    h: np.ndarray, query: Keypoints, ref: Keypoints, support: np.ndarray
) -> tuple[int, int, int, int] | None:
    """The clipped box of the query's outline in the reference, or None if ``h`` is
    degenerate where the matches are (``support``: inlier query points): mirrored, wildly
    anisotropic, absurdly scaled, twisted, collapsed to a sliver, or resting on a speck of
    both pictures."""
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
    # Inliers bunched on one small detail in both pictures (a sun disc on two generated
    # landscapes) extrapolate a fit over everything else: a shared detail, not a copy.
    support_ref, _ = _project(h, support)
    if max(_hull_share(support, query.width, query.height),
           _hull_share(support_ref, ref.width, ref.height)) < MIN_SUPPORT_SHARE:
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
    judge_from: int = 0,
) -> GeometricMatch | None:
    """Match ``query`` against ``ref`` and fit a homography; None if it is not the same
    flat content (fewer than ``min_inliers`` consistent matches or an implausible fit).
    The content is compared (``agreement``) only for fits of ``judge_from`` inliers or more
    (the content check is the costly part); others come back with agreement None."""
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
    judged = agreement(query, ref, h) if inliers >= judge_from else None
    return GeometricMatch(inliers, box, h, judged, src[inlier])


def refitted(match: GeometricMatch, homography: np.ndarray, judged: float, query: Keypoints,
             ref: Keypoints) -> GeometricMatch | None:
    """``match`` laid by ``homography`` instead (its fit corrected by content, where it
    agrees ``judged`` in gradients and grey levels: ``agreement(levels=True)``, as the
    refining measured it): the box anew; None where the new homography is implausible at
    the match's inliers, or the match keeps no inliers."""
    if match.support is None:
        return None
    box = _plausible(homography, query, ref, match.support)
    if box is None:
        return None
    if abs(homography[2, 2]) > 1e-9:
        homography = homography / homography[2, 2]
    return GeometricMatch(match.inliers, box, homography, judged, match.support)
