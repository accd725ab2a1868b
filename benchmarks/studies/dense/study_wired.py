"""For the queries the engine missed (in /tmp/ev/KIND0.json) and the unrelated ones: the
alignment agreement of each of their first 40 PDQ and vector candidates, and the reference's
periodicity. ``study_wired.py PART PARTS [KIND]`` (KIND: same, the default, or picturebook),
each part on its own data dir /tmp/ev/<KIND>D<part> (the suite is ingested there once; the index
files are not shared between processes)."""

import json
import sys
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import PDQ_MATCH_DISTANCE, Keypoints
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import periodicity

N = 40
KIND = sys.argv[3] if len(sys.argv) > 3 else "same"
prev = json.load(open(f"/tmp/ev/{KIND}0.json"))["results"][0]["queries"]
missed = {q["query"] for q in prev if q["relevant"] and not (q["hits"] and q["hits"][0]["key"] in q["relevant"])}
print("missed", len(missed), flush=True)
config = suites.suite(KIND, eval_dev=suites.find_eval_dev())
engine = Engine(Settings(data_dir=Path(f"/tmp/ev/{KIND}D{sys.argv[1]}"), model_threads=0))
h = _Harness(engine, KIND)
h.ingest([*config.library, *config.distractors], workers=2, with_classes=False)
print("ingested", len(h.key_of), flush=True)
queries = _copy_queries(config, h, spread(list(config.library), config.query_originals))
queries = [q for q in queries if q.key in missed or q.set_name == "unrelated"]
part, parts = int(sys.argv[1]), int(sys.argv[2])
queries = queries[part::parts]
print("study queries", len(queries), flush=True)
lib = h.library
out = []
t0 = time.time()
ncand = 0
for n, q in enumerate(queries):
    pixels = decode_rgb(_fit(q.load(), lib.spec.limits))
    desc = lib._describe(pixels, query=True)
    state = lib._state
    pdq = state.hashes.within([x.to_bytes() for x in desc.pdq], PDQ_MATCH_DISTANCE, None)
    near = sorted(pdq, key=lambda i: pdq[i])[:N]
    cands = [i for i, _ in state.index.search(desc.vector, N, None)]
    ids = list(dict.fromkeys([*near, *cands]))
    blobs = lib._store.keypoints(ids)
    probe = DenseProbe(desc.keypoints)
    recs = lib._store.images_by_id(ids)
    row = {"query": q.key, "set": q.set_name, "relevant": sorted(q.relevant), "npdq": len(pdq), "cands": []}
    for rank, i in enumerate(ids):
        ref = Keypoints.from_bytes(blobs[i]) if i in blobs else None
        m = probe.match(ref) if ref is not None else None
        coarse = None
        if ref is not None and ref.image is not None and probe._views:
            pl = probe._placements(ref.image)
            coarse = pl[0][0] if pl else None
        ncand += 1
        key = h.key_of.get(recs[i].cont_sign) if i in recs else None
        row["cands"].append(
            {
                "key": key,
                "rank": rank,
                "pdq": i in pdq,
                "agreement": None if m is None else m.agreement,
                "coarse": coarse,
                "period": None if ref is None or ref.image is None else round(periodicity(ref.image), 3),
            }
        )
    out.append(row)
    if n % 20 == 0:
        print(n, round(time.time() - t0, 1), ncand, flush=True)
json.dump(out, open(f"/tmp/dense2/{KIND}{part}.json", "w"))
print("done", time.time() - t0, ncand)
engine.close()
