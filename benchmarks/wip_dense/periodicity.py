"""Periodicity (gradient autocorrelation off its centre peak) of every reference that a
dense-look candidate matched at >= 0.75."""

import glob
import json
from pathlib import Path

import cv2
import numpy as np

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation.runner import _Harness
from tusou.features import Keypoints

rows = [r for f in sorted(glob.glob("/tmp/dense2/study[0-9].json")) for r in json.load(open(f))]
need = {}
for r in rows:
    rel = set(r["relevant"])
    for c in r["cands"]:
        if c["agreement"] is not None and c["agreement"] >= 0.75:
            need.setdefault(c["key"], []).append((c["agreement"], c["key"] in rel, r["query"]))
engine = Engine(Settings(data_dir=Path("/tmp/ev/same"), model_threads=0))
harness = _Harness(engine, "same")
lib = harness.library
recs = harness.ids_by_brief()


def periodicity(img):
    g = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)
    g = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    g = g - g.mean()
    h, w = g.shape
    F = np.fft.rfft2(g, s=(2 * h, 2 * w))
    ac = np.fft.irfft2(F * np.conj(F), s=(2 * h, 2 * w))
    # normalise by overlap area
    yy = np.minimum(np.arange(2 * h), 2 * h - np.arange(2 * h))[:, None]
    xx = np.minimum(np.arange(2 * w), 2 * w - np.arange(2 * w))[None, :]
    overlap = np.clip(h - yy, 0, None) * np.clip(w - xx, 0, None)
    valid = (yy < h // 2) & (xx < w // 2)
    acn = np.where(valid, ac / np.maximum(overlap, 1), 0)
    zero = acn[0, 0]
    far = (yy**2 + xx**2) >= 36
    return float(acn[far & valid].max() / zero)


out = []
for key, lst in need.items():
    i = recs.get(key[-256:])
    if i is None:
        print("nokey", key)
        continue
    kp = Keypoints.from_bytes(lib._store.keypoints([i])[i])
    p = periodicity(kp.image)
    for a, t, q in lst:
        out.append((p, a, t, key, q))
out.sort()
for x in out:
    if x[1] >= 0.85:
        print(round(x[0], 3), round(x[1], 3), "TRUE" if x[2] else "false", x[3], x[4])
engine.close()
