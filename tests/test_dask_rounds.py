"""gdfast.dask's local epochs with model averaging (SGDRegressor, mini-batch
GDRegressor): the in-memory model's R² on well-conditioned data, on dask's
threaded scheduler and on a LocalCluster of worker processes."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import gdfast  # noqa: E402
from gdfast.dask import GDRegressor, SGDRegressor  # noqa: E402


def well_conditioned(n=40_000, p=8, seed=0, spread=1.0):
    """Features of unit scale (times up to ``spread``), offset, and a linear target."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(1.0, spread, p) + 2.0
    y = X @ rng.standard_normal(p) + 1.0 + 0.5 * rng.standard_normal(n)
    return X, y


def blocks(X, y, w=None, rows=5_000):
    dw = None if w is None else da.from_array(w, chunks=rows)
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows), dw


SGD = [
    {},
    {"average": True},
    {"batch_size": 32},
    {"learning_rate": "optimal"},
    {"learning_rate": "adaptive"},
    {"loss": "huber", "penalty": "elasticnet"},
]


@pytest.mark.parametrize("params", SGD, ids=lambda p: ",".join(map(str, p.values())) or "defaults")
def test_sgd_reaches_the_in_memory_r2(scheduler, params):
    X, y = well_conditioned()
    X -= 2.0  # SGDRegressor is not standardized: centred unit features
    dX, dy, _ = blocks(X, y)
    a = gdfast.SGDRegressor(random_state=0, **params).fit(X, y)
    b = SGDRegressor(random_state=0, **params).fit(dX, dy)
    assert abs(b.score(X, y) - a.score(X, y)) < 1e-3
    assert b.t_ == 1 + b.n_iter_ * X.shape[0]
    assert isinstance(b.coef_, np.ndarray) and b.coef_.dtype == a.coef_.dtype
    assert len(b.loss_curve_) == b.n_iter_


GD = [
    {"batch_size": 32},
    {"batch_size": 256, "optimizer": "adam"},
    {"batch_size": 64, "loss": "huber", "penalty": "l2", "alpha": 1e-4},
    {"batch_size": 128, "average": 10},
]


@pytest.mark.parametrize("params", GD, ids=lambda p: ",".join(map(str, p.values())))
def test_mini_batch_gd_reaches_the_in_memory_r2(scheduler, params):
    X, y = well_conditioned(spread=10.0)  # GDRegressor standardizes
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    dX, dy, dw = blocks(X, y, w)
    a = gdfast.GDRegressor(random_state=0, **params).fit(X, y, sample_weight=w)
    b = GDRegressor(random_state=0, **params).fit(dX, dy, sample_weight=dw)
    assert abs(b.score(X, y, w) - a.score(X, y, w)) < 1e-3
    # The standardization of all rows, from one distributed pass.
    np.testing.assert_allclose(b.feature_mean_, a.feature_mean_, rtol=1e-12)
    np.testing.assert_allclose(b.feature_scale_, a.feature_scale_, rtol=1e-12)


def test_integer_random_state_repeats_the_fit(scheduler):
    X, y = well_conditioned()
    dX, dy, _ = blocks(X - 2.0, y)
    a = SGDRegressor(random_state=3, max_iter=5, tol=None).fit(dX, dy)
    b = SGDRegressor(random_state=3, max_iter=5, tol=None).fit(dX, dy)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_partial_fit_and_warm_start_continue(scheduler):
    X, y = well_conditioned()
    dX, dy, _ = blocks(X - 2.0, y)
    model = SGDRegressor(random_state=0)
    model.partial_fit(dX, dy)
    t1 = model.t_
    model.partial_fit(dX, dy)
    assert model.t_ == t1 + X.shape[0] and model.n_iter_ == 1
    warm = SGDRegressor(random_state=0, warm_start=True, max_iter=3, tol=None).fit(dX, dy)
    coef = warm.coef_.copy()
    warm.fit(dX, dy)
    assert not np.array_equal(coef, warm.coef_)
    assert warm.t_ == 1 + 3 * X.shape[0]  # fit restarts the schedule, as in memory
    start = SGDRegressor(random_state=0, max_iter=1, tol=None)
    start.fit(dX, dy, coef_init=np.ones(X.shape[1]), intercept_init=[5.0])
    assert start.n_iter_ == 1


def test_bad_values_and_shapes(scheduler):
    X, y = well_conditioned()
    X[123, 4] = np.nan
    dX, dy, _ = blocks(X, y)
    model = SGDRegressor()
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(dX, dy)
    assert getattr(model, "coef_", None) is None
    with pytest.raises(ValueError, match="1d array"):
        SGDRegressor().fit(dX, da.stack([dy, dy], axis=1))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GDRegressor(batch_size=32).fit(dX, dy)


def test_sgd_early_stopping_on_the_averaged_model(scheduler):
    X, y = well_conditioned()
    dX, dy, _ = blocks(X - 2.0, y)
    a = gdfast.SGDRegressor(random_state=0, early_stopping=True).fit(X - 2.0, y)
    b = SGDRegressor(random_state=0, early_stopping=True).fit(dX, dy)
    assert len(b.validation_scores_) == b.n_iter_
    assert abs(b.score(X - 2.0, y) - a.score(X - 2.0, y)) < 1e-3
