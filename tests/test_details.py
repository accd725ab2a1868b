"""A picturebook page's details: keypoints found at its full size, stored beside the ones
every look reads, for close photos of part of a page (KindSpec.detail_keypoints)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import encode, generated_page, noise_image
from tusou.engine import Engine
from tusou.engine.describe import DETAIL_SIDE
from tusou.engine.kinds import kind_spec
from tusou.engine.sources import ImageSource
from tusou.evaluation.dataset import encode_jpeg
from tusou.evaluation.transforms import apply_transform
from tusou.features import Keypoints
from tusou.features.keypoints import WORK_SIDE

BOOK = kind_spec("picturebook")


# Close photos of part of a page (the picturebook suite's 40 % partial photos at seed 4):
# a window of a dotted illustration and its frame; a title's words over a smooth sky. At
# the work copy's 640 px neither page keeps enough of its dots or type to verify.
PARTS = [(2_000_001, 4000116), (2_000_023, 4002338)]


@pytest.fixture
def book(engine: Engine):  # type: ignore[no-untyped-def]
    engine.create_library("book", "picturebook", store_originals=True)
    library = engine.library("book")
    # The two pages, and two more of their book (same layout, type and frames).
    for seed in (2_000_001, 2_000_023, 2_100_663, 2_500_006):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    return library


def _part(seed: int, photo_seed: int) -> ImageSource:
    return ImageSource(data=encode_jpeg(apply_transform("partial40", generated_page(seed), photo_seed)))


@pytest.mark.parametrize(("seed", "photo_seed"), PARTS)
def test_a_close_photo_of_part_of_a_page_is_found_by_its_details(book, seed: int, photo_seed: int) -> None:  # type: ignore[no-untyped-def]
    hits = book.search(_part(seed, photo_seed)).hits
    assert [h.image.brief for h in hits] == [str(seed)]
    assert hits[0].inliers is not None and hits[0].inliers >= BOOK.agreeing_min_inliers
    assert 0.6 <= hits[0].score <= 0.95
    width, height = hits[0].image.width, hits[0].image.height
    x1, y1, x2, y2 = hits[0].box or (0, 0, 0, 0)  # in the page's own pixels
    assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
    assert (x2 - x1) * (y2 - y1) < 0.7 * width * height
    book.spec = replace(book.spec, detail_keypoints=0)  # the keypoints every look reads only
    assert book.search(_part(seed, photo_seed)).hits == []


# A window of a title over shapes (the suite's partial photo at seed 5) whose page the
# vector ranks first but that slides behind other pages of its book: it verifies on its
# details only.
TITLE = (2_000_056, 5005674)


def test_the_candidates_the_vector_ranks_first_are_verified_on_their_details(engine: Engine) -> None:
    engine.create_library("titles", "picturebook")
    library = engine.library("titles")
    for seed in (TITLE[0], 2_100_001, 2_100_002, 2_100_003, 2_100_663, 2_500_001, 2_500_002,
                 2_500_003, 2_500_006):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    hits = library.search(_part(*TITLE)).hits
    assert [h.image.brief for h in hits] == [str(TITLE[0])]
    assert hits[0].inliers is not None and hits[0].inliers >= BOOK.min_inliers
    # Three other pages slide over it better, and only those three are judged by slide.
    library.spec = replace(library.spec, detail_tried=0)
    assert library.search(_part(*TITLE)).hits == []


def test_details_are_kept_for_pages_larger_than_the_work_copy_only(book) -> None:  # type: ignore[no-untyped-def]
    small = book.add(ImageSource(data=encode(noise_image(3, 640, 480))), brief="small")
    ids = {r.brief: r.id for r in book.all_images()}
    stored = book._store.details(list(ids.values()))
    assert set(stored) == {ids[b] for b in ("2000001", "2000023", "2100663", "2500006")}
    assert small.id not in stored
    details = Keypoints.from_bytes(stored[ids["2000001"]])
    everyday = Keypoints.from_bytes(book._store.keypoints([ids["2000001"]])[ids["2000001"]])
    page = generated_page(2_000_001)
    assert WORK_SIDE < max(page.shape[:2]) <= DETAIL_SIDE
    assert (details.width, details.height) == (everyday.width, everyday.height) == (page.shape[1], page.shape[0])
    assert len(everyday) <= BOOK.keypoint_budget < len(details) <= BOOK.detail_keypoints


def test_other_kinds_keep_no_details(engine: Engine) -> None:
    engine.create_library("copies", "same")
    library = engine.library("copies")
    record = library.add(ImageSource(data=encode(generated_page(2_000_001))), brief="page")
    assert library._store.details([record.id]) == {}


def test_details_go_with_their_image_and_their_library(engine: Engine, book) -> None:  # type: ignore[no-untyped-def]
    records = {r.brief: r for r in book.all_images()}
    ids = {brief: r.id for brief, r in records.items()}
    book.delete([records["2000001"].cont_sign])
    assert book._store.details([ids["2000001"]]) == {}
    assert not book._store.set_keypoints(ids["2000001"], None, b"late")  # a refresh racing the delete
    assert book._store.details([ids["2000001"]]) == {}
    assert set(book._store.details(list(ids.values()))) == {ids[b] for b in ("2000023", "2100663", "2500006")}
    engine.delete_library("book")
    assert book._store.details(list(ids.values())) == {}


def test_refreshing_a_library_stored_before_details_gives_its_pages_them(book) -> None:  # type: ignore[no-untyped-def]
    ids = {r.brief: r.id for r in book.all_images()}
    for image_id in ids.values():  # as a library filled before 2026-12-06 has them
        assert book._store.set_keypoints(image_id, book._store.keypoints([image_id])[image_id])
    assert book._store.details(list(ids.values())) == {}
    assert book.search(_part(*PARTS[0])).hits == []
    assert book.refresh_keypoints() == (4, 0)
    assert set(book._store.details(list(ids.values()))) == set(ids.values())
    assert [h.image.brief for h in book.search(_part(*PARTS[0])).hits] == ["2000001"]
