"""GDRegressor's defaults without the co-moments (wide or sparse data): conjugate
gradient over passes, held to closed forms and scikit-learn's Ridge."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Ridge

from gdfast import GDRegressor


def sparse_problem(n=3000, p=1500, nnz=8, seed=0, dtype=np.float64):
    """More features than precompute="auto" takes: no co-moments."""
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, p, size=(n, nnz)), axis=1)
    X = sp.csr_matrix(
        (rng.standard_normal(n * nnz), cols.ravel(), np.arange(0, n * nnz + 1, nnz)), shape=(n, p)
    )
    X.sum_duplicates()
    y = X @ rng.standard_normal(p) + 0.5 + 0.1 * rng.standard_normal(n)
    return X.astype(dtype), y.astype(dtype)


def ridge_objective(model, X, y, alpha, sample_weight=None):
    """SGD's objective: weighted mean of r^2 / 2, plus alpha ||w||^2 / 2."""
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    r = np.asarray(model.predict(X), dtype=np.float64) - y
    coef = np.asarray(model.coef_, dtype=np.float64)
    return 0.5 * float(w @ (r * r)) / w.sum() + 0.5 * alpha * float(coef @ coef)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_ridge_reaches_scikit_learns_objective(weighted, fit_intercept, simd):
    X, y = sparse_problem()
    alpha = 1e-3
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    ours = GDRegressor(
        penalty="l2", alpha=alpha, standardize=False, fit_intercept=fit_intercept
    ).fit(X, y, sample_weight=w)
    total = X.shape[0] if w is None else w.sum()
    theirs = Ridge(
        alpha=alpha * total, solver="sparse_cg", tol=1e-12, fit_intercept=fit_intercept
    ).fit(X, y, sample_weight=w)
    best = ridge_objective(theirs, X, y, alpha, w)
    assert abs(ridge_objective(ours, X, y, alpha, w) - best) <= 1e-9 * best
    assert np.isnan(ours.learning_rate_)  # conjugate gradient: no fixed step
    assert ours.n_iter_ < 200


def test_wide_dense_data_reach_the_least_squares_solution():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3000, 1100))  # beyond precompute="auto"'s 1024 features
    y = X @ rng.standard_normal(1100) + 2.0 + 0.1 * rng.standard_normal(3000)
    model = GDRegressor().fit(X, y)
    Xc = X - X.mean(axis=0)
    coef = np.linalg.lstsq(Xc, y - y.mean(), rcond=None)[0]
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-6 * np.abs(coef).max())


def test_float32_csr_and_any_n_jobs():
    X, y = sparse_problem(dtype=np.float32)
    fits = [GDRegressor(penalty="l2", alpha=1e-3, n_jobs=j).fit(X, y) for j in (1, 2)]
    assert fits[0].coef_.dtype == np.float32
    assert np.array_equal(fits[0].coef_, fits[1].coef_)
    X64 = X.astype(np.float64)
    ref = GDRegressor(penalty="l2", alpha=1e-3).fit(X64, y.astype(np.float64))
    np.testing.assert_allclose(fits[0].coef_, ref.coef_, rtol=1e-4, atol=1e-4)


def test_other_optimizer_settings_still_descend():
    X, y = sparse_problem()
    model = GDRegressor(optimizer="momentum", max_iter=50, tol=None).fit(X, y)
    assert np.isfinite(model.learning_rate_) and model.learning_rate_ > 0
    assert model.n_iter_ == 50


def test_nan_in_sparse_x_gets_scikit_learns_error():
    X, y = sparse_problem()
    X = X.copy()
    X.data[17] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        GDRegressor().fit(X, y)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 2])
def test_columns_of_mixed_scales_converge_in_few_passes(weighted, k):
    """Columns whose scales span 10^3 (unstandardized): CG over passes is
    preconditioned by the Hessian's diagonal, so it reaches Ridge's objective
    in a few dozen passes (plain CG took about 690 on this problem)."""
    X, y = sparse_problem()
    scales = 10.0 ** np.random.default_rng(5).uniform(-1.5, 1.5, X.shape[1])
    X = (X @ sp.diags(scales)).tocsr()
    Y = y if k == 1 else np.column_stack([y, 2.0 * y + 1.0])
    w = np.random.default_rng(6).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    alpha = 1e-3
    ours = GDRegressor(penalty="l2", alpha=alpha, standardize=False, max_iter=100)
    ours.fit(X, Y, sample_weight=w)
    assert ours.n_iter_ < 100  # stopped by tol="auto", not by max_iter
    total = X.shape[0] if w is None else w.sum()
    theirs = Ridge(alpha=alpha * total, solver="sparse_cg", tol=1e-12).fit(X, Y, sample_weight=w)
    W = np.sum(w) if w is not None else X.shape[0]
    weights = np.ones(X.shape[0]) if w is None else w

    def objective(model) -> float:
        """SGD's objective summed over the targets."""
        R = (model.predict(X) - Y).reshape(X.shape[0], -1)
        coef = np.asarray(model.coef_).ravel()
        return 0.5 * float(weights @ (R * R).sum(axis=1)) / W + 0.5 * alpha * float(coef @ coef)

    best = objective(theirs)
    assert abs(objective(ours) - best) <= 1e-9 * best
