"""How often the page look finds a photographed page's outline (features/pages.py,
``find_pages``), measured against where the transform suite put it. No library is needed:
the suite's phone photos are made again with their seeds, and each one's true page corners
are known (``transforms.phone_photo``). A study, not run by CI.

    python benchmarks/studies/outlines.py KIND [OUT.json]

An outline is found when one of the (at most MAX_PAGES) outlines returned has every corner
within ``TOLERANCE`` of the long side of the photo from the true one (corners outside the
photo count too: a phone held close cuts them off). Prints, per transform, how many pages
were found first and found at all, and the time find_pages took.
"""

import json
import sys
import time
from collections.abc import Iterator

import numpy as np

from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb, encode_jpeg
from tusou.evaluation.runner import _original, spread
from tusou.evaluation.transforms import enlarged_to, phone_photo
from tusou.features.pages import find_pages

TOLERANCE = 0.03
SHARES = {"phone30": 0.30, "phone55": 0.55, "phone80": 0.80}


def corner_error(found: np.ndarray, true: np.ndarray) -> float:
    """The largest corner distance, over the four cyclic orders (find_pages starts from
    the corner nearest the top left)."""
    return min(float(np.linalg.norm(np.roll(found, k, axis=0) - true, axis=1).max()) for k in range(4))


def suite_photos(kind: str, seed: int = 0, key: str = "") -> Iterator[tuple[str, str, np.ndarray, np.ndarray]]:
    """The suite's phone photos of ``kind`` drawn with ``seed`` (as `tusou eval --seed`
    draws them), of the originals whose key contains ``key``, as the engine gets them (the
    suite's JPEG), each with its original's key, its transform and its page's true corners."""
    config = suites.suite(kind, eval_dev=suites.find_eval_dev())
    originals = spread(list(config.library), config.query_originals)
    for n, image in enumerate(originals):
        if key not in image.key:
            continue
        pixels = _original(image)
        for t, name in enumerate(config.transforms):
            if name not in SHARES:
                continue
            photo = phone_photo(pixels, np.random.default_rng(seed * 1_000_003 + n * 101 + t),
                                share=SHARES[name])
            shown = enlarged_to(photo.pixels)
            scale = shown.shape[1] / photo.pixels.shape[1]
            yield image.key, name, decode_rgb(encode_jpeg(shown)), (photo.quad + 0.5) * scale - 0.5


def main() -> None:
    kind = sys.argv[1]
    out_path = sys.argv[2] if len(sys.argv) > 2 else None
    rows = []
    took = []
    for key, name, query, true in suite_photos(kind):
        started = time.perf_counter()
        quads = find_pages(query)
        took.append(time.perf_counter() - started)
        side = max(query.shape[:2])
        errors = [corner_error(q, true) / side for q in quads]
        rank = next((k for k, e in enumerate(errors) if e <= TOLERANCE), None)
        rows.append({"key": key, "transform": name, "found": len(quads), "rank": rank,
                     "best_error": min(errors) if errors else None})
    print(f"{kind}: {len(rows)} photos, find_pages p50 {1000 * float(np.median(took)):.1f} ms, "
          f"mean {1000 * float(np.mean(took)):.1f} ms")
    for name in SHARES:
        part = [r for r in rows if r["transform"] == name]
        first = sum(r["rank"] == 0 for r in part)
        anywhere = sum(r["rank"] is not None for r in part)
        none = sum(r["found"] == 0 for r in part)
        print(f"  {name}: {len(part)} photos, outline found first {first}, among those returned "
              f"{anywhere}, no outline at all {none}")
    if out_path:
        with open(out_path, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
