"""The keypoint table: every stored keypoint of a library, voted over by a query's keypoints
(index.keypoint_table), and the look that verifies what it finds (KindSpec.vote_candidates)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from conftest import encode, generated_page
from tusou.engine import Engine
from tusou.engine.kinds import kind_spec
from tusou.engine.sources import ImageSource
from tusou.evaluation.dataset import encode_jpeg
from tusou.evaluation.transforms import apply_transform
from tusou.features import Keypoints
from tusou.index.keypoint_table import MAX_DISTANCE_SHARE, HeldKeypoints, KeypointTable
from tusou.store import TagFilter

WIDTH = 61  # AKAZE's descriptor bytes


def _descriptors(seed: int, n: int = 300, width: int = WIDTH) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, width), dtype=np.uint8)


def _noisy(descriptors: np.ndarray, flips: int, seed: int = 99) -> np.ndarray:
    """Each descriptor with ``flips`` of its bits flipped (as a photo of it would)."""
    rng = np.random.default_rng(seed)
    bits = np.unpackbits(descriptors, axis=1)
    for row in bits:
        row[rng.choice(len(row), flips, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


@pytest.fixture
def table() -> KeypointTable:
    table = KeypointTable()
    table.load(HeldKeypoints([(i, _descriptors(i)) for i in range(1, 11)]))
    return table


def test_the_image_holding_the_query_keypoints_gets_their_votes(table: KeypointTable) -> None:
    query = _noisy(_descriptors(4)[:200], flips=12)
    hits = table.votes(query, 3)
    assert hits[0][0] == 4
    assert hits[0][1] >= 150  # of 200 keypoints
    assert all(votes <= 2 for _, votes in hits[1:])
    # Unrelated keypoints vote for nothing much.
    assert all(votes <= 2 for _, votes in table.votes(_descriptors(1234), 3))


def test_keypoints_farther_than_the_distance_limit_do_not_vote() -> None:
    table = KeypointTable(tables=40, bits=8)  # buckets so coarse that far rows share them
    table.load(HeldKeypoints([(1, _descriptors(1))]))
    limit = int(MAX_DISTANCE_SHARE * WIDTH * 8)
    assert table.votes(_noisy(_descriptors(1), flips=limit - 10), 1)[0][1] > 200
    assert table.votes(_noisy(_descriptors(1), flips=limit + 10), 1) == []


def test_the_ratio_is_to_other_images_so_a_page_repeating_its_letters_keeps_its_votes() -> None:
    letters = _descriptors(7, n=20)
    page = np.concatenate([letters] * 10)  # every descriptor ten times
    table = KeypointTable()
    table.load(HeldKeypoints([(1, page), (2, _descriptors(8))]))
    assert table.votes(_noisy(letters, flips=8), 2) == [(1, 20)]
    # Another image holding the same keypoints nearly as close: no keypoint tells them apart.
    table.upsert(3, _noisy(letters, flips=2, seed=5))
    assert table.votes(_noisy(letters, flips=8), 2) == []


def test_adds_removals_and_replacements_are_seen_by_the_next_vote(table: KeypointTable) -> None:
    query = _noisy(_descriptors(42)[:100], flips=10)
    assert table.votes(query, 1) == []
    table.upsert(42, _descriptors(42))
    assert table.votes(query, 1)[0][0] == 42
    table.upsert(42, _descriptors(43))  # its keypoints replaced
    assert table.votes(query, 1) == []
    table.upsert(42, _descriptors(42))
    table.remove([42, 12345])  # unknown ids are ignored
    assert table.votes(query, 1) == []
    table.upsert(43, np.empty((0, WIDTH), np.uint8))  # a smooth picture: no keypoints
    assert table.votes(query, 1) == []
    assert len(table) == 10  # nothing held for it
    with pytest.raises(ValueError, match="must be"):
        table.upsert(44, np.zeros(WIDTH, np.uint8))


def test_filters_exclusions_counts_and_minimum_votes(table: KeypointTable) -> None:
    query = np.concatenate([_noisy(_descriptors(3)[:60], flips=10), _noisy(_descriptors(5)[:30], 10)])
    both = table.votes(query, 5)
    assert [i for i, _ in both[:2]] == [3, 5]
    assert table.votes(query, 1) == both[:1]
    assert [i for i, _ in table.votes(query, 5, allowed=np.array([5, 6]))][:1] == [5]
    assert [i for i, _ in table.votes(query, 5, exclude=[3])][:1] == [5]
    assert table.votes(query, 5, min_votes=both[0][1] + 1) == []
    assert table.votes(query, 0) == []
    assert table.votes(query[:0], 5) == []
    assert table.votes(_descriptors(3, width=32), 5) == []  # another extractor's descriptors


def test_many_small_adds_are_merged_and_vote_as_one_build() -> None:
    one = KeypointTable()
    one.load(HeldKeypoints([(i, _descriptors(i, n=50)) for i in range(64)]))
    grown = KeypointTable()
    grown.load(HeldKeypoints([]))
    for i in range(64):
        grown.upsert(i, _descriptors(i, n=50))
        grown.votes(_descriptors(0, n=1), 1)  # each vote makes the pending a segment
    grown.remove(range(0, 64, 2))
    one.remove(range(0, 64, 2))
    assert len(grown._segments) <= 7  # merged as a binary counter carries: log2(64) + 1
    assert grown.keypoints == 64 * 50 and grown.nbytes > 64 * 50 * (64 + 8 + 8 * 8)
    query = np.concatenate([_noisy(_descriptors(i, n=50), flips=10) for i in range(0, 64, 3)])
    assert grown.votes(query, 30) == one.votes(query, 30)
    assert {i for i, _ in one.votes(query, 30)} == set(range(3, 64, 6))  # the odd ones


def test_each_image_keeps_only_its_first_keypoints_the_strongest() -> None:
    with pytest.raises(ValueError):
        KeypointTable(per_image=0)
    table = KeypointTable(per_image=100)
    table.load(HeldKeypoints([(1, _descriptors(1)), (2, _descriptors(2, n=40))]))
    table.upsert(3, _descriptors(3))
    first, rest = _noisy(_descriptors(1)[:100], flips=10), _noisy(_descriptors(1)[100:], flips=10)
    assert table.votes(first, 1)[0] == (1, 100)
    assert table.votes(rest, 1) == []  # rows past the first 100 are not held
    assert table.votes(_noisy(_descriptors(3)[:100], flips=10), 1)[0] == (3, 100)
    assert table.votes(_noisy(_descriptors(2), flips=10), 1)[0] == (2, 40)  # fewer: all kept
    assert table.keypoints == 100 + 40 + 100


def test_adds_and_removals_do_not_wait_for_a_build_and_win_over_what_it_built() -> None:
    table = KeypointTable()
    table.load(HeldKeypoints([(i, _descriptors(i)) for i in range(1, 5)]))
    table.upsert(5, _descriptors(5))  # pending: the next vote builds (and merges)
    building, release = threading.Event(), threading.Event()
    build = table._segment

    def slow(images):  # type: ignore[no-untyped-def]
        building.set()
        assert release.wait(10)
        return build(images)

    table._segment = slow  # type: ignore[method-assign]
    voter = threading.Thread(target=table.votes, args=(_descriptors(0, n=1), 1))
    voter.start()
    assert building.wait(10)
    assert table.keypoints == 5 * 300  # the rows under build still counted
    # While the build waits, writers go through: they do not wait for it.
    writer = threading.Thread(target=lambda: (table.remove([1, 5]), table.upsert(2, _descriptors(22))))
    writer.start()
    writer.join(5)
    done = not writer.is_alive()
    release.set()
    writer.join(10)
    assert done
    voter.join(10)
    table._segment = build  # type: ignore[method-assign]
    for gone in (1, 5):  # removed while built: dead in what was built
        assert table.votes(_noisy(_descriptors(gone), flips=10), 1) == []
    assert table.votes(_noisy(_descriptors(2), flips=10), 1) == []  # replaced while built
    assert table.votes(_noisy(_descriptors(22), flips=10), 1)[0][0] == 2
    assert table.votes(_noisy(_descriptors(3), flips=10), 1)[0][0] == 3
    assert len(table) == 3


def test_a_failed_build_loses_no_image_and_keeps_what_changed_meanwhile() -> None:
    table = KeypointTable()
    table.load(HeldKeypoints([(1, _descriptors(1))]))
    for image_id in (2, 3, 4):
        table.upsert(image_id, _descriptors(image_id))
    build = table._segment

    def failing(images):  # type: ignore[no-untyped-def]
        table.remove([3])  # while it builds: removed, and stays so
        table.upsert(4, _descriptors(44))  # replaced: the newer keypoints win
        raise MemoryError

    table._segment = failing  # type: ignore[method-assign]
    with pytest.raises(MemoryError):
        table.votes(_descriptors(0, n=1), 1)
    table._segment = build  # type: ignore[method-assign]
    assert table.keypoints == 3 * 300 and len(table) == 3
    assert table.votes(_noisy(_descriptors(2), flips=10), 1)[0][0] == 2  # pending again
    assert table.votes(_noisy(_descriptors(3), flips=10), 1) == []
    assert table.votes(_noisy(_descriptors(4), flips=10), 1) == []
    assert table.votes(_noisy(_descriptors(44), flips=10), 1)[0][0] == 4
    assert table.votes(_noisy(_descriptors(1), flips=10), 1)[0][0] == 1


def test_rows_of_deleted_images_are_dropped_once_half_a_segment_is_dead(table: KeypointTable) -> None:
    assert table.keypoints == 10 * 300
    table.remove(range(1, 6))
    table.votes(_descriptors(0, n=1), 1)
    assert table.keypoints == 10 * 300  # half dead: kept for now
    table.remove([6])
    table.votes(_descriptors(0, n=1), 1)  # more than half: built again from the rest
    assert table.keypoints == 4 * 300 and len(table) == 4
    assert table.votes(_noisy(_descriptors(7), flips=10), 1)[0][0] == 7
    assert table.votes(_noisy(_descriptors(3), flips=10), 1) == []
    table.remove(range(7, 11))
    assert table.votes(_noisy(_descriptors(7), flips=10), 1) == []
    assert table.keypoints == 0 and table.nbytes == 0


def test_segments_grow_to_segment_rows_and_vote_as_one() -> None:
    images = [(i, _descriptors(i, n=50)) for i in range(40)]
    one = KeypointTable()
    one.load(HeldKeypoints(images))
    capped = KeypointTable(segment_rows=400)
    capped.load(HeldKeypoints(images))  # read at once: built in runs of 8 images
    for i in range(40, 60):
        capped.upsert(i, _descriptors(i, n=50))
        one.upsert(i, _descriptors(i, n=50))
        capped.votes(_descriptors(0, n=1), 1)  # merged as due, to 400 rows at most
    assert len(one._segments) < len(capped._segments)
    assert all(len(s) <= 400 for s in capped._segments) and capped.keypoints == 60 * 50
    query = np.concatenate([_noisy(_descriptors(i, n=50), flips=10) for i in range(0, 60, 4)])
    assert capped.votes(query, 20) == one.votes(query, 20)
    assert {i for i, _ in capped.votes(query, 20)} == set(range(0, 60, 4))


def test_what_changes_while_the_store_is_read_wins_over_what_was_read() -> None:
    table = KeypointTable()
    reading = threading.Event()
    proceed = threading.Event()

    class Slow(HeldKeypoints):
        def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
            yield 1, _descriptors(1)
            reading.set()
            proceed.wait(5)
            yield 2, _descriptors(2)  # removed meanwhile
            yield 3, _descriptors(3)  # replaced meanwhile

    loader = threading.Thread(target=table.load, args=(Slow([]),))
    loader.start()
    reading.wait(5)
    table.remove([2])
    table.upsert(3, _descriptors(30))
    table.upsert(4, _descriptors(4))
    proceed.set()
    loader.join(5)
    assert table.loaded and len(table) == 3
    table.load(HeldKeypoints([(5, _descriptors(5))]))  # once only
    for image_id, source, found in [(1, 1, True), (2, 2, False), (3, 3, False), (3, 30, True),
                                    (4, 4, True), (5, 5, False)]:
        hits = table.votes(_noisy(_descriptors(source), flips=10), 1)
        assert (hits[:1] == [(image_id, hits[0][1])] if found else hits == []), (image_id, source)


def test_before_it_is_loaded_the_table_keeps_nothing_and_a_failed_load_is_tried_again() -> None:
    table = KeypointTable()
    table.upsert(1, _descriptors(1))  # the store has it: the load will read what it has
    assert not table.loaded and len(table) == 0

    class Broken(HeldKeypoints):
        def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
            yield 2, _descriptors(2)
            raise OSError("the store went away")

    with pytest.raises(OSError):
        table.load(Broken([]))
    assert not table.loaded and len(table) == 0
    table.load(HeldKeypoints([(2, _descriptors(2))]))
    assert table.loaded and len(table) == 1 and table.keypoints == 300  # built at load
    assert table.votes(_noisy(_descriptors(1), flips=10), 1) == []
    assert table.votes(_noisy(_descriptors(2), flips=10), 1)[0][0] == 2


# --- the look ---------------------------------------------------------------------------


PAGE = 2_000_007


@pytest.fixture
def book(engine: Engine):  # type: ignore[no-untyped-def]
    engine.create_library("book", "picturebook")
    library = engine.library("book")
    for seed in (PAGE, 2_000_001, 2_100_663, 2_500_006):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    return library


def _photo() -> ImageSource:
    return ImageSource(data=encode_jpeg(apply_transform("phone55", generated_page(PAGE), 7)))


def test_a_page_no_vector_reaches_is_found_by_its_keypoints_votes(book) -> None:  # type: ignore[no-untyped-def]
    assert [h.image.brief for h in book.search(_photo()).hits] == [str(PAGE)]
    # The page's vector gone from the index: no look that starts from a vector reaches it,
    # as in a library where thousands of vectors rank before it.
    page_id = book.get(book.search(_photo()).hits[0].cont_sign).id
    book._state.index.remove([page_id])
    hits = book.search(_photo()).hits
    assert [h.image.brief for h in hits] == [str(PAGE)]
    assert hits[0].inliers is not None and hits[0].inliers >= kind_spec("picturebook").min_inliers
    assert hits[0].box is not None
    # A tag filter that leaves it out leaves it out of the votes too.
    assert book.search(_photo(), tag_filter=TagFilter(all_of=(7,))).hits == []
    book.spec = replace(book.spec, vote_candidates=0)
    assert book.search(_photo()).hits == []


def test_a_deleted_page_is_no_longer_voted_for(book) -> None:  # type: ignore[no-untyped-def]
    cont_sign = book.search(_photo()).hits[0].cont_sign
    book._state.index.remove([book.get(cont_sign).id])
    assert book.search(_photo()).hits  # the table is loaded and holds the page
    book.delete([cont_sign])
    assert book.search(_photo()).hits == []
    assert book.add(ImageSource(data=encode(generated_page(PAGE))), brief="again")
    assert [h.image.brief for h in book.search(_photo()).hits] == ["again"]


def test_refreshed_keypoints_replace_the_old_ones_in_the_table(engine: Engine) -> None:
    engine.create_library("kept", "picturebook", store_originals=True)
    library = engine.library("kept")
    for seed in (PAGE, 2_000_001):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    cont_sign = library.search(_photo()).hits[0].cont_sign
    page_id = library.get(cont_sign).id
    library._state.index.remove([page_id])
    assert [h.image.brief for h in library.search(_photo()).hits] == [str(PAGE)]  # by votes
    votes = library._state.votes
    assert votes is not None and votes.loaded and len(votes) == 2
    assert library.refresh_keypoints() == (2, 0)
    assert len(votes) == 2
    assert [h.image.brief for h in library.search(_photo()).hits] == [str(PAGE)]
    # Each image's rows once: the old ones dead or merged away.
    stored = library._store.keypoints([r.id for r in library.all_images()])
    votes.votes(np.zeros((1, WIDTH), np.uint8), 1)  # what is pending becomes a segment
    kept = kind_spec("picturebook").vote_keypoints or None
    assert sum(s.live for s in votes._segments) == sum(
        len(Keypoints.from_bytes(blob).descriptors[:kept]) for blob in stored.values())
