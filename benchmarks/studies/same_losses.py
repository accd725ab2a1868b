"""Why `same` misses what it misses: for every suite query whose first answer is wrong, the
true image's rank among the first look's vector candidates and the second look's region
candidates, and how its keypoints verify against the true image (best raw fit: inliers and
content agreement; and whether the engine's rules accept it). A study, not run by CI.

    python benchmarks/studies/same_losses.py WORK_DIR OUT.json

WORK_DIR holds the suite's library: the suite is ingested there (a no-op for what is already
in it), so `tusou eval same --work-dir W` leaves one to reuse in W/same.
"""

import json
import sys
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import verify_geometry
from tusou.engine.references import References
from tusou.engine.sources import ImageSource
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import verify
from tusou.features.keypoints import Keypoints

work, out_path = Path(sys.argv[1]), sys.argv[2]
config = suites.suite("same", eval_dev=suites.find_eval_dev())
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, "same")
harness.ingest([*config.library, *config.distractors], workers=2, with_classes=False)
lib = harness.library
spec = lib.spec
id_of = harness.ids_by_brief()
queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))
queries = [q for q in queries if q.set_name != "unrelated"]
print("queries", len(queries), flush=True)


def rank(vector, true_id):
    for n, (image_id, _) in enumerate(lib._state.index.search(vector, 1000, None)):
        if image_id == true_id:
            return n
    return None


def best_fit(probes, true_id):
    blob = lib._store.keypoints([true_id]).get(true_id)
    if blob is None:
        return None
    ref = Keypoints.from_bytes(blob)
    best = None
    for probe in probes:
        match = verify(probe, ref, min_inliers=6)
        if match is not None and (best is None or match.inliers > best[0]):
            best = (match.inliers, None if match.agreement is None else round(match.agreement, 3))
    return best


rows = []
t0 = time.time()
for query in queries:
    true_key = next(iter(query.relevant))[-256:]
    true_id = id_of.get(true_key)
    data = _fit(query.load(), spec.limits)
    page = lib.search(ImageSource(data=data), threshold=0.0)
    if page.hits and page.hits[0].image.brief == true_key:
        continue
    pixels = decode_rgb(data)
    desc = lib._describe(pixels, query=True)
    closer = lib._describer.closer_look(spec, lib.record.pipeline, pixels)
    first = [k for k in (desc.keypoints, desc.mirrored_keypoints) if k is not None]
    rows.append({
        "query": query.key, "set": query.set_name,
        "top": page.hits[0].image.brief if page.hits else None,
        "first": rank(desc.vector, true_id), "regions": [rank(v, true_id) for v in closer.vectors],
        "v1": best_fit(first, true_id), "v2": best_fit(closer.keypoints, true_id),
        "acc1": bool(verify_geometry(spec, first, [true_id], References(lib._store.keypoints))),
        "acc2": bool(verify_geometry(spec, closer.keypoints, [true_id], References(lib._store.keypoints))),
    })
    print(len(rows), rows[-1], flush=True)
json.dump(rows, open(out_path, "w"), indent=0)
listed = lambda r: (r["first"] is not None and r["first"] < spec.verify_candidates) or any(  # noqa: E731
    x is not None and x < spec.second_look_candidates for x in r["regions"])
verifies = [r for r in rows if r["acc1"] or r["acc2"]]
print(f"misses {len(rows)}; would verify {len(verifies)}, of which not a candidate "
      f"{sum(not listed(r) for r in verifies)}; a candidate that does not verify "
      f"{sum(listed(r) and not (r['acc1'] or r['acc2']) for r in rows)}; {round(time.time() - t0)} s")
engine.close()
