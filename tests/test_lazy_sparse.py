"""Mini-batch descent on CSR data: steps that touch only the batch's coefficients.

sgd, momentum and Nesterov steps on CSR rows keep the coefficients a batch does
not read in a shared linear form instead of updating them all. These tests hold
those fits to the reference and to the same fit on the dense matrix: same
iterates, for every optimizer it covers, with and without standardization and an
intercept, many outputs, sample weights, float32, classifiers, warm starts and
the long runs in which the form is folded back many times.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import ctrl_c_after
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDRegressor as SkSGDRegressor

from gdfast import (
    DivergenceError,
    GDClassifier,
    GDRegressor,
    SGDClassifier,
    SGDRegressor,
    reference,
)

LINEAR = ["sgd", "momentum", "nesterov"]


def sparse_problem(n=300, p=60, k=None, density=0.08, seed=0, offset=1.0, dtype=np.float64):
    """A CSR design whose columns have nonzero means and unequal scales (so that
    standardization centers and rescales), and a linear target with noise."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=seed, format="csr")
    X.data = (X.data * 3 + offset) * rng.choice([0.2, 1.0, 3.0], size=X.nnz)
    shape = (p,) if k is None else (p, k)
    y = X @ rng.standard_normal(shape) + 0.5 + 0.1 * rng.standard_normal(n if k is None else (n, k))
    return X.astype(dtype), np.asarray(y)


@pytest.mark.parametrize("optimizer", LINEAR)
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("penalty", [None, "l2"])
def test_sparse_mini_batch_matches_reference(optimizer, standardize, fit_intercept, penalty):
    X, y = sparse_problem()
    common = dict(optimizer=optimizer, batch_size=16, penalty=penalty, alpha=0.01)
    model = GDRegressor(
        learning_rate="constant",
        eta0=0.003,
        momentum=0.9,
        max_iter=4,
        tol=None,
        shuffle=False,
        standardize=standardize,
        fit_intercept=fit_intercept,
        **common,
    ).fit(X, y)
    coef, b, objectives = reference.descent(
        X.toarray(),
        y,
        learning_rate=0.003,
        epochs=4,
        standardize=standardize,
        fit_intercept=fit_intercept,
        **common,
    )
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9, atol=1e-11)
    assert model.intercept_ == pytest.approx(b, rel=1e-9, abs=1e-11)
    np.testing.assert_allclose(model.loss_curve_, objectives, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov"])
def test_sparse_mini_batch_multi_output_weighted(dtype, optimizer):
    X, Y = sparse_problem(k=3, dtype=dtype, seed=4)
    sw = np.random.default_rng(4).uniform(0, 2, X.shape[0])
    sw[::7] = 0.0  # zero weights too
    params = dict(
        optimizer=optimizer,
        learning_rate="constant",
        eta0=0.01,
        max_iter=5,
        tol=None,
        shuffle=False,
    )
    model = GDRegressor(batch_size=40, **params).fit(X, Y, sample_weight=sw)
    coef, b, _ = reference.descent(
        X.toarray().astype(np.float64),
        Y,
        optimizer=optimizer,
        learning_rate=0.01,
        epochs=5,
        batch_size=40,
        standardize=True,
        sample_weight=sw,
    )
    tol = 1e-9 if dtype == np.float64 else 2e-4
    assert model.coef_.shape == (3, X.shape[1]) and model.coef_.dtype == dtype
    np.testing.assert_allclose(model.coef_, coef, rtol=tol, atol=tol * np.abs(coef).max())
    np.testing.assert_allclose(model.intercept_, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("momentum", [0.5, 0.9, 0.99])
def test_long_runs_fold_the_shared_form_without_drift(momentum):
    """Thousands of tiny batches: the shared form is folded back many times (on a
    schedule and whenever momentum's decaying mode makes it ill-conditioned); the
    result stays the dense fit's."""
    X, y = sparse_problem(n=400, p=200, density=0.03, seed=5)
    for optimizer in ("momentum", "nesterov"):
        params = dict(
            optimizer=optimizer,
            momentum=momentum,
            batch_size=3,
            learning_rate="invscaling",
            eta0=0.02 * (1.0 - momentum),  # the same effective step for every momentum
            power_t=0.25,
            penalty="l2",
            alpha=1e-3,
            max_iter=12,
            tol=None,
            random_state=0,
        )
        sparse = GDRegressor(**params).fit(X, y)
        dense = GDRegressor(**params).fit(X.toarray(), y)
        np.testing.assert_allclose(
            sparse.coef_, dense.coef_, rtol=1e-8, atol=1e-10 * np.abs(dense.coef_).max()
        )
        assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-8)
        np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("loss", ["log_loss", "hinge", "modified_huber"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_classifier_sparse_mini_batch_matches_dense(loss, n_classes):
    X, _ = sparse_problem(n=400, p=50, seed=6)
    scores = X @ np.random.default_rng(6).standard_normal((50, n_classes))
    labels = np.argmax(scores, axis=1)
    params = dict(loss=loss, batch_size=32, max_iter=6, tol=None, random_state=0)
    sparse = GDClassifier(**params).fit(X, labels)
    dense = GDClassifier(**params).fit(X.toarray(), labels)
    np.testing.assert_allclose(
        sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12 * np.abs(dense.coef_).max()
    )
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))


def test_default_regressor_and_sgd_mini_batches_match_dense():
    """GDRegressor's defaults (Nesterov, step from the data, standardization) and
    SGDRegressor's summed mini-batch steps (no intercept: on sparse data
    scikit-learn's intercept steps are damped) take the dense fit's steps."""
    X, y = sparse_problem(n=500, p=80, seed=7)
    for make in (
        lambda: GDRegressor(batch_size=20, max_iter=8, tol=None, random_state=0),
        lambda: SGDRegressor(
            batch_size=10, max_iter=5, tol=None, fit_intercept=False, random_state=0
        ),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sparse, dense = make().fit(X, y), make().fit(X.toarray(), y)
        np.testing.assert_allclose(
            sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12 * np.abs(dense.coef_).max()
        )
        assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-9, abs=1e-12)


def test_partial_fit_resumes_the_same_steps():
    """partial_fit carries the coefficients and velocities out and back in."""
    X, y = sparse_problem(seed=8)
    params = dict(
        optimizer="momentum", batch_size=25, learning_rate="constant", eta0=0.005, random_state=0
    )
    sparse, dense = GDRegressor(**params), GDRegressor(**params)
    for _ in range(3):
        sparse.partial_fit(X, y)
        dense.partial_fit(X.toarray(), y)
    np.testing.assert_allclose(
        sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12 * np.abs(dense.coef_).max()
    )
    assert sparse.intercept_ == pytest.approx(dense.intercept_, rel=1e-9)


def test_sparse_mini_batch_is_identical_across_threads():
    X, y = sparse_problem(n=2000, p=300, seed=9)
    fits = [
        GDRegressor(batch_size=64, max_iter=3, tol=None, random_state=0, n_jobs=n).fit(X, y)
        for n in (1, 2)
    ]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    assert fits[0].intercept_ == fits[1].intercept_


# 70,000 rows: with n_jobs > 1 a second thread shuffles the order and copies
# each batch's rows, targets and weights ahead of the epoch (staging), which then
# reads the copies: the same values in the same order, so the same model.
STAGED_ROWS = 70_000


@pytest.mark.parametrize(
    "case", ["standardized_momentum", "raw_sgd", "weighted_multi_output_float32", "in_order"]
)
def test_staged_batches_give_the_model_of_one_thread(case):
    dtype = np.float32 if case.endswith("float32") else np.float64
    k = 3 if "multi_output" in case else None
    X, y = sparse_problem(n=STAGED_ROWS, p=400, k=k, density=0.02, seed=11, dtype=dtype)
    params = dict(batch_size=100, max_iter=3, tol=None, random_state=0)
    fit_params = {}
    if case == "standardized_momentum":
        params.update(optimizer="momentum")
    if case == "raw_sgd":
        params.update(optimizer="sgd", standardize=False, learning_rate="constant", eta0=0.002)
    if case.startswith("weighted"):
        sw = np.random.default_rng(11).uniform(0, 2, STAGED_ROWS)
        sw[:300] = 0.0  # whole batches of weight 0 (skipped) with shuffle=False
        params.update(shuffle=False)
        fit_params["sample_weight"] = sw
    if case == "in_order":
        params.update(shuffle=False)
    one, two = (GDRegressor(n_jobs=n, **params).fit(X, y, **fit_params) for n in (1, 2))
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.intercept_, two.intercept_)
    np.testing.assert_array_equal(one.loss_curve_, two.loss_curve_)
    if case == "standardized_momentum":  # and the steps are the dense fit's
        dense = GDRegressor(n_jobs=2, **params).fit(X.toarray(), y)
        np.testing.assert_allclose(
            two.coef_, dense.coef_, rtol=1e-9, atol=1e-12 * np.abs(dense.coef_).max()
        )


def test_staged_classifier_batches_give_the_model_of_one_thread():
    """Multinomial log loss (one class index per row) and one-vs-rest hinge."""
    X, _ = sparse_problem(n=STAGED_ROWS, p=200, density=0.03, seed=12)
    labels = np.argmax(X @ np.random.default_rng(12).standard_normal((200, 3)), axis=1)
    for loss, multi_class in (("log_loss", "multinomial"), ("hinge", "ovr")):
        params = dict(
            loss=loss, multi_class=multi_class, batch_size=64, max_iter=2, tol=None, random_state=0
        )
        one, two = (GDClassifier(n_jobs=n, **params).fit(X, labels) for n in (1, 2))
        np.testing.assert_array_equal(one.coef_, two.coef_)
        np.testing.assert_array_equal(one.intercept_, two.intercept_)


def test_staged_fit_stopped_mid_epoch_reports_divergence():
    """The epoch stops while the stager is ahead: the error, no hang."""
    X, y = sparse_problem(n=STAGED_ROWS, p=100, density=0.05, seed=13)
    params = dict(
        optimizer="momentum", batch_size=16, learning_rate="constant", eta0=1e3, max_iter=50
    )
    with pytest.raises(DivergenceError):
        GDRegressor(n_jobs=2, **params).fit(X, y)


@pytest.mark.parametrize(
    "case", ["default", "elasticnet_averaged_weighted", "early_stopping", "in_order", "float32"]
)
def test_staged_per_sample_epochs_give_the_model_of_one_thread(case):
    """Per-sample SGD on CSR stages its rows the same way (runs of 256 samples):
    the same iterates, so the same model, and scikit-learn's."""
    dtype = np.float32 if case == "float32" else np.float64
    X, y = sparse_problem(n=STAGED_ROWS, p=400, density=0.02, seed=14, dtype=dtype)
    params = dict(max_iter=2, tol=None, random_state=0)
    fit_params = {}
    if case == "elasticnet_averaged_weighted":
        params.update(penalty="elasticnet", average=1000)
        fit_params["sample_weight"] = np.random.default_rng(14).uniform(0, 2, STAGED_ROWS)
    if case == "early_stopping":
        params.update(early_stopping=True, tol=1e-3, max_iter=5)
    if case == "in_order":
        params.update(shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one, two = (SGDRegressor(n_jobs=n, **params).fit(X, y, **fit_params) for n in (1, 2))
        ref = SkSGDRegressor(**params).fit(X, y, **fit_params)
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.intercept_, two.intercept_)
    assert one.n_iter_ == two.n_iter_ == ref.n_iter_
    if dtype == np.float64:  # scikit-learn computes float32 input in float32
        np.testing.assert_allclose(two.coef_, ref.coef_, rtol=0, atol=1e-10)


def test_staged_one_vs_all_problems_at_once_give_the_model_of_one_thread():
    """SGDClassifier's one-vs-all problems on two threads, each staging its rows
    with the threads left to it."""
    X, _ = sparse_problem(n=STAGED_ROWS, p=200, density=0.03, seed=15)
    labels = np.argmax(X @ np.random.default_rng(15).standard_normal((200, 3)), axis=1)
    params = dict(max_iter=2, tol=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one, two = (SGDClassifier(n_jobs=n, **params).fit(X, labels) for n in (1, 2))
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.intercept_, two.intercept_)


def test_ctrl_c_stops_a_staged_per_sample_fit_mid_epoch():
    """The epoch returns while the stager is ahead (it polls every 65,536
    samples): KeyboardInterrupt, no hang, and the estimator still fits."""
    X, y = sparse_problem(n=4 * STAGED_ROWS, p=100, density=0.05, seed=16)
    model = SGDRegressor(n_jobs=2, max_iter=100_000, tol=None, random_state=0)
    with ctrl_c_after(0.3) as ctrl_c:
        model.fit(X, y)  # would run for minutes
    assert ctrl_c["stopped"] - ctrl_c["at"] < 1.0  # a responsiveness bound
    assert not hasattr(model, "coef_")
    model.set_params(max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert np.isfinite(model.fit(X, y).predict(X[:10])).all()


def test_sparse_mini_batch_divergence_is_reported():
    """A step far too long overflows: the same clear error as on dense data, and
    the caller's matrix is untouched."""
    X, y = sparse_problem(seed=10)
    before = X.copy()
    params = dict(
        optimizer="momentum", batch_size=16, learning_rate="constant", eta0=1e3, max_iter=50
    )
    with pytest.raises(DivergenceError):
        GDRegressor(**params).fit(X.toarray(), y)
    with pytest.raises(DivergenceError):
        GDRegressor(**params).fit(X, y)
    assert (X != before).nnz == 0
