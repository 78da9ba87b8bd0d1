"""gdfast.SGDRegressor beyond scikit-learn's: errors instead of garbage on
divergence, the convergence warning, verbose output, loss_curve_, mini-batches,
densify/sparsify."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import LOSSES
from sgd_helpers import (
    DENSE_SPARSE,
    PENALTIES,
    R2_TOL,
    SCHEDULE_ALPHA,
    assert_same_fit,
    make_data,
    per_sample_run,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import SGDRegressor as SkSGDRegressor

from gdfast import (
    DivergenceError,
    DivergenceWarning,
    GDClassifier,
    GDRegressor,
    SGDClassifier,
    SGDRegressor,
)

# Many comparisons deliberately run to max_iter or stop early; the warning itself
# is tested below (test_convergence_warning_*).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---- divergence


def test_unscaled_features_warn_and_keep_sklearns_model():
    """Features x1000 with default parameters: scikit-learn returns garbage
    silently; gdfast returns the same model with a DivergenceWarning that says
    what to do, and on_divergence="raise" makes it a DivergenceError."""
    X, y = make_data()
    X = X * 1000
    ref = SkSGDRegressor(random_state=0).fit(X, y)
    assert ref.score(X, y) < -1e6
    with pytest.warns(DivergenceWarning) as record:
        est = SGDRegressor(random_state=0).fit(X, y)
    message = str(record[0].message)
    assert "useless" in message and "StandardScaler" in message and "eta0" in message
    assert "on_divergence='raise'" in message
    # A blown-up run is chaotic: rounding differences of 1e-16 grow to 1e-9 in ten
    # epochs, so only a short run is compared coefficient by coefficient.
    assert est.n_iter_ == ref.n_iter_
    assert est.score(X, y) < -1e6
    short = {"random_state": 0, "max_iter": 5, "tol": None}
    with pytest.warns(DivergenceWarning):
        est = SGDRegressor(**short).fit(X, y)
    np.testing.assert_allclose(est.coef_, SkSGDRegressor(**short).fit(X, y).coef_, rtol=1e-8)
    with pytest.raises(DivergenceError) as exc_info:
        SGDRegressor(random_state=0, on_divergence="raise").fit(X, y)
    assert isinstance(exc_info.value, ValueError)
    message = str(exc_info.value)
    assert "StandardScaler" in message and "eta0" in message


def test_divergence_advice_for_optimal_schedule_mentions_alpha():
    """With learning_rate='optimal' the advice is about alpha, which sets the step."""
    X, y = make_data()
    X = X * 1000
    with pytest.raises(DivergenceError) as exc_info:
        SGDRegressor(learning_rate="optimal", random_state=0, on_divergence="raise").fit(X, y)
    message = str(exc_info.value)
    assert "diverged at epoch" in message or "useless" in message
    assert "StandardScaler" in message
    assert "alpha" in message


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_averaged_model_is_judged(fmt):
    """With average=True the returned (averaged) coefficients are judged, not the
    last plain iterate: a useless average is never silent."""
    X, y = make_data(fmt=fmt)
    X = X * 1000
    params = {"average": True, "random_state": 0, "max_iter": 5, "tol": None}
    ref = SkSGDRegressor(**params).fit(X, y)
    assert ref.score(X, y) < -1e6
    with pytest.warns(DivergenceWarning):
        est = SGDRegressor(**params).fit(X, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-8)


def test_recovered_model_is_not_flagged():
    """'optimal' with alpha=0.01 blows up within the one epoch and recovers by its
    end: scikit-learn's model is good, and gdfast returns it without a word."""
    X, y = make_data(n=1000, p=5)
    params = {"learning_rate": "optimal", "alpha": 0.01, "max_iter": 1, "random_state": 0}
    ref = SkSGDRegressor(**params).fit(X, y)
    assert ref.score(X, y) > 0.9
    for mode in ("warn", "raise"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DivergenceWarning)
            est = SGDRegressor(**params, on_divergence=mode).fit(X, y)
        assert_same_fit(est, ref, X, y)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_blown_up_epochs_count_toward_n_iter_no_change(fmt):
    """The drop-in stops where scikit-learn stops, also when the objective of the
    epochs is above the divergence threshold."""
    X, y = make_data(fmt=fmt)
    X = X * 1000
    # Runs that stop within a few epochs: later, a blown-up run's chaos turns
    # rounding differences into different objectives (see above).
    for params in (
        {"learning_rate": "constant", "eta0": 0.001, "random_state": 1},
        {"learning_rate": "constant", "eta0": 0.01, "random_state": 0},
    ):
        ref = SkSGDRegressor(**params).fit(X, y)
        assert ref.score(X, y) < -1e6 and ref.n_iter_ <= 10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)
            est = SGDRegressor(**params).fit(X, y)
        assert est.n_iter_ == ref.n_iter_, params


@pytest.mark.parametrize(("n", "p"), [(1000, 6), (2000, 6), (2000, 20)])
def test_optimal_schedule_transient_blow_up_does_not_raise(n, p):
    """scikit-learn's 'optimal' schedule (alpha=1e-4) blows up during the first epochs
    on standardized data and then converges: gdfast must not raise, and must match."""
    X, y = make_data(n=n, p=p)
    params = {"learning_rate": "optimal", "random_state": 0}
    # Precondition: a real transient. After 3 epochs scikit-learn's model is garbage...
    early = SkSGDRegressor(max_iter=3, tol=None, **params).fit(X, y)
    assert early.score(X, y) < -1e6
    # ...and it recovers by the end.
    ref = SkSGDRegressor(**params).fit(X, y)
    assert ref.score(X, y) > 0.9
    try:
        ours = SGDRegressor(**params).fit(X, y)
    except DivergenceError as exc:  # pragma: no cover - reported as a failure
        pytest.fail(
            f"DivergenceError on a transient blow-up that scikit-learn recovers from "
            f"(its R^2 {ref.score(X, y):.4f} after {ref.n_iter_} epochs): {exc}"
        )
    assert_same_fit(ours, ref, X, y)


def test_huge_constant_step_gives_nonfinite_and_raises():
    """A huge eta0 overflows to NaN/inf (scikit-learn raises its own ValueError);
    gdfast raises a DivergenceError that suggests lowering eta0."""
    X, y = make_data()
    params = {"learning_rate": "constant", "eta0": 1e300, "random_state": 0}
    with pytest.raises(ValueError, match="overflow"):
        SkSGDRegressor(**params).fit(X, y)
    with pytest.raises(DivergenceError) as exc_info:
        SGDRegressor(**params).fit(X, y)
    message = str(exc_info.value)
    assert "diverged at epoch" in message
    assert "eta0" in message


@pytest.mark.parametrize("estimator", ["sgd", "gd"])
def test_float32_model_beyond_float32_range_raises(estimator):
    """Parameters finite in the kernels' float64 but beyond float32's range
    would be published as infinities: a float32 fit raises the overflow error
    (the bug was a silent inf coef_), while the float64 fit of the same data
    returns its huge but finite model with a DivergenceWarning."""
    X = np.array([[3e38], [1e38]], dtype=np.float32)
    y = np.array([0.1, -0.2])
    common = {"learning_rate": "constant", "fit_intercept": False, "max_iter": 1, "tol": None}
    common["shuffle"] = False
    if estimator == "sgd":  # scikit-learn's derivative clip (1e12) caps the step: a larger eta0
        make = lambda: SGDRegressor(eta0=1e-10, **common)  # noqa: E731
    else:
        make = lambda: GDRegressor(  # noqa: E731
            batch_size=1,
            optimizer="sgd",
            standardize=False,
            on_divergence="warn",
            eta0=1e-30,
            **common,
        )
    with pytest.raises(DivergenceError, match="overflow"):
        make().fit(X, y)
    with pytest.warns(DivergenceWarning):
        model = make().fit(X.astype(np.float64), y)
    assert np.isfinite(model.coef_).all() and np.abs(model.coef_).max() > 1e39


def test_failed_partial_fit_keeps_previous_state():
    """A diverging partial_fit leaves coef_, intercept_ and t_ of the previous call intact,
    and later calls continue as if the failed call never happened."""
    X, y = make_data(n=600)
    first, second = slice(0, 300), slice(300, 600)
    est = SGDRegressor(random_state=0).partial_fit(X[first], y[first])
    coef, intercept, t = est.coef_.copy(), est.intercept_.copy(), est.t_

    est.set_params(learning_rate="constant", eta0=1e300)
    with pytest.raises(DivergenceError):
        est.partial_fit(X[second], y[second])
    np.testing.assert_array_equal(est.coef_, coef)
    np.testing.assert_array_equal(est.intercept_, intercept)
    assert est.t_ == t

    est.set_params(learning_rate="invscaling", eta0=0.01)
    est.partial_fit(X[second], y[second])
    never_failed = SGDRegressor(random_state=0)
    never_failed.partial_fit(X[first], y[first]).partial_fit(X[second], y[second])
    np.testing.assert_array_equal(est.coef_, never_failed.coef_)
    np.testing.assert_array_equal(est.intercept_, never_failed.intercept_)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_failed_first_fit_leaves_estimator_unfitted(method):
    """A first fit / partial_fit that diverges leaves no fitted attributes behind, so
    predict raises NotFittedError."""
    X, y = make_data()
    est = SGDRegressor(learning_rate="constant", eta0=1e300, random_state=0)
    with pytest.raises(DivergenceError):
        getattr(est, method)(X, y)
    fitted = sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("__"))
    assert fitted == [], f"a failed {method} left fitted attributes behind: {fitted}"
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_failed_refit_keeps_previous_model():
    """A failing second fit keeps the model of the first one."""
    X, y = make_data()
    est = SGDRegressor(random_state=0).fit(X, y)
    coef, intercept = est.coef_.copy(), est.intercept_.copy()
    with pytest.raises(DivergenceError):
        est.set_params(on_divergence="raise").fit(X * 1000, y)
    np.testing.assert_array_equal(est.coef_, coef)
    np.testing.assert_array_equal(est.intercept_, intercept)


# ---- convergence warning


def test_convergence_warning_at_max_iter():
    """Reaching max_iter with tol set warns, as scikit-learn does."""
    X, y = make_data()
    with pytest.warns(ConvergenceWarning):
        SkSGDRegressor(max_iter=1, tol=1e-3, random_state=0).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SGDRegressor(max_iter=1, tol=1e-3, random_state=0).fit(X, y)


def test_no_convergence_warning_without_tol():
    """With tol=None running to max_iter is the plan: no warning."""
    X, y = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = SGDRegressor(max_iter=1, tol=None, random_state=0).fit(X, y)
    assert est.n_iter_ == 1


# ---- verbose


def test_verbose_prints_epochs(capsys, small_data):
    """verbose=1 prints one block per epoch in scikit-learn's format."""
    X, y = small_data
    est = SGDRegressor(verbose=1, max_iter=3, tol=None, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "-- Epoch 1" in out
    assert "Avg. loss" in out
    assert out.count("-- Epoch") == est.n_iter_ == 3
    capsys.readouterr()
    SGDRegressor(verbose=0, max_iter=3, tol=None, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


# ---- loss_curve_


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("loss", LOSSES)
def test_loss_curve(loss, batch_size):
    """loss_curve_ holds one finite objective per epoch, decreasing overall from w=0."""
    X, y = make_data()
    est = SGDRegressor(loss=loss, batch_size=batch_size, random_state=0).fit(X, y)
    curve = est.loss_curve_
    assert isinstance(curve, list)
    assert len(curve) == est.n_iter_
    assert np.all(np.isfinite(curve))
    assert curve[-1] < curve[0]


def test_loss_curve_partial_fit_has_one_entry():
    """partial_fit runs one epoch, so loss_curve_ has one entry."""
    X, y = make_data()
    est = SGDRegressor(random_state=0).partial_fit(X, y)
    assert len(est.loss_curve_) == 1 == est.n_iter_


def test_loss_curve_bounded_by_constant_prediction():
    """On a well-posed problem the final epoch's objective is far below the loss of
    predicting zero (what the first updates start from) and near the final model's loss."""
    X, y = make_data()
    est = SGDRegressor(penalty=None, random_state=0).fit(X, y)
    final_loss = np.mean(0.5 * (est.predict(X) - y) ** 2)
    zero_loss = np.mean(0.5 * y**2)
    assert est.loss_curve_[-1] < 0.1 * zero_loss
    assert est.loss_curve_[-1] == pytest.approx(final_loss, rel=0.5)


# ---- mini-batches


@pytest.mark.parametrize("batch_size", [8, 64])
def test_mini_batch_r2_close_to_sklearn(batch_size):
    """Mini-batch SGD is not scikit-learn's loop but reaches a similar R^2."""
    X, y = make_data()
    ref = SkSGDRegressor(random_state=0).fit(X, y)
    ours = SGDRegressor(batch_size=batch_size, random_state=0).fit(X, y)
    assert abs(ours.score(X, y) - ref.score(X, y)) <= R2_TOL, (
        f"R^2 {ours.score(X, y):.4f} after {ours.n_iter_} epochs vs scikit-learn "
        f"{ref.score(X, y):.4f} after {ref.n_iter_}"
    )


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("batch_size", [3, 8, 64, 400, 1000])
def test_mini_batch_t_counts_samples(batch_size, fmt):
    """t_ is 1 + the samples seen, n_iter_ * n, as in scikit-learn's per-sample loop
    (mini-batch steps use the summed gradient, so schedules keep their meaning)."""
    X, y = make_data(fmt=fmt)
    n = y.shape[0]
    est = SGDRegressor(batch_size=batch_size, max_iter=4, tol=None, random_state=0).fit(X, y)
    assert est.n_iter_ == 4
    assert est.t_ == 1 + 4 * n
    assert len(est.loss_curve_) == 4


def test_mini_batch_partial_fit_t_accumulates():
    """partial_fit with mini-batches adds the samples it saw to t_."""
    X, y = make_data()
    est = SGDRegressor(batch_size=16, random_state=0)
    est.partial_fit(X, y)
    assert est.t_ == 1 + 400
    est.partial_fit(X[:100], y[:100])
    assert est.t_ == 1 + 400 + 100


@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
def test_passive_aggressive_rejects_mini_batches(small_data, learning_rate):
    """pa1/pa2 are per-sample rules: batch_size > 1 raises a ValueError."""
    X, y = small_data
    est = SGDRegressor(loss="epsilon_insensitive", learning_rate=learning_rate, batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="batch_size"):
        SGDRegressor(
            loss="epsilon_insensitive", learning_rate=learning_rate, batch_size=4
        ).partial_fit(X, y)


@pytest.mark.parametrize("learning_rate", ["invscaling", *SCHEDULE_ALPHA])
def test_mini_batch_schedules_r2_close_to_sklearn(learning_rate):
    """Every step-size schedule works with mini-batches: R^2 within 0.01 of
    scikit-learn's per-sample fit with the same parameters (alpha as in the
    per-sample comparison, where scikit-learn converges)."""
    X, y = make_data()
    params = {
        "learning_rate": learning_rate,
        "alpha": SCHEDULE_ALPHA.get(learning_rate, 1e-4),
        "random_state": 0,
    }
    ref = SkSGDRegressor(**params).fit(X, y)
    assert ref.score(X, y) > 0.9
    try:
        ours = SGDRegressor(batch_size=16, **params).fit(X, y)
    except DivergenceError as exc:  # pragma: no cover - reported as a failure
        pytest.fail(
            f"mini-batch fit raised where scikit-learn reaches R^2 {ref.score(X, y):.4f}: {exc}"
        )
    assert abs(ours.score(X, y) - ref.score(X, y)) <= R2_TOL


@pytest.mark.parametrize("penalty", PENALTIES)
def test_mini_batch_penalties_r2_close_to_sklearn(penalty):
    """Every penalty works with mini-batches: R^2 within 0.01 of scikit-learn's."""
    X, y = make_data()
    ref = SkSGDRegressor(penalty=penalty, random_state=0).fit(X, y)
    ours = SGDRegressor(penalty=penalty, batch_size=16, random_state=0).fit(X, y)
    assert abs(ours.score(X, y) - ref.score(X, y)) <= R2_TOL


def test_mini_batch_dense_and_sparse_agree():
    """Mini-batch SGD on CSR and on the same dense matrix gives the same model when
    there is no intercept (on sparse data the intercept's steps are damped 100x, as
    in scikit-learn's per-sample loop)."""
    X, y = make_data(fmt="csr")
    sparse = SGDRegressor(batch_size=8, fit_intercept=False, random_state=0).fit(X, y)
    dense = SGDRegressor(batch_size=8, fit_intercept=False, random_state=0).fit(X.toarray(), y)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-12)


# ---- densify / sparsify


def test_sparsify_densify_round_trip():
    """sparsify makes coef_ a scipy sparse matrix with the same predictions; densify
    restores the original 1-D array."""
    X, y = make_data()
    est = SGDRegressor(penalty="l1", alpha=0.01, random_state=0).fit(X, y)
    coef, pred = est.coef_.copy(), est.predict(X)
    assert est.sparsify() is est
    assert sp.issparse(est.coef_)
    np.testing.assert_allclose(est.predict(X), pred, rtol=1e-12, atol=1e-12)
    assert est.densify() is est
    assert isinstance(est.coef_, np.ndarray)
    assert est.coef_.shape == (X.shape[1],)
    np.testing.assert_array_equal(est.coef_, coef)


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
@pytest.mark.parametrize(
    "Model, targets",
    [
        (SGDRegressor, "1-D"),
        (SGDClassifier, "2 classes"),
        (GDRegressor, "1-D"),
        (GDRegressor, "2-D"),
        (GDClassifier, "3 classes"),
    ],
)
def test_a_sparsified_model_resumes_as_the_dense_one(Model, targets, how):
    """A warm start or partial_fit after sparsify() resumes from the same
    coefficients as without it (scikit-learn's SGDRegressor fails there)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 4))
    y = X @ [1.0, 2.0, 0.0, 0.0]
    y = {
        "1-D": y,
        "2-D": np.c_[y, -y],
        "2 classes": (y > 0).astype(int),
        "3 classes": np.digitize(y, [-1.0, 1.0]),
    }[targets]
    kw = {"classes": np.unique(y)} if "classes" in targets else {}
    models = []
    for sparsified in (False, True):
        m = Model(random_state=0, warm_start=how == "warm_start")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(X, y) if how == "warm_start" else m.partial_fit(X, y, **kw)
            if sparsified:
                m.sparsify()
            m.fit(X, y) if how == "warm_start" else m.partial_fit(X, y, **kw)
        models.append(m)
    dense, resumed = models
    assert isinstance(resumed.coef_, np.ndarray) and resumed.coef_.shape == dense.coef_.shape
    np.testing.assert_array_equal(resumed.coef_, dense.coef_)
    np.testing.assert_array_equal(resumed.intercept_, dense.intercept_)


def test_sparsify_unfitted_raises():
    """sparsify/densify need a fitted model."""
    with pytest.raises(NotFittedError):
        SGDRegressor().sparsify()
    with pytest.raises(NotFittedError):
        SGDRegressor().densify()


@pytest.mark.parametrize(
    "loss", ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
)
def test_regression_loss_bound_bounds_the_returned_models_loss(loss):
    """The bound that lets a per-sample fit skip its returned-model pass is never
    below the loss that pass would compute, for good and for blown-up models."""
    from gdfast._divergence import regression_loss_bound, returned_model_loss

    rng = np.random.default_rng(7)
    X = rng.standard_normal((500, 6)) * rng.uniform(0.1, 10, size=6)
    y = X @ rng.standard_normal(6) + rng.standard_normal(500)
    sq_max, y_max = float(np.max(np.sum(X * X, axis=1))), float(np.max(np.abs(y)))
    for scale in (0.0, 1e-3, 1.0, 1e3, 1e8):
        coef, intercept = rng.standard_normal(6) * scale, np.array([rng.standard_normal() * scale])
        actual = returned_model_loss(X, y[:, None], coef, intercept, loss, 0.1, 1, name="t")
        bound = regression_loss_bound(coef, intercept, sq_max, y_max, loss, 0.1)
        assert actual <= bound * (1 + 1e-12)


def test_per_sample_extent_is_measured_only_when_every_row_was_read():
    """The per-sample driver reports max ||x||^2 and max |y| (what the bound
    needs) after reading every row, and NaN when validation rows were held out
    or a row is not finite: the returned-model pass then runs."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 7))
    y = X @ rng.standard_normal(7)

    def extent(A, validation=None):
        record = per_sample_run(A, y, max_iter=2, validation=validation).record
        return record.row_sq_norm_max, record.target_abs_max

    sq_max, y_max = extent(X)
    assert sq_max == pytest.approx(np.max(np.sum(X * X, axis=1)), rel=1e-12)
    assert y_max == np.max(np.abs(y))
    held_out = np.zeros(400, dtype=np.uint8)
    held_out[:40] = 1
    assert np.isnan(extent(X, held_out)).all()
    X_inf = X.copy()
    X_inf[17, 3] = np.inf
    assert np.isnan(extent(X_inf)).all()


def test_blown_up_per_sample_fit_is_still_judged():
    """A per-sample fit whose model is useless still gets the DivergenceWarning
    (its bound is far above the threshold, so the pass runs and judges it)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)) * 50.0
    y = X @ np.ones(4)
    with pytest.warns(DivergenceWarning):
        SGDRegressor(learning_rate="constant", eta0=1.0, max_iter=2, tol=None, random_state=0).fit(
            X, y
        )
