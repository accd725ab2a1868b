"""The colour check: a repeated pattern is answered on content alone only in its own colours."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from conftest import BLUE, BROWN, encode, stripes
from test_alignment import _query, _stored
from tusou.engine import Engine
from tusou.engine.kinds import kind_spec
from tusou.engine.matching import MAX_PERIODICITY, MIN_COLOUR_AGREEMENT, last_look
from tusou.engine.references import References
from tusou.engine.sources import ImageSource
from tusou.errors import InvalidParameter
from tusou.evaluation.dataset import decode_rgb, generated_distractors
from tusou.evaluation.transforms import _jpeg, apply_transform
from tusou.features import keypoint_blobs
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import COLOUR_SIDE, Keypoints, agreement, colour_agreement, in_phase, periodicity
from tusou.features.pixels import centre_crop

SAME = kind_spec("same")
# A generated checkerboard (green on dark teal, with noise): periodic, and colourful.
BOARD = decode_rgb(generated_distractors(1, first_seed=1001028)[0].load())


def _recoloured(pixels: np.ndarray) -> np.ndarray:
    """The same picture in the opposite hues: CIELAB a* and b* negated, lightness kept, so
    that grey levels hardly change."""
    lab = cv2.cvtColor(pixels.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab[..., 1:] *= -1
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _blobs(*pictures: np.ndarray) -> dict[int, bytes]:
    return {n + 1: _stored(p).to_bytes() for n, p in enumerate(pictures)}


def test_the_board_is_periodic_and_its_colours_are_stored() -> None:
    ref = _stored(BOARD)
    assert ref.image is not None and periodicity(ref.image) >= MAX_PERIODICITY
    assert ref.colour is not None and max(ref.colour.shape[:2]) == COLOUR_SIDE
    assert ref.colour.shape[2] == 3
    # Stored colour is RGB, as decoded: the board is green, not red.
    means = ref.colour.reshape(-1, 3).mean(axis=0)
    assert means[1] > means[0]


def _without_colour(blob: bytes) -> bytes:
    """``blob`` as keypoints were stored before the colour thumbnail (an .npz, as blobs were
    until 2026-12-07)."""
    arrays = {k: v for k, v in keypoint_blobs.parse(blob).items() if k != "colour"}
    old = io.BytesIO()
    np.savez(old, **arrays)  # type: ignore[arg-type]
    return old.getvalue()


def test_keypoints_stored_before_colour_thumbnails_still_load() -> None:
    old = _without_colour(_stored(BOARD).to_bytes())
    loaded = Keypoints.from_bytes(old)
    assert loaded.colour is None and loaded.image is not None
    # Without colour there is nothing to tell the board from another of its period.
    query = _query(centre_crop(BOARD, 0.5))
    assert last_look(SAME, query, [1], References(lambda ids: {1: old})) == []


def test_colour_agreement_tells_a_pattern_from_itself_in_other_colours() -> None:
    query = _query(centre_crop(_jpeg(BOARD, 30), 0.5))
    own, other = _stored(BOARD), _stored(_recoloured(BOARD))
    probe = DenseProbe(query)
    on_own, on_other = probe.match(own), probe.match(other)
    assert on_own is not None and on_other is not None
    # In grey levels both agree: the pattern is the same.
    assert on_own.agreement >= SAME.dense_agreement and on_other.agreement >= SAME.dense_agreement
    own_colour = colour_agreement(query, own, on_own.homography)
    other_colour = colour_agreement(query, other, on_other.homography)
    assert own_colour is not None and own_colour >= MIN_COLOUR_AGREEMENT
    assert other_colour is not None and other_colour < 0.2


def test_a_grey_pattern_has_no_colour_to_tell_but_its_greys() -> None:
    # Colour cannot tell a grey board from another grey board of its period; the query being
    # grey there too is all it can say. So a part of one is answered only where it is the
    # one board judged that it lines up with (test_alignment has the stripes' case).
    grey = np.repeat(cv2.cvtColor(BOARD, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    query = _query(centre_crop(grey, 0.5))
    ref = _stored(grey)
    match = DenseProbe(query).match(ref)
    assert match is not None
    assert colour_agreement(query, ref, match.homography) is None
    greys = colour_agreement(query, ref, match.homography, greys=True)
    assert greys is not None and greys >= MIN_COLOUR_AGREEMENT
    coloured = _query(centre_crop(BOARD, 0.5))
    assert (colour_agreement(coloured, ref, match.homography, greys=True) or 0.0) < 0.2
    shifted = _stored(np.roll(grey, grey.shape[1] // 3, axis=1))
    blobs = {1: ref.to_bytes(), 2: shifted.to_bytes()}
    assert [m.id for m in last_look(SAME, query, [1], References(lambda ids: {1: blobs[1]}))] == [1]
    assert last_look(SAME, query, [1, 2], References(lambda ids: {i: blobs[i] for i in ids})) == []


@pytest.mark.parametrize("share", [0.5, 0.25])
def test_a_crop_of_a_repeated_pattern_finds_it_in_its_own_colours_only(share: float) -> None:
    blobs = _blobs(_recoloured(BOARD), BOARD)
    query = _query(centre_crop(BOARD, share))
    found = last_look(SAME, query, [1, 2], References(lambda ids: {i: blobs[i] for i in ids}))
    assert [m.id for m in found] == [2]
    recoloured_query = _query(centre_crop(_recoloured(BOARD), share))
    found = last_look(SAME, recoloured_query, [1, 2], References(lambda ids: {i: blobs[i] for i in ids}))
    assert [m.id for m in found] == [1]


def test_a_same_library_finds_a_crop_of_a_striped_picture_in_its_colours(engine: Engine) -> None:
    engine.create_library("patterns", "same")
    library = engine.library("patterns")
    library.add(ImageSource(data=encode(BOARD)), brief="board")
    library.add(ImageSource(data=encode(_recoloured(BOARD))), brief="recoloured")
    # A quarter of it: too few keypoints to verify, so only its content (and colour) can tell.
    # (Half of it verifies by keypoints on both: the recoloured board is a hue-shifted copy,
    # which `same` finds by design.)
    hits = library.search(ImageSource(data=encode(centre_crop(BOARD, 0.25), "JPEG", quality=85))).hits
    assert [h.image.brief for h in hits] == ["board"]
    assert 0.6 <= hits[0].score <= 0.9 and hits[0].inliers is None
    # Its grey copy has no colours to check: nothing is answered rather than a guess.
    grey = np.repeat(cv2.cvtColor(centre_crop(BOARD, 0.25), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert library.search(ImageSource(data=encode(grey))).hits == []


def test_refreshing_a_library_stored_before_colour_thumbnails_gives_it_them(engine: Engine) -> None:
    engine.create_library("older", "same", store_originals=True)
    library = engine.library("older")
    board = library.add(ImageSource(data=encode(BOARD)), brief="board")
    gone = library.add(ImageSource(data=encode(_recoloured(BOARD))), brief="original lost")
    for record in (board, gone):  # as a library filled before 2026-12-03 has them
        stored = library._store.keypoints([record.id])[record.id]
        library._store.set_keypoints(record.id, _without_colour(stored))
    library._originals.remove(library.record.id, gone.cont_sign)
    crop = ImageSource(data=encode(centre_crop(BOARD, 0.25), "JPEG", quality=85))
    assert library.search(crop).hits == []

    assert library.refresh_keypoints() == (1, 1)
    assert [h.image.brief for h in library.search(crop).hits] == ["board"]
    refreshed = library._store.keypoints([board.id, gone.id])
    assert Keypoints.from_bytes(refreshed[board.id]).colour is not None
    assert Keypoints.from_bytes(refreshed[gone.id]).colour is None  # kept as it was


def test_only_libraries_with_local_features_and_originals_refresh(engine: Engine) -> None:
    engine.create_library("plain", "same")
    engine.create_library("alike", "similar", store_originals=True)
    for name, says in (("plain", "does not store originals"), ("alike", "no local features")):
        with pytest.raises(InvalidParameter, match=says):
            engine.library(name).refresh_keypoints()


@pytest.mark.parametrize("name", ["crop50", "crop25", "crop_offcentre"])
def test_a_crop_of_stripes_is_laid_in_phase(name: str) -> None:
    # Gradient magnitudes are the same half a period on, where the grey levels are the
    # stripes' negative: these crops used to be laid there (agreement about -0.99).
    brown = stripes(36, BROWN)
    blobs = _blobs(stripes(36, BLUE), brown)
    query = _query(apply_transform(name, brown, 1))
    match = DenseProbe(query).match(_stored(brown))
    assert match is not None and match.agreement >= SAME.dense_agreement
    found = last_look(SAME, query, [1, 2], References(lambda ids: {i: blobs[i] for i in ids}))
    # Stripes of its period in another colour line up in grey levels too: colour tells.
    assert [m.id for m in found] == [2]


def test_in_phase_leaves_an_alignment_already_in_phase() -> None:
    brown = stripes(36, BROWN)
    query, ref = _query(brown), _stored(brown)
    identity = np.eye(3)
    assert in_phase(query, ref, identity) is identity
    # Half a period off (in the reference's pixels), it is put back within a pixel.
    off = np.array([[1.0, 0, 18], [0, 1.0, 0], [0, 0, 1.0]])
    assert agreement(query, ref, off, levels=True) < 0
    moved = in_phase(query, ref, off)
    assert abs(moved[0, 2] % 36) < 2.5 or abs(moved[0, 2] % 36 - 36) < 2.5
    assert agreement(query, ref, moved, levels=True) > 0.95
