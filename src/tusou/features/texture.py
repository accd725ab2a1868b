"""A texture-aware descriptor for the fabric kind.

Three parts, each L2-normalised, weighted, concatenated and L2-normalised again, so the
cosine of two descriptors is the weighted mean of the parts' cosines with weights
``w**2 / sum(w**2)``:

* ``cnn`` (1280): Lite0's multi-scale pooled features, what a pattern *is* (from recipe v3
  also the 320-channel bottleneck before the head, which ranks textures better);
* ``gram`` (512): second-order statistics of Lite0's 112-channel stage (stride 16), the
  classic texture signature (Gatys et al.), averaged over the same scales;
* ``colour`` (64): a joint HSV histogram, because the worst false matches in a fabric
  catalogue are the same weave in another colour.

The 112x112 Gram has 6328 distinct entries. It is reduced to 512 dimensions with a fixed
pseudo-random +-1 projection (Achlioptas' database-friendly Johnson-Lindenstrauss
transform), generated from a counter-based hash written out below rather than numpy's
RNG, whose streams may change between releases: descriptors stored today must stay
comparable with those computed after an upgrade. No fitted data (PCA) is involved.

Weights and pooling are a versioned recipe (``TEXTURE_RECIPES``): a library keeps the
recipe it was built with, and a new recipe is a new version, never an edit of an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .lite0 import BOTTLENECK_CHANNELS, DEFAULT_SIZES, EMBED_DIM, MID_CHANNELS, Lite0Model, gem, l2n
from .pixels import as_rgb, resize_max_side

TEXTURE_VERSION = "3"
GRAM_DIM = 512
COLOUR_BINS = (8, 4, 2)  # hue, saturation, value
COLOUR_DIM = int(np.prod(COLOUR_BINS))
TEXTURE_DIM = EMBED_DIM + GRAM_DIM + COLOUR_DIM



@dataclass(frozen=True)
class TextureRecipe:
    pooling_p: float  # of the CNN part: 1 = average pooling, 3 = GeM
    w_gram: float
    w_colour: float
    w_cnn: float = 1.0
    # > 0: the average-pooled bottleneck (block 15's 320 channels, the head's linear input)
    # joins the CNN part with this weight (the head's at w_cnn).
    w_bottleneck: float = 0.0

    @property
    def dim(self) -> int:
        return TEXTURE_DIM + (BOTTLENECK_CHANNELS if self.w_bottleneck else 0)


# v1: the first guess. v2: measured on a texture set (benchmarks/quality.py): average
# pooling beats GeM there, and colour at 0.5 cost 0.03 mAP@10 (texture classes are
# colour-blind) while at 0.15 it still breaks ties between colourways.
TEXTURE_RECIPES: dict[str, TextureRecipe] = {
    "1": TextureRecipe(pooling_p=3.0, w_gram=0.8, w_colour=0.5),
    "2": TextureRecipe(pooling_p=1.0, w_gram=0.5, w_colour=0.15),
    # v3: the bottleneck, which lifted similar from 0.794 to 0.810 on the same set.
    "3": TextureRecipe(pooling_p=1.0, w_gram=0.5, w_colour=0.15, w_cnn=0.5 ** 0.5,
                       w_bottleneck=1.0),
}

_PROJECTION_SEED = 0x7475736F75  # "tusou"
_TRIU = np.triu_indices(MID_CHANNELS)
# Off-diagonal entries appear twice in the full Gram; sqrt(2) keeps the dot product of the
# upper triangles equal to the Frobenius product of the full matrices.
_TRIU_WEIGHT = np.where(_TRIU[0] == _TRIU[1], 1.0, np.sqrt(2.0)).astype(np.float32)
_TRIU_WEIGHT.setflags(write=False)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=1)
def gram_projection() -> np.ndarray:
    """(6328, 512) float32 of +-1/sqrt(512), a pure function of the constants above."""
    n_in = len(_TRIU[0])
    idx = np.arange(n_in * GRAM_DIM, dtype=np.uint64) + np.uint64(_PROJECTION_SEED)
    with np.errstate(over="ignore"):
        bits = _splitmix64(idx) >> np.uint64(63)
    proj = (bits.astype(np.float32) * 2.0 - 1.0).reshape(n_in, GRAM_DIM) / np.float32(np.sqrt(GRAM_DIM))
    proj.setflags(write=False)
    return proj


def gram_descriptor(grams: list[np.ndarray]) -> np.ndarray:
    """(512,) from one or more 112x112 Grams (one per scale): mean, upper triangle, signed
    sqrt, L2, projection, L2. einsum, not BLAS: see ``_GraphBuilder.gram`` in lite0."""
    gram = np.asarray(np.mean(grams, axis=0, dtype=np.float64))
    v = gram[_TRIU].astype(np.float32) * _TRIU_WEIGHT
    v = l2n(np.sign(v) * np.sqrt(np.abs(v)))
    return l2n(np.einsum("i,ij->j", v, gram_projection()))


def colour_descriptor(pixels: np.ndarray) -> np.ndarray:
    """(64,) joint HSV histogram of a <=128 px copy, square-rooted (Hellinger) and L2."""
    small, _ = resize_max_side(as_rgb(pixels), 128)
    hsv = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(COLOUR_BINS), [0, 180, 0, 256, 0, 256])
    return l2n(np.sqrt(hist.ravel() / max(float(hist.sum()), 1.0)))


def texture_descriptor(model: Lite0Model, pixels: np.ndarray, sizes: tuple[int, ...] = DEFAULT_SIZES,
                       recipe: TextureRecipe | None = None) -> np.ndarray:
    """(recipe.dim,) float32, unit norm; one Lite0 pass per size feeds every CNN part."""
    recipe = recipe or TEXTURE_RECIPES[TEXTURE_VERSION]
    pooled = np.zeros(EMBED_DIM, np.float32)
    bottle = np.zeros(BOTTLENECK_CHANNELS, np.float32)
    grams: list[np.ndarray] = []
    for size in sizes:
        features, gram, bottleneck = model.texture_maps(pixels, size)
        pooled += l2n(gem(features, recipe.pooling_p))
        if recipe.w_bottleneck:
            bottle += l2n(bottleneck.mean(axis=(1, 2)))
        grams.append(gram)
    parts = [recipe.w_cnn * l2n(pooled), recipe.w_gram * gram_descriptor(grams),
             recipe.w_colour * colour_descriptor(pixels)]
    if recipe.w_bottleneck:
        parts.insert(0, recipe.w_bottleneck * l2n(bottle))
    return l2n(np.concatenate(parts))
