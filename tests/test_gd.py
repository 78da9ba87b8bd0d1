"""GDRegressor: convergence without tuning, the engine against gdfast.reference,
optimizer state, standardization, multi-output, the scikit-learn contract."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import OPTIMIZERS, make_regression_data
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from gdfast import DivergenceError, DivergenceWarning, GDRegressor, plot_loss_curve, reference


def mse(model, X, y):
    return float(np.mean((model.predict(X) - y) ** 2))


def relative_gap(model, X, y, best_model):
    best = mse(best_model, X, y)
    return (mse(model, X, y) - best) / best


def test_check_estimator():
    # Every check passes, sample-weight equivalence included: the objective is
    # normalized by the total weight, so weight 2 is the same as a repeated row.
    check_estimator(GDRegressor())


# ---------------------------------------------------------------- no tuning needed


@pytest.fixture(scope="module")
def hard_problems():
    rng = np.random.default_rng(42)
    n = 4000
    X = rng.standard_normal((n, 8))
    y = X @ rng.standard_normal(8) + 2.0 + 0.1 * rng.standard_normal(n)
    scales = np.logspace(-2, 2, 8)  # feature scales differ by 10^4
    Z = rng.standard_normal((n, 3))
    collinear = np.hstack([Z, Z + 1e-3 * rng.standard_normal((n, 3)), rng.standard_normal((n, 2))])
    yc = collinear @ rng.standard_normal(8) + 0.1 * rng.standard_normal(n)
    offset = X * 3 + 1000.0  # features far from zero
    return {
        "standardized": (StandardScaler().fit_transform(X), y),
        "scales 1e4": (X * scales, y),
        "nearly collinear": (collinear, yc),
        "offset 1000": (offset, y),
    }


@pytest.mark.parametrize("name", ["standardized", "scales 1e4", "nearly collinear", "offset 1000"])
@pytest.mark.parametrize("precompute", ["auto", False])
def test_defaults_reach_the_least_squares_optimum(hard_problems, name, precompute):
    X, y = hard_problems[name]
    model = GDRegressor(precompute=precompute).fit(X, y)
    assert relative_gap(model, X, y, LinearRegression().fit(X, y)) < 1e-6


@pytest.mark.parametrize("alpha", [1e-3, 0.1])
def test_l2_penalty_is_ridge_on_standardized_features(hard_problems, alpha):
    X, y = hard_problems["scales 1e4"]
    model = GDRegressor(penalty="l2", alpha=alpha).fit(X, y)
    # (1/n) sum r^2 / 2 + alpha/2 ||V||^2  ==  Ridge(alpha * n) on standardized X.
    ridge = make_pipeline(StandardScaler(), Ridge(alpha=alpha * len(y))).fit(X, y)
    objective = lambda m: mse(m, X, y) / 2  # noqa: E731
    assert abs(objective(model) - objective(ridge)) / objective(ridge) < 1e-6
    np.testing.assert_allclose(model.predict(X), ridge.predict(X), rtol=1e-5, atol=1e-5)


def test_weighted_fit_matches_weighted_least_squares(hard_problems):
    X, y = hard_problems["scales 1e4"]
    sw = np.random.default_rng(0).uniform(0.1, 3, len(y))
    model = GDRegressor().fit(X, y, sample_weight=sw)
    best = LinearRegression().fit(X, y, sample_weight=sw)
    gap = np.average((model.predict(X) - y) ** 2, weights=sw) / np.average(
        (best.predict(X) - y) ** 2, weights=sw
    )
    assert gap - 1 < 1e-6


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch_size", [None, 64, 1])
def test_every_optimizer_and_batch_mode_converges(hard_problems, optimizer, batch_size):
    X, y = hard_problems["standardized"]
    if batch_size == 1:
        X, y = X[:800], y[:800]
    model = GDRegressor(optimizer=optimizer, batch_size=batch_size, random_state=0).fit(X, y)
    gap = relative_gap(model, X, y, LinearRegression().fit(X, y))
    assert gap < (1e-6 if batch_size is None else 1e-3), gap


@pytest.mark.parametrize("loss", ["huber", "epsilon_insensitive", "squared_epsilon_insensitive"])
def test_other_losses_reach_their_optimum(loss):
    # Compare with a long, careful run of the NumPy reference from the same
    # objective: GDRegressor's default run must end at least as low.
    X, y, _ = make_regression_data(n=600, p=5, seed=3, noise=0.5)
    model = GDRegressor(loss=loss, epsilon=0.3).fit(X, y)
    mine = float(np.mean(reference.loss_value(model.predict(X), y, loss, 0.3)))
    coef, b, _ = reference.descent(
        X, y, loss=loss, epsilon=0.3, learning_rate=0.2, optimizer="sgd", epochs=3000
    )
    theirs = float(np.mean(reference.loss_value(X @ coef + b, y, loss, 0.3)))
    assert mine <= theirs * (1 + 1e-4) + 1e-12


# ---------------------------------------------------------------- the engine vs the reference


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("batch_size", [None, 25])
@pytest.mark.parametrize("penalty", [None, "l2", "elasticnet"])
def test_engine_matches_reference_step_by_step(optimizer, batch_size, penalty):
    X, y, _ = make_regression_data(n=200, p=4, seed=1)
    X = X * [1, 10, 100, 1] + [0, 5, 0, -3]
    lr = 0.05 if optimizer in ("sgd", "momentum", "nesterov") else 0.02
    common = dict(optimizer=optimizer, batch_size=batch_size, penalty=penalty, alpha=0.01)
    for epochs in (1, 6):
        model = GDRegressor(
            learning_rate="constant",
            eta0=lr,
            momentum=0.9,
            max_iter=epochs,
            tol=None,
            shuffle=False,
            **common,
        ).fit(X, y)
        coef, b, objectives = reference.descent(
            X, y, learning_rate=lr, epochs=epochs, standardize=True, **common
        )
        np.testing.assert_allclose(model.coef_, coef, rtol=1e-10, atol=1e-10)
        assert model.intercept_ == pytest.approx(b, rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(model.loss_curve_, objectives, rtol=1e-10)


@pytest.mark.parametrize("layout", ["C", "F", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_engine_matches_reference_multi_output_weighted(layout, dtype):
    X, Y, _ = make_regression_data(n=150, p=3, k=2, seed=2, dtype=dtype)
    sw = np.random.default_rng(2).uniform(0, 2, 150)
    Xl = {"C": np.ascontiguousarray, "F": np.asfortranarray, "csr": sp.csr_matrix}[layout](X)
    model = GDRegressor(
        optimizer="adam",
        learning_rate="constant",
        eta0=0.05,
        max_iter=5,
        tol=None,
        shuffle=False,
        batch_size=40,
    ).fit(Xl, Y, sample_weight=sw)
    coef, b, _ = reference.descent(
        X,
        Y,
        optimizer="adam",
        learning_rate=0.05,
        epochs=5,
        batch_size=40,
        standardize=True,
        sample_weight=sw,
    )
    tol = 1e-9 if dtype == np.float64 else 2e-4
    assert model.coef_.shape == (2, 3) and model.coef_.dtype == dtype
    np.testing.assert_allclose(model.coef_, coef, rtol=tol, atol=tol)
    np.testing.assert_allclose(model.intercept_, b, rtol=tol, atol=tol)


def test_gram_fast_path_gives_the_same_iterates():
    X, Y, _ = make_regression_data(n=500, p=6, k=2, seed=4)
    X = X * np.logspace(0, 3, 6)
    kw = dict(optimizer="momentum", learning_rate="constant", eta0=0.1, max_iter=40, tol=None)
    a = GDRegressor(precompute=True, **kw).fit(X, Y)
    b = GDRegressor(precompute=False, **kw).fit(X, Y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-9)


# ---------------------------------------------------------------- schedules and steps


def printed_step_sizes(capsys):
    out = capsys.readouterr().out
    return [float(v) for v in re.findall(r"Step size: ([0-9.e+-]+)", out)]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("constant", lambda e, t: 0.1),
        ("invscaling", lambda e, t: 0.1 / t**0.5),
        ("step", lambda e, t: 0.1 * 0.5 ** ((e - 1) // 2)),
        ("exponential", lambda e, t: 0.1 * 0.5 ** (e - 1)),
        ("cosine", lambda e, t: 0.1 * 0.5 * (1 + np.cos(np.pi * (e - 1) / 6))),
    ],
)
def test_schedules_follow_their_formula(capsys, schedule, expected):
    X, y, _ = make_regression_data(n=100, p=3)
    GDRegressor(
        optimizer="sgd",
        learning_rate=schedule,
        eta0=0.1,
        power_t=0.5,
        gamma=0.5,
        step_size=2,
        max_iter=6,
        tol=None,
        verbose=1,
    ).fit(X, y)
    steps = printed_step_sizes(capsys)
    assert len(steps) == 6
    np.testing.assert_allclose(steps, [expected(e, e) for e in range(1, 7)], rtol=1e-5)


def test_optimal_and_adaptive_schedules():
    X, y, _ = make_regression_data(n=300, p=3)
    m = GDRegressor(
        optimizer="sgd",
        learning_rate="optimal",
        penalty="l2",
        alpha=0.01,
        batch_size=10,
        random_state=0,
    ).fit(X, y)
    assert m.score(X, y) > 0.95
    with pytest.raises(ValueError, match="needs a penalty with alpha > 0"):
        GDRegressor(learning_rate="optimal").fit(X, y)
    a = GDRegressor(
        optimizer="sgd", learning_rate="adaptive", eta0=0.05, batch_size=16, random_state=0
    ).fit(X, y)
    assert a.score(X, y) > 0.99


def test_auto_step_is_one_over_the_largest_curvature():
    X, y, _ = make_regression_data(n=400, p=5, seed=6)
    m = GDRegressor(optimizer="sgd", max_iter=1, tol=None).fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    H = np.vstack([np.hstack([Xs, np.ones((400, 1))])]).T @ np.hstack([Xs, np.ones((400, 1))])
    L = np.linalg.eigvalsh(H / 400).max()
    # Power iteration (a Rayleigh quotient: from below), then a 2% margin:
    # safe (<= 1/L) and not needlessly short.
    assert 1 / (1.05 * L) <= m.learning_rate_ <= 1 / L


# ---------------------------------------------------------------- standardization


def test_standardization_is_implicit_and_reported_in_original_units():
    X, y, _ = make_regression_data(n=300, p=4, seed=8)
    X = X * [1, 100, 1e-3, 10] + [5, 0, 0, -50]
    m = GDRegressor().fit(X, y)
    np.testing.assert_allclose(m.feature_mean_, X.mean(axis=0))
    np.testing.assert_allclose(m.feature_scale_, X.std(axis=0))
    ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-6)
    np.testing.assert_allclose(m.predict(X), X @ m.coef_ + m.intercept_, rtol=1e-12)
    with warnings.catch_warnings():  # unscaled, this is ill-conditioned: max_iter is fine
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = GDRegressor(
            standardize=False, max_iter=10, optimizer="sgd", learning_rate="constant", eta0=1e-6
        ).fit(X, y)
    # A step rule of the user's own runs on the raw features.
    np.testing.assert_array_equal(plain.feature_mean_, 0)
    np.testing.assert_array_equal(plain.feature_scale_, 1)


@pytest.mark.parametrize("precompute", [True, False])
def test_unstandardized_default_solver_changes_coordinates_not_the_objective(precompute):
    # standardize=False: the default full-batch solver standardizes without a
    # penalty and centres with one (neither changes the objective), so that
    # offset and badly scaled features reach the optimum.
    X, y, _ = make_regression_data(n=400, p=4, seed=9)
    X = X * [1, 1e-12, 1e12, 1] + [1e6, 0, 0, -1e4]
    m = GDRegressor(standardize=False, precompute=precompute).fit(X, y)
    np.testing.assert_allclose(m.feature_mean_, X.mean(axis=0))
    np.testing.assert_allclose(m.feature_scale_, X.std(axis=0))
    # The least-squares fit, solved on standardized columns (LinearRegression's
    # SVD of these raw columns drops the 1e-12 one: its MSE is 300 times larger).
    Z = np.c_[(X - X.mean(axis=0)) / X.std(axis=0), np.ones(len(y))]
    best = Z @ np.linalg.lstsq(Z, y, rcond=None)[0]
    np.testing.assert_allclose(m.predict(X), best, rtol=1e-9, atol=1e-8)
    alpha = 1e-3
    ridge = GDRegressor(standardize=False, penalty="l2", alpha=alpha, precompute=precompute)
    ridge.fit(X, y)
    np.testing.assert_allclose(ridge.feature_mean_, X.mean(axis=0))
    np.testing.assert_array_equal(ridge.feature_scale_, 1)
    sk = Ridge(alpha=alpha * X.shape[0], solver="svd").fit(X, y)

    def objective(coef, intercept):
        r = X @ coef + intercept - y
        return 0.5 * np.mean(r**2) + 0.5 * alpha * coef @ coef

    ours, theirs = objective(ridge.coef_, ridge.intercept_), objective(sk.coef_, sk.intercept_)
    assert ours <= theirs * (1 + 1e-9)


def test_constant_feature_gets_unit_scale():
    X, y, _ = make_regression_data(n=100, p=3)
    X[:, 1] = 7.0
    m = GDRegressor().fit(X, y)
    assert m.feature_scale_[1] == 1.0 and np.isfinite(m.coef_).all()


# ---------------------------------------------------------------- multi-output


def test_multi_output_fits_every_target():
    X, Y, _ = make_regression_data(n=500, p=5, k=3, seed=9)
    m = GDRegressor().fit(X, Y)
    assert m.coef_.shape == (3, 5) and m.intercept_.shape == (3,)
    assert m.predict(X).shape == (500, 3)
    for t in range(3):
        best = LinearRegression().fit(X, Y[:, t])
        gap = np.mean((m.predict(X)[:, t] - Y[:, t]) ** 2) / mse(best, X, Y[:, t]) - 1
        assert gap < 1e-6
    single = GDRegressor().fit(X, Y[:, 0])
    assert single.coef_.shape == (5,) and isinstance(single.intercept_, float)


# ---------------------------------------------------------------- state, pickling, warm start


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "rmsprop"])
def test_pickle_and_resume_gives_the_same_iterates(optimizer):
    X, y, _ = make_regression_data(n=300, p=4, seed=10)
    chunks = np.array_split(np.arange(300), 4)
    kw = dict(
        optimizer=optimizer, batch_size=32, learning_rate="constant", eta0=0.01, random_state=3
    )
    a = GDRegressor(**kw)
    b = GDRegressor(**kw)
    for c in chunks[:2]:
        a.partial_fit(X[c], y[c])
        b.partial_fit(X[c], y[c])
    b = pickle.loads(pickle.dumps(b))
    for c in chunks[2:]:
        a.partial_fit(X[c], y[c])
        b.partial_fit(X[c], y[c])
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.intercept_ == b.intercept_
    assert a.t_ == b.t_ == 4 * 3  # ceil(75 / 32) = 3 updates per call


def test_partial_fit_resumes_the_optimizer():
    X, y, _ = make_regression_data(n=200, p=3, seed=11)
    kw = dict(optimizer="adam", learning_rate="constant", eta0=0.05, tol=None)
    steps = GDRegressor(**kw)
    for _ in range(4):
        steps.partial_fit(X, y)
    whole = GDRegressor(max_iter=4, **kw).fit(X, y)
    np.testing.assert_allclose(steps.coef_, whole.coef_, rtol=1e-10)
    assert steps.optimizer_state_["step"] == 4
    assert np.any(steps.optimizer_state_["m2"] != 0)


def test_warm_start_continues_from_the_previous_solution():
    X, y, _ = make_regression_data(n=300, p=4, seed=12)
    m = GDRegressor(warm_start=True).fit(X, y)
    first = m.n_iter_
    m.fit(X, y)
    assert m.n_iter_ < first


def test_early_stopping_records_validation_scores():
    X, y, _ = make_regression_data(n=500, p=4, seed=13, noise=1.0)
    m = GDRegressor(early_stopping=True, batch_size=32, random_state=0).fit(X, y)
    assert len(m.validation_scores_) == m.n_iter_ == len(m.loss_curve_)
    assert max(m.validation_scores_) > 0.5
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        GDRegressor(early_stopping=True).partial_fit(X, y)


@pytest.mark.parametrize("batch_size", [None, 50])
def test_results_do_not_depend_on_n_jobs(batch_size):
    # 70,000 rows: mini-batch epochs then shuffle on a second thread (n_jobs > 1)
    X, y, _ = make_regression_data(n=70_000, p=8, seed=14)
    kw = dict(batch_size=batch_size, precompute=False, max_iter=5, tol=None, random_state=0)
    a = GDRegressor(n_jobs=1, **kw).fit(X, y)
    b = GDRegressor(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


# ---------------------------------------------------------------- divergence, warnings, output


def test_divergence_is_an_error_that_says_what_to_do():
    X, y, _ = make_regression_data(n=200, p=3)
    with pytest.raises(DivergenceError, match=r"diverged at epoch .*lower eta0"):
        GDRegressor(learning_rate="constant", eta0=50.0, optimizer="sgd", standardize=False).fit(
            X * 100, y
        )
    m = GDRegressor().fit(X, y)
    before = m.coef_.copy()
    with pytest.raises(DivergenceError):
        GDRegressor(learning_rate="constant", eta0=1e6, optimizer="sgd").fit(X, y)
    np.testing.assert_array_equal(m.coef_, before)


def test_convergence_warning_at_max_iter():
    X, y, _ = make_regression_data(n=100, p=3)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        GDRegressor(max_iter=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GDRegressor(max_iter=2, tol=None).fit(X, y)


def test_verbose_prints_epoch_objective_step_and_time(capsys):
    X, y, _ = make_regression_data(n=100, p=3)
    GDRegressor(verbose=1, max_iter=3, tol=None).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("-- Epoch") == 3
    for field in ("Objective:", "Step size:", "Total training time:"):
        assert field in out


def test_plot_loss_curve():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X, y, _ = make_regression_data(n=300, p=3)
    m = GDRegressor(early_stopping=True, batch_size=20, random_state=0).fit(X, y)
    ax = plot_loss_curve(m)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), m.loss_curve_)
    assert ax.get_xlabel() == "epoch"
    with pytest.raises(NotFittedError):
        plot_loss_curve(GDRegressor())


# ---------------------------------------------------------------- contract and bad input


def test_pipeline_grid_search_cross_val_clone():
    X, y, _ = make_regression_data(n=200, p=4)
    pipe = make_pipeline(StandardScaler(), GDRegressor())
    ours = cross_val_score(pipe, X, y, cv=3)
    exact = cross_val_score(LinearRegression(), X, y, cv=3)
    np.testing.assert_allclose(ours, exact, rtol=1e-6)
    grid = GridSearchCV(GDRegressor(penalty="l2"), {"alpha": [1e-4, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["alpha"] == 1e-4
    c = clone(GDRegressor(optimizer="adam", batch_size=7))
    assert c.get_params()["optimizer"] == "adam" and not hasattr(c, "coef_")


def test_float32_stays_float32():
    X, y, _ = make_regression_data(n=300, p=4, dtype=np.float32)
    m32 = GDRegressor().fit(X, y)
    m64 = GDRegressor().fit(X.astype(np.float64), y.astype(np.float64))
    assert m32.coef_.dtype == np.float32 and m32.predict(X).dtype == np.float32
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-4, atol=1e-5)


def test_sparse_matches_dense():
    X, y, _ = make_regression_data(n=300, p=5, sparsity=0.6)
    dense = GDRegressor().fit(X, y)
    for Xs in (sp.csr_matrix(X), sp.csr_array(X)):
        sparse = GDRegressor().fit(Xs, y)
        np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-7, atol=1e-9)


def test_bad_input():
    X, y, _ = make_regression_data(n=50, p=3)
    with pytest.raises(ValueError, match="NaN"):
        GDRegressor().fit(np.where(X > 1, np.nan, X), y)
    with pytest.raises(ValueError, match="NaN"):
        GDRegressor().fit(X, np.where(y > 1, np.nan, y))
    with pytest.raises(ValueError, match=r"[Nn]egative"):
        GDRegressor().fit(X, y, sample_weight=-np.ones(50))
    with pytest.raises(NotFittedError):
        GDRegressor().predict(X)
    m = GDRegressor().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        m.predict(X[:, :2])
    with pytest.raises(ValueError, match=r"targets|dimension"):
        m.partial_fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="optimizer"):
        GDRegressor(optimizer="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="momentum"):
        GDRegressor(momentum=1.5).fit(X, y)


def test_inputs_are_not_modified():
    X, Y, _ = make_regression_data(n=100, p=3, k=2)
    sw = np.linspace(0.5, 1.5, 100)
    copies = [a.copy() for a in (X, Y, sw)]
    m = GDRegressor(batch_size=10, random_state=0).fit(X, Y, sample_weight=sw)
    m.partial_fit(X, Y, sample_weight=sw)
    m.predict(X)
    for a, c in zip((X, Y, sw), copies, strict=True):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------- the optimum, as issue cases


def _gd_objective(X, y, w, b, alpha=0.0):
    r = y - X @ w - b
    return 0.5 * np.mean(r**2) + alpha / 2 * w @ w


def _hard_cases():
    rng = np.random.default_rng(0)
    n = 2000
    base = rng.standard_normal((n, 1))
    cases = {}
    for eps in (1e-3, 1e-4):
        X = np.hstack([base, base + eps * rng.standard_normal((n, 1)), rng.standard_normal((n, 3))])
        cases[f"collinear {eps}"] = (X, X @ [1, 2, 0.5, -1, 3] + 0.1 * rng.standard_normal(n))
    X = rng.standard_normal((n, 4)) * 1e-5 + 1000
    cases["offset 1000, spread 1e-5"] = (X, X @ [1, 2, 3, 4] + 1e-6 * rng.standard_normal(n))
    t = rng.uniform(0, 1, n)
    cases["vandermonde 6"] = (np.vander(t, 7, increasing=True)[:, 1:], np.sin(3 * t))
    X = rng.standard_normal((n, 4))
    cases["y offset 1e8"] = (X, X @ [1, 2, 3, 4] + 1e8 + 0.1 * rng.standard_normal(n))
    X = rng.standard_normal((n, 3)) * 1e-13
    cases["feature std 1e-13"] = (X, X @ [1e13, 2e13, -1e13] + 0.01 * rng.standard_normal(n))
    return cases


@pytest.mark.parametrize("case", list(_hard_cases()))
def test_defaults_reach_the_optimum_on_the_hard_cases(case):
    X, y = _hard_cases()[case]
    ref = LinearRegression().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either
        model = GDRegressor(penalty=None).fit(X, y)
    best = _gd_objective(X, y, ref.coef_, ref.intercept_)
    ours = _gd_objective(X, y, model.coef_, model.intercept_)
    assert ours <= best * (1 + 1e-6) + 1e-300, (case, ours / best - 1)


@pytest.mark.parametrize("alpha", [0.1, 1.0, 3.0])
def test_l2_default_reaches_the_ridge_optimum(alpha):
    X, y, _ = make_regression_data(n=2000, p=8, seed=0)
    n = X.shape[0]
    ref = Ridge(alpha=alpha * n, solver="cholesky").fit(X, y)
    model = GDRegressor(penalty="l2", alpha=alpha, standardize=False).fit(X, y)
    best = _gd_objective(X, y, ref.coef_, ref.intercept_, alpha)
    ours = _gd_objective(X, y, model.coef_, model.intercept_, alpha)
    assert ours <= best * (1 + 1e-6)


@pytest.mark.parametrize("batch_size", [None, 64])
def test_no_intercept_with_standardize_reaches_the_optimum(batch_size):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 4)) + 5  # uncentred: centring would change the model
    y = X @ [1, -2, 3, 0.5] + 0.1 * rng.standard_normal(2000)
    ref = LinearRegression(fit_intercept=False).fit(X, y)
    params = {"fit_intercept": False, "penalty": None}
    if batch_size:
        params.update(batch_size=batch_size, max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GDRegressor(**params).fit(X, y)
    best = _gd_objective(X, y, ref.coef_, 0.0)
    ours = _gd_objective(X, y, model.coef_, 0.0)
    # Full batch: the optimum; mini-batches: within their noise (was 2e7 x the optimum).
    assert ours <= best * (1 + (1e-6 if batch_size is None else 1e-3))
    assert model.intercept_ == 0.0


def test_on_divergence_warn_keeps_a_useless_model_raise_refuses_it():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 3))
    y = X @ [1.0, 2.0, 3.0] + 0.1 * rng.standard_normal(500)
    # A constant step 30x the stability limit, stopped after three epochs, while
    # the objective is still far above a constant prediction's (and finite).
    params = dict(learning_rate="constant", eta0=30.0, optimizer="sgd", max_iter=3, tol=None)
    with pytest.raises(DivergenceError):
        GDRegressor(**params).fit(X, y)
    with pytest.warns(DivergenceWarning, match="useless"):
        model = GDRegressor(**params, on_divergence="warn").fit(X, y)
    assert np.isfinite(model.coef_).all() and model.score(X, y) < -1e6


def _l1_objective(X, y, w, b, alpha, l1_ratio):
    r = y - X @ w - b
    return 0.5 * np.mean(r**2) + alpha * ((1 - l1_ratio) / 2 * w @ w + l1_ratio * np.abs(w).sum())


@pytest.mark.parametrize("layout", ["dense", "csr", "collinear"])
@pytest.mark.parametrize(("penalty", "l1_ratio"), [("l1", 1.0), ("elasticnet", 0.5)])
@pytest.mark.parametrize("alpha", [0.01, 0.1])
def test_l1_default_reaches_the_lasso_optimum(layout, penalty, l1_ratio, alpha):
    from sklearn.linear_model import ElasticNet, Lasso

    rng = np.random.default_rng(5)
    n, p = 2000, 8
    X = rng.standard_normal((n, p)) * (rng.random((n, p)) < (0.4 if layout == "csr" else 1.0))
    if layout == "collinear":
        X[:, 1] = X[:, 0] + 1e-3 * rng.standard_normal(n)
    y = X @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n) + 3.0
    Xfit = sp.csr_matrix(X) if layout == "csr" else X
    ref = (
        Lasso(alpha=alpha, tol=1e-14, max_iter=100_000)
        if penalty == "l1"
        else ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-14, max_iter=100_000)
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GDRegressor(penalty=penalty, alpha=alpha, l1_ratio=l1_ratio, standardize=False).fit(
            Xfit, y
        )
    best = _l1_objective(X, y, ref.coef_, ref.intercept_, alpha, l1_ratio)
    ours = _l1_objective(X, y, model.coef_, model.intercept_, alpha, l1_ratio)
    assert ours <= best * (1 + 1e-6)
    assert np.count_nonzero(model.coef_) <= np.count_nonzero(ref.coef_) + 1


def test_l1_with_standardize_is_lasso_on_standardized_features():
    from sklearn.linear_model import Lasso

    rng = np.random.default_rng(6)
    X = rng.standard_normal((1500, 6)) * np.logspace(-2, 2, 6) + 50.0
    y = X @ (1.0 / np.logspace(-2, 2, 6)) + rng.standard_normal(1500)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    ref = Lasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(Z, y)
    model = GDRegressor(penalty="l1", alpha=0.05).fit(X, y)
    v = model.coef_ * X.std(axis=0)  # the model's standardized coefficients
    best = _l1_objective(Z, y, ref.coef_, ref.intercept_, 0.05, 1.0)
    ours = _l1_objective(Z, y, v, model.predict(X).mean() - (Z @ v).mean(), 0.05, 1.0)
    assert ours <= best * (1 + 1e-6)


@pytest.mark.parametrize("where", ["X", "y"])
def test_values_beyond_double_range_squared_get_a_message_about_them(where):
    # Data near 1e154: their squares overflow. The message names that (not a step
    # size, which 'auto' derives) and does not ask for standardize=True when it is set.
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 3)), rng.standard_normal(200)
    if where == "X":
        X = X * 1e154
    else:
        y = y * 1e154
    with pytest.raises(DivergenceError) as info:
        GDRegressor().fit(X, y)
    message = str(info.value)
    assert "too large for double precision" in message and "rescale X and y" in message
    assert "standardize=True" not in message and "step size is too large" not in message
    # Both scales are quoted, so the one that overflows shows.
    largest_y = f"the largest |target| is {np.abs(y).max():.3g}"
    assert largest_y in message and "the largest |feature value| is" in message


@pytest.mark.parametrize("batch_size", [None, 40])
def test_weighted_fit_starts_at_the_weighted_mean(batch_size):
    """Descent starts its intercept at the weighted mean of y (the best constant
    of the weighted objective), as the reference does, also when every row trains."""
    X, y, _ = make_regression_data(n=300, p=5, seed=11)
    X = X * [1, 2, 3, 4, 5] + 1
    sw = np.random.default_rng(11).uniform(0, 2, 300)
    params = dict(
        optimizer="sgd", learning_rate="constant", eta0=0.01, max_iter=2, tol=None, shuffle=False
    )
    model = GDRegressor(batch_size=batch_size, standardize=False, **params).fit(
        X, y, sample_weight=sw
    )
    coef, b, _ = reference.descent(
        X, y, optimizer="sgd", learning_rate=0.01, epochs=2, batch_size=batch_size, sample_weight=sw
    )
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-10, atol=1e-12)
    assert model.intercept_ == pytest.approx(b, rel=1e-10)
