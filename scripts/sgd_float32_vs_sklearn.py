"""How far float32 SGDRegressor models are from scikit-learn's (which keeps
float32 weights; gdfast accumulates in float64): the relative max |coef
difference| over a grid of losses, penalties and schedules, dense and CSR.

Run: python scripts/sgd_float32_vs_sklearn.py
"""

import itertools
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import SGDRegressor as SkSGDRegressor

from gdfast import SGDRegressor

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
gaps: dict[str, list[float]] = {"dense": [], "csr": []}
for seed in range(3):
    X = rng.standard_normal((500, 6)) * (rng.random((500, 6)) < 0.7)
    y = (X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(500)).astype(np.float32)
    grid = itertools.product(
        ["squared_error", "huber", "epsilon_insensitive"],
        ["l2", "l1", "elasticnet"],
        ["invscaling", "constant", "optimal", "adaptive"],
    )
    for loss, penalty, schedule in grid:
        params = dict(loss=loss, penalty=penalty, learning_rate=schedule, random_state=seed)
        for fmt in gaps:
            A = X.astype(np.float32)
            A = sp.csr_matrix(A) if fmt == "csr" else A
            ref = SkSGDRegressor(**params).fit(A, y).coef_
            ours = SGDRegressor(**params).fit(A, y).coef_
            gaps[fmt].append(np.max(np.abs(ref - ours)) / max(1e-30, np.max(np.abs(ref))))
for fmt, values in gaps.items():
    v = np.array(values)
    print(f"{fmt}: {len(v)} fits, median {np.median(v):.1e}, "
          f"90th percentile {np.quantile(v, 0.9):.1e}, max {v.max():.1e}")  # fmt: skip
