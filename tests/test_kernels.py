"""gdfast.kernels against gdfast.reference, finite differences and itself."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import LAYOUTS, LOSSES, make_layout, make_regression_data
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gdfast import kernels, reference
from gdfast._validation import check_matrix

# float32 kernels read float32 data but accumulate in double; the reference
# computes in float32, so the two differ by float32 rounding of each row.
RTOL = {np.float64: 1e-10, np.float32: 2e-5}


def assert_results_close(got, want, dtype, scale):
    """Compare (loss, grad, grad_intercept) with a tolerance relative to `scale`."""
    rtol = RTOL[dtype]
    scale = float(scale)
    assert got[0] == pytest.approx(want[0], rel=rtol, abs=rtol * scale)
    np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(got[2], want[2], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_grad_matches_reference(loss, dtype, layout, n_jobs, weighted, simd):
    X, y, coef = make_regression_data(
        n=2500, p=9, dtype=dtype, sparsity=0.5 if layout == "csr" else 0
    )
    rng = np.random.default_rng(1)
    w = coef + 0.3 * rng.standard_normal(coef.shape)  # not the optimum: nonzero gradient
    sw = rng.uniform(0, 3, size=len(y)).astype(dtype) if weighted else None
    Xl = make_layout(X, layout)
    got = kernels.loss_grad(Xl, y, w, 0.2, loss=loss, epsilon=0.7, sample_weight=sw, n_jobs=n_jobs)
    want = reference.loss_grad(
        X.astype(np.float64), y.astype(np.float64), w, 0.2, loss=loss, epsilon=0.7, sample_weight=sw
    )
    assert isinstance(got[0], float) and isinstance(got[2], float)
    assert got[1].dtype == np.float64 and got[1].shape == (9,)
    scale = np.abs(X).sum() * 10
    assert_results_close(got, want, dtype, scale)


# Row lengths that reach every branch of the four-row dot products: fewer than
# one vector, the two-vector steps, a single vector step, scalar tails, and
# float32's 64-feature chunks (exactly one, one plus a tail, several).
@pytest.mark.parametrize("p", [1, 3, 4, 5, 8, 12, 15, 16, 23, 63, 64, 65, 72, 77, 130])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_grad_matches_reference_for_any_row_length(p, dtype, simd):
    X, y, coef = make_regression_data(n=203, p=p, dtype=dtype, seed=p)
    rng = np.random.default_rng(p)
    w = coef + 0.3 * rng.standard_normal(p)
    sw = rng.uniform(0, 3, size=len(y)).astype(dtype)
    got = kernels.loss_grad(X, y, w, -0.4, loss="huber", epsilon=1.0, sample_weight=sw)
    want = reference.loss_grad(
        X.astype(np.float64),
        y.astype(np.float64),
        w,
        -0.4,
        loss="huber",
        epsilon=1.0,
        sample_weight=sw.astype(np.float64),
    )
    assert_results_close(got, want, dtype, np.abs(X).sum() * 10)
    pred = kernels.predict(X, w, -0.4)
    np.testing.assert_allclose(
        pred, X.astype(np.float64) @ w - 0.4, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 100
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multi_output_matches_reference(layout, dtype, simd):
    X, Y, coef = make_regression_data(n=1500, p=6, k=3, dtype=dtype)
    W = coef + 0.5
    b = np.array([0.1, -0.2, 0.3])
    got = kernels.loss_grad(make_layout(X, layout), Y, W, b, loss="huber", epsilon=0.5)
    want = reference.loss_grad(
        X.astype(np.float64), Y.astype(np.float64), W, b, loss="huber", epsilon=0.5
    )
    assert got[1].shape == (3, 6) and got[2].shape == (3,)
    assert_results_close(got, want, dtype, np.abs(X).sum() * 10)
    pred = kernels.predict(make_layout(X, layout), W, b)
    assert pred.shape == (1500, 3) and pred.dtype == dtype
    np.testing.assert_allclose(
        pred, X.astype(np.float64) @ W.T + b, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 100
    )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", LOSSES)
def test_bitwise_identical_for_any_n_jobs(layout, dtype, loss, simd):
    # Enough rows for many blocks, so that the threads really split the work.
    X, y, coef = make_regression_data(n=20_000, p=12, dtype=dtype, seed=3)
    Xl = make_layout(X, layout)
    results = [kernels.loss_grad(Xl, y, coef * 0.9, 0.1, loss=loss, n_jobs=j) for j in (1, 2, 3, 4)]
    for r in results[1:]:
        assert r[0] == results[0][0]
        assert np.array_equal(r[1], results[0][1])
        assert r[2] == results[0][2]
    preds = [kernels.predict(Xl, coef, 0.1, n_jobs=j) for j in (1, 2, 3)]
    for p in preds[1:]:
        assert np.array_equal(p, preds[0])


@pytest.mark.parametrize("loss", ["squared_error", "huber", "squared_epsilon_insensitive"])
@pytest.mark.parametrize("layout", ["C", "F", "csr"])
def test_gradient_matches_finite_differences(loss, layout):
    X, y, coef = make_regression_data(n=400, p=5, seed=5)
    Xl = make_layout(X, layout)
    w = coef + 0.25
    b = 0.3
    _, grad, grad_b = kernels.loss_grad(Xl, y, w, b, loss=loss, epsilon=0.4)
    h = 1e-6
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        up = kernels.loss_grad(Xl, y, w + e, b, loss=loss, epsilon=0.4)[0]
        down = kernels.loss_grad(Xl, y, w - e, b, loss=loss, epsilon=0.4)[0]
        assert (up - down) / (2 * h) == pytest.approx(grad[j], rel=1e-5, abs=1e-4)
    up = kernels.loss_grad(Xl, y, w, b + h, loss=loss, epsilon=0.4)[0]
    down = kernels.loss_grad(Xl, y, w, b - h, loss=loss, epsilon=0.4)[0]
    assert (up - down) / (2 * h) == pytest.approx(grad_b, rel=1e-5, abs=1e-4)


def test_closed_form_squared_error():
    # At the least-squares solution the gradient vanishes; the loss is half the RSS.
    X, y, _ = make_regression_data(n=500, p=4, seed=7)
    A = np.hstack([X, np.ones((500, 1))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    loss, grad, grad_b = kernels.loss_grad(X, y, sol[:4], sol[4])
    assert loss == pytest.approx(0.5 * np.sum((A @ sol - y) ** 2), rel=1e-12)
    np.testing.assert_allclose(grad, 0, atol=1e-9)
    assert abs(grad_b) < 1e-9


def test_sums_over_chunks_add_up():
    # Sums, not means: a distributed engine adds the results of its chunks.
    X, y, coef = make_regression_data(n=3000, p=6, seed=8)
    whole = kernels.loss_grad(X, y, coef, 0.0, loss="huber")
    parts = [
        kernels.loss_grad(X[s], y[s], coef, 0.0, loss="huber")
        for s in (slice(0, 1000), slice(1000, 2200), slice(2200, None))
    ]
    assert sum(p[0] for p in parts) == pytest.approx(whole[0], rel=1e-12)
    np.testing.assert_allclose(sum(p[1] for p in parts), whole[1], rtol=1e-11)


def test_zero_rows_give_zero_sums():
    loss, grad, grad_b = kernels.loss_grad(np.empty((0, 3)), np.empty(0), np.ones(3), 1.0)
    assert loss == 0.0 and grad_b == 0.0
    assert np.array_equal(grad, np.zeros(3))
    assert kernels.predict(np.empty((0, 3)), np.ones(3), 1.0).shape == (0,)


def test_zero_features_use_the_intercept():
    X = np.empty((4, 0))
    y = np.array([1.0, 2.0, 3.0, 4.0])
    loss, grad, grad_b = kernels.loss_grad(X, y, np.empty(0), 2.0)
    assert loss == pytest.approx(0.5 * np.sum((2.0 - y) ** 2))
    assert grad.shape == (0,) and grad_b == pytest.approx(np.sum(2.0 - y))


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_input_in_c_or_f_order_is_not_copied(layout, dtype):
    X = make_layout(np.ones((5, 3), dtype=dtype), layout)
    assert check_matrix(X) is X


def test_float32_stays_float32_and_ints_become_float64():
    assert check_matrix(np.ones((2, 2), dtype=np.float32)).dtype == np.float32
    assert check_matrix(np.ones((2, 2), dtype=np.float16)).dtype == np.float32
    assert check_matrix(np.ones((2, 2), dtype=np.int64)).dtype == np.float64
    assert check_matrix(np.ones((2, 2), dtype=bool)).dtype == np.float64
    Xf = check_matrix(np.ones((4, 4))[:, ::2])
    assert Xf.flags.c_contiguous and Xf.dtype == np.float64


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f8"])
def test_other_byte_orders_are_read_as_numbers(dtype):
    """Big-endian float arrays are converted (their bytes are not this
    machine's numbers); the result is the native array's."""
    X, y, coef = make_regression_data(n=50, p=3)
    Xb = X.astype(dtype)
    native = check_matrix(Xb)
    assert native.dtype.isnative and np.array_equal(native, Xb)
    want = kernels.loss_grad(Xb.astype(Xb.dtype.newbyteorder("=")), y, coef, 0.5)
    got = kernels.loss_grad(Xb, y.astype(dtype), coef.astype(dtype), 0.5)
    assert got[0] == want[0] and np.array_equal(got[1], want[1]) and got[2] == want[2]
    assert np.array_equal(kernels.predict(Xb, coef, 0.5), kernels.predict(native, coef, 0.5))


def test_inputs_are_not_modified():
    X, y, coef = make_regression_data(n=200, p=4)
    sw = np.linspace(0.5, 2, 200)
    copies = [a.copy() for a in (X, y, coef, sw)]
    kernels.loss_grad(X, y, coef, 0.5, sample_weight=sw, loss="huber")
    kernels.predict(X, coef, 0.5)
    reference.loss_grad(X, y, coef, 0.5, sample_weight=sw)
    for a, c in zip((X, y, coef, sw), copies, strict=True):
        assert np.array_equal(a, c)


def test_read_only_and_list_input():
    X, y, coef = make_regression_data(n=50, p=3)
    X.setflags(write=False)
    y.setflags(write=False)
    a = kernels.loss_grad(X, y, coef, 0.0)
    b = kernels.loss_grad(X.tolist(), y.tolist(), coef.tolist(), 0.0)
    assert a[0] == pytest.approx(b[0], rel=1e-12)


def test_csr_array_and_int64_indices():
    X, y, coef = make_regression_data(n=300, p=5, sparsity=0.6)
    want = kernels.loss_grad(X, y, coef, 0.1)
    m = sp.csr_array(X)
    m.indices = m.indices.astype(np.int64)
    m.indptr = m.indptr.astype(np.int64)
    for Xs in (sp.csr_matrix(X), m, sp.csc_matrix(X), sp.coo_array(X)):
        got = kernels.loss_grad(Xs, y, coef, 0.1)
        assert got[0] == pytest.approx(want[0], rel=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-11)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    p=st.integers(1, 9),
    k=st.one_of(st.none(), st.integers(1, 3)),
    loss=st.sampled_from(LOSSES),
    layout=st.sampled_from(LAYOUTS),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**31),
    weighted=st.booleans(),
)
def test_property_kernels_match_reference(n, p, k, loss, layout, dtype, seed, weighted):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, p)) * rng.choice([0.0, 1.0, 3.0], size=(n, p))).astype(dtype)
    y = rng.standard_normal((n,) if k is None else (n, k)).astype(dtype)
    w = rng.standard_normal((p,) if k is None else (k, p))
    b = float(rng.standard_normal()) if k is None else rng.standard_normal(k)
    sw = rng.uniform(0, 2, n) if weighted else None
    got = kernels.loss_grad(
        make_layout(X, layout), y, w, b, loss=loss, epsilon=0.3, sample_weight=sw
    )
    want = reference.loss_grad(
        X.astype(np.float64),
        y.astype(np.float64),
        w,
        b,
        loss=loss,
        epsilon=0.3,
        sample_weight=None if sw is None else sw.astype(dtype),
    )
    scale = (np.abs(X).sum() + n) * (np.abs(w).sum() + 1) * 4
    assert_results_close(got, want, dtype, scale)
    pred = kernels.predict(make_layout(X, layout), w, b)
    np.testing.assert_allclose(
        pred,
        reference.predict(X.astype(np.float64), w, b),
        rtol=RTOL[dtype] * 10,
        atol=RTOL[dtype] * scale,
    )


@settings(max_examples=40, deadline=None)
@given(
    X=arrays(
        np.float64, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=st.floats(-1e6, 1e6)
    )
)
def test_property_predict_matches_numpy(X):
    rng = np.random.default_rng(X.shape[0])
    w = rng.standard_normal(X.shape[1])
    np.testing.assert_allclose(
        kernels.predict(X, w, 1.5), X @ w + 1.5, rtol=1e-9, atol=1e-9 * (np.abs(X).sum() + 1)
    )


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("loss", ["squared_error", "huber"])
def test_float32_rows_with_coefficients_beyond_float_range_match_reference(order, loss):
    # A coefficient that does not fit in a float (1e150, 1e300) is multiplied in double,
    # in every layout, as the reference does (a fuzz case found C-ordered rows
    # reporting an overflow instead).
    rng = np.random.default_rng(0)
    X = np.asarray(rng.standard_normal((37, 3)), dtype=np.float32, order=order)
    y = rng.standard_normal(37)
    coef = np.array([1e300 if loss == "huber" else 1e150, 0.0, 0.0])
    got = kernels.loss_grad(X, y, coef, 0.5, loss=loss, epsilon=0.1)
    want = reference.loss_grad(X, y, coef, 0.5, loss=loss, epsilon=0.1)
    assert got[0] == pytest.approx(want[0], rel=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
