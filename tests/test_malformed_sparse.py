"""Malformed CSR matrices at every entry point: a ValueError that says what is
wrong, never a crash or a silent answer (the kernels index with the arrays
unchecked, so the structure is checked before native code runs)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gdfast import GDRegressor, SGDClassifier, SGDRegressor, kernels


def _valid(n=60, p=5, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((n, p)) * (rng.random((n, p)) < 0.5)
    X = sp.csr_matrix(dense)
    y = dense @ np.arange(1.0, p + 1) + 0.1 * rng.standard_normal(n)
    return X, y


def _defect(kind):
    X, y = _valid()
    X.indices = X.indices.copy()
    X.indptr = X.indptr.copy()
    if kind == "index_equals_n_cols":
        X.indices[3] = X.shape[1]
    elif kind == "index_far_out":
        X.indices[3] = 10**6
    elif kind == "negative_index":
        X.indices[3] = -1
    elif kind == "indptr_beyond_nnz":
        X.indptr[-1] = X.indptr[-1] + 50
    elif kind == "indptr_not_monotone":
        X.indptr[10] = X.indptr[12] + 1
    elif kind == "indptr_not_from_zero":
        X.indptr[0] = 1
    elif kind == "indptr_too_short":
        X.indptr = X.indptr[:-5]
    return X, y


DEFECTS = [
    "index_equals_n_cols",
    "index_far_out",
    "negative_index",
    "indptr_beyond_nnz",
    "indptr_not_monotone",
    "indptr_not_from_zero",
    "indptr_too_short",
]

FITS = {
    "GDRegressor.fit": lambda X, y: GDRegressor(max_iter=5, tol=None).fit(X, y),
    "GDRegressor.fit minibatch": lambda X, y: GDRegressor(batch_size=8, max_iter=2).fit(X, y),
    "SGDRegressor.fit": lambda X, y: SGDRegressor(max_iter=2, tol=None).fit(X, y),
    "SGDRegressor.fit minibatch": lambda X, y: SGDRegressor(batch_size=8, max_iter=2).fit(X, y),
    "SGDRegressor.partial_fit": lambda X, y: SGDRegressor().partial_fit(X, y),
    "GDRegressor.partial_fit": lambda X, y: GDRegressor().partial_fit(X, y),
    "kernels.loss_grad": lambda X, y: kernels.loss_grad(X, y, np.zeros(X.shape[1]), 0.0),
    "kernels.predict": lambda X, y: kernels.predict(X, np.ones(X.shape[1]), 0.0),
}


@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize("entry", list(FITS))
def test_malformed_csr_is_refused_everywhere(entry, defect):
    X, y = _defect(defect)
    with pytest.raises(ValueError, match=r"(?i)malformed|indptr|index"):
        FITS[entry](X, y)


@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize(
    "model", [GDRegressor(max_iter=5, tol=None), SGDRegressor(max_iter=2, tol=None)]
)
def test_predict_refuses_malformed_csr(model, defect):
    X, y = _valid()
    model.fit(X, y)
    bad, _ = _defect(defect)
    with pytest.raises(ValueError, match=r"(?i)malformed|indptr|index"):
        model.predict(bad)


def _odd_dtypes(kind):
    X, y = _valid()
    if kind == "int32_indices_int64_indptr":
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int64)
    elif kind == "uint32_indices":
        X.indices = X.indices.astype(np.uint32)
    elif kind == "strided_data":
        data = np.empty(2 * X.data.size)
        data[::2] = X.data
        X.data = data[::2]
    return X, y


@pytest.mark.parametrize("kind", ["int32_indices_int64_indptr", "uint32_indices", "strided_data"])
def test_valid_csr_with_odd_dtypes_fits_like_its_dense_twin(kind):
    X, y = _odd_dtypes(kind)
    dense = X.toarray()
    a = GDRegressor(max_iter=50).fit(X, y)
    b = GDRegressor(max_iter=50).fit(dense, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.predict(X), b.predict(dense), rtol=1e-9, atol=1e-12)
    s = SGDRegressor(random_state=0, max_iter=3, tol=None).fit(X, y)
    assert np.isfinite(s.coef_).all()
    value, grad, _ = kernels.loss_grad(X, y, np.ones(X.shape[1]), 0.5)
    value_d, grad_d, _ = kernels.loss_grad(dense, y, np.ones(X.shape[1]), 0.5)
    np.testing.assert_allclose(grad, grad_d, rtol=1e-12)
    assert value == pytest.approx(value_d, rel=1e-12)


@pytest.mark.parametrize("name", ["max_iter", "n_iter_no_change", "n_jobs", "step_size"])
def test_integers_beyond_the_engine_name_the_parameter(name):
    X, y = _valid()
    X = X.toarray()
    for est in (GDRegressor, SGDRegressor):
        if name not in est().get_params():
            continue
        with pytest.raises(ValueError, match=name):
            est(**{name: 2**40}, batch_size=8).fit(X, y)


def test_adam_step_beyond_float_range_is_a_value_error():
    p, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="step must be an integer"):
        kernels.apply_adam(p, np.ones(3), m, v, 10**400, learning_rate=0.1)


@pytest.mark.parametrize("estimator", [SGDRegressor, GDRegressor, SGDClassifier])
def test_a_matrix_broken_in_place_after_a_fit_is_checked_again(estimator):
    """A sparse fit checks X's structure once and reuses that check within the
    call; the next call checks again, so indices broken in place in between
    (the same arrays) give the error, not an out-of-bounds read."""
    X, y = _valid()
    if estimator is SGDClassifier:
        y = np.where(y > np.median(y), 1, 0)
    model = estimator(random_state=0).fit(X, y)
    X.indices[3] = X.shape[1] + 7
    with pytest.raises(ValueError, match="column indices out of range"):
        model.predict(X)
    with pytest.raises(ValueError, match="column indices out of range"):
        estimator(random_state=0).fit(X, y)
