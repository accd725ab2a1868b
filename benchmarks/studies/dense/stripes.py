import pathlib
import time

from tusou.evaluation.dataset import labelled_folder
from tusou.evaluation.transforms import COPY_TRANSFORMS, apply_transform
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import Keypoints, extract_keypoints

imgs = labelled_folder(pathlib.Path("/work/shared/eval-dev/dtd5"))
banded = [i for i in imgs if i.group == "banded"][:12]


def kp(p):
    return Keypoints.from_bytes(extract_keypoints(p, "orb", max_features=1000).to_bytes())


refs = [kp(i.pixels()) for i in banded]
names = [n for n in COPY_TRANSFORMS]
tt = 0
n = 0
for qi in range(4):
    px = banded[qi].pixels()
    for name in names:
        q = extract_keypoints(apply_transform(name, px, 7), "orb", max_features=500)
        t0 = time.time()
        probe = DenseProbe(q)
        ms = [probe.match(r) for r in refs]
        tt += time.time() - t0
        n += len(refs)
        a = [m.agreement if m else 0 for m in ms]
        print(
            f"{qi} {name:15s} true={a[qi]:.3f} bestfalse={max(a[:qi] + a[qi + 1 :]):.3f}",
            f"box={ms[qi].box if ms[qi] else None}",
        )
print("ms per pair", tt / n * 1000)
