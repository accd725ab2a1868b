"""Thresholds against the study_wired.py output: queries found, queries with a false candidate above, per transform."""

import collections
import glob
import json

rows = [r for f in sorted(glob.glob("/tmp/dense2/study[0-9].json")) for r in json.load(open(f))]
print("queries", len(rows))
best_false = []  # (agreement, query, set, key, rank, pdq)
true_best = {}
for r in rows:
    rel = set(r["relevant"])
    t = [c for c in r["cands"] if c["key"] in rel and c["agreement"] is not None]
    f = [c for c in r["cands"] if c["key"] not in rel and c["agreement"] is not None]
    tb = max((c["agreement"] for c in t), default=None)
    fb = max(f, key=lambda c: c["agreement"], default=None)
    true_best[r["query"]] = (
        r["set"],
        tb,
        None if fb is None else fb["agreement"],
        max((c["rank"] for c in t), default=None),
        r["npdq"],
    )
    if fb:
        best_false.append((fb["agreement"], r["query"], r["set"], fb["key"], fb["rank"], fb["pdq"]))
best_false.sort(reverse=True)
print("top false:")
for x in best_false[:15]:
    print("  ", round(x[0], 3), x[1:])
for thr in (0.75, 0.8, 0.82, 0.85, 0.88, 0.9):
    found = collections.Counter()
    total = collections.Counter()
    fp = 0
    wrongfirst = 0
    for _q, (s, tb, fb, _rk, _npdq) in true_best.items():
        total[s] += 1
        ok = tb is not None and tb >= thr and (fb is None or tb > fb)
        if s != "unrelated" and ok:
            found[s] += 1
        if fb is not None and fb >= thr:
            fp += 1
        if fb is not None and fb >= thr and s != "unrelated" and not ok:
            wrongfirst += 1
    print(
        thr,
        "found",
        sum(found.values()),
        "of",
        sum(v for k, v in total.items() if k != "unrelated"),
        "queries with a false >= thr",
        fp,
        "wrong first",
        wrongfirst,
        dict(found),
    )
ranks = [v[3] for v in true_best.values() if v[1] is not None and v[1] >= 0.85]
print("ranks of accepted true", sorted(ranks)[-10:], "npdq max", max(v[4] for v in true_best.values()))
