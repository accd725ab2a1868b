"""For queries the current engine misses (and unrelated ones): dense agreement with every candidate."""

import json
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import PDQ_MATCH_DISTANCE
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import Keypoints
from tusou.features.alignment import DenseProbe

prev = json.load(open("/tmp/ev/same0.json"))["results"][0]["queries"]
missed = {q["query"] for q in prev if q["relevant"] and not (q["hits"] and q["hits"][0]["key"] in q["relevant"])}
print("missed", len(missed))
config = suites.suite("same", eval_dev=suites.find_eval_dev())
engine = Engine(Settings(data_dir=Path("/tmp/ev/same"), model_threads=0))
h = _Harness(engine, "same")
h.ingest([*config.library, *config.distractors], workers=2, with_classes=False)
print("ingested", len(h.key_of))
queries = _copy_queries(config, h, spread(list(config.library), config.query_originals))
queries = [q for q in queries if q.key in missed or q.set_name == "unrelated"]
print("study queries", len(queries))
lib = h.library
out = []
t0 = time.time()
for n, q in enumerate(queries):
    pixels = decode_rgb(_fit(q.load(), lib.spec.limits))
    desc = lib._describe(pixels, query=True)
    state = lib._state
    pdq = state.hashes.within([x.to_bytes() for x in desc.pdq], PDQ_MATCH_DISTANCE, None)
    cands = [i for i, _ in state.index.search(desc.vector, 40, None)]
    ids = list(dict.fromkeys([*pdq, *cands]))
    blobs = lib._store.keypoints(ids)
    probe = DenseProbe(desc.keypoints)
    recs = lib._store.images_by_id(ids)
    row = {"query": q.key, "set": q.set_name, "relevant": sorted(q.relevant), "cands": []}
    for rank, i in enumerate(ids):
        m = probe.match(Keypoints.from_bytes(blobs[i])) if i in blobs else None
        key = h.key_of.get(recs[i].cont_sign) if i in recs else None
        row["cands"].append(
            {"key": key, "rank": rank, "pdq": i in pdq, "agreement": None if m is None else m.agreement}
        )
    out.append(row)
    if n % 20 == 0:
        print(n, time.time() - t0, flush=True)
json.dump(out, open("/tmp/dense/study.json", "w"))
engine.close()
