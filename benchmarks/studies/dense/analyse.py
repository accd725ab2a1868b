"""Thresholds against the study_wired.py output: queries found, and queries with a wrong
candidate at or above each threshold, per periodicity cut-off on the reference.
``analyse.py [KIND]`` reads study_wired.py's /tmp/dense2/KIND<part>.json (KIND: same)."""

import collections
import glob
import json
import sys

kind = sys.argv[1] if len(sys.argv) > 1 else "same"
rows = [r for f in sorted(glob.glob(f"/tmp/dense2/{kind}[0-9].json")) for r in json.load(open(f))]
print("queries", len(rows))
for max_period in (1.01, 0.9, 0.8, 0.7):
    best_false = []
    per_query = {}
    for r in rows:
        relevant = set(r["relevant"])
        usable = [c for c in r["cands"] if c["agreement"] is not None
                  and (c["period"] is None or c["period"] < max_period)]
        true = [c["agreement"] for c in usable if c["key"] in relevant]
        false = max((c for c in usable if c["key"] not in relevant),
                    key=lambda c: c["agreement"], default=None)
        per_query[r["query"]] = (r["set"], max(true, default=None),
                                 None if false is None else false["agreement"])
        if false:
            best_false.append((round(false["agreement"], 3), r["query"], r["set"], false["key"],
                               false["rank"], false["period"]))
    best_false.sort(reverse=True)
    print(f"--- reference periodicity < {max_period}; best wrong candidates:")
    for x in best_false[:8]:
        print("   ", x)
    for threshold in (0.85, 0.9, 0.93, 0.95, 0.97):
        found = collections.Counter()
        wrong = 0
        for set_name, true, false in per_query.values():
            if set_name != "unrelated" and true is not None and true >= threshold and (
                    false is None or true > false):
                found[set_name] += 1
            wrong += false is not None and false >= threshold
        print(f"  {threshold}: found {sum(found.values())} {dict(found)}; "
              f"queries with a wrong candidate at or above: {wrong}")
