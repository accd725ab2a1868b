"""Do `same`'s missed crops fail in alignment or in reaching it? A study, not run by CI.

The keypoint-free look (features.alignment) judges only the first look's candidates (PDQ
hits and the ``verify_candidates`` nearest global vectors). For every non-periodic query a
`tusou eval same` run missed, this prints the true image's rank among the N nearest
vectors, the keypoint-free agreement with it, the best agreement of the other N candidates,
and what judging N candidates costs (loading their stored keypoints, and aligning).

    python benchmarks/studies/dense/crop_reach.py WORK_DIR EVAL.json N [OUT.json]

WORK_DIR: the folder of the suite's `same` library (W/same after `tusou eval same
--work-dir W`); EVAL.json: that run's `--with-queries --json` output.
"""

import json
import sys
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import MAX_PERIODICITY
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import Keypoints
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import periodicity

work, eval_path, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
result = json.load(open(eval_path))["results"][0]
missed = {q["query"] for q in result["queries"]
          if q["relevant"] and not (q["hits"] and q["hits"][0]["key"] in q["relevant"])}
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, "same")
library = harness.library
ids = harness.ids_by_brief()
harness.key_of = {brief: brief for brief in ids}  # the suite's keys are short: brief = key
config = suites.suite("same", eval_dev=suites.find_eval_dev())
queries = [q for q in _copy_queries(config, harness, spread(list(config.library), config.query_originals))
           if q.key in missed]
rows = []
for query in queries:
    true_id = ids[next(iter(query.relevant))[-256:]]
    true_ref = Keypoints.from_bytes(library._store.keypoints([true_id])[true_id])
    if true_ref.image is None or periodicity(true_ref.image) >= MAX_PERIODICITY:
        continue  # answered only in colour; another question
    desc = library._describe(decode_rgb(_fit(query.load(), library.spec.limits)), query=True)
    if desc.keypoints is None:
        continue
    nearest = [i for i, _ in library._state.index.search(desc.vector, count, None)]
    probe = DenseProbe(desc.keypoints)
    started = time.perf_counter()
    blobs = library._store.keypoints(nearest)
    loaded = time.perf_counter()
    agreements = {}
    for image_id in nearest:
        match = probe.match(Keypoints.from_bytes(blobs[image_id]))
        agreements[image_id] = -1.0 if match is None else match.agreement
    aligned = time.perf_counter()
    true_match = probe.match(true_ref)
    wrong = [a for i, a in agreements.items() if i != true_id]
    rows.append({"query": query.key, "set": query.set_name,
                 "rank": nearest.index(true_id) if true_id in nearest else None,
                 "true": None if true_match is None else round(true_match.agreement, 4),
                 "best_wrong": round(max(wrong, default=-1.0), 4),
                 "load_ms": round(1000 * (loaded - started), 1),
                 "align_ms_each": round(1000 * (aligned - loaded) / max(len(nearest), 1), 2)})
    print(rows[-1], flush=True)
if len(sys.argv) > 4:
    json.dump(rows, open(sys.argv[4], "w"))
reached = [r for r in rows if r["true"] is not None and r["true"] >= 0.95]
print(f"{len(rows)} non-periodic misses; {len(reached)} align with their true image at 0.95+, "
      f"of which {sum(r['rank'] is not None and r['rank'] >= 20 for r in reached)} rank 20+ "
      f"among the vector candidates; best wrong agreement among {count}: "
      f"{max((r['best_wrong'] for r in rows), default=None)}")
engine.close()
