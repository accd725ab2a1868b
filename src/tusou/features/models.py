"""The models one engine owns; each opens its ONNX session on first use."""

from __future__ import annotations

from pathlib import Path

from .lite0 import Lite0Model
from .sscd import CopyDescriptor, load_sscd
from .subject import SubjectDetector


class FeatureModels:
    """Container the engine holds (one per process). Creating it is cheap: nothing is read,
    built or opened until a model is first used (or ``load_all`` is called at start-up).

    ``models_dir`` caches built graphs (the Lite0 ONNX file); ``threads`` is ONNX
    Runtime's intra-op thread count per session, 0 = its default.
    """

    def __init__(self, models_dir: Path, threads: int = 0) -> None:
        self.models_dir = Path(models_dir)
        self.threads = threads
        self.lite0 = Lite0Model(self.models_dir, threads)
        self.subject = SubjectDetector(threads)
        self.sscd: CopyDescriptor | None = load_sscd(threads)

    def load_all(self) -> None:
        """Build and open every session now, e.g. before accepting traffic."""
        self.lite0.load()
        self.subject.load()
        if self.sscd is not None:
            self.sscd.load()
