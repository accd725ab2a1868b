"""Keypoint fits from too few inliers, refined by content: do true ones come to agree in
every part, and wrong ones not? Every first-look candidate of every query of a suite is
verified from 5 inliers; each fit the kind's rules do not accept is refined
(`alignment.refined`) and judged as `matching._refined` judges it. Prints the wrong fits
that come closest and the true ones of queries the first look missed. A study, not run by
CI; reuses an evaluation's work directory.

    python benchmarks/studies/refined_fits.py KIND WORK_DIR [LIMIT]

(2026-12-05, `same` /tmp/sm/lib/same and `picturebook` /tmp/ev/pb0/picturebook: refined,
wrong fits agreed up to 0.98 in grey levels but never above 0.755 / 0.677 in their weakest
cells; the true ones that count 0.93+; figures in kinds.py and the README.)
"""

import sys
import time
from pathlib import Path

from reused_suite import reused

from tusou.engine import matching
from tusou.engine.references import References
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _fit
from tusou.features.alignment import refined
from tusou.features.keypoints import colour_agreement, verify, weakest_cells
from tusou.features.pages import WEAKEST_SHARE

kind, work = sys.argv[1], Path(sys.argv[2])
limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
suite = reused(kind, work)
engine, harness, library, spec = suite.engine, suite.harness, suite.library, suite.spec
key_of_id, queries = suite.key_of_id, suite.queries
rows = []
started = time.time()
for n, query in enumerate(queries[:limit]):
    try:
        desc = library._describe(decode_rgb(_fit(query.load(), spec.limits)), query=True)
    except Exception:  # refused by the kind's limits
        continue
    candidates = [i for i, _ in library._state.index.search(desc.vector, spec.verify_candidates, None)]
    for image_id, ref in References(library._store.keypoints).keypoints(candidates):
        for probe in desc.probes:
            fit = verify(probe, ref, min_inliers=5)
            if fit is None or fit.agreement is None:
                continue
            row = dict(query=query.key, true=key_of_id.get(image_id) in query.relevant,
                       inliers=fit.inliers, rough=fit.agreement,
                       accepted=matching.accepted(fit, spec, probe, ref))
            better = None if row["accepted"] else refined(probe, ref, fit.homography)
            if better is not None:
                homography, levels = better
                row.update(levels=levels,
                           cells=weakest_cells(probe, ref, homography, WEAKEST_SHARE) or 0.0,
                           colour=colour_agreement(probe, ref, homography))
            rows.append(row)
    if n % 100 == 0:
        print("progress", n, len(queries), round(time.time() - started), flush=True)

found = {r["query"] for r in rows if r["accepted"] and r["true"]}
judged = [r for r in rows if "cells" in r]
wrong = sorted((r for r in judged if not r["true"]), key=lambda r: -min(r["levels"], r["cells"]))
true = sorted((r for r in judged if r["true"] and r["query"] not in found),
              key=lambda r: -min(r["levels"], r["cells"]))
print(f"{len(rows)} fits of 5+ inliers; refined: {len(wrong)} wrong, {len(true)} true of "
      f"queries the first look missed")
if wrong:
    print("wrong: most in grey levels", round(max(r["levels"] for r in wrong), 3),
          "in weakest cells", round(max(r["cells"] for r in wrong), 3))
for label, group in (("closest wrong", wrong[:10]), ("true", true[:30])):
    print("==", label)
    for r in group:
        print(f"{r['query'][:44]:44s} inliers={r['inliers']:3d} rough={r['rough']:.3f} "
              f"levels={r['levels']:.3f} cells={r['cells']:.3f} colour={r['colour']}")
engine.close()
