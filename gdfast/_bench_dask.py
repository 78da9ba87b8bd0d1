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
    the client first: the cost of distribution); D3: 1 against 2 workers.
    """
    from dask_ml.linear_model import LinearRegression as DaskMLLinearRegression
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
        ]


def _mse_on(client, note):
    def on(model) -> str:
        with client.as_current():
            return note(model)

    return on
