"""Procedural images for the evaluation suite: backgrounds, distractors, book pages, placed subjects.

Everything is drawn with numpy and OpenCV from a seed or a ``numpy.random.Generator``, so an
evaluation set can be rebuilt anywhere from its seeds alone: nothing is downloaded, no file is
read and there is no global random state. All images are HxWx3 RGB uint8.

- ``background``: a textured table / carpet / wall / fabric to photograph a page on or to put a
  cut-out subject on.
- ``distractor``: an unrelated image for a library (shapes, landscape, document, pattern or a
  collage of those; the family follows ``seed % 5``).
- ``page``: a picture-book page (paper, title, illustrations, text, page number).
- ``place_subject``: composite a masked subject onto a new background.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable

import cv2
import numpy as np

DISTRACTOR_FAMILIES: tuple[str, ...] = ("shapes", "landscape", "document", "pattern", "collage")

# Seed-sequence salts: distractor(5), page(5) and book 5 must not share a random stream.
_DISTRACTOR_SALT = 0x7D15
_PAGE_SALT = 0x9A6E
_BOOK_SALT = 0xB00C

FONTS: tuple[int, ...] = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_COMPLEX_SMALL,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SIMPLEX | cv2.FONT_ITALIC,
    cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC,
)

_ONSETS = (
    "", "", "b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n", "p",
    "pl", "qu", "r", "s", "sh", "sl", "st", "t", "th", "tr", "v", "w", "y", "z",
)  # fmt: skip
_NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ee", "oo", "ou", "y")
_CODAS = ("", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "x", "rt")


# --- words -------------------------------------------------------------------------------------


def random_word(rng: np.random.Generator) -> str:
    """A pronounceable made-up word of 1-4 syllables (no word list needed)."""
    n = int(rng.choice([1, 1, 2, 2, 2, 3, 3, 4]))
    parts = []
    for _ in range(n):
        parts.append(_ONSETS[rng.integers(len(_ONSETS))])
        parts.append(_NUCLEI[rng.integers(len(_NUCLEI))])
        parts.append(_CODAS[rng.integers(len(_CODAS))])
    return "".join(parts) or "a"


def random_words(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` made-up words."""
    return [random_word(rng) for _ in range(n)]


def _sentence(rng: np.random.Generator, n: int) -> str:
    words = random_words(rng, n)
    words[0] = words[0].capitalize()
    return " ".join(words) + str(rng.choice([".", ".", ".", "!", "?", ","]))


# --- colour and noise helpers ------------------------------------------------------------------


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return np.array([r, g, b], np.float32) * 255.0


def _palette(rng: np.random.Generator, n: int, *, sat: tuple[float, float] = (0.25, 0.9),
             val: tuple[float, float] = (0.25, 0.98)) -> np.ndarray:
    """``n`` colours (n x 3 float32, 0..255) following a random colour scheme, as a designer would pick."""
    base = rng.random()
    scheme = rng.integers(4)
    cols = []
    for i in range(n):
        if scheme == 0:  # analogous
            h = base + rng.uniform(-0.08, 0.08)
        elif scheme == 1:  # complementary
            h = base + 0.5 * (i % 2) + rng.uniform(-0.04, 0.04)
        elif scheme == 2:  # triadic
            h = base + (i % 3) / 3 + rng.uniform(-0.03, 0.03)
        else:  # anything goes
            h = rng.random()
        cols.append(_hsv(h, rng.uniform(*sat), rng.uniform(*val)))
    return np.stack(cols)


def _spread(colours: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The colours with their HSV value set to an even ramp from ``lo`` to ``hi``: a gradient
    through them then always has contrast, whatever hues the palette drew."""
    out = []
    for i, c in enumerate(colours):
        h, s, _ = colorsys.rgb_to_hsv(*(float(x) / 255.0 for x in c))
        out.append(_hsv(h, s, lo + (hi - lo) * i / max(1, len(colours) - 1)))
    return np.stack(out)


def _colour_map(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map values in 0..1 (HxW) through a gradient of ``colours`` (k x 3) to HxWx3 float32."""
    stops = np.linspace(0.0, 1.0, len(colours))
    ramp = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(ramp, stops, colours[:, c]) for c in range(3)], axis=1).astype(np.float32)
    idx = np.clip(values * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(cv2.LUT(cv2.merge([idx, idx, idx]), lut.reshape(1, 256, 3)), np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return ((x - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros_like(x, np.float32)


def _value_noise(rng: np.random.Generator, h: int, w: int, *, cell: float, octaves: int,
                 persistence: float = 0.5) -> np.ndarray:
    """Multi-octave value noise in 0..1 (HxW float32); ``cell`` is the coarsest feature size in px."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for _ in range(octaves):
        if cell < 1.5:
            break
        gh, gw = int(math.ceil(h / cell)) + 3, int(math.ceil(w / cell)) + 3
        grid = rng.random((gh, gw), dtype=np.float32)
        # a random sub-cell offset, so the octaves' grid lines do not line up
        oy, ox = rng.uniform(0.5, 1.5, 2)
        # Output pixel (x, y) samples the grid at (x / cell + ox, y / cell + oy), bicubic. Coarse
        # octaves are sampled at 8 px per cell and then upsampled linearly: the same smooth
        # surface at a fraction of the cost of a full-size bicubic warp.
        r = max(1.0, cell / 8)
        sw, sh = int(math.ceil(w / r)), int(math.ceil(h / r))
        m = np.array([[r / cell, 0, ox], [0, r / cell, oy]], np.float64)
        up = cv2.warpAffine(grid, m, (sw, sh), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REFLECT)
        if (sw, sh) != (w, h):
            up = cv2.resize(up, (int(round(sw * r)), int(round(sh * r))), interpolation=cv2.INTER_LINEAR)[:h, :w]
        out += np.float32(amp) * up
        amp *= persistence
        cell /= 2.0
    return _normalise(out)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(img + 0.5, 0, 255).astype(np.uint8))


def _grain(rng: np.random.Generator, img: np.ndarray, sigma: float) -> np.ndarray:
    # luminance grain only: a third of the random numbers, and film/sensor grain mostly is
    noise = rng.standard_normal(img.shape[:2], dtype=np.float32) * np.float32(sigma)
    return img + noise[..., None]


def _gradient(rng: np.random.Generator, h: int, w: int, c0: np.ndarray, c1: np.ndarray) -> np.ndarray:
    """Linear gradient from ``c0`` to ``c1`` at a random angle (HxWx3 float32)."""
    a = rng.uniform(0, 2 * math.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = _normalise(x * math.cos(a) + y * math.sin(a))
    return c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]


def _ink(colour: np.ndarray) -> tuple[float, float, float]:
    return (float(colour[0]), float(colour[1]), float(colour[2]))


# --- backgrounds -------------------------------------------------------------------------------


def _bg_mottled(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Carpet, stone or plaster: coloured multi-octave noise with fine fibres."""
    n = _value_noise(rng, h, w, cell=max(h, w) / rng.uniform(2, 10), octaves=int(rng.integers(5, 9)),
                     persistence=rng.uniform(0.5, 0.75))
    lo = rng.uniform(0.12, 0.55)
    pal = _spread(_palette(rng, int(rng.integers(2, 5)), sat=(0.05, 0.6)), lo, lo + rng.uniform(0.3, 0.45))
    img = _colour_map(n, pal[rng.permutation(len(pal))])
    fibre = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), rng.uniform(0.5, 1.2))
    return img * (0.75 + 0.5 * _normalise(fibre))[..., None]


def _bg_wood(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Wooden planks: warped growth rings, streaks along the grain and plank seams."""
    vertical = bool(rng.random() < 0.5)
    hh, ww = (w, h) if vertical else (h, w)  # drawn with the grain along x, transposed after
    y = np.arange(hh, dtype=np.float32)[:, None]
    warp = _value_noise(rng, hh, ww, cell=max(hh, ww) / rng.uniform(1.5, 4), octaves=3)
    rings = y / rng.uniform(8, 40) + warp * rng.uniform(2, 6)
    t = (0.5 + 0.5 * np.sin(2 * math.pi * rings)) ** rng.uniform(1.0, 3.0)
    gw = int(ww / rng.uniform(30, 90)) + 2
    streak = cv2.resize(rng.random((hh // 2 + 2, gw), dtype=np.float32), (ww, hh), interpolation=cv2.INTER_LINEAR)
    # pores and fibres: fine, dark dashes along the grain
    pores = cv2.resize(rng.random((hh, int(ww / rng.uniform(6, 20)) + 2), dtype=np.float32), (ww, hh),
                       interpolation=cv2.INTER_LINEAR)
    pores = np.clip((pores - rng.uniform(0.6, 0.8)) * 4, 0, 1)
    v = _normalise(0.55 * t + 0.3 * streak + 0.15 * warp - rng.uniform(0.25, 0.45) * pores)
    if rng.random() < 0.8:
        hue = rng.uniform(0.04, 0.11)
        cols = np.stack([_hsv(hue, rng.uniform(0.5, 0.8), rng.uniform(0.2, 0.4)),
                         _hsv(hue + 0.01, rng.uniform(0.4, 0.7), rng.uniform(0.5, 0.85))])
    else:  # painted or weathered wood
        lo = rng.uniform(0.3, 0.6)
        cols = _spread(_palette(rng, 2, sat=(0.0, 0.3)), lo, lo + rng.uniform(0.25, 0.4))
    img = _colour_map(v, cols)
    for _ in range(int(rng.integers(0, 4))):  # knots: dark rings, stretched along the grain
        c = (int(rng.integers(ww)), int(rng.integers(hh)))
        r = float(rng.uniform(4, 14))
        for k in range(4, 0, -1):
            shade = tuple(float(x) for x in cols[0] * (0.45 + 0.12 * (k % 2)))
            cv2.ellipse(img, c, (int(r * k * 0.9), max(1, int(r * k * 0.35))), 0.0, 0, 360, shade, -1, cv2.LINE_AA)
    plank = int(rng.uniform(50, 220))
    seam = tuple(float(c) for c in cols[0] * 0.5)
    for yy in range(int(rng.integers(0, plank)), hh, plank):
        cv2.line(img, (0, yy), (ww - 1, yy), seam, int(rng.integers(1, 4)), cv2.LINE_AA)
        # plank ends: a short seam across the grain at a random place along each plank
        x = int(rng.integers(0, max(1, ww)))
        cv2.line(img, (x, yy), (x, min(hh - 1, yy + plank)), seam, 1, cv2.LINE_AA)
    return np.ascontiguousarray(img.transpose(1, 0, 2)) if vertical else img


def _bg_weave(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Woven fabric: over/under threads, sometimes a plaid of thread colours, with creases."""
    p = rng.uniform(3, 9)
    xs = np.arange(w, dtype=np.float32) / p
    ys = np.arange(h, dtype=np.float32) / p
    col_i, row_i = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    over = ((col_i[None, :] + row_i[:, None]) % 2) == 0
    warp_prof = np.sin(np.float32(math.pi) * (xs % 1.0))[None, :]
    weft_prof = np.sin(np.float32(math.pi) * (ys % 1.0))[:, None]
    shade = np.where(over, warp_prof, weft_prof)

    def thread_colours(n_threads: int) -> np.ndarray:
        if rng.random() < 0.45:  # plaid: bands of threads of a few colours
            pal = _palette(rng, int(rng.integers(2, 5)))
            cols = np.empty((n_threads, 3), np.float32)
            i = 0
            while i < n_threads:
                band = int(rng.integers(2, 14))
                cols[i:i + band] = pal[rng.integers(len(pal))]
                i += band
            return cols
        return np.repeat(_palette(rng, 1)[None, 0], n_threads, axis=0)

    warp_c = thread_colours(int(col_i[-1]) + 1)[col_i]  # (w,3)
    weft_c = thread_colours(int(row_i[-1]) + 1)[row_i]  # (h,3)
    img = np.where(over[..., None], warp_c[None, :, :], weft_c[:, None, :])
    # uneven thread thickness and dye
    jitter = (1 + 0.1 * rng.standard_normal(col_i[-1] + 1, dtype=np.float32))[col_i][None, :] * \
        (1 + 0.1 * rng.standard_normal(row_i[-1] + 1, dtype=np.float32))[row_i][:, None]
    crease = _value_noise(rng, h, w, cell=max(h, w) / rng.uniform(1.5, 5), octaves=3)
    light = (np.float32(0.5) + np.float32(0.5) * shade) * jitter * (np.float32(0.75) + np.float32(0.4) * crease)
    return img * light[..., None]


def _bg_speckle(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Terrazzo, granite or a tiled floor: a mottled base with chips, sometimes grout lines."""
    img = _bg_mottled(rng, h, w)
    pal = _palette(rng, 4, sat=(0.0, 0.7), val=(0.1, 0.95))
    size = rng.uniform(2, 9)
    n = min(2500, int(h * w / (size * size) * rng.uniform(0.02, 0.12)))
    for _ in range(n):
        c = (int(rng.integers(w)), int(rng.integers(h)))
        axes = (max(1, int(size * rng.uniform(0.4, 1.2))), max(1, int(size * rng.uniform(0.3, 1.0))))
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, _ink(pal[rng.integers(4)]), -1, cv2.LINE_AA)
    if rng.random() < 0.5:
        tile = int(rng.uniform(60, 260))
        grout = _ink(_palette(rng, 1, sat=(0.0, 0.2), val=(0.3, 0.95))[0])
        th = int(rng.integers(2, 6))
        for x in range(int(rng.integers(tile)), w, tile):
            cv2.line(img, (x, 0), (x, h - 1), grout, th, cv2.LINE_AA)
        for y in range(int(rng.integers(tile)), h, tile):
            cv2.line(img, (0, y), (w - 1, y), grout, th, cv2.LINE_AA)
    return img


def _clutter(rng: np.random.Generator, img: np.ndarray) -> None:
    """A few objects lying on the surface (pens, coins, paper scraps) with soft shadows; in place."""
    h, w = img.shape[:2]
    s = min(h, w)
    for _ in range(int(rng.integers(1, 5))):
        kind = rng.integers(3)
        col = _ink(_palette(rng, 1)[0])
        cx, cy = int(rng.integers(w)), int(rng.integers(h))
        ang = float(rng.uniform(0, 180))
        if kind == 0:  # pen / pencil
            ax = (max(2, int(s * rng.uniform(0.1, 0.3))), max(1, int(s * rng.uniform(0.006, 0.015))))
        elif kind == 1:  # coin / cap
            r = max(2, int(s * rng.uniform(0.02, 0.06)))
            ax = (r, r)
        else:  # paper scrap / sticky note
            ax = (max(2, int(s * rng.uniform(0.04, 0.12))), max(2, int(s * rng.uniform(0.04, 0.12))))
        # draw in a local window around the object (shadow offset and blur included)
        reach = int(1.5 * max(ax)) + 16
        x0, y0, x1, y1 = max(0, cx - reach), max(0, cy - reach), min(w, cx + reach), min(h, cy + reach)
        if x1 <= x0 or y1 <= y0:
            continue
        roi = img[y0:y1, x0:x1]
        lx, ly = cx - x0, cy - y0
        shadow = np.zeros(roi.shape[:2], np.float32)
        if kind == 2:
            box = cv2.boxPoints(((lx + 3.0, ly + 3.0), (2.0 * ax[0], 2.0 * ax[1]), ang)).astype(np.int32)
            cv2.fillConvexPoly(shadow, box, 1.0, cv2.LINE_AA)
        else:
            cv2.ellipse(shadow, (lx + 3, ly + 3), ax, ang, 0, 360, 1.0, -1, cv2.LINE_AA)
        soft = np.asarray(cv2.GaussianBlur(shadow, (0, 0), 3), np.float32)
        roi *= (1 - 0.35 * soft)[..., None]
        if kind == 2:
            box = cv2.boxPoints(((float(lx), float(ly)), (2.0 * ax[0], 2.0 * ax[1]), ang)).astype(np.int32)
            cv2.fillConvexPoly(roi, box, col, cv2.LINE_AA)
        else:
            cv2.ellipse(roi, (lx, ly), ax, ang, 0, 360, col, -1, cv2.LINE_AA)
            hi = tuple(min(255.0, c * 1.3 + 30) for c in col)
            cv2.ellipse(roi, (lx, ly), (max(1, ax[0] // 2), max(1, ax[1] // 3)), ang, 0, 360, hi, -1, cv2.LINE_AA)


_BACKGROUNDS: tuple[Callable[[np.random.Generator, int, int], np.ndarray], ...] = (
    _bg_mottled, _bg_wood, _bg_weave, _bg_speckle,
)


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A textured surface (carpet/stone, wood, fabric, terrazzo/tiles), sometimes with clutter on it.

    Uneven lighting and sensor grain on top, so that keypoint detectors find realistic texture
    there rather than a flat colour. HxWx3 RGB uint8.
    """
    if height < 1 or width < 1:
        raise ValueError(f"background size must be positive, got {height}x{width}")
    img = _BACKGROUNDS[int(rng.integers(len(_BACKGROUNDS)))](rng, height, width).astype(np.float32)
    if rng.random() < 0.5:
        _clutter(rng, img)
    # a lamp or window: light falls off across the surface
    light = 0.8 + 0.35 * _value_noise(rng, height, width, cell=max(height, width) * 0.8, octaves=2)
    img *= light[..., None]
    return _to_u8(_grain(rng, img, rng.uniform(2, 6)))


# --- distractor families -----------------------------------------------------------------------


def _fam_shapes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Random filled and outlined shapes on a gradient or noise background."""
    pal = _palette(rng, int(rng.integers(3, 7)))
    if rng.random() < 0.5:
        img = _gradient(rng, h, w, pal[0], pal[1 % len(pal)])
    else:
        img = _colour_map(_value_noise(rng, h, w, cell=max(h, w) / rng.uniform(1.5, 5), octaves=4), pal[:3])
    s = min(h, w)
    for _ in range(int(rng.integers(6, 30))):
        col = _ink(np.clip(pal[rng.integers(len(pal))] + rng.normal(0, 18, 3), 0, 255))
        fill = rng.random() < 0.7
        th = -1 if fill else int(rng.integers(1, 9))
        kind = rng.integers(5)
        cx, cy = int(rng.integers(w)), int(rng.integers(h))
        if kind == 0:
            axes = (max(2, int(s * rng.uniform(0.03, 0.3))), max(2, int(s * rng.uniform(0.03, 0.3))))
            cv2.ellipse(img, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, col, th, cv2.LINE_AA)
        elif kind == 1:
            n = int(rng.integers(3, 8))
            r = s * rng.uniform(0.05, 0.3)
            angs = np.sort(rng.uniform(0, 2 * math.pi, n))
            rad = r * rng.uniform(0.5, 1.0, n)
            pts = np.stack([cx + rad * np.cos(angs), cy + rad * np.sin(angs)], 1).astype(np.int32)
            if fill:
                cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
            else:
                cv2.polylines(img, [pts], True, col, max(1, th), cv2.LINE_AA)
        elif kind == 2:
            p2 = (int(rng.integers(w)), int(rng.integers(h)))
            cv2.line(img, (cx, cy), p2, col, int(rng.integers(1, 10)), cv2.LINE_AA)
        elif kind == 3:
            box = cv2.boxPoints(((float(cx), float(cy)), (s * rng.uniform(0.05, 0.4), s * rng.uniform(0.05, 0.4)),
                                 float(rng.uniform(0, 90)))).astype(np.int32)
            if fill:
                cv2.fillConvexPoly(img, box, col, cv2.LINE_AA)
            else:
                cv2.polylines(img, [box], True, col, max(1, th), cv2.LINE_AA)
        else:
            cv2.circle(img, (cx, cy), max(2, int(s * rng.uniform(0.01, 0.12))), col, th, cv2.LINE_AA)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    return _to_u8(_grain(rng, img, rng.uniform(0, 6)))


def _fam_landscape(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Sky gradient with clouds, optional sun, and layers of noise hills fading into the distance."""
    if rng.random() < 0.7:  # day
        top = _hsv(rng.uniform(0.55, 0.66), rng.uniform(0.4, 0.9), rng.uniform(0.5, 0.95))
        low = _hsv(rng.uniform(0.5, 0.6), rng.uniform(0.05, 0.4), rng.uniform(0.8, 1.0))
    else:  # dusk
        top = _hsv(rng.uniform(0.6, 0.8), rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.6))
        low = _hsv(rng.uniform(0.0, 0.12), rng.uniform(0.4, 0.9), rng.uniform(0.7, 1.0))
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] ** rng.uniform(0.6, 1.5)
    img = np.broadcast_to(top * (1 - t) + low * t, (h, w, 3)).copy()
    clouds = _value_noise(rng, h, w, cell=max(h, w) / rng.uniform(2, 5), octaves=5)
    cover = np.clip((clouds - rng.uniform(0.45, 0.75)) * 4, 0, 1)[..., None]
    img = img * (1 - cover) + np.float32(235) * cover
    if rng.random() < 0.5:
        sun = (int(rng.integers(w)), int(rng.uniform(0.05, 0.4) * h))
        cv2.circle(img, sun, max(3, int(min(h, w) * rng.uniform(0.03, 0.09))), (255, 245, 200), -1, cv2.LINE_AA)
    horizon = rng.uniform(0.3, 0.65) * h
    n_layers = int(rng.integers(2, 6))
    ground = _palette(rng, n_layers, sat=(0.3, 0.8), val=(0.25, 0.8))
    if rng.random() < 0.6:  # greens and browns, as hills usually are
        ground = np.stack([_hsv(rng.uniform(0.08, 0.38), rng.uniform(0.3, 0.8), rng.uniform(0.2, 0.75))
                           for _ in range(n_layers)])
    yy = np.arange(h, dtype=np.float32)[:, None]
    haze = low
    for i in range(n_layers):
        depth = i / max(1, n_layers - 1)  # 0 far .. 1 near
        base = horizon + depth * (h - horizon) * rng.uniform(0.3, 0.7)
        amp = h * rng.uniform(0.05, 0.25) * (1 - 0.5 * depth)
        ridge = _value_noise(rng, 1, w, cell=w / rng.uniform(1, 5), octaves=5, persistence=0.45)[0]
        ridge = base - amp * ridge
        mask = np.clip(yy - ridge[None, :] + 0.5, 0, 1)[..., None]  # one-pixel antialiased edge
        tex = _value_noise(rng, h, w, cell=max(h, w) / rng.uniform(4, 16), octaves=4)[..., None]
        colour = ground[i] * (0.75 + 0.5 * tex)
        fade = 0.6 * (1 - depth)  # far hills take on the colour of the sky
        colour = colour * (1 - fade) + haze * fade
        img = img * (1 - mask) + colour * mask
        if rng.random() < 0.35 and depth > 0.4:  # a row of trees on a near ridge
            tree_col = _ink(ground[i] * 0.55)
            for x in range(int(rng.integers(0, 30)), w, int(rng.integers(12, 60))):
                y0 = int(ridge[min(x, w - 1)])
                th_ = int(h * rng.uniform(0.03, 0.1))
                pts = np.array([[x, y0 - th_], [x - th_ // 3, y0 + 2], [x + th_ // 3, y0 + 2]], np.int32)
                cv2.fillConvexPoly(img, pts, tree_col, cv2.LINE_AA)
    return _to_u8(_grain(rng, img, rng.uniform(1, 5)))


def _draw_text_line(img: np.ndarray, text: str, org: tuple[int, int], font: int, scale: float,
                    colour: tuple[float, float, float], thickness: int) -> None:
    cv2.putText(img, text, org, font, scale, colour, thickness, cv2.LINE_AA)


def _wrap(rng: np.random.Generator, width: int, font: int, scale: float, thickness: int, n_lines: int) -> list[str]:
    """``n_lines`` lines of made-up prose, each filled to ``width`` px (the last one shorter)."""
    lines: list[str] = []
    cur = ""
    sentence: list[str] = []
    while len(lines) < n_lines:
        if not sentence:
            sentence = _sentence(rng, int(rng.integers(4, 14))).split(" ")
        word = sentence.pop(0)
        cand = f"{cur} {word}" if cur else word
        if cv2.getTextSize(cand, font, scale, thickness)[0][0] <= width or not cur:
            cur = cand
        else:
            lines.append(cur)
            cur = word
    if lines:
        # a paragraph's last line stops short
        words = lines[-1].split(" ")
        lines[-1] = " ".join(words[: max(1, int(len(words) * rng.uniform(0.3, 1.0)))])
    return lines


def _scale_for_height(font: int, px: float, thickness: int) -> float:
    return float(cv2.getFontScaleFromHeight(font, max(4, int(px)), thickness))


def _fam_document(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A document or poster: title, headings, paragraphs of made-up text, coloured blocks."""
    poster = bool(rng.random() < 0.3)
    if poster:
        paper = _palette(rng, 1, sat=(0.3, 0.9), val=(0.2, 0.8))[0]
    else:
        paper = _hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.12), rng.uniform(0.9, 1.0))
    img = np.broadcast_to(paper, (h, w, 3)).astype(np.float32).copy()
    lum = float(paper @ np.array([0.299, 0.587, 0.114], np.float32))
    ink = np.array([20, 20, 25], np.float32) if lum > 128 else np.array([240, 240, 235], np.float32)
    accent = _palette(rng, 3)
    fonts = [FONTS[i] for i in rng.choice(len(FONTS), 3, replace=False)]
    m = int(min(h, w) * rng.uniform(0.04, 0.09))
    body_px = max(6.0, h * rng.uniform(0.015, 0.03))
    cols = 2 if (w > 450 and rng.random() < 0.4) else 1
    col_w = (w - 2 * m - (cols - 1) * m) // cols
    # title across the full width
    title = " ".join(random_words(rng, int(rng.integers(1, 4)))).upper()
    tf = fonts[0]
    tth = 2 + int(rng.integers(0, 3))
    ts = _scale_for_height(tf, body_px * rng.uniform(2.0, 3.5), tth)
    tw = cv2.getTextSize(title, tf, ts, tth)[0][0]
    if tw > w - 2 * m:
        ts *= (w - 2 * m) / tw
    y = m + int(cv2.getTextSize(title, tf, ts, tth)[0][1])
    _draw_text_line(img, title, (m, y), tf, ts, _ink(accent[0] if rng.random() < 0.5 else ink), tth)
    top = y + int(body_px * 1.5)
    for c in range(cols):
        x0 = m + c * (col_w + m)
        y = top
        while y < h - m - body_px:
            kind = rng.random()
            if kind < 0.55:  # paragraph
                bf = fonts[1]
                bs = _scale_for_height(bf, body_px, 1)
                line_h = int(body_px * rng.uniform(1.5, 1.9))
                n = min(int(rng.integers(2, 9)), max(0, int((h - m - y) // line_h)))
                for line in _wrap(rng, col_w, bf, bs, 1, n):
                    y += line_h
                    _draw_text_line(img, line, (x0, y), bf, bs, _ink(ink), 1)
                y += line_h // 2
            elif kind < 0.75:  # heading
                hf = fonts[2]
                hs = _scale_for_height(hf, body_px * 1.4, 2)
                text = " ".join(random_words(rng, int(rng.integers(1, 4)))).capitalize()
                y += int(body_px * 2.2)
                _draw_text_line(img, text[:40], (x0, y), hf, hs, _ink(accent[1]), 2)
                y += int(body_px * 0.6)
            else:  # a coloured block, sometimes with a picture in it
                bh = int(min(h - m - y, h * rng.uniform(0.08, 0.3)))
                if bh < 10:
                    break
                if rng.random() < 0.5:
                    cv2.rectangle(img, (x0, y), (x0 + col_w, y + bh), _ink(accent[rng.integers(3)]), -1)
                else:
                    img[y:y + bh, x0:x0 + col_w] = _fam_shapes(rng, bh, col_w).astype(np.float32)
                y += bh + int(body_px)
    if rng.random() < 0.5:
        cv2.line(img, (m, top - int(body_px * 0.7)), (w - m, top - int(body_px * 0.7)), _ink(accent[2]), 2)
    return _to_u8(_grain(rng, img, rng.uniform(0.5, 3)))


def _fam_pattern(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Stripes, checks, polka dots or plaid in random colours, rotated, with shading and noise."""
    kind = int(rng.integers(4))
    a = rng.uniform(0, math.pi)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = x * math.cos(a) + y * math.sin(a)
    v = -x * math.sin(a) + y * math.cos(a)
    p = min(h, w) * rng.uniform(0.03, 0.2)
    pal = _palette(rng, int(rng.integers(2, 5)))
    if kind == 0:  # stripes with irregular colour order
        order = rng.integers(len(pal), size=int(rng.integers(2, 7)))
        idx = order[(np.floor(u / p).astype(np.int64)) % len(order)]
        img = pal[idx]
    elif kind == 1:  # checks
        q = p * rng.uniform(0.6, 1.6)
        idx = (np.floor(u / p).astype(np.int64) + np.floor(v / q).astype(np.int64)) % 2
        img = pal[idx]
    elif kind == 2:  # polka dots on a staggered lattice
        row = np.floor(v / p)
        du = ((u + 0.5 * p * (row % 2)) % p) - p / 2
        dv = (v % p) - p / 2
        r = p * rng.uniform(0.15, 0.42)
        inside = np.clip(r - np.sqrt(du * du + dv * dv) + 0.5, 0, 1)[..., None]
        img = pal[0] * (1 - inside) + pal[1] * inside
    else:  # plaid: translucent bands both ways
        img = np.broadcast_to(pal[0], (h, w, 3)).astype(np.float32).copy()
        for coord, period in ((u, p * rng.uniform(1.5, 4)), (v, p * rng.uniform(1.5, 4))):
            for k, colour in enumerate(pal[1:]):
                width = rng.uniform(0.1, 0.35)
                band = (((coord / period) + k * 0.37) % 1.0) < width
                img = np.where(band[..., None], img * 0.45 + colour * 0.55, img)
    img = cv2.GaussianBlur(np.asarray(img, np.float32), (0, 0), 0.7)
    shade = _value_noise(rng, h, w, cell=max(h, w) / rng.uniform(1, 3), octaves=3)
    img = img * (0.8 + 0.35 * shade)[..., None]
    return _to_u8(_grain(rng, img, rng.uniform(1, 8)))


def _split_panels(rng: np.random.Generator, h: int, w: int, n: int) -> list[tuple[int, int, int, int]]:
    """Guillotine-split an h x w canvas into ``n`` panels (x, y, w, h), always cutting the largest."""
    panels = [(0, 0, w, h)]
    while len(panels) < n:
        panels.sort(key=lambda r: r[2] * r[3])
        x, y, pw, ph = panels.pop()
        f = rng.uniform(0.3, 0.7)
        if pw >= ph:
            cut = int(pw * f)
            panels += [(x, y, cut, ph), (x + cut, y, pw - cut, ph)]
        else:
            cut = int(ph * f)
            panels += [(x, y, pw, cut), (x, y + cut, pw, ph - cut)]
    return panels


def _fam_collage(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Panels filled with fresh images of the other families, separated by gutters."""
    gutter = int(rng.integers(0, 14))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = _to_u8(_palette(rng, 1, sat=(0.0, 0.3), val=(0.05, 1.0))[0])
    for x, y, pw, ph in _split_panels(rng, h, w, int(rng.integers(2, 6))):
        g = gutter // 2
        iw, ih = pw - 2 * g, ph - 2 * g
        if iw < 8 or ih < 8:
            continue
        fam = _PANEL_FAMILIES[int(rng.integers(len(_PANEL_FAMILIES)))]
        img[y + g:y + g + ih, x + g:x + g + iw] = fam(rng, ih, iw)
    return img


_PANEL_FAMILIES: tuple[Callable[[np.random.Generator, int, int], np.ndarray], ...] = (
    _fam_shapes, _fam_landscape, _fam_document, _fam_pattern,
)
_FAMILY_FUNCS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "shapes": _fam_shapes,
    "landscape": _fam_landscape,
    "document": _fam_document,
    "pattern": _fam_pattern,
    "collage": _fam_collage,
}


def distractor_family(seed: int) -> str:
    """The family ``distractor(seed)`` draws from: families rotate with the seed, so any run of
    consecutive seeds is balanced across them."""
    return DISTRACTOR_FAMILIES[seed % len(DISTRACTOR_FAMILIES)]


def distractor(seed: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """An unrelated, procedurally drawn image; deterministic per ``seed`` (>= 0).

    ``size`` is (height, width); by default each side is 320..800 px with aspect 0.5..2.
    Each seed draws its own content from its own random stream, so no two distractors are
    copies or crops of one another.
    """
    rng = np.random.default_rng([_DISTRACTOR_SALT, seed])
    if size is None:
        w = int(rng.integers(320, 801))
        h = int(rng.integers(max(320, (w + 1) // 2), min(800, 2 * w) + 1))
    else:
        h, w = size
        if h < 8 or w < 8:
            raise ValueError(f"distractor size must be at least 8x8, got {size}")
    return _FAMILY_FUNCS[distractor_family(seed)](rng, h, w)


# --- picture-book pages ------------------------------------------------------------------------


def page(seed: int, *, book: int = 0) -> np.ndarray:
    """A synthetic picture-book page (portrait, 600x800 .. 900x1200 px), deterministic per seed.

    The ``book`` (default 0) fixes what pages of one book share: page size, paper, fonts, ink,
    margins, picture frames and page numbering; ``seed`` draws the page's own title, text and
    one or two illustrations (shapes, landscape or pattern families) covering ~40-70 % of it.
    """
    style = np.random.default_rng([_BOOK_SALT, book])
    rng = np.random.default_rng([_PAGE_SALT, book, seed])
    # --- what the book's pages share
    w = int(style.integers(600, 901))
    h = int(round(w * 4 / 3))
    paper = _hsv(style.uniform(0.08, 0.16), style.uniform(0.02, 0.15), style.uniform(0.92, 0.99))
    ink = _hsv(style.uniform(0.0, 1.0), style.uniform(0.0, 0.5), style.uniform(0.05, 0.3))
    title_font, body_font = (FONTS[i] for i in style.choice(len(FONTS), 2, replace=False))
    title_colour = ink if style.random() < 0.5 else _palette(style, 1, val=(0.3, 0.7))[0]
    margin = int(w * style.uniform(0.05, 0.09))
    body_px = h * style.uniform(0.016, 0.022)
    line_h = int(body_px * style.uniform(1.5, 1.8))
    title_px = body_px * style.uniform(1.8, 2.6)
    frame_px = int(style.integers(0, 5))
    numbered = bool(style.random() < 0.75)
    text_first = bool(style.random() < 0.3)

    img = np.broadcast_to(paper, (h, w, 3)).astype(np.float32).copy()
    img *= (0.97 + 0.05 * _value_noise(rng, h, w, cell=w / 2, octaves=4))[..., None]
    cw = w - 2 * margin

    # --- layout: title, illustration block, text block, page number
    title = " ".join(random_words(rng, int(rng.integers(1, 5)))).title()
    tth = 2
    ts = _scale_for_height(title_font, title_px, tth)
    tw, tht = cv2.getTextSize(title, title_font, ts, tth)[0]
    if tw > cw:
        ts *= cw / tw
        tw, tht = cv2.getTextSize(title, title_font, ts, tth)[0]
    title_block = int(tht + body_px * 1.5)
    number_block = int(body_px * 2.5) if numbered else 0
    gap = int(body_px * 1.2)
    fixed = 2 * margin + title_block + number_block + 2 * gap
    share = rng.uniform(0.45, 0.65)
    n_lines = int(rng.integers(3, 11))
    # the picture wants share * page area; text lines give way to it down to 3, then the picture shrinks
    pic_h = int(share * w * h / cw)
    fit = (h - fixed - pic_h) // line_h
    n_lines = max(3, min(n_lines, fit))
    pic_h = min(pic_h, h - fixed - n_lines * line_h)

    y = margin + tht
    tx = margin + (cw - tw) // 2 if rng.random() < 0.6 else margin
    cv2.putText(img, title, (tx, y), title_font, ts, _ink(title_colour), tth, cv2.LINE_AA)
    y = margin + title_block + gap

    def draw_pictures(top: int) -> None:
        layout = rng.choice(["one", "one", "side", "stack"])
        if layout == "one":
            boxes = [(margin, top, cw, pic_h)]
        elif layout == "side":
            half = (cw - gap) // 2
            boxes = [(margin, top, half, pic_h), (margin + half + gap, top, cw - half - gap, pic_h)]
        else:
            half = (pic_h - gap) // 2
            boxes = [(margin, top, cw, half), (margin, top + half + gap, cw, pic_h - half - gap)]
        for x, yy, bw, bh in boxes:
            fam = (_fam_landscape, _fam_shapes, _fam_landscape, _fam_shapes, _fam_pattern)[int(rng.integers(5))]
            img[yy:yy + bh, x:x + bw] = fam(rng, bh, bw).astype(np.float32)
            if frame_px:
                cv2.rectangle(img, (x, yy), (x + bw - 1, yy + bh - 1), _ink(ink), frame_px, cv2.LINE_AA)

    def draw_text(top: int) -> None:
        bs = _scale_for_height(body_font, body_px, 1)
        yy = top
        for line in _wrap(rng, cw, body_font, bs, 1, n_lines):
            yy += line_h
            cv2.putText(img, line, (margin, yy - line_h // 4), body_font, bs, _ink(ink), 1, cv2.LINE_AA)

    if text_first:
        draw_text(y)
        draw_pictures(y + n_lines * line_h + gap)
    else:
        draw_pictures(y)
        draw_text(y + pic_h + gap)
    if numbered:
        num = str(seed + 1)
        ns = _scale_for_height(body_font, body_px, 1)
        nw = cv2.getTextSize(num, body_font, ns, 1)[0][0]
        nx = (w - nw) // 2 if book % 2 == 0 else (margin if seed % 2 else w - margin - nw)
        cv2.putText(img, num, (nx, h - margin), body_font, ns, _ink(ink), 1, cv2.LINE_AA)
    return _to_u8(_grain(rng, img, 1.5))


# --- subject placement -------------------------------------------------------------------------


def _cover(pixels: np.ndarray, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Resize to cover h x w without distorting, then crop a random h x w window."""
    ph, pw = pixels.shape[:2]
    s = max(h / ph, w / pw)
    nh, nw = max(h, int(math.ceil(ph * s))), max(w, int(math.ceil(pw * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    big = cv2.resize(pixels, (nw, nh), interpolation=interp)
    y0, x0 = int(rng.integers(0, nh - h + 1)), int(rng.integers(0, nw - w + 1))
    return big[y0:y0 + h, x0:x0 + w]


_SUBJECT_EDGE = 0.8  # px: the pasted subject's edge blur (sigma)
# Under this share of the picture, what the map holds at 0.5 or more is specks, not a
# subject (a test-pattern collage: 0.13 %; the suite's thinnest object, a rocket: 2.3 %).
MIN_SUBJECT_SHARE = 0.01


def place_subject(pixels: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *, scale: float,
                  background_pixels: np.ndarray | None = None) -> np.ndarray:
    """Cut the subject out of ``pixels`` with ``mask`` and paste it, scaled, on a new background.

    ``mask`` is HxW like ``pixels``: float alpha in 0..1, bool, or uint8 0..255. The subject is
    the mask's bounding box (alpha > 0.05), resized by ``scale`` and shrunk further if it would
    not fit, then alpha-composited at a random position on a frame of the original size:
    ``background_pixels`` resized to cover that frame (aspect kept, random crop) or a fresh
    ``background``. The subject is opaque where the mask is 0.5 or more (its edge softened by
    about a pixel) and absent elsewhere. A faint mask (peak below 0.5) is rescaled first so its
    peak is opaque; an empty one (peak at most 0.05), or one that holds only specks (under
    ``MIN_SUBJECT_SHARE`` of the picture), places the whole picture.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected HxWx3 uint8 pixels, got {pixels.shape} {pixels.dtype}")
    h, w = pixels.shape[:2]
    if mask.shape[:2] != (h, w) or mask.ndim != 2:
        raise ValueError(f"mask must be {h}x{w}, got {mask.shape}")
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if mask.dtype == np.bool_:
        alpha = mask.astype(np.float32)
    elif mask.dtype == np.uint8:
        alpha = mask.astype(np.float32) / 255.0
    else:
        alpha = np.clip(mask.astype(np.float32), 0.0, 1.0)
    peak = float(alpha.max())
    if 0.05 < peak < 0.5:
        # a faint saliency map: its most salient pixel is opaque, not a ghost
        alpha = np.minimum(alpha / peak, 1.0)
    # A real object is opaque: the subject is what the map holds at 0.5 or more (as the
    # engine's subject box takes it), its edge softened by about a pixel. (Until
    # 2026-12-06 the map itself was the alpha, and a subject the map held at 0.6 showed the
    # new background through it.)
    held = alpha >= 0.5
    if held.mean() < MIN_SUBJECT_SHARE:
        # Nothing salient (a photo of a photo, say), or specks, not an object (a collage of
        # test patterns): the picture has no subject, and its whole is placed.
        held = np.ones_like(held)
    alpha = np.asarray(cv2.GaussianBlur(held.astype(np.float32), (0, 0), _SUBJECT_EDGE), np.float32)
    ys, xs = np.nonzero(alpha > 0.05)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    subj, a = pixels[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    sh, sw = y1 - y0, x1 - x0
    s = min(scale, h / sh, w / sw)
    nh, nw = max(1, min(h, int(round(sh * s)))), max(1, min(w, int(round(sw * s))))
    if (nh, nw) != (sh, sw):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        subj = cv2.resize(subj, (nw, nh), interpolation=interp)
        a = np.asarray(cv2.resize(a, (nw, nh), interpolation=interp), np.float32)
    if background_pixels is not None:
        frame = _cover(background_pixels, rng, h, w).astype(np.float32)
    else:
        frame = background(rng, h, w).astype(np.float32)
    py, px = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
    region = frame[py:py + nh, px:px + nw]
    a3 = np.clip(a, 0.0, 1.0)[..., None]
    frame[py:py + nh, px:px + nw] = region * (1 - a3) + subj.astype(np.float32) * a3
    return _to_u8(frame)
