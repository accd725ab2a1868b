"""Outlines of repeated patterns (features/periods.py): an outline short of a printed
board by whole squares, or one row of it, grows to the board, and no further; outlines of
pictures that do not repeat are left as they are; a striped page's outline a stripe short
of the page, or a stripe past it, has a stepped outline that is the page's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from test_alignment import _rgb
from test_pages import _black_bands, _photo
from tusou.evaluation.dataset import decode_rgb, encode_jpeg, sample_images
from tusou.evaluation.transforms import enlarged_to, phone_photo
from tusou.features import periods
from tusou.features.pages import find_pages
from tusou.features.periods import grown, period, stepped

BOARD = _rgb(skimage.data.checkerboard())  # 200 x 200, 8 x 8 squares of 25 px
SQUARE = 25


def _in_photo(photo, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The picture's rectangle [x0, x1] x [y0, y1] (its pixel edges) as corners in the photo."""
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) - 0.5
    return cv2.perspectiveTransform(corners.reshape(1, 4, 2), photo.homography).reshape(4, 2)


def _grey(photo) -> np.ndarray:  # type: ignore[no-untyped-def]
    return cv2.cvtColor(photo.pixels, cv2.COLOR_RGB2GRAY)


def _off(quad: np.ndarray, true: np.ndarray) -> float:
    return float(np.abs(quad - true).max() / np.linalg.norm(true[2] - true[0]))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("x0", "y0", "x1", "y1"), [
    (1, 1, 7, 7),  # a square short on every side
    (2, 1, 5, 8),  # two on one side, three on another, none on the last
    (1, 3, 7, 4),  # one row of the board: the rows' period is looked for beyond it
])
def test_an_outline_short_of_a_board_by_whole_squares_grows_to_it(
        seed: int, x0: int, y0: int, x1: int, y1: int) -> None:
    photo = _photo(BOARD, seed)
    short = _in_photo(photo, x0 * SQUARE, y0 * SQUARE, x1 * SQUARE, y1 * SQUARE)
    assert _off(short, photo.quad) > 0.05
    assert _off(grown(_grey(photo), short), photo.quad) <= 0.02


@pytest.mark.parametrize("seed", [0, 3])
def test_a_board_outlined_right_stays_as_it_is(seed: int) -> None:
    # the table beyond its sides does not go on with its squares
    photo = _photo(BOARD, seed)
    assert _off(grown(_grey(photo), photo.quad), photo.quad) <= 0.005


def test_a_picture_that_does_not_repeat_is_left_as_it_is() -> None:
    photo = _photo(skimage.data.astronaut(), 1)
    inner = _in_photo(photo, 100, 100, 400, 400)
    assert grown(_grey(photo), inner) is inner


def test_stripes_grow_across_them_only() -> None:
    # Vertical stripes repeat across, not along: the outline grows left and right only
    # (along them, any step would look like the pattern going on).
    stripes = np.zeros((200, 200, 3), np.uint8)
    for x in range(0, 200, 40):
        stripes[:, x:x + 20] = (30, 60, 160)
        stripes[:, x + 20:x + 40] = (240, 230, 200)
    photo = _photo(stripes, 2)
    out = grown(_grey(photo), _in_photo(photo, 40, 40, 160, 160))
    assert _off(out, _in_photo(photo, 0, 40, 200, 160)) <= 0.02


def test_a_board_printed_inside_a_frame_grows_to_the_frame_not_the_page() -> None:
    page = np.full((300, 300, 3), 245, np.uint8)
    page[48:252, 48:252] = 20  # the frame
    page[50:250, 50:250] = BOARD
    photo = _photo(page, 4, 0.5)
    inner = _in_photo(photo, 50 + SQUARE, 50 + SQUARE, 250 - SQUARE, 250 - SQUARE)
    assert _off(grown(_grey(photo), inner), _in_photo(photo, 50, 50, 250, 250)) <= 0.02


def test_the_period_is_the_shortest_repeat() -> None:
    grad = np.zeros((60, 120))
    grad[:, ::12] = 1.0  # lines every 12 px, repeating at 24, 36 ... as strongly
    seen = np.ones_like(grad, bool)
    assert period(grad, seen, 1) == pytest.approx(12, abs=0.5)
    assert period(grad, seen, 0) is None  # the same along the lines: nothing repeats
    assert period(np.random.default_rng(0).random((60, 120)), seen, 1) is None


BAND = 20  # _black_bands: black and white bands of 20 px, black at the top and the bottom


@pytest.mark.parametrize("seed", [1, 3])
@pytest.mark.parametrize(("y0", "y1"), [
    (BAND, 300),  # the top black band left out (on a dark table its edge is faint)
    (0, 300 - BAND),  # the bottom one
    (BAND, 300 + BAND),  # a band in at the top, one past the page at the bottom
])
def test_a_striped_outline_a_stripe_off_has_a_stepped_outline_that_is_the_page(
        seed: int, y0: int, y1: int) -> None:
    photo = _photo(_black_bands(), seed, 0.55)
    off = _in_photo(photo, 0, y0, 300, y1)
    assert _off(off, photo.quad) > 0.025  # a band is 0.033 of the diagonal
    outlines = stepped(_grey(photo), off)
    assert 0 < len(outlines) <= 8
    assert min(_off(quad, photo.quad) for quad in outlines) <= 0.01


@pytest.mark.parametrize("seed", [1, 3])
def test_a_stepped_outline_never_leaves_a_band_of_the_page_out(seed: int) -> None:
    # Stepping in over a band the pattern goes on with would leave a part of the page,
    # which bands of another period fill as well (44 px bands lie on 7 periods of 40 px).
    photo = _photo(_black_bands(), seed, 0.55)
    page = cv2.contourArea(photo.quad.astype(np.float32))
    for quad in (photo.quad, _in_photo(photo, 0, BAND, 300, 300)):
        for other in stepped(_grey(photo), quad):
            assert cv2.contourArea(other.astype(np.float32)) >= 0.99 * page


def test_only_striped_outlines_are_stepped() -> None:
    # a board repeats both ways and a photograph neither: growing by whole periods, or
    # nothing, is all they get
    board = _photo(BOARD, 0)
    assert stepped(_grey(board), _in_photo(board, SQUARE, SQUARE, 175, 175)) == []
    photo = _photo(skimage.data.astronaut(), 1)
    assert stepped(_grey(photo), _in_photo(photo, 100, 100, 400, 400)) == []


def test_a_board_strip_outlined_from_a_photo_grows_across_its_squares_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The `same` suite's chessboard photographed at 55 % (its seed 18 draw): the outline
    # found first is three squares wide, and across them, square-on from the photo's
    # perspective, its gradients autocorrelate 0.78 at the squares' period.
    board = decode_rgb(next(i for i in sample_images() if i.key == "skimage/chessboard_RGB.png").load())
    photo = phone_photo(board, np.random.default_rng(18_002_088), share=0.55)
    shown = enlarged_to(photo.pixels)
    true = (photo.quad + 0.5) * (shown.shape[1] / photo.pixels.shape[1]) - 0.5
    pixels = decode_rgb(encode_jpeg(shown))
    assert _off(find_pages(pixels)[0], true) <= 0.02
    monkeypatch.setattr(periods, "MIN_PERIODIC", 0.8)
    assert all(_off(quad, true) > 0.05 for quad in find_pages(pixels))
