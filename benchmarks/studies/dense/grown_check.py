"""A suite's queries, every look, against its library grown by grow.py: top-1 per transform
and every wrong answer at the kind's threshold, where every image of the grown library counts
(`tusou eval` on a reused work directory counts only the suite's own). A study, not run by CI.

    python benchmarks/studies/dense/grown_check.py KIND WORK_DIR [SET]

SET: only that transform's queries (e.g. crop25), each miss printed. SPEC in the
environment changes KindSpec fields for the run, e.g. SPEC="reach=500,reach_keep=5" or
SPEC="keypoint_cells=None" (`picturebook` as before 2026-12-04).
SEED in the environment draws the suite's transforms from that seed (`tusou eval --seed`).

(2026-12-04: picturebook grown to 6,392, same to 8,648; figures in the README.)
"""

import ast
import collections
import dataclasses
import os
import sys
import time
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation import suites
from tusou.evaluation.runner import _copy_queries, _Harness, spread

kind, work = sys.argv[1], Path(sys.argv[2])
only = sys.argv[3] if len(sys.argv) > 3 else None
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, kind)
if os.environ.get("SPEC"):
    fields = {name: ast.literal_eval(value) for name, value in
              (item.split("=") for item in os.environ["SPEC"].split(","))}
    harness.library.spec = dataclasses.replace(harness.library.spec, **fields)
    print("spec", fields)
harness.key_of = {record.cont_sign: record.brief for record in harness.library.all_images()}
config = dataclasses.replace(suites.suite(kind, eval_dev=suites.find_eval_dev()),
                             seed=int(os.environ.get("SEED", "0")))
queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))
if only:
    queries = [q for q in queries if q.set_name == only]
threshold = harness.spec.default_threshold
found: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
wrong = 0
started = time.time()
for n, query in enumerate(queries):
    ranked, _ = harness.ask(query, 5)
    top = ranked.keys[0] if ranked.keys else None
    found[query.set_name][0] += 1
    if top is not None and top in query.relevant:
        found[query.set_name][1] += 1
    elif top is not None and ranked.scores[0] >= threshold:
        wrong += 1
        print("WRONG", query.key, top, ranked.scores[0], ranked.inliers[0], flush=True)
    elif only:
        print("MISS", query.key, ranked.keys[:2], ranked.scores[:2], flush=True)
    if n % 50 == 0:
        print("progress", n, len(queries), round(time.time() - started), flush=True)
for name, (asked, right) in found.items():
    print(name, asked, right, round(right / asked, 4))
print("wrong answers", wrong)
engine.close()
