"""``tusou eval`` (and ``benchmarks/quality.py``): parsed arguments to evaluations, results
to the terminal and to JSON."""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from dataclasses import replace
from typing import Any

from tusou.evaluation.arguments import EVAL_KINDS
from tusou.evaluation.dataset import (
    generated_distractors,
    labelled_folder,
    plain_folder,
)
from tusou.evaluation.runner import EvalConfig, EvalReport, Mode, evaluate, format_cell, format_report
from tusou.evaluation.suites import UNRELATED_SEEDS, find_eval_dev, suite
from tusou.evaluation.transforms import COPY_TRANSFORMS, PAGE_TRANSFORMS


def _transforms(text: str) -> tuple[str, ...]:
    if text == "all":
        return tuple(COPY_TRANSFORMS)
    if text == "pages":
        return PAGE_TRANSFORMS
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    unknown = [n for n in names if n not in COPY_TRANSFORMS]
    if unknown:
        raise SystemExit(f"unknown transforms: {', '.join(unknown)}")
    return names


def configs_from_args(args: argparse.Namespace) -> list[EvalConfig]:
    kinds = args.kinds or list(EVAL_KINDS)
    unknown = [k for k in kinds if k not in EVAL_KINDS]
    if unknown:
        raise SystemExit(f"unknown kinds: {', '.join(unknown)}")
    missing = [str(f) for f in [*args.distractors, *([args.images] if args.images else [])] if not f.is_dir()]
    if missing:
        raise SystemExit(f"error: not a folder: {', '.join(missing)}")
    extra = [img for folder in args.distractors for img in plain_folder(folder, prefix="distractor/")]
    configs = []
    for kind in kinds:
        if args.images is None:
            eval_dev = args.eval_dev or find_eval_dev()
            base = suite(kind, eval_dev=eval_dev, quick=args.quick,
                         distractors=2000 if args.generated_distractors is None
                         else args.generated_distractors)
            config = replace(base, distractors=[*base.distractors, *extra])
        else:
            try:
                images = labelled_folder(args.images, args.labels)
            except ValueError as exc:
                raise SystemExit(f"error: {exc}") from None
            has_groups = len({i.group for i in images}) < len(images)
            mode: Mode = args.mode or ("groups" if has_groups else "copies")
            generated = generated_distractors(args.generated_distractors or 0)
            config = EvalConfig(
                kind=kind, mode=mode, library=images, distractors=[*generated, *extra],
                transforms=_transforms(args.transforms), query_originals=args.queries,
                negatives=generated_distractors(args.unrelated, first_seed=UNRELATED_SEEDS)
                if mode == "copies" else (),
                baseline=args.baseline)
        configs.append(replace(config, threshold=args.threshold, seed=args.seed,
                               workers=args.workers,
                               work_dir=args.work_dir / kind if args.work_dir else None))
    return configs


def _progress(kind: str, message: str) -> None:
    print(f"[{kind}] {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    for config in configs_from_args(args):
        started = time.perf_counter()
        report: EvalReport = evaluate(config, progress=functools.partial(_progress, config.kind))
        print(format_report(report))
        print()
        results.append({**report.as_dict(with_queries=args.with_queries),
                        "seconds": round(time.perf_counter() - started, 1)})
    if args.markdown:
        print(markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d"), "machine": platform.machine(),
            "python": platform.python_version(), "results": results}, indent=1))
    return 0


# Columns the Markdown summary shows, by protocol.
_COPY_COLUMNS = ("queries", "recall@1", "recall@threshold", "false_positives", "true_score_min",
                 "true_score_median", "best_false_score")
_GROUP_COLUMNS = ("queries", "recall@1", "mAP@10", "P@10", "N-S", "exact_copy_first",
                  "exact_copy_min_score", "precision@threshold")


def markdown(results: list[dict[str, Any]]) -> str:
    """One Markdown table per evaluated kind, with its timings underneath."""
    out: list[str] = []
    for result in results:
        columns = _GROUP_COLUMNS if result["mode"] == "groups" else _COPY_COLUMNS
        out.append(f"**{result['kind']}** ({result['pipeline']}; library {result['library_size']} "
                   f"images of which {result['distractors']} distractors; threshold "
                   f"{result['threshold']})\n")
        out.append("| set | " + " | ".join(columns) + " |")
        out.append("|---" * (len(columns) + 1) + "|")
        for row in result["rows"]:
            cells = [format_cell(row.get(c), ".4f") for c in columns]
            out.append(f"| {row['set']} | " + " | ".join(cells) + " |")
        t = result["timings"]
        out.append(f"\nextraction {t['extract_ms_per_image']} ms/image, search p50/p99 "
                   f"{t['search_ms_p50']}/{t['search_ms_p99']} ms\n")
    return "\n".join(out)

