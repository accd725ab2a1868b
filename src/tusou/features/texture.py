"""A texture-aware descriptor for the fabric kind.

Three parts, each L2-normalised, weighted, concatenated and L2-normalised again, so the
cosine of two descriptors is the weighted mean of the parts' cosines with weights
``w**2 / sum(w**2)``:

* ``cnn`` (1280): Lite0's multi-scale pooled features, what a pattern *is* (from recipe v3
  also the 320-channel bottleneck before the head, which ranks textures better);
* ``gram`` (512): second-order statistics of Lite0's 112-channel stage (stride 16), the
  classic texture signature (Gatys et al.), averaged over the same scales; from recipe v4
  also those of the 80-channel stage before it (512 more), as Gatys et al. take the Grams
  of several layers;
* ``colour`` (64): a joint HSV histogram, because the worst false matches in a fabric
  catalogue are the same weave in another colour.

The 112x112 Gram has 6328 distinct entries (the 80x80 one 3240). Each is reduced to 512
dimensions with a fixed pseudo-random +-1 projection (Achlioptas' database-friendly
Johnson-Lindenstrauss transform), generated from a counter-based hash written out below
rather than numpy's RNG, whose streams may change between releases: descriptors stored
today must stay comparable with those computed after an upgrade. No fitted data (PCA) is involved.

Weights and pooling are a versioned recipe (``TEXTURE_RECIPES``): a library keeps the
recipe it was built with, and a new recipe is a new version, never an edit of an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .lite0 import BOTTLENECK_CHANNELS, DEFAULT_SIZES, EMBED_DIM, Lite0Model, gem, l2n
from .pixels import as_rgb, resize_max_side

TEXTURE_VERSION = "4"
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
    # > 0: the 80-channel stage's Gram joins with this weight (GRAM_DIM more).
    w_gram_early: float = 0.0

    @property
    def dim(self) -> int:
        return (TEXTURE_DIM + (BOTTLENECK_CHANNELS if self.w_bottleneck else 0)
                + (GRAM_DIM if self.w_gram_early else 0))


# v1: the first guess. v2: measured on a texture set (benchmarks/quality.py): average
# pooling beats GeM there, and colour at 0.5 cost 0.03 mAP@10 (texture classes are
# colour-blind) while at 0.15 it still breaks ties between colourways.
TEXTURE_RECIPES: dict[str, TextureRecipe] = {
    "1": TextureRecipe(pooling_p=3.0, w_gram=0.8, w_colour=0.5),
    "2": TextureRecipe(pooling_p=1.0, w_gram=0.5, w_colour=0.15),
    # v3: the bottleneck, which lifted similar from 0.794 to 0.810 on the same set.
    "3": TextureRecipe(pooling_p=1.0, w_gram=0.5, w_colour=0.15, w_cnn=0.5 ** 0.5,
                       w_bottleneck=1.0),
    # v4: the 80-channel stage's Gram too, both Grams at 0.4 (2026-12-07, dtd5 leave-one-out,
    # benchmarks/studies/texture_recipes.py): mAP@10 0.8128 -> 0.8174, ahead of similar's
    # 0.8098 by 0.0076 (95 % bootstrap 0.0012-0.0145; v3's lead was 0.0031, -0.0030-0.0095),
    # no class lower; ahead of v3 with every query expansion tried. The 24- or 40-channel
    # stage's instead: +0.005 / +0.006; the 192- or 320-channel one's: nothing.
    "4": TextureRecipe(pooling_p=1.0, w_gram=0.4, w_colour=0.15, w_cnn=0.5 ** 0.5,
                       w_bottleneck=1.0, w_gram_early=0.4),
}

_PROJECTION_SEED = 0x7475736F75  # "tusou"


@lru_cache(maxsize=2)
def _upper_triangle(channels: int) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The upper triangle's indices, and its weights: off-diagonal entries appear twice in
    the full Gram; sqrt(2) keeps the dot product of the upper triangles equal to the
    Frobenius product of the full matrices."""
    triu = np.triu_indices(channels)
    weight = np.where(triu[0] == triu[1], 1.0, np.sqrt(2.0)).astype(np.float32)
    weight.setflags(write=False)
    return triu, weight


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@lru_cache(maxsize=2)
def gram_projection(channels: int) -> np.ndarray:
    """(channels * (channels + 1) / 2, 512) float32 of +-1/sqrt(512), a pure function of the
    constants above (a smaller Gram's is the first rows of a larger one's)."""
    n_in = channels * (channels + 1) // 2
    idx = np.arange(n_in * GRAM_DIM, dtype=np.uint64) + np.uint64(_PROJECTION_SEED)
    with np.errstate(over="ignore"):
        bits = _splitmix64(idx) >> np.uint64(63)
    proj = (bits.astype(np.float32) * 2.0 - 1.0).reshape(n_in, GRAM_DIM) / np.float32(np.sqrt(GRAM_DIM))
    proj.setflags(write=False)
    return proj


def gram_descriptor(grams: list[np.ndarray]) -> np.ndarray:
    """(512,) from one or more CxC Grams of one layer (one per scale): mean, upper
    triangle, signed sqrt, L2, projection, L2. einsum, not BLAS: see
    ``_GraphBuilder.gram`` in lite0."""
    gram = np.asarray(np.mean(grams, axis=0, dtype=np.float64))
    channels = gram.shape[0]
    triu, weight = _upper_triangle(channels)
    v = gram[triu].astype(np.float32) * weight
    v = l2n(np.sign(v) * np.sqrt(np.abs(v)))
    return l2n(np.einsum("i,ij->j", v, gram_projection(channels)))


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
    early: list[np.ndarray] = []
    for size in sizes:
        maps = model.texture_maps(pixels, size)
        pooled += l2n(gem(maps.features, recipe.pooling_p))
        if recipe.w_bottleneck:
            bottle += l2n(maps.bottleneck.mean(axis=(1, 2)))
        grams.append(maps.gram)
        early.append(maps.gram_early)
    parts = [recipe.w_cnn * l2n(pooled), recipe.w_gram * gram_descriptor(grams),
             recipe.w_colour * colour_descriptor(pixels)]
    if recipe.w_bottleneck:
        parts.insert(0, recipe.w_bottleneck * l2n(bottle))
    if recipe.w_gram_early:
        parts.append(recipe.w_gram_early * gram_descriptor(early))
    return l2n(np.concatenate(parts))
