"""ONNX Runtime sessions that load on first use.

Models are owned by objects the engine holds (see ``FeatureModels``), never by module
globals, so tests and several engines in one process don't share hidden state. Only the
loading is serialised: ``InferenceSession.run`` is safe to call from several threads.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path

import onnxruntime as ort

CPU_PROVIDERS = ["CPUExecutionProvider"]


def session_options(threads: int = 0) -> ort.SessionOptions:
    """CPU options shared by every model: ``threads`` = 0 lets ONNX Runtime decide."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = max(0, int(threads))
    # Parallelism comes from concurrent requests and intra-op threads, not from running
    # independent graph branches side by side (our graphs are chains).
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


class OnnxModel(ABC):
    """A model whose ONNX file is located (or built) and opened on first use."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._lock = threading.Lock()
        self._session: ort.InferenceSession | None = None

    @abstractmethod
    def model_path(self) -> Path:
        """Where the .onnx file is; may build it first. Called under the load lock."""

    @property
    def session(self) -> ort.InferenceSession:
        session = self._session
        if session is None:
            with self._lock:
                if self._session is None:
                    self._session = ort.InferenceSession(
                        str(self.model_path()),
                        sess_options=session_options(self.threads),
                        providers=CPU_PROVIDERS,
                    )
                session = self._session
        return session

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        """Open the session now (e.g. at start-up) instead of on the first request."""
        _ = self.session

    def unload(self) -> None:
        with self._lock:
            self._session = None
