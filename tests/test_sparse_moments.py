"""Full-batch statistics of CSR input: the co-moments (Gram fast path and the
automatic step size) are computed from the nonzero pairs of each row, never a
densified row, and give what the dense matrix gives; non-canonical CSR stands
for the matrix it sums to; Ctrl-C reaches the co-moments pass."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import ctrl_c_after

from gdfast import GDRegressor, SGDRegressor, _core


def _sparse_problem(n=3000, p=40, k=None, density=0.1, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=seed) * 3.0
    X.data += 0.5  # nonzero means, so centring matters
    coef = rng.standard_normal((p,) if k is None else (p, k))
    y = X @ coef + 0.1 * rng.standard_normal((n,) if k is None else (n, k)) + 2.0
    return sp.csr_matrix(X), y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [None, 3])
def test_sparse_gram_path_equals_dense(dtype, weighted, k):
    X, y = _sparse_problem(k=k)
    X = X.astype(dtype)
    y = y.astype(dtype)
    w = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0]).astype(dtype) if weighted else None
    params = dict(precompute=True, max_iter=500, alpha=1e-3, penalty="l2")
    sparse = GDRegressor(**params).fit(X, y, sample_weight=w)
    dense = GDRegressor(**params).fit(X.toarray(), y, sample_weight=w)
    assert sparse.n_iter_ == dense.n_iter_
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("precompute", [True, False])
def test_sparse_step_size_reaches_the_dense_optimum(precompute):
    # Without the Gram matrix the step size still comes from the curvature;
    # both paths reach the same optimum as the dense matrix.
    X, y = _sparse_problem(p=60, density=0.05)
    sparse = GDRegressor(precompute=precompute, max_iter=3000, tol=1e-12).fit(X, y)
    dense = GDRegressor(precompute=precompute, max_iter=3000, tol=1e-12).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.predict(X), dense.predict(X.toarray()), rtol=1e-7, atol=1e-7)


def _with_duplicates(X):
    """The same matrix stored non-canonically: each entry split in two parts,
    stored at both ends of its row (unsorted, duplicated columns)."""
    rows, cols, vals = [], [], []
    coo = X.tocoo()
    for r, c, v in zip(coo.row, coo.col, coo.data, strict=True):
        rows += [r, r]
        cols += [c, c]
        vals += [0.25 * v, 0.75 * v]
    order = np.lexsort((np.arange(len(rows)) % 2, np.asarray(rows)))
    rows, cols, vals = np.asarray(rows)[order], np.asarray(cols)[order], np.asarray(vals)[order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X.shape[0]))])
    dup = sp.csr_matrix((vals, cols, indptr), shape=X.shape)
    dup.has_canonical_format = False
    assert dup.nnz == 2 * X.nnz
    return dup


@pytest.mark.parametrize(
    "make",
    [
        lambda: GDRegressor(penalty="l2", alpha=0.1, max_iter=400),
        lambda: GDRegressor(penalty="l2", alpha=0.1, precompute=False, max_iter=400),
        lambda: GDRegressor(
            penalty="elasticnet", alpha=0.01, batch_size=64, max_iter=5, random_state=0
        ),
        lambda: SGDRegressor(penalty="l2", alpha=0.1, max_iter=5, tol=None, random_state=0),
    ],
    ids=["gd-gram", "gd-passes", "gd-batch", "sgd"],
)
def test_non_canonical_csr_fits_the_matrix_it_stands_for(make):
    X, y = _sparse_problem(n=600, p=12, density=0.3)
    dup = _with_duplicates(X)
    before = (dup.data.copy(), dup.indices.copy(), dup.indptr.copy())
    a = make().fit(dup, y)
    b = make().fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(a.predict(dup), b.predict(X), rtol=1e-9, atol=1e-10)
    # The caller's matrix is left as it was.
    for got, kept in zip((dup.data, dup.indices, dup.indptr), before, strict=True):
        assert np.array_equal(got, kept)


def test_ctrl_c_reaches_the_comoments_pass():
    # 48,000 x 1,000: the co-moments pass alone is ~2.4e10 flops (about a second
    # or more on two cores); Ctrl-C must not wait for it to finish.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48_000, 1000), dtype=np.float32)
    y = X[:, 0] + 0.1 * rng.standard_normal(48_000, dtype=np.float32)
    model = GDRegressor(precompute=True, max_iter=1)
    with ctrl_c_after(0.15) as ctrl_c:
        model.fit(X, y)
        time.sleep(5)  # a fit that ended before the signal still meets it here
    assert ctrl_c["stopped"] - ctrl_c["at"] < 0.5  # a responsiveness bound, not a speed measurement
    assert not hasattr(model, "coef_")


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_the_structure_check_tells_canonical_rows_as_scipy_does(index_dtype):
    """Canonical (every row's indices strictly increasing) is read from the
    structure check's own pass: rows' boundaries, empty rows, a duplicate,
    an unsorted pair and a first or last entry each decide it correctly."""
    rng = np.random.default_rng(3)
    dense = rng.standard_normal((40, 9)) * (rng.random((40, 9)) < 0.3)
    dense[5:9] = 0.0  # empty rows inside
    base = sp.csr_matrix(dense)
    for trial in range(300):
        X = base.copy()
        X.indices = X.indices.astype(index_dtype)
        X.indptr = X.indptr.astype(index_dtype)
        if trial % 3:  # break one row: a duplicate or an unsorted pair, anywhere in it
            row = rng.choice(np.flatnonzero(np.diff(X.indptr) >= 2))
            q = rng.integers(X.indptr[row], X.indptr[row + 1] - 1)
            if trial % 3 == 1:
                X.indices[q + 1] = X.indices[q]
            else:
                X.indices[q], X.indices[q + 1] = X.indices[q + 1], X.indices[q]
        fresh = sp.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape)
        assert _core.Matrix(X).canonical == fresh.has_canonical_format


def test_a_matrix_made_non_canonical_in_place_is_summed_still():
    """scipy caches has_canonical_format; a fit decides from X's indices as they
    are, so duplicates written in place after the flag was cached still add up."""
    X, y = _sparse_problem(n=600, p=12, density=0.3)
    stale = _with_duplicates(X)
    stale.has_canonical_format = True  # as cached before the duplicates were written in place
    a = SGDRegressor(max_iter=5, tol=None, random_state=0).fit(stale, y)
    b = SGDRegressor(max_iter=5, tol=None, random_state=0).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("weighted", [False, True])
def test_column_statistics_of_csr_are_the_dense_matrix_s(dtype, index_dtype, weighted):
    # Several row blocks (merged pairwise), a column stored in every row far
    # from zero with a tiny spread (cancellation would lose it), an empty
    # column, explicitly stored zeros, and rows of weight zero.
    n, p = 6000, 12
    rng = np.random.default_rng(3)
    D = sp.random(n, p, density=0.3, format="csr", random_state=4).toarray() * 5.0 - 1.0
    D[D == -1.0] = 0.0
    D[:, 2] = 1000.0 + 1e-3 * rng.standard_normal(n)
    D[:, 5] = 0.0
    X = sp.csr_matrix(D.astype(dtype))
    X.data[::7] = 0.0  # stored zeros: the same matrix
    D = X.toarray().astype(np.float64)
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    w = rng.uniform(0.0, 2.0, n).astype(dtype) if weighted else None
    if weighted:
        w[::5] = 0.0
    s = np.ones(n) if w is None else w.astype(np.float64)
    mean = s @ D / s.sum()
    var = s @ (D - mean) ** 2 / s.sum()
    got_mean, got_var = _core.column_stats(_core.Matrix(X), w, 1)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_var, var, rtol=1e-9, atol=1e-16)
    assert got_var[5] == 0.0 and got_mean[5] == 0.0
    dense_mean, dense_var = _core.column_stats(_core.Matrix(X.toarray()), w, 1)
    np.testing.assert_allclose(got_mean, dense_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_var, dense_var, rtol=1e-9, atol=1e-16)
    two_mean, two_var = _core.column_stats(_core.Matrix(X), w, 2)  # the same blocks: the same bits
    assert np.array_equal(two_mean, got_mean) and np.array_equal(two_var, got_var)
