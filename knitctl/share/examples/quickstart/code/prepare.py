"""Prepare: read the iris CSV from /in/raw, standardise the features, split 80/20 (fixed seed),
write /out/train.csv and /out/test.csv plus the scaling to /out/scaling.json. Pure Python."""

import csv
import json
import random
import statistics
from pathlib import Path

raw = next(Path("/in/raw").glob("*.csv"))
with open(raw, newline="") as f:
    rows = list(csv.DictReader(f))
features = [k for k in rows[0] if k != "species"]
classes = sorted({r["species"] for r in rows})
means = {k: statistics.fmean(float(r[k]) for r in rows) for k in features}
stdevs = {k: statistics.pstdev(float(r[k]) for r in rows) or 1.0 for k in features}

random.Random(7).shuffle(rows)
cut = int(len(rows) * 0.8)
out = Path("/out")
for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
    with open(out / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(features + ["label"])
        for r in part:
            w.writerow([round((float(r[k]) - means[k]) / stdevs[k], 6) for k in features] + [classes.index(r["species"])])
(out / "scaling.json").write_text(json.dumps({"features": features, "classes": classes, "means": means, "stdevs": stdevs}, indent=2))
print(f"prepared {cut} training and {len(rows) - cut} test rows, {len(features)} features, classes {classes}")
