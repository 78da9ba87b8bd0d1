"""gdfast.SGDRegressor against scikit-learn's SGDRegressor.

With ``batch_size=1`` gdfast replays scikit-learn's per-sample loop, shuffle order
included, so with the same integer ``random_state`` the fitted models must agree to
rounding (coef_/intercept_ to 1e-8, n_iter_ and t_ exactly). Here: the estimator
contract, every loss, penalty and schedule, averaging, early stopping, warm start,
partial_fit, float32, scikit-learn's tooling, sample weights and random_state.
Input handling is in test_sgd_input.py, gdfast's own behaviour (divergence,
mini-batches, loss_curve_, ...) in test_sgd_extras.py.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from conftest import LOSSES
from sgd_helpers import (
    DENSE_SPARSE,
    PENALTIES,
    SCHEDULE_ALPHA,
    assert_same_fit,
    fit_both,
    make_data,
)
from sklearn.base import clone
from sklearn.exceptions import NotFittedError, UndefinedMetricWarning
from sklearn.linear_model import SGDRegressor as SkSGDRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, ShuffleSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from gdfast import DivergenceError, DivergenceWarning, SGDRegressor

# Many comparisons deliberately run to max_iter or stop early; the warning itself
# is tested in test_sgd_extras.py (test_convergence_warning_*).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---- estimator contract

# Checks gdfast is expected to fail, and why: scikit-learn marks these xfail for
# its own SGDRegressor (per-sample SGD updates with weight k are not equivalent
# to repeating a row k times).
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "SGD's per-sample updates are not equivalent to repeating rows"
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "SGD's per-sample updates are not equivalent to repeating rows"
    ),
}


def test_check_estimator():
    """scikit-learn's estimator checks pass, apart from the two it xfails for its own."""
    with warnings.catch_warnings():
        # The checks' N(100, 1) features make default SGD useless (scikit-learn's
        # too): gdfast says so and returns the same model.
        warnings.simplefilter("ignore", DivergenceWarning)
        results = check_estimator(
            SGDRegressor(),
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            on_fail=None,
            on_skip=None,
        )
    assert len(results) > 30
    unexpected = {
        r["check_name"]: repr(r["exception"])[:300]
        for r in results
        if r["status"] == "failed" and r["check_name"] not in EXPECTED_FAILED_CHECKS
    }
    assert not unexpected, f"unexpected failed checks: {unexpected}"
    names = {r["check_name"] for r in results}
    # The list of expected failures must name real checks (no typos hiding anything).
    assert set(EXPECTED_FAILED_CHECKS) <= names


def test_check_estimator_data_make_sgd_useless_and_gdfast_says_so():
    """On the checks' N(100, 1) features scikit-learn's default SGD returns garbage
    silently; gdfast returns the same model with a DivergenceWarning, or raises
    with on_divergence="raise"."""
    rng = np.random.RandomState(0)
    X = rng.normal(loc=100, size=(50, 2))
    y = rng.normal(size=50)
    ref = SkSGDRegressor(random_state=0).fit(X, y)
    assert ref.score(X, y) < -1e6
    with pytest.warns(DivergenceWarning, match="useless"):
        ours = SGDRegressor(random_state=0).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8)
    with pytest.raises(DivergenceError, match="useless"):
        SGDRegressor(random_state=0, on_divergence="raise").fit(X, y)


# ---- equivalence


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_sklearn_loss_penalty(loss, penalty, fmt):
    """Every loss x penalty (invscaling schedule, default alpha) matches scikit-learn."""
    X, y = make_data(fmt=fmt)
    ours, ref = fit_both({"loss": loss, "penalty": penalty, "random_state": 0}, X, y)
    assert_same_fit(ours, ref, X, y)


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("learning_rate", list(SCHEDULE_ALPHA))
def test_matches_sklearn_schedules(learning_rate, loss, fmt):
    """Every step-size schedule (with each loss, L2 penalty) matches scikit-learn."""
    X, y = make_data(fmt=fmt)
    params = {
        "loss": loss,
        "learning_rate": learning_rate,
        "alpha": SCHEDULE_ALPHA[learning_rate],
        "random_state": 0,
    }
    ours, ref = fit_both(params, X, y)
    assert ref.score(X, y) > 0.9  # scikit-learn itself converged: a fair comparison
    assert_same_fit(ours, ref, X, y)


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
def test_matches_sklearn_passive_aggressive(learning_rate, fmt):
    """Passive-aggressive schedules (epsilon-insensitive loss) match scikit-learn."""
    X, y = make_data(fmt=fmt)
    params = {"loss": "epsilon_insensitive", "learning_rate": learning_rate, "random_state": 0}
    ours, ref = fit_both(params, X, y)
    assert_same_fit(ours, ref, X, y)


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
def test_matches_sklearn_stronger_penalty(penalty, fmt):
    """A stronger penalty (alpha=0.01, a common setting) still matches scikit-learn,
    including the epoch at which the tol rule stops."""
    X, y = make_data(fmt=fmt)
    ours, ref = fit_both({"penalty": penalty, "alpha": 0.01, "random_state": 0}, X, y)
    assert_same_fit(ours, ref, X, y)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shuffle", [True, False])
def test_matches_sklearn_intercept_and_shuffle(fit_intercept, shuffle):
    """fit_intercept and shuffle switches match scikit-learn."""
    X, y = make_data()
    params = {"fit_intercept": fit_intercept, "shuffle": shuffle, "random_state": 3}
    ours, ref = fit_both(params, X, y)
    assert_same_fit(ours, ref, X, y)
    if not fit_intercept:
        assert ours.intercept_[0] == 0.0


def test_matches_sklearn_coef_init_intercept_init():
    """Starting from coef_init / intercept_init matches scikit-learn."""
    X, y = make_data()
    coef_init = np.linspace(-1, 1, X.shape[1])
    ours, ref = fit_both(
        {"random_state": 0}, X, y, coef_init=coef_init, intercept_init=np.array([0.3])
    )
    assert_same_fit(ours, ref, X, y)


# ---- averaging, early stopping, warm start, partial_fit


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("average", [True, 10])
def test_matches_sklearn_averaging(average, fmt):
    """Averaged SGD (from the first update, or from the 10th) matches scikit-learn."""
    X, y = make_data(fmt=fmt)
    ours, ref = fit_both({"average": average, "random_state": 0}, X, y)
    assert_same_fit(ours, ref, X, y)


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
def test_matches_sklearn_early_stopping(fmt):
    """Early stopping matches scikit-learn; validation_scores_ has one R^2 per epoch,
    the last being the final model's R^2 on scikit-learn's held-out split."""
    X, y = make_data(fmt=fmt)
    params = {"early_stopping": True, "validation_fraction": 0.2, "random_state": 0}
    ours, ref = fit_both(params, X, y)
    assert_same_fit(ours, ref, X, y)
    assert isinstance(ours.validation_scores_, list)
    assert len(ours.validation_scores_) == ours.n_iter_
    _, val = next(ShuffleSplit(test_size=0.2, random_state=0).split(np.zeros((len(y), 1))))
    expected = r2_score(y[val], ours.predict(X[val]))
    assert ours.validation_scores_[-1] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("n", [5, 10])
def test_early_stopping_on_a_single_held_out_row_is_scikit_learns(n):
    """The R² of one held-out row is undefined (NaN, as scikit-learn's
    r2_score): no epoch improves or stalls, the fit runs to max_iter as
    scikit-learn's, with a warning that says why."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, 3))
    y = X @ [1.0, 2.0, 3.0]
    params = {"early_stopping": True, "random_state": 0}
    with pytest.warns(UndefinedMetricWarning, match="single sample"):
        ours = SGDRegressor(**params).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkSGDRegressor(**params).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_ == 1000
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12, atol=1e-12)
    assert np.all(np.isnan(ours.validation_scores_))


def test_validation_scores_none_without_early_stopping():
    """validation_scores_ is None when early_stopping is off."""
    X, y = make_data()
    assert SGDRegressor(random_state=0).fit(X, y).validation_scores_ is None


@pytest.mark.parametrize("average", [False, True])
def test_matches_sklearn_warm_start(average):
    """fit twice with warm_start=True (second fit on other data) matches scikit-learn."""
    X1, y1 = make_data(seed=0)
    X2, y2 = make_data(seed=1)
    params = {"warm_start": True, "average": average, "random_state": 0}
    ours, ref = SGDRegressor(**params), SkSGDRegressor(**params)
    ours.fit(X1, y1)
    ref.fit(X1, y1)
    assert_same_fit(ours, ref, X1, y1)
    ours.fit(X2, y2)
    ref.fit(X2, y2)
    assert_same_fit(ours, ref, X2, y2)


def test_warm_start_continues_from_previous_solution():
    """warm_start=True starts the second fit where the first ended (cold start differs)."""
    X, y = make_data()
    params = {"max_iter": 2, "tol": None, "random_state": 0}
    warm = SGDRegressor(warm_start=True, **params).fit(X, y).fit(X, y)
    cold = SGDRegressor(**params).fit(X, y).fit(X, y)
    once = SGDRegressor(**params).fit(X, y)
    np.testing.assert_array_equal(cold.coef_, once.coef_)
    assert not np.allclose(warm.coef_, once.coef_)


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("average", [False, True])
def test_matches_sklearn_partial_fit_sequence(average, fmt):
    """Three partial_fit calls on different batches match scikit-learn after each call."""
    X, y = make_data(n=600, fmt=fmt)
    params = {"average": average, "random_state": 0}
    ours, ref = SGDRegressor(**params), SkSGDRegressor(**params)
    for batch in (slice(0, 200), slice(200, 400), slice(400, 600)):
        ours.partial_fit(X[batch], y[batch])
        ref.partial_fit(X[batch], y[batch])
        assert_same_fit(ours, ref, X, y)
    assert ours.n_iter_ == 1
    assert ours.t_ == 1 + 600


# ---- float32


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
def test_float32_matches_float64(fmt):
    """float32 X keeps float32 coef_ (intercept_ float64, as scikit-learn's) and
    agrees with a float64 fit of the same values."""
    X, y = make_data(fmt=fmt)
    X32 = X.astype(np.float32)
    y32 = y.astype(np.float32)
    X64 = X32.astype(np.float64)
    m32 = SGDRegressor(random_state=0).fit(X32, y32)
    m64 = SGDRegressor(random_state=0).fit(X64, y32.astype(np.float64))
    ref = SkSGDRegressor(random_state=0).fit(X32, y32)
    assert m32.coef_.dtype == ref.coef_.dtype == np.float32
    assert m32.intercept_.dtype == ref.intercept_.dtype == np.float64
    assert m64.coef_.dtype == np.float64
    assert m32.predict(X32).dtype == ref.predict(X32).dtype
    assert m32.n_iter_ == m64.n_iter_
    assert abs(m32.score(X64, y) - m64.score(X64, y)) < 1e-4
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(m32.intercept_, m64.intercept_, rtol=1e-3, atol=1e-5)


# ---- scikit-learn tooling


def test_pipeline_matches_sklearn():
    """make_pipeline(StandardScaler(), SGDRegressor()) on unscaled data matches scikit-learn."""
    X, y = make_data()
    X = X * np.array([1, 10, 100, 1000, 0.1, 0.01]) + 50.0
    ours = make_pipeline(StandardScaler(), SGDRegressor(random_state=0)).fit(X, y)
    ref = make_pipeline(StandardScaler(), SkSGDRegressor(random_state=0)).fit(X, y)
    assert ours.score(X, y) > 0.95
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-8)


def test_grid_search_matches_sklearn():
    """GridSearchCV over alpha (cv=3) gives scikit-learn's scores and choice."""
    X, y = make_data()
    grid = {"alpha": [1e-4, 1e-2, 1.0]}
    ours = GridSearchCV(SGDRegressor(random_state=0), grid, cv=3).fit(X, y)
    ref = GridSearchCV(SkSGDRegressor(random_state=0), grid, cv=3).fit(X, y)
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], atol=1e-8
    )
    assert ours.best_params_ == ref.best_params_
    assert isinstance(ours.best_estimator_, SGDRegressor)


def test_cross_val_score_matches_sklearn():
    """cross_val_score gives scikit-learn's fold scores."""
    X, y = make_data()
    ours = cross_val_score(SGDRegressor(random_state=0), X, y, cv=3)
    ref = cross_val_score(SkSGDRegressor(random_state=0), X, y, cv=3)
    np.testing.assert_allclose(ours, ref, atol=1e-8)


def test_clone_copies_params_not_fit():
    """clone keeps every parameter (extensions included) and drops the fitted state."""
    X, y = make_data()
    est = SGDRegressor(alpha=0.01, loss="huber", batch_size=4, n_jobs=1, random_state=7)
    est.fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "coef_")
    with pytest.raises(NotFittedError):
        copy.predict(X)


def test_get_set_params_include_extensions():
    """get_params lists scikit-learn's parameters plus batch_size, n_jobs and
    on_divergence."""
    ours = set(SGDRegressor().get_params())
    ref = set(SkSGDRegressor().get_params())
    assert ours == ref | {"batch_size", "n_jobs", "on_divergence"}
    est = SGDRegressor().set_params(batch_size=16, alpha=0.5)
    assert est.batch_size == 16
    assert est.alpha == 0.5


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
def test_shuffle_on_a_thread_of_its_own_is_sklearns_order(fmt):
    """From 65,536 rows, with n_jobs > 1, an epoch's order is shuffled on a second
    thread while the epoch reads the places already final: scikit-learn's order
    still (its model), and the model of one thread, bit for bit; mini-batches too."""
    X, y = make_data(n=70_000, p=3, fmt=fmt)
    params = {"random_state": 0, "max_iter": 2, "tol": None}
    ref = SkSGDRegressor(**params).fit(X, y)
    one = SGDRegressor(n_jobs=1, **params).fit(X, y)
    two = SGDRegressor(n_jobs=2, **params).fit(X, y)
    assert_same_fit(two, ref, X, y)
    np.testing.assert_array_equal(two.coef_, one.coef_)
    np.testing.assert_array_equal(two.intercept_, one.intercept_)
    batched = {"batch_size": 16, **params}
    one = SGDRegressor(n_jobs=1, **batched).fit(X, y)
    two = SGDRegressor(n_jobs=2, **batched).fit(X, y)
    np.testing.assert_array_equal(two.coef_, one.coef_)
    np.testing.assert_array_equal(two.intercept_, one.intercept_)


@pytest.mark.parametrize("average", [False, True])
def test_pickle_round_trip_mid_training(average):
    """A model pickled after 2 partial_fit calls continues bitwise like one never pickled."""
    X, y = make_data(n=800)
    batches = [slice(i, i + 200) for i in range(0, 800, 200)]
    params = {"average": average, "random_state": 0}

    plain = SGDRegressor(**params)
    for b in batches:
        plain.partial_fit(X[b], y[b])

    stored = SGDRegressor(**params)
    for b in batches[:2]:
        stored.partial_fit(X[b], y[b])
    restored = pickle.loads(pickle.dumps(stored))
    for b in batches[2:]:
        restored.partial_fit(X[b], y[b])

    np.testing.assert_array_equal(restored.coef_, plain.coef_)
    np.testing.assert_array_equal(restored.intercept_, plain.intercept_)
    assert restored.t_ == plain.t_


def test_pickle_fitted_model_predicts_identically():
    """A pickled fitted model predicts exactly as the original."""
    X, y = make_data()
    est = SGDRegressor(random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))


# ---- sample_weight


@pytest.mark.parametrize("batch_size", [1, 8])
def test_unit_sample_weight_equals_none(batch_size):
    """sample_weight=None and all-ones weights give bitwise identical models."""
    X, y = make_data()
    none = SGDRegressor(batch_size=batch_size, random_state=0).fit(X, y)
    ones = SGDRegressor(batch_size=batch_size, random_state=0).fit(
        X, y, sample_weight=np.ones_like(y)
    )
    np.testing.assert_array_equal(ones.coef_, none.coef_)
    np.testing.assert_array_equal(ones.intercept_, none.intercept_)
    assert ones.n_iter_ == none.n_iter_


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
def test_integer_sample_weight_matches_sklearn(fmt):
    """Integer-valued sample weights (zeros included) give scikit-learn's model."""
    X, y = make_data(fmt=fmt)
    sample_weight = np.random.default_rng(5).integers(0, 4, size=y.shape[0])
    ours, ref = fit_both({"random_state": 0}, X, y, sample_weight=sample_weight)
    assert_same_fit(ours, ref, X, y)


def test_integer_sample_weight_partial_fit_matches_sklearn():
    """partial_fit with sample weights matches scikit-learn."""
    X, y = make_data()
    sample_weight = np.random.default_rng(5).integers(1, 4, size=y.shape[0])
    ours = SGDRegressor(random_state=0).partial_fit(X, y, sample_weight=sample_weight)
    ref = SkSGDRegressor(random_state=0).partial_fit(X, y, sample_weight=sample_weight)
    assert_same_fit(ours, ref, X, y)


# ---- random_state


def test_random_state_instance_and_none():
    """A RandomState instance gives scikit-learn's result for the same instance state;
    random_state=None fits without error."""
    X, y = make_data()
    ours = SGDRegressor(random_state=np.random.RandomState(4)).fit(X, y)
    ref = SkSGDRegressor(random_state=np.random.RandomState(4)).fit(X, y)
    assert_same_fit(ours, ref, X, y)
    assert SGDRegressor(random_state=None).fit(X, y).score(X, y) > 0.95


def test_different_seeds_give_different_orders():
    """The shuffle depends on random_state (so equality above is not trivial)."""
    X, y = make_data()
    a = SGDRegressor(random_state=0, max_iter=1, tol=None).fit(X, y)
    b = SGDRegressor(random_state=1, max_iter=1, tol=None).fit(X, y)
    assert not np.array_equal(a.coef_, b.coef_)
