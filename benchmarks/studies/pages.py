"""Calibration of the page look (features/pages.py): for every query of a suite (its
transform queries and unrelated ones), the page outlines found in it and, for each, the
agreement of every candidate the engine's page look would compare: its PDQ hits, its first
20 vector candidates and the squared page's nearest ``verify_candidates``. Only candidates
the quick comparison passes are judged, as in the engine, each with its agreement and the
agreement of its weakest cells (``keypoints.weakest_cells``). A study, not run by CI.

    [SEED=N] python benchmarks/studies/pages.py KIND WORK_DIR OUT.json [PART PARTS]

WORK_DIR holds the suite's library (``tusou eval KIND --work-dir W`` leaves one in W/KIND;
the suite is ingested there if it is not). Prints the true and wrong agreements; OUT.json
keeps every judged candidate (query, set, candidate key, relevant, agreement, weakest
cells by three vote rules, the reference's periodicity).
"""

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import PDQ_MATCH_DISTANCE, Keypoints
from tusou.features.keypoints import MIN_DRAWN_STD, agreement, periodicity, weakest_cells
from tusou.features.pages import WEAKEST_SHARE, find_pages, page_match, page_view, rectified

kind, work, out_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
part, parts = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (0, 1)
config = replace(suites.suite(kind, eval_dev=suites.find_eval_dev()), seed=int(os.environ.get("SEED", "0")))
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, kind)
harness.ingest([*config.library, *config.distractors], workers=2, with_classes=False)
lib = harness.library
spec = lib.spec
queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))[part::parts]
print("queries", len(queries), flush=True)
# weakest_cells' vote rule: the engine's (cells), any texture in the query (cells_either),
# the reference's texture only (cells_ref)
DRAWN = {"cells": MIN_DRAWN_STD, "cells_either": 2.0, "cells_ref": float("inf")}
# Each placement is also compared with both blurred this much more (sigma, thumbnail px), as
# the page look does from pages.PAGE_FINE_FLOOR up (but for references finer than its quick
# comparison, which this does not leave out: an upper bound on what it lets through).
COARSER = 2.0
rows = []
started = time.time()
for n, query in enumerate(queries):
    pixels = decode_rgb(_fit(query.load(), spec.limits))
    desc = lib._describe(pixels, query=True)
    state = lib._state
    pdq = state.hashes.within([h.to_bytes() for h in desc.pdq], PDQ_MATCH_DISTANCE, None) if desc.pdq else {}
    ids = [*pdq, *(i for i, _ in state.index.search(desc.vector, spec.verify_candidates or 20, None))]
    quads = find_pages(pixels)
    for quad in quads:
        vector = lib._describer.vector(lib.record.pipeline, rectified(pixels, quad))
        ids += [i for i, _ in state.index.search(vector, spec.verify_candidates or 20, None)]
    ids = list(dict.fromkeys(ids))
    pages = [page_view(pixels, quad) for quad in quads]
    blobs = lib._store.keypoints(ids) if pages else {}
    records = lib._store.images_by_id(list(blobs))
    judged = []
    for image_id, blob in blobs.items():
        ref = Keypoints.from_bytes(blob)
        found = [(m, p) for p in pages if (m := page_match(p, ref, -1.0)) is not None]
        if found:
            best, page = max(found, key=lambda f: f[0].agreement)
            # the weakest cells of that placement (page_match's homography maps the photo)
            laid = best.homography @ page.to_photo
            cells = {name: weakest_cells(page.query, ref, laid, WEAKEST_SHARE, drawn=drawn)
                     for name, drawn in DRAWN.items()}
            key = harness.key_of.get(records[image_id].cont_sign) if image_id in records else None
            coarse = agreement(page.query, ref, laid, levels=True, coarser=COARSER)
            judged.append({"key": key, "relevant": key in query.relevant,
                           "agreement": round(best.agreement, 4),
                           "coarse": None if coarse is None else round(coarse, 4),
                           **{name: None if c is None else round(c, 4) for name, c in cells.items()},
                           "periodicity": round(periodicity(ref.image), 3) if ref.image is not None else None})
    rows.append({"query": query.key, "set": query.set_name, "pages": len(quads), "candidates": len(ids),
                 "judged": judged})
    if n % 50 == 0:
        print(n, round(time.time() - started, 1), flush=True)
json.dump(rows, open(out_path, "w"))

print(f"{len(rows)} queries, {sum(r['pages'] > 0 for r in rows)} with an outline")
judged = [(r["query"], j) for r in rows for j in r["judged"]]
true = [j for _, j in judged if j["relevant"]]
wrong = sorted(((j["agreement"], q, j["key"], j["cells"]) for q, j in judged if not j["relevant"]))
print(f"{len(true)} true and {len(wrong)} wrong candidates judged; best wrong:", wrong[-5:])
for cut in (0.9, 0.93, 0.95):
    print(f"agreement >= {cut}: true {sum(j['agreement'] >= cut for j in true)}, "
          f"wrong {sum(a >= cut for a, *_ in wrong)}")
    for name in DRAWN:
        above = [j[name] for _, j in judged if not j["relevant"] and j["agreement"] >= cut]
        kept = sorted(j[name] for j in true if j["agreement"] >= cut)
        print(f"  weakest cells ({name}): wrong at most {max(above, default=None)}, true at least "
              f"{kept[0] if kept else None} (5th percentile {kept[len(kept) // 20] if kept else None})")
print(f"compared {COARSER} px coarser (weakest cells as the engine's):")
for floor in (0.8, 0.85, 0.9):
    above = [(j["coarse"], q, j["key"], j["agreement"]) for q, j in judged
             if not j["relevant"] and j["agreement"] >= floor and j["coarse"] is not None]
    gained = [(q, j["agreement"], j["coarse"], j["cells"]) for q, j in judged if j["relevant"]
              and floor <= j["agreement"] < 0.95 and (j["coarse"] or 0) >= 0.95]
    print(f"  from {floor} as compared: wrong {len(above)}, at most {max(above, default=None)}; "
          f"true under 0.95 reaching 0.95 so: {len(gained)}", gained)
engine.close()
