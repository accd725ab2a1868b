"""The arguments of ``tusou eval``, kept free of heavy imports so that ``--help`` is fast."""

from __future__ import annotations

import argparse
from pathlib import Path

EVAL_KINDS = ("same", "picturebook", "similar", "product", "fabric")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kinds", nargs="*", default=[], metavar="KIND",
                        help=f"library kinds to evaluate ({', '.join(EVAL_KINDS)}); default all")
    parser.add_argument("--images", type=Path,
                        help="folder of library images; without it the standard suite runs")
    parser.add_argument("--labels", type=Path,
                        help="CSV 'file,group' (default: IMAGES/labels.csv if present)")
    parser.add_argument("--mode", choices=["groups", "copies"],
                        help="groups: leave-one-out by label; copies: transform suite "
                        "(default: groups when labels exist, else copies)")
    parser.add_argument("--transforms", default="all",
                        help="copies mode: comma-separated transform names, 'all' or 'pages'")
    parser.add_argument("--distractors", type=Path, action="append", default=[],
                        help="folder of unrelated images added to the library (repeatable)")
    parser.add_argument("--generated-distractors", type=int, default=None,
                        help="generated unrelated images added to the library "
                        "(standard suite: 2000)")
    parser.add_argument("--unrelated", type=int, default=100,
                        help="copies mode: generated images not in the library that query it")
    parser.add_argument("--queries", type=int, default=None,
                        help="copies mode: how many originals to query (default all)")
    parser.add_argument("--baseline", action="store_true",
                        help="groups mode: also measure plain Lite0 average pooling")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decision threshold (default: the kind's documented default)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path,
                        help="keep the evaluation library here (reused by a later run)")
    parser.add_argument("--eval-dev", type=Path,
                        help="development images (default: shared/eval-dev beside the checkout)")
    parser.add_argument("--quick", action="store_true", help="standard suites, scaled down")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--with-queries", action="store_true",
                        help="include every query's top 10 in the JSON")
    parser.add_argument("--markdown", action="store_true",
                        help="also print the results as Markdown tables (for the README)")
