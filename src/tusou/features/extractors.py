"""One extractor per stored descriptor, behind one small protocol.

An extractor's ``name`` changes whenever its output would (model, preprocessing,
weights). The engine builds a library's vector pipeline name from it and stores that with
the library, so vectors from two different models never meet in one index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from .lite0 import BUILDER_VERSION, DEFAULT_SIZES, Lite0Model
from .sscd import CopyDescriptor
from .texture import TEXTURE_VERSION, texture_descriptor

D_co = TypeVar("D_co", covariant=True)


class Extractor(Protocol[D_co]):
    @property
    def name(self) -> str: ...

    def extract(self, pixels: np.ndarray) -> D_co: ...


@dataclass(frozen=True)
class SemanticEmbedding:
    """Lite0 multi-scale GeM (1280-d, unit norm): the similar and product kinds."""

    model: Lite0Model
    sizes: tuple[int, ...] = DEFAULT_SIZES

    @property
    def name(self) -> str:
        return f"lite0-gem-v{BUILDER_VERSION}-" + "+".join(map(str, self.sizes))

    def extract(self, pixels: np.ndarray) -> np.ndarray:
        return self.model.embed(pixels, self.sizes)


@dataclass(frozen=True)
class TextureEmbedding:
    """GeM + Gram + colour (TEXTURE_DIM, unit norm): the fabric kind."""

    model: Lite0Model

    @property
    def name(self) -> str:
        return f"texture-v{TEXTURE_VERSION}-lite0-v{BUILDER_VERSION}"

    def extract(self, pixels: np.ndarray) -> np.ndarray:
        return texture_descriptor(self.model, pixels)


@dataclass(frozen=True)
class CopyEmbedding:
    """SSCD (512-d, unit norm), when installed: candidates for same and picturebook."""

    model: CopyDescriptor

    @property
    def name(self) -> str:
        return self.model.name

    def extract(self, pixels: np.ndarray) -> np.ndarray:
        return self.model.embed(pixels)
