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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from in_focus import recorded, unrelated_in_turn  # noqa: E402

from tusou.engine import matching  # noqa: E402
from tusou.features import alignment  # noqa: E402

_in_focus, _middle = matching._in_focus, alignment.MIDDLE


def switch(on: bool) -> None:
    alignment.MIDDLE = _middle if on else 0.0  # read where the last look makes its probe
    matching._in_focus = recorded if on else _in_focus


if __name__ == "__main__":
    unrelated_in_turn(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0,
                      int(sys.argv[4]) if len(sys.argv) > 4 else 50, switch)
