"""Descriptors: embeddings, texture, PDQ hashes, keypoints, whole-frame comparison, subject crops.

Pixels come in as HxWx3 RGB uint8 arrays (``tusou.images`` decodes and validates them).
Models are ONNX sessions that load lazily inside objects the engine owns
(``FeatureModels``); nothing is downloaded, and torch is not needed.
"""

from .extractors import (
    CopyEmbedding,
    Extractor,
    LayeredEmbedding,
    SemanticEmbedding,
    TextureEmbedding,
)
from .frames import ContentMatch, frame_match
from .keypoints import GeometricMatch, Keypoints, extract_keypoints, verify
from .lite0 import EMBED_DIM, Lite0Model, build_lite0_onnx, gem, l2n
from .models import FeatureModels
from .pdq import MATCH_DISTANCE as PDQ_MATCH_DISTANCE
from .pdq import PdqHash, hamming, pdq_dihedral, pdq_hash
from .runtime import OnnxModel
from .sscd import SSCD_DIM, CopyDescriptor, load_sscd
from .subject import SubjectDetector
from .texture import TEXTURE_DIM, TEXTURE_RECIPES, texture_descriptor
from .torch_legacy import read_state_dict

__all__ = [
    "EMBED_DIM",
    "PDQ_MATCH_DISTANCE",
    "SSCD_DIM",
    "TEXTURE_DIM",
    "TEXTURE_RECIPES",
    "ContentMatch",
    "CopyDescriptor",
    "CopyEmbedding",
    "Extractor",
    "FeatureModels",
    "GeometricMatch",
    "Keypoints",
    "LayeredEmbedding",
    "Lite0Model",
    "OnnxModel",
    "PdqHash",
    "SemanticEmbedding",
    "SubjectDetector",
    "TextureEmbedding",
    "build_lite0_onnx",
    "extract_keypoints",
    "frame_match",
    "gem",
    "l2n",
    "hamming",
    "load_sscd",
    "pdq_dihedral",
    "pdq_hash",
    "read_state_dict",
    "texture_descriptor",
    "verify",
]
