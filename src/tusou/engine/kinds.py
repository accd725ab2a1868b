"""Library kinds as data: each row fixes a kind's limits, pipeline and scoring rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tusou.errors import InvalidParameter
from tusou.images.limits import ImageLimits

# Every kind decodes these; a face may narrow the set to what its vendor accepts.
ACCEPTED_FORMATS: frozenset[str] = frozenset({"jpeg", "png", "bmp", "gif", "webp", "tiff", "ppm"})

VectorKind = Literal["copy", "semantic", "page", "product", "texture"]


@dataclass(frozen=True)
class KindSpec:
    name: str
    limits: ImageLimits
    # Which global descriptor feeds the vector index (candidates, or the whole ranking).
    vector: VectorKind
    # Same-image kinds also keep a PDQ hash (exact and near-exact copies, all 8 dihedral
    # variants of the query) and local features for geometric verification.
    pdq: bool
    keypoints: Literal["orb", "akaze"] | None
    keypoint_budget: int
    # "tags": up to two tags, filtered with AND/OR; "class_ids": class_id1/2 by position.
    filter_style: Literal["tags", "class_ids"]
    max_batch_delete: int
    # True: only verified matches come back (same, picturebook); False: everything is
    # ranked and ``default_threshold`` is the documented cut-off for "relevant".
    verified_only: bool
    default_threshold: float
    # How many global-vector candidates go to geometric verification.
    verify_candidates: int = 0
    min_inliers: int = 0
    # Queries are also verified mirrored: a flipped copy is still the same image.
    mirror_query: bool = False
    # Keypoints a query is first verified with (0: keypoint_budget). Matching cost grows
    # with both sides, and most queries verify at once; the second look uses more.
    query_keypoint_budget: int = 0
    # A query that nothing verified gets a second, slower look: candidates also from the
    # vectors of its central regions (a photo of a poster is mostly table), verified with
    # this many keypoints found at a higher resolution. 0 = no second look.
    second_look_keypoints: int = 0
    # How many of the first look's candidates, and of each region's nearest, it verifies.
    second_look_candidates: int = 10
    # A geometric match must also agree in content (features.keypoints.agreement): pages
    # of one book or slides of one template share enough layout to fool RANSAC alone.
    min_agreement: float = 0.6
    # Ranked kinds: alpha query expansion (Radenovic et al.) with this many neighbours: the
    # query vector plus its nearest library vectors weighted by similarity, searched again.
    # Measured +0.03 to +0.04 mAP@10 on a texture set for similar and fabric. 0 = off.
    query_expansion: int = 0
    # Two-step expansion when > 0: the query plus this many nearest first re-scores the
    # first search's EXPANSION_SHORTLIST hits (their stored vectors, no index search), and
    # the query_expansion best of that re-scoring expand the query that is searched again.
    # A better set of expansion neighbours for the price of a few dot products.
    expansion_seed: int = 0


# Thresholds and inlier counts were fixed with the quality harness (`tusou eval`,
# benchmarks/quality.py, figures in the README) before its final measurement:
# * same / picturebook: 20 / 26 inliers plus content agreement 0.6 gave zero false matches
#   against 2,300-2,600 distractors (other pages of the same book included); the default
#   threshold 0.6 is then "every verified match".
# * fabric 0.8: 93 % of the results above it were relevant on the texture set (recipe v3).
# * similar 0.86: its 1600-d vector (bottleneck + head) scores higher overall; at 0.8 only
#   92.5 % of the results above were relevant, at 0.86 94 % (the same texture set).
# * product 0.7: just above the best wrong answer (0.68) to a subject moved onto another
#   background; 82 % of the right answers were above it.
KINDS: dict[str, KindSpec] = {
    "same": KindSpec(
        name="same", limits=ImageLimits(min_side=50, formats=ACCEPTED_FORMATS),
        vector="copy", pdq=True, keypoints="orb", keypoint_budget=1000, filter_style="tags",
        max_batch_delete=1000, verified_only=True, default_threshold=0.6,
        verify_candidates=20, min_inliers=20, mirror_query=True, query_keypoint_budget=500,
        second_look_keypoints=2000, second_look_candidates=20),
    "similar": KindSpec(
        name="similar", limits=ImageLimits(min_side=50, formats=ACCEPTED_FORMATS),
        vector="semantic", pdq=False, keypoints=None, keypoint_budget=0, filter_style="tags",
        max_batch_delete=1000, verified_only=False, default_threshold=0.86, query_expansion=4,
        expansion_seed=1),
    "product": KindSpec(
        name="product", limits=ImageLimits(min_side=300, formats=ACCEPTED_FORMATS),
        vector="product", pdq=False, keypoints=None, keypoint_budget=0,
        filter_style="class_ids", max_batch_delete=1000, verified_only=False,
        default_threshold=0.7),
    "picturebook": KindSpec(
        name="picturebook",
        limits=ImageLimits(min_side=150, max_aspect=10.0, formats=ACCEPTED_FORMATS),
        vector="page", pdq=False, keypoints="akaze", keypoint_budget=1000,
        filter_style="tags", max_batch_delete=100, verified_only=True,
        default_threshold=0.6, verify_candidates=30, min_inliers=26, second_look_keypoints=2000,
        second_look_candidates=40),
    "fabric": KindSpec(
        name="fabric", limits=ImageLimits(min_side=50, formats=ACCEPTED_FORMATS),
        vector="texture", pdq=False, keypoints=None, keypoint_budget=0, filter_style="tags",
        max_batch_delete=1000, verified_only=False, default_threshold=0.8, query_expansion=4,
        expansion_seed=1),
}


def kind_spec(name: str) -> KindSpec:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidParameter(f"unknown library kind {name!r}; one of: {', '.join(KINDS)}",
                               field="kind") from None
