"""Search latency of queries nothing answers (a suite's unrelated ones) with a look on, off
and on again, in one process. A study, not run by CI.

    python benchmarks/studies/dense/reach_latency.py W/KIND [COUNT [FIELD ...]]

W/KIND is the data folder ``tusou eval KIND --work-dir W`` leaves; "off" sets each KindSpec
FIELD to 0 (default: the last look's reach, ``reach reach_keep``; the
page look's keypoints: ``page_keypoints``).
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.params import Page
from tusou.engine.sources import ImageSource
from tusou.evaluation import suites
from tusou.evaluation.runner import _fit, _Harness

work = Path(sys.argv[1])
kind = work.name
fields = sys.argv[3:] or ["reach", "reach_keep"]
engine = Engine(Settings(data_dir=work, model_threads=0))
library = _Harness(engine, kind).library
config = suites.suite(kind, eval_dev=suites.find_eval_dev())
count = int(sys.argv[2]) if len(sys.argv) > 2 else 60
queries = [_fit(image.load(), library.spec.limits) for image in config.negatives[:count]]
on = library.spec
off = replace(on, **{field: 0 for field in fields})
# One query first: what the first query of a process fills (the keypoint table) is not timed.
library.search(ImageSource(data=queries[0]))
for label, spec in (("on", on), ("off", off), ("on", on)):
    library.spec = spec
    ms = []
    for data in queries:
        start = time.perf_counter()
        library.search(ImageSource(data=data), page=Page(0, 10), threshold=0.0)
        ms.append(1000 * (time.perf_counter() - start))
    print(f"{label}: p50 {np.percentile(ms, 50):.0f} p90 {np.percentile(ms, 90):.0f} mean {np.mean(ms):.0f} ms")
engine.close()
