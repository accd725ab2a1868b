"""Library images (700 sampled) queried against their 20 nearest others: every candidate that
lines up (agreement >= 0.8), with the reference's periodicity. Part ``sys.argv[1]`` of
``sys.argv[2]``, each on study_wired.py's data dir for that part (/tmp/ev/sameD<part>)."""

import json
import random
import sys
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.features import Keypoints
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import periodicity

part, parts = int(sys.argv[1]), int(sys.argv[2])
engine = Engine(Settings(data_dir=Path(f"/tmp/ev/sameD{part}"), model_threads=0))
lib = engine.library("eval")
records = list(lib.all_images())
random.Random(7).shuffle(records)
records = records[:700][part::parts]
state = lib._state
out = []
t0 = time.time()
for n, record in enumerate(records):
    blob = lib._store.keypoints([record.id]).get(record.id)
    if blob is None:
        continue
    probe = DenseProbe(Keypoints.from_bytes(blob))
    nearest = [i for i, _ in state.index.search(state.index.vector(record.id), 21, None)]
    candidates = [i for i in nearest if i != record.id][:20]
    for image_id, ref_blob in lib._store.keypoints(candidates).items():
        ref = Keypoints.from_bytes(ref_blob)
        match = probe.match(ref)
        if match is not None and match.agreement >= 0.8:
            out.append({"q": record.brief, "ref": image_id, "a": round(match.agreement, 4),
                        "period": round(periodicity(ref.image), 3)})
            print(out[-1], flush=True)
    if n % 50 == 0:
        print(n, round(time.time() - t0), flush=True)
json.dump(out, open(f"/tmp/dense2/lib{part}.json", "w"))
print("done", round(time.time() - t0))
