"""The distributed workloads (``gdfast bench --only dask``, ``benchmarks/``):
gdfast.dask against dask-ml on the same LocalCluster of worker processes, the
data generated on the workers and persisted there before the race."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np

from gdfast._bench import Contestant, Workload


def _data(client, n: int, p: int, rows: int):
    """X (n x p, standard normal) and y = X w + 0.1 noise, made and persisted
    on the workers of ``client``."""
    import dask.array as da
    from distributed import wait

    X = da.random.RandomState(0).standard_normal((n, p), chunks=(rows, p))
    w = da.from_array(np.linspace(-1.0, 1.0, p))
    y = X @ w + 0.1 * da.random.RandomState(1).standard_normal(n, chunks=rows)
    X, y = client.persist([X, y])
    with client.as_current():
        wait([X, y])
    return X, y


def _labels(client, X, p: int):
    """Labels 0/1 of a noisy linear score of X, made and persisted on the workers."""
    import dask.array as da
    from distributed import wait

    w = da.from_array(np.linspace(-1.0, 1.0, p))
    noise = da.random.RandomState(2).logistic(size=X.shape[0], chunks=X.chunks[0])
    y = ((X @ w + noise) > 0).astype(np.int64)
    (y,) = client.persist([y])
    with client.as_current():
        wait([y])
    return y


def _logistic_objective(X, y, alpha: float):
    """The objective of LogisticRegression(C = 1 / (alpha n)) over n rows, as a
    mean: mean log-loss + alpha / 2 ||w||^2 (the intercept not penalized)."""

    def note(model) -> str:
        import dask.array as da

        coef = np.ravel(model.coef_)
        margin = (X @ coef + np.ravel(model.intercept_)[0]) * (2 * y - 1)
        loss = float(da.logaddexp(0.0, -margin).mean().compute())
        return f"objective {loss + 0.5 * alpha * float(coef @ coef):.12g}"

    return note


def _mse(X, y):
    def note(model) -> str:
        mse = float(((model.predict(X) - y) ** 2).mean().compute())
        return f"MSE {mse:.9g}"

    return note


def _on(client, fit):
    def run():
        with client.as_current(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit()

    return run


@contextlib.contextmanager
def dask_workloads(quick: bool = False) -> Iterator[list[Workload]]:
    """The distributed workloads, with their clusters running until the block ends.

    D1: gdfast.dask.GDRegressor against dask-ml's LinearRegression (admm,
    lbfgs) on 2 worker processes; D2: the same fit in memory (X gathered on
    the client first: the cost of distribution); D3: 1 against 2 workers; D4:
    gdfast.dask.GDClassifier against dask-ml's LogisticRegression (lbfgs, admm)
    at C = 1.
    """
    from dask_ml.linear_model import LinearRegression as DaskMLLinearRegression
    from dask_ml.linear_model import LogisticRegression as DaskMLLogisticRegression
    from distributed import Client, LocalCluster

    import gdfast
    from gdfast import dask as gdask

    n, p = (400_000, 32) if quick else (2_000_000, 32)
    rows = n // 8
    options = {"threads_per_worker": 1, "processes": True, "dashboard_address": ":0"}
    with (
        LocalCluster(n_workers=2, **options) as two,
        Client(two, set_as_default=False) as c2,
        LocalCluster(n_workers=1, **options) as one,
        Client(one, set_as_default=False) as c1,
    ):
        X, y = _data(c2, n, p, rows)
        X1, y1 = _data(c1, n, p, rows)
        with c2.as_current():
            Xm, ym = X.compute(), y.compute()
        size = f"{n:,} x {p} float64 in 8 blocks"
        quality = _mse_on(c2, _mse(X, y))
        labels = _labels(c2, X, p)
        alpha = 1.0 / n  # C = 1
        objective = _mse_on(c2, _logistic_objective(X, labels, alpha))
        yield [
            Workload(
                "D1",
                f"D1 least squares on a LocalCluster of 2 worker processes, {size}",
                "dask-ml LinearRegression(solver='admm')",
                [
                    Contestant(
                        "dask-ml LinearRegression(solver='admm')",
                        _on(c2, lambda: DaskMLLinearRegression(solver="admm").fit(X, y)),
                        quality,
                    ),
                    Contestant(
                        "dask-ml LinearRegression(solver='lbfgs')",
                        _on(c2, lambda: DaskMLLinearRegression(solver="lbfgs").fit(X, y)),
                        quality,
                    ),
                    Contestant(
                        "gdfast.dask GDRegressor()",
                        _on(c2, lambda: gdask.GDRegressor().fit(X, y)),
                        quality,
                    ),
                ],
                rounds=3,
                settle=0.0,
            ),
            Workload(
                "D2",
                f"D2 the cost of distribution: the same fit, {size}",
                "gdfast GDRegressor() in memory",
                [
                    Contestant(
                        "gdfast GDRegressor() in memory",
                        lambda: gdfast.GDRegressor().fit(Xm, ym),
                        quality,
                    ),
                    Contestant(
                        "gdfast.dask GDRegressor(), 2 workers",
                        _on(c2, lambda: gdask.GDRegressor().fit(X, y)),
                        quality,
                    ),
                ],
                rounds=5,
                settle=0.0,
            ),
            Workload(
                "D3",
                f"D3 gdfast.dask GDRegressor() on 1 and 2 worker processes, {size}",
                "1 worker",
                [
                    Contestant("1 worker", _on(c1, lambda: gdask.GDRegressor().fit(X1, y1))),
                    Contestant("2 workers", _on(c2, lambda: gdask.GDRegressor().fit(X, y))),
                ],
                rounds=5,
                settle=0.0,
            ),
            Workload(
                "D4",
                f"D4 logistic regression (C=1) on a LocalCluster of 2 worker processes, {size}",
                "dask-ml LogisticRegression(solver='lbfgs')",
                [
                    Contestant(
                        "dask-ml LogisticRegression(solver='lbfgs')",
                        _on(c2, lambda: DaskMLLogisticRegression(solver="lbfgs").fit(X, labels)),
                        objective,
                    ),
                    Contestant(
                        "dask-ml LogisticRegression(solver='admm')",
                        _on(c2, lambda: DaskMLLogisticRegression(solver="admm").fit(X, labels)),
                        objective,
                    ),
                    Contestant(
                        "gdfast.dask GDClassifier(alpha=1/n, standardize=False)",
                        _on(
                            c2,
                            lambda: gdask.GDClassifier(alpha=alpha, standardize=False).fit(
                                X, labels
                            ),
                        ),
                        objective,
                    ),
                ],
                rounds=3,
                settle=0.0,
            ),
        ]


def _mse_on(client, note):
    def on(model) -> str:
        with client.as_current():
            return note(model)

    return on
