"""The keypoint-free look's placements refined by a homography: do true parts come to
agree in every part, and wrong ones not? Every query of a suite is searched as the engine
searches it; for each one that reaches the last look, every candidate that look judges
(the candidates tried and the reach it keeps) is aligned as `DenseProbe.match` aligns it,
and each placement that the look does not accept is refined (`alignment.refined`) and
judged as the look judges. Prints the wrong placements that come closest and the true ones.
A study, not run by CI; reuses an evaluation's work directory.

    python benchmarks/studies/dense_refined.py KIND WORK_DIR [LIMIT]

(2026-12-05, `same` /tmp/sm/lib/same: 287 queries reached the last look, 300 placements
agreed 0.4+; refined, the wrong ones that could be trusted agreed at most 0.910 in grey
levels and 0.14 in their weakest cells, those only colour refused up to 0.996; the true
ones gained were the silhouette's and a striped texture's 40 % photos, from 0.77 / 0.62.)
"""

import sys
import time
from pathlib import Path

from reused_suite import last_look_candidates, reused

from tusou.engine import library as library_module
from tusou.engine import matching
from tusou.features.alignment import DenseProbe, refined
from tusou.features.keypoints import colour_agreement, weakest_cells
from tusou.features.pages import WEAKEST_SHARE

FLOOR = 0.4  # placements agreeing less than this are not refined in the study

kind, work = sys.argv[1], Path(sys.argv[2])
limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
suite = reused(kind, work)
engine, harness, library, spec = suite.engine, suite.harness, suite.library, suite.spec
key_of_id, queries = suite.key_of_id, suite.queries
rows: list[dict] = []
current: dict = {}
original_last_look = matching.last_look


def studied(spec, query, ids, refs, reach=(), probes=()):
    answer = original_last_look(spec, query, ids, refs, reach, probes)
    current["reached"] = True
    probe = DenseProbe(query)
    for image_id, ref in last_look_candidates(spec, probe, ids, reach, refs):
        match = probe.match(ref)
        if match is None or match.agreement < FLOOR:
            continue
        row = dict(query=current["key"], true=key_of_id.get(image_id) in current["relevant"],
                   dense=match.agreement, answered=any(m.id == image_id for m in answer))
        better = refined(query, ref, match.homography)
        if better is not None:
            homography, levels = better
            row.update(levels=levels,
                       cells=weakest_cells(query, ref, homography, WEAKEST_SHARE) or 0.0,
                       colour=colour_agreement(query, ref, homography),
                       trusted=matching._trusted(query, ref, homography))
        rows.append(row)
    return answer


library_module.last_look = studied
started = time.time()
reached = 0
for n, query in enumerate(queries[:limit]):
    current.update(key=query.key, relevant=set(query.relevant), reached=False)
    try:
        harness.ask(query, 3)
    except Exception:  # refused by the kind's limits
        continue
    reached += current["reached"]
    if n % 100 == 0:
        print("progress", n, len(queries), reached, round(time.time() - started), flush=True)

judged = [r for r in rows if "cells" in r]
wrong = sorted((r for r in judged if not r["true"]), key=lambda r: -min(r["levels"], r["cells"]))
true = sorted((r for r in judged if r["true"] and not r["answered"]),
              key=lambda r: -min(r["levels"], r["cells"]))
print(f"{reached} queries reached the last look; {len(rows)} placements at {FLOOR}+; refined: "
      f"{len(wrong)} wrong, {len(true)} true not answered")
for label, group in (("closest wrong", wrong[:15]), ("true", true[:40])):
    print("==", label)
    for r in group:
        print(f"{r['query'][:44]:44s} dense={r['dense']:.3f} levels={r['levels']:.3f} "
              f"cells={r['cells']:.3f} colour={r['colour']} trusted={r['trusted']}")
engine.close()
