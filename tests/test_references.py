"""One search's stored keypoints: each image read from the store and parsed once."""

import numpy as np
import skimage.data

from tusou.engine.references import References
from tusou.features import Keypoints, extract_keypoints
from tusou.features.keypoints import thumbnail_from_bytes


def _blobs() -> dict[int, bytes]:
    pictures = {1: skimage.data.astronaut(), 2: skimage.data.coffee(), 3: skimage.data.chelsea()}
    return {i: extract_keypoints(p, "orb", max_features=200).to_bytes() for i, p in pictures.items()}


class _CountingStore:
    def __init__(self, blobs: dict[int, bytes]) -> None:
        self.blobs = blobs
        self.asked: list[list[int]] = []

    def __call__(self, ids: list[int]) -> dict[int, bytes]:
        self.asked.append(list(ids))
        return {i: self.blobs[i] for i in ids if i in self.blobs}


def test_keypoints_come_in_the_order_asked_and_are_read_once() -> None:
    store = _CountingStore(_blobs())
    refs = References(store)
    first = list(refs.keypoints([3, 9, 1]))  # 9 has no stored keypoints
    assert [i for i, _ in first] == [3, 1]
    again = list(refs.keypoints([1, 2, 3, 9]))
    assert [i for i, _ in again] == [1, 2, 3]
    # The same parsed objects, and the store asked only for what it had not been asked.
    assert again[0][1] is first[1][1] and again[2][1] is first[0][1]
    assert store.asked == [[3, 9, 1], [2]]
    stored = Keypoints.from_bytes(store.blobs[2])
    assert np.array_equal(again[1][1].descriptors, stored.descriptors)
    assert np.array_equal(again[1][1].points, stored.points)


def test_thumbnails_alone_are_decoded_until_the_keypoints_are_needed() -> None:
    store = _CountingStore(_blobs())
    refs = References(store)
    thumbs = dict(refs.thumbnails([1, 2, 7]))
    assert set(thumbs) == {1, 2}
    for i, thumb in thumbs.items():
        expected = thumbnail_from_bytes(store.blobs[i])
        assert thumb is not None and expected is not None and np.array_equal(thumb, expected)
    assert list(refs.thumbnails([2, 1])) and store.asked == [[1, 2, 7]]
    # The whole keypoints are read again (only the thumbnail was kept), then serve both.
    ((_, ref),) = refs.keypoints([2])
    assert store.asked == [[1, 2, 7], [2]]
    assert dict(refs.thumbnails([2]))[2] is ref.image
    assert store.asked == [[1, 2, 7], [2]]


def test_nothing_asked_reads_nothing() -> None:
    store = _CountingStore(_blobs())
    refs = References(store)
    assert list(refs.keypoints([])) == [] and list(refs.thumbnails([])) == []
    assert store.asked == []


def test_descriptors_are_read_with_the_thumbnails_which_need_no_read_then() -> None:
    store = _CountingStore(_blobs())
    refs = References(store)
    ((_, whole),) = refs.keypoints([3])
    held = dict(refs.descriptors([1, 3, 8]))  # 8 has no stored keypoints
    assert set(held) == {1, 3} and held[3] is whole.descriptors
    assert np.array_equal(held[1], Keypoints.from_bytes(store.blobs[1]).descriptors)
    assert store.asked == [[3], [1, 8]]
    # The reach slides over the thumbnails it voted over: read once.
    thumbs = dict(refs.thumbnails([1, 3]))
    assert np.array_equal(thumbs[1], thumbnail_from_bytes(store.blobs[1]))
    assert store.asked == [[3], [1, 8]]


def test_descriptors_kept_with_the_thumbnails_need_no_read_then() -> None:
    store = _CountingStore(_blobs())
    refs = References(store, with_descriptors=True)
    assert set(dict(refs.thumbnails([1, 2]))) == {1, 2}
    held = dict(refs.descriptors([2, 1]))
    assert np.array_equal(held[2], Keypoints.from_bytes(store.blobs[2]).descriptors)
    assert store.asked == [[1, 2]]
    # without, the descriptors are read again after the thumbnails
    plain = _CountingStore(_blobs())
    refs = References(plain)
    list(refs.thumbnails([1, 2]))
    assert set(dict(refs.descriptors([2, 1]))) == {1, 2} and plain.asked == [[1, 2], [2, 1]]
