"""Retrieval metrics over ranked result lists: recall@1, mAP@10, P@10, N-S, threshold counts.

A ranking is the list of library keys a query got back, best first. ``relevant`` is the
set of keys that count as right answers for that query. Definitions follow the usual
image-retrieval conventions:

* recall@1: the first result is relevant (for copy detection: the original was found).
* AP@10: ``sum_{k<=10} P@k * rel_k / min(R, 10)`` with ``R`` relevant items in the library,
  so a perfect top 10 scores 1 even when a group has more than 10 members.
* P@10: relevant share of the first 10 results (missing results count as wrong).
* N-S (UKBench): relevant items among the first 4, with the query's own image counted as
  relevant when it is in the library; 4.0 is perfect for groups of four or more.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

import numpy as np


def average_precision_at(ranking: Sequence[str], relevant: Set[str], k: int = 10) -> float:
    if not relevant:
        return 0.0
    hits = 0
    total = 0.0
    for position, key in enumerate(ranking[:k], start=1):
        if key in relevant:
            hits += 1
            total += hits / position
    return total / min(len(relevant), k)


def precision_at(ranking: Sequence[str], relevant: Set[str], k: int = 10) -> float:
    return sum(1 for key in ranking[:k] if key in relevant) / k


def recall_at_1(ranking: Sequence[str], relevant: Set[str]) -> float:
    return 1.0 if ranking and ranking[0] in relevant else 0.0


@dataclass(frozen=True)
class Ranked:
    """One query's answer: keys best first, with their scores (and inliers when verified)."""

    keys: list[str]
    scores: list[float]
    inliers: list[int | None]

    def score_of(self, key: str) -> float | None:
        for k, s in zip(self.keys, self.scores, strict=True):
            if k == key:
                return s
        return None


@dataclass(frozen=True)
class RankingSummary:
    queries: int
    recall_at_1: float
    map_at_10: float
    p_at_10: float
    ns_score: float

    def as_dict(self) -> dict[str, float | int]:
        return {"queries": self.queries, "recall@1": round(self.recall_at_1, 4),
                "mAP@10": round(self.map_at_10, 4), "P@10": round(self.p_at_10, 4),
                "N-S": round(self.ns_score, 3)}


def summarise_rankings(rankings: Sequence[Sequence[str]], relevant: Sequence[Set[str]],
                       self_keys: Sequence[str | None]) -> RankingSummary:
    """``self_keys``: the query's own library key for leave-one-out (excluded from the
    ranking by the caller, added back for N-S), or None when the query is not in the library."""
    n = len(rankings)
    if n == 0:
        return RankingSummary(0, 0.0, 0.0, 0.0, 0.0)
    r1 = ap = p10 = ns = 0.0
    for ranking, rel, own in zip(rankings, relevant, self_keys, strict=True):
        r1 += recall_at_1(ranking, rel)
        ap += average_precision_at(ranking, rel)
        p10 += precision_at(ranking, rel)
        top4 = ([own] + list(ranking[:3])) if own is not None else list(ranking[:4])
        ns += sum(1 for key in top4 if key == own or key in rel)
    return RankingSummary(n, r1 / n, ap / n, p10 / n, ns / n)


@dataclass(frozen=True)
class CopySummary:
    """Copy-detection queries (one right answer each) judged at a decision threshold."""

    queries: int
    # Queries whose original is in the library; the recalls are over these (None if none).
    positives: int
    recall_at_1: float | None
    recall_at_threshold: float | None
    false_positives: int
    # Scores of the true matches that were found, and the best score any wrong image got.
    true_scores: list[float]
    best_false_score: float

    def as_dict(self) -> dict[str, float | int | list[float] | None]:
        found = self.true_scores
        return {"queries": self.queries,
                "recall@1": None if self.recall_at_1 is None else round(self.recall_at_1, 4),
                "recall@threshold": (None if self.recall_at_threshold is None
                                     else round(self.recall_at_threshold, 4)),
                "false_positives": self.false_positives,
                "true_score_min": round(min(found), 4) if found else None,
                "true_score_median": round(float(np.median(found)), 4) if found else None,
                "best_false_score": round(self.best_false_score, 4),
                # Every true match's score (the JSON keeps them; the table shows min/median).
                "true_scores": sorted(round(v, 4) for v in found)}


def summarise_copies(answers: Sequence[Ranked], expected: Sequence[str | None],
                     threshold: float) -> CopySummary:
    """``expected`` is the original's key, or None for a query whose original is not in the
    library (any answer at or above ``threshold`` is then a false positive)."""
    n = sum(1 for e in expected if e is not None)
    r1 = rt = 0
    false_positives = 0
    true_scores: list[float] = []
    best_false = 0.0
    for answer, want in zip(answers, expected, strict=True):
        if want is not None and answer.keys and answer.keys[0] == want:
            r1 += 1
        score = answer.score_of(want) if want is not None else None
        if score is not None:
            true_scores.append(score)
            if score >= threshold:
                rt += 1
        for key, s in zip(answer.keys, answer.scores, strict=True):
            if key != want:
                best_false = max(best_false, s)
                if s >= threshold:
                    false_positives += 1
    return CopySummary(len(answers), n, r1 / n if n else None, rt / n if n else None,
                       false_positives, true_scores, best_false)
