"""Would `picturebook` find more partial pages by keypoints found at the page's full size
(up to 1280 px, 3,000 of them) than by the 1,000 it stores at 640 px, and would it answer
wrong pages? Every query studied is one the last look reaches; its candidates are those the
last look slides over best (the best ``spec.dense_keep`` of the candidates tried, and the
best 20 of the reach), each verified as the reach verifies (``matching.verify_geometry``
with ``spec.reach_cells``) against keypoints extracted here from the image the library
was given. Prints every verified candidate with its slide rank, right or wrong. A study,
not run by CI; reuses an evaluation's work directory.

    python benchmarks/studies/picturebook_details.py WORK_DIR SEED SET [EVAL_JSON]

SET ``misses``: the suite's queries drawn from SEED that EVAL_JSON (``tusou eval --json
--with-queries`` at that seed) records as missed; ``off``: photos of the suite's 100
unrelated pages (every page transform, drawn from SEED), which nothing may answer.
"""

import sys
import time
from pathlib import Path

from reused_suite import first_look, recorded, reused, unrelated_page_photos

from tusou.engine.matching import best_sliding, verify_geometry
from tusou.engine.references import References
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _fit
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import extract_keypoints

SIDE, BUDGET, REACH = 1280, 3000, 20

work, seed, which = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = reused("picturebook", work, seed)
lib, spec = r.library, r.spec
config = suites.suite("picturebook", eval_dev=suites.find_eval_dev())
image_of = {image.key: image for image in [*config.library, *config.distractors]}
id_of = {key: image_id for image_id, key in r.key_of_id.items()}
if which == "misses":
    missed = recorded(sys.argv[4]).missed
    queries = [q for q in r.queries if q.key in missed]
else:
    queries = unrelated_page_photos(seed)
print(len(queries), "queries", flush=True)

detail_blobs: dict[int, bytes] = {}


def details(ids: list[int]) -> dict[int, bytes]:
    for image_id in ids:
        if image_id not in detail_blobs:
            pixels = decode_rgb(_fit(image_of[r.key_of_id[image_id]].load(), spec.limits))
            detail_blobs[image_id] = extract_keypoints(pixels, "akaze", max_features=BUDGET,
                                                       max_side=SIDE).to_bytes()
    return {i: detail_blobs[i] for i in ids}


found, wrong, t0 = 0, 0, time.time()
for q in queries:
    pixels = decode_rgb(_fit(q.load(), spec.limits))
    desc = lib._describe(pixels, query=True)
    closer = lib._describer.closer_look(spec, lib.record.pipeline, pixels)
    tried, reach = first_look(lib, desc, spec.reach)
    refs = References(lib._store.keypoints)
    probe = DenseProbe(desc.keypoints)
    ranked = [("tried", n, i) for n, (i, _) in enumerate(best_sliding(probe, sorted(tried), spec.dense_keep, refs))]
    ranked += [("reach", n, i) for n, (i, _) in enumerate(best_sliding(probe, reach, REACH, refs))]
    detail_refs = References(details)
    verified = []
    for group, n, image_id in ranked:
        for probes_name, probes in (("first", desc.probes), ("closer", closer.keypoints)):
            ms = verify_geometry(spec, probes, [image_id], detail_refs, spec.reach_cells)
            if ms:
                key = r.key_of_id[image_id]
                verified.append((group, n, probes_name, key in q.relevant, key, ms[0].inliers,
                                 round(ms[0].score, 3), ms[0].weak))
    right = [v for v in verified if v[3]]
    found += bool(right)
    wrong += any(not v[3] for v in verified)
    truth = id_of.get(next(iter(q.relevant)), None) if q.relevant else None
    where = [(g, n) for g, n, i in ranked if i == truth]
    print(q.key, "true at", where, "verified", verified, flush=True)
print(f"{len(queries)} queries: right page verified {found}, a wrong page verified {wrong}; "
      f"{round(time.time() - t0)} s", flush=True)
