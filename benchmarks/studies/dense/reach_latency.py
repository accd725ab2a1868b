"""Search latency of queries nothing answers (the `same` suite's unrelated ones) with the
keypoint-free look's reach on, off and on again, in one process. A study, not run by CI.

    python benchmarks/studies/dense/reach_latency.py W/same [COUNT]
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

engine = Engine(Settings(data_dir=Path(sys.argv[1]), model_threads=0))
library = _Harness(engine, "same").library
config = suites.suite("same", eval_dev=suites.find_eval_dev())
queries = [_fit(image.load()) for image in config.negatives[: int(sys.argv[2]) if len(sys.argv) > 2 else 60]]
on = library.spec
for label, spec in (("on", on), ("off", replace(on, dense_reach=0, dense_reach_keep=0)), ("on", on)):
    library.spec = spec
    ms = []
    for data in queries:
        start = time.perf_counter()
        library.search(ImageSource(data=data), page=Page(0, 10), threshold=0.0)
        ms.append(1000 * (time.perf_counter() - start))
    print(f"{label}: p50 {np.percentile(ms, 50):.0f} p90 {np.percentile(ms, 90):.0f} mean {np.mean(ms):.0f} ms")
engine.close()
