"""Long-running services: concurrency, determinism, memory, Ctrl-C."""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ctrl_c_after, make_regression_data
from sklearn.exceptions import ConvergenceWarning

from gdfast import (
    DivergenceError,
    GDClassifier,
    GDRegressor,
    SGDClassifier,
    SGDRegressor,
    kernels,
)

# warnings.catch_warnings is not thread-safe: filter for the whole module instead.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def job(seed: int):
    """A mix of fits, predictions and kernel calls on data of its own."""
    X, y, coef = make_regression_data(n=3000, p=8, seed=seed)
    gd = GDRegressor(batch_size=64, optimizer="adam", random_state=seed, max_iter=20).fit(X, y)
    full = GDRegressor(precompute=False, max_iter=50).fit(X, y)
    sgd = SGDRegressor(random_state=seed, max_iter=10).fit(X, y)
    return (
        gd.coef_,
        gd.predict(X),
        full.coef_,
        sgd.coef_,
        sgd.predict(X),
        *kernels.loss_grad(X, y, coef, 0.1, loss="huber"),
    )


def assert_same(a, b):
    for u, v in zip(a, b, strict=True):
        assert np.array_equal(np.asarray(u), np.asarray(v))


def test_eight_threads_get_the_sequential_results():
    sequential = [job(seed) for seed in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(job, range(8)))
    for s, c in zip(sequential, concurrent, strict=True):
        assert_same(s, c)


def test_the_gil_is_released_during_fits():
    # While a long fit runs in a worker thread, the main thread keeps running
    # Python code: the worker holds no GIL.
    X, y, _ = make_regression_data(n=200_000, p=16, seed=1)
    model = SGDRegressor(max_iter=30, tol=None, random_state=0)
    done = threading.Event()

    def fit():
        model.fit(X, y)
        done.set()

    worker = threading.Thread(target=fit)
    worker.start()
    ticks = 0
    while not done.is_set():
        ticks += 1  # pure Python work, needs the GIL
        time.sleep(0)
    worker.join()
    assert ticks > 100


@pytest.mark.parametrize(
    "make",
    [
        lambda j: SGDRegressor(random_state=3, n_jobs=j),
        lambda j: SGDRegressor(random_state=3, batch_size=256, n_jobs=j),
        lambda j: GDRegressor(random_state=3, batch_size=512, n_jobs=j),
        lambda j: GDRegressor(random_state=3, precompute=False, max_iter=100, n_jobs=j),
        lambda j: GDRegressor(random_state=3, n_jobs=j),
    ],
    ids=["sgd", "sgd-batch", "gd-batch", "gd-full", "gd-gram"],
)
def test_same_random_state_gives_bitwise_identical_models(make):
    X, y, _ = make_regression_data(n=40_000, p=10, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = [make(j).fit(X, y) for j in (1, 1, 2, -1)]
    for m in models[1:]:
        assert np.array_equal(m.coef_, models[0].coef_)
        assert np.array_equal(np.ravel(m.intercept_), np.ravel(models[0].intercept_))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc (Linux)")
@pytest.mark.skipif(
    "libasan" in os.environ.get("LD_PRELOAD", ""),
    reason="AddressSanitizer quarantines freed memory: resident size grows by design",
)
def test_ten_thousand_fit_predict_cycles_leave_memory_flat():
    X, y, coef = make_regression_data(n=40, p=4, seed=5)
    Xs = X.astype(np.float32)
    gd = GDRegressor(max_iter=3, tol=None)
    sgd = SGDRegressor(max_iter=2, tol=None, random_state=0)

    def cycle():
        gd.fit(X, y).predict(X)
        sgd.partial_fit(Xs, y).predict(Xs)
        kernels.loss_grad(X, y, coef, 0.0)

    for _ in range(1000):  # warm-up: caches, allocator pools, lazily built objects
        cycle()
    gc.collect()
    before = rss_bytes()
    for _ in range(9000):
        cycle()
    gc.collect()
    growth = rss_bytes() - before
    # A leak of even 200 bytes per cycle would exceed this.
    assert growth < 2_000_000, f"resident memory grew by {growth} bytes over 9,000 cycles"


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGDRegressor(max_iter=100_000, tol=None, random_state=0),
        lambda: GDRegressor(batch_size=32, max_iter=100_000, tol=None, random_state=0),
        # not the defaults: conjugate gradient would end at the optimum long before
        lambda: GDRegressor(precompute=False, optimizer="momentum", max_iter=1_000_000, tol=None),
    ],
    ids=["sgd", "gd-batch", "gd-full"],
)
def test_ctrl_c_stops_a_long_fit_within_a_second_and_the_estimator_survives(make):
    X, y, _ = make_regression_data(n=100_000, p=16, seed=6)
    model = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(max_iter=2).fit(X[:500], y[:500])
    coef_before = model.coef_.copy()
    model.set_params(**make().get_params())  # back to the long run
    with ctrl_c_after(0.3) as ctrl_c:
        model.fit(X, y)  # would run for minutes
    # A responsiveness bound, not a speed measurement: the loop polls for
    # signals between epochs and every few thousand updates.
    assert ctrl_c["stopped"] - ctrl_c["at"] < 1.0
    # The interrupted fit changed nothing, and the estimator still works.
    assert np.array_equal(model.coef_, coef_before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(max_iter=2).fit(X[:500], y[:500])
    assert np.isfinite(model.predict(X[:10])).all()


@pytest.mark.parametrize("make", [SGDClassifier, GDClassifier])
@pytest.mark.parametrize("weight", [-1.0, -1e-3, np.nan, np.inf])
def test_class_weights_must_be_finite_and_non_negative(make, weight):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match=r"class_weight must be finite and >= 0 .* for class 0"):
        make(class_weight={0: weight, 1: 1.0}).fit(X, y)


def test_all_zero_class_weights_fit_what_scikit_learn_fits():
    # Every sample of weight 0: nothing to learn; scikit-learn returns zeros.
    from sklearn.linear_model import SGDClassifier as SkSGDClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(int)
    ours = SGDClassifier(class_weight={0: 0, 1: 0}, random_state=0).fit(X, y)
    theirs = SkSGDClassifier(class_weight={0: 0, 1: 0}, random_state=0).fit(X, y)
    np.testing.assert_array_equal(ours.coef_, theirs.coef_)
    np.testing.assert_array_equal(ours.intercept_, theirs.intercept_)


@pytest.mark.parametrize("make", [GDRegressor, GDClassifier])
def test_warm_start_on_data_of_another_shape_says_so(make):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    model = make(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start=True resumes the previous fit"):
        model.fit(X[:, :3], y)


@pytest.mark.parametrize("make", [SGDRegressor, GDRegressor, GDClassifier])
def test_predict_with_coefficients_changed_after_fit_says_so(make):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] > 0).astype(int)
    model = make().fit(X, y)
    model.coef_ = np.zeros(3)
    with pytest.raises(ValueError, match="do not describe a model of X's 4 features"):
        model.predict(X)


@pytest.mark.parametrize("make", [GDClassifier, GDRegressor])
def test_a_full_batch_fit_that_ends_above_its_best_objective_warns(make):
    # A fixed momentum of 0.99 overshoots: the objective falls, then rises for
    # epochs before the stopping rule ends the fit. The last model is returned,
    # and the warning says it is worse than one the fit passed.
    if make is GDClassifier:
        rng = np.random.RandomState(0)
        X = rng.randn(50, 4)
        target, kwargs = (X @ [1.0, 2.0, -1.0, 0.5] > 0).astype(int), {}
    else:
        rng = np.random.RandomState(1)
        X = rng.randn(5000, 10)
        target, kwargs = X @ rng.randn(10) + rng.randn(5000), {"loss": "huber"}
    with pytest.warns(ConvergenceWarning, match="ended at .* above the .* it reached at epoch"):
        model = make(momentum=0.99, **kwargs).fit(X, target)
    assert model.loss_curve_[-1] > min(model.loss_curve_) * 1.001
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the defaults descend
        make(**kwargs).fit(X, target)


@pytest.mark.parametrize("make", [GDRegressor, GDClassifier])
def test_features_too_small_to_square_warn_instead_of_vanishing(make):
    # Values of 1e-200 have squares that underflow to 0: their spread reads
    # as 0, so the fit cannot but treat them as constant. It says so.
    rng = np.random.RandomState(0)
    X = rng.randn(50, 4)
    y = X @ [1.0, 2.0, -1.0, 0.5]
    target = (y > 0).astype(int) if make is GDClassifier else y
    tiny = X.copy()
    tiny[:, 2] *= 1e-200
    with pytest.warns(UserWarning, match=r"feature\(s\) 2 hold values of about .* underflow"):
        model = make().fit(tiny, target)
    assert model.feature_scale_[2] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        make().fit(X * 1e-100, target)  # small, but their squares are still normal numbers


def test_tiny_float32_features_say_their_coefficients_overflow_float32():
    rng = np.random.RandomState(0)
    X = rng.randn(50, 4)
    y = X @ [1.0, 2.0, -1.0, 0.5]
    with pytest.raises(DivergenceError, match=r"tiny for float32 .* Pass float64 X"):
        GDRegressor().fit((X * 1e-40).astype(np.float32), y)
    GDRegressor().fit(X * 1e-40, y)  # in float64 the same features fit
