"""Evaluate: accuracy and a confusion matrix of /in/model/model.json on /in/data/test.csv,
written to /out/metrics.json. Pure Python."""

import csv
import json
from pathlib import Path

model = json.loads(Path("/in/model/model.json").read_text())
W, classes = model["weights"], model["classes"]
with open("/in/data/test.csv", newline="") as f:
    r = csv.reader(f)
    next(r)
    rows = [[float(x) for x in row] for row in r]
confusion = [[0] * len(classes) for _ in classes]
for row in rows:
    x, label = row[:-1] + [1.0], int(row[-1])
    scores = [sum(w * v for w, v in zip(W[c], x)) for c in range(len(classes))]
    confusion[label][max(range(len(classes)), key=lambda c: scores[c])] += 1
accuracy = sum(confusion[i][i] for i in range(len(classes))) / len(rows)
metrics = {"accuracy": round(accuracy, 4), "test_rows": len(rows), "classes": classes, "confusion": confusion}
Path("/out/metrics.json").write_text(json.dumps(metrics, indent=2))
print(f"test accuracy {accuracy:.3f} on {len(rows)} rows")
