"""How many keypoints of each stored image must the keypoint table hold (KeypointTable's
per_image, KindSpec.vote_keypoints)? A study, not run by CI; reuses an evaluation's work
directory.

    python benchmarks/studies/vote_caps.py KIND WORK_DIR SEED EVAL_JSON [EVERY [CAPS [ONLY]]]

(EVAL_JSON: ``tusou eval KIND --json --with-queries`` at SEED; CAPS: comma-separated, 1000,
500,300,200 by default; ONLY: comma-separated parts of query keys, to ask just those.)
Fills one table per cap from the library's stored keypoints (each image's strongest first,
as they are stored) and asks every missed query, every EVERY-th (4) answered one and every
EVERY-th unrelated one, printing for each cap the true image's rank among the 20 most voted,
its votes, the most votes any image got and the time to vote; then, per cap and kind of
query, how many rank the true image among the look's candidates (the first vote_candidates
with at least vote_min votes) and the most votes an unrelated query gave.

(2026-12-07, picturebook, the suite's 2,393 pages; keypoints, memory and filling time at
caps 1000 / 500 / 300 / 200: 1.55 / 0.95 / 0.64 / 0.44 million, 203 / 124 / 83 / 58 MiB,
3.7 / 1.9 / 1.1 / 0.7 s. Seeds 6 and 7, 182 answered queries: their page among the look's
candidates 179 / 177 / 177 / 171; votes p50 91 / 67 / 51 / 40 ms. The queries only the look
answers (seed 6: page-2000007's window and the gravel photo at 30 %; seed 5: the grass photo
at 30 %): 47 / 14 / 2 votes, 47 / 35 / 24 and 33 / 15 / 10 at caps 1000 / 500 / 300, each
first. 50 unrelated pages: none among the candidates at any cap. 500 chosen: in the
evaluation not one answer changed at seeds 0-7.)
"""

import sys
import time
from pathlib import Path

import numpy as np
from reused_suite import recorded, reused

from tusou.index.keypoint_table import HeldKeypoints, KeypointTable

kind, work, seed, recorded_path = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
every = int(sys.argv[5]) if len(sys.argv) > 5 else 4
caps = [int(c) for c in sys.argv[6].split(",")] if len(sys.argv) > 6 else [1000, 500, 300, 200]
only = sys.argv[7].split(",") if len(sys.argv) > 7 else []
r = reused(kind, work, seed)
spec = r.spec
candidates, min_votes = spec.vote_candidates or 5, spec.vote_min or 3
id_of = {key: image_id for image_id, key in r.key_of_id.items()}
stored = r.stored()
tables = {}
for cap in caps:
    table = KeypointTable(per_image=cap)
    start = time.perf_counter()
    table.load(HeldKeypoints(stored))
    print(f"cap {cap}: filled in {time.perf_counter() - start:.1f} s, {table.keypoints} keypoints, "
          f"{table.nbytes / 2**20:.0f} MiB", flush=True)
    tables[cap] = table
run = recorded(recorded_path)
missed = run.missed
answered, unrelated = run.answered, run.unrelated
asked = missed | set(answered[::every]) | set(unrelated[::every])
if only:
    asked = {k for k in missed | set(answered) if any(part in k for part in only)}
rows = []
for q in [q for q in r.queries if q.key in asked]:
    desc = r.described(q)
    assert desc.keypoints is not None
    truth = id_of[next(iter(q.relevant))] if q.relevant else None
    row = {"query": q.key, "what": ("missed" if q.key in missed else "answered") if q.relevant
           else "unrelated", "keypoints": len(desc.keypoints)}
    for cap, table in tables.items():
        start = time.perf_counter()
        voted = table.votes(desc.keypoints.descriptors, 20)
        ms = (time.perf_counter() - start) * 1000
        ids = [i for i, _ in voted]
        rank = ids.index(truth) if truth in ids else None
        row[cap] = (rank, voted[rank][1] if rank is not None else 0, voted[0][1] if voted else 0, ms)
    rows.append(row)
    print(row["what"], q.key, row["keypoints"], "keypoints; per cap (rank, votes, most, ms):",
          {cap: (v[0], v[1], v[2], round(v[3])) for cap, v in row.items() if isinstance(cap, int)},
          flush=True)
for what in ("missed", "answered", "unrelated"):
    chosen = [row for row in rows if row["what"] == what]
    for cap in caps:
        among = sum(1 for row in chosen if row[cap][0] is not None and row[cap][0] < candidates
                    and row[cap][1] >= min_votes)
        print(f"{what} ({len(chosen)}) cap {cap}: true image among the candidates {among}, "
              f"most votes {max((row[cap][2] for row in chosen), default=0)}, votes p50 "
              f"{np.median([row[cap][3] for row in chosen]) if chosen else 0:.0f} ms")
