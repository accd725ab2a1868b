"""Settings from the environment (``TUSOU_*``): one object, built once and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "./tusou-data"


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything tunable about one running tusou.

    ``database_url`` defaults to SQLite inside ``data_dir``; point it at PostgreSQL for
    deployments where several processes share one store.
    """

    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    database_url: str | None = None
    # URL fetching: private, loopback and link-local targets are refused unless a test
    # explicitly allows loopback.
    url_allow_loopback: bool = False
    url_timeout_s: float = 10.0
    url_max_bytes: int = 10 * 1024 * 1024
    url_max_redirects: int = 3
    # Whole-request cap; an image's own limits (4 MiB base64) are checked by the engine.
    max_body_bytes: int = 12 * 1024 * 1024
    # Threads ONNX Runtime may use per session (0 = its default).
    model_threads: int = 0
    # Persist the in-memory vector index after this many changes (and on shutdown).
    index_flush_every: int = 500
    # The server opens every library when it starts, one at a time in the background (its
    # vector index, and the keypoint table of kinds that vote), rather than at the first
    # request naming it; off, each opens at first use.
    open_at_start: bool = True
    log_level: str = "info"
    # Require HTTP Basic (API key : secret key) on the native /v1 API.
    native_auth: bool = False
    # Where built model files (the EfficientNet-Lite0 ONNX graph) are cached; default
    # <data_dir>/models. Several data directories may share one.
    model_cache_dir: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tusou.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``TUSOU_<FIELD>`` variables; explicit ``overrides`` (not None) win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"TUSOU_{f.name.upper()}")
            if raw is None:
                continue
            if f.name in ("data_dir", "model_cache_dir"):
                values[f.name] = Path(raw)
            elif f.type in ("bool", bool):
                values[f.name] = _env_bool(raw)
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)
