"""Train: softmax regression by full-batch gradient descent on /in/data/train.csv.
Writes /out/model.json (weights, classes, training accuracy per epoch). Pure Python."""

import csv
import json
import math
import os
from pathlib import Path

EPOCHS = int(os.environ.get("EPOCHS", "200"))
RATE = float(os.environ.get("LEARNING_RATE", "0.5"))


def load(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        next(r)
        rows = [[float(x) for x in row] for row in r]
    return [row[:-1] + [1.0] for row in rows], [int(row[-1]) for row in rows]


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


X, y = load("/in/data/train.csv")
scaling = json.loads(Path("/in/data/scaling.json").read_text())
k, d = len(scaling["classes"]), len(X[0])
W = [[0.0] * d for _ in range(k)]
history = []
for epoch in range(EPOCHS):
    grad = [[0.0] * d for _ in range(k)]
    correct = 0
    for xi, yi in zip(X, y):
        p = softmax([sum(w * x for w, x in zip(W[c], xi)) for c in range(k)])
        correct += max(range(k), key=lambda c: p[c]) == yi
        for c in range(k):
            g = p[c] - (1.0 if c == yi else 0.0)
            for j in range(d):
                grad[c][j] += g * xi[j]
    for c in range(k):
        for j in range(d):
            W[c][j] -= RATE * grad[c][j] / len(X)
    history.append(correct / len(X))
    if epoch % 50 == 0 or epoch == EPOCHS - 1:
        print(f"epoch {epoch:4d}  train accuracy {history[-1]:.3f}")
Path("/out/model.json").write_text(json.dumps({"weights": W, "classes": scaling["classes"], "train_accuracy": history}, indent=1))
