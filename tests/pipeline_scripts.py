"""The prepare → train → evaluate task scripts the Docker and Kubernetes chain tests both run."""

PREPARE = """
import csv, numpy as np
rows = list(csv.reader(open('/in/points.csv')))[1:]
xy = np.array(rows, dtype=float)
xy[:, 0] = (xy[:, 0] - xy[:, 0].mean()) / xy[:, 0].std()
np.save('/out/xy.npy', xy)
print(f'prepare: {len(xy)} rows')
"""

TRAIN = """
import json, numpy as np
xy = np.load('/data/xy.npy')
a, b = np.polyfit(xy[:, 0], xy[:, 1], 1)
json.dump({'a': a, 'b': b}, open('/model/model.json', 'w'))
print(f'train: a={a:.3f} b={b:.3f}')
"""

EVALUATE = """
import json, numpy as np
xy = np.load('/data/xy.npy')
m = json.load(open('/model/model.json'))
mse = float(np.mean((m['a'] * xy[:, 0] + m['b'] - xy[:, 1]) ** 2))
json.dump({'mse': mse, 'n': len(xy)}, open('/metrics/metrics.json', 'w'))
print(f'evaluate: mse={mse:.6f}')
"""
