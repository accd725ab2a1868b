"""Shared fixtures: a real tusou server on loopback, and images made by the tests."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from tusou.engine import Engine

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the built ONNX graph, shared by every data directory in the run."""
    return tmp_path_factory.mktemp("models")


@dataclass
class ServerProcess:
    data_dir: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 120.0) -> None:
        # The log goes to a file: a pipe nobody reads would block a chatty server.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tusou.cli", "serve", "--host", "127.0.0.1", "--port",
                 str(self.port), "--data-dir", str(self.data_dir)],
                env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log_path.read_text(errors="replace")
                raise RuntimeError(f"server exited: {err[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def server_env(model_cache: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TUSOU_URL_ALLOW_LOOPBACK": "1",
           "TUSOU_MODEL_CACHE_DIR": str(model_cache), "TUSOU_LOG_LEVEL": "info",
           "TUSOU_MODEL_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    env.update(extra)
    return env


def keypoint_table_gauges(url: str, library: str, wait_s: float) -> dict[str, float]:
    """``library``'s keypoint-table gauges on the server's /metrics (keypoints, bytes), once
    they show, waited for up to ``wait_s``; empty if they never do."""
    deadline = time.monotonic() + wait_s
    while True:
        gauges = {line.split("{", 1)[0].removeprefix("tusou_keypoint_table_"):
                  float(line.rsplit(" ", 1)[1])
                  for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
                  if line.startswith("tusou_keypoint_table_") and f'{{library="{library}"}}' in line}
        if gauges or time.monotonic() > deadline:
            return gauges
        time.sleep(0.2)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("data"), free_port(), server_env(model_cache))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def engine(tmp_path: Path, model_cache: Path) -> Iterator[Engine]:
    """An engine in-process on a fresh data directory, for what the API does not show."""
    from tusou.config import Settings
    from tusou.engine import Engine

    engine = Engine(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, model_threads=1))
    yield engine
    engine.close()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


@pytest.fixture
def make_library(client: httpx.Client):
    def _make(kind: str, **extra: object) -> str:
        name = f"{kind}-{uuid.uuid4().hex[:10]}"
        r = client.post("/v1/libraries", json={"name": name, "kind": kind, **extra})
        assert r.status_code == 201, r.text
        return name
    return _make


# --- images ----------------------------------------------------------------------------


def encode(pixels: np.ndarray, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kw)
    return buf.getvalue()


def sample(name: str) -> np.ndarray:
    """An RGB sample image shipped with scikit-image."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


# Two colours of one grey level: repeated patterns in them tell apart by colour only.
BROWN, BLUE = (128, 64, 0), (0, 64, 128)


def stripes(period: int, colour: tuple[int, int, int], size: int = 300) -> np.ndarray:
    """Vertical stripes, ``colour`` on white, half a period each, with a little noise."""
    on = (np.arange(size) % period) < period // 2
    row = np.where(on[:, None], np.array(colour, np.float32), np.float32(255.0))
    noisy = np.repeat(row[None], size, axis=0) + np.random.default_rng(7).normal(0, 3, (size, size, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def soft_texture(seed: int, side: int = 300, deviation: float = 6.0) -> np.ndarray:
    """Blurred noise around mid grey, its grey levels deviating ``deviation``: a soft,
    low-contrast texture, as a fabric or a retina photo is."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, (side, side)).astype(np.float32), (0, 0), 3.0)
    grey = np.clip(128.0 + noise * (deviation / float(noise.std())), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))


def generated_page(seed: int) -> np.ndarray:
    """The evaluation's generated picture-book page drawn from ``seed``, as RGB pixels."""
    from tusou.evaluation.dataset import decode_rgb, generated_pages  # only tests that draw pages pay for it

    return decode_rgb(generated_pages(1, first_seed=seed)[0].load())


def noise_image(seed: int, w: int = 320, h: int = 240) -> np.ndarray:
    """A distinct, structured synthetic picture (smooth blobs + edges), different per seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))
    img = img.copy()
    for _ in range(6):
        x0, y0 = rng.integers(0, w - 10), rng.integers(0, h - 10)
        img[y0:y0 + rng.integers(5, 60), x0:x0 + rng.integers(5, 60)] = rng.integers(0, 256, 3)
    return img


class ImageServer:
    """A loopback HTTP server handing out images for URL tests."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                item = files.get(self.path)
                if item is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body, ctype = item
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, path: str, body: bytes, ctype: str = "image/png") -> str:
        self.files[path] = (body, ctype)
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    srv = ImageServer()
    yield srv
    srv.close()
