"""Bad input to gdfast.kernels and gdfast.reference: clear errors that name the problem."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gdfast import kernels, reference

IMPLS = [kernels, reference]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((20, 3)), rng.standard_normal(20), rng.standard_normal(3)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda X, y, w: (X[0], y, w), ValueError, "X must be a 2-D array"),
        (lambda X, y, w: (X[None], y, w), ValueError, "X must be a 2-D array"),
        (lambda X, y, w: (np.float64(1.0), y, w), ValueError, "X must be a 2-D array"),
        (lambda X, y, w: (X, y[:-1], w), ValueError, "y has 19 rows but X has 20"),
        (lambda X, y, w: (X, y[:, None, None], w), ValueError, "y must be 1-D"),
        (lambda X, y, w: (X, y, w[:2]), ValueError, r"coef must have shape \(3,\)"),
        (lambda X, y, w: (X.astype(complex), y, w), TypeError, "X must be real-valued"),
        (lambda X, y, w: (X.astype(str), y, w), TypeError, "X must contain numbers"),
        (
            lambda X, y, w: (np.array([["a", 1]] * 20, dtype=object), y, w[:2]),
            TypeError,
            "X must contain numbers",
        ),
        (lambda X, y, w: (X, y.astype(str), w), TypeError, "y must contain numbers"),
        (lambda X, y, w: (np.where(X > 1, np.nan, X), y, w), ValueError, "X contains NaN"),
        (lambda X, y, w: (np.where(X > 1, np.inf, X), y, w), ValueError, "X contains infinity"),
        (lambda X, y, w: (X, np.where(y > 1, np.nan, y), w), ValueError, "y contains NaN"),
        (lambda X, y, w: (X, y, np.array([np.inf, 0, 0])), ValueError, "coef contains infinity"),
    ],
)
def test_bad_arrays(impl, data, change, error, match):
    X, y, w = change(*data)
    with pytest.raises(error, match=match):
        impl.loss_grad(X, y, w, 0.0)


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_sample_weight_intercept_loss(impl, data):
    X, y, w = data
    with pytest.raises(ValueError, match="sample_weight contains negative"):
        impl.loss_grad(X, y, w, 0.0, sample_weight=-np.ones(20))
    with pytest.raises(ValueError, match="sample_weight has 19 entries"):
        impl.loss_grad(X, y, w, 0.0, sample_weight=np.ones(19))
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        impl.loss_grad(X, y, w, 0.0, sample_weight=np.full(20, np.nan))
    with pytest.raises(ValueError, match="intercept must be a scalar"):
        impl.loss_grad(X, y, w, np.ones(2))
    with pytest.raises(ValueError, match="intercept contains NaN"):
        impl.loss_grad(X, y, w, np.nan)
    with pytest.raises(ValueError, match="loss must be one of"):
        impl.loss_grad(X, y, w, 0.0, loss="cross_entropy")
    with pytest.raises(ValueError, match="labels must be \\+1 or -1"):
        impl.loss_grad(X, y, w, 0.0, loss="hinge")  # continuous y for a margin loss
    with pytest.raises(ValueError, match="epsilon must be finite and >= 0"):
        impl.loss_grad(X, y, w, 0.0, epsilon=-1.0)
    with pytest.raises(TypeError, match="epsilon must be a real number"):
        impl.loss_grad(X, y, w, 0.0, epsilon="big")
    with pytest.raises(ValueError, match=r"coef must have shape \(2, 3\)"):
        impl.loss_grad(X, np.c_[y, y], w, 0.0)


def test_n_jobs_validation(data):
    X, y, w = data
    with pytest.raises(ValueError, match="n_jobs must be None or a nonzero integer"):
        kernels.loss_grad(X, y, w, 0.0, n_jobs=0)
    with pytest.raises(TypeError, match="n_jobs must be None or a nonzero integer"):
        kernels.loss_grad(X, y, w, 0.0, n_jobs=1.5)
    assert kernels.loss_grad(X, y, w, 0.0, n_jobs=-1)[0] == kernels.loss_grad(X, y, w, 0.0)[0]


@pytest.mark.parametrize("impl", IMPLS)
def test_overflow_is_an_error_not_a_silent_inf(impl, data):
    X, y, w = data
    with pytest.raises(FloatingPointError, match="overflowed"):
        impl.loss_grad(X * 1e300, y, w * 1e10, 0.0)
    with pytest.raises(FloatingPointError, match="overflowed"):
        impl.predict(X * 1e300, w * 1e10, 0.0)


def test_float32_overflow_in_predict():
    X = np.full((3, 2), 3e38, dtype=np.float32)
    with pytest.raises(FloatingPointError, match="overflowed"):
        kernels.predict(X, np.ones(2), 0.0)


@pytest.mark.parametrize("impl", IMPLS)
def test_nan_in_sparse_data(impl):
    X = sp.csr_matrix(np.array([[1.0, 0.0], [np.nan, 2.0]]))
    with pytest.raises(ValueError, match="X contains NaN"):
        impl.loss_grad(X, np.zeros(2), np.zeros(2), 0.0)


def test_malformed_csr_is_refused():
    X = sp.csr_matrix(np.eye(3))
    X.indices = X.indices.copy()
    X.indices[1] = 7  # column index beyond n_features: would write out of bounds
    with pytest.raises(ValueError, match="column indices out of range"):
        kernels.loss_grad(X, np.zeros(3), np.zeros(3), 0.0)


def test_predict_bad_input(data):
    X, _, w = data
    with pytest.raises(ValueError, match=r"coef must have shape \(3,\)"):
        kernels.predict(X, w[:2], 0.0)
    with pytest.raises(ValueError, match="X contains NaN"):
        kernels.predict(np.full((2, 3), np.nan), w, 0.0)


@pytest.mark.parametrize("impl", IMPLS)
def test_missing_intercept_and_empty_coef_are_named(impl, data):
    X, y, w = data
    with pytest.raises(
        TypeError, match="intercept must be a number or an array of numbers; got None"
    ):
        impl.loss_grad(X, y, w, None)
    with pytest.raises(ValueError, match="coef must have at least one row"):
        impl.predict(X, np.zeros((0, 3)), np.zeros(0))


@pytest.mark.parametrize("impl", IMPLS)
def test_dates_and_durations_are_not_numbers(impl, data):
    X, y, w = data
    with pytest.raises(TypeError, match="y must contain numbers; got dtype datetime64"):
        impl.loss_grad(X, np.arange(20).astype("datetime64[s]"), w, 0.0)
    with pytest.raises(TypeError, match="X must contain numbers; got dtype timedelta64"):
        impl.loss_grad(X.astype("timedelta64[s]"), y, w, 0.0)
