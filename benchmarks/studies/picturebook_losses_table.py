"""Per set, from picturebook_losses.py output: candidates found by the first look, the
second look and extra windows, and how many verify."""

import collections
import json

rows = json.load(open("/tmp/pb/study.json"))
FIRST, REG = 30, 40
by = collections.defaultdict(collections.Counter)
for r in rows:
    s = r["set"]
    c = by[s]
    c["n"] += 1
    f = r["first"] is not None and r["first"] < FIRST
    reg = any(x is not None and x < REG for x in r["regions"])
    ext = any(x is not None and x < REG for x in r["extra"])
    ext15 = any(x is not None and x < 15 for x in r["extra"])
    cand = f or reg
    c["cand_first"] += f
    c["cand_now"] += cand
    c["cand_with_extra40"] += cand or ext
    c["cand_with_extra15"] += cand or ext15
    c["verifies_any"] += r["verify1"] or r["verify2"]
    c["found_est"] += (f and r["verify1"]) or (cand and r["verify2"])
    c["miss_candidate"] += not cand
    c["miss_verify_given_cand"] += cand and not (r["verify1"] or r["verify2"])
    c["gain_extra"] += (not cand) and ext and r["verify2"]
    c["gain_extra15"] += (not cand) and ext15 and r["verify2"]
for s, c in by.items():
    print(s, dict(c))
