"""The last look's middle view (``alignment.MIDDLE``): the query's middle aligned as well as
the whole of it. What it costs, and how far wrong placements then reach. A study, not run
by CI.

    python benchmarks/studies/dense/middle_view.py KIND W/KIND [SEED [COUNT]]

W/KIND is the data folder ``tusou eval KIND --work-dir W`` leaves. COUNT (default 50) of the
suite's unrelated queries, which nothing answers and which take every look, are searched
with the middle view and without it in turn (which goes first alternating, one process);
every placement judged under the bar while it is on is recorded as ``in_focus.py`` records
them (all are wrong: nothing in the library is these queries').
"""

import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from in_focus import recorded, report_judged  # noqa: E402
from reused_suite import in_turn, report_in_turn, reused  # noqa: E402

from tusou.engine import matching  # noqa: E402
from tusou.engine.describe import Descriptors  # noqa: E402
from tusou.engine.params import Page  # noqa: E402
from tusou.evaluation.dataset import decode_rgb  # noqa: E402
from tusou.evaluation.runner import _fit, _Query  # noqa: E402
from tusou.features import alignment  # noqa: E402

_in_focus, _middle = matching._in_focus, alignment.MIDDLE


def main(kind: str, work: Path, seed: int, count: int) -> None:
    suite = reused(kind, work, seed)
    library = suite.library
    queries = [q for q in suite.queries if not q.relevant][:count]

    def asked(item: tuple[_Query, np.ndarray, Descriptors], on: bool) -> None:
        query, pixels, desc = item
        alignment.MIDDLE = _middle if on else 0.0  # read where the last look makes its probe
        matching._in_focus = recorded if on else _in_focus
        found = library._rank(desc, None, None, Page(), None, pixels)
        if found.hits:
            print(f"  {query.key} ({'on' if on else 'off'}): answered {found.hits[0].image.brief}")

    # described once, outside the times: only the look differs
    items = []
    for query in queries:
        pixels = decode_rgb(_fit(query.load(), library.spec.limits))
        items.append((query, pixels, library._describe(pixels, query=True)))
    report_in_turn(in_turn(items, {"off": partial(asked, on=False), "on": partial(asked, on=True)}))
    report_judged(library.spec.dense_agreement)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0,
         int(sys.argv[4]) if len(sys.argv) > 4 else 50)
