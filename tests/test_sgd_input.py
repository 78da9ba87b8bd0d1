"""gdfast.SGDRegressor's input handling: sparse input, memory layouts, lists and
pandas, bad input and parameter validation (often against scikit-learn's)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sgd_helpers import DENSE_SPARSE, assert_same_fit, make_data, per_sample_run
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import SGDRegressor as SkSGDRegressor
from sklearn.utils._param_validation import InvalidParameterError

from gdfast import SGDRegressor

# Many comparisons deliberately run to max_iter or stop early; the warning itself
# is tested in test_sgd_extras.py (test_convergence_warning_*).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ---- sparse input


def test_sparse_containers_and_index_dtypes_agree():
    """csr_matrix and csr_array give the same fit, equal to scikit-learn's; int64-indexed
    CSR works and gives that fit too (to rounding: another compiled instantiation)."""
    X, y = make_data(fmt="csr")
    X_array = sp.csr_array(X)
    X_int64 = X.copy()  # scipy's constructors downcast indices: set them directly
    X_int64.indices = X.indices.astype(np.int64)
    X_int64.indptr = X.indptr.astype(np.int64)
    assert X_int64.indices.dtype == np.int64
    ref = SkSGDRegressor(random_state=0).fit(X, y)
    matrix = SGDRegressor(random_state=0).fit(X, y)
    array = SGDRegressor(random_state=0).fit(X_array, y)
    int64 = SGDRegressor(random_state=0).fit(X_int64, y)
    np.testing.assert_array_equal(array.coef_, matrix.coef_)
    np.testing.assert_array_equal(array.intercept_, matrix.intercept_)
    for fit in (matrix, array, int64):
        assert_same_fit(fit, ref, X, y)
    np.testing.assert_allclose(int64.coef_, matrix.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(matrix.predict(X_int64), matrix.predict(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(matrix.predict(X_array), matrix.predict(X), rtol=1e-12, atol=1e-12)


def test_sparse_and_dense_predict_agree():
    """predict on CSR and on the same dense matrix agree."""
    X, y = make_data(fmt="csr")
    est = SGDRegressor(random_state=0).fit(X, y)
    np.testing.assert_allclose(est.predict(X), est.predict(X.toarray()), rtol=1e-12, atol=1e-12)


# ---- layouts, lists, pandas


def test_memory_layout_does_not_change_result():
    """C-ordered, Fortran-ordered, non-contiguous and list X give identical fits."""
    X, y = make_data()
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X
    inputs = [
        np.ascontiguousarray(X),
        np.asfortranarray(X),
        wide[:, ::2],
        X.tolist(),
    ]
    fits = [SGDRegressor(random_state=0).fit(Xi, y.tolist()) for Xi in inputs]
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.coef_, fits[0].coef_)
        np.testing.assert_array_equal(fit.intercept_, fits[0].intercept_)
        assert fit.n_iter_ == fits[0].n_iter_
    # predict reads each layout in place (different summation order): equal to rounding.
    np.testing.assert_allclose(
        fits[0].predict(np.asfortranarray(X)), fits[0].predict(X), rtol=1e-12, atol=1e-12
    )


def test_fortran_order_same_result_for_mini_batches():
    """Mini-batch gradients read X in place in either layout, summing in a different
    order: C and Fortran order give the same model up to rounding."""
    X, y = make_data()
    c = SGDRegressor(random_state=0, batch_size=8).fit(np.ascontiguousarray(X), y)
    f = SGDRegressor(random_state=0, batch_size=8).fit(np.asfortranarray(X), y)
    assert c.n_iter_ == f.n_iter_
    np.testing.assert_allclose(c.coef_, f.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c.intercept_, f.intercept_, rtol=1e-12, atol=1e-14)


def test_pandas_feature_names_like_sklearn():
    """DataFrame input sets feature_names_in_; mismatched names at predict are handled
    exactly as scikit-learn handles them."""
    pd = pytest.importorskip("pandas")
    X, y = make_data()
    columns = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns)
    ours = SGDRegressor(random_state=0).fit(df, y)
    ref = SkSGDRegressor(random_state=0).fit(df, y)
    np.testing.assert_array_equal(ours.feature_names_in_, np.array(columns, dtype=object))
    np.testing.assert_allclose(ours.predict(df), ref.predict(df), atol=1e-8)

    # Other column names: scikit-learn raises a ValueError; so must gdfast.
    renamed = df.rename(columns={"f0": "other"})
    with pytest.raises(ValueError, match="feature names should match"):
        ref.predict(renamed)
    with pytest.raises(ValueError, match="feature names should match"):
        ours.predict(renamed)

    # No names at predict: both warn (UserWarning), then predict.
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        ref.predict(X)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        ours.predict(X)

    # Fitted without names, predicting with names: both warn.
    plain = SGDRegressor(random_state=0).fit(X, y)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="fitted without feature names"):
        plain.predict(df)


# ---- bad input


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda X, y: (np.where(X > 1, np.nan, X), y, None), "Input X contains NaN"),
        (lambda X, y: (np.where(X > 1, np.inf, X), y, None), "Input X contains infinity"),
        (lambda X, y: (X, np.where(y > 1, np.nan, y), None), "Input y contains NaN"),
        (lambda X, y: (X, np.where(y > 1, np.inf, y), None), "Input y contains infinity"),
        (lambda X, y: (X, y, np.ones(len(y) + 1)), "sample_weight"),
        (lambda X, y: (X[:, :, None], y, None), "dim 3"),
        (lambda X, y: (np.full(X.shape, "abc"), y, None), "could not convert string to float"),
        (lambda X, y: (X, y[:-1], None), "inconsistent numbers of samples"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_training_input_raises(small_data, method, corrupt, match):
    """Invalid training input raises a ValueError that says what is wrong."""
    X, y, sample_weight = corrupt(*small_data)
    est = SGDRegressor(random_state=0)
    with pytest.raises(ValueError, match=match):
        getattr(est, method)(X, y, sample_weight=sample_weight)
    assert not hasattr(est, "coef_")


def test_bad_predict_input_raises(small_data):
    """predict before fit, with the wrong number of features or with NaN raises."""
    X, y = small_data
    with pytest.raises(NotFittedError):
        SGDRegressor().predict(X)
    est = SGDRegressor(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :2])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(np.full_like(X, np.nan))


def test_bad_coef_init_raises(small_data):
    """coef_init / intercept_init of the wrong shape raise a ValueError."""
    X, y = small_data
    with pytest.raises(ValueError, match="coef_init"):
        SGDRegressor().fit(X, y, coef_init=np.zeros(5))
    with pytest.raises(ValueError, match="intercept_init"):
        SGDRegressor().fit(X, y, intercept_init=np.zeros(3))


@pytest.mark.parametrize("fmt", DENSE_SPARSE)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch_size", [1, 8])
def test_caller_arrays_not_modified(fmt, dtype, batch_size):
    """fit, partial_fit and predict never write to X, y, sample_weight or coef_init."""
    X, y = make_data(fmt=fmt)
    X = X.astype(dtype)
    y = y.astype(dtype)
    if fmt == "dense":
        X = np.asfortranarray(X)
    rng = np.random.default_rng(1)
    sample_weight = rng.uniform(0.5, 2.0, size=y.shape[0]).astype(dtype)
    coef_init = np.linspace(-1, 1, X.shape[1]).astype(dtype)
    intercept_init = np.array([0.2], dtype=dtype)
    snapshot = [
        (X.data.copy() if fmt == "csr" else X.copy()),
        y.copy(),
        sample_weight.copy(),
        coef_init.copy(),
        intercept_init.copy(),
    ]
    est = SGDRegressor(random_state=0, batch_size=batch_size, average=True)
    est.fit(X, y, coef_init=coef_init, intercept_init=intercept_init, sample_weight=sample_weight)
    est.partial_fit(X, y, sample_weight=sample_weight)
    est.predict(X)
    after = [
        (X.data if fmt == "csr" else X),
        y,
        sample_weight,
        coef_init,
        intercept_init,
    ]
    for before, now in zip(snapshot, after, strict=True):
        np.testing.assert_array_equal(now, before)
    if fmt == "dense":
        assert X.flags.f_contiguous
    # The fitted coefficients must not alias the caller's coef_init either.
    assert not np.shares_memory(est.coef_, coef_init)


# ---- parameter validation


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("loss", "absolute_error"),
        ("penalty", "l3"),
        ("alpha", -1.0),
        ("l1_ratio", 1.5),
        ("max_iter", 0),
        ("tol", -1.0),
        ("epsilon", -0.1),
        ("learning_rate", "fast"),
        ("eta0", 0.0),
        ("validation_fraction", 1.0),
        ("n_iter_no_change", 0),
        ("average", -1),
        ("batch_size", 0),
        ("fit_intercept", "yes"),
    ],
)
def test_invalid_param_raises_invalid_parameter_error(small_data, param, value):
    """An out-of-range parameter raises scikit-learn's InvalidParameterError naming it."""
    X, y = small_data
    with pytest.raises(InvalidParameterError, match=param):
        SGDRegressor(**{param: value}).fit(X, y)
    with pytest.raises(InvalidParameterError, match=param):
        SGDRegressor(**{param: value}).partial_fit(X, y)


@pytest.mark.parametrize(
    ("params", "method", "match"),
    [
        ({"early_stopping": True}, "partial_fit", "early_stopping"),
        ({"learning_rate": "optimal", "alpha": 0.0}, "fit", "alpha"),
        ({"learning_rate": "pa1"}, "fit", "epsilon_insensitive"),
        ({"learning_rate": "pa2", "loss": "huber"}, "fit", "epsilon_insensitive"),
    ],
)
def test_cross_parameter_rules_like_sklearn(small_data, params, method, match):
    """scikit-learn's rules tying parameters together hold, with ValueErrors."""
    X, y = small_data
    with pytest.raises(ValueError, match=match):
        getattr(SkSGDRegressor(**params), method)(X, y)
    with pytest.raises(ValueError, match=match):
        getattr(SGDRegressor(**params), method)(X, y)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_negative_sample_weight_is_accepted_as_in_sklearn(fmt):
    """scikit-learn's per-sample SGD accepts negative weights (the update flips);
    so does the drop-in, with the same model. Mini-batches refuse them."""
    from sgd_helpers import assert_same_fit, make_data
    from sklearn.linear_model import SGDRegressor as SkSGDRegressor

    X, y = make_data(fmt=fmt)
    w = np.random.default_rng(0).uniform(-0.2, 1.0, size=y.shape[0])
    params = {"random_state": 0, "max_iter": 5, "tol": None}
    ref = SkSGDRegressor(**params).fit(X, y, sample_weight=w)
    ours = SGDRegressor(**params).fit(X, y, sample_weight=w)
    assert_same_fit(ours, ref, X, y)
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        SGDRegressor(**params, batch_size=8).fit(X, y, sample_weight=w)


def test_nan_coef_init_is_named():
    X, y = np.ones((10, 2)), np.ones(10)
    with pytest.raises(ValueError, match="coef_init contains NaN"):
        SGDRegressor().fit(X, y, coef_init=[np.nan, 0.0])


def test_warm_start_ignores_coef_init_as_sklearn_does():
    from sklearn.linear_model import SGDRegressor as SkSGDRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ [1.0, 2.0, -1.0]
    params = {"warm_start": True, "random_state": 0, "max_iter": 3, "tol": None}
    ours, ref = SGDRegressor(**params), SkSGDRegressor(**params)
    for est in (ours, ref):
        est.fit(X, y)
        est.fit(X, y, coef_init=[100.0, 100.0, 100.0], intercept_init=[5.0])
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10)


def test_sparsify_keeps_sklearns_shape():
    from sklearn.linear_model import SGDRegressor as SkSGDRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 4))
    y = X @ [1.0, 0.0, 0.0, 2.0]
    ours = SGDRegressor(penalty="l1", alpha=0.1, random_state=0).fit(X, y).sparsify()
    ref = SkSGDRegressor(penalty="l1", alpha=0.1, random_state=0).fit(X, y).sparsify()
    assert type(ours.coef_) is type(ref.coef_) and ours.coef_.shape == ref.coef_.shape
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8)
    assert ours.densify().coef_.shape == (4,)


def test_loss_functions_class_attribute():
    from sklearn.linear_model import SGDRegressor as SkSGDRegressor

    assert set(SGDRegressor.loss_functions) == set(SkSGDRegressor.loss_functions)
    assert SGDRegressor(epsilon=0.9).loss_functions["huber"][1] == 0.1


def test_per_sample_driver_honours_the_row_stride():
    """The estimators hand the per-sample driver C-ordered rows; the driver itself
    reads a Fortran-ordered X (a row with a stride) to the same model."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 11))
    y = X @ rng.standard_normal(11) + 0.1 * rng.standard_normal(300)

    def fit(A):
        return per_sample_run(A, y, max_iter=3)

    c_order, f_order = fit(np.ascontiguousarray(X)), fit(np.asfortranarray(X))
    assert np.any(c_order.coef != 0.0)
    np.testing.assert_allclose(f_order.coef, c_order.coef, rtol=1e-12, atol=1e-15)
    assert f_order.intercept == pytest.approx(c_order.intercept, rel=1e-12)
