"""Grow a copy of a suite's library (`same` unless KIND says otherwise) with more generated
distractors and pages (seeds no suite uses), to see how the wrong side of a look's
calibration moves with library size. A study, not run by CI.

    cp -r W/same /tmp/big && python benchmarks/studies/dense/grow.py /tmp/big DISTRACTORS PAGES [KIND]

(2026-12-03: 5000 and 1000 grew the suite's 2,648 images to 8,648 for reach.py.)
"""

import sys
from pathlib import Path

from tusou.config import Settings
from tusou.engine import Engine
from tusou.evaluation.dataset import generated_distractors, generated_pages
from tusou.evaluation.runner import _Harness
from tusou.evaluation.suites import DISTRACTOR_SEEDS, PAGE_SEEDS

work, n_distractors, n_pages = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
kind = sys.argv[4] if len(sys.argv) > 4 else "same"
engine = Engine(Settings(data_dir=work, model_threads=0))
harness = _Harness(engine, kind)
extra = (generated_distractors(n_distractors, first_seed=DISTRACTOR_SEEDS + 100_000)
         + generated_pages(n_pages, first_seed=PAGE_SEEDS + 100_000))
harness.ingest(extra, workers=2, with_classes=False)
print("added", len(harness.add_ms), "rejected", len(harness.rejected), harness.rejected[:5])
engine.close()
