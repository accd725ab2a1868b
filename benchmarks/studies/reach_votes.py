"""Calibration of the reach voted over (KindSpec.reach_voted, reach_vote_min).

The last look reaches the nearest ``reach`` vectors past the first look's candidates. Besides
the best-sliding of them, it verifies by keypoints those that most of the query's keypoints
vote for, voted over the reach alone (``matching.best_voted``). For every query of a kind's
suite this votes over its reach, verifies the best KEEP by votes (at least MIN_VOTES) with
the first look's rules and the reach's weakest cells (``matching.reach_verified``: fits of
too few inliers refined by content), and records every candidate that would
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

from reused_suite import reaching, reused

from tusou.engine.matching import best_voted, reach_verified, reached
from tusou.engine.references import References
from tusou.features.alignment import DenseProbe

kind, work, out_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
keep, min_votes = int(sys.argv[4]), int(sys.argv[5])
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
part, parts = (int(sys.argv[7]), int(sys.argv[8])) if len(sys.argv) > 8 else (0, 1)
suite = reused(kind, work, seed)
spec = suite.spec
rows = []
for q in reaching(suite, part, parts):
    refs = References(suite.library._store.keypoints)
    t0 = time.perf_counter()
    voted = best_voted(q.desc.keypoints, q.reach, keep, min_votes, refs)
    t1 = time.perf_counter()
    slid = [i for _, i in reached(DenseProbe(q.desc.keypoints), refs.thumbnails(q.reach), len(q.reach))]
    counted = []
    for rank, (image_id, ref) in enumerate(voted):
        match, weak = reach_verified(spec, q.desc.probes, ref)
        if match is not None:
            counted.append({"rank": rank, "slide_rank": slid.index(image_id) if image_id in slid else None,
                            "true": image_id in q.true_ids, "mate": image_id in q.mates,
                            "key": suite.key_of_id[image_id], "inliers": match.inliers, "refined": weak})
    t2 = time.perf_counter()
    rows.append({"query": q.query.key, "set": q.query.set_name,
                 "true_vote_rank": next((r for r, (i, _) in enumerate(voted) if i in q.true_ids), None),
                 "true_slide_rank": next((slid.index(i) for i in q.true_ids if i in slid), None),
                 "counted": counted, "vote_ms": round(1000 * (t1 - t0), 1),
                 "verify_ms": round(1000 * (t2 - t1), 1)})
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
