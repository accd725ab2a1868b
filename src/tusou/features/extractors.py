"""One extractor per stored descriptor, behind one small protocol.

An extractor's ``name`` changes whenever its output would (model, preprocessing,
weights). The engine builds a library's vector pipeline name from it and stores that with
the library, so vectors from two different models never meet in one index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from .lite0 import BOTTLENECK_CHANNELS, BUILDER_VERSION, DEFAULT_SIZES, EMBED_DIM, GEM_P, Lite0Model
from .sscd import CopyDescriptor
from .texture import TEXTURE_RECIPES, TEXTURE_VERSION, texture_descriptor

D_co = TypeVar("D_co", covariant=True)


class Extractor(Protocol[D_co]):
    @property
    def name(self) -> str: ...

    def extract(self, pixels: np.ndarray) -> D_co: ...


@dataclass(frozen=True)
class SemanticEmbedding:
    """Lite0 multi-scale pooled features (1280-d, unit norm): GeM (p=3) for product and
    picturebook candidates, average pooling (p=1) for similar, where it measured better."""

    model: Lite0Model
    sizes: tuple[int, ...] = DEFAULT_SIZES
    p: float = GEM_P

    @property
    def name(self) -> str:
        pooling = "avg" if self.p == 1 else "gem" if self.p == GEM_P else f"gem{self.p:g}"
        return f"lite0-{pooling}-v{BUILDER_VERSION}-" + "+".join(map(str, self.sizes))

    def extract(self, pixels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """The embedding of ``pixels``, each position pooled by ``weights`` where given (a
        map over the same picture, any resolution)."""
        return self.model.embed(pixels, self.sizes, self.p, weights)


# Weight of the head's features beside the bottleneck's in LayeredEmbedding: cosine =
# 2/3 bottleneck + 1/3 head.
HEAD_WEIGHT = 0.5 ** 0.5


@dataclass(frozen=True)
class LayeredEmbedding:
    """Lite0's average-pooled bottleneck (320) and head features (1280), multi-scale,
    concatenated (unit norm): the similar kind. See ``Lite0Model.embed_layers``."""

    model: Lite0Model
    sizes: tuple[int, ...] = DEFAULT_SIZES
    head_weight: float = HEAD_WEIGHT

    dim = BOTTLENECK_CHANNELS + EMBED_DIM

    @property
    def name(self) -> str:
        return (f"lite0-b15avg+avg{self.head_weight:.2f}-v{BUILDER_VERSION}-"
                + "+".join(map(str, self.sizes)))

    def extract(self, pixels: np.ndarray) -> np.ndarray:
        return self.model.embed_layers(pixels, self.sizes, self.head_weight)


@dataclass(frozen=True)
class TextureEmbedding:
    """Pooled features + Gram + colour (TEXTURE_DIM, unit norm): the fabric kind.
    ``version`` picks the recipe (TEXTURE_RECIPES); libraries keep the one they began with."""

    model: Lite0Model
    version: str = TEXTURE_VERSION

    @property
    def name(self) -> str:
        return f"texture-v{self.version}-lite0-v{BUILDER_VERSION}"

    @property
    def dim(self) -> int:
        return TEXTURE_RECIPES[self.version].dim

    def extract(self, pixels: np.ndarray) -> np.ndarray:
        return texture_descriptor(self.model, pixels, recipe=TEXTURE_RECIPES[self.version])


@dataclass(frozen=True)
class CopyEmbedding:
    """SSCD (512-d, unit norm), when installed: candidates for same and picturebook."""

    model: CopyDescriptor

    @property
    def name(self) -> str:
        return self.model.name

    def extract(self, pixels: np.ndarray) -> np.ndarray:
        return self.model.embed(pixels)
