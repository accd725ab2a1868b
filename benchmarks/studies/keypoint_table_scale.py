"""How does the keypoint table (index.keypoint_table) grow with the library: filling time,
memory and a vote's time at many times the suite's pages? A study, not run by CI; reuses
an evaluation's work directory.

    python benchmarks/studies/keypoint_table_scale.py WORK_DIR/picturebook SEED [COPIES ...]
        [--segment-rows N]

Each copy is the suite's library again with every descriptor XOR-ed with one random mask of
its own: distances within a copy are kept (and so the spread of its buckets, shifted), while
a copy's descriptors are as far from every other's as unrelated ones (about half the bits).
So a table of N copies holds N times the pages, each as distinctive as a real page, with
the buckets of real descriptors. Asks the suite's page photos (every 8th of SEED's), whose
pages are in copy 0, and prints per COPIES (1 4 16 by default) the keypoints, memory,
filling and building time, segments, votes p50 / p90, and how many photos vote their page
first; with --segment-rows, segments grow to N rows (KeypointTable's segment_rows).
(The store's reading is not counted: the copies are made in memory.) With --save DIR, each
table is also written to DIR (KeypointTable.save), loaded again into a table of its own from
there (its files mapped, nothing read but the manifest's check) and asked again: the time to
write, the process's own (anonymous) memory before and after the save, the files' size, the
time to load, and the votes from the mapped table (its pages read from the files as the votes
first touch them, then asked again).

(2026-12-07, thirteenth session, alone on the box: 1 / 4 / 16 copies written in 0.2 / 0.8 /
2.6 s, 123 / 494 / 1,975 MiB of files, loaded again in 0.04 / 0.14 / 0.54 s, votes from the
mapped files p50 47 / 59 / 111 ms against 52 / 63 / 111 ms from memory, every photo's vote
the same; the process's own memory 524 -> 344 MiB and 1,085 -> 541 MiB at 1 and 4 copies
once saved.)

(2026-12-07, seed 6, 47 photos, alone on the box, each page's strongest 500 keypoints: 1 / 4
/ 16 copies, 2,393 / 9,572 / 38,288 pages, 0.95 / 3.8 / 15.2 million keypoints, 124 / 497 /
1,988 MiB, built in 1.5 / 6.7 / 27.8 s; votes p50 63 / 76 / 119 ms, p90 79 / 86 / 129 ms;
page first 45 of 47 at each size. Then segments were capped at 4 million rows: 16 copies in
4 segments, beside CI, 4.0 GB resident at most against 6.2 GB in 1 (--segment-rows
100000000), built in 26.7-30.8 s against 32.8-34.7 s, votes p50 139-149 ms against 119-121
ms.)
"""

import argparse
import gc
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from reused_suite import reused

from tusou.index.keypoint_table import KeypointTable

parser = argparse.ArgumentParser()
parser.add_argument("work", type=Path)
parser.add_argument("seed", type=int)
parser.add_argument("copies", type=int, nargs="*", default=[1, 4, 16])
parser.add_argument("--segment-rows", type=int, default=None)
parser.add_argument("--save", type=Path, default=None)
args = parser.parse_args()
work, seed, sizes = args.work, args.seed, args.copies
options = {} if args.segment_rows is None else {"segment_rows": args.segment_rows}
r = reused("picturebook", work, seed)
spec = r.spec
id_of = {key: image_id for image_id, key in r.key_of_id.items()}
stored = r.stored()
top = max(i for i, _ in stored) + 1
photos = [q for q in r.queries if q.relevant][::8]
asked = [(r.described(q), id_of[next(iter(q.relevant))]) for q in photos]
print(f"{len(stored)} pages, {len(asked)} photos asked", flush=True)


class Copies:
    """The stored pages ``len(masks)`` times over, each copy XOR-ed with its mask: a
    KeypointSource made as it is read (the copies are never all in memory at once)."""

    def __init__(self, masks: np.ndarray) -> None:
        self.masks = masks

    def generation(self) -> int:
        return 0

    def image_ids(self) -> np.ndarray:
        return np.array([c * top + i for c in range(len(self.masks)) for i, _ in stored], np.int64)

    def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        wanted = set(ids.tolist())
        for c, mask in enumerate(self.masks):
            for image_id, descriptors in stored:
                if c * top + image_id in wanted:
                    yield c * top + image_id, descriptors ^ mask


def asked_of(table: KeypointTable) -> tuple[list[float], int]:
    """Each photo's vote time, and how many vote their page first."""
    times, first = [], 0
    for desc, truth in asked:
        assert desc.keypoints is not None
        start = time.perf_counter()
        voted = table.votes(desc.keypoints.descriptors, spec.vote_candidates or 5, min_votes=spec.vote_min or 3)
        times.append(time.perf_counter() - start)
        first += bool(voted) and voted[0][0] == truth
    return times, first


def private_mib() -> float:
    """The process's anonymous resident memory (Linux: RssAnon), not the page cache's."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(times: list[float]) -> str:
    return (f"votes p50 {np.percentile(times, 50) * 1000:.0f} ms, "
            f"p90 {np.percentile(times, 90) * 1000:.0f} ms")


for copies in sizes:
    masks = np.random.default_rng(copies).integers(0, 256, (copies, stored[0][1].shape[1]), dtype=np.uint8)
    masks[0] = 0
    path = None
    if args.save is not None:
        path = args.save / f"copies{copies}.kpt"
        for old in args.save.glob(f"{path.name}*"):
            old.unlink()
    table = KeypointTable(per_image=spec.vote_keypoints or None, path=path, **options)
    start = time.perf_counter()
    table.load(Copies(masks))
    filled = time.perf_counter() - start
    times, first = asked_of(table)
    print(f"{copies} copies: {len(stored) * copies} pages, {table.keypoints} keypoints, "
          f"{table.nbytes / 2**20:.0f} MiB ({table.nbytes / table.keypoints:.0f} bytes each), "
          f"filled and built in {filled:.1f} s, {len(table._segments)} segments; "
          f"{timed(times)}; page first {first} of {len(asked)}", flush=True)
    if path is not None:
        before = private_mib()
        start = time.perf_counter()
        table.save()
        wrote = time.perf_counter() - start
        print(f"  the process's own memory {before:.0f} MiB before the save, {private_mib():.0f} MiB "
              "after (the segments now read from their files)", flush=True)
        size = sum(f.stat().st_size for f in path.parent.glob(f"{path.name}*"))
        del table
        again = KeypointTable(per_image=spec.vote_keypoints or None, path=path, **options)
        start = time.perf_counter()
        again.load(Copies(masks))
        loaded = time.perf_counter() - start
        times, first = asked_of(again)
        warm, _ = asked_of(again)  # each page of the files touched once already
        print(f"  saved in {wrote:.1f} s, {size / 2**20:.0f} MiB of files; loaded again in "
              f"{loaded:.2f} s ({len(again._segments)} segments mapped); {timed(times)}, "
              f"asked again {timed(warm)}; page first {first} of {len(asked)}", flush=True)
        del again
    else:
        del table
