"""The stored form of keypoints: blobs written now, and .npz blobs stored before them."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from skimage import data

from tusou.features import Keypoints, extract_keypoints, keypoint_blobs
from tusou.features.keypoints import (
    descriptors_from_bytes,
    thumbnail_and_descriptors_from_bytes,
    thumbnail_from_bytes,
)


@pytest.fixture(scope="module")
def keypoints() -> Keypoints:
    return extract_keypoints(data.astronaut(), "orb", max_features=300)


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    """A blob as ``Keypoints.to_bytes`` wrote it until 2026-12-07."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def test_round_trip_keeps_every_field(keypoints: Keypoints) -> None:
    raw = keypoints.to_bytes()
    assert raw[:4] == b"TKP\x02"
    back = Keypoints.from_bytes(raw)
    assert (back.width, back.height, back.method) == (512, 512, "orb")
    assert back.points.dtype == np.float32 and np.array_equal(back.points, keypoints.points)
    assert back.descriptors.dtype == np.uint8 and np.array_equal(back.descriptors, keypoints.descriptors)
    assert back.image is not None and back.image.shape == (160, 160)
    assert back.colour is not None and back.colour.shape == (128, 128, 3)
    # what is read is its own: writable, and not a view that keeps the blob alive
    assert back.points.flags.writeable and back.descriptors.flags.writeable
    assert back.descriptors.base is None or not isinstance(back.descriptors.base, bytes)
    # the parts read alone are the same
    assert np.array_equal(descriptors_from_bytes(raw), keypoints.descriptors)
    thumb = thumbnail_from_bytes(raw)
    assert thumb is not None and np.array_equal(thumb, back.image)
    thumb2, descriptors = thumbnail_and_descriptors_from_bytes(raw)
    assert thumb2 is not None and np.array_equal(thumb2, thumb)
    assert np.array_equal(descriptors, keypoints.descriptors)
    # read and written again, the colour thumbnail is kept as stored (not encoded again)
    assert np.array_equal(keypoint_blobs.parse(back.to_bytes(), ("colour",))["colour"],
                          keypoint_blobs.parse(raw, ("colour",))["colour"])


def test_blob_written_before_is_read_alike(keypoints: Keypoints) -> None:
    """An .npz blob (libraries stored before 2026-12-07) reads as the same arrays, whole or
    in part, as the blob written now from them."""
    arrays = keypoint_blobs.parse(keypoints.to_bytes())
    old, new = _npz(arrays), keypoint_blobs.compose(arrays)
    for names in (keypoint_blobs.NAMES, ("thumb",), ("descriptors",), ("thumb", "descriptors")):
        a, b = keypoint_blobs.parse(old, names), keypoint_blobs.parse(new, names)
        assert a.keys() == b.keys() == set(names)
        for name in names:
            assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name])
    x, y = Keypoints.from_bytes(old), Keypoints.from_bytes(new)
    assert np.array_equal(x.points, y.points) and np.array_equal(x.descriptors, y.descriptors)
    assert x.image is not None and y.image is not None and np.array_equal(x.image, y.image)
    assert (x.width, x.height, x.method) == (y.width, y.height, y.method)


def test_no_keypoints_and_no_thumbnails() -> None:
    """A smooth picture has no keypoints: its descriptors stay (0, width); keypoints stored
    without thumbnails (or a grey picture, without colour) read back without them."""
    empty = extract_keypoints(np.full((100, 100, 3), 128, np.uint8), "akaze")
    back = Keypoints.from_bytes(empty.to_bytes())
    assert back.points.shape == (0, 2) and back.descriptors.shape == (0, 61)
    bare = Keypoints(np.zeros((3, 2), np.float32), np.ones((3, 32), np.uint8), 40, 30, "orb")
    raw = bare.to_bytes()
    again = Keypoints.from_bytes(raw)
    assert again.image is None and again.colour_data is None and again.colour is None
    assert thumbnail_from_bytes(raw) is None
    assert set(keypoint_blobs.parse(raw)) == {"points", "descriptors", "size", "method"}
    old = _npz(keypoint_blobs.parse(raw))
    assert thumbnail_from_bytes(old) is None and Keypoints.from_bytes(old).image is None


def test_damaged_blob_is_refused(keypoints: Keypoints) -> None:
    raw = keypoints.to_bytes()
    with pytest.raises(ValueError, match="header"):
        keypoint_blobs.parse(raw[:-1])
    with pytest.raises(ValueError, match="header"):
        keypoint_blobs.parse(raw + b"\0")
    with pytest.raises(ValueError, match="shorter"):
        keypoint_blobs.parse(raw[:10])
    with pytest.raises(ValueError):
        keypoint_blobs.compose({"points": np.zeros((3, 2), np.float32),
                                "descriptors": np.zeros((2, 32), np.uint8),
                                "size": np.array([1, 1]), "method": np.frombuffer(b"orb", np.uint8)})


def test_grey_thumbnail_is_a_jpeg(keypoints: Keypoints) -> None:
    """The thumbnails are stored as JPEG bytes, as before: a blob is about as small."""
    arrays = keypoint_blobs.parse(keypoints.to_bytes(), ("thumb", "colour"))
    assert cv2.imdecode(arrays["thumb"], cv2.IMREAD_GRAYSCALE) is not None
    assert len(keypoints.to_bytes()) < len(_npz(keypoint_blobs.parse(keypoints.to_bytes())))
