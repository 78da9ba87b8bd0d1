"""Fuzzed bad input to the estimators: fit, partial_fit and predict of
SGDRegressor and GDRegressor (the harness is tests/fuzz_harness.py)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import fuzz_harness as fh
import numpy as np
import pytest
from fuzz_harness import _hang_watchdog, _memmap_dir  # noqa: F401  (autouse: apply here)
from hypothesis import given, note
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from gdfast import GDRegressor, SGDRegressor

# --------------------------------------------------------------------------- estimators


@dataclass(frozen=True)
class EstSpec:
    cls: str
    params: tuple

    def make(self):
        return {"SGD": SGDRegressor, "GD": GDRegressor}[self.cls](**dict(self.params))

    def __str__(self) -> str:  # a short test id
        shown = [f"{k}={v}" for k, v in self.params if k not in ("max_iter", "random_state", "tol")]
        return f"{self.cls}({','.join(shown)})"

    @property
    def multi_output(self) -> bool:
        return self.cls == "GD"

    @property
    def takes_negative_weights(self) -> bool:
        """Per-sample SGDRegressor takes negative weights, as scikit-learn's does
        (tests/test_sgd_input.py checks it against scikit-learn)."""
        return self.cls == "SGD" and dict(self.params)["batch_size"] == 1


def est(cls, **params) -> EstSpec:
    base = {"max_iter": 5, "random_state": 0}
    if cls == "SGD":
        base["tol"] = None
    base.update(params)
    return EstSpec(cls, tuple(sorted(base.items())))


ESTIMATORS = (
    est("SGD", batch_size=1),
    est("SGD", batch_size=4),
    est("SGD", batch_size=1, loss="huber", average=True),
    est("SGD", batch_size=4, learning_rate="adaptive", penalty="elasticnet"),
    est("GD", batch_size=None, optimizer="nesterov"),
    est("GD", batch_size=4, optimizer="adam"),
    est("GD", batch_size=None, optimizer="rmsprop", standardize=False),
    est("GD", batch_size=4, optimizer="momentum", learning_rate="constant"),
    est("GD", batch_size=None, optimizer="adagrad", loss="epsilon_insensitive", penalty="l1"),
    est("GD", batch_size=None, optimizer="sgd", precompute=False, standardize=False),
)


def clean_X(p: int, n: int = 4) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n * p).reshape(n, p)


def fit_call(model, method: str, X, y, sw):
    return getattr(model, method)(X, y, sample_weight=sw)


def check_fitted_model(model, p: int, k: int | None) -> None:
    """A successful fit or partial_fit left a finite, usable model."""
    coef = np.asarray(model.coef_)
    intercept = np.asarray(model.intercept_)
    assert np.isfinite(coef).all() and np.isfinite(intercept).all(), (
        f"silent non-finite model: coef_={coef}, intercept_={intercept}"
    )
    expected = (p,) if k is None else (k, p)
    assert coef.shape == expected, f"coef_ shape {coef.shape}, expected {expected}"
    assert intercept.size == (1 if k is None else k)
    assert model.n_features_in_ == p
    Xc = clean_X(p)
    out = fh.call(model.predict, Xc)
    bound = float(np.sum(np.abs(coef), dtype=np.float64)) + float(np.max(np.abs(intercept)))
    if bound < 1e300:  # predictions of |x| <= 1 cannot overflow
        assert out.ok, f"predict on clean data failed: {out.error!r}"
    if out.ok:
        fh.assert_finite_array(out.value, (4,) if k is None else (4, k), "predict(clean X)")


def expected_fit_failure(estspec, n, p, X, y_kind, y, sw_spec, sw) -> str | None:
    """Why this fit must be refused (None: it may succeed)."""
    if n == 0:
        return "0 rows"
    if p == 0:
        return "0 features"
    if fh.is_unusable(X) or fh.is_nonfinite(X):
        return "X is complex, non-numeric or not finite"
    if y_kind in ("wrong_len", "3d"):
        return f"y is {y_kind}"
    if y_kind in ("2d2", "2d3") and not estspec.multi_output:
        return "SGDRegressor with several targets"
    if fh.is_unusable(y) or fh.is_nonfinite(y):
        return "y is complex, non-numeric or not finite"
    if sw_spec.kind == "negative" and estspec.takes_negative_weights:
        return None
    if sw_spec.bad or sw_spec.kind == "all_zero" or fh.is_nonfinite(sw):
        return f"sample_weight is {sw_spec.kind}"
    return None


def n_targets(estspec, y_kind):
    if not estspec.multi_output:
        return None
    return fh.N_TARGETS.get(y_kind)


@fh.FUZZ
@given(
    estspec=st.sampled_from(ESTIMATORS),
    method=st.sampled_from(("fit", "partial_fit")),
    inputs=fh.fit_inputs(),
)
def test_estimator_fit_fuzz(estspec, method, inputs):
    n, p, Xs, y_kind, ys, sws = inputs
    X, y, sw = Xs.build(), ys.build(), sws.build()
    snap = fh.Snapshot(X=X, y=y, sample_weight=sw)
    model = estspec.make()
    out = fh.call(fit_call, model, method, X, y, sw)
    snap.assert_unchanged()

    must_fail = expected_fit_failure(estspec, n, p, X, y_kind, y, sws, sw)
    note(f"must_fail={must_fail!r}")
    if must_fail:
        assert not out.ok, f"{method} accepted bad input ({must_fail})"
    clean = must_fail is None and Xs.clean and ys.clean and sws.kind in fh.GOOD_WEIGHT_KINDS
    if clean:
        assert out.ok, f"{method} refused clean input: {out.error!r}"

    if not out.ok:
        # A failed first fit leaves the estimator unfitted, not half-fitted.
        after = fh.call(model.predict, clean_X(max(p, 1)))
        assert not after.ok and isinstance(after.error, NotFittedError), (
            f"after a failed {method}, predict gave {after}"
        )
        return

    k = n_targets(estspec, y_kind)
    check_fitted_model(model, p, k)
    # predict on the training input itself: finite, or a clear error.
    pred = fh.call(model.predict, X)
    snap.assert_unchanged()
    if pred.ok:
        fh.assert_finite_array(pred.value, (n,) if k is None else (n, k), "predict(X)")

    if clean:
        # The same model as from a plain C-contiguous float array: layouts,
        # containers and integer/bool/object dtypes change nothing.
        dtype = Xs.canonical_float
        twin = estspec.make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_call(
                twin,
                method,
                fh.canonical(Xs, dtype),
                fh.canonical(ys, None),
                fh.canonical(sws, None),
            )
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(model.coef_, twin.coef_, **tol)
        np.testing.assert_allclose(model.intercept_, twin.intercept_, **tol)


@fh.FUZZ
@given(
    estspec=st.sampled_from(ESTIMATORS),
    p_fit=st.integers(1, 4),
    n=st.integers(0, 30),
    p_extra=st.sampled_from((0, 0, 0, 1, -1, 3)),
    mode=st.sampled_from(fh.MODES),
    data=st.data(),
)
def test_estimator_predict_fuzz(estspec, p_fit, n, p_extra, mode, data):
    rng = np.random.default_rng(p_fit)
    X_fit = rng.standard_normal((20, p_fit))
    y_fit = X_fit @ rng.standard_normal(p_fit) + 0.5
    model = estspec.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_fit, y_fit)
    p = max(0, p_fit + p_extra)
    Xs = data.draw(fh.array_specs((n, p), mode=mode), label="X")
    X = Xs.build()
    snap = fh.Snapshot(X=X)
    coef_before = np.array(model.coef_, copy=True)

    out = fh.call(model.predict, X)
    snap.assert_unchanged()
    assert np.array_equal(model.coef_, coef_before), "predict changed coef_"

    if p != p_fit:
        assert not out.ok, f"predict accepted {p} features for a model fitted on {p_fit}"
        if n > 0 and Xs.dtype in fh.NUMERIC_DTYPES and not fh.is_nonfinite(X):
            message = str(out.error)
            assert "feature" in message, f"the error does not name the problem: {message!r}"
    if n == 0 or fh.is_unusable(X) or fh.is_nonfinite(X):
        assert not out.ok, "predict accepted empty, non-numeric or non-finite X"
    if out.ok:
        fh.assert_finite_array(out.value, (n,), "predict(X)")
    if Xs.clean and p == p_fit and n > 0:
        assert out.ok, f"predict refused clean input: {out.error!r}"
        twin = model.predict(fh.canonical(Xs, Xs.canonical_float))
        tol = 1e-5 if Xs.canonical_float == np.float32 else 1e-12
        np.testing.assert_allclose(out.value, twin, rtol=tol, atol=tol)


@fh.FEW
@given(
    estspec=st.sampled_from(ESTIMATORS), n=st.integers(0, 8), p=st.integers(0, 6), data=st.data()
)
def test_predict_before_fit(estspec, n, p, data):
    Xs = data.draw(fh.array_specs((n, p)), label="X")
    X = Xs.build()
    snap = fh.Snapshot(X=X)
    out = fh.call(estspec.make().predict, X)
    snap.assert_unchanged()
    assert not out.ok and isinstance(out.error, NotFittedError), out


@fh.FUZZ
@given(
    estspec=st.sampled_from(ESTIMATORS),
    multi=st.booleans(),
    data=st.data(),
)
def test_partial_fit_after_fit_fuzz(estspec, multi, data):
    """A bad batch after a good one is refused and leaves the model as it was;
    a good one keeps it finite."""
    multi = multi and estspec.multi_output
    rng = np.random.default_rng(1)
    X0 = rng.standard_normal((12, 3))
    y0 = X0 @ rng.standard_normal((3, 2) if multi else 3) + 0.5
    model = estspec.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(X0, y0)
    coef0 = np.array(model.coef_, copy=True)
    intercept0 = np.array(model.intercept_, copy=True)

    if multi:
        y_kinds = ("2d2", "2d2", "2d2", "1d", "2d3")
    elif estspec.multi_output:
        y_kinds = ("1d", "1d", "1d", "2d1")
    else:
        y_kinds = ("1d", "1d", "2d1", "2d2")
    n, p, Xs, y_kind, ys, sws = data.draw(
        fh.fit_inputs(p=st.sampled_from((3, 3, 3, 3, 3, 0, 2, 4)), good_y_kinds=y_kinds),
        label="batch",
    )
    X, y, sw = Xs.build(), ys.build(), sws.build()
    snap = fh.Snapshot(X=X, y=y, sample_weight=sw)
    out = fh.call(model.partial_fit, X, y, sample_weight=sw)
    snap.assert_unchanged()

    must_fail = expected_fit_failure(estspec, n, p, X, y_kind, y, sws, sw)
    if p != 3:
        must_fail = "wrong number of features"
    if multi and y_kind != "2d2":
        must_fail = "other targets than the first call"
    if not multi and estspec.multi_output and y_kind in fh.N_TARGETS:
        must_fail = "other targets than the first call"
    note(f"must_fail={must_fail!r}")
    if must_fail:
        assert not out.ok, f"partial_fit accepted bad input ({must_fail})"
    if not out.ok:
        np.testing.assert_array_equal(
            model.coef_, coef0, err_msg="failed partial_fit changed coef_"
        )
        np.testing.assert_array_equal(
            model.intercept_, intercept0, err_msg="failed partial_fit changed intercept_"
        )
        return
    check_fitted_model(model, 3, 2 if multi else None)


@pytest.mark.skipif(fh.pd is None, reason="pandas is not installed")
@pytest.mark.parametrize("estspec", ESTIMATORS, ids=str)
def test_pandas_feature_names(estspec):
    rng = np.random.default_rng(0)
    df = fh.pd.DataFrame(rng.standard_normal((15, 3)), columns=["a", "b", "c"])
    y = fh.pd.Series(rng.standard_normal(15), name="target")
    snap = fh.Snapshot(X=df, y=y)
    model = estspec.make()
    assert fh.call(model.fit, df, y).ok
    snap.assert_unchanged()
    check_fitted_model(model, 3, None)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    # Same names, another order: scikit-learn's ValueError naming the features.
    out = fh.call(model.predict, df[["c", "a", "b"]])
    assert not out.ok and "feature names" in str(out.error)
    # Unknown name.
    out = fh.call(model.predict, df.rename(columns={"c": "z"}))
    assert not out.ok and "feature names" in str(out.error)
    # Missing column.
    out = fh.call(model.predict, df[["a", "b"]])
    assert not out.ok and "feature" in str(out.error)
    # Nullable dtype with a missing value.
    bad = df.astype("Float64")
    bad.iloc[2, 1] = fh.pd.NA
    out = fh.call(model.predict, bad)
    assert not out.ok
    snap.assert_unchanged()


@pytest.mark.skipif(fh.pd is None, reason="pandas is not installed")
@pytest.mark.parametrize("estspec", ESTIMATORS[:1] + ESTIMATORS[4:5], ids=str)
def test_zero_column_dataframe_error_names_the_problem(estspec):
    """A DataFrame without columns has 0 features: the error must say so (as it
    does for an ndarray of shape (n, 0)), not leak a NumPy internal message."""
    empty = fh.pd.DataFrame(np.zeros((3, 0)))
    y = np.arange(3.0)
    snap = fh.Snapshot(X=empty, y=y)
    out = fh.call(estspec.make().fit, empty, y)
    assert not out.ok
    assert "feature" in str(out.error), f"fit: unclear error {out.error!r}"

    model = estspec.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(np.ones((3, 2)), y)
    out = fh.call(model.predict, empty)
    assert not out.ok
    assert "feature" in str(out.error), f"predict: unclear error {out.error!r}"
    snap.assert_unchanged()
