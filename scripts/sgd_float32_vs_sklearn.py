"""How far float32 SGDRegressor models are from scikit-learn's (which keeps float32
weights; gdfast accumulates in float64): relative max |coef difference| over a
grid of losses, penalties and schedules, dense and CSR. Run: python scripts/sgd_float32_vs_sklearn.py"""
import numpy as np, scipy.sparse as sp, warnings, itertools
from sklearn.linear_model import SGDRegressor as Sk
from gdfast import SGDRegressor
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
res = {"dense": [], "csr": []}
for seed in range(3):
    X = rng.standard_normal((500, 6)) * (rng.random((500, 6)) < 0.7); y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(500)
    for loss, pen, lr in itertools.product(["squared_error", "huber", "epsilon_insensitive"], ["l2", "l1", "elasticnet"], ["invscaling", "constant", "optimal", "adaptive"]):
        p = dict(loss=loss, penalty=pen, learning_rate=lr, random_state=seed, eta0=0.01)
        for fmt in ("dense", "csr"):
            A = X.astype(np.float32); A = sp.csr_matrix(A) if fmt == "csr" else A
            a = Sk(**p).fit(A, y.astype(np.float32)); b = SGDRegressor(**p).fit(A, y.astype(np.float32))
            res[fmt].append(np.max(np.abs(a.coef_ - b.coef_)) / max(1e-30, np.max(np.abs(a.coef_))))
for fmt, v in res.items():
    v = np.array(v); print(fmt, len(v), "median %.1e  p90 %.1e  max %.1e" % (np.median(v), np.quantile(v, 0.9), v.max()))
