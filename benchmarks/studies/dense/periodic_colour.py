"""Repeated patterns in colour: would a wrong picture pass the colour check?

Every periodic image of a `same` library (keypoints.periodicity >= MAX_PERIODICITY; its
keypoints stored with a colour thumbnail) is aligned without keypoints with each of its 40
nearest other library images by the global vector, queried whole and as 50 % and 25 % centre
crops (what `matching.last_look` would try). Every alignment that agrees at 0.9 or more in
grey levels is printed with its cover of the reference and `keypoints.colour_agreement`.

    python benchmarks/studies/dense/periodic_colour.py DATA_DIR KIND OUT.json PART PARTS

DATA_DIR: the data dir of a suite library (W/same after `tusou eval same --work-dir W`, built
with colour thumbnails); run PARTS parts side by side, each on its own copy of DATA_DIR (the
index files are not shared between processes). Not run by CI.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.matching import MAX_PERIODICITY, _cover
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import LIBRARY
from tusou.features import Keypoints
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import colour_agreement, extract_keypoints, periodicity
from tusou.features.pixels import centre_crop

NEAREST = 40
MIN_SHOWN = 0.9

work, kind, out_path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
part, parts = int(sys.argv[4]), int(sys.argv[5])
engine = Engine(Settings(data_dir=work, model_threads=0))
lib = engine.library(LIBRARY)
config = suites.suite(kind, eval_dev=suites.find_eval_dev())
originals = {i.key: i for i in [*config.library, *config.distractors]}
records = list(lib.all_images())
brief_of = {r.id: r.brief for r in records}
periodic = []
for record in records:
    blob = lib._store.keypoints([record.id]).get(record.id)
    ref = Keypoints.from_bytes(blob) if blob is not None else None
    if ref is not None and ref.image is not None and periodicity(ref.image) >= MAX_PERIODICITY:
        periodic.append((record, ref))
print("periodic references", len(periodic), flush=True)
periodic = periodic[part::parts]
index = lib._state.index
out = []
t0 = time.time()
for n, (record, ref) in enumerate(periodic):
    nearest = [i for i, _ in index.search(index.vector(record.id), NEAREST + 1, None)
               if i != record.id][:NEAREST]
    for image_id in nearest:
        key = brief_of[image_id]
        if key == record.brief or key not in originals:
            continue
        pixels = decode_rgb(originals[key].load())
        for view, picture in (("whole", pixels), ("c50", centre_crop(pixels, 0.5)),
                              ("c25", centre_crop(pixels, 0.25))):
            query = extract_keypoints(np.ascontiguousarray(picture), "orb", max_features=500)
            match = DenseProbe(query).match(ref)
            if match is not None and match.agreement >= MIN_SHOWN:
                out.append({"ref": record.brief, "q": key, "view": view,
                            "a": round(match.agreement, 4), "cover": round(_cover(match.box, ref), 3),
                            "colour": colour_agreement(query, ref, match.homography)})
                print(out[-1], flush=True)
    print(n, len(periodic), round(time.time() - t0), flush=True)
json.dump(out, open(out_path, "w"))
print("done", round(time.time() - t0))
