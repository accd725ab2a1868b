"""The copy-detection transform suite: what happens to a picture before someone searches with the copy.

Every transform is a deterministic function ``(pixels, rng) -> pixels`` on HxWx3 RGB uint8
arrays; ``apply_transform(name, pixels, seed)`` runs one by name with its own Generator.
Outputs are contiguous and at least ``MIN_SIDE`` px on each side (a result that would be
smaller, e.g. a 25 % crop of a 64 px image, is upscaled to it).

The page transforms (``PAGE_TRANSFORMS``) simulate a phone photo of the picture printed as
a page or poster lying on a textured surface: perspective, blur, exposure, sensor noise and
the phone's JPEG. ``phone_photo`` and ``partial_photo`` expose the same simulation with its
geometry (``Photo.quad``, ``Photo.homography``) for ground truth and tests.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from tusou.features.pixels import centre_crop, resize_short_side

from .synthetic import FONTS, background, random_words

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]

MIN_SIDE = 50
# phone photos: the longest side of the frame (and of the page before it is photographed)
PHOTO_MAX_SIDE = 1600
# the frame shapes a phone camera produces (width / height); a photo takes the one nearest the page's
_PHONE_ASPECTS = (16 / 9, 4 / 3, 3 / 4, 9 / 16)


def _check(pixels: np.ndarray) -> None:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 RGB uint8 image, got shape {pixels.shape} {pixels.dtype}")
    if min(pixels.shape[:2]) < 1:
        raise ValueError(f"empty image: {pixels.shape}")


def enlarged_to(pixels: np.ndarray, side: int = MIN_SIDE) -> np.ndarray:
    """``pixels`` with its shorter side enlarged to ``side`` (aspect kept, bicubic, as a client
    would before an upload), or as they are where it is already that long."""
    if min(pixels.shape[:2]) >= side:
        return np.ascontiguousarray(pixels)
    return np.ascontiguousarray(resize_short_side(pixels, side, max_ratio=math.inf,
                                                  enlarge_with=cv2.INTER_CUBIC))


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB")).copy()


def _resize_area(pixels: np.ndarray, w: int, h: int) -> np.ndarray:
    ph, pw = pixels.shape[:2]
    if (w, h) == (pw, ph):
        return pixels
    interp = cv2.INTER_AREA if w < pw else cv2.INTER_LINEAR
    return cv2.resize(pixels, (max(1, w), max(1, h)), interpolation=interp)


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    c = rng.integers(0, 256, 3)
    return (int(c[0]), int(c[1]), int(c[2]))


# --- simple edits ------------------------------------------------------------------------------


def _crop50(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Centre crop keeping 50 % of the area."""
    return centre_crop(pixels, 0.5)


def _crop25(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Centre crop keeping 25 % of the area."""
    return centre_crop(pixels, 0.25)


def _crop_offcentre(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """50 % of the area, anchored at a random corner and moved 0-5 % inward from it."""
    h, w = pixels.shape[:2]
    f = math.sqrt(0.5)
    ch, cw = max(1, round(h * f)), max(1, round(w * f))
    top, left = bool(rng.integers(2)), bool(rng.integers(2))
    dy, dx = round(h * rng.uniform(0, 0.05)), round(w * rng.uniform(0, 0.05))
    y0 = min(dy, h - ch) if top else max(0, h - ch - dy)
    x0 = min(dx, w - cw) if left else max(0, w - cw - dx)
    return pixels[y0:y0 + ch, x0:x0 + cw]


def _jpeg15(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """JPEG quality 15 round trip (Pillow)."""
    return _jpeg(pixels, 15)


def _downscale4(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A quarter of each side, but the short side stays at least 64 px (never upscaled)."""
    h, w = pixels.shape[:2]
    s = min(1.0, max(0.25, 64 / min(h, w)))
    return _resize_area(pixels, max(1, round(w * s)), max(1, round(h * s)))


def _rot90(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact 90° rotation (counter-clockwise)."""
    return np.rot90(pixels, 1)


def _rot180(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exact 180° rotation."""
    return np.rot90(pixels, 2)


def _rot8(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """8° counter-clockwise about the centre; the canvas grows to hold it all, corners black."""
    h, w = pixels.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 8.0, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(h * s + w * c)), int(math.ceil(h * c + w * s))
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    return cv2.warpAffine(pixels, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def _hflip(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror left-right."""
    return pixels[:, ::-1]


def _grayscale(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Luma as three equal channels."""
    g = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    return np.repeat(g[:, :, None], 3, axis=2)


def _hue_shift(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hue rotated by 60-120° either way (OpenCV HSV, H in 0..179); saturation and value kept."""
    hsv = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2HSV)
    shift = round(rng.uniform(30, 60)) * (1 if rng.random() < 0.5 else -1)
    hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _text_banner(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A solid band over ~15 % of the height, at the bottom or top, with a caption on it."""
    h, w = pixels.shape[:2]
    bh = max(4, round(0.15 * h))
    y0 = 0 if rng.random() < 0.5 else h - bh
    colour = _random_colour(rng)
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    font = FONTS[int(rng.integers(len(FONTS)))]
    text = " ".join(random_words(rng, int(rng.integers(2, 6))))
    thickness = max(1, round(bh / 18))
    scale = float(cv2.getFontScaleFromHeight(font, max(3, round(bh * rng.uniform(0.45, 0.6))), thickness))
    tw, th = cv2.getTextSize(text, font, scale, thickness)[0]
    if tw > 0.94 * w:
        scale *= 0.94 * w / tw
        tw, th = cv2.getTextSize(text, font, scale, thickness)[0]
    x = int(rng.integers(0, max(1, w - tw)))
    out = pixels.copy()
    out[y0:y0 + bh] = colour
    cv2.putText(out, text, (x, y0 + (bh + th) // 2), font, scale, ink, thickness, cv2.LINE_AA)
    return out


def _border10(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A solid border of 10 % of the height above and below, 10 % of the width left and right."""
    h, w = pixels.shape[:2]
    by, bx = round(0.1 * h), round(0.1 * w)
    return cv2.copyMakeBorder(np.ascontiguousarray(pixels), by, by, bx, bx, cv2.BORDER_CONSTANT,
                              value=_random_colour(rng))


# --- phone photos of printed pages -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Photo:
    """A simulated phone photo and where the photographed page (or window of it) lies in it."""

    pixels: np.ndarray  # HxWx3 RGB uint8
    quad: np.ndarray  # (4,2) float64: page (or window) corners tl, tr, br, bl in the photo's pixels
    homography: np.ndarray  # 3x3: input-image pixel (x, y, 1) -> photo pixel
    window: tuple[int, int, int, int] | None = None  # partial photos: (x, y, w, h) of the window, input pixels

    @property
    def share(self) -> float:
        """Fraction of the photo covered by the visible part of ``quad``."""
        return _visible_share(self.quad, self.pixels.shape[1], self.pixels.shape[0])


def _visible_share(quad: np.ndarray, w: float, h: float) -> float:
    # Sutherland-Hodgman against the frame's four edges, then the shoelace formula.
    # (cv2.intersectConvexConvex misreports polygons that touch along an edge, which the
    # frame search below produces on purpose.)
    poly = [(float(x), float(y)) for x, y in quad]
    for axis, limit, keep_below in ((0, 0.0, False), (0, float(w), True), (1, 0.0, False), (1, float(h), True)):
        out: list[tuple[float, float]] = []
        for i, cur in enumerate(poly):
            prev = poly[i - 1]
            cur_in = cur[axis] <= limit if keep_below else cur[axis] >= limit
            prev_in = prev[axis] <= limit if keep_below else prev[axis] >= limit
            if cur_in != prev_in:
                t = (limit - prev[axis]) / (cur[axis] - prev[axis])
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if cur_in:
                out.append(cur)
        poly = out
        if not poly:
            return 0.0
    xs, ys = np.array([p[0] for p in poly]), np.array([p[1] for p in poly])
    area = 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))
    return area / (float(w) * float(h))


def _jitter_quad(rng: np.random.Generator, corners: np.ndarray, jitter: tuple[float, float]) -> np.ndarray:
    """Each corner moved by ``jitter`` (fraction of its side) in a random direction."""
    rw = corners[1, 0] - corners[0, 0]
    rh = corners[3, 1] - corners[0, 1]
    ang = rng.uniform(0, 2 * math.pi, 4)
    mag = rng.uniform(jitter[0], jitter[1], 4)
    return corners + np.stack([mag * rw * np.cos(ang), mag * rh * np.sin(ang)], axis=1)


def _frame_for(rng: np.random.Generator, quad: np.ndarray, share: float) -> tuple[float, float, float, float]:
    """A frame (x0, y0, w, h), in the quad's units, in which the quad's visible part covers ``share``.

    The frame has the phone aspect nearest the quad's bounding box and is a scaled copy of the
    smallest such box around the quad, scaled about a random point of the quad's bounding box:
    large enough for the whole page at small shares, cutting its corners off at large ones
    (as a phone held close does)."""
    x0, y0 = quad.min(axis=0)
    x1, y1 = quad.max(axis=0)
    bw, bh = x1 - x0, y1 - y0
    aspect = min(_PHONE_ASPECTS, key=lambda a: abs(math.log(a * bh / bw)))
    base_w = max(bw, bh * aspect)
    base_h = base_w / aspect
    ux, uy = rng.uniform(0.25, 0.75, 2)
    cx, cy = x0 + ux * bw, y0 + uy * bh

    def frame(k: float) -> tuple[float, float, float, float]:
        fw, fh = k * base_w, k * base_h
        return cx - ux * fw, cy - uy * fh, fw, fh

    def share_at(k: float) -> float:
        fx, fy, fw, fh = frame(k)
        return _visible_share(quad - np.array([fx, fy]), fw, fh)

    lo, hi = 1e-4, 100.0  # share_at falls as k grows
    for _ in range(48):
        mid = math.sqrt(lo * hi)
        if share_at(mid) > share:
            lo = mid
        else:
            hi = mid
    return frame(math.sqrt(lo * hi))


def _camera(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lens blur, exposure, sensor noise and the phone's JPEG."""
    img = cv2.GaussianBlur(pixels.astype(np.float32), (0, 0), rng.uniform(0.8, 1.5))
    img = img * rng.uniform(0.75, 1.2) + rng.uniform(-20, 20)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(2, 4))
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return _jpeg(out, int(rng.integers(80, 91)))


def _photograph(pixels: np.ndarray, rng: np.random.Generator, region: np.ndarray | None, share: float,
                jitter: tuple[float, float]) -> Photo:
    """Photograph ``pixels`` lying on a textured surface so ``region`` (page corners by default)
    covers ``share`` of the frame. The whole page is rendered: around a window, the rest of
    the page shows where the frame reaches it."""
    _check(pixels)
    h0, w0 = pixels.shape[:2]
    s_in = min(1.0, PHOTO_MAX_SIDE / max(h0, w0))
    page = _resize_area(pixels, max(1, round(w0 * s_in)), max(1, round(h0 * s_in)))
    ph, pw = page.shape[:2]
    sx_in, sy_in = pw / w0, ph / h0
    if region is None:
        corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    else:
        corners = region * np.array([sx_in, sy_in])
    quad_world = _jitter_quad(rng, corners, jitter)
    to_world = cv2.getPerspectiveTransform(corners.astype(np.float32), quad_world.astype(np.float32))
    fx, fy, fw, fh = _frame_for(rng, quad_world, share)
    # the photo's resolution: the page at about its own resolution or a little less, within limits
    s = rng.uniform(0.8, 1.0)
    s = min(s, PHOTO_MAX_SIDE / max(fw, fh))
    s = max(s, 64 / min(fw, fh))
    out_w, out_h = max(64, round(fw * s)), max(64, round(fh * s))
    sx, sy = out_w / fw, out_h / fh
    to_photo = np.array([[sx, 0, -fx * sx], [0, sy, -fy * sy], [0, 0, 1]]) @ to_world  # page px -> photo px

    # shrink the page first when the photo shows it smaller: warpPerspective alone would alias
    ds = min(1.0, max(sx, sy) * 1.25)
    src = _resize_area(page, max(1, round(pw * ds)), max(1, round(ph * ds))) if ds < 0.9 else page
    rs = np.diag([src.shape[1] / pw, src.shape[0] / ph, 1.0])
    m = to_photo @ np.linalg.inv(rs)
    size = (out_w, out_h)
    warped = cv2.warpPerspective(src, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpPerspective(np.full(src.shape[:2], 255, np.uint8), m, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT).astype(np.float32)[..., None] / 255.0
    table = background(rng, out_h, out_w).astype(np.float32)
    img = table + (warped.astype(np.float32) - table) * alpha
    photo = _camera(np.clip(img + 0.5, 0, 255).astype(np.uint8), rng)

    quad = cv2.perspectiveTransform(corners.reshape(1, 4, 2), to_photo).reshape(4, 2)
    homography = to_photo @ np.diag([sx_in, sy_in, 1.0])
    window = None
    if region is not None:
        window = (round(region[0, 0]), round(region[0, 1]), round(region[1, 0] - region[0, 0]),
                  round(region[3, 1] - region[0, 1]))
    return Photo(np.ascontiguousarray(photo), quad.astype(np.float64), homography, window)


def phone_photo(pixels: np.ndarray, rng: np.random.Generator, *, share: float,
                jitter: tuple[float, float] = (0.10, 0.15)) -> Photo:
    """A phone photo of ``pixels`` printed as a page: the page covers ~``share`` of the frame.

    Each page corner moves by ``jitter`` (fraction of the side) in a random direction; the
    page lies on a ``synthetic.background``; the frame has the phone aspect (4:3, 16:9 or
    portrait) nearest the page's, at about the page's own resolution, at most
    ``PHOTO_MAX_SIDE`` px. At high shares the page's corners may fall outside the frame
    (``share`` counts only what is visible). Then blur, exposure, noise, JPEG.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share}")
    return _photograph(pixels, rng, None, share, jitter)


def partial_photo(pixels: np.ndarray, rng: np.random.Generator, *, area: float = 0.4,
                  share: tuple[float, float] = (0.85, 0.95), jitter: tuple[float, float] = (0.05, 0.10)) -> Photo:
    """A phone photo of an axis-aligned window holding ``area`` of the page.

    The window's aspect is 0.6-1.6 times the page's and its position random; it fills a random
    ``share`` of the frame. The rest of the page shows around it where the frame reaches
    (a real photo of part of a page does not stop at the window), the surface beyond the
    page's edges. ``Photo.quad`` is the window's quad and ``Photo.window`` its box.
    """
    if not 0.0 < area <= 1.0:
        raise ValueError(f"area must be in (0, 1], got {area}")
    _check(pixels)
    h, w = pixels.shape[:2]
    f = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))
    ww, wh = min(w, w * math.sqrt(area * f)), min(h, h * math.sqrt(area / f))
    x0, y0 = rng.uniform(0, w - ww), rng.uniform(0, h - wh)
    region = np.array([[x0, y0], [x0 + ww, y0], [x0 + ww, y0 + wh], [x0, y0 + wh]], np.float64)
    return _photograph(pixels, rng, region, rng.uniform(*share), jitter)


def _phone(share: float) -> Transform:
    def run(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return phone_photo(pixels, rng, share=share).pixels

    run.__doc__ = f"Phone photo of the picture printed as a page covering ~{round(share * 100)} % of the frame."
    return run


def _partial40(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Phone photo of a window holding 40 % of the page, filling ~85-95 % of the frame."""
    return partial_photo(pixels, rng).pixels


# --- the registry ------------------------------------------------------------------------------


def _finished(fn: Transform, name: str) -> Transform:
    @functools.wraps(fn)
    def run(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check(pixels)
        return enlarged_to(fn(pixels, rng))

    run.__name__ = run.__qualname__ = name
    return run


COPY_TRANSFORMS: dict[str, Transform] = {
    name: _finished(fn, name)
    for name, fn in (
        ("crop50", _crop50),
        ("crop25", _crop25),
        ("crop_offcentre", _crop_offcentre),
        ("jpeg15", _jpeg15),
        ("downscale4", _downscale4),
        ("rot90", _rot90),
        ("rot180", _rot180),
        ("rot8", _rot8),
        ("hflip", _hflip),
        ("grayscale", _grayscale),
        ("hue_shift", _hue_shift),
        ("text_banner", _text_banner),
        ("border10", _border10),
        ("phone30", _phone(0.30)),
        ("phone55", _phone(0.55)),
        ("phone80", _phone(0.80)),
        ("partial40", _partial40),
    )
}

PAGE_TRANSFORMS: tuple[str, ...] = ("phone30", "phone55", "phone80", "partial40")


def apply_transform(name: str, pixels: np.ndarray, seed: int) -> np.ndarray:
    """Run the transform ``name`` on ``pixels`` with ``numpy.random.default_rng(seed)``."""
    try:
        fn = COPY_TRANSFORMS[name]
    except KeyError:
        raise KeyError(f"unknown transform {name!r}; known: {', '.join(COPY_TRANSFORMS)}") from None
    return fn(pixels, np.random.default_rng(seed))
