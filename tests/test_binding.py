"""The binding's own contract: codes from the C++ enums, parameter structs by
field name, the matrix view, and the last-line checks of the private API."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import LAYOUTS, LOSSES, MARGIN_LOSSES, OPTIMIZERS, ROW_LOSSES, make_layout

from gdfast import GDRegressor, SGDRegressor, _core, reference
from gdfast._sgd import LEARNING_RATES


def test_codes_name_every_enum_once():
    assert set(_core.CODES) == {"loss", "penalty", "schedule", "optimizer", "simd"}
    for family, table in _core.CODES.items():
        assert len(set(table.values())) == len(table), family
    assert list(_core.CODES["loss"]) == LOSSES + MARGIN_LOSSES + ROW_LOSSES
    assert list(_core.REGRESSION_LOSSES) == LOSSES
    assert _core.MARGIN_LOSSES == set(MARGIN_LOSSES)
    assert _core.ROW_LOSSES == set(ROW_LOSSES)
    assert list(_core.CODES["optimizer"]) == OPTIMIZERS
    assert set(_core.CODES["penalty"]) == {"none", "l1", "l2", "elasticnet"}
    assert set(LEARNING_RATES) <= set(_core.CODES["schedule"])


def test_every_loss_has_a_reference_and_a_curvature():
    p = np.linspace(-3, 3, 13)
    y = np.where(np.arange(13) % 2 == 0, 1.0, -1.0)
    for loss in set(_core.CODES["loss"]) - _core.ROW_LOSSES:
        assert reference.loss_value(p, y, loss, 0.5).shape == p.shape
        assert reference.loss_derivative(p, y, loss, 0.5).shape == p.shape
    P = np.column_stack([p, -p, 0 * p])
    labels = (np.arange(13) % 3)[:, None]
    assert reference.loss_value(P, labels, "multinomial_log_loss", 0.5).shape == (13, 1)
    assert reference.loss_derivative(P, labels, "multinomial_log_loss", 0.5).shape == (13, 3)
    assert _core.SMOOTH_LOSSES == {
        "multinomial_log_loss",
        "squared_error",
        "huber",
        "squared_epsilon_insensitive",
        "log_loss",
        "modified_huber",
        "squared_hinge",
    }


def test_estimators_accept_exactly_the_engine_codes():
    constraints = GDRegressor._parameter_constraints
    assert constraints["optimizer"][0].options == set(_core.CODES["optimizer"])
    assert SGDRegressor._parameter_constraints["loss"][0].options == set(_core.REGRESSION_LOSSES)


def test_fields_round_trip_and_refuse_what_they_cannot_hold():
    P = _core.GdParams()
    assert {"alpha", "loss", "max_iter", "momentum", "batch_size", "seed"} <= set(P.names())
    P.update(alpha=0.5, max_iter=7, shuffle=False, loss=_core.CODES["loss"]["huber"])
    assert (P.alpha, P.max_iter, P.shuffle, P.loss) == (0.5, 7, False, 1)
    assert isinstance(P.max_iter, int) and isinstance(P.shuffle, bool)
    with pytest.raises(AttributeError, match="no field 'alhpa'"):
        P.alhpa = 1.0
    with pytest.raises(AttributeError, match="no field"):
        _ = P.alhpa
    with pytest.raises(ValueError, match="max_iter"):
        P.max_iter = 2**40
    with pytest.raises(ValueError, match="max_iter"):
        P.max_iter = 1.5
    with pytest.raises(ValueError, match="shuffle"):
        P.shuffle = 2
    with pytest.raises(ValueError, match="seed"):
        P.seed = -1
    with pytest.raises(TypeError, match="alpha must be a number"):
        P.alpha = "big"
    assert pickle.loads(pickle.dumps(P)).as_dict() == P.as_dict()


def test_state_counters_come_from_the_engine():
    assert _core.GdState().as_dict() == {
        "step": 0.0,
        "epoch": 0.0,
        "lr_scale": 1.0,
        "base_lr": 0.0,
        "fista_t": 1.0,
    }


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_views_dense_and_csr(dtype, index_dtype):
    X = np.arange(12, dtype=dtype).reshape(4, 3)
    for layout in (X, np.asfortranarray(X)):
        M = _core.Matrix(layout)
        assert (M.n_rows, M.n_cols, M.csr, M.dtype) == (4, 3, False, np.dtype(dtype))
    C = sp.csr_matrix(X)
    C.indices = C.indices.astype(index_dtype)
    C.indptr = C.indptr.astype(index_dtype)
    M = _core.Matrix(C)
    assert (M.n_rows, M.n_cols, M.csr) == (4, 3, True)
    out, status = _core.predict(M, np.ones(3), np.zeros(1), 1, 1)
    assert status == _core.STATUS_OK
    np.testing.assert_allclose(out[:, 0], X.sum(axis=1))


def test_binding_refuses_inconsistent_arrays():
    X = np.ones((4, 3))
    with pytest.raises(ValueError, match="inconsistent"):
        _core.Matrix(np.ones(3))
    with pytest.raises(ValueError, match="inconsistent"):
        _core.Matrix(np.ones((4, 3), dtype=np.int64))
    M = _core.Matrix(X)
    with pytest.raises(ValueError, match="inconsistent"):  # y of the wrong dtype
        _core.loss_grad(M, np.ones(4, np.float32), None, np.ones(3), np.zeros(1), 1, 0, 0.1, 1)
    with pytest.raises(ValueError, match="inconsistent"):  # y of the wrong length
        _core.loss_grad(M, np.ones(5), None, np.ones(3), np.zeros(1), 1, 0, 0.1, 1)
    with pytest.raises(ValueError, match="inconsistent"):  # bytes of another byte order
        _core.Matrix(np.ones((4, 3), dtype=">f8"))
    with pytest.raises(ValueError, match="inconsistent"):
        A = sp.csr_matrix(X)  # (scipy itself refuses other byte orders)
        _core.Matrix(
            SimpleNamespace(
                data=A.data.astype(">f8"),
                indices=A.indices.astype(">i4"),
                indptr=A.indptr,
                shape=A.shape,
            )
        )
    theta = np.zeros(3)
    hyper = (0.9, 0.9, 0.999, 0.9, 1e-8, 1.0, 0.0)  # momentum, betas, rho, eps, step, decay
    with pytest.raises(ValueError, match="state arrays"):  # momentum without its velocity
        _core.optimizer_step(
            _core.CODES["optimizer"]["momentum"], theta, theta, None, None, 0.1, *hyper
        )


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["squared_error", "huber", "log_loss", "multinomial_log_loss"])
def test_the_loss_alone_pass_gives_the_loss_of_the_fused_pass(layout, dtype, loss):
    """gradient=False (the returned-model check) sums the same loss and
    intercept gradient as the fused pass, without the coefficient gradient;
    across block sizes (more than one block of rows) and every layout. It
    predicts in double: float32 rows give the loss of the float64 pass over the
    same values (the fused float32 pass, predicting in float, within 1e-6)."""
    rng = np.random.default_rng(5)
    n, p, k = 5000, 7, 3 if loss == "multinomial_log_loss" else 2
    X = rng.standard_normal((n, p)).astype(dtype)
    X[rng.random((n, p)) < 0.4] = 0.0
    if loss == "multinomial_log_loss":
        y = rng.integers(0, k, n).astype(dtype)
    elif loss == "log_loss":
        y = np.where(rng.random(n * k) < 0.5, 1.0, -1.0).astype(dtype)
    else:
        y = rng.standard_normal(n * k).astype(dtype)
    W, b = rng.standard_normal(k * p), rng.standard_normal(k)
    M = _core.Matrix(make_layout(X, layout))
    code = _core.CODES["loss"][loss]
    M64 = _core.Matrix(make_layout(X.astype(np.float64), layout))
    full = _core.loss_grad(M64, y.astype(np.float64), None, W, b, k, code, 0.3, 2)
    alone = _core.loss_grad(M, y, None, W, b, k, code, 0.3, 2, gradient=False)
    assert alone[1] is None and alone[3] == full[3] == _core.STATUS_OK
    np.testing.assert_allclose(alone[0], full[0], rtol=1e-12)
    np.testing.assert_allclose(alone[2], full[2], rtol=1e-10, atol=1e-9)
    fused = _core.loss_grad(M, y, None, W, b, k, code, 0.3, 2)
    np.testing.assert_allclose(fused[0], alone[0], rtol=1e-12 if dtype == np.float64 else 1e-6)
    bad = W.copy()
    bad[0] = np.inf
    status = _core.loss_grad(M, y, None, bad, b, k, code, 0.3, 2, gradient=False)[3]
    assert status != _core.STATUS_OK


@pytest.mark.parametrize("csr", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    "params",
    [
        dict(),  # the co-moments
        dict(precompute=False, optimizer="adam", max_iter=5, tol=None),  # passes
        dict(batch_size=16, max_iter=3, tol=None, random_state=0),  # shuffled mini-batches
        dict(batch_size=16, max_iter=3, tol=None, shuffle=False),
    ],
)
def test_gd_fit_without_train_rows_is_every_row_in_order(monkeypatch, csr, weighted, params):
    """train_rows None (the estimators' fits without a validation split) gives
    bitwise the fit of train_rows = 0 .. n - 1, full batch and mini-batch."""
    rng = np.random.default_rng(11)
    X = rng.standard_normal((203, 6))
    X[rng.random(X.shape) < 0.5] = 0.0
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(203)
    w = rng.uniform(0.2, 2.0, 203) if weighted else None
    data = sp.csr_matrix(X) if csr else X
    seen = []
    native = _core.gd_fit

    def spy(X, y, k, sample_weight, train_rows, *rest, **kw):
        seen.append(train_rows is None)
        return native(X, y, k, sample_weight, train_rows, *rest, **kw)

    def with_rows(X, y, k, sample_weight, train_rows, *rest, **kw):
        rows = np.arange(X.n_rows, dtype=np.intp) if train_rows is None else train_rows
        return native(X, y, k, sample_weight, rows, *rest, **kw)

    monkeypatch.setattr(_core, "gd_fit", spy)
    implicit = GDRegressor(**params).fit(data, y, sample_weight=w)
    assert seen == [True]
    monkeypatch.setattr(_core, "gd_fit", with_rows)
    explicit = GDRegressor(**params).fit(data, y, sample_weight=w)
    assert np.array_equal(implicit.coef_, explicit.coef_)
    assert implicit.intercept_ == explicit.intercept_
    assert implicit.n_iter_ == explicit.n_iter_
    assert np.array_equal(implicit.loss_curve_, explicit.loss_curve_)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_all_finite_reads_the_bits_as_numpy_does(dtype):
    # Every NaN and infinity (signed, quiet, signalling, any payload) at every
    # place around the kernel's block edges of 512, and finite extremes that
    # must pass: the answer is NumPy's isfinite.
    info = np.finfo(dtype)
    bits = np.uint64 if dtype == np.float64 else np.uint32
    inf_bits = np.array([np.inf], dtype=dtype).view(bits)
    payload_nan = (inf_bits | bits(1)).view(dtype)[0]  # all-ones exponent, a nonzero fraction
    specials = [np.nan, -np.nan, np.inf, -np.inf, payload_nan]
    finite = [info.max, -info.max, info.tiny, info.smallest_subnormal, 0.0, -0.0]
    base = np.linspace(-3, 3, 1500, dtype=dtype)
    for at in (0, 1, 511, 512, 513, 1023, 1024, 1499):
        for value in specials + finite:
            a = base.copy()
            a[at] = value
            assert _core.all_finite(a) == bool(np.isfinite(a).all()), (at, value)
            assert _core.all_finite(a[:at]) is True
    assert _core.all_finite(np.empty(0, dtype)) is True
    assert _core.all_finite(base.reshape(30, 50)) is True  # any C-contiguous shape
    assert _core.all_finite(base[::2]) is None  # not contiguous: the caller checks
    assert _core.all_finite(base.astype(np.float16)) is None
    assert _core.all_finite(np.arange(4)) is None


def test_first_overlap_finds_the_pair_sharing_memory():
    buf = np.zeros(20)
    a, b, c = buf[:8], buf[8:16], buf[16:]
    assert _core.first_overlap([a, b, c]) is None
    assert _core.first_overlap([a, buf[7:9], c]) == (0, 1)
    assert _core.first_overlap([a, b, buf[15:17]]) == (1, 2)
    assert _core.first_overlap([a, b, a]) == (0, 2)
    assert _core.first_overlap([buf[:0], buf[:0], a]) is None  # empty arrays share nothing
