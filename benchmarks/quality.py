"""Retrieval-quality benchmark: the standard evaluation of every library kind.

The same code as ``tusou eval`` (``tusou.evaluation``): scikit-image's sample photos,
generated distractors and pages, and ``../shared/eval-dev`` when it is there. Prints one
table per kind and writes them as JSON; asserts nothing.

    python benchmarks/quality.py                 # all kinds, full suites (about 30 minutes on 2 cores)
    python benchmarks/quality.py same --quick    # one kind, scaled down
"""

from __future__ import annotations

import sys
from pathlib import Path

from tusou.cli import main

RESULTS = Path(__file__).resolve().parent / "results" / "quality.json"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--json" not in argv:
        argv += ["--json", str(RESULTS)]
    if "--markdown" not in argv:
        argv.append("--markdown")
    sys.exit(main(["eval", *argv]))
