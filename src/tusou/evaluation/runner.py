"""Build a library of one kind from evaluation images, query it, and measure what it finds.

Two protocols:

* ``groups``: every library image queries the library (leave-one-out); the other images
  of its group are the relevant answers (texture classes, UKBench quadruples...).
* ``copies``: originals are turned into copy-detection queries by the transform suite
  (and, for product libraries, by cutting the subject out onto another background); the
  original is the one right answer. Unrelated images (in no library) query too: every
  answer they get at the kind's threshold is a false positive.

The engine runs in-process on a work directory, exactly as the server runs it.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.kinds import kind_spec
from tusou.engine.library import Library, make_filter
from tusou.engine.params import Page
from tusou.engine.sources import ImageSource
from tusou.errors import DuplicateImage, TusouError
from tusou.evaluation import synthetic
from tusou.evaluation.dataset import EvalImage, decode_rgb, encode_jpeg, encode_png, spread
from tusou.evaluation.metrics import Ranked, summarise_copies, summarise_rankings
from tusou.evaluation.transforms import COPY_TRANSFORMS, apply_transform, enlarged_to
from tusou.features import l2n
from tusou.images.limits import MAX_IMAGE_BYTES, MAX_SIDE, ImageLimits

log = logging.getLogger(__name__)

Mode = Literal["groups", "copies"]
LIBRARY = "eval"
# Product queries: the original's subject cut out by its mask and placed on a generated
# background at these scales of its original size.
SUBJECT_VIEWS: dict[str, float] = {"subject_bg": 1.0, "subject_half": 0.6, "subject_small": 0.35}
# Class ids given to product-library images (round robin) to check that filters are exact.
PRODUCT_CLASSES = 3
TOP_K = 10
LATENCY_SAMPLE = 30
# A long step (adding the library, asking the queries) says how far it is this many times.
PROGRESS_STEPS = 10
T = TypeVar("T")


@dataclass(frozen=True)
class EvalConfig:
    kind: str
    library: Sequence[EvalImage]
    mode: Mode
    distractors: Sequence[EvalImage] = ()
    # copies mode: which transforms, how many originals to query (None: all), and
    # unrelated queries that have no answer in the library.
    transforms: Sequence[str] = tuple(COPY_TRANSFORMS)
    query_originals: int | None = None
    negatives: Sequence[EvalImage] = ()
    # groups mode: also measure plain Lite0 average pooling on the same images.
    baseline: bool = False
    threshold: float | None = None
    seed: int = 0
    work_dir: Path | None = None
    workers: int = 2


@dataclass
class EvalReport:
    kind: str
    pipeline: str
    mode: Mode
    threshold: float
    library_size: int
    distractors: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Per-query answers (top 10), for threshold studies after the run.
    queries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self, with_queries: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind, "pipeline": self.pipeline, "mode": self.mode,
            "threshold": self.threshold, "library_size": self.library_size,
            "distractors": self.distractors, "rows": self.rows, "timings": self.timings,
            "notes": self.notes}
        if with_queries:
            out["queries"] = self.queries
        return out


@dataclass(frozen=True)
class _Query:
    key: str
    set_name: str
    load: Callable[[], bytes]
    relevant: frozenset[str]
    # Leave-one-out: the query's own library key, dropped from its ranking.
    own: str | None = None
    class_id: int | None = None
    # Copies mode with labels: the original's group-mates are neither right nor wrong.
    tolerated: frozenset[str] = frozenset()


# What the harness sends is kept within the kind's upload limits, as a client would do:
# larger files are re-encoded, and transforms work on originals of at most this side; a
# picture under the kind's minimum side is enlarged to it (a phone photo of a small page is
# rendered at the page's own resolution, which may fall a few pixels under picturebook's
# 150 px, and the vendor refuses what a client does not enlarge).
SEND_SIDE = 3000
TRANSFORM_SIDE = 2048


def _shrunk(pixels: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(pixels.shape[:2])
    if scale >= 1.0:
        return pixels
    size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _fit(data: bytes, limits: ImageLimits) -> bytes:
    """``data`` as is when the engine takes it, else a smaller JPEG of it, or an enlarged
    (lossless) copy where its shorter side is under ``limits.min_side``."""
    with Image.open(io.BytesIO(data)) as img:
        large = max(img.size) > MAX_SIDE
        small = min(img.size) < limits.min_side
    if small:
        return encode_png(enlarged_to(decode_rgb(data), limits.min_side))
    if len(data) <= MAX_IMAGE_BYTES and not large:
        return data
    return encode_jpeg(_shrunk(decode_rgb(data), SEND_SIDE), 90)


def _unreadable(exc: Exception) -> str:
    # Pillow's own message names the BytesIO object it was handed, not the file.
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognisable image"
    return str(exc) or type(exc).__name__


def _original(image: EvalImage) -> np.ndarray:
    return _shrunk(image.pixels(), TRANSFORM_SIDE)


def _counted(results: Iterable[T], total: int, what: str, say: Callable[[str], None] | None
             ) -> Iterator[T]:
    """``results`` as they come (in order), saying every PROGRESS_STEPS-th of ``total`` how
    many are done (an evaluation runs for tens of minutes)."""
    every, start = max(1, total // PROGRESS_STEPS), time.perf_counter()
    for done, result in enumerate(results, 1):
        if say is not None and done % every == 0 and done < total:
            say(f"{done} of {total} {what} ({time.perf_counter() - start:.0f} s)")
        yield result


class _Harness:
    """The engine, the evaluation library and the cont_sign <-> key bookkeeping."""

    def __init__(self, engine: Engine, kind: str) -> None:
        self.engine = engine
        self.spec = kind_spec(kind)
        try:
            record = engine.describe_library(LIBRARY)
            if record.kind != kind:
                engine.delete_library(LIBRARY)
                raise LookupError
        except (TusouError, LookupError):
            engine.create_library(LIBRARY, kind)
        self.library: Library = engine.library(LIBRARY)
        self.key_of: dict[str, str] = {}  # cont_sign -> key
        self.class_of: dict[str, int] = {}  # key -> class id (product)
        self.add_ms: list[float] = []
        self.rejected: list[str] = []

    def ingest(self, images: Sequence[EvalImage], *, workers: int, with_classes: bool,
               progress: Callable[[str], None] | None = None) -> None:
        def add(item: tuple[int, EvalImage]) -> None:
            n, image = item
            class_ids = None
            if with_classes:
                class_ids = (n % PRODUCT_CLASSES + 1, None)
                self.class_of[image.key] = class_ids[0]
            try:
                data = _fit(image.load(), self.spec.limits)
            except Exception as exc:  # an unreadable file is reported, not fatal
                self.rejected.append(f"{image.key}: {_unreadable(exc)}")
                return
            start = time.perf_counter()
            try:
                record = self.library.add(ImageSource(data=data), brief=image.key[-256:],
                                          class_ids=class_ids)
            except DuplicateImage as exc:
                self.key_of.setdefault(exc.cont_sign, image.key)
                return
            except TusouError as exc:
                self.rejected.append(f"{image.key}: {exc.message}")
                return
            self.add_ms.append((time.perf_counter() - start) * 1000)
            self.key_of[record.cont_sign] = image.key

        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(_counted(pool.map(add, enumerate(images)), len(images), "images added", progress))

    def ids_by_brief(self) -> dict[str, int]:
        """Every image of the library by its brief (the key's last 256 characters): what
        study scripts that look behind the API need to find an original's record."""
        return {rec.brief: rec.id for rec in self.library.all_images()}

    def ask(self, query: _Query, rn: int) -> tuple[Ranked, float]:
        tag_filter = None
        if query.class_id is not None:
            tag_filter = make_filter(self.spec, class_ids=(query.class_id, None))
        try:
            data = _fit(query.load(), self.spec.limits)
        except Exception as exc:  # a query that cannot be made is reported, not fatal
            self.rejected.append(f"query {query.key}: {_unreadable(exc)}")
            return Ranked([], [], []), 0.0
        start = time.perf_counter()
        try:
            page = self.library.search(ImageSource(data=data), tag_filter=tag_filter,
                                       page=Page(0, rn), threshold=0.0)
        except TusouError as exc:
            # A query the kind refuses (e.g. under its minimum size) finds nothing.
            self.rejected.append(f"query {query.key}: {exc.message}")
            return Ranked([], [], []), 0.0
        elapsed = (time.perf_counter() - start) * 1000
        # Images a reused work directory holds from other runs are not part of this one.
        hits = [(self.key_of[h.cont_sign], h) for h in page.hits if h.cont_sign in self.key_of
                and self.key_of[h.cont_sign] not in query.tolerated]
        return Ranked([k for k, _ in hits], [h.score for _, h in hits],
                      [h.inliers for _, h in hits]), elapsed


def subject_view(pixels: np.ndarray, mask: np.ndarray, seed: int, n: int, t: int) -> bytes:
    """The ``n``-th original's subject (``mask``) moved onto another background, as a JPEG:
    the ``t``-th of SUBJECT_VIEWS, drawn from ``seed`` (the harness's, and the studies' that
    ask the same queries)."""
    scale = list(SUBJECT_VIEWS.values())[t]
    rng = np.random.default_rng(seed * 1_000_003 + n * 101 + 50 + t)
    return encode_jpeg(synthetic.place_subject(pixels, mask, rng, scale=scale))


def _copy_queries(config: EvalConfig, harness: _Harness, originals: Sequence[EvalImage]
                  ) -> list[_Query]:
    present = set(harness.key_of.values())
    mates: dict[str, frozenset[str]] = {}
    for image in config.library:
        mates[image.group] = mates.get(image.group, frozenset()) | {image.key}
    queries: list[_Query] = []
    for n, image in enumerate(originals):
        if image.key not in present:
            continue
        for t, name in enumerate(config.transforms):
            seed = config.seed * 1_000_003 + n * 101 + t

            def load(image: EvalImage = image, name: str = name, seed: int = seed) -> bytes:
                return encode_jpeg(apply_transform(name, _original(image), seed))

            queries.append(_Query(f"{image.key}#{name}", name, load, frozenset({image.key}),
                                  tolerated=mates.get(image.group, frozenset()) - {image.key}))
        if harness.spec.filter_style == "class_ids":
            for t, name in enumerate(SUBJECT_VIEWS):

                def view(image: EvalImage = image, n: int = n, t: int = t) -> bytes:
                    pixels = _original(image)
                    return subject_view(pixels, harness.engine.models.subject.mask(pixels),
                                        config.seed, n, t)

                queries.append(_Query(f"{image.key}#{name}", name, view, frozenset({image.key})))
                cls = harness.class_of.get(image.key)
                if cls is not None and t == 0:
                    queries.append(_Query(f"{image.key}#{name}+class", "class_filter", view,
                                          frozenset({image.key}), class_id=cls))
    for image in config.negatives:
        queries.append(_Query(f"{image.key}#unrelated", "unrelated", image.load, frozenset()))
    return queries


def _group_queries(harness: _Harness, images: Sequence[EvalImage]) -> list[_Query]:
    present = set(harness.key_of.values())
    members: dict[str, set[str]] = {}
    for image in images:
        if image.key in present:
            members.setdefault(image.group, set()).add(image.key)
    # An image alone in its group has no right answer to find: it is not a query.
    return [_Query(image.key, "leave-one-out", image.load,
                   frozenset(members[image.group] - {image.key}), own=image.key)
            for image in images if image.key in present and len(members[image.group]) > 1]


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else 0.0


def baseline_avgpool(engine: Engine, images: Sequence[EvalImage]) -> dict[str, Any]:
    """Plain EfficientNet-Lite0 average pooling at 224 px, leave-one-out by cosine."""
    lite0 = engine.models.lite0
    vectors = np.stack([l2n(lite0.feature_maps(image.pixels(), 224)[0].mean(axis=(1, 2)))
                        for image in images])
    sims = vectors @ vectors.T
    keys = [image.key for image in images]
    groups = [image.group for image in images]
    rankings, relevant, own = [], [], []
    for i in range(len(images)):
        mates = frozenset(keys[j] for j in range(len(images)) if j != i and groups[j] == groups[i])
        if not mates:
            continue  # as in the engine's protocol: nothing to find, not a query
        order = [j for j in np.argsort(-sims[i], kind="stable") if j != i][:TOP_K]
        rankings.append([keys[j] for j in order])
        relevant.append(mates)
        own.append(keys[i])
    summary = summarise_rankings(rankings, relevant, own)
    return {"set": "baseline: Lite0 avg-pool 224", **summary.as_dict()}


def evaluate(config: EvalConfig, progress: Callable[[str], None] | None = None) -> EvalReport:
    say = progress or (lambda _msg: None)
    spec = kind_spec(config.kind)
    threshold = spec.default_threshold if config.threshold is None else config.threshold
    with ExitStack() as stack:
        work = config.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tusou-eval-")))
        engine = Engine(Settings(data_dir=work, model_threads=1 if config.workers > 1 else 0))
        stack.callback(engine.close)
        harness = _Harness(engine, config.kind)
        report = EvalReport(kind=config.kind, pipeline=harness.library.record.pipeline,
                            mode=config.mode, threshold=threshold, library_size=0,
                            distractors=len(config.distractors))
        with_classes = spec.filter_style == "class_ids"
        say(f"adding {len(config.library)} images and {len(config.distractors)} distractors")
        harness.ingest([*config.library, *config.distractors], workers=config.workers,
                       with_classes=with_classes, progress=say)
        report.library_size = len(harness.library.list_images(limit=10**9))
        report.notes.extend(f"not added: {r}" for r in harness.rejected)
        harness.rejected.clear()

        if config.mode == "groups":
            queries = _group_queries(harness, config.library)
        else:
            originals = spread(list(config.library), config.query_originals)
            queries = _copy_queries(config, harness, originals)
        say(f"running {len(queries)} queries")

        def run(query: _Query) -> tuple[Ranked, float]:
            return harness.ask(query, TOP_K + (1 if query.own else 0))

        with ThreadPoolExecutor(max(1, config.workers)) as pool:
            answers = list(_counted(pool.map(run, queries), len(queries), "queries asked", say))
        _summarise(report, queries, [a for a, _ in answers], threshold, harness)
        report.notes.extend(f"refused: {r}" for r in harness.rejected)

        # Latency and extraction measured alone (one request at a time), not under load.
        sample = queries[:: max(1, len(queries) // LATENCY_SAMPLE)][:LATENCY_SAMPLE]
        latency = [harness.ask(q, TOP_K)[1] for q in sample]
        report.timings = {
            "add_ms_p50": _percentile(harness.add_ms, 50),
            "extract_ms_per_image": _extraction_ms(engine, harness, [
                i for i in config.library if i.key in set(harness.key_of.values())]),
            "search_ms_p50": _percentile(latency, 50),
            "search_ms_p99": _percentile(latency, 99),
        }
        if config.baseline:
            say("measuring the Lite0 average-pooling baseline")
            report.rows.insert(0, baseline_avgpool(
                engine, [i for i in config.library if i.key in set(harness.key_of.values())]))
    return report


def _extraction_ms(engine: Engine, harness: _Harness, images: Sequence[EvalImage]) -> float:
    """Descriptor time for a stored image of this kind (decode excluded), one at a time."""
    sample = [i.pixels() for i in images[:10]]
    if not sample:
        return 0.0
    record = harness.library.record
    engine.describer.describe(harness.spec, record.pipeline, sample[0], query=False)  # warm
    start = time.perf_counter()
    for pixels in sample:
        engine.describer.describe(harness.spec, record.pipeline, pixels, query=False)
    return round((time.perf_counter() - start) * 1000 / len(sample), 1)


def _summarise(report: EvalReport, queries: Sequence[_Query], answers: Sequence[Ranked],
               threshold: float, harness: _Harness) -> None:
    by_set: dict[str, list[int]] = {}
    for i, query in enumerate(queries):
        by_set.setdefault(query.set_name, []).append(i)
        report.queries.append({
            "query": query.key, "set": query.set_name, "relevant": sorted(query.relevant)[:20],
            "hits": [{"key": k, "score": s, "inliers": n}
                     for k, s, n in zip(answers[i].keys, answers[i].scores, answers[i].inliers,
                                        strict=True)]})
    if report.mode == "groups":
        idx = by_set.get("leave-one-out", [])
        own_first = [answers[i].keys[:1] == [queries[i].own] for i in idx]
        own_scores = [answers[i].score_of(queries[i].own or "") or 0.0 for i in idx]
        rankings = [[k for k in answers[i].keys if k != queries[i].own][:TOP_K] for i in idx]
        summary = summarise_rankings(rankings, [queries[i].relevant for i in idx],
                                     [queries[i].own for i in idx])
        row: dict[str, Any] = {"set": "leave-one-out", **summary.as_dict(),
                               "exact_copy_first": round(float(np.mean(own_first)), 4) if idx else None,
                               "exact_copy_min_score": round(min(own_scores), 4) if idx else None}
        row.update(_threshold_split(rankings, [queries[i].relevant for i in idx],
                                    [answers[i] for i in idx], threshold))
        report.rows.append(row)
        return
    all_rows = []
    for name, idx in by_set.items():
        expected = [next(iter(queries[i].relevant), None) for i in idx]
        copies = summarise_copies([answers[i] for i in idx], expected, threshold)
        row = {"set": name, **copies.as_dict()}
        if name == "class_filter":
            row["filter_violations"] = sum(
                1 for i in idx for k in answers[i].keys
                if harness.class_of.get(k) != queries[i].class_id)
        all_rows.append(row)
    positives = [i for i in range(len(queries)) if queries[i].relevant]
    by_source: dict[str, list[int]] = {}
    for i in positives:
        by_source.setdefault(_source(next(iter(queries[i].relevant))), []).append(i)
    rows = [("all copies", positives)]
    if "crop25" in by_set:
        # The `same` target's own count: recall@1 over every copy but the 25 % crop, which
        # has a lower bar of its own.
        rows.append(("all but crop25", [i for i in positives if queries[i].set_name != "crop25"]))
    if len(by_source) > 1:
        # Where the originals came from (their top folder): copy detection is much harder
        # on textures and flat graphics than on photographs, and a total hides that.
        rows += [(f"from {name}/", idx) for name, idx in sorted(by_source.items())]
    for name, idx in rows:
        found = summarise_copies([answers[i] for i in idx],
                                 [next(iter(queries[i].relevant)) for i in idx], threshold)
        all_rows.append({"set": name, **found.as_dict()})
    report.rows = all_rows


def _source(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else "."


def _threshold_split(rankings: Sequence[Sequence[str]], relevant: Sequence[frozenset[str]],
                     answers: Sequence[Ranked], threshold: float) -> dict[str, Any]:
    """How the default threshold splits the top-10 answers into relevant and not."""
    rel_scores: list[float] = []
    irr_scores: list[float] = []
    for ranking, rel, answer in zip(rankings, relevant, answers, strict=True):
        for key in ranking:
            score = answer.score_of(key) or 0.0
            (rel_scores if key in rel else irr_scores).append(score)
    above_rel = sum(1 for s in rel_scores if s >= threshold)
    above_irr = sum(1 for s in irr_scores if s >= threshold)
    return {"precision@threshold": round(above_rel / (above_rel + above_irr), 4)
            if above_rel + above_irr else None,
            "top10_relevant_above_threshold": round(above_rel / len(rel_scores), 4)
            if rel_scores else None,
            "top10_irrelevant_above_threshold": round(above_irr / len(irr_scores), 4)
            if irr_scores else None}


def format_report(report: EvalReport) -> str:
    """A plain-text table of ``report`` for the terminal (and README)."""
    head = (f"kind={report.kind} pipeline={report.pipeline} mode={report.mode} "
            f"threshold={report.threshold} library={report.library_size} "
            f"(distractors {report.distractors})")
    columns: list[str] = []
    for row in report.rows:
        for key, value in row.items():
            if key not in columns and not isinstance(value, list):
                columns.append(key)
    cells = [[format_cell(row.get(c), ".4g") for c in columns] for row in report.rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [head, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    lines.append("timings: " + ", ".join(f"{k} {v}" for k, v in report.timings.items()))
    lines += [f"note: {n}" for n in report.notes[:20]]
    return "\n".join(lines)


def format_cell(value: object, float_format: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, float_format)
    return str(value)
