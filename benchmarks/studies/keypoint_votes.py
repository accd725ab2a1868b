"""Would candidates found by keypoints, not by vectors, reach the queries every look misses?

Each keypoint of a missed query votes for the library image that holds its nearest stored
keypoint (over every image's stored keypoints at once, by brute force): with Lowe's ratio
(nearest under 0.8 of the second nearest, as verification matches), or under an absolute
Hamming distance. Prints, per missed query, the votes its own page gets, its rank by votes
and the most votes any image gets. An inverted index of the library's keypoints would give
such candidates in milliseconds; brute force here takes seconds a query. A study, not run by
CI; reuses an evaluation's work directory.

    python benchmarks/studies/keypoint_votes.py WORK_DIR SEED EVAL_JSON [QUERY ...]

(EVAL_JSON: ``tusou eval picturebook --json --with-queries`` at SEED; its misses are studied,
or only the QUERY keys given.)

(2026-12-07, `picturebook` at seed 5, its 9 misses over 1.55 million stored keypoints: the
photo of scikit-image's grass at 30 % of the frame, whose page the whole photo's vector ranks
2,378th and the page outline's 607th, and which verifies on it with 103 inliers, gets 61
votes by ratio, and no other image more than 1. The other misses get 0-5 votes by ratio:
page-2000009's window of small type 3, no other image more than 1, but it verifies on no
keypoints; the chessboard's window none; the microaneurysms picture's and the colour wheel's
photos, 9-102 keypoints, 1-5. At seed 6, drawn after, page-2000007's window (the vector ranks
its page 499th; 120 inliers on it) gets 53 votes, no other image more than 2; the gravel photo
at 30 % (2,050th; 153 inliers) 90, the others at most 1; the motion-blurred clock's 80 % photo
(271st) 15, the others at most 1; page-2000001's window (296th; it verifies on its details
only) none, 19 images more.)
"""

import sys
from pathlib import Path

import cv2
import numpy as np
from reused_suite import recorded, reused

from tusou.features import Keypoints

RULES = {"ratio 0.8": lambda d: d[:, 0] < 0.8 * d[:, 1], "d < 64": lambda d: d[:, 0] < 64,
         "d < 96": lambda d: d[:, 0] < 96}

work, seed, recorded_path = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = reused("picturebook", work, seed)
lib, spec = r.library, r.spec
id_of = {key: image_id for image_id, key in r.key_of_id.items()}
blobs = lib._store.keypoints(sorted(r.key_of_id))
stored = {image_id: Keypoints.from_bytes(blob) for image_id, blob in blobs.items()}
descriptors = np.ascontiguousarray(np.concatenate([k.descriptors for k in stored.values()]))
owners = np.concatenate([np.full(len(k.descriptors), image_id) for image_id, k in stored.items()])
print("stored keypoints", len(descriptors), flush=True)
missed = recorded(recorded_path).missed
only = set(sys.argv[4:]) or missed
for q in [q for q in r.queries if q.key in missed & only]:
    truth = id_of[next(iter(q.relevant))]
    desc = r.described(q)
    assert desc.keypoints is not None
    distances, nearest = cv2.batchDistance(desc.keypoints.descriptors, descriptors, cv2.CV_32S,
                                           normType=cv2.NORM_HAMMING, K=2)
    out = []
    for name, rule in RULES.items():
        votes = np.bincount(owners[nearest[rule(distances), 0]], minlength=int(owners.max()) + 1)
        rank = int(np.sum(votes > votes[truth]))  # images with more votes than its page
        others = np.delete(votes, truth)
        out.append(f"{name}: {votes[truth]} votes, {rank} images above, most of the others {others.max()}")
    print(q.key, len(desc.keypoints), "keypoints;", " | ".join(out), flush=True)
