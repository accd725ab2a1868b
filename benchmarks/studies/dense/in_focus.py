"""The last look's placements judged also against the thumbnail blurred (``matching._in_focus``,
``pages.in_focus``): what it costs and how far wrong placements then reach. A study, not
run by CI.

    python benchmarks/studies/dense/in_focus.py KIND W/KIND [SEED [COUNT]]

W/KIND is the data folder ``tusou eval KIND --work-dir W`` leaves. COUNT (default 50) of the
suite's unrelated queries, which nothing answers and which take every look, are searched
with the blurred judgement on and off in turn (which goes first alternating, one process);
every placement judged under the bar while on is recorded (all are wrong: nothing in the
library is these queries'), with its agreement as laid and judged blurred, the share of the
reference it covers and its weakest cells. Printed: latency on / off, the wrong placements'
highest agreements, parts (a part counts at most ``matching.MAX_DENSE_COVER`` of its
reference) apart from whole placements, which never count as parts.

(2026-12-07, alone on the box. `same`, 100 queries: p50 1,957 / 1,905 ms on / off, per query
+21 ms median, +26 mean; 410 wrong placements, at most 0.900 as laid and judged blurred
alike, bar 0.95. `picturebook`, 50 pages: p50 3,338 / 3,222 ms, +84 / +80 ms; 554 wrong
placements, 36 of them parts: at most 0.941 as laid, 0.960 judged blurred (bar 0.97), their
weakest cells at most 0.65 (the bar 0.9); whole placements up to 0.977 blurred.)
"""

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reused_suite import in_turn, report_in_turn, reused  # noqa: E402

from tusou.engine import matching  # noqa: E402
from tusou.engine.describe import Descriptors  # noqa: E402
from tusou.engine.params import Page  # noqa: E402
from tusou.evaluation.dataset import decode_rgb  # noqa: E402
from tusou.evaluation.runner import _fit, _Query  # noqa: E402
from tusou.features.keypoints import weakest_cells  # noqa: E402
from tusou.features.pages import WEAKEST_SHARE  # noqa: E402

judged: list[tuple[float, float, float, float]] = []  # as laid, blurred, cover, weakest cells
_in_focus = matching._in_focus


def recorded(match, spec, query, ref):  # type: ignore[no-untyped-def]
    out = _in_focus(match, spec, query, ref)
    if match.agreement < spec.dense_agreement:
        cells = weakest_cells(query, ref, out.homography, WEAKEST_SHARE)
        judged.append((match.agreement, out.agreement, matching.box_cover(out.box, ref),
                       -1.0 if cells is None else cells))
    return out


def main(kind: str, work: Path, seed: int, count: int) -> None:
    def switch(on: bool) -> None:
        matching._in_focus = recorded if on else (lambda match, *_: match)

    unrelated_in_turn(kind, work, seed, count, switch)


def unrelated_in_turn(kind: str, work: Path, seed: int, count: int, switch: Callable[[bool], None]) -> None:
    """COUNT of the suite's unrelated queries searched with a variant on and off in turn
    (``switch(on)`` sets it), then the latency and the wrong placements ``recorded`` kept."""
    suite = reused(kind, work, seed)
    library = suite.library
    queries = [q for q in suite.queries if not q.relevant][:count]

    def asked(item: tuple[_Query, np.ndarray, Descriptors], on: bool) -> None:
        query, pixels, desc = item
        switch(on)
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


def report_judged(bar: float) -> None:
    """The wrong placements ``recorded`` kept: how many, and the highest, parts apart from
    whole placements."""
    rows = np.array(judged).reshape(-1, 4)
    parts = rows[rows[:, 2] <= matching.MAX_DENSE_COVER]
    whole = rows[rows[:, 2] > matching.MAX_DENSE_COVER]
    print(f"wrong placements judged under the bar {bar}: {len(rows)}")
    for name, some in (("parts", parts), ("whole placements", whole)):
        if len(some):
            top = some[np.argsort(-some[:, 1])][:5]
            print(f"  {name} ({len(some)}): as laid at most {some[:, 0].max():.3f}, judged blurred "
                  f"at most {some[:, 1].max():.3f}; the best (as laid, blurred, cover, weakest cells): "
                  f"{np.round(top, 3).tolist()}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0,
         int(sys.argv[4]) if len(sys.argv) > 4 else 50)
