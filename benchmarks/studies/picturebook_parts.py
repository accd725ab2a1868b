"""Would `picturebook` gain from `same`'s keypoint-free look, and would it answer wrong pages?
Every query is searched as the engine searches it; where one reaches the last look, that
look is also run as it would be with `same`'s keypoint-free settings (dense_agreement,
dense_cells), and every candidate it judges without keypoints is laid as it lays them (the
best placements, as they lie and refined): agreement, share of the page covered, weakest
cells, colours, whether it may be trusted, and whether it counts (``matching._part``).
Prints the true pages gained, every wrong answer, and the wrong placements that come
closest. A study, not run by CI; reuses an evaluation's work directory.

    python benchmarks/studies/picturebook_parts.py WORK_DIR SEED SET [SHARD SHARDS]

SET ``suite``: the suite's queries drawn from SEED (those that reach the last look);
``off``: photos of the suite's 100 unrelated pages (pages of the book that are not in the
library: every page transform, drawn from SEED), which nothing may answer.

(2026-12-06, /tmp/ev/pb0/picturebook, every candidate judged: suite seeds 2 and 3, 125 and 121
queries reached the last look; off seed 0, 400: no wrong answer. The closest wrong parts, each
refused only by colour: page-2000042's 40 % photo on another striped page 0.986, weakest cells
0.989, colours 0.14; an unrelated page's on a smooth landscape 0.950 / 0.91 / 0.30; the
chessboard's on generated chessboards 0.957. The true parts gained refined to 0.98+ or were
pinned by their colours. The dense look took p50 0.96 s a query on the off set, beside a study.)
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from reused_suite import last_look_candidates, reused, unrelated_page_photos

from tusou.engine import library as library_module
from tusou.engine import matching
from tusou.engine.kinds import KINDS
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import colour_agreement, weakest_cells
from tusou.features.pages import WEAKEST_SHARE

FLOOR = 0.6  # placements agreeing less than this (as they lie and refined) are not kept

work, seed, which = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
shard, shards = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (0, 1)
suite = reused("picturebook", work, seed)
key_of_id = suite.key_of_id
same = KINDS["same"]
# `same`'s look as it is, every candidate judged (as measured on 2026-12-06, before
# picturebook got the look with its own bar, dense_keep and grey rule)
dense_spec = replace(suite.spec, dense_agreement=same.dense_agreement, dense_cells=same.dense_cells,
                     dense_keep=same.dense_keep, dense_grey_alone=same.dense_grey_alone)

queries = suite.queries if which == "suite" else unrelated_page_photos(seed)
queries = queries[shard::shards]

rows: list[dict] = []
current: dict = {}
original_last_look = matching.last_look


def _row(image_id: int, label: str, match, query, ref) -> dict:
    h = match.homography
    return dict(id=image_id, key=key_of_id.get(image_id), true=key_of_id.get(image_id) in current["relevant"],
                how=label, agreement=round(float(match.agreement), 4),
                cover=round(matching.box_cover(match.box, ref), 3),
                cells=weakest_cells(query, ref, h, WEAKEST_SHARE),
                colour=colour_agreement(query, ref, h),
                trusted=matching._trusted(query, ref, h, greys=True),
                counts=matching._part(match, dense_spec, query, ref, greys=True))


def studied(spec, query, ids, refs, reach=(), probes=()):
    answer = original_last_look(spec, query, ids, refs, reach, probes)
    started = time.perf_counter()
    dense = original_last_look(dense_spec, query, ids, refs, reach, probes)
    seconds = time.perf_counter() - started
    placed = []
    probe = DenseProbe(query)
    for image_id, ref in last_look_candidates(dense_spec, probe, ids, reach, refs):
        for rough in probe.matches(ref)[:matching.REFINE_TRIES]:
            if rough.agreement >= FLOOR:
                placed.append(_row(image_id, "laid", rough, query, ref))
            if rough.agreement >= matching.MIN_ROUGH_PLACEMENT:
                for levels in (False, True):
                    better = probe.refine(rough, ref, levels=levels)
                    if better is not None and better.agreement >= FLOOR:
                        placed.append(_row(image_id, "levels" if levels else "refined", better, query, ref))
    rows.append(dict(query=current["key"], relevant=sorted(current["relevant"]),
                     answer=[(key_of_id.get(m.id), round(m.score, 4)) for m in answer],
                     dense=[(key_of_id.get(m.id), round(m.score, 4)) for m in dense],
                     dense_seconds=round(seconds, 3), placed=placed))
    return dense


library_module.last_look = studied
started = time.time()
for n, query in enumerate(queries):
    current.update(key=query.key, relevant=set(query.relevant))
    query_started = time.perf_counter()
    ranked, _ = suite.harness.ask(query, 3)
    if rows and rows[-1]["query"] == query.key:
        rows[-1]["search_seconds"] = round(time.perf_counter() - query_started, 3)
        rows[-1]["top"] = ranked.keys[:1]
    if n % 25 == 0:
        print("progress", n, len(queries), len(rows), round(time.time() - started), flush=True)

out = Path(f"/tmp/picturebook_parts_{which}_s{seed}_{shard}.json")
out.write_text(json.dumps(rows, default=lambda o: float(o) if isinstance(o, np.floating) else str(o)))
gained = [r for r in rows if r["dense"] and r["dense"][0][0] in r["relevant"]
          and not (r["answer"] and r["answer"][0][0] in r["relevant"])]
wrong = [r for r in rows if any(k not in r["relevant"] for k, _ in r["dense"])]
print(f"{len(rows)} of {len(queries)} queries reached the last look; {len(gained)} gained, "
      f"{len(wrong)} with a wrong answer; written to {out}")
for r in gained:
    print("gained", r["query"], r["dense"][:2])
for r in wrong:
    print("WRONG", r["query"], r["dense"][:3])
close = sorted((p | {"query": r["query"]} for r in rows for p in r["placed"] if not p["true"]),
               key=lambda p: -min(p["agreement"], p["cells"] if p["cells"] is not None else -1))
for p in close[:15]:
    print("closest wrong", p)
suite.engine.close()
