"""Where picturebook loses its page photos: candidate ranks (first look, second-look
regions, extra off-centre windows) and whether the true page verifies with either keypoint
set. A study, not run by CI; reuses the eval work dir /tmp/ev/picturebook."""

import json
import time
from pathlib import Path

import numpy as np

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import verify_geometry
from tusou.engine.references import References
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import l2n

config = suites.suite("picturebook", eval_dev=suites.find_eval_dev())
engine = Engine(Settings(data_dir=Path("/tmp/ev/picturebook"), model_threads=0))
h = _Harness(engine, "picturebook")
t0 = time.time()
h.ingest([*config.library, *config.distractors], workers=2, with_classes=False)
print("ingested", len(h.key_of), round(time.time() - t0), flush=True)
lib = h.library
id_of = h.ids_by_brief()
queries = _copy_queries(config, h, spread(list(config.library), config.query_originals))
queries = [q for q in queries if q.set_name != "unrelated"]
print("queries", len(queries), flush=True)
spec = lib.spec
vec_fn = lib._describer._lookup(lib.record.pipeline)[0]


def window(p, share, cx, cy):
    H, W = p.shape[:2]
    s = share**0.5
    ch, cw = max(1, round(H * s)), max(1, round(W * s))
    top = int(np.clip(round(cy * H - ch / 2), 0, H - ch))
    left = int(np.clip(round(cx * W - cw / 2), 0, W - cw))
    return np.ascontiguousarray(p[top : top + ch, left : left + cw])


EXTRA = [(0.3, 0.4, 0.4), (0.3, 0.6, 0.4), (0.3, 0.4, 0.6), (0.3, 0.6, 0.6), (0.2, 0.5, 0.5), (0.4, 0.5, 0.5)]


def rank(vector, true_id):
    hits = lib._state.index.search(vector, 1000, None)
    for r, (i, _) in enumerate(hits):
        if i == true_id:
            return r
    return None


out = []
t0 = time.time()
for n, q in enumerate(queries):
    true_key = next(iter(q.relevant))
    tid = id_of.get(true_key)
    pixels = decode_rgb(_fit(q.load(), spec.limits))
    desc = lib._describe(pixels, query=True)
    first = rank(desc.vector, tid)
    closer = lib._describer.closer_look(spec, lib.record.pipeline, pixels)
    regions = [rank(v, tid) for v in closer.vectors]
    extra = [rank(l2n(np.asarray(vec_fn(window(pixels, *w))[0], np.float32).ravel()), tid) for w in EXTRA]
    v1 = bool(verify_geometry(spec, [desc.keypoints], [tid], References(lib._store.keypoints)))
    v2 = bool(verify_geometry(spec, closer.keypoints, [tid], References(lib._store.keypoints)))
    out.append(
        {
            "query": q.key,
            "set": q.set_name,
            "first": first,
            "regions": regions,
            "extra": extra,
            "verify1": v1,
            "verify2": v2,
        }
    )
    if n % 25 == 0:
        print(n, round(time.time() - t0), flush=True)
json.dump(out, open("/tmp/pb/study.json", "w"))
print("done")
engine.close()
