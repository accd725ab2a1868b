"""What reading stored keypoints costs: as .npz blobs (what libraries stored before
2026-12-07) and as ``keypoint_blobs``' layout. A study, not run by CI.

    python benchmarks/studies/keypoint_blobs.py W/KIND [COUNT]

W/KIND is the data folder ``tusou eval KIND --work-dir W`` leaves (not changed). It is
copied twice into a temporary folder, every stored blob rewritten as .npz in one copy and
in the current layout in the other, the same arrays in both (through the store, as ``tusou
libraries refresh`` writes them). Printed: what parsing a blob costs, whole and in the
parts the looks read (a thumbnail; a thumbnail and its descriptors; descriptors alone,
what the keypoint table is filled from), over the library's first 600 blobs; then COUNT
(default 40) of the suite's unrelated queries, which nothing answers and which take every
look, searched in both copies in turn (which copy goes first alternating), after one
query in each, timed alone (a `picturebook` copy fills its keypoint table then).

(2026-12-07, alone on the box, on the libraries the suites' evaluations built. `same`: 42.7
KB a blob as .npz, 41.2 KB now; parsing whole 399 -> 70 us, a thumbnail 149 -> 59 us
(JPEG decoding most of it now), a thumbnail and its descriptors 203 -> 63 us, descriptors
86 -> 5 us; 40 unrelated queries p50 1,826 -> 1,768 ms, mean 1,917 -> 1,842 ms, per query
-66 ms median, -75 ms mean. `picturebook`: 67.6 -> 66.1 KB; 519 -> 90, 187 -> 72, 271 ->
79, 125 -> 8 us; the first search, which fills the keypoint table from the store, 4.90 ->
4.32 s; 30 unrelated pages p50 2,702 -> 2,634 ms, mean 2,682 -> 2,597 ms, per page -97 ms
median, -85 ms mean.)
"""

import io
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from reused_suite import in_turn, report_in_turn

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.library import Library
from tusou.engine.params import Page
from tusou.engine.sources import ImageSource
from tusou.evaluation import suites
from tusou.evaluation.runner import _fit, _Harness
from tusou.features import Keypoints, keypoint_blobs
from tusou.features.keypoints import (
    descriptors_from_bytes,
    thumbnail_and_descriptors_from_bytes,
    thumbnail_from_bytes,
)


def as_npz(raw: bytes) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **keypoint_blobs.parse(raw))  # type: ignore[arg-type]
    return buf.getvalue()


def as_current(raw: bytes) -> bytes:
    return keypoint_blobs.compose(keypoint_blobs.parse(raw))


def rewritten(work: Path, into: Path, rewrite: Callable[[bytes], bytes]) -> Engine:
    """A copy of the data folder ``work`` in ``into``, its blobs rewritten, opened."""
    shutil.copytree(work, into)
    engine = Engine(Settings(data_dir=into, model_threads=0))
    library = _Harness(engine, work.name).library
    store = library._store
    for record in library.all_images():
        blob, details = store.keypoints([record.id]).get(record.id), store.details([record.id]).get(record.id)
        if blob is not None:
            store.set_keypoints(record.id, rewrite(blob), None if details is None else rewrite(details))
    return engine


def search(library: Library, data: bytes) -> None:
    library.search(ImageSource(data=data), page=Page(0, 10), threshold=0.0)


def per_blob(read: Callable[[bytes], object], blobs: list[bytes]) -> float:
    start = time.perf_counter()
    for blob in blobs:
        read(blob)
    return (time.perf_counter() - start) / len(blobs) * 1e6


def main(work: Path, count: int) -> None:
    kind = work.name
    with tempfile.TemporaryDirectory() as tmp:
        engines = {name: rewritten(work, Path(tmp) / name / kind, rewrite)
                   for name, rewrite in (("npz", as_npz), ("current", as_current))}
        libraries = {name: _Harness(engine, kind).library for name, engine in engines.items()}
        ids = [r.id for r in libraries["npz"].list_images(limit=600)]
        blobs = {name: list(lib._store.keypoints(ids).values()) for name, lib in libraries.items()}
        print(f"{kind}: {len(ids)} blobs, {np.mean([len(b) for b in blobs['npz']]) / 1000:.1f} KB "
              f"as .npz, {np.mean([len(b) for b in blobs['current']]) / 1000:.1f} KB now")
        for part, read in (("whole", Keypoints.from_bytes), ("thumbnail", thumbnail_from_bytes),
                           ("thumbnail and descriptors", thumbnail_and_descriptors_from_bytes),
                           ("descriptors", descriptors_from_bytes)):
            print(f"  {part}: " + ", ".join(f"{name} {per_blob(read, b):.0f} us" for name, b in blobs.items()))

        config = suites.suite(kind, eval_dev=suites.find_eval_dev())
        spec = libraries["npz"].spec
        queries = [_fit(image.load(), spec.limits) for image in config.negatives[:count + 1]]
        for name, library in libraries.items():
            start = time.perf_counter()
            library.search(ImageSource(data=queries[0]))
            print(f"  first search, {name}: {time.perf_counter() - start:.2f} s")
        ms = in_turn(queries[1:], {name: partial(search, library) for name, library in libraries.items()})
        report_in_turn(ms, indent="  ")
        for engine in engines.values():
            engine.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 40)
