"""Content agreement with a photo whose exposure clipped the picture (keypoints._exposed_as)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from conftest import encode
from tusou.engine import Engine
from tusou.engine.sources import ImageSource
from tusou.features import keypoints
from tusou.features.keypoints import Keypoints, agreement, extract_keypoints, weakest_cells


def _grey_rgb(name: str, side: int = 400) -> np.ndarray:
    picture = getattr(skimage.data, name)()
    if picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(picture, (side, side), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))


def _washed(pixels: np.ndarray, gain: float, lift: float, blur: float = 1.0) -> np.ndarray:
    """A photo's blur (``blur``, 0 for none) and an exposure: ``gain`` and ``lift`` that
    push a picture's light half past white, or any other."""
    out = pixels.astype(np.float32)
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    return np.clip(out * gain + lift + 0.5, 0, 255).astype(np.uint8)


def _stored(pixels: np.ndarray) -> Keypoints:
    return Keypoints.from_bytes(extract_keypoints(pixels, "orb").to_bytes())


# the centre half of a 400 px picture, laid back where it was cut from
_CROP = (slice(100, 300), slice(100, 300))
_PLACED = np.array([[1.0, 0, 100], [0, 1.0, 100], [0, 0, 1]])


@pytest.mark.parametrize(("name", "gain", "lift"), [("camera", 2.0, 80), ("gravel", 1.6, 60),
                                                    ("moon", 2.0, 80), ("grass", 1.6, 60)])
def test_a_washed_out_part_agrees_with_its_picture_as_a_photo_would_show_it(
        name: str, gain: float, lift: float, monkeypatch: pytest.MonkeyPatch) -> None:
    picture = _grey_rgb(name)
    query = extract_keypoints(_washed(picture[_CROP], gain, lift), "orb")
    assert float((query.image >= 250).mean()) >= 0.3  # mostly clipped at white
    ref, other = _stored(picture), _stored(_grey_rgb("astronaut"))
    score = agreement(query, ref, _PLACED, levels=True)
    cells = weakest_cells(query, ref, _PLACED, 0.25)
    wrong = agreement(query, other, _PLACED, levels=True)
    assert score is not None and score >= 0.83
    assert cells is not None and cells >= 0.9
    assert wrong is not None and wrong < 0.1
    # compared as stored, the clipped parts disagree with the content they hide
    monkeypatch.setattr(keypoints, "_exposed_as", lambda thumb, warped, mask: thumb)
    before = agreement(query, ref, _PLACED, levels=True)
    assert before is not None and before < score - 0.1
    assert agreement(query, other, _PLACED, levels=True) == pytest.approx(wrong, abs=0.02)


def test_a_photo_that_clips_nothing_agrees_exactly_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    picture = _grey_rgb("camera")
    query = extract_keypoints(_washed(picture[_CROP], 0.8, 20), "orb")
    ref = _stored(picture)
    scores = (agreement(query, ref, _PLACED, levels=True), weakest_cells(query, ref, _PLACED, 0.25))
    monkeypatch.setattr(keypoints, "_exposed_as", lambda thumb, warped, mask: thumb)
    assert (agreement(query, ref, _PLACED, levels=True), weakest_cells(query, ref, _PLACED, 0.25)) == scores


def test_an_inverted_picture_is_not_shown_clipped() -> None:
    # a negative lines up with its picture in gradient magnitudes only; clipping a line of
    # negative slope would let its grey levels agree too
    picture = _grey_rgb("camera")
    negative = _washed(255 - picture[_CROP], 1.6, 60)
    query = extract_keypoints(negative, "orb")
    score = agreement(query, _stored(picture), _PLACED, levels=True)
    assert score is not None and score < 0.0


def test_same_finds_a_washed_out_crop_by_its_keypoints(engine: Engine) -> None:
    engine.create_library("washed", "same")
    library = engine.library("washed")
    for name in ("camera", "moon", "astronaut", "coffee"):
        picture = _grey_rgb(name) if name in ("camera", "moon") else getattr(skimage.data, name)()
        library.add(ImageSource(data=encode(picture)), brief=name)
    query = _washed(_grey_rgb("camera")[_CROP], 1.6, 60)
    hits = library.search(ImageSource(data=encode(query, "JPEG", quality=90))).hits
    assert [h.image.brief for h in hits] == ["camera"] and hits[0].inliers is not None


def _wheel() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.colorwheel()[..., :3])


def _colours_as_stored(thumb: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``keypoints._exposed_colours`` as it was not: the reference's colours as stored."""
    return thumb.astype(np.float32)


@pytest.mark.parametrize(("gain", "lift"), [(0.72, 0.0), (0.8, -20.0), (1.1, 10.0)])
def test_colours_are_compared_as_the_photos_exposure_shows_them(
        gain: float, lift: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # CIELAB chroma grows and shrinks with exposure: a darker photo of vivid colours is
    # tens of units off in a* b*, more than the colour tolerance
    wheel = _wheel()
    h, w = wheel.shape[:2]
    part = wheel[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2]
    placed = np.array([[1.0, 0, w // 4], [0, 1.0, h // 4], [0, 0, 1]])
    ref = _stored(wheel)
    query = extract_keypoints(_washed(part, gain, lift, blur=0), "orb")
    own = keypoints.colour_agreement(query, ref, placed)
    hue = cv2.cvtColor(part, cv2.COLOR_RGB2HSV)
    hue[..., 0] = (hue[..., 0].astype(np.int32) + 60) % 180
    turned = extract_keypoints(_washed(cv2.cvtColor(hue, cv2.COLOR_HSV2RGB), gain, lift, blur=0), "orb")
    other = keypoints.colour_agreement(turned, ref, placed)
    assert own is not None and own >= 0.95
    assert other is not None and other < 0.3
    monkeypatch.setattr(keypoints, "_exposed_colours", _colours_as_stored)
    before = keypoints.colour_agreement(query, ref, placed)
    assert before is not None and before < own


def test_a_lighter_colourway_is_no_exposure(monkeypatch: pytest.MonkeyPatch) -> None:
    # Blue stripes on white and the same stripes a much lighter blue: a line maps one's grey
    # levels onto the other's, but one that no camera's exposure makes (slope 0.37), so
    # their colours are compared as they are.
    navy = np.full((300, 300, 3), 255, np.uint8)
    navy[:, (np.arange(300) % 30) < 15] = (20, 30, 110)
    light = navy.copy()
    light[:, (np.arange(300) % 30) < 15] = (150, 170, 230)
    query, ref = extract_keypoints(light, "orb"), _stored(navy)
    as_they_are = keypoints.colour_agreement(query, ref, np.eye(3))
    monkeypatch.setattr(keypoints, "_exposed_colours", _colours_as_stored)
    assert keypoints.colour_agreement(query, ref, np.eye(3)) == as_they_are
