"""Parts that agree under the keypoint-free look's bar in content: do their weakest cells
and colours tell true ones from wrong ones? Every query of a suite is searched as the engine
searches it; for each one that reaches the last look, every candidate that look judges (the
candidates tried and the reach it keeps) is aligned as `DenseProbe.match` aligns it, refined
where that agrees better (`DenseProbe.refine`), and each placement agreeing FLOOR or more is
judged: weakest cells, colour agreement, colour spread (`keypoints.colour_spread`), cover.
Prints the wrong placements closest to counting and the true ones the look did not answer.
A study, not run by CI; reuses an evaluation's work directory.

    python benchmarks/studies/colourful_parts.py KIND WORK_DIR

(2026-12-05, `same` /tmp/sm/lib/same: 99 placements at 0.7+, 48 wrong. No wrong one kept
both its weakest cells >= 0.9 and its colours >= 0.9: with cells >= 0.9 the best wrong
colours 0.086 (or a reference too grey to tell), with colours >= 0.9 the best wrong cells
-0.28 (spread 1.2). The true ones unanswered at cells >= 0.9 and colours >= 0.9: the colour
wheel's crops (0.939 / 0.764, spread 72.7 / 71.4), a blotchy texture's and retina's quarter
crops (0.861 / 0.850, spread 0.8 / 2.4: one tint, which pins nothing) and a striped crop at
0.950. Re-run the same day with colours compared as the photo's exposure shows them
(`keypoints._exposed_colours`): the same 99 placements and 48 wrong ones; with cells >= 0.9
the best wrong colours 0.445 (a striped crop), with colours >= 0.9 the best wrong cells
-0.28 as before. Since the edge fix (`keypoints.warp_onto`, later that day) the colour
wheel's, the blotchy texture's and retina's crops agree 0.95+ in content and are found as
plain parts; the rule still finds the colour wheel's partial photo.)
"""

import sys
import time
from pathlib import Path

from reused_suite import last_look_candidates, reused

from tusou.engine import library as library_module
from tusou.engine import matching
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import (
    colour_agreement,
    colour_spread,
    weakest_cells,
)
from tusou.features.pages import WEAKEST_SHARE

FLOOR = 0.7  # placements agreeing less than this (after refining) are not judged

kind, work = sys.argv[1], Path(sys.argv[2])
suite = reused(kind, work)
engine, harness, key_of_id, queries = suite.engine, suite.harness, suite.key_of_id, suite.queries
rows: list[dict] = []
current: dict = {}
original_last_look = matching.last_look


def studied(spec, query, ids, refs, reach=(), probes=()):
    answer = original_last_look(spec, query, ids, refs, reach, probes)
    probe = DenseProbe(query)
    for image_id, ref in last_look_candidates(spec, probe, ids, reach, refs):
        match = probe.match(ref)
        if match is None or match.agreement < matching.MIN_ROUGH_AGREEMENT:
            continue
        better = probe.refine(match, ref)
        if better is not None and better.agreement > match.agreement:
            match = better
        if match.agreement < FLOOR:
            continue
        rows.append(dict(
            query=current["key"], true=key_of_id.get(image_id) in current["relevant"],
            agreement=match.agreement, cover=matching.box_cover(match.box, ref),
            cells=weakest_cells(query, ref, match.homography, WEAKEST_SHARE) or 0.0,
            colour=colour_agreement(query, ref, match.homography),
            spread=colour_spread(query, ref, match.homography) or 0.0,
            answered=any(m.id == image_id for m in answer)))
    return answer


library_module.last_look = studied
started = time.time()
for n, query in enumerate(queries):
    current.update(key=query.key, relevant=set(query.relevant))
    try:
        harness.ask(query, 3)
    except Exception:  # refused by the kind's limits
        continue
    if n % 200 == 0:
        print("progress", n, len(queries), round(time.time() - started), flush=True)


def line(r: dict) -> str:
    colour = "None" if r["colour"] is None else f"{r['colour']:.3f}"
    return (f"{r['query'][:44]:44s} agreement={r['agreement']:.3f} cells={r['cells']:.3f} "
            f"colour={colour} spread={r['spread']:.1f} cover={r['cover']:.2f}")


wrong = [r for r in rows if not r["true"]]
print(f"{len(rows)} placements at {FLOOR}+, {len(wrong)} wrong")
print("== wrong, by weakest cells")
for r in sorted(wrong, key=lambda r: -r["cells"])[:10]:
    print(line(r))
print("== wrong, by colours")
for r in sorted(wrong, key=lambda r: -(r["colour"] or 0.0))[:10]:
    print(line(r))
print("== true, not answered")
for r in sorted((r for r in rows if r["true"] and not r["answered"]), key=lambda r: -r["agreement"]):
    print(line(r))
engine.close()
