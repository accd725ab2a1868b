"""Run a kind's pipeline on decoded pixels: the descriptors an image is stored and found by."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tusou.engine.kinds import KindSpec
from tusou.errors import FeatureExtractionFailed
from tusou.features import (
    EMBED_DIM,
    SSCD_DIM,
    TEXTURE_RECIPES,
    CopyEmbedding,
    FeatureModels,
    Keypoints,
    LayeredEmbedding,
    PdqHash,
    SemanticEmbedding,
    TextureEmbedding,
    extract_keypoints,
    l2n,
    pdq_dihedral,
    pdq_hash,
)
from tusou.features.keypoints import WORK_SIDE
from tusou.features.pages import rectified
from tusou.features.pixels import window
from tusou.features.quads import Quad, page_size

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Descriptors:
    vector: np.ndarray
    # Stored images keep one hash; a query carries all 8 dihedral variants.
    pdq: list[PdqHash] = field(default_factory=list)
    keypoints: Keypoints | None = None
    # Queries of the same kind also carry the mirrored image's keypoints (flipped copies).
    mirrored_keypoints: Keypoints | None = None
    region: Box | None = None
    # Other vectors a query is also searched with (best score per image kept): product
    # queries' separate salient regions.
    alternates: tuple[np.ndarray, ...] = ()
    # Stored images of kinds with detail_keypoints: keypoints at full size (see details).
    details: Keypoints | None = None

    @property
    def probes(self) -> list[Keypoints]:
        """The keypoints a query is verified with: its own and its mirror image's."""
        return [k for k in (self.keypoints, self.mirrored_keypoints) if k is not None]


@dataclass(frozen=True)
class CloserLook:
    """A query's second look: region vectors (candidates) and denser keypoints (of the
    mirrored query too, for kinds that match flipped copies)."""

    vectors: list[np.ndarray]
    keypoints: list[Keypoints]


# The longest side a second look finds its keypoints at: a poster that fills a third of a
# phone photo needs more pixels than the first look's budget gives it.
SECOND_LOOK_SIDE = 1024
# ... and a page seen square-on its keypoints: the page alone, without the table, is in the
# whole frame; 640 found what 1024 did on the same suite's page photos (see kinds).
PAGE_LOOK_SIDE = 640
# ... and a stored image's details (KindSpec.detail_keypoints) theirs: a 40 % window of a
# 1,140 px page, photographed at 700 px, is verified at full size where 640 px fails.
DETAIL_SIDE = 1280


VectorFn = Callable[[np.ndarray], tuple[np.ndarray, "Box | None"]]
QueryFn = Callable[[np.ndarray], tuple[np.ndarray, "Box | None", list[np.ndarray]]]

# Product queries: how many separate salient regions are searched besides the subject box.
PRODUCT_QUERY_REGIONS = 1


def _unboxed(extract: Callable[[np.ndarray], np.ndarray]) -> VectorFn:
    """A vector pipeline for an extractor that has no region to report."""
    return lambda pixels: (extract(pixels), None)


class Describer:
    """Maps a kind's vector / hash / keypoint choices onto the feature extractors.

    A library records the name of the vector pipeline it was built with; names carry the
    extractors' versions, so a changed model never mixes incomparable vectors in one index.
    """

    def __init__(self, models: FeatureModels) -> None:
        self._models = models
        similar = LayeredEmbedding(models.lite0)
        similar_v1 = SemanticEmbedding(models.lite0, p=1.0)
        gem = SemanticEmbedding(models.lite0)
        copy_fallback = SemanticEmbedding(models.lite0, sizes=(224,))
        texture = TextureEmbedding(models.lite0)
        self._by_vector: dict[str, str] = {
            "semantic": f"semantic/{similar.name}",
            "page": f"semantic/{gem.name}",
            "product": f"product/u2netp-salient+{gem.name}",
            "texture": f"texture/{texture.name}",
            "copy": f"copy/{copy_fallback.name}",
        }
        self._pipelines: dict[str, tuple[VectorFn, int]] = {
            self._by_vector["semantic"]: (_unboxed(similar.extract), similar.dim),
            # What similar libraries were built with before the bottleneck was added.
            f"semantic/{similar_v1.name}": (_unboxed(similar_v1.extract), EMBED_DIM),
            # Also what similar libraries made before average pooling was measured better.
            self._by_vector["page"]: (_unboxed(gem.extract), EMBED_DIM),
            self._by_vector["product"]: (lambda px: self._product(gem, px, 0.0, salient=True), EMBED_DIM),
            # Product libraries made before the crop was pooled by its saliency ...
            f"product/u2netp-crop+{gem.name}": (lambda px: self._product(gem, px, 0.0), EMBED_DIM),
            # ... and before the crop alone was measured better.
            f"product/u2netp+{gem.name}": (lambda px: self._product(gem, px, 0.5), EMBED_DIM),
            self._by_vector["texture"]: (_unboxed(texture.extract), texture.dim),
            self._by_vector["copy"]: (_unboxed(copy_fallback.extract), EMBED_DIM),
        }
        # Query-side views of pipelines whose queries look at more than the stored vector
        # does (the stored vectors are unchanged, so existing libraries benefit as they are).
        self._queries: dict[str, QueryFn] = {
            self._by_vector["product"]: lambda px: self._product_query(gem, px, 0.0, salient=True),
            f"product/u2netp-crop+{gem.name}": lambda px: self._product_query(gem, px, 0.0),
            f"product/u2netp+{gem.name}": lambda px: self._product_query(gem, px, 0.5),
        }
        for version in TEXTURE_RECIPES:
            older = TextureEmbedding(models.lite0, version)
            self._pipelines.setdefault(f"texture/{older.name}", (_unboxed(older.extract), older.dim))
        if models.sscd is not None:
            sscd = CopyEmbedding(models.sscd)
            # SSCD is the stronger copy descriptor: new same libraries use it when installed.
            self._by_vector["copy"] = f"copy/{sscd.name}"
            self._pipelines[self._by_vector["copy"]] = (_unboxed(sscd.extract), SSCD_DIM)

    def pipeline(self, spec: KindSpec) -> str:
        """The vector pipeline a new library of ``spec`` is built with."""
        return self._by_vector[spec.vector]

    def _lookup(self, pipeline: str) -> tuple[VectorFn, int]:
        try:
            return self._pipelines[pipeline]
        except KeyError:
            raise FeatureExtractionFailed(
                f"this library was built with {pipeline!r}, which this installation does not "
                "provide (a model package missing or upgraded?)") from None

    def dimension(self, pipeline: str) -> int:
        return self._lookup(pipeline)[1]

    def describe(self, spec: KindSpec, pipeline: str, pixels: np.ndarray, *,
                 query: bool) -> Descriptors:
        alternates: list[np.ndarray] = []
        if query and pipeline in self._queries:
            vector, region, alternates = self._queries[pipeline](pixels)
        else:
            vector, region = self._lookup(pipeline)[0](pixels)
        hashes: list[PdqHash] = []
        if spec.pdq:
            hashes = pdq_dihedral(pixels) if query else [pdq_hash(pixels)]
        keypoints = mirrored = None
        budget = spec.query_keypoint_budget if query and spec.query_keypoint_budget else spec.keypoint_budget
        if spec.keypoints is not None:
            keypoints = self.keypoints(spec, pixels, budget)
            if query and spec.mirror_query:
                mirrored = self.keypoints(spec, np.ascontiguousarray(pixels[:, ::-1]), budget)
        return Descriptors(vector=l2n(np.asarray(vector, np.float32).ravel()), pdq=hashes, keypoints=keypoints,
                           mirrored_keypoints=mirrored, region=region,
                           alternates=tuple(l2n(np.asarray(v, np.float32).ravel()) for v in alternates),
                           details=None if query else self.details(spec, pixels))

    def keypoints(self, spec: KindSpec, pixels: np.ndarray, budget: int | None = None
                  ) -> Keypoints | None:
        """Local features and thumbnails of ``pixels``: at most ``budget`` keypoints, by
        default as many as a library image stores."""
        if spec.keypoints is None:
            return None
        return extract_keypoints(pixels, spec.keypoints,
                                 max_features=spec.keypoint_budget if budget is None else budget)

    def details(self, spec: KindSpec, pixels: np.ndarray) -> Keypoints | None:
        """A stored image's keypoints at full size (``spec.detail_keypoints`` of them, at
        most DETAIL_SIDE), or None: for kinds without them, and for images no larger than
        the keypoints' work copy, whose stored keypoints are already at full size."""
        if spec.keypoints is None or not spec.detail_keypoints or max(pixels.shape[:2]) <= WORK_SIDE:
            return None
        return extract_keypoints(pixels, spec.keypoints, max_features=spec.detail_keypoints,
                                 max_side=DETAIL_SIDE)

    def vector(self, pipeline: str, pixels: np.ndarray) -> np.ndarray:
        """The stored kind of vector for ``pixels`` (a view of a query, such as a page
        found in it), without the rest of the description."""
        return l2n(np.asarray(self._lookup(pipeline)[0](pixels)[0], np.float32).ravel())

    def closer_look(self, spec: KindSpec, pipeline: str, pixels: np.ndarray) -> CloserLook:
        """What a query that nothing verified is looked at again with (see Library)."""
        assert spec.keypoints is not None
        vectors = [self.vector(pipeline, window(pixels, *region)) for region in spec.second_look_regions]
        views = [pixels, np.ascontiguousarray(pixels[:, ::-1])] if spec.mirror_query else [pixels]
        keypoints = [extract_keypoints(view, spec.keypoints, max_features=spec.second_look_keypoints,
                                       max_side=SECOND_LOOK_SIDE) for view in views]
        return CloserLook(vectors, keypoints)

    def page_keypoints(self, spec: KindSpec, pixels: np.ndarray, quad: Quad) -> list[Keypoints]:
        """Keypoints of a page found in a photo, seen square-on (and mirrored, for kinds that
        match flipped copies): at its own size in the photo, at most PAGE_LOOK_SIDE."""
        assert spec.keypoints is not None
        side = max(8, round(min(PAGE_LOOK_SIDE, max(page_size(quad)))))
        page = rectified(pixels, quad, side)
        views = [page, np.ascontiguousarray(page[:, ::-1])] if spec.mirror_query else [page]
        return [extract_keypoints(view, spec.keypoints, max_features=spec.page_keypoints,
                                  max_side=PAGE_LOOK_SIDE) for view in views]

    def _product(self, semantic: SemanticEmbedding, pixels: np.ndarray, whole: float, *,
                 salient: bool = False) -> tuple[np.ndarray, Box | None]:
        """The subject crop's embedding, plus ``whole`` times the whole picture's; with
        ``salient``, the crop's features pooled by the saliency map, so the background the
        box holds beside the subject counts for little (new libraries since 2026-12-06:
        ``tusou eval product`` with its queries drawn from seeds 0-3, top-1 at 60 % of the
        size 0.88 -> 0.94 at seed 0, at 35 % 0.88 -> 0.94 at seed 3, the rest as before;
        every miss left is the rocket, which the saliency model does not see; right
        answers' median score 0.84 / 0.83 / 0.85 / 0.83 -> 0.87 / 0.86 / 0.87 / 0.86, wrong
        answers at 0.70 or more 3 / 0 / 2 / 0 -> 1 / 0 / 1 / 0).

        Both embeddings are unit vectors; ``describe`` normalises the sum. Adding the whole
        picture (0.5, the first recipe) keeps context but also the background: measured
        on objects moved onto other backgrounds at 35 % of their size, top-1 fell from 0.76
        (crop alone) to 0.59.
        """
        vectors, boxes = self._product_views(semantic, pixels, whole, salient, regions=0)
        return vectors[0], boxes[0]

    def _product_query(self, semantic: SemanticEmbedding, pixels: np.ndarray, whole: float, *,
                       salient: bool = False) -> tuple[np.ndarray, Box | None, list[np.ndarray]]:
        """``_product`` for a query, plus the same embedding of its most salient separate
        regions (``PRODUCT_QUERY_REGIONS``); each image keeps its best score. The subject box
        spans every salient region: when a small subject shares the picture with salient
        background clutter (wood knots, a pattern), the box holds mostly background while
        the most salient region's own box is the subject. Measured on objects moved onto
        generated backgrounds (``tusou eval product``): top-1 at 35 % of their size 0.76 ->
        0.94, at full size 0.94 -> 1.0, at 60 % 0.88 either way; the best wrong answer rose
        from 0.68 to 0.71. More regions only raised wrong answers (0.79 with two)."""
        vectors, boxes = self._product_views(semantic, pixels, whole, salient,
                                             regions=PRODUCT_QUERY_REGIONS)
        return vectors[0], boxes[0], vectors[1:]

    def _product_views(self, semantic: SemanticEmbedding, pixels: np.ndarray, whole: float,
                       salient: bool, *, regions: int) -> tuple[list[np.ndarray], list[Box]]:
        """The embedding of the subject box and of up to ``regions`` separate salient
        regions' boxes (one run of the subject model), with those boxes."""
        subject = self._models.subject.find(pixels, regions=regions)
        context = semantic.extract(pixels) if whole else None
        vectors = [_crop_vector(semantic, pixels, box, whole, context,
                                subject.weights(box) if salient else None)
                   for box in subject.boxes]
        return vectors, subject.boxes


def _crop_vector(semantic: SemanticEmbedding, pixels: np.ndarray, box: Box, whole: float,
                 context: np.ndarray | None, weights: np.ndarray | None = None) -> np.ndarray:
    """The embedding of ``box``'s crop (pooled by ``weights`` where given), plus ``whole``
    times the whole picture's (``context``, computed once per picture) when there is one."""
    x1, y1, x2, y2 = box
    vector = semantic.extract(np.ascontiguousarray(pixels[y1:y2, x1:x2]), weights)
    return vector if context is None else vector + whole * context
