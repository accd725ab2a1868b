"""Do the first and second looks' keypoint matches agree in every part? For every query of a
suite (transform queries and unrelated ones), each candidate the engine's first look
verifies (PDQ hits and the nearest ``verify_candidates``) and its second look (those and the
region candidates), the keypoint match the engine's rules accept (``matching.accepted``):
its inliers, agreement, weakest cells (``keypoints.weakest_cells`` at the page look's
share) and colour agreement, and whether it is the query's original. A study, not run by
CI.

    python benchmarks/studies/keypoint_cells.py KIND WORK_DIR OUT.json [MODE [PART PARTS [SEED [PREFIX]]]]

WORK_DIR: the folder of the suite's library (W/KIND after `tusou eval KIND --work-dir W`,
perhaps grown by dense/grow.py). Every image there counts by its brief, grown ones too.
MODE ``queries`` (default) or ``library``: every library image of the suite queried with
its own bytes against the others, by the first look (an exact copy verifies at once, so
the engine's first look judges every candidate); PREFIX: only the library images whose key
starts with it query (``generated/page``: the pages, which other pages of their book can
fool). SEED draws the transforms (`tusou eval
--seed`; 0 by default). Prints the accepted true and wrong matches by look. A match from
fewer than the kind's ``min_inliers`` whose weakest cells fall under ``keypoint_cells`` is
also refined by content (``alignment.refined``, on gradients and on grey levels): its
refined agreement and weakest cells are recorded too (``refined``).
"""

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import accepted
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, _Query, spread
from tusou.features import PDQ_MATCH_DISTANCE, Keypoints
from tusou.features.alignment import refined
from tusou.features.keypoints import colour_agreement, verify, weakest_cells
from tusou.features.pages import WEAKEST_SHARE

kind, work, out_path = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "queries"
part, parts = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (0, 1)
seed = int(sys.argv[7]) if len(sys.argv) > 7 else 0
prefix = sys.argv[8] if len(sys.argv) > 8 else ""
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, kind)
library = harness.library
spec = library.spec
ids = harness.ids_by_brief()
key_of = {i: brief for brief, i in ids.items()}
harness.key_of = {brief: brief for brief in ids}  # the suite's keys are short: brief = key
config = replace(suites.suite(kind, eval_dev=suites.find_eval_dev()), seed=seed)
if mode == "library":
    queries = [_Query(image.key, "library", image.load, frozenset(), own=image.key)
               for image in [*config.library, *config.distractors]
               if image.key in ids and image.key.startswith(prefix)][part::parts]
else:
    queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))[part::parts]
state = library._state


def judged(look: str, probes: list[Keypoints], candidates: list[int], relevant: frozenset[str]
           ) -> list[dict]:
    rows = []
    blobs = library._store.keypoints(candidates)
    for image_id in candidates:
        if image_id not in blobs:
            continue
        ref = Keypoints.from_bytes(blobs[image_id])
        for k, probe in enumerate(probes):
            match = verify(probe, ref, min_inliers=spec.inlier_floor)
            if match is None or not accepted(match, spec, probe, ref):
                continue
            cells = weakest_cells(probe, ref, match.homography, WEAKEST_SHARE)
            colour = colour_agreement(probe, ref, match.homography)
            again = []
            if (spec.keypoint_cells is not None and cells is not None and cells < spec.keypoint_cells
                    and match.inliers < spec.min_inliers):
                for levels in (False, True):
                    better = refined(probe, ref, match.homography, levels=levels)
                    if better is not None:
                        again.append({"levels": levels, "agreement": round(better[1], 4), "cells": round(
                            weakest_cells(probe, ref, better[0], WEAKEST_SHARE) or -1.0, 4)})
            rows.append({"look": look, "probe": k, "key": key_of[image_id],
                         "true": key_of[image_id] in relevant, "inliers": match.inliers,
                         "agreement": round(match.agreement or 0.0, 4),
                         "cells": None if cells is None else round(cells, 4),
                         "colour": None if colour is None else round(colour, 4), "refined": again})
    return rows


rows = []
started = time.time()
for n, query in enumerate(queries):
    pixels = decode_rgb(_fit(query.load(), spec.limits))
    desc = library._describe(pixels, query=True)
    if desc.keypoints is None:
        continue
    pdq = state.hashes.within([h.to_bytes() for h in desc.pdq], PDQ_MATCH_DISTANCE, None) if desc.pdq else {}
    tried = [i for i in dict.fromkeys([*pdq, *(i for i, _ in state.index.search(
        desc.vector, spec.verify_candidates, None))]) if key_of[i] != query.own]
    found = judged("first", desc.probes, tried, query.relevant)
    if spec.second_look_keypoints and mode == "queries":
        closer = library._describer.closer_look(spec, library.record.pipeline, pixels)
        second = library._second_look_candidates(closer.vectors, tried, None)
        found += judged("second", closer.keypoints, second, query.relevant)
    rows += [{"query": query.key, "set": query.set_name, **row} for row in found]
    if n % 25 == 0:
        print(n, len(queries), round(time.time() - started), flush=True)
Path(out_path).write_text(json.dumps(rows))
for look in ("first", "second"):
    for truth in (True, False):
        picked = [r for r in rows if r["look"] == look and r["true"] == truth]
        cells = sorted(r["cells"] if r["cells"] is not None else -9 for r in picked)
        print(look, "true" if truth else "wrong", len(picked), "lowest cells", cells[:8])
for r in rows:
    if not r["true"]:
        print("WRONG", r)
engine.close()
