"""Core speed benchmark: add throughput and search latency over HTTP, at 10,000+ images.

Starts a real tusou server on loopback with a fresh data directory, adds N generated images
from C concurrent clients, then times searches (exact copies and re-encoded, resized copies).
Prints the figures and writes them as JSON; asserts nothing.

    python benchmarks/bench_core.py --images 10000 --kind similar --clients 2
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def picture(seed: int, w: int = 320, h: int = 240) -> np.ndarray:
    """A distinct structured picture per seed: smooth colour field, blocks and lines."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 16, w // 16, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).copy()
    for _ in range(8):
        x0, y0 = rng.integers(0, w - 10), rng.integers(0, h - 10)
        img[y0:y0 + rng.integers(5, 80), x0:x0 + rng.integers(5, 80)] = rng.integers(0, 256, 3)
    return img


def encode(pixels: np.ndarray, fmt: str = "JPEG", quality: int = 90) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, quality=quality)
    return base64.b64encode(buf.getvalue()).decode()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def start_server(data_dir: Path, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "TUSOU_LOG_LEVEL": "warning", "TUSOU_MODEL_THREADS": str(threads),
           "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "tusou.cli", "serve", "--port", str(port),
                             "--data-dir", str(data_dir)], env=env)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--kind", default="similar")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--model-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir = Path(tempfile.mkdtemp(prefix="tusou-bench-"))
    proc = start_server(data_dir, port, args.model_threads)
    base = f"http://127.0.0.1:{port}"
    try:
        httpx.post(f"{base}/v1/libraries", json={"name": "bench", "kind": args.kind}
                   ).raise_for_status()
        # Warm the model so start-up cost is not counted as throughput.
        warm = httpx.post(f"{base}/v1/libraries/bench/search",
                          json={"image": encode(picture(10**9))}, timeout=300)
        warm.raise_for_status()

        def add(seed: int) -> None:
            r = client.post(f"{base}/v1/libraries/bench/images",
                            json={"image": encode(picture(seed)), "brief": f"img{seed}",
                                  "tags": [1 + seed % 100]})
            r.raise_for_status()

        client = httpx.Client(timeout=300, limits=httpx.Limits(max_connections=args.clients))
        started = time.perf_counter()
        done = 0
        with ThreadPoolExecutor(args.clients) as pool:
            for _ in pool.map(add, range(args.images)):
                done += 1
                if done % 1000 == 0:
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done} added, {rate:.1f} images/s", flush=True)
        add_seconds = time.perf_counter() - started

        rng = np.random.default_rng(7)
        latencies: dict[str, list[float]] = {"exact": [], "edited": [], "filtered": []}
        correct = {k: 0 for k in latencies}
        for _ in range(args.queries):
            seed = int(rng.integers(0, args.images))
            img = picture(seed)
            variants = {
                "exact": {"image": encode(img)},
                "edited": {"image": encode(np.asarray(Image.fromarray(img).resize((256, 192))),
                                           quality=60)},
                "filtered": {"image": encode(img), "tags": [1 + seed % 100]},
            }
            for name, body in variants.items():
                t0 = time.perf_counter()
                r = client.post(f"{base}/v1/libraries/bench/search", json={**body, "rn": 10})
                latencies[name].append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                hits = r.json()["results"]
                correct[name] += bool(hits) and hits[0]["brief"] == f"img{seed}"
        client.close()
    finally:
        proc.terminate()
        proc.wait(60)

    result = {
        "kind": args.kind, "images": args.images, "clients": args.clients,
        "model_threads": args.model_threads, "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "python": platform.python_version(),
        "add_images_per_s": round(args.images / add_seconds, 2),
        "add_seconds": round(add_seconds, 1),
        "search_ms": {k: {"p50": round(percentile(v, 50), 1), "p99": round(percentile(v, 99), 1)}
                      for k, v in latencies.items()},
        "top1": {k: round(correct[k] / args.queries, 3) for k in correct},
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"core-{args.kind}-{args.images}.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"\n| kind | images | add (images/s, {args.clients} clients) | search p50 / p99 (ms) "
          f"exact | edited copy | with tag filter |")
    print("|---|---|---|---|---|---|")
    s = result["search_ms"]
    print(f"| {args.kind} | {args.images} | {result['add_images_per_s']} | "
          f"{s['exact']['p50']} / {s['exact']['p99']} | {s['edited']['p50']} / "
          f"{s['edited']['p99']} | {s['filtered']['p50']} / {s['filtered']['p99']} |")


if __name__ == "__main__":
    main()
