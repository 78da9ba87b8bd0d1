"""gdfast.dask: the same models as in memory, from dask collections, on dask's
threaded scheduler and on a real LocalCluster of worker processes."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import pandas as pd  # noqa: E402
from conftest import ctrl_c_after  # noqa: E402

import gdfast  # noqa: E402
from gdfast.dask import GDRegressor  # noqa: E402


def regression(n=20_000, p=6, k=1, dtype=np.float64, seed=0, decades=5, offset=5.0):
    """Features whose scales span ``decades`` powers of ten, offset from 0 by
    up to ``offset``."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, decades - 2, p)
    X = (rng.standard_normal((n, p)) * scales + rng.uniform(-offset, offset, p)).astype(dtype)
    W = rng.standard_normal((p, k)) / scales[:, None]
    y = X.astype(np.float64) @ W + 2.0 + 0.1 * rng.standard_normal((n, k))
    y = (y[:, 0] if k == 1 else y).astype(dtype)
    return X, y


def as_dask(X, y, w=None, rows=3_000):
    dX = da.from_array(X, chunks=(rows, X.shape[1]))
    dy = da.from_array(y, chunks=(rows, *y.shape[1:]))
    dw = None if w is None else da.from_array(w, chunks=rows)
    return dX, dy, dw


def assert_same_model(a, b, rtol):
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=rtol, atol=rtol * np.abs(a.coef_).max())
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=rtol, atol=rtol)
    # The stopping rule compares gradients near rounding level: another
    # summation order of the same sums may take one more step.
    assert abs(b.n_iter_ - a.n_iter_) <= 1
    assert b.coef_.dtype == a.coef_.dtype
    np.testing.assert_allclose(b.feature_mean_, a.feature_mean_, rtol=1e-12)
    np.testing.assert_allclose(b.feature_scale_, a.feature_scale_, rtol=1e-12)


PARAMS = [
    {},
    {"penalty": "l2", "alpha": 1e-3},
    {"penalty": "l1", "alpha": 1e-3},
    {"penalty": "elasticnet", "alpha": 1e-3, "l1_ratio": 0.3},
    {"fit_intercept": False},
    {"standardize": False, "max_iter": 3000},
    {"optimizer": "momentum", "momentum": 0.5, "max_iter": 300, "tol": None},
]


@pytest.mark.parametrize(
    "params", PARAMS, ids=lambda p: ",".join(map(str, p.values())) or "defaults"
)
def test_coefficients_of_the_in_memory_fit(scheduler, params):
    # Without standardization, badly scaled or offset features leave the
    # in-memory fit itself only 1e-8 from the optimum when it stops: centred
    # features within one decade.
    standardized = params.get("standardize", True)
    X, y = regression(decades=5 if standardized else 1, offset=5.0 if standardized else 0.0)
    dX, dy, _ = as_dask(X, y)
    a = gdfast.GDRegressor(**params).fit(X, y)
    b = GDRegressor(**params).fit(dX, dy)
    assert_same_model(a, b, 1e-9)
    # (Conjugate gradient's path may differ by rounding on the way; the end does not.)
    assert b.loss_curve_[-1] == pytest.approx(a.loss_curve_[-1], rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [1, 3])
def test_dtypes_targets_and_weights(scheduler, dtype, k):
    X, y = regression(dtype=dtype, k=k)
    w = np.random.default_rng(1).uniform(0, 3, X.shape[0]).astype(dtype)
    dX, dy, dw = as_dask(X, y, w)
    a = gdfast.GDRegressor().fit(X, y, sample_weight=w)
    b = GDRegressor().fit(dX, dy, sample_weight=dw)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    assert_same_model(a, b, tol)
    assert b.score(dX, dy, dw) == pytest.approx(a.score(X, y, w), rel=tol, abs=tol)


def test_predict_is_lazy_and_matches(scheduler):
    X, y = regression(k=2)
    dX, dy, _ = as_dask(X, y)
    b = GDRegressor().fit(dX, dy)
    pred = b.predict(dX)
    assert isinstance(pred, da.Array) and pred.chunks[0] == dX.chunks[0]
    np.testing.assert_allclose(pred.compute(), b.predict(X), rtol=1e-12)


def test_dataframes_with_unknown_chunk_sizes(scheduler):
    X, y = regression(p=4)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ddf = dd.from_pandas(frame, npartitions=5)
    dy = dd.from_pandas(pd.Series(y), npartitions=5)
    b = GDRegressor().fit(ddf, dy)
    a = gdfast.GDRegressor().fit(frame, y)
    assert list(b.feature_names_in_) == ["a", "b", "c", "d"]
    assert_same_model(a, b, 1e-9)
    # An array with unknown chunk sizes, as a dataframe gives without lengths.
    unknown = ddf.to_dask_array()
    assert np.isnan(unknown.chunks[0][0])
    np.testing.assert_allclose(b.predict(ddf).compute(), a.predict(frame), rtol=1e-12)
    c = GDRegressor().fit(unknown, dy.to_dask_array())
    np.testing.assert_allclose(c.coef_, a.coef_, rtol=1e-9)
    with pytest.raises(ValueError, match="feature names should match"):
        b.predict(ddf.rename(columns={"a": "z"}))


def test_blocks_split_along_columns_are_joined():
    X, y = regression(p=6)
    dX = da.from_array(X, chunks=(4_000, 2))
    b = GDRegressor().fit(dX, da.from_array(y, chunks=5_000))
    a = gdfast.GDRegressor().fit(X, y)
    assert_same_model(a, b, 1e-9)


def test_numpy_input_is_fitted_in_memory():
    X, y = regression()
    a = gdfast.GDRegressor().fit(X, y)
    b = GDRegressor().fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert isinstance(b.predict(X), np.ndarray)


def test_partial_fit_steps_as_in_memory(scheduler):
    X, y = regression()
    dX, dy, _ = as_dask(X, y)
    a, b = gdfast.GDRegressor(), GDRegressor()
    for _ in range(3):
        a.partial_fit(X, y)
        b.partial_fit(dX, dy)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9)
    assert b.t_ == a.t_


def test_warm_start_resumes(scheduler):
    X, y = regression()
    dX, dy, _ = as_dask(X, y)
    kw = {"warm_start": True, "optimizer": "sgd", "max_iter": 5, "tol": None}
    a, b = gdfast.GDRegressor(**kw), GDRegressor(**kw)
    for _ in range(2):
        a.fit(X, y)
        b.fit(dX, dy)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9)


@pytest.mark.parametrize(
    ("where", "message"),
    [("X", "Input X contains NaN"), ("y", "Input y contains NaN"), ("w", "sample_weight")],
)
def test_bad_values_in_a_block_name_the_problem(scheduler, where, message):
    X, y = regression()
    w = np.ones(X.shape[0])
    {"X": X, "y": y, "w": w}[where].reshape(-1)[12_345] = np.nan if where != "w" else -1.0
    dX, dy, dw = as_dask(X, y, w)
    model = GDRegressor()
    with pytest.raises(ValueError, match=message):
        model.fit(dX, dy, sample_weight=dw)
    assert not hasattr(model, "coef_")


def test_bad_shapes_and_dtypes():
    X, y = regression()
    dX, dy, _ = as_dask(X, y)
    with pytest.raises(ValueError, match="different numbers of rows"):
        GDRegressor().fit(dX, dy[:-1])
    with pytest.raises(TypeError, match="dtype"):
        GDRegressor().fit(dX.astype(complex), dy)
    with pytest.raises(ValueError, match="2-D"):
        GDRegressor().fit(dX[:, 0], dy)
    with pytest.raises(ValueError, match="features"):
        GDRegressor().fit(dX, dy).predict(dX[:, :3])
    frame = pd.DataFrame({"a": X[:100, 0], "b": pd.array(["x"] * 100, dtype="string")})
    with pytest.raises(TypeError, match=r"column 'b' has dtype string: .* take real numbers"):
        GDRegressor().fit(dd.from_pandas(frame, npartitions=2), da.from_array(y[:100], chunks=50))


@pytest.mark.parametrize(
    "params", [{}, {"loss": "huber"}, {"batch_size": 64}], ids=["co-moments", "passes", "rounds"]
)
def test_early_stopping_scores_held_out_rows_of_every_block(scheduler, params):
    X, y = regression(decades=1, offset=0.0)
    dX, dy, _ = as_dask(X, y)
    a = gdfast.GDRegressor(early_stopping=True, random_state=0, **params).fit(X, y)
    b = GDRegressor(early_stopping=True, random_state=0, **params).fit(dX, dy)
    assert len(b.validation_scores_) == b.n_iter_
    assert abs(b.score(X, y) - a.score(X, y)) < 1e-3
    # The last score is the returned model's R² on the held-out rows: each
    # block holds out ceil(0.1 * 3000) = 300 of its rows.
    held = b.validation_scores_[-1]
    assert 0.9 < held <= 1.0
    with pytest.raises(ValueError, match="empty set"):
        GDRegressor(early_stopping=True, validation_fraction=0.9999).fit(dX[:1], dy[:1])


PASSES = [
    {"loss": "huber"},
    {"loss": "epsilon_insensitive", "epsilon": 0.05},
    {"loss": "squared_epsilon_insensitive", "penalty": "elasticnet", "alpha": 1e-3},
    {"precompute": False},  # conjugate gradient over passes
    {"precompute": False, "optimizer": "momentum", "max_iter": 50, "tol": None},
]


@pytest.mark.parametrize("params", PASSES, ids=lambda p: ",".join(map(str, p.values())))
def test_passes_over_the_blocks_follow_the_in_memory_descent(scheduler, params):
    """Other losses and precompute=False: one distributed loss_grad per step;
    the engine's optimizer, step size and stopping rule on the client."""
    X, y = regression(n=12_000, k=1)
    w = np.random.default_rng(2).uniform(0.5, 2, X.shape[0])
    dX, dy, dw = as_dask(X, y, w)
    a = gdfast.GDRegressor(**params).fit(X, y, sample_weight=w)
    b = GDRegressor(**params).fit(dX, dy, sample_weight=dw)
    assert_same_model(a, b, 1e-9)
    assert b.learning_rate_ == pytest.approx(a.learning_rate_, rel=1e-9, nan_ok=True)


def test_a_loss_without_curvature_on_several_targets(scheduler):
    """The step size of a non-smooth loss comes from power iterations with
    passes of one output over the blocks, whatever the number of targets."""
    X, Y = regression(n=9_000, k=3)
    dX, dY, _ = as_dask(X, Y)
    params = {"loss": "epsilon_insensitive", "epsilon": 0.05, "max_iter": 300}
    a = gdfast.GDRegressor(**params).fit(X, Y)
    b = GDRegressor(**params).fit(dX, dY)
    assert_same_model(a, b, 1e-9)
    assert b.learning_rate_ == pytest.approx(a.learning_rate_, rel=1e-9)


def test_wide_data_uses_column_statistics(scheduler):
    """More features than the co-moments path takes: the standardization and
    the step size come from passes, as in memory."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1_500, 1_100)) * rng.uniform(0.5, 3, 1_100)
    y = X[:, :20] @ rng.standard_normal(20) + rng.standard_normal(1_500)
    dX, dy, _ = as_dask(X, y, rows=400)
    params = {"penalty": "l2", "alpha": 0.1, "loss": "huber", "max_iter": 200}
    a = gdfast.GDRegressor(**params).fit(X, y)
    b = GDRegressor(**params).fit(dX, dy)
    assert_same_model(a, b, 1e-8)


def test_nan_found_on_the_passes_path(scheduler):
    X, y = regression()
    X[7_777, 2] = np.inf
    dX, dy, _ = as_dask(X, y)
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        GDRegressor(loss="huber").fit(dX, dy)


def _slowly(block, seconds):
    time.sleep(seconds)
    return block


def slow_blocks(X, y, rows: int, seconds: float):
    """X and y in blocks of ``rows`` whose X blocks each take ``seconds`` to compute."""
    dX = da.from_array(X, chunks=(rows, X.shape[1])).map_blocks(_slowly, seconds)
    return dX, da.from_array(y, chunks=rows)


def test_a_worker_lost_mid_fit_gives_the_same_answer(dask_client):
    """A worker killed while the blocks are computed: dask recomputes its
    blocks elsewhere and the fit returns the model of an undisturbed fit."""
    X, y = regression(n=40_000)
    dX, dy = slow_blocks(X, y, rows=2_000, seconds=0.3)
    reference = gdfast.GDRegressor().fit(X, y)
    pids = list(dask_client.run(os.getpid).values())
    killer = threading.Timer(1.0, lambda: os.kill(pids[0], 9))
    killer.start()
    with dask_client.as_current():
        model = GDRegressor().fit(dX, dy)
    killer.join()
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9)
    dask_client.wait_for_workers(2, timeout=60)


def test_in_memory_estimators_under_dask_ml_incremental(dask_client):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = regression(decades=1, offset=0.0)
    dX, dy, _ = as_dask(X, y)
    with dask_client.as_current():
        inc = wrappers.Incremental(gdfast.SGDRegressor(random_state=0), shuffle_blocks=False)
        inc.fit(dX, dy)
    manual = gdfast.SGDRegressor(random_state=0)
    for start in range(0, X.shape[0], 3_000):
        manual.partial_fit(X[start : start + 3_000], y[start : start + 3_000])
    np.testing.assert_allclose(inc.estimator_.coef_, manual.coef_, rtol=1e-12)


def test_ctrl_c_on_the_client_cancels_the_fit(dask_client):
    """A KeyboardInterrupt while the blocks compute ends the fit at once (the
    model stays unfitted) and the cluster drops the fit's tasks."""
    X, y = regression(n=40_000)
    dX, dy = slow_blocks(X, y, rows=1_000, seconds=0.5)
    model = GDRegressor(loss="huber")
    with dask_client.as_current(), ctrl_c_after(1.0, real_signal=True) as ctrl_c:
        model.fit(dX, dy)
    assert ctrl_c["stopped"] - ctrl_c["at"] < 9  # 40 blocks of 0.5 s on 2 workers: 10 s
    assert not hasattr(model, "coef_")
    deadline = time.monotonic() + 10
    while any(dask_client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(dask_client.processing().values())


@pytest.mark.parametrize(
    "params", [{}, {"loss": "huber"}, {"batch_size": 64}], ids=["co-moments", "passes", "rounds"]
)
def test_an_empty_block_is_left_out(params):
    X, y = regression(n=9_000)
    rows = (4_000, 0, 5_000)
    dX = da.from_array(X, chunks=(rows, X.shape[1]))
    dy = da.from_array(y, chunks=(rows,))
    assert 0 in dX.chunks[0]
    with dask.config.set(scheduler="threads"):
        b = GDRegressor(random_state=0, **params).fit(dX, dy)
        pred = b.predict(dX).compute()
    a = gdfast.GDRegressor(random_state=0, **params).fit(X, y)
    if "batch_size" in params:
        assert abs(b.score(X, y) - a.score(X, y)) < 1e-3
    else:
        np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9)
    np.testing.assert_allclose(pred, b.predict(X), rtol=1e-12)
