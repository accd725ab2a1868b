"""Would `product` find small subjects by looking for salient regions tile by tile?

U²-Net-p sees the picture at 320 x 320, where a subject 11-32 px wide on a busy background
(the suite's rocket at 60 % and 35 % of its size) is a few cells thin and loses to wood knots
and pasted squares. This study runs the model also on four overlapping tiles (each 60 % of
the picture's width and height, at its corners), keeps each pixel's highest probability, and
searches with each of the four most salient regions of that map (the crop pooled by the map,
as the product pipeline pools its subject), besides what a query searches with now. For each
query (every suite object moved onto another background at 100 / 60 / 35 % of its size, as
the harness draws them at each SEED) it prints whether the current views rank the object
first, and for each tiled region its best image and score, the object's own rank and score,
and how far its best stands out: the gap to the second best and to the mean of the next 10.
A study, not run by CI; needs no evaluation's work directory (about 30 minutes for six
seeds on 2 cores).

    python benchmarks/studies/product_tiles.py [SEEDS [KEY]]   # SEEDS 0,1,2,3 by default;
                                                                # KEY: only objects whose key holds it

(2026-12-07, seeds 0-5, 306 queries; the current views rank 296 first, every miss the
rocket's. The tiled map holds the rocket as a region of its own in 4 of its 10 misses (seed 2
at 100 and 60 %, seed 3 at 60 %, seed 5 at 100 %), ranking its original first at 0.74-0.76;
in the other 6 (seeds 0 and 1 at 60 and 35 %, seeds 3 and 4 at 35 %) it does not rank it
first. Adding every tiled
region's scores (best per image) wins those 4 and loses 10 other objects' queries: clutter
regions match generated distractors at up to 0.76. Gating a region by how far its best
stands out does not separate them: the right regions' gap to the mean of the next 10 falls to
0.04, the wrong ones' rises to 0.19; a gate at 0.2 wins 3 and loses none on these seeds.
Four more runs of the model cost about 1-2 s a query on this box, against 0.5 s for the whole
product search today. Not adopted.)
"""

import sys
from pathlib import Path
from tempfile import mkdtemp

import cv2
import numpy as np
from product_pooling import asked

from tusou.engine.describe import Describer, _crop_vector
from tusou.engine.kinds import kind_spec
from tusou.evaluation import suites
from tusou.evaluation.runner import SUBJECT_VIEWS, TRANSFORM_SIDE, _shrunk
from tusou.features import FeatureModels
from tusou.features.extractors import SemanticEmbedding
from tusou.features.subject import Subject, _regions, _scaled_box

TILE = 0.6
REGIONS = 4


def tiled_saliency(models: FeatureModels, pixels: np.ndarray) -> np.ndarray:
    """The subject model's map at the picture's size: its whole-picture map, and over each
    of four overlapping corner tiles the tile's own map where that is higher."""
    h, w = pixels.shape[:2]
    out = cv2.resize(models.subject._saliency(pixels), (w, h))
    th, tw = int(h * TILE), int(w * TILE)
    for y in (0, h - th):
        for x in (0, w - tw):
            tile = models.subject._saliency(np.ascontiguousarray(pixels[y:y + th, x:x + tw]))
            out[y:y + th, x:x + tw] = np.maximum(out[y:y + th, x:x + tw], cv2.resize(tile, (tw, th)))
    return out


def main(seeds: list[int], only: str) -> None:
    config = suites.suite("product", eval_dev=suites.find_eval_dev())
    models = FeatureModels(Path(mkdtemp()))
    describer = Describer(models)
    spec = kind_spec("product")
    pipeline = describer.pipeline(spec)
    gem = SemanticEmbedding(models.lite0)
    objects = [(image.key, image.pixels()) for image in config.library]
    library = objects + [(image.key, image.pixels()) for image in config.distractors]
    keys = [key.split("/")[-1] for key, _ in library]
    matrix = np.stack([describer.vector(pipeline, pixels) for _, pixels in library])
    for n, (key, whole) in enumerate(objects):
        if only not in key:
            continue
        pixels = _shrunk(whole, TRANSFORM_SIDE)
        mask = models.subject.mask(pixels)
        for seed in seeds:
            for t, view in enumerate(SUBJECT_VIEWS):
                query, now = asked(describer, spec, pipeline, matrix, pixels, mask, seed, n, t)
                order = np.argsort(-now, kind="stable")
                print(key, seed, view, "found" if order[0] == n else "MISSED",
                      f"now: {keys[order[0]]} {now[order[0]]:.3f}, own rank {int(np.nonzero(order == n)[0][0]) + 1}",
                      flush=True)
                h, w = query.shape[:2]
                small = cv2.resize(tiled_saliency(models, query), (320, 320), interpolation=cv2.INTER_AREA)
                subject = Subject([], small / max(float(small.max()), 1e-6), w, h)
                for region in _regions(small, 0.5)[:REGIONS]:
                    box = _scaled_box(region, small.shape, w, h, 0.05)
                    if box is None:
                        continue
                    vector = _crop_vector(gem, query, box, 0.0, None, subject.weights(box))
                    scores = matrix @ (vector / np.linalg.norm(vector))
                    ranked = np.argsort(-scores, kind="stable")
                    best = scores[ranked[0]]
                    print(f"    region {box}: {keys[ranked[0]]} {best:.3f}"
                          f" ({'right' if ranked[0] == n else 'wrong'}), own rank"
                          f" {int(np.nonzero(ranked == n)[0][0]) + 1} {scores[n]:.3f}; gap to the second"
                          f" {best - scores[ranked[1]]:.3f}, to the next 10 {best - scores[ranked[1:11]].mean():.3f}",
                          flush=True)


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1].split(",")] if len(sys.argv) > 1 else [0, 1, 2, 3],
         sys.argv[2] if len(sys.argv) > 2 else "")
