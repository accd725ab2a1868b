"""Calibration of how many reached candidates keypoints verify (KindSpec.reach_verify).

The last look reaches the nearest ``reach`` vectors past the first look's candidates and
orders them by how well the query slides over them, upright, at the coarse scale
(``DenseProbe.upright``). For every query of a kind's suite this verifies the best KEEP of
that order by keypoints, with the first look's rules and the reach's weakest cells
(``matching._best_geometry``, then ``_best_refined`` for fits of too few inliers), and
records every candidate that would count: its slide rank, whether it is the query's
original (or a tolerated group-mate), its inliers and whether it was refined. Every query is
judged, whether or not an earlier look found it: a wrong candidate counted here would be
a wrong answer wherever the earlier looks miss. A study, not run by CI.

    python benchmarks/studies/reach_keypoints.py KIND WORK_DIR OUT.json KEEP [SEED [PART PARTS]]

WORK_DIR: the folder of the suite's library (W/KIND after `tusou eval KIND --work-dir W`);
SEED: the suite's transform seed (`tusou eval --seed`, default 0).
"""

import json
import sys
import time
from pathlib import Path

from reused_suite import first_look, reused

from tusou.engine.matching import Deferred, _best_geometry, _best_refined, reached
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _fit
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import Keypoints, thumbnail_from_bytes

kind, work, out_path, keep = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
part, parts = (int(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 7 else (0, 1)
suite = reused(kind, work, seed)
library, spec = suite.library, suite.spec
id_of = {key[-256:]: i for i, key in suite.key_of_id.items()}
rows = []
started = time.time()
queries = suite.queries[part::parts]
for n, query in enumerate(queries):
    desc = library._describe(decode_rgb(_fit(query.load(), spec.limits)), query=True)
    if desc.keypoints is None:
        continue
    _, reach = first_look(library, desc, spec.reach)
    true_ids = {id_of[k[-256:]] for k in query.relevant if k[-256:] in id_of}
    mates = {id_of[k[-256:]] for k in query.tolerated if k[-256:] in id_of}
    blobs = library._store.keypoints(reach)
    t0 = time.perf_counter()
    order = [i for _, i in reached(DenseProbe(desc.keypoints),
                                   ((i, thumbnail_from_bytes(b)) for i, b in blobs.items()), len(reach))]
    t1 = time.perf_counter()
    counted = []
    for rank, image_id in enumerate(order[:keep]):
        ref = Keypoints.from_bytes(blobs[image_id])
        fits: Deferred = []
        match = _best_geometry(desc.probes, ref, spec, spec.reach_cells, fits)
        weak = match is None and bool(fits)
        if weak:
            match = _best_refined(fits, spec, ref, spec.reach_cells)
        if match is not None:
            counted.append({"rank": rank, "true": image_id in true_ids, "mate": image_id in mates,
                            "key": suite.key_of_id[image_id], "inliers": match.inliers, "refined": weak})
    t2 = time.perf_counter()
    true_rank = next((order.index(i) for i in true_ids if i in order), None)
    rows.append({"query": query.key, "set": query.set_name, "true_slide_rank": true_rank,
                 "counted": counted, "slide_ms": round(1000 * (t1 - t0), 1),
                 "verify_ms": round(1000 * (t2 - t1), 1)})
    if n % 100 == 0:
        print(f"{n}/{len(queries)} {time.time() - started:.0f} s", file=sys.stderr, flush=True)
json.dump(rows, open(out_path, "w"))
wrong = [(r["query"], c) for r in rows for c in r["counted"] if not c["true"] and not c["mate"]]
print(f"{len(rows)} queries, best {keep} reached verified by keypoints: "
      f"{sum(any(c['true'] for c in r['counted']) for r in rows)} find their original, "
      f"{len(wrong)} wrong candidates counted")
for query_key, c in wrong:
    print("  wrong:", query_key, c)
suite.engine.close()
