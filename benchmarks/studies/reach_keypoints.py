"""Calibration of how many reached candidates keypoints verify (KindSpec.reach_verify).

The last look reaches the nearest ``reach`` vectors past the first look's candidates and
orders them by how well the query slides over them, upright, at the coarse scale
(``DenseProbe.upright``). For every query of a kind's suite this verifies the best KEEP of
that order by keypoints, with the first look's rules and the reach's weakest cells
(``matching.reach_verified``: fits of too few inliers refined by content), and
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

from reused_suite import reaching, reused

from tusou.engine.matching import reach_verified, reached
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import Keypoints, thumbnail_from_bytes

kind, work, out_path, keep = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
part, parts = (int(sys.argv[6]), int(sys.argv[7])) if len(sys.argv) > 7 else (0, 1)
suite = reused(kind, work, seed)
spec = suite.spec
rows = []
for q in reaching(suite, part, parts):
    blobs = suite.library._store.keypoints(q.reach)
    t0 = time.perf_counter()
    order = [i for _, i in reached(DenseProbe(q.desc.keypoints),
                                   ((i, thumbnail_from_bytes(b)) for i, b in blobs.items()), len(q.reach))]
    t1 = time.perf_counter()
    counted = []
    for rank, image_id in enumerate(order[:keep]):
        ref = Keypoints.from_bytes(blobs[image_id])
        match, weak = reach_verified(spec, q.desc.probes, ref)
        if match is not None:
            counted.append({"rank": rank, "true": image_id in q.true_ids, "mate": image_id in q.mates,
                            "key": suite.key_of_id[image_id], "inliers": match.inliers, "refined": weak})
    t2 = time.perf_counter()
    rows.append({"query": q.query.key, "set": q.query.set_name,
                 "true_slide_rank": next((order.index(i) for i in q.true_ids if i in order), None),
                 "counted": counted, "slide_ms": round(1000 * (t1 - t0), 1),
                 "verify_ms": round(1000 * (t2 - t1), 1)})
json.dump(rows, open(out_path, "w"))
wrong = [(r["query"], c) for r in rows for c in r["counted"] if not c["true"] and not c["mate"]]
print(f"{len(rows)} queries, best {keep} reached verified by keypoints: "
      f"{sum(any(c['true'] for c in r['counted']) for r in rows)} find their original, "
      f"{len(wrong)} wrong candidates counted")
for query_key, c in wrong:
    print("  wrong:", query_key, c)
suite.engine.close()
