"""The last look's middle view (``alignment.MIDDLE``): the query's middle aligned as well as
the whole of it. What it costs, and how far wrong placements then reach. A study, not run
by CI.

    python benchmarks/studies/dense/middle_view.py KIND W/KIND [SEED [COUNT]]

W/KIND is the data folder ``tusou eval KIND --work-dir W`` leaves. COUNT (default 50) of the
suite's unrelated queries, which nothing answers and which take every look, are searched
with the middle view and without it in turn (which goes first alternating, one process);
every placement judged under the bar while it is on is recorded as ``in_focus.py`` records
them (all are wrong: nothing in the library is these queries').

(2026-12-07, alone on the box, as adopted: the middle laid only where the whole query has no
placement, in its four quarter turns. `same` seed 13, 60 queries: p50 1,697 / 1,800 ms off /
on, per query +86 ms median, +92 mean; 340 wrong placements, parts at most 0.900 as laid and
judged blurred, as without the middle (bar 0.95). `picturebook` seed 15, 30 pages: +4 ms
median, -12 mean (within noise); 25 wrong parts at most 0.941 (bar 0.97), as without it.
Before it was laid only where the whole query has no placement, every other page of a
template lay in parts by its middle: `picturebook` wrong parts up to 0.975 judged blurred,
over the bar, their weakest cells at most 0.79 (bar 0.9), and about +1 s a page beside two
evaluations. Before the quarter turns only: `same` +162 / +183 ms.)
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
