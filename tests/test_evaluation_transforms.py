"""The evaluation suite's copy transforms and synthetic images: shapes, determinism, exactness,
the page share of simulated phone photos, distractor variety, pages and subject placement."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from skimage import data

from tusou.evaluation import synthetic
from tusou.evaluation.transforms import (
    COPY_TRANSFORMS,
    MIN_SIDE,
    PAGE_TRANSFORMS,
    Photo,
    apply_transform,
    partial_photo,
    phone_photo,
)

EXPECTED_NAMES = [
    "crop50", "crop25", "crop_offcentre", "jpeg15", "downscale4", "rot90", "rot180", "rot8", "hflip",
    "grayscale", "hue_shift", "text_banner", "border10", "phone30", "phone55", "phone80", "partial40",
]  # fmt: skip
RANDOM = ["crop_offcentre", "hue_shift", "text_banner", "border10", "phone30", "phone55", "phone80", "partial40"]
FIXED = [n for n in EXPECTED_NAMES if n not in RANDOM]


def sized(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))


IMAGES = {
    "64x64": sized(data.astronaut(), 64, 64),
    "300x200": sized(data.chelsea(), 300, 200),
    "2000x1500": cv2.resize(data.astronaut(), (2000, 1500), interpolation=cv2.INTER_LINEAR),
}
SMALL = IMAGES["300x200"]


def test_registry_names_and_page_subset() -> None:
    assert list(COPY_TRANSFORMS) == EXPECTED_NAMES
    assert PAGE_TRANSFORMS == ("phone30", "phone55", "phone80", "partial40")
    assert set(PAGE_TRANSFORMS) <= set(COPY_TRANSFORMS)


@pytest.mark.parametrize("size", list(IMAGES))
@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_every_transform_gives_rgb_uint8_of_min_side(name: str, size: str) -> None:
    img = IMAGES[size]
    before = img.copy()
    out = apply_transform(name, img, 7)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert min(out.shape[:2]) >= MIN_SIDE
    assert out.flags.c_contiguous
    assert np.array_equal(img, before), "a transform must not modify its input"


@pytest.mark.parametrize("name", EXPECTED_NAMES)
def test_same_seed_same_output(name: str) -> None:
    assert np.array_equal(apply_transform(name, SMALL, 3), apply_transform(name, SMALL, 3))


@pytest.mark.parametrize("name", RANDOM)
def test_random_transforms_vary_with_the_seed(name: str) -> None:
    a, b = apply_transform(name, SMALL, 1), apply_transform(name, SMALL, 2)
    assert a.shape != b.shape or not np.array_equal(a, b)


@pytest.mark.parametrize("name", FIXED)
def test_fixed_transforms_ignore_the_seed(name: str) -> None:
    assert np.array_equal(apply_transform(name, SMALL, 1), apply_transform(name, SMALL, 2))


def test_unknown_transform_and_bad_input() -> None:
    with pytest.raises(KeyError, match="nosuch"):
        apply_transform("nosuch", SMALL, 0)
    with pytest.raises(ValueError):
        apply_transform("crop50", SMALL[:, :, 0], 0)
    with pytest.raises(ValueError):
        apply_transform("crop50", SMALL.astype(np.float32), 0)


def test_exact_geometry() -> None:
    img = SMALL
    assert np.array_equal(apply_transform("rot90", img, 0), np.rot90(img))
    assert np.array_equal(apply_transform("rot180", img, 0), img[::-1, ::-1])
    assert np.array_equal(apply_transform("hflip", img, 0), img[:, ::-1])
    grey = apply_transform("grayscale", img, 0)
    assert np.array_equal(grey[:, :, 0], grey[:, :, 1]) and np.array_equal(grey[:, :, 1], grey[:, :, 2])


@pytest.mark.parametrize("size", ["300x200", "2000x1500"])
def test_crops_keep_their_share_of_the_area(size: str) -> None:
    img = IMAGES[size]
    h, w = img.shape[:2]
    for name, keep in (("crop50", 0.5), ("crop25", 0.25), ("crop_offcentre", 0.5)):
        out = apply_transform(name, img, 5)
        assert out.shape[0] * out.shape[1] / (h * w) == pytest.approx(keep, abs=0.01)
    c = apply_transform("crop50", img, 0)
    y0, x0 = (h - c.shape[0]) // 2, (w - c.shape[1]) // 2
    assert np.array_equal(c, img[y0:y0 + c.shape[0], x0:x0 + c.shape[1]])


def test_offcentre_crop_sits_near_a_corner() -> None:
    img = sized(data.astronaut(), 600, 400)
    h, w = img.shape[:2]
    corners = set()
    for seed in range(12):
        c = apply_transform("crop_offcentre", img, seed)
        ch, cw = c.shape[:2]
        # find the crop's top-left corner in the original
        res = cv2.matchTemplate(img[:, :, 1], c[:32, :32, 1], cv2.TM_SQDIFF)
        y, x = np.unravel_index(int(np.argmin(res)), res.shape)
        assert np.array_equal(img[y:y + ch, x:x + cw], c)
        top, left = y < (h - ch) / 2, x < (w - cw) / 2
        dy = y if top else h - ch - y
        dx = x if left else w - cw - x
        assert dy <= 0.05 * h + 1 and dx <= 0.05 * w + 1
        corners.add((top, left))
    assert len(corners) >= 3


def test_downscale4_keeps_a_64px_short_side() -> None:
    assert apply_transform("downscale4", IMAGES["2000x1500"], 0).shape[:2] == (375, 500)
    assert apply_transform("downscale4", IMAGES["300x200"], 0).shape[:2] == (64, 96)
    assert apply_transform("downscale4", IMAGES["64x64"], 0).shape[:2] == (64, 64)


def test_border10_rot8_banner_jpeg_hue() -> None:
    img = SMALL
    h, w = img.shape[:2]
    b = apply_transform("border10", img, 4)
    assert b.shape[:2] == (h + 2 * 20, w + 2 * 30)
    assert np.array_equal(b[20:20 + h, 30:30 + w], img)
    assert len(np.unique(b[:20].reshape(-1, 3), axis=0)) == 1

    r = apply_transform("rot8", img, 0)
    assert r.shape[0] > h and r.shape[1] > w
    assert r[0, 0].max() == 0 and r[-1, -1].max() == 0

    t = apply_transform("text_banner", img, 4)
    changed = np.nonzero(np.any(t != img, axis=(1, 2)))[0]
    band = round(0.15 * h)
    assert len(changed) == band and (changed[0] == 0 or changed[-1] == h - 1)

    j = apply_transform("jpeg15", img, 0).astype(np.float32)
    mse = float(np.mean((j - img.astype(np.float32)) ** 2))
    assert 0 < mse and 10 * np.log10(255**2 / mse) > 20

    hue = apply_transform("hue_shift", img, 0)
    v0 = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)[:, :, 2].astype(np.int16)
    v1 = cv2.cvtColor(hue, cv2.COLOR_RGB2HSV)[:, :, 2].astype(np.int16)
    assert np.abs(v0 - v1).mean() < 3


def _page_area(pixels: np.ndarray, make: Callable[[np.ndarray, np.random.Generator], Photo], seed: int
               ) -> tuple[float, Photo]:
    """Photograph a black and a white page with the same seed: geometry, background and
    noise are the same, so where the two photos differ is exactly where the page shows."""
    black = make(np.zeros_like(pixels), np.random.default_rng(seed))
    white = make(np.full_like(pixels, 255), np.random.default_rng(seed))
    diff = np.abs(white.pixels.astype(np.int16) - black.pixels.astype(np.int16)).max(axis=2)
    return float(np.mean(diff > 100)), white


@pytest.fixture(scope="module")
def small_page() -> np.ndarray:
    # half size: the same geometry at a quarter of the pixels keeps the tests quick
    page = synthetic.page(0)
    return sized(page, page.shape[1] // 2, page.shape[0] // 2)


@pytest.mark.parametrize("share", [0.30, 0.55, 0.80])
def test_phone_photo_page_covers_the_requested_share(share: float, small_page: np.ndarray) -> None:
    page = small_page
    h, w = page.shape[:2]
    for seed in range(3):
        measured, photo = _page_area(page, lambda p, r: phone_photo(p, r, share=share), seed)
        assert photo.share == pytest.approx(share, abs=0.02)
        assert measured == pytest.approx(share, abs=0.10)
        corners = np.array([[[0, 0], [w, 0], [w, h], [0, h]]], np.float64)
        mapped = cv2.perspectiveTransform(corners, photo.homography)[0]
        assert np.allclose(mapped, photo.quad, atol=1e-6)
        assert max(photo.pixels.shape[:2]) <= 1600


def test_partial_photo_shows_a_40_percent_window(small_page: np.ndarray) -> None:
    page = small_page
    h, w = page.shape[:2]
    for seed in range(3):
        measured, photo = _page_area(page, lambda p, r: partial_photo(p, r), seed)
        assert photo.window is not None
        x, y, ww, wh = photo.window
        assert 0 <= x <= w - ww + 1 and 0 <= y <= h - wh + 1
        assert ww * wh / (w * h) == pytest.approx(0.4, abs=0.01)
        assert 0.6 - 0.01 <= (ww / wh) / (w / h) <= 1.6 + 0.01
        assert 0.85 - 0.02 <= photo.share <= 0.95 + 0.02
        # the page around the window shows too, so at least the window's share is page
        assert measured >= photo.share - 0.05


def test_phone_photos_of_large_and_tiny_inputs() -> None:
    big = cv2.resize(data.chelsea(), (4000, 2600), interpolation=cv2.INTER_LINEAR)
    photo = phone_photo(big, np.random.default_rng(0), share=0.55)
    assert max(photo.pixels.shape[:2]) <= 1600 and photo.share == pytest.approx(0.55, abs=0.02)
    tiny = partial_photo(IMAGES["64x64"], np.random.default_rng(0))
    assert min(tiny.pixels.shape[:2]) >= 64


# --- synthetic images --------------------------------------------------------------------------


def _thumb(img: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float32)


def test_distractors_are_varied_and_pairwise_different() -> None:
    seeds = range(30)
    images = [synthetic.distractor(s) for s in seeds]
    assert {synthetic.distractor_family(s) for s in seeds} == set(synthetic.DISTRACTOR_FAMILIES)
    for img in images:
        h, w = img.shape[:2]
        assert img.dtype == np.uint8 and img.shape[2] == 3
        assert 320 <= h <= 800 and 320 <= w <= 800 and 0.5 <= w / h <= 2.0
    assert len({img.shape[:2] for img in images}) > 20
    thumbs = [_thumb(img) for img in images]
    for a, b in itertools.combinations(range(len(images)), 2):
        assert np.abs(thumbs[a] - thumbs[b]).mean() > 5, (a, b)
    # colourful and not flat: the families differ in their statistics, too
    assert len({round(float(img.std()) / 10) for img in images}) >= 3


def test_distractor_is_deterministic_and_sized() -> None:
    assert np.array_equal(synthetic.distractor(11), synthetic.distractor(11))
    assert synthetic.distractor(4, size=(120, 200)).shape == (120, 200, 3)


def test_pages_are_deterministic_books() -> None:
    a, b = synthetic.page(0), synthetic.page(1)
    assert np.array_equal(a, synthetic.page(0))
    assert a.shape == b.shape and a.shape[0] > a.shape[1]  # one book, portrait
    assert 600 <= a.shape[1] <= 900 and 800 <= a.shape[0] <= 1200
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() > 10
    # the paper shows at the top-left margin, and it is light
    assert a[:10, :10].mean() > 200
    other = synthetic.page(0, book=1)
    assert not np.array_equal(a, other)


def test_backgrounds_have_texture() -> None:
    orb = cv2.ORB.create(nfeatures=1000)
    akaze = cv2.AKAZE.create(threshold=2e-4)  # as tusou.features.keypoints uses it
    counts = []
    for seed in range(8):
        bg = synthetic.background(np.random.default_rng(seed), 300, 400)
        assert bg.shape == (300, 400, 3) and bg.dtype == np.uint8
        grey = cv2.cvtColor(bg, cv2.COLOR_RGB2GRAY)
        assert grey.std() > 5
        assert len(akaze.detect(grey, None)) > 10, seed
        counts.append(len(orb.detect(grey, None)))
    # some surfaces (a smooth plank, a soft carpet) are quiet, as real ones are; most are busy
    assert np.median(counts) > 300


def _subject_scene(*discs: tuple[int, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A blue 320 x 240 picture, its saliency map holding centred discs (radius, value; drawn
    in turn) and a green background to paste onto."""
    img = np.zeros((240, 320, 3), np.uint8)
    img[:] = (0, 0, 255)
    mask = np.zeros((240, 320), np.float32)
    for radius, value in discs:
        cv2.circle(mask, (160, 120), radius, value, -1)
    green = np.zeros((100, 100, 3), np.uint8)
    green[:] = (0, 255, 0)
    return img, mask, green


def test_a_placed_subject_is_opaque_where_the_map_holds_it() -> None:
    # A saliency map holds the subject at 0.6-0.9: pasted, it hides the new background
    # (a real object does), and what the map holds under 0.5 is not pasted at all.
    img, mask, green = _subject_scene((50, 0.6), (20, 0.9))
    mask[:, :40] = 0.3  # a faint band of clutter
    img[mask >= 0.5] = (255, 0, 0)
    out = synthetic.place_subject(img, mask, np.random.default_rng(0), scale=1.0, background_pixels=green)
    red = (out[:, :, 0] > 250) & (out[:, :, 1] < 5)
    assert red.sum() == pytest.approx(np.pi * 50**2, rel=0.1)
    assert not np.any((out[:, :, 2] > 100) & (out[:, :, 0] < 100))  # nothing of the band


def test_place_subject_keeps_the_frame_and_pastes_the_subject() -> None:
    img, mask, green = _subject_scene((50, 1.0))
    h, w = mask.shape
    img[mask > 0] = (255, 0, 0)
    for scale, radius in ((0.5, 25), (1.0, 50)):
        out = synthetic.place_subject(img, mask, np.random.default_rng(0), scale=scale, background_pixels=green)
        assert out.shape == img.shape and out.dtype == np.uint8
        red = (out[:, :, 0] > 200) & (out[:, :, 1] < 50)
        assert red.sum() == pytest.approx(np.pi * radius**2, rel=0.15)
        assert not np.any((out[:, :, 2] > 200) & (out[:, :, 0] < 50))  # none of the old background
    # too large for the frame: shrunk to fit; a bool mask; a generated background
    out = synthetic.place_subject(img, mask > 0.5, np.random.default_rng(1), scale=5.0)
    assert out.shape == img.shape
    red = (out[:, :, 0] > 200) & (out[:, :, 1] < 50) & (out[:, :, 2] < 50)
    assert red.sum() > 0.8 * np.pi * 120**2 * 0.9
    # nothing salient, or only specks: the whole picture is placed
    specks = np.zeros((h, w), np.float32)
    specks[::40, ::40] = 0.9  # 48 pixels of 76,800
    assert 0 < (specks >= 0.5).mean() < synthetic.MIN_SUBJECT_SHARE
    for faint in (np.zeros((h, w), np.float32), specks):
        out = synthetic.place_subject(img, faint, np.random.default_rng(2), scale=0.5,
                                      background_pixels=green)
        blue = (out[:, :, 2] > 200) & (out[:, :, 0] < 50)
        assert blue.sum() > 0.5 * (h * w / 4 - np.pi * 25**2)
