"""Calibrates the `same` kind's whole-frame look (KindSpec.frame_agreement): for every
query of the `same` suite (``queries``) or every library image queried against the others
(``library``), the whole-frame agreement (features.frames, gradients and grey levels) with
each of its candidates: PDQ near hits and the kind's verify_candidates nearest vectors, as the engine gathers
them. Prints the best wrong candidates and how many of the engine's misses the look would
find at several thresholds, as compared and with both blurred ``FRAME_COARSER`` more (the
look asks that from ``FRAME_FINE_FLOOR`` up). A study, not run by CI.

    tusou eval same --work-dir /tmp/ev --with-queries --json /tmp/ev/same.json
    python benchmarks/studies/same_frames.py /tmp/ev/same /tmp/ev/same.json queries
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, spread
from tusou.features import PDQ_MATCH_DISTANCE, Keypoints, extract_keypoints, frame_match
from tusou.features.frames import FRAME_COARSER, FRAME_FINE_FLOOR, Area, _frames, frame_agreement, query_areas

THRESHOLDS = (0.85, 0.9, 0.95)


def coarser(query: Keypoints, ref: Keypoints, areas: list[Area]) -> float:
    """The best whole-frame agreement with both blurred FRAME_COARSER more."""
    best = -1.0
    for homography in _frames(query, ref, areas):
        score = frame_agreement(query, ref, homography, FRAME_COARSER)
        best = max(best, -1.0 if score is None else score)
    return best


def main(work: Path, results: Path, mode: str) -> None:
    config = suites.suite("same", eval_dev=suites.find_eval_dev())
    everything = [*config.library, *config.distractors]
    by_key = {image.key: image for image in everything}
    engine = Engine(Settings(data_dir=work, model_threads=0))
    harness = _Harness(engine, "same")
    harness.ingest(everything, workers=2, with_classes=False)  # reuses the eval's library
    library, state = harness.library, harness.library._state
    if mode == "library":
        items = [(image.key, "library", frozenset({image.key}), frozenset(), image.load)
                 for image in everything]
    else:
        queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))
        items = [(q.key, q.set_name, q.relevant, q.tolerated, q.load) for q in queries]
    answers = json.loads(results.read_text())["results"][0]["queries"]
    missed = {q["query"] for q in answers
              if q["relevant"] and not (q["hits"] and q["hits"][0]["key"] in q["relevant"])}
    wrong: list[tuple[float, str, str]] = []
    wrong_coarse: list[tuple[float, float, str, str]] = []
    best_true: dict[str, tuple[str, float]] = {}
    gained: list[tuple[str, float, float]] = []  # true frames under the bar, over it coarser
    for key, set_name, relevant, tolerated, load in items:
        desc = library._describe(decode_rgb(_fit(load(), library.spec.limits)), query=True)
        assert desc.keypoints is not None
        near = state.hashes.within([h.to_bytes() for h in desc.pdq], PDQ_MATCH_DISTANCE, None)
        nearest = state.index.search(desc.vector, library.spec.verify_candidates, None)
        ids = list(dict.fromkeys([*near, *(i for i, _ in nearest)]))
        records = library._store.images_by_id(ids)
        areas = query_areas(desc.keypoints)
        blobs = library._store.keypoints(ids)
        for image_id in ids:
            other = harness.key_of.get(records[image_id].cont_sign) if image_id in records else None
            if other is None or other in tolerated:
                continue
            # Libraries built before thumbnails were kept for keypoint-less images lack them.
            blob = blobs.get(image_id) or extract_keypoints(
                decode_rgb(_fit(by_key[other].load(), library.spec.limits)), "orb").to_bytes()
            ref = Keypoints.from_bytes(blob)
            match = frame_match(desc.keypoints, ref, -1.0, areas)  # as compared only
            score = match.agreement if match is not None else -1.0
            coarse = coarser(desc.keypoints, ref, areas)
            if other in relevant:  # library mode: the query itself
                if score > best_true.get(key, ("", -1.0))[1]:
                    best_true[key] = (set_name, score)
                if FRAME_FINE_FLOOR <= score < THRESHOLDS[-1] <= coarse:
                    gained.append((key, score, coarse))
            else:
                wrong.append((score, key, other))
                wrong_coarse.append((coarse, score, key, other))
    wrong.sort(reverse=True)
    print(f"{len(wrong)} wrong candidates; the best:")
    for score, key, other in wrong[:15]:
        print(f"  {score:.4f}  {key} -> {other}")
    wrong_coarse.sort(reverse=True)
    print(f"the best wrong with both blurred {FRAME_COARSER} more (coarser, as compared):")
    for coarse, score, key, other in wrong_coarse[:10]:
        print(f"  {coarse:.4f} {score:.4f}  {key} -> {other}")
    print(f"true frames from {FRAME_FINE_FLOOR} under {THRESHOLDS[-1]} that agree over it coarser: "
          f"{len(gained)}; missed by the engine: {[g for g in gained if g[0] in missed]}")
    for threshold in THRESHOLDS:
        found = Counter(s for k, (s, v) in best_true.items() if k in missed and v >= threshold)
        print(f"at {threshold}: {sum(found.values())} of {len(missed)} misses found {dict(found)}; "
              f"wrong candidates at or above: {sum(1 for s, _, _ in wrong if s >= threshold)}")
    engine.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "queries")
