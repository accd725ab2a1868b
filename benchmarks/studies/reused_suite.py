"""A suite's evaluation library reused by a study: the engine on its work directory, the
harness that asks as the evaluation asks, and the suite's copy queries; and the candidates
the last look judges; and what an evaluation's JSON recorded for each query; and search
times of two variants asked in turn. Studies run as
scripts from this folder import it by name (``from reused_suite import reused``)."""

import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.describe import Descriptors
from tusou.engine.kinds import KindSpec
from tusou.engine.library import Library, StoredKeypoints
from tusou.engine.matching import best_sliding, dense_judged
from tusou.engine.references import References
from tusou.evaluation import suites
from tusou.evaluation.dataset import decode_rgb, encode_jpeg
from tusou.evaluation.runner import _copy_queries, _fit, _Harness, _original, _Query, spread
from tusou.evaluation.transforms import PAGE_TRANSFORMS, apply_transform
from tusou.features import PDQ_MATCH_DISTANCE
from tusou.features.alignment import DenseProbe
from tusou.features.keypoints import Keypoints


@dataclass
class Reused:
    engine: Engine
    harness: _Harness
    library: Library
    spec: KindSpec
    key_of_id: dict[int, str]  # library image id -> the suite's key
    queries: list[_Query]

    def described(self, query: _Query) -> Descriptors:
        """``query`` as the harness sends it (fitted to the kind's limits), described as the
        library describes a query."""
        return self.library._describe(decode_rgb(_fit(query.load(), self.spec.limits)), query=True)

    def stored(self) -> list[tuple[int, np.ndarray]]:
        """Every image's stored keypoint descriptors, as the keypoint table reads them."""
        source = StoredKeypoints(self.library._store, self.library.record.id)
        return list(source.descriptors(source.image_ids()))


@dataclass(frozen=True)
class Recorded:
    """An evaluation's queries (``tusou eval --json --with-queries``) by what became of them."""

    missed: set[str]  # its original not first, or first under the threshold
    answered: list[str]  # the rest of those with an original, in the order asked
    unrelated: list[str]  # those without one


def recorded(path: str | Path) -> Recorded:
    result = json.loads(Path(path).read_text())["results"][0]
    queries = result["queries"]
    missed = {q["query"] for q in queries if q["relevant"] and (
        not q["hits"] or q["hits"][0]["key"] not in q["relevant"]
        or q["hits"][0]["score"] < result["threshold"])}
    return Recorded(missed, [q["query"] for q in queries if q["relevant"] and q["query"] not in missed],
                    [q["query"] for q in queries if not q["relevant"]])


def reused(kind: str, work: Path, seed: int = 0) -> Reused:
    """The ``kind`` suite's library in ``work`` (an evaluation's data directory), opened,
    with its transforms drawn from ``seed`` (``tusou eval --seed``)."""
    config = replace(suites.suite(kind, eval_dev=suites.find_eval_dev()), seed=seed)
    engine = Engine(Settings(data_dir=work, model_threads=0))
    harness = _Harness(engine, kind)
    library = harness.library
    harness.key_of = {r.cont_sign: r.brief for r in library.all_images()}
    key_of_id = {v: k for k, v in harness.ids_by_brief().items()}
    queries = _copy_queries(config, harness, spread(list(config.library), config.query_originals))
    return Reused(engine, harness, library, library.spec, key_of_id, queries)


def last_look_candidates(spec: KindSpec, probe: DenseProbe, ids: Sequence[int], reach: Sequence[int],
                         refs: References) -> Iterator[tuple[int, Keypoints]]:
    """Every candidate the last look judges without keypoints (``matching.last_look``'s
    arguments): the candidates tried (``matching.dense_judged``) and the reach's
    best-sliding ``spec.reach_keep``, with their stored keypoints."""
    judged = dense_judged(spec, probe, ids, refs)
    if reach and spec.reach_keep:
        judged += best_sliding(probe, reach, spec.reach_keep, refs)
    seen: set[int] = set()
    for image_id, ref in judged:
        if image_id not in seen:
            seen.add(image_id)
            yield image_id, ref


def first_look(library: Library, desc: Descriptors, reach: int) -> tuple[set[int], list[int]]:
    """The candidates the first look tries for a query described as ``desc`` (PDQ hits and
    the nearest ``verify_candidates`` vectors), and the ``reach`` nearest past them."""
    state = library._state
    spec = library.spec
    pdq = state.hashes.within([h.to_bytes() for h in desc.pdq], PDQ_MATCH_DISTANCE, None) if desc.pdq else {}
    tried = set(pdq) | {i for i, _ in state.index.search(desc.vector, spec.verify_candidates, None)}
    return tried, [i for i, _ in state.index.search(desc.vector, reach, None) if i not in tried]


@dataclass(frozen=True)
class Reaching:
    """A query as the last look meets it: described, its reach past the first look's
    candidates, and the ids of its originals and of its tolerated group-mates."""

    query: _Query
    desc: Descriptors
    reach: list[int]
    true_ids: set[int]
    mates: set[int]


def asked(suite: Reused, part: int = 0, parts: int = 1) -> Iterator[tuple[_Query, set[int], set[int]]]:
    """Every ``parts``-th of the suite's queries from ``part``, with the ids of its
    originals and of its tolerated group-mates; progress on stderr every 100."""
    id_of = {key[-256:]: i for i, key in suite.key_of_id.items()}
    started = time.time()
    queries = suite.queries[part::parts]
    for n, query in enumerate(queries):
        if n % 100 == 0:
            print(f"{n}/{len(queries)} {time.time() - started:.0f} s", file=sys.stderr, flush=True)
        yield (query, {id_of[k[-256:]] for k in query.relevant if k[-256:] in id_of},
               {id_of[k[-256:]] for k in query.tolerated if k[-256:] in id_of})


def reaching(suite: Reused, part: int = 0, parts: int = 1) -> Iterator[Reaching]:
    """Every ``parts``-th of the suite's queries from ``part`` that has keypoints, as the
    last look meets it (its reach: ``spec.reach``); progress on stderr every 100."""
    for query, true_ids, mates in asked(suite, part, parts):
        desc = suite.described(query)
        if desc.keypoints is None:
            continue
        _, reach = first_look(suite.library, desc, suite.spec.reach)
        yield Reaching(query, desc, reach, true_ids, mates)


def unrelated_page_photos(seed: int) -> list[_Query]:
    """Every page transform (photos at 30-80 %, a partial page) of the `picturebook`
    suite's 100 unrelated pages, pages of its books that no library holds, drawn from
    ``seed`` as the evaluation draws copies: queries that nothing may answer."""
    queries = []
    for n, page in enumerate(suites.generated_pages(100, first_seed=suites.UNRELATED_PAGE_SEEDS)):
        for t, name in enumerate(PAGE_TRANSFORMS):
            def load(page=page, name=name, s=seed * 1_000_003 + n * 101 + t) -> bytes:  # type: ignore[no-untyped-def]
                return encode_jpeg(apply_transform(name, _original(page), s))
            queries.append(_Query(f"{page.key}#{name}", "off", load, frozenset()))
    return queries


T = TypeVar("T")


def in_turn(items: Sequence[T], runs: dict[str, Callable[[T], object]]) -> dict[str, list[float]]:
    """The milliseconds each of two ``runs`` takes on each of ``items``, the two in turn on
    every item, which goes first alternating: neither gains from the other's caches or
    from the box slowing down or speeding up meanwhile."""
    labels = list(runs)
    ms: dict[str, list[float]] = {label: [] for label in labels}
    for n, item in enumerate(items):
        for label in (labels if n % 2 else labels[::-1]):
            start = time.perf_counter()
            runs[label](item)
            ms[label].append(1000 * (time.perf_counter() - start))
    return ms


def report_in_turn(ms: dict[str, list[float]], indent: str = "") -> None:
    """Print ``in_turn``'s times: each run's p50 / p90 / mean, then the second run's less
    the first's, per item."""
    for label, times in ms.items():
        print(f"{indent}{label}: p50 {np.percentile(times, 50):.0f} p90 {np.percentile(times, 90):.0f} "
              f"mean {np.mean(times):.0f} ms")
    first, second = ms
    diff = np.array(ms[second]) - np.array(ms[first])
    print(f"{indent}{second} - {first}, per query: median {np.median(diff):.0f} mean {diff.mean():.0f} ms "
          f"({len(diff)} queries)")
