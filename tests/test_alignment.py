"""The keypoint-free look of `same`: a crop or a slightly tilted copy of a picture that
keypoints cannot verify is aligned with the stored thumbnail; other pictures do not line up,
and references that repeat a pattern are answered only in their own colours (a grey one only
where it alone lines up)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace

import cv2
import httpx
import numpy as np
import pytest
import skimage.data

from conftest import encode, soft_texture
from test_frames import bands
from tusou.engine import Engine, matching
from tusou.engine.kinds import kind_spec
from tusou.engine.matching import Match, dense_score, frame_score, last_look, merged, settled, verify_geometry
from tusou.engine.references import References
from tusou.engine.sources import ImageSource
from tusou.evaluation import synthetic
from tusou.evaluation.dataset import decode_rgb, generated_pages
from tusou.evaluation.transforms import apply_transform, partial_photo
from tusou.features import Keypoints, alignment, extract_keypoints
from tusou.features.alignment import MIN_COARSE, DenseProbe, refined, stripes_normal
from tusou.features.frames import ContentMatch
from tusou.features.keypoints import agreement, periodicity, warp_onto
from tusou.features.pixels import centre_crop

SAME = kind_spec("same")


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


HORSE = _rgb(skimage.data.horse())  # a silhouette: a handful of corners, no usable keypoints
OTHERS = [_rgb(getattr(skimage.data, name)()) for name in ("coins", "camera", "moon", "text")]


def _stored(pixels: np.ndarray) -> Keypoints:
    return Keypoints.from_bytes(extract_keypoints(pixels, "orb", max_features=1000).to_bytes())


def _query(pixels: np.ndarray) -> Keypoints:
    return extract_keypoints(pixels, "orb", max_features=500)


@pytest.mark.parametrize("name", ["crop50", "crop25", "crop_offcentre"])
def test_parts_line_up(name: str) -> None:
    match = DenseProbe(_query(apply_transform(name, HORSE, 1))).match(_stored(HORSE))
    assert match is not None and match.agreement >= SAME.dense_agreement, name


def test_a_tilted_copy_lines_up_but_whole_pictures_are_left_to_the_frame_look() -> None:
    # The colour wheel: a few dozen keypoints, none of them distinctive.
    wheel = _rgb(skimage.data.colorwheel())
    tilted = _query(apply_transform("rot8", wheel, 0))
    match = DenseProbe(tilted).match(_stored(wheel))
    assert match is not None and match.agreement >= SAME.dense_agreement
    # It covers the whole wheel: a whole copy, which only the whole-frame look may answer
    # (freed to shift, whole pages of one template line up with each other).
    assert last_look(SAME, tilted, [5], References(lambda ids: {5: _stored(wheel).to_bytes()})) == []
    part = _query(apply_transform("crop_offcentre", wheel, 0))
    assert [m.id for m in last_look(SAME, part, [5], References(lambda ids: {5: _stored(wheel).to_bytes()}))] == [5]


def test_weak_coarse_placements_are_not_refined() -> None:
    # A thin silhouette turned by 8 degrees barely overlaps itself at the coarse size: such
    # placements are not worth an ECC step (keypoints find most tilted copies anyway).
    probe = DenseProbe(_query(apply_transform("rot8", HORSE, 1)))
    assert probe._placements(_stored(HORSE).image)[0][0] < MIN_COARSE
    assert probe.match(_stored(HORSE)) is None


def test_the_box_is_where_the_crop_came_from() -> None:
    h, w = HORSE.shape[:2]
    part = HORSE[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    match = DenseProbe(_query(part)).match(_stored(HORSE))
    assert match is not None and match.agreement >= SAME.dense_agreement
    expected = np.array([w // 4, h // 4, 3 * w // 4, 3 * h // 4])
    assert np.abs(np.array(match.box) - expected).max() <= 0.04 * max(w, h)


@pytest.mark.parametrize("index", range(len(OTHERS)))
def test_other_pictures_do_not_line_up(index: int) -> None:
    query = DenseProbe(_query(apply_transform("crop25", HORSE, 1)))
    match = query.match(_stored(OTHERS[index]))
    assert match is None or match.agreement < 0.5


def test_repeated_patterns_are_answered_only_in_their_own_colours() -> None:
    # A crop of stripes lines up with its original, but stripes line up with any stripes
    # of their period: on a periodic reference this look also needs the query's colours,
    # so the same crop hue-shifted, or grey, is not answered.
    original = bands(37, wobble=0)
    stored = _stored(original)
    assert periodicity(stored.image) >= 0.9
    grey = np.repeat(cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    for picture, expected in ((original, [7]), (apply_transform("hue_shift", original, 1), []),
                              (grey, [])):
        crop = _query(apply_transform("crop50", picture, 1))
        found = last_look(SAME, crop, [7], References(lambda ids: {7: stored.to_bytes()}))
        assert [m.id for m in found] == expected
    horse = _query(apply_transform("crop50", HORSE, 1))
    found = last_look(SAME, horse, [3], References(lambda ids: {3: _stored(HORSE).to_bytes()}))
    assert [m.id for m in found] == [3] and found[0].inliers is None


@pytest.mark.parametrize(("score", "threshold", "band"), [
    (frame_score, SAME.frame_agreement, (0.79, 0.99)),  # whole copies: PDQ's near-copy band
    (dense_score, SAME.dense_agreement, (0.6, 0.9)),  # parts, without an inlier count
])
def test_content_match_scores_span_their_band(score: Callable[[float, float], float],
                                              threshold: float, band: tuple[float, float]) -> None:
    low, high = band
    assert score(threshold, threshold) == low and score(1.0, threshold) == high
    assert low < score((1 + threshold) / 2, threshold) < high


def test_same_library_finds_a_crop_of_a_silhouette(engine: Engine) -> None:
    engine.create_library("shapes", "same")
    library = engine.library("shapes")
    library.add(ImageSource(data=encode(HORSE)), brief="horse")
    for n, other in enumerate(OTHERS):
        library.add(ImageSource(data=encode(other)), brief=f"other{n}")
    for name in ("crop25", "crop_offcentre"):
        query = encode(apply_transform(name, HORSE, 3), "JPEG", quality=90)
        hits = library.search(ImageSource(data=query)).hits
        assert [h.image.brief for h in hits] == ["horse"], name
        assert 0.6 <= hits[0].score <= 0.9 and hits[0].inliers is None
        x1, y1, x2, y2 = hits[0].box or (0, 0, 0, 0)
        assert 0 <= x1 < x2 <= HORSE.shape[1] and 0 <= y1 < y2 <= HORSE.shape[0]
    # An unrelated picture still finds nothing.
    assert library.search(ImageSource(data=encode(_rgb(skimage.data.clock())))).hits == []


def test_a_warped_part_repeats_its_edge_beyond_its_footprint() -> None:
    part = np.full((40, 40), 200.0, np.float32)
    laid = warp_onto(part, np.array([[1.0, 0, 30], [0, 1.0, 30], [0, 0, 1]]), (100, 100))
    assert laid is not None
    warped, footprint = laid
    assert float(warped.min()) == 200.0  # no black surround to blur into the part's edge
    assert footprint[50, 50] == 1 and footprint[10, 10] == 0 and footprint[30, 30] == 0


@pytest.mark.parametrize("seed", range(4))
def test_a_part_of_a_soft_texture_agrees_where_it_was_cut_from(seed: int) -> None:
    # Compared smoothed, a black surround blurred a step into the footprint's edge that
    # outweighed this texture's own gradients: 0.85-0.88 where it was cut from.
    picture, other = soft_texture(seed), soft_texture(seed + 100)
    query = _query(np.ascontiguousarray(picture[75:225, 75:225]))
    placed = np.array([[1.0, 0, 75], [0, 1.0, 75], [0, 0, 1]])
    score = agreement(query, _stored(picture), placed, levels=True)
    wrong = agreement(query, _stored(other), placed, levels=True)
    assert score is not None and score >= SAME.dense_agreement + 0.03
    assert wrong is not None and wrong < 0.1


def test_same_library_finds_a_quarter_crop_of_asoft_texture(engine: Engine) -> None:
    engine.create_library("soft", "same")
    library = engine.library("soft")
    for seed in range(6):
        library.add(ImageSource(data=encode(soft_texture(seed))), brief=f"soft{seed}")
    for seed in (1, 2):  # too few keypoints agree on these crops: found by their content
        query = encode(apply_transform("crop25", soft_texture(seed), 3), "JPEG", quality=90)
        hits = library.search(ImageSource(data=query)).hits
        assert [(h.image.brief, h.inliers) for h in hits] == [(f"soft{seed}", None)]
    stranger = encode(apply_transform("crop25", soft_texture(50), 3), "JPEG", quality=90)
    assert library.search(ImageSource(data=stranger)).hits == []


def test_native_api_reports_a_dense_match(client: httpx.Client, make_library) -> None:
    lib = make_library("same")
    image = base64.b64encode(encode(HORSE)).decode()
    assert client.post(f"/v1/libraries/{lib}/images",
                       json={"image": image, "brief": "horse"}).status_code == 201
    h, w = HORSE.shape[:2]
    part = HORSE[h // 4: 3 * h // 4, w // 4: 3 * w // 4]
    query = base64.b64encode(encode(part, "JPEG")).decode()
    hits = client.post(f"/v1/libraries/{lib}/search", json={"image": query}).json()["results"]
    assert [hit["brief"] for hit in hits] == ["horse"]
    assert 0.6 <= hits[0]["score"] <= 0.9 and hits[0].get("inliers") is None
    x1, y1, x2, y2 = hits[0]["box"]
    assert abs(x1 - w // 4) <= 0.04 * w and abs(x2 - 3 * w // 4) <= 0.04 * w


def test_the_reach_judges_the_candidate_a_crop_slides_over_best() -> None:
    # Generated pages: a quarter of one has too few keypoints, and its vector can rank its
    # page far down (the first look's candidates never include it).
    pages = [decode_rgb(p.load()) for p in generated_pages(6)]
    query = _query(centre_crop(pages[3], 0.25))
    blobs = {n + 1: _stored(p).to_bytes() for n, p in enumerate(pages)}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    probe = DenseProbe(query)
    upright = {i: probe.upright(Keypoints.from_bytes(b).image) for i, b in blobs.items()}
    assert max(upright, key=lambda i: upright[i]) == 4
    assert last_look(SAME, query, [], References(load)) == []
    # reaching all six, judging the best one only
    reaching = replace(SAME, reach=6, reach_keep=1)
    assert last_look(replace(SAME, reach_keep=0), query, [], References(load), reach=[1, 2, 3, 4, 5, 6]) == []
    assert [m.id for m in last_look(reaching, query, [], References(load), reach=[1, 2, 3, 4, 5, 6])] == [4]
    assert [m.id for m in last_look(SAME, query, [], References(load), reach=[1, 2, 3, 4, 5, 6])] == [4]
    # Judged among the first look's candidates, the page is found the same way.
    assert [m.id for m in last_look(SAME, query, [1, 4], References(load))] == [4]


def test_the_reach_verifies_its_candidates_by_keypoints_first() -> None:
    # A quarter of a photo turned 30 degrees: no quarter turn lines it up (the dense look
    # corrects a dozen degrees at most), but its corners verify, as the first look's
    # candidates do; an unrelated reached picture stays unanswered.
    coffee, rocket = skimage.data.coffee(), skimage.data.rocket()
    h, w = coffee.shape[:2]
    turned = cv2.warpAffine(coffee, cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0), (w, h),
                            borderMode=cv2.BORDER_REFLECT)
    query = _query(centre_crop(turned, 0.25))
    blobs = {1: _stored(rocket).to_bytes(), 2: _stored(coffee).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    assert last_look(SAME, query, [], References(load), reach=[1, 2]) == []
    found = last_look(SAME, query, [], References(load), reach=[1, 2], probes=[query])
    assert [m.id for m in found] == [2]
    assert found[0].inliers is not None and found[0].inliers >= SAME.min_inliers
    assert 0.6 <= found[0].score <= 0.95
    # The first look's candidates were verified by keypoints already: not again here.
    assert last_look(SAME, query, [1, 2], References(load), probes=[query]) == []
    assert last_look(replace(SAME, reach_keep=0), query, [], References(load), reach=[1, 2],
                        probes=[query]) == []


def _refs(blobs: dict[int, bytes]) -> References:
    return References(lambda ids: {i: blobs[i] for i in ids if i in blobs})


def _turned_quarter_behind_alikes() -> tuple[Keypoints, dict[int, bytes]]:
    """A turned quarter of a photo (its keypoints), and stored keypoints of its original
    (id 1) behind four pictures that share the quarter's coarse layout (its own colours
    blurred, with a grain of their own, ids 2-5): they slide over it better."""
    coffee = skimage.data.coffee()
    h, w = coffee.shape[:2]
    turned = cv2.warpAffine(coffee, cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0), (w, h),
                            borderMode=cv2.BORDER_REFLECT)
    part = centre_crop(turned, 0.25)

    def alike(seed: int) -> np.ndarray:
        grain = np.random.default_rng(seed).normal(0, 40, part.shape).astype(np.float32)
        layout = cv2.GaussianBlur(part.astype(np.float32), (0, 0), 6)
        return np.clip(layout + cv2.GaussianBlur(grain, (0, 0), 1.5), 0, 255).astype(np.uint8)

    blobs = {1: _stored(coffee).to_bytes(), **{k: _stored(alike(k)).to_bytes() for k in range(2, 6)}}
    return _query(part), blobs


def test_the_reach_verifies_more_of_its_best_sliding_by_keypoints_than_it_judges_whole() -> None:
    # The turned quarter of a photo again, reached behind four pictures that slide over it
    # better than its original, which keypoints verify from fifth place.
    query, blobs = _turned_quarter_behind_alikes()
    probe = DenseProbe(query)
    slid = {i: probe.upright(Keypoints.from_bytes(b).image) for i, b in blobs.items()}
    assert sorted(slid, key=lambda i: -slid[i])[-1] == 1
    judging_one = replace(SAME, reach_keep=1, reach_verify=0, reach_voted=0)
    assert last_look(judging_one, query, [], _refs(blobs), reach=list(blobs), probes=[query]) == []
    found = last_look(replace(judging_one, reach_verify=5), query, [], _refs(blobs), reach=list(blobs),
                      probes=[query])
    assert [m.id for m in found] == [1] and (found[0].inliers or 0) >= SAME.min_inliers


def test_the_reach_verifies_what_holds_the_most_of_the_query_keypoints_too() -> None:
    # The same, but with the best-sliding verified by keypoints no further than the one
    # judged whole: the original, which slides over the query last, holds its keypoints.
    query, blobs = _turned_quarter_behind_alikes()
    voted = matching.best_voted(query, list(blobs), 5, 3, _refs(blobs))
    assert [i for i, _ in voted][:1] == [1]
    judging_one = replace(SAME, reach_keep=1, reach_verify=0, reach_voted=0)
    assert last_look(judging_one, query, [], _refs(blobs), reach=list(blobs), probes=[query]) == []
    found = last_look(replace(judging_one, reach_voted=1), query, [], _refs(blobs), reach=list(blobs),
                      probes=[query])
    assert [m.id for m in found] == [1] and (found[0].inliers or 0) >= SAME.min_inliers
    # Votes are counted, not given: a floor over what the original gathers finds nothing.
    assert matching.best_voted(query, list(blobs), 5, 10_000, _refs(blobs)) == []


def _drawn_with_a_faint_half(grain_seed: int) -> np.ndarray:
    """Bold circles everywhere, but the left half of the middle quarter is a faint grain
    (grey-level deviation 6) drawn from ``grain_seed``."""
    rng = np.random.default_rng(7)
    image = np.full((480, 480), 128, np.float32)
    for _ in range(40):
        x, y = rng.integers(0, 480, 2)
        cv2.circle(image, (int(x), int(y)), int(rng.integers(8, 40)), float(rng.choice([20, 235])),
                   int(rng.integers(2, 6)))
    grain = cv2.GaussianBlur(np.random.default_rng(grain_seed).normal(0, 1, (480, 480)).astype(np.float32),
                             (0, 0), 3)
    image[120:360, 120:240] = 128 + grain[120:360, 120:240] * (6 / grain.std())
    return _rgb(np.clip(image, 0, 255).astype(np.uint8))


def test_a_part_must_agree_in_every_part() -> None:
    # Of hundreds of reached candidates the best-sliding can be a picture that shares most of
    # the query's drawing but not all of it: as a whole it agrees, its weakest cells do not.
    original, other = _drawn_with_a_faint_half(1), _drawn_with_a_faint_half(2)
    query = _query(centre_crop(original, 0.25))
    blobs = {1: _stored(other).to_bytes(), 2: _stored(original).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    other_match = DenseProbe(query).match(Keypoints.from_bytes(blobs[1]))
    assert other_match is not None and other_match.agreement >= SAME.dense_agreement
    assert SAME.dense_cells is not None
    assert [m.id for m in last_look(SAME, query, [], References(load), reach=[1, 2])] == [2]
    assert [m.id for m in last_look(SAME, query, [1, 2], References(load))] == [2]
    assert {m.id for m in last_look(replace(SAME, dense_cells=None), query, [], References(load),
                                       reach=[1, 2])} == {1, 2}


def _tinted(rgb: np.ndarray, a: float, b: float) -> np.ndarray:
    """``rgb``'s grey levels as CIELAB lightness, in one colour (a*, b*)."""
    lab = np.zeros(rgb.shape, np.float32)
    lab[..., 0] = rgb[..., 0] / 255 * 100
    lab[..., 1], lab[..., 2] = a, b
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255, 0, 255).astype(np.uint8)


def test_a_part_must_have_the_query_s_colours() -> None:
    # The same drawing in other colours agrees in every part in grey levels: among hundreds
    # of reached candidates a generated pattern lined up with a chessboard's crop like that.
    drawing = _drawn_with_a_faint_half(1)
    original, recoloured = _tinted(drawing, 40, 30), _tinted(drawing, -30, 40)
    query = _query(centre_crop(original, 0.25))
    blobs = {1: _stored(recoloured).to_bytes(), 2: _stored(original).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    assert [m.id for m in last_look(SAME, query, [], References(load), reach=[1, 2])] == [2]
    assert [m.id for m in last_look(SAME, query, [1, 2], References(load))] == [2]
    # (a recoloured crop of a picture without keypoints is not found this way either: the
    # price of never answering a pattern that only lines up in grey levels)
    assert last_look(SAME, _query(centre_crop(recoloured, 0.25)), [2], References(load)) == []


# --- few keypoints, refined by content --------------------------------------------------

PAGES = [decode_rgb(p.load()) for p in generated_pages(12)]


def _moved_by(homography: np.ndarray, shift: tuple[float, float], degrees: float,
              centre: tuple[float, float]) -> np.ndarray:
    """``homography`` followed by a turn of ``degrees`` about ``centre`` and a ``shift``
    (reference pixels): a fit a little off, as one from a few keypoints is."""
    turn = np.vstack([cv2.getRotationMatrix2D(centre, degrees, 1.0), [0.0, 0.0, 1.0]])
    turn[:2, 2] += shift
    return turn @ homography


def test_a_rough_fit_is_refined_onto_the_picture() -> None:
    page = PAGES[9]
    h, w = page.shape[:2]
    part = centre_crop(page, 0.25)
    top, left = (h - part.shape[0]) // 2, (w - part.shape[1]) // 2
    exact = np.array([[1.0, 0.0, left], [0.0, 1.0, top], [0.0, 0.0, 1.0]])
    query, ref = _query(part), _stored(page)
    rough = _moved_by(exact, (0.01 * w, 0.01 * h), 1.0, (w / 2, h / 2))
    assert (agreement(query, ref, rough, levels=True) or 0.0) < 0.8
    better = refined(query, ref, rough)
    assert better is not None
    fitted, judged = better
    assert (agreement(query, ref, fitted, levels=True) or 0.0) >= 0.96
    assert judged == agreement(query, ref, fitted, levels=True)  # what refining measured
    corners = np.array([[0, 0, 1], [part.shape[1], 0, 1], [part.shape[1], part.shape[0], 1],
                        [0, part.shape[0], 1]], np.float64).T
    placed, truth = fitted @ corners, exact @ corners
    assert np.abs(placed[:2] / placed[2] - truth[:2]).max() <= 0.015 * max(w, h)
    # A fit far off is not pulled onto whatever lines up: ECC may correct it only so much.
    assert refined(query, ref, _moved_by(exact, (0.3 * w, 0.2 * h), 25.0, (w / 2, h / 2))) is None


@pytest.mark.parametrize(("page", "name"), [(9, "crop25"), (5, "partial40"), (4, "partial40")])
def test_a_part_verified_by_a_few_keypoints_counts_once_refined(page: int, name: str) -> None:
    # Generated pages are smooth illustrations: a part of one keeps 8-10 inliers on its page,
    # too few to count, and their fit agrees too little until it is refined.
    blobs = {n: _stored(p).to_bytes() for n, p in enumerate(PAGES)}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    query = _query(apply_transform(name, PAGES[page], 1))
    found = verify_geometry(SAME, [query], list(blobs), References(load))
    assert [m.id for m in found] == [page]
    assert found[0].inliers is not None and SAME.refined_min_inliers <= found[0].inliers < SAME.min_inliers
    assert found[0].score == 0.6
    x1, y1, x2, y2 = found[0].box or (0, 0, 0, 0)
    assert 0 <= x1 < x2 <= PAGES[page].shape[1] and 0 <= y1 < y2 <= PAGES[page].shape[0]
    assert verify_geometry(replace(SAME, refined_min_inliers=0), [query], list(blobs), References(load)) == []


def test_a_refined_part_must_agree_in_every_part_and_colour() -> None:
    # Refined, a part of a page lines up with every picture that shares it: the page with
    # a block of another page pasted into that part agrees less, and in its weakest cells
    # much less; the page in other colours agrees in grey levels, not in colour.
    page = PAGES[9]
    h, w = page.shape[:2]
    pasted = page.copy()
    block = np.s_[int(0.27 * h):int(0.39 * h), int(0.27 * w):int(0.39 * w)]
    pasted[block] = PAGES[5][block]
    hsv = cv2.cvtColor(page, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 60) % 180
    recoloured = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    query = _query(apply_transform("crop25", page, 1))
    blobs = {1: _stored(pasted).to_bytes(), 2: _stored(recoloured).to_bytes(),
             3: _stored(page).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    assert [m.id for m in verify_geometry(SAME, [query], [1, 2, 3], References(load))] == [3]
    closer = replace(SAME, close_agreement=0.8)
    assert [m.id for m in verify_geometry(closer, [query], [1, 2, 3], References(load))] == [3]
    cells_too = replace(closer, refined_cells=0.4)
    assert {m.id for m in verify_geometry(cells_too, [query], [1, 2, 3], References(load))} == {1, 3}


def test_a_refined_match_leaves_the_later_looks_to_answer_better() -> None:
    weak, strong = Match(1, 0.6, (0, 0, 9, 9), 8, weak=True), Match(1, 0.83, (0, 0, 9, 9))
    other = Match(2, 0.6, (0, 0, 9, 9), 9, weak=True)
    assert not settled([weak, other]) and settled([weak, strong]) and not settled([])
    assert merged([weak, other], [strong]) == [strong, other]
    assert merged([strong], [weak]) == [strong]


def test_the_last_look_keeps_a_part_aligned_better_than_a_few_refined_keypoints() -> None:
    # A quarter of a generated page reached by the last look: its 9 keypoints verify it
    # refined (0.6), and aligned without keypoints it agrees better: that answer is kept.
    blobs = {n + 1: _stored(p).to_bytes() for n, p in enumerate(PAGES)}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    query = _query(apply_transform("crop25", PAGES[9], 1))
    keypoints_only = last_look(replace(SAME, dense_agreement=0.0), query, [], References(load),
                               reach=list(blobs), probes=[query])
    assert [(m.id, m.score, m.weak) for m in keypoints_only] == [(10, 0.6, True)]
    found = last_look(SAME, query, [], References(load), reach=list(blobs), probes=[query])
    assert [(m.id, m.inliers, m.weak) for m in found] == [(10, None, False)]
    assert found[0].score > 0.6


@pytest.mark.parametrize("seed", [2, 3, 6])
def test_a_part_seen_in_perspective_counts_once_its_placement_is_refined(seed: int) -> None:
    # A photo of 40 % of the silhouette, tilted: the bounded affine alignment lays it only
    # roughly (0.6-0.7); refined by ECC homographies it agrees 0.99 and is answered.
    blobs = {1: _stored(HORSE).to_bytes(), **{n + 2: _stored(o).to_bytes() for n, o in enumerate(OTHERS)}}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    query = _query(apply_transform("partial40", HORSE, seed))
    laid = DenseProbe(query).match(Keypoints.from_bytes(blobs[1]))
    assert laid is not None and laid.agreement < SAME.dense_agreement
    found = last_look(SAME, query, list(blobs), References(load))
    assert [m.id for m in found] == [1] and found[0].inliers is None
    assert 0.85 <= found[0].score <= 0.9
    x1, y1, x2, y2 = found[0].box or (0, 0, 0, 0)
    assert 0 <= x1 < x2 <= HORSE.shape[1] and 0 <= y1 < y2 <= HORSE.shape[0]
    assert (x2 - x1) * (y2 - y1) < 0.8 * HORSE.shape[0] * HORSE.shape[1]


def _grey_rgb(rgb: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


@pytest.mark.parametrize("name", ["crop50", "crop_offcentre", "crop25"])
def test_a_part_of_a_grey_pattern_is_answered_where_no_other_judged_lines_up(name: str) -> None:
    # Grey stripes have no colours to tell them from other grey stripes of their period: a
    # part of them is answered only where no other picture judged lines up with it too (the
    # same stripes shifted half a period, a picture of its own, do), and only if it is grey
    # too. Where the library holds only the shifted stripes, those are answered: the crop is
    # a part of them as much as of its original.
    stripes = _grey_rgb(bands(37, wobble=0))
    shifted = _grey_rgb(bands(37, wobble=0, phase=2.0))
    wider = _grey_rgb(bands(40, wobble=0, phase=2.0))  # another period: does not line up
    blobs = {1: _stored(stripes).to_bytes(), 2: _stored(shifted).to_bytes(),
             3: _stored(HORSE).to_bytes(), 4: _stored(wider).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    crop = _query(apply_transform(name, stripes, 1))
    found = last_look(SAME, crop, [1, 3, 4], References(load))
    assert [m.id for m in found] == [1] and 0.6 <= found[0].score <= 0.9
    assert last_look(SAME, crop, [1, 2, 3, 4], References(load)) == []
    assert [m.id for m in last_look(SAME, crop, [2, 3], References(load))] == [2]
    coloured = _query(apply_transform(name, bands(37, wobble=0), 1))
    assert last_look(SAME, coloured, [1, 3, 4], References(load)) == []


def _ribbon(widths: tuple[int, ...], size: int = 300) -> np.ndarray:
    """Vertical stripes of ``widths`` px in warm colours, repeated: a fine striped fabric."""
    colours = np.array([(200, 80, 90), (230, 220, 120), (120, 160, 60), (240, 200, 150)], np.uint8)
    sequence = np.concatenate([np.full(w, i % len(colours)) for i, w in enumerate(widths)])
    row = colours[sequence[np.arange(size) % len(sequence)]]
    return np.ascontiguousarray(np.repeat(row[None], size, 0))


@pytest.mark.parametrize("seed", [1, 4])
def test_a_crop_of_fine_stripes_is_placed_among_placements_that_tie(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # A repeated pattern slides alike at every period's shift, and its fine stripes alias at
    # the coarse size: the right placement is not among the best two coarse ones.
    stripes = _ribbon((6, 3, 8, 7))
    stored = _stored(stripes).to_bytes()
    query = _query(apply_transform("crop_offcentre", stripes, seed))
    assert [m.id for m in last_look(SAME, query, [1], References(lambda ids: {1: stored}))] == [1]
    monkeypatch.setattr(alignment, "PERIODIC_HYPOTHESES", 2)  # the best two only
    monkeypatch.setattr(alignment, "TOP_HYPOTHESES", 2)
    # (refined across the stripes, the best two can reach it too: judged as ECC left them)
    monkeypatch.setattr(alignment, "ONE_DIRECTIONAL", 1.01)
    assert last_look(SAME, query, [1], References(lambda ids: {1: stored})) == []


@pytest.mark.parametrize(("page", "seed"), [(2_000_000, 0), (2_000_006, 2), (2_000_009, 3)])
def test_a_flat_page_s_part_is_found_from_a_placement_that_lies_second(
        page: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Flat shapes: turned and mirrored views slide about as well as the true one, and before
    # refining, in perspective, a wrong placement can lie better than the true one.
    picture = synthetic.page(page)
    stored = _stored(picture).to_bytes()
    query = _query(partial_photo(picture, np.random.default_rng(seed)).pixels)
    assert [m.id for m in last_look(SAME, query, [1], References(lambda ids: {1: stored}))] == [1]
    monkeypatch.setattr(matching, "REFINED_PLACEMENTS", 1)
    monkeypatch.setattr(matching, "REFINE_TRIES", 1)
    # (the whole photo's placements: its middle, aligned as well, lays one of them right first)
    monkeypatch.setattr(alignment, "MIDDLE", 0.0)
    assert last_look(SAME, query, [1], References(lambda ids: {1: stored})) == []


def test_placements_that_refining_cannot_move_leave_room_for_those_it_can(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A flat page's part in perspective: the placements that lie best are ones that ECC
    # cannot refine within its bounds; a later one refines, and counts.
    picture = synthetic.page(2_000_009)
    stored = _stored(picture).to_bytes()
    query = _query(partial_photo(picture, np.random.default_rng(5)).pixels)
    found = last_look(SAME, query, [1], References(lambda ids: {1: stored}))
    assert [m.id for m in found] == [1] and found[0].score >= dense_score(SAME.dense_agreement, SAME.dense_agreement)
    monkeypatch.setattr(matching, "REFINE_TRIES", matching.REFINED_PLACEMENTS)  # the best two only
    assert last_look(SAME, query, [1], References(lambda ids: {1: stored})) == []


def test_a_crop_of_a_noisy_plaid_is_placed_among_placements_that_tie(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A generated page whose illustration is a noisy plaid: the page as a whole does not
    # repeat (its text and frame), but the crop, mostly plaid, slides alike at every shift
    # of its period. Judging every coarse placement that ties with the best finds it.
    page = synthetic.page(2_000_011)
    assert periodicity(_stored(page).image) < alignment.PERIODIC
    stored = _stored(page).to_bytes()
    query = _query(apply_transform("crop50", page, 0))
    found = last_look(SAME, query, [1], References(lambda ids: {1: stored}))
    assert [m.id for m in found] == [1]
    monkeypatch.setattr(alignment, "TIED_FLOOR", 2.0)  # never tied: the best two only
    assert last_look(SAME, query, [1], References(lambda ids: {1: stored})) == []


def test_stripes_have_a_normal_and_other_pictures_none() -> None:
    def grey(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    across = stripes_normal(grey(bands(24, wobble=0.0, size=(160, 160))))  # varies along y
    assert across is not None and abs(abs(across[1]) - 1.0) < 0.01
    diagonal = stripes_normal(grey(bands(24, angle=45.0, wobble=0.0, size=(160, 160))))
    assert diagonal is not None and np.allclose(np.abs(diagonal), [0.7071, 0.7071], atol=0.02)
    ribbon = stripes_normal(grey(_ribbon((6, 3, 8, 7))))  # vertical: varies along x
    assert ribbon is not None and abs(abs(ribbon[0]) - 1.0) < 0.01
    for picture in (HORSE, *OTHERS):
        assert stripes_normal(grey(picture)) is None


@pytest.mark.parametrize(("shift", "scale"), [((1.5, 9.0), 1.005), ((-2.0, -6.0), 0.997)])
def test_a_placement_on_stripes_is_refined_across_them_only(
        shift: tuple[float, float], scale: float, monkeypatch: pytest.MonkeyPatch) -> None:
    # Along smooth horizontal bands nothing pins a placement: ECC's homography drifts there
    # without bound and is refused. Refined across them only, it lines them up again.
    picture = bands(24, wobble=0.0, size=(300, 300))
    ref = _stored(picture)
    part = np.ascontiguousarray(picture[60:240, 50:250])
    query = _query(part)
    truth = np.array([[1.0, 0.0, 50.0], [0.0, 1.0, 60.0], [0.0, 0.0, 1.0]])
    off = np.array([[scale, 0.0, shift[1]], [0.0, scale, shift[0]], [0.0, 0.0, 1.0]]) @ truth
    laid = agreement(query, ref, off, levels=True)
    assert laid is not None and laid < 0.9
    better = refined(query, ref, off)
    assert better is not None and better[1] >= SAME.dense_agreement
    # the query's rows land on their own rows, wherever along them
    rows = np.array([[0.0, 199.0, 100.0], [0.0, 179.0, 90.0], [1.0, 1.0, 1.0]])
    landed = better[0] @ rows
    assert np.abs(landed[1] / landed[2] - (rows[1] + 60.0)).max() < 1.0
    monkeypatch.setattr(alignment, "ONE_DIRECTIONAL", 1.01)  # ECC's own homography
    plain = refined(query, ref, off)
    assert plain is None or plain[1] < SAME.dense_agreement


def test_a_refinement_across_stripes_is_the_same_wherever_its_images_lie_in_memory() -> None:
    # Scores must be the same run after run: the step is solved with NumPy's own sums, not
    # BLAS products whose order of addition depends on threads and memory.
    picture = bands(24, wobble=0.0, size=(300, 300))
    target = alignment._gradient(cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)[:160, :160])
    template = np.roll(target, 2, axis=0)
    mask = np.ones(target.shape, np.uint8)
    normal = np.array([0.0, 1.0])
    first = alignment._across(template, target, mask, normal, pinned=True)
    assert first is not None and abs(first[1, 2] + 2.0) < 0.2  # the rows moved back by 2
    for offset in range(1, 8):
        buffer = np.empty(target.size * 4 + 64, np.uint8)
        moved = buffer[offset * 4:offset * 4 + target.size * 4].view(np.float32).reshape(target.shape)
        moved[...] = target
        again = alignment._across(template, moved, mask, normal, pinned=True)
        assert again is not None and np.array_equal(first, again)


@pytest.mark.parametrize("seed", [4, 18, 30])
def test_a_part_of_a_smooth_colourful_picture_is_refined_on_its_grey_levels(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its gradients are its rim and noise, which ECC could not lay these partial photos by
    # (of 40 drawn, 31 found refined on gradients alone, 36 on grey levels too).
    wheel = _rgb(skimage.data.colorwheel())
    stored = {1: _stored(wheel).to_bytes(), 2: _stored(HORSE).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: stored[i] for i in ids}

    photo = _query(apply_transform("partial40", wheel, seed))
    assert [m.id for m in last_look(SAME, photo, [1, 2], References(load))] == [1]
    monkeypatch.setattr(matching, "_vivid", lambda *args: False)
    # (on gradients alone, another of the best four placements can still refine: seed 18's)
    monkeypatch.setattr(matching, "REFINE_TRIES", matching.REFINED_PLACEMENTS)
    assert last_look(SAME, photo, [1, 2], References(load)) == []


def test_a_part_of_a_smooth_colourful_picture_counts_where_its_colours_pin_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The colour wheel has too few gradients for a photo of its part (blurred, in
    # perspective) to agree 0.95 in content, but its colours vary far more than the colour
    # tolerance, and the photo has them everywhere. (Its plain crops agree 0.99.)
    wheel = _rgb(skimage.data.colorwheel())
    stored = {1: _stored(wheel).to_bytes(), 2: _stored(HORSE).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: stored[i] for i in ids}

    # Judged sharp only: against the thumbnail blurred as well (matching._in_focus) this
    # photo agrees 0.950, and counts by its content too.
    monkeypatch.setattr(matching, "_in_focus", lambda match, *_: match)
    photo = _query(apply_transform("partial40", wheel, 3))
    laid = DenseProbe(photo).match(Keypoints.from_bytes(stored[1]))
    assert laid is not None and laid.agreement < SAME.dense_agreement
    found = last_look(SAME, photo, [1, 2], References(load))
    assert [m.id for m in found] == [1] and found[0].score == 0.6
    # a photo of a part of another smooth picture of as many colours (hues swept left to right) does not
    hsv = np.zeros((370, 370, 3), np.uint8)
    hsv[..., 0] = np.linspace(0, 179, 370)[None, :].astype(np.uint8)
    hsv[..., 1:] = 255
    sweep = _query(apply_transform("partial40", cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 3))
    assert last_look(SAME, sweep, [1, 2], References(load)) == []
    monkeypatch.setattr(matching, "COLOURFUL_AGREEMENT", 1.01)
    assert last_look(SAME, photo, [1, 2], References(load)) == []


BOOK = kind_spec("picturebook")


def _akaze(pixels: np.ndarray) -> Keypoints:
    return Keypoints.from_bytes(extract_keypoints(pixels, "akaze", max_features=1000).to_bytes())


def test_picturebook_finds_a_partial_page_keypoints_cannot_verify() -> None:
    # A photo of 40 % of the silhouette printed as a page: AKAZE verifies nothing, refined
    # or not; the keypoint-free look lays it on its page.
    blobs = {1: _akaze(HORSE).to_bytes(), **{n + 2: _akaze(o).to_bytes() for n, o in enumerate(OTHERS)}}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    query = extract_keypoints(apply_transform("partial40", HORSE, 2), "akaze", max_features=1000)
    assert verify_geometry(BOOK, [query], list(blobs), References(load)) == []
    assert last_look(replace(BOOK, dense_agreement=0.0), query, list(blobs), References(load), probes=[query]) == []
    found = last_look(BOOK, query, list(blobs), References(load), probes=[query])
    assert [m.id for m in found] == [1] and found[0].inliers is None
    assert 0.6 <= found[0].score <= 0.9
    x1, y1, x2, y2 = found[0].box or (0, 0, 0, 0)
    assert 0 <= x1 < x2 <= HORSE.shape[1] and 0 <= y1 < y2 <= HORSE.shape[0]


def test_the_keypoint_free_look_judges_only_the_candidates_it_slides_over_best(
        monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = {n + 1: _akaze(o).to_bytes() for n, o in enumerate(OTHERS)} | {9: _akaze(HORSE).to_bytes()}
    horse_thumb = Keypoints.from_bytes(blobs[9]).image
    judged: list[np.ndarray] = []
    matches = DenseProbe.matches

    def counting(self: DenseProbe, ref: Keypoints, *, middle: bool = False) -> list:
        if not middle:  # (its middle is asked of the same references)
            judged.append(ref.image)
        return matches(self, ref, middle=middle)

    monkeypatch.setattr(DenseProbe, "matches", counting)
    query = extract_keypoints(apply_transform("partial40", HORSE, 2), "akaze", max_features=1000)
    ids = [1, 2, 3, 4, 9]  # the silhouette's page tried last
    found = last_look(replace(BOOK, dense_keep=2), query, ids, References(lambda i: {k: blobs[k] for k in i}))
    assert [m.id for m in found] == [9]
    assert len(judged) == 2 and any(np.array_equal(t, horse_thumb) for t in judged)
    judged.clear()
    last_look(replace(BOOK, dense_keep=0), query, ids, References(lambda i: {k: blobs[k] for k in i}))
    assert len(judged) == len(ids)


def test_a_grey_part_counts_only_where_it_alone_lines_up() -> None:
    # Two pages that share a grey illustration (the silhouette; the second page has another
    # picture under it): a part of it lines up with both, and colour cannot tell them apart.
    camera = cv2.resize(OTHERS[1], (HORSE.shape[1], HORSE.shape[0] // 2))
    shared = np.ascontiguousarray(np.vstack([HORSE, camera]))
    blobs = {1: _akaze(HORSE).to_bytes(), 2: _akaze(shared).to_bytes()}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    query = extract_keypoints(apply_transform("partial40", HORSE, 2), "akaze", max_features=1000)
    assert BOOK.dense_grey_alone
    careless = last_look(replace(BOOK, dense_grey_alone=False), query, [1, 2], References(load))
    assert sorted(m.id for m in careless) == [1, 2]
    assert last_look(BOOK, query, [1, 2], References(load)) == []
    assert [m.id for m in last_look(BOOK, query, [1], References(load))] == [1]


@pytest.mark.parametrize("kind", ["same", "picturebook"])
def test_a_window_out_of_focus_is_judged_against_the_thumbnail_blurred_too(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photographed window is blurrier than the stored thumbnail: laid right, its sharp
    edges agree under the bar; judged also against the thumbnail blurred as such a photo is
    (``pages.in_focus``), the best counts, as in the page look."""
    spec = kind_spec(kind)
    stored = _stored(HORSE)
    h, w = HORSE.shape[:2]
    y0, x0 = h // 5, w // 4
    window = _query(cv2.GaussianBlur(HORSE[y0: y0 + h // 2, x0: x0 + w // 2], (0, 0), 4))
    laid = np.array([[1.0, 0, x0], [0, 1, y0], [0, 0, 1]])
    as_laid = agreement(window, stored, laid, levels=True)
    assert as_laid is not None and as_laid < spec.dense_agreement
    focused = matching._in_focus(ContentMatch(as_laid, laid, (0, 0, w, h)), spec, window, stored)
    assert focused.agreement >= spec.dense_agreement
    refs = References(lambda ids: {5: stored.to_bytes()})
    found = last_look(spec, window, [5], refs)
    assert [m.id for m in found] == [5]
    box = np.array(found[0].box)
    assert np.abs(box - [x0, y0, x0 + w // 2, y0 + h // 2]).max() <= 0.05 * max(w, h)
    # judged sharp only, it is not answered
    monkeypatch.setattr(matching, "_in_focus", lambda match, *_: match)
    assert last_look(spec, window, [5], References(lambda ids: {5: stored.to_bytes()})) == []
    # and a placement that agrees as laid is left as it is
    sharp = ContentMatch(0.99, laid, (0, 0, w, h))
    assert matching._in_focus(sharp, spec, window, stored) is sharp


def _page_beyond_the_frame(picture: np.ndarray, seed: int) -> np.ndarray:
    """A photo of ``picture`` printed as a page, held so close that its top runs out of the
    frame: the table shows beside it and below, the page's top edge nowhere."""
    h, w = picture.shape[:2]
    rng = np.random.default_rng(seed)
    frame = synthetic.background(rng, h, w).astype(np.float32)
    corners = np.float32([[0.10 * w, -0.14 * h], [0.92 * w, -0.10 * h], [0.94 * w, 0.92 * h],
                          [0.07 * w, 0.95 * h]])
    lay = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), corners)
    page = cv2.warpPerspective(picture, lay, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
    inside = cv2.warpPerspective(np.ones((h, w), np.float32), lay, (w, h))[..., None]
    photo = cv2.GaussianBlur(page * inside + frame * (1 - inside), (0, 0), 1.0)
    return np.clip(photo + rng.normal(0, 3, photo.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_page_that_runs_out_of_the_frame_is_aligned_by_its_middle(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Photographed close, a page runs out of the frame: the whole photo, table and all, is
    larger than the page on one axis only and slides over no thumbnail, and no four edges
    outline the page. Its middle is the page's alone, and lines up (``alignment.MIDDLE``)."""
    blobs = {1: _stored(HORSE).to_bytes(), **{n + 2: _stored(o).to_bytes() for n, o in enumerate(OTHERS)}}

    def load(ids: list[int]) -> dict[int, bytes]:
        return {i: blobs[i] for i in ids}

    photo = _query(_page_beyond_the_frame(HORSE, seed))
    found = last_look(SAME, photo, list(blobs), References(load))
    assert [m.id for m in found] == [1]
    x1, y1, x2, y2 = found[0].box or (0, 0, 0, 0)
    assert (x2 - x1) * (y2 - y1) >= alignment.MIDDLE_COVER * HORSE.shape[0] * HORSE.shape[1]
    # the other pictures photographed alike are answered with nothing but themselves
    for n, other in enumerate(OTHERS):
        other_photo = _query(_page_beyond_the_frame(other, seed))
        assert {m.id for m in last_look(SAME, other_photo, list(blobs), References(load))} <= {n + 2}
    # without the middle view nothing lines up
    monkeypatch.setattr(alignment, "MIDDLE", 0.0)
    assert last_look(SAME, photo, list(blobs), References(load)) == []


def test_the_middle_is_not_laid_on_a_repeated_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """Free of the frame's edges, the middle of one pattern lines up with another of a
    different period at some scale: on a periodic reference only the whole query is laid."""
    stripes = bands(37, wobble=0)
    probe = DenseProbe(_query(_page_beyond_the_frame(stripes, 0)))
    assert probe.matches(_stored(bands(44, wobble=0)), middle=True) == []
    assert probe.matches(_stored(stripes), middle=True) == []
    monkeypatch.setattr(alignment, "PERIODIC", 2.0)  # nothing repeats
    assert probe.matches(_stored(stripes), middle=True)


def test_the_frame_cover_is_the_area_the_laid_photo_shares_with_the_reference() -> None:
    probe = DenseProbe(_query(HORSE))
    ref = _stored(HORSE)
    h, w = HORSE.shape[:2]
    assert probe.frame_cover(np.eye(3), ref) == pytest.approx(1.0)
    assert probe.frame_cover(np.array([[1.0, 0, w / 2], [0, 1, 0], [0, 0, 1]]), ref) == pytest.approx(0.5, abs=0.01)
    # turned 45 degrees about the centre and shrunk inside it: its own area, not its box's
    turn = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), 45, 0.5)
    assert probe.frame_cover(np.vstack([turn, [0, 0, 1]]), ref) == pytest.approx(0.25, abs=0.01)
