"""What growing outlines of repeated patterns (features/periods.py) does to the page outlines
found (features/pages.py, ``find_pages``): every photo's outlines with and without it,
against where the transform suite put the page. No library is needed. A study, not run by CI.

    python benchmarks/studies/periodic_outlines.py KIND SEEDS [KEY] [--boards N]

SEEDS is a comma list of suite seeds; KEY keeps only the originals whose key contains it.
Prints each photo whose outlines changed (corner errors as a share of the photo's long
side, before and after), how many gained or lost a right outline (within
``outlines.TOLERANCE``) among those returned and first, and find_pages's time both ways.
With ``--boards N``, skimage's checkerboard photographed at 30, 55 and 80 % with seeds
0..N-1 is measured the same way first.
"""

import sys
import time
from collections.abc import Iterator

import numpy as np
import skimage.data
from outlines import SHARES, TOLERANCE, corner_error, suite_photos

from tusou.evaluation.transforms import phone_photo
from tusou.features import pages
from tusou.features.periods import grown


def _boards(count: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    board = np.repeat(skimage.data.checkerboard()[..., None], 3, axis=2)
    for share in SHARES.values():
        for seed in range(count):
            photo = phone_photo(board, np.random.default_rng(seed), share=share)
            yield f"checkerboard {share} seed {seed}", photo.pixels, photo.quad


def _suite(kind: str, seeds: list[int], key: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for seed in seeds:
        for original, name, photo, true in suite_photos(kind, seed, key):
            yield f"{seed} {original} {name}", photo, true


def _errors(photo: np.ndarray, true: np.ndarray, grow: bool, took: list[float]) -> list[float]:
    pages.grown = grown if grow else (lambda grey, quad: quad)  # type: ignore[assignment]
    started = time.perf_counter()
    quads = pages.find_pages(photo)
    took.append(time.perf_counter() - started)
    side = max(photo.shape[:2])
    return [round(corner_error(q, true) / side, 3) for q in quads]


def measure(photos: Iterator[tuple[str, np.ndarray, np.ndarray]], title: str) -> None:
    counts = dict.fromkeys(["photos", "changed", "gained", "lost", "gained first", "lost first"], 0)
    without: list[float] = []
    with_growth: list[float] = []
    for name, photo, true in photos:
        before = _errors(photo, true, False, without)
        after = _errors(photo, true, True, with_growth)
        counts["photos"] += 1
        if before == after:
            continue
        counts["changed"] += 1
        had, has = min(before, default=1.0) <= TOLERANCE, min(after, default=1.0) <= TOLERANCE
        had_first, has_first = bool(before) and before[0] <= TOLERANCE, bool(after) and after[0] <= TOLERANCE
        counts["gained"] += has and not had
        counts["lost"] += had and not has
        counts["gained first"] += has_first and not had_first
        counts["lost first"] += had_first and not has_first
        print(f"  {name}: {before} -> {after}", flush=True)
    print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"  find_pages p50 {1000 * float(np.median(without)):.1f} -> {1000 * float(np.median(with_growth)):.1f} ms,"
          f" mean {1000 * float(np.mean(without)):.1f} -> {1000 * float(np.mean(with_growth)):.1f} ms")


def main() -> None:
    args = sys.argv[1:]
    boards = 0
    if "--boards" in args:
        at = args.index("--boards")
        boards = int(args[at + 1])
        del args[at:at + 2]
    kind, seeds = args[0], [int(s) for s in args[1].split(",")]
    key = args[2] if len(args) > 2 else ""
    if boards:
        measure(_boards(boards), "checkerboard photos")
    measure(_suite(kind, seeds, key), f"{kind} suite, seeds {seeds}")


if __name__ == "__main__":
    main()
