"""Periodicity (gradient autocorrelation off its centre peak) of every reference that a
dense-look candidate matched at >= 0.75."""

import glob
import json
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation.runner import _Harness
from tusou.features import Keypoints
from tusou.features.keypoints import periodicity  # landed in the engine from this study

rows = [r for f in sorted(glob.glob("/tmp/dense2/same[0-9].json")) for r in json.load(open(f))]
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
