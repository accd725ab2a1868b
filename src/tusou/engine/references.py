"""The stored local features of one search's candidates, each read and parsed once.

A `same` or `picturebook` query that nothing answers meets the same candidates in several
looks (the first look's keypoints, the whole frame, the second look, the page look, the
keypoint-free look and its reach), and each look used to read their stored keypoints and
thumbnails from the store and parse them again. Measured (2026-12-06, unanswered queries of
the suites): about 290 parses of 95 images a `picturebook` query, 100-250 of 40-70 a `same`
one, a tenth of such a query's time. A search holds one ``References`` for its lifetime,
so every look sees the same stored version of an image, even while a refresh rewrites it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from tusou.features import Keypoints
from tusou.features.keypoints import thumbnail_and_descriptors_from_bytes, thumbnail_from_bytes

Loader = Callable[[list[int]], Mapping[int, bytes]]


class References:
    """Stored keypoints and grey thumbnails by image id, read through ``load`` (the store's
    ``keypoints``: id -> the blob ``Keypoints.to_bytes`` wrote, for the ids that have one)
    and parsed at most once each. Only what was parsed is kept (a reach reads hundreds of
    blobs for their thumbnails and parses a few of them whole). Not shared between
    searches: it holds what one search has read."""

    def __init__(self, load: Loader, *, with_descriptors: bool = False) -> None:
        self._load = load
        # Keep the descriptors of what ``thumbnails`` reads: a search that votes over a reach
        # it has slid over (KindSpec.reach_voted) then reads it once.
        self._with_descriptors = with_descriptors
        self._keypoints: dict[int, Keypoints] = {}
        self._thumbnails: dict[int, np.ndarray | None] = {}
        self._descriptors: dict[int, np.ndarray] = {}  # read with their thumbnail
        self._absent: set[int] = set()  # no stored keypoints

    def _blobs(self, ids: Sequence[int], known: Mapping[int, object]) -> Mapping[int, bytes]:
        """The blobs of those of ``ids`` neither in ``known`` nor known to have none."""
        missing = [i for i in dict.fromkeys(ids) if i not in known and i not in self._absent]
        found = self._load(missing) if missing else {}
        self._absent.update(i for i in missing if i not in found)
        return found

    def keypoints(self, ids: Sequence[int]) -> Iterator[tuple[int, Keypoints]]:
        """The stored keypoints (with their thumbnails) of each of ``ids`` that has them, in
        the order of ``ids``."""
        for image_id, blob in self._blobs(ids, self._keypoints).items():
            self._keypoints[image_id] = Keypoints.from_bytes(blob)
        for image_id in ids:
            if image_id in self._keypoints:
                yield image_id, self._keypoints[image_id]

    def thumbnails(self, ids: Sequence[int]) -> Iterator[tuple[int, np.ndarray | None]]:
        """The grey thumbnail (or None) of each of ``ids`` that has stored keypoints, in the
        order of ``ids``; only the thumbnail is decoded where the keypoints were not."""
        self._read_thumbnails(ids, {**self._thumbnails, **self._keypoints}, self._with_descriptors)
        for image_id in ids:
            if image_id in self._keypoints:
                yield image_id, self._keypoints[image_id].image
            elif image_id in self._thumbnails:
                yield image_id, self._thumbnails[image_id]

    def descriptors(self, ids: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """The stored descriptors of each of ``ids`` that has keypoints, in the order of
        ``ids``. Read with the thumbnails, which ``thumbnails`` then need not read again
        (nor these, ``with_descriptors``): a reach votes over its hundreds of images and
        slides over them."""
        self._read_thumbnails(ids, {**self._descriptors, **self._keypoints}, True)
        for image_id in ids:
            if image_id in self._keypoints:
                yield image_id, self._keypoints[image_id].descriptors
            elif image_id in self._descriptors:
                yield image_id, self._descriptors[image_id]

    def _read_thumbnails(self, ids: Sequence[int], known: Mapping[int, object], descriptors: bool) -> None:
        """Read the thumbnails (and ``descriptors`` too) of those of ``ids`` not ``known``."""
        for image_id, blob in self._blobs(ids, known).items():
            if descriptors:
                self._thumbnails[image_id], self._descriptors[image_id] = (
                    thumbnail_and_descriptors_from_bytes(blob))
            else:
                self._thumbnails[image_id] = thumbnail_from_bytes(blob)
