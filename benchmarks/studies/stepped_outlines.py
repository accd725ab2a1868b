"""A striped page's outline stepped to the stripe boundaries next to its sides
(``pages.stepped_outlines``, tried by the page look beside the outline found): what it finds,
what it costs, and whether it answers anything wrongly. A study, not run by CI.

    python benchmarks/studies/stepped_outlines.py W/same [SEED [COUNT [MATCH]]]

W/same is the data folder ``tusou eval same --work-dir W`` leaves. Every phone photo (30, 55
and 80 % of the frame) of the suite's originals whose key holds MATCH (default ``banded``:
the striped textures) and COUNT (default 40) of its unrelated queries are searched with the
stepped outlines and without them in turn (which goes first alternating, one process).
Printed: each query whose answer differs, every wrong answer either way, and the latency
of each group on and off.

(2026-12-07, alone on the box, the suite's library from `tusou eval same`. Striped photos
answered right off / on: seed 15 12 / 14 (`banded_0064`'s and `banded_0090`'s 55 % photos),
seed 13 12 / 12, seed 0 12 / 13 (`banded_0002`'s 55 % photo); no wrong answer either way.
Cost on them +42 / +59 ms median / mean at seed 15, +43 / +160 at seed 13, +19 / +104 at
seed 0; on 40 unrelated queries (seed 15) +25 / +15 ms, noise.)
"""

import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reused_suite import in_turn, report_in_turn, reused  # noqa: E402

from tusou.engine import library as library_module  # noqa: E402
from tusou.engine.params import Page  # noqa: E402
from tusou.evaluation.dataset import decode_rgb  # noqa: E402
from tusou.evaluation.runner import _fit  # noqa: E402

_stepped = library_module.stepped_outlines


def main(work: Path, seed: int, count: int, match: str) -> None:
    suite = reused("same", work, seed)
    library = suite.library
    photos = [q for q in suite.queries if match in q.key and q.set_name.startswith("phone")]
    unrelated = [q for q in suite.queries if not q.relevant][:count]
    answers: dict[tuple[str, bool], str] = {}

    def asked(item, on: bool) -> None:  # type: ignore[no-untyped-def]
        query, pixels, desc = item
        library_module.stepped_outlines = _stepped if on else (lambda pixels, quads: [])
        found = library._rank(desc, None, None, Page(), None, pixels)
        top = suite.key_of_id.get(found.hits[0].image.id, "?") if found.hits else "-"
        verdict = "" if top == "-" else (" right" if top in query.relevant else " WRONG")
        answers[(query.key, on)] = f"{top}{verdict}"

    for name, queries in (("striped photos", photos), ("unrelated", unrelated)):
        if not queries:
            continue
        items = []
        for query in queries:
            pixels = decode_rgb(_fit(query.load(), library.spec.limits))
            items.append((query, pixels, library._describe(pixels, query=True)))
        print(f"{name} ({len(items)}):")
        ms = in_turn(items, {"off": partial(asked, on=False), "on": partial(asked, on=True)})
        for query in queries:
            off, on = answers[(query.key, False)], answers[(query.key, True)]
            if off != on or "WRONG" in off + on:
                print(f"  {query.key}: off {off}, on {on}")
        right = {flag: sum(answers[(q.key, flag)].endswith(" right") for q in queries) for flag in (False, True)}
        print(f"  answered right: off {right[False]}, on {right[True]}")
        report_in_turn(ms, "  ")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0,
         int(sys.argv[3]) if len(sys.argv) > 3 else 40, sys.argv[4] if len(sys.argv) > 4 else "banded")
