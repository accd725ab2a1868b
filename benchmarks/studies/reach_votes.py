"""Calibration of the reach voted over (KindSpec.reach_voted, reach_vote_min).

The last look reaches the nearest ``reach`` vectors past the first look's candidates. Besides
the best-sliding of them, it verifies by keypoints those that most of the query's keypoints
vote for, voted over the reach alone (``matching.best_voted``). For every query of a kind's
suite this votes over its reach, verifies the best KEEP by votes (at least MIN_VOTES) with
the first look's rules and the reach's weakest cells (``matching._best_geometry``, then
``_best_refined`` for fits of too few inliers), and records every candidate that would
count: its vote rank and votes, its slide rank, whether it is the query's original (or a
tolerated group-mate), its inliers and whether it was refined; and the time the vote took
(reading the reach's descriptors with their thumbnails, building and asking the table).
Every query is judged, whether or not an earlier look found it: a wrong candidate counted
here would be a wrong answer wherever the earlier looks miss. A study, not run by CI.

    python benchmarks/studies/reach_votes.py KIND WORK_DIR OUT.json KEEP MIN_VOTES [SEED [PART PARTS]]

WORK_DIR: the folder of the suite's library (W/KIND after `tusou eval KIND --work-dir W`);
SEED: the suite's transform seed (`tusou eval --seed`, default 0).
"""

import json
import sys
import time
from pathlib import Path

from reused_suite import first_look, reused

from tusou.engine.matching import Deferred, _best_geometry, _best_refined, best_voted, reached
from tusou.engine.references import References
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _fit
from tusou.features.alignment import DenseProbe

kind, work, out_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
keep, min_votes = int(sys.argv[4]), int(sys.argv[5])
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
part, parts = (int(sys.argv[7]), int(sys.argv[8])) if len(sys.argv) > 8 else (0, 1)
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
    refs = References(library._store.keypoints)
    t0 = time.perf_counter()
    voted = best_voted(desc.keypoints, reach, keep, min_votes, refs)
    t1 = time.perf_counter()
    slid = [i for _, i in reached(DenseProbe(desc.keypoints), refs.thumbnails(reach), len(reach))]
    counted = []
    for rank, (image_id, ref) in enumerate(voted):
        fits: Deferred = []
        match = _best_geometry(desc.probes, ref, spec, spec.reach_cells, fits)
        weak = match is None and bool(fits)
        if weak:
            match = _best_refined(fits, spec, ref, spec.reach_cells)
        if match is not None:
            counted.append({"rank": rank, "slide_rank": slid.index(image_id) if image_id in slid else None,
                            "true": image_id in true_ids, "mate": image_id in mates,
                            "key": suite.key_of_id[image_id], "inliers": match.inliers, "refined": weak})
    t2 = time.perf_counter()
    true_rank = next((rank for rank, (i, _) in enumerate(voted) if i in true_ids), None)
    rows.append({"query": query.key, "set": query.set_name, "true_vote_rank": true_rank,
                 "true_slide_rank": next((slid.index(i) for i in true_ids if i in slid), None),
                 "counted": counted, "vote_ms": round(1000 * (t1 - t0), 1),
                 "verify_ms": round(1000 * (t2 - t1), 1)})
    if n % 100 == 0:
        print(f"{n}/{len(queries)} {time.time() - started:.0f} s", file=sys.stderr, flush=True)
json.dump(rows, open(out_path, "w"))
wrong = [(r["query"], c) for r in rows for c in r["counted"] if not c["true"] and not c["mate"]]
far = [r for r in rows if any(c["true"] and (c["slide_rank"] is None or c["slide_rank"] >= spec.reach_verify)
                              for c in r["counted"])]
vote_ms = sorted(r["vote_ms"] for r in rows)
print(f"{len(rows)} queries, best {keep} voted (at least {min_votes} votes) verified by keypoints: "
      f"{sum(any(c['true'] for c in r['counted']) for r in rows)} find their original, "
      f"{len(far)} of them past the best-sliding {spec.reach_verify}, {len(wrong)} wrong candidates counted; "
      f"vote p50 {vote_ms[len(vote_ms) // 2]:.0f} ms, p99 {vote_ms[int(len(vote_ms) * 0.99)]:.0f} ms")
for r in far:
    print("  past the sliding:", r["query"], [c for c in r["counted"] if c["true"]])
for query_key, c in wrong:
    print("  wrong:", query_key, c)
suite.engine.close()
