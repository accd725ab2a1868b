"""Calibration of the keypoint-free look's reach (KindSpec.reach / reach_keep):
for every query of the `same` suite, the candidates the reach would add (the nearest
``reach`` vectors past the first look's, the best ``reach_keep`` by
``DenseProbe.upright``) and the full look's agreement with each, whether it is the query's
original, whether the look's rules other than ``dense_cells`` would accept it (agreement,
cover, periodicity), and the placement's weakest cells (``keypoints.weakest_cells`` at the
page look's share) and colour agreement, which ``dense_cells`` judges. A study, not run by
CI.

    python benchmarks/studies/dense/reach.py WORK_DIR OUT.json REACH KEEP [PART PARTS]

REACH, KEEP: the reach and reach_keep to study. REACH 0 judges the first look's
candidates instead (PDQ hits and the nearest ``verify_candidates``), all of them, to see what
the rules for reached candidates would do there.

WORK_DIR: the folder of the suite's `same` library (W/same after `tusou eval same
--work-dir W`).
"""

import json
import sys
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import MAX_DENSE_COVER, _cover, _trusted, reached
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import PDQ_MATCH_DISTANCE, Keypoints
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import colour_agreement, thumbnail_from_bytes, weakest_cells
from tusou.features.pages import WEAKEST_SHARE

work, out_path, reach_count, keep = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
part, parts = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (0, 1)
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, "same")
library = harness.library
spec = library.spec
ids = harness.ids_by_brief()
key_of = {i: brief for brief, i in ids.items()}
harness.key_of = {brief: brief for brief in ids}  # the suite's keys are short: brief = key
config = suites.suite("same", eval_dev=suites.find_eval_dev())
queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))[part::parts]
state = library._state
rows = []
started = time.time()
for n, query in enumerate(queries):
    desc = library._describe(decode_rgb(_fit(query.load(), spec.limits)), query=True)
    if desc.keypoints is None:
        continue
    pdq = state.hashes.within([h.to_bytes() for h in desc.pdq], PDQ_MATCH_DISTANCE, None) if desc.pdq else {}
    tried = set(pdq) | {i for i, _ in state.index.search(desc.vector, spec.verify_candidates, None)}
    reach = [i for i, _ in state.index.search(desc.vector, reach_count, None) if i not in tried]
    probe = DenseProbe(desc.keypoints)
    t0 = time.perf_counter()
    if reach_count:
        blobs = library._store.keypoints(reach)
        slid = reached(probe, ((i, thumbnail_from_bytes(b)) for i, b in blobs.items()), keep)  # as the engine picks
    else:
        blobs = library._store.keypoints(sorted(tried))
        slid = [(0.0, i) for i in sorted(blobs)]
    ranked = time.perf_counter() - t0
    judged = []
    for value, image_id in slid:
        ref = Keypoints.from_bytes(blobs[image_id])
        match = probe.match(ref)
        agreement = None if match is None else round(match.agreement, 4)
        accepted = (match is not None and match.agreement >= spec.dense_agreement
                    and _cover(match.box, ref) <= MAX_DENSE_COVER
                    and _trusted(desc.keypoints, ref, match.homography))
        cells = colour = None
        if match is not None:
            cells = weakest_cells(desc.keypoints, ref, match.homography, WEAKEST_SHARE)
            colour = colour_agreement(desc.keypoints, ref, match.homography)
        judged.append({"key": key_of.get(image_id), "relevant": key_of.get(image_id) in query.relevant,
                       "upright": round(value, 4), "agreement": agreement, "accepted": accepted,
                       "cover": None if match is None else round(_cover(match.box, ref), 3),
                       "cells": None if cells is None else round(cells, 4),
                       "colour": None if colour is None else round(colour, 4)})
    rows.append({"query": query.key, "set": query.set_name, "reach_ms": round(1000 * ranked, 1),
                 "judged": judged})
    if n % 50 == 0:
        print(n, round(time.time() - started, 1), flush=True)
json.dump(rows, open(out_path, "w"))
engine.close()
