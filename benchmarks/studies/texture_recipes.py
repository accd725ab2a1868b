"""Which of Lite0's statistics make the fabric descriptor better than similar's on textures?

Runs Lite0 once per image of ``../shared/eval-dev/dtd5`` (skipped when absent) at 224 and
320 px and keeps every part a texture recipe could be made of: the head's and the
bottleneck's average, and the channel Gram of each stage's output (24, 40, 80, 112, 192
and 320 channels; exact upper triangles here, where the product projects them to 512
dimensions), plus the colour histogram. Then ranks dtd5 leave-one-out (class = relevant)
with each recipe, with the two-step query expansion both kinds use (``Library._ranked``),
and prints mAP@10 and its difference from similar's vector, per query paired, with a 95 %
bootstrap interval and per class. A study, not run by CI (about 2 minutes on 2 cores).

    python benchmarks/studies/texture_recipes.py

(2026-12-07: similar 0.8098; fabric v3, the mid stage's Gram at 0.5, 0.8128, +0.0031
(-0.0030..+0.0095); with the 80-channel stage's Gram too, both at 0.4 (v4), 0.8174, +0.0076
(+0.0012..+0.0145), no class lower, and ahead of v3 at every expansion tried (3-8
neighbours, alpha 1 or 3); weights 0.3-0.6 for either Gram give +0.0046..+0.0080. With the
24- or 40-channel stage's Gram instead +0.0051 / +0.0057 (intervals reaching below 0), the
192- or 320-channel one's nothing (-0.0001 / +0.0006). Without expansion every recipe is
within +0.003 of similar (v4 +0.0020, -0.0018..+0.0058): Lite0's pooled features carry most
of what either ranks by. Averaging over quarter turns or a mirror, or a 448 px size, lost
0.003-0.008. The evaluation harness, with the projections: v4 0.8163, similar 0.8096.)
"""

import csv
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from tusou.features.lite0 import Lite0Model, l2n, to_input
from tusou.features.pixels import resize_short_side
from tusou.features.texture import colour_descriptor

DTD5 = Path(__file__).resolve().parents[2].parent / "shared" / "eval-dev" / "dtd5"
SIZES = (224, 320)
# Graph values whose Grams are compared: the output of each stage of Lite0.
STAGES = {"24": "_blocks.2.out", "40": "_blocks.4.out", "80": "early", "112": "mid",
          "192": "_blocks.14.out", "320": "bottleneck"}
EXPANSION_SHORTLIST, EXPAND, SEED = 20, 4, 1


def extract(models: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rows = list(csv.DictReader(open(DTD5 / "labels.csv")))
    model = onnx.load(str(Lite0Model(models).model_path()))
    have = {o.name for o in model.graph.output}
    for name in STAGES.values():
        if name not in have:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = ["features", *STAGES.values()]
    parts: dict[str, list[np.ndarray]] = {}
    for row in rows:
        rgb = np.asarray(Image.open(DTD5 / row["file"]).convert("RGB"))
        grams: dict[str, list[np.ndarray]] = {}
        for size in SIZES:
            outputs = session.run(names, {"image": to_input(resize_short_side(rgb, size))})
            maps = dict(zip(["head", *STAGES], (o[0].reshape(o.shape[1], -1) for o in outputs), strict=True))
            parts.setdefault(f"head{size}", []).append(maps["head"].mean(1))
            parts.setdefault(f"bottle{size}", []).append(maps["320"].mean(1))
            for stage in STAGES:
                a = maps[stage]
                grams.setdefault(stage, []).append((a @ a.T) / a.shape[1])
        for stage, found in grams.items():
            gram = np.mean(found, axis=0)
            triu = np.triu_indices(gram.shape[0])
            v = gram[triu] * np.where(triu[0] == triu[1], 1.0, np.sqrt(2.0))
            parts.setdefault(f"gram{stage}", []).append(l2n(np.sign(v) * np.sqrt(np.abs(v))))
        parts.setdefault("colour", []).append(colour_descriptor(rgb))
    stacked = {k: np.stack(v).astype(np.float32) for k, v in parts.items()}
    for key in ("head", "bottle"):
        stacked[key] = l2n(sum(l2n(stacked.pop(f"{key}{size}")) for size in SIZES))
    return np.array([row["class"] for row in rows]), stacked


def combined(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return l2n(np.concatenate([w * parts[k] for k, w in weights.items()], axis=1))


def average_precisions(vectors: np.ndarray, labels: np.ndarray, expand: int = EXPAND,
                       seed: int = SEED) -> np.ndarray:
    """AP@10 of every image asking the others, ranked as ``Library._ranked`` ranks them."""
    sims = vectors @ vectors.T
    out = np.zeros(len(labels))
    for i in range(len(labels)):
        s = sims[i].copy()
        s[i] = -np.inf
        hits = np.argsort(-s, kind="stable")[:EXPANSION_SHORTLIST]
        scores = s[hits]
        if seed:
            shortlist = vectors[hits]
            query = l2n(vectors[i] + np.maximum(shortlist[:seed] @ vectors[i], 0) @ shortlist[:seed])
            scores = shortlist @ query
            order = np.argsort(-scores, kind="stable")
            hits, scores = hits[order], scores[order]
        if expand:
            expanded = vectors[i] + (np.maximum(scores[:expand], 0)[:, None] * vectors[hits[:expand]]).sum(0)
            s = vectors @ l2n(expanded)
            s[i] = -np.inf
        relevant = labels[np.argsort(-s, kind="stable")[:10]] == labels[i]
        out[i] = (np.cumsum(relevant) / np.arange(1, 11) * relevant).sum() / 10
    return out


def compare(name: str, aps: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> None:
    diff = aps - reference
    rng = np.random.default_rng(0)
    boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    per_class = " ".join(f"{c} {diff[labels == c].mean():+.4f}" for c in np.unique(labels))
    print(f"{name:34s} mAP@10 {aps.mean():.4f}  vs similar {diff.mean():+.4f} "
          f"({np.percentile(boot, 2.5):+.4f}..{np.percentile(boot, 97.5):+.4f})  {per_class}", flush=True)


def main() -> None:
    if not DTD5.is_dir():
        print(f"skipped: {DTD5} not found")
        return
    with tempfile.TemporaryDirectory() as models:
        labels, parts = extract(Path(models))
    similar = {"bottle": 1.0, "head": 0.5 ** 0.5}
    recipes: dict[str, dict[str, float]] = {
        "similar": similar,
        "fabric v3 (mid Gram 0.5)": {**similar, "gram112": 0.5, "colour": 0.15},
        "fabric v4 (80 + mid Grams 0.4)": {**similar, "gram80": 0.4, "gram112": 0.4, "colour": 0.15},
        **{f"mid 0.4 + {stage}-channel Gram 0.4": {**similar, "gram112": 0.4, f"gram{stage}": 0.4, "colour": 0.15}
           for stage in ("24", "40", "192", "320")},
    }
    runs: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "": lambda v: average_precisions(v, labels),
        " (no expansion)": lambda v: average_precisions(v, labels, expand=0, seed=0),
    }
    for suffix, run in runs.items():
        reference = run(combined(parts, similar))
        for name, weights in recipes.items():
            compare(name + suffix, run(combined(parts, weights)), reference, labels)


if __name__ == "__main__":
    sys.exit(main())
