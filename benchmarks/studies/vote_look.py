"""What does the vote look (index.keypoint_table, KindSpec.vote_candidates) find for the
queries an evaluation missed, and what for the others? A study, not run by CI; reuses an
evaluation's work directory.

    python benchmarks/studies/vote_look.py KIND WORK_DIR SEED EVAL_JSON [EVERY]

(KIND: picturebook or same; EVAL_JSON: ``tusou eval KIND --json --with-queries`` at SEED.)
Fills a keypoint table from the library's stored keypoints as the look does, then asks every
missed query, every EVERY-th (12) answered one and every EVERY/2-th unrelated query, printing
the votes of the kind's vote_candidates (5 where it has none) with at least vote_min votes
(3), where the true image ranks among them, what verifies as the look verifies (the reach's
cells), and the time to vote and to verify.

(2026-12-07, seed 6, before the look existed, its 10 misses: page-2000007's window 47 votes,
no other over 4, verified, 120 inliers; the gravel photo at 30 % 47 votes, verified, 153; the
motion-blurred clock's 80 % photo 19 votes, first, but not verified at the reach's cells;
page-2000001's window 14 votes for other pages, its own none; the chessboard's window first at
9 votes, not verified; the colour wheel and microaneurysms pictures (6-250 keypoints) no
candidate. 30 answered photos: their page first, 9-357 votes, verified. 17 unrelated pages: at
most 103 votes (a page of the same template), nothing verified. Filling: 4.1 s for 2,393
pages, 1.55 million keypoints; votes p50 0.19 s, verifying 5 candidates 20-95 ms.)
"""

import sys
import time
from pathlib import Path

import numpy as np
from reused_suite import recorded, reused

from tusou.engine.matching import verify_geometry
from tusou.engine.references import References
from tusou.index.keypoint_table import HeldKeypoints, KeypointTable

kind, work, seed, recorded_path = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
every = int(sys.argv[5]) if len(sys.argv) > 5 else 12
r = reused(kind, work, seed)
lib, spec = r.library, r.spec
candidates, min_votes = spec.vote_candidates or 5, spec.vote_min or 3
id_of = {key: image_id for image_id, key in r.key_of_id.items()}
table = KeypointTable(per_image=spec.vote_keypoints or None)  # as the engine's
start = time.perf_counter()
table.load(HeldKeypoints(r.stored()))
print(f"filled in {time.perf_counter() - start:.1f} s: {len(table)} images, {table.keypoints} "
      f"keypoints, {table.nbytes / 2**20:.0f} MiB ({table.nbytes / table.keypoints:.0f} bytes a "
      "keypoint)", flush=True)
run = recorded(recorded_path)
missed = run.missed
answered, unrelated = run.answered, run.unrelated
asked = missed | set(answered[::every]) | set(unrelated[::max(1, every // 2)])
vote_times = []
for q in [q for q in r.queries if q.key in asked]:
    desc = r.described(q)
    assert desc.keypoints is not None
    start = time.perf_counter()
    voted = table.votes(desc.keypoints.descriptors, candidates, min_votes=min_votes)
    vote_times.append(time.perf_counter() - start)
    start = time.perf_counter()
    found = verify_geometry(spec, desc.probes, [i for i, _ in voted], References(lib._store.keypoints),
                            spec.reach_cells)
    verifying = time.perf_counter() - start
    truth = id_of[next(iter(q.relevant))] if q.relevant else None
    ids = [i for i, _ in voted]
    best = max(found, key=lambda m: m.score).id if found else None
    verdict = "-" if best is None else "right" if best == truth else "FALSE"
    what = ("missed" if q.key in missed else "answered") if q.relevant else "unrelated"
    print(what, q.key, len(desc.keypoints), "keypoints; votes", [v for _, v in voted],
          "truth at", ids.index(truth) if truth in ids else None, "; verified",
          [(r.key_of_id[m.id], round(m.score, 3), m.inliers) for m in found], verdict,
          f"{vote_times[-1] * 1000:.0f} + {verifying * 1000:.0f} ms", flush=True)
print(f"votes p50 {np.median(vote_times) * 1000:.0f} ms")
