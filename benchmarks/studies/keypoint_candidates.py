"""Would a keypoint-level candidate index bring the true image of `same`'s phone photos to
verification? A study, not run by CI.

The misses that would verify but never reach verification (same_losses.py: the true image is
not among the vector or region candidates) are textures photographed on a textured table:
their global vector is no help. Here every library image's strongest PER stored ORB
descriptors go into a usearch HNSW index (Hamming, 256 bits), and each query's keypoints
(first look: 500; second look: 2,000 at a higher resolution) vote for the images of their
K nearest descriptors within Hamming distance 64 (one vote per query keypoint and image).

    python benchmarks/studies/keypoint_candidates.py WORK_DIR LOSSES.json PER [K]

WORK_DIR: the folder of a `same` suite library (same_losses.py's WORK_DIR, or W/same after
`tusou eval same --work-dir W`); LOSSES.json: same_losses.py's output.
Prints the index's size and build time, then the true image's rank by votes for each miss
that would verify, and the best vote counts of a sample of unrelated queries.
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features.keypoints import Keypoints

# usearch's Index, imported the way the engine imports it: loading usearch before
# onnxruntime crashes the process on this box.
from tusou.index.embedded import Index

work, losses, per = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
k = int(sys.argv[4]) if len(sys.argv) > 4 else 5
MAX_DISTANCE = 64
SLOTS = 4096  # keys are image id * SLOTS + keypoint number

engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, "same")
lib = harness.library
records = list(lib.all_images())
harness.key_of = {r.cont_sign: r.brief for r in records}
id_of = {r.brief: r.id for r in records}

t0 = time.time()
keys, descriptors = [], []
ids = [r.id for r in records]
for start in range(0, len(ids), 200):
    for image_id, blob in lib._store.keypoints(ids[start:start + 200]).items():
        d = Keypoints.from_bytes(blob).descriptors[:per]
        keys.append(np.int64(image_id) * SLOTS + np.arange(len(d)))
        descriptors.append(d)
all_keys = np.concatenate(keys).astype(np.uint64)
index = Index(ndim=256, metric="hamming", dtype="b1")
index.add(all_keys, np.concatenate(descriptors), threads=2)
print(f"{len(ids)} images, {len(all_keys)} descriptors, built in {time.time() - t0:.1f} s, "
      f"{index.memory_usage / len(ids) / 1024:.1f} KB per image, "
      f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB", flush=True)


def votes(points: Keypoints) -> dict[int, int]:
    found = index.search(points.descriptors, k, threads=2)
    images = np.asarray(found.keys).reshape(len(points), k) // SLOTS
    distances = np.asarray(found.distances).reshape(len(points), k)
    out: dict[int, int] = {}
    for row, dist in zip(images, distances, strict=True):
        for image_id in {int(i) for i, d in zip(row, dist, strict=True) if d <= MAX_DISTANCE}:
            out[image_id] = out.get(image_id, 0) + 1
    return out


config = suites.suite("same", eval_dev=suites.find_eval_dev())
queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))
wanted = {r["query"] for r in json.load(open(losses)) if r["acc1"] or r["acc2"]}
chosen = [q for q in queries if q.key in wanted] + [q for q in queries if q.set_name == "unrelated"][::10]
spec = lib.spec
for query in chosen:
    pixels = decode_rgb(_fit(query.load(), spec.limits))
    looks = {"first": lib._describe(pixels, query=True).keypoints,
             "second": lib._describer.closer_look(spec, lib.record.pipeline, pixels).keypoints[0]}
    for look, points in looks.items():
        t0 = time.time()
        counted = votes(points)
        ranked = sorted(counted, key=lambda i: -counted[i])
        true_id = id_of.get(next(iter(query.relevant))[-256:]) if query.relevant else None
        rank = ranked.index(true_id) if true_id in counted else None
        print(f"{query.key} {look}: {len(points)} keypoints, true rank {rank} "
              f"({counted.get(true_id)} votes), best {[counted[i] for i in ranked[:3]]}, "
              f"{(time.time() - t0) * 1000:.0f} ms", flush=True)
engine.close()
