"""Calibration of the page look's reach voted over (KindSpec.reach_voted in Library._page_look).

When no page the page look compares whole counts, the best outline's page seen square-on is
verified by keypoints against the candidates tried and its own nearest vectors; since
2026-12-07 also against the images of its page reach (``spec.page_reach`` nearest of the
page's vector, past those judged) that most of the page's keypoints vote for
(``matching.best_voted``: the best ``spec.reach_voted`` with ``spec.reach_vote_min`` votes).
For every query of a kind's suite this finds the outlines, votes over the best one's reach
and verifies the voted as the page look does (``verify_geometry`` with ``spec.page_cells``),
and records every candidate that counts: whether it is the query's original (or a tolerated
group-mate), its inliers, and the original's rank by the page's vector. Every query is
judged, whether or not an earlier look found it. A study, not run by CI.

    python benchmarks/studies/page_reach_votes.py KIND WORK_DIR OUT.json [SEED [PART PARTS]]
"""

import json
import sys
import time
from pathlib import Path

from reused_suite import asked, first_look, reused

from tusou.engine.matching import best_voted, rank_matches, verify_geometry
from tusou.engine.references import References
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _fit
from tusou.features.pages import find_pages, rectified

kind, work, out_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
part, parts = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (0, 1)
suite = reused(kind, work, seed)
library, spec = suite.library, suite.spec
rows = []
for query, true_ids, mates in asked(suite, part, parts):
    pixels = decode_rgb(_fit(query.load(), spec.limits))
    quads = find_pages(pixels)
    if not quads:
        continue
    desc = library._describe(pixels, query=True)
    tried, _ = first_look(library, desc, 0)
    t0 = time.perf_counter()
    vector = library._describer.vector(library.record.pipeline, rectified(pixels, quads[0]))
    near = [i for i, _ in library._state.index.search(vector, spec.page_reach, None)]
    judged = tried | set(near[:spec.verify_candidates])
    reach = [i for i in near if i not in judged]
    probes = library._describer.page_keypoints(spec, pixels, quads[0])
    refs = References(library._store.keypoints)
    voted = [i for i, _ in best_voted(probes[0], reach, spec.reach_voted, spec.reach_vote_min, refs)]
    counted = [{"true": m.id in true_ids, "mate": m.id in mates, "key": suite.key_of_id[m.id],
                "inliers": m.inliers, "score": m.score, "vote_rank": voted.index(m.id)}
               for m in rank_matches(verify_geometry(spec, probes, voted, refs, spec.page_cells))]
    rows.append({"query": query.key, "set": query.set_name, "counted": counted,
                 "true_page_rank": next((near.index(i) for i in true_ids if i in near), None),
                 "ms": round(1000 * (time.perf_counter() - t0), 1)})
json.dump(rows, open(out_path, "w"))
wrong = [(r["query"], c) for r in rows for c in r["counted"] if not c["true"] and not c["mate"]]
found = [r for r in rows if any(c["true"] for c in r["counted"])]
ms = sorted(r["ms"] for r in rows)
print(f"{len(rows)} queries with an outline: the page's reach voted over verifies {len(found)} originals, "
      f"{len(wrong)} wrong candidates; page vector, reach, keypoints, vote and verification p50 "
      f"{ms[len(ms) // 2]:.0f} ms")
for r in found:
    print("  found:", r["query"], r["true_page_rank"], [c for c in r["counted"] if c["true"]])
for query_key, c in wrong:
    print("  wrong:", query_key, c)
suite.engine.close()
