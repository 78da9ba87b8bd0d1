"""The binding's fast paths (arguments already in a kernel's form skip the
Python validation): they give the validated path's result bitwise, and
decline every other form, leaving it to the validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LOSSES, make_layout, make_regression_data

from gdfast import _core, kernels


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_loss_grad_fast_path_gives_the_validated_result(loss, dtype, layout, weighted, threads):
    X, y, coef = make_regression_data(n=3000, p=9, seed=4)
    X, y = make_layout(X.astype(dtype), layout), y.astype(dtype)
    sw = np.linspace(0.0, 2.0, 3000).astype(dtype) if weighted else None
    for intercept, epsilon in ((0.25, 0.5), (np.float64(-1.0), 0), (2, np.float64(0.1))):
        args = (X, y, coef, intercept, loss, epsilon, sw, threads)
        got = _core.loss_grad_fast(*args)
        want = kernels._validated_loss_grad(*args)
        assert got is not None
        assert got[0] == want[0] and np.array_equal(got[1], want[1]) and got[2] == want[2]
        assert type(got[0]) is float and type(got[2]) is float and got[1].dtype == np.float64


def _declined_loss_grad_forms():
    """(what, arguments of loss_grad_fast) it must leave to the validation."""
    X, y, coef = make_regression_data(n=20, p=3)
    ok = dict(
        X=X,
        y=y,
        coef=coef,
        intercept=0.5,
        loss="squared_error",
        epsilon=0.1,
        sample_weight=None,
        n_threads=1,
    )
    nan_X = X.copy()
    nan_X[3, 1] = np.nan
    return [
        ("X a list", {**ok, "X": X.tolist()}),
        ("X strided", {**ok, "X": np.repeat(X, 2, axis=1)[:, ::2]}),
        ("X big-endian", {**ok, "X": X.astype(">f8")}),
        ("X int", {**ok, "X": X.astype(np.int64)}),
        ("X 1-D", {**ok, "X": X[:, 0]}),
        ("X no rows", {**ok, "X": X[:0], "y": y[:0]}),
        ("X NaN", {**ok, "X": nan_X}),
        ("y float32 with float64 X", {**ok, "y": y.astype(np.float32)}),
        ("y 2-D", {**ok, "y": y[:, None]}),
        ("y short", {**ok, "y": y[:-1]}),
        ("y inf", {**ok, "y": np.where(np.arange(20) == 5, np.inf, y)}),
        ("coef float32", {**ok, "coef": coef.astype(np.float32)}),
        ("coef 2-D", {**ok, "coef": coef[None, :]}),
        ("coef long", {**ok, "coef": np.append(coef, 1.0)}),
        ("coef NaN", {**ok, "coef": np.array([np.nan, 0.0, 0.0])}),
        ("intercept array", {**ok, "intercept": np.array([0.5])}),
        ("intercept NaN", {**ok, "intercept": np.nan}),
        ("intercept None", {**ok, "intercept": None}),
        ("intercept bool", {**ok, "intercept": True}),
        ("loss a margin loss", {**ok, "loss": "hinge", "y": np.sign(y)}),
        ("loss unknown", {**ok, "loss": "cubic"}),
        ("epsilon negative", {**ok, "epsilon": -0.1}),
        ("epsilon inf", {**ok, "epsilon": np.inf}),
        (
            "sample_weight negative",
            {**ok, "sample_weight": np.where(np.arange(20) == 2, -1.0, 1.0)},
        ),
        ("sample_weight NaN", {**ok, "sample_weight": np.full(20, np.nan)}),
        ("sample_weight a list", {**ok, "sample_weight": [1.0] * 20}),
        ("sample_weight short", {**ok, "sample_weight": np.ones(19)}),
        ("an overflowing result", {**ok, "X": np.full((20, 3), 1e200), "coef": np.full(3, 1e200)}),
    ]


@pytest.mark.parametrize(
    "what, arguments",
    _declined_loss_grad_forms(),
    ids=[what for what, _ in _declined_loss_grad_forms()],
)
def test_loss_grad_fast_path_declines_every_other_form(what, arguments):
    assert _core.loss_grad_fast(**arguments) is None, what


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_predict_fast_path_gives_the_validated_result(dtype, layout):
    X, _, coef = make_regression_data(n=3000, p=9, seed=6)
    X = make_layout(X.astype(dtype), layout)
    for intercept in (0.25, np.float64(-1.0), 3):
        got = _core.predict_fast(X, coef, intercept, 2)
        want = kernels._validated_predict(X, coef, intercept, 2)
        assert got.dtype == dtype and np.array_equal(got, want)


def test_predict_fast_path_declines_every_other_form():
    X, _, coef = make_regression_data(n=20, p=3)
    nan_X = X.copy()
    nan_X[0, 0] = np.nan
    for what, (X_, coef_, b) in {
        "X a list": (X.tolist(), coef, 0.0),
        "X strided": (np.repeat(X, 2, axis=1)[:, ::2], coef, 0.0),
        "X big-endian": (X.astype(">f8"), coef, 0.0),
        "X no rows": (X[:0], coef, 0.0),
        "X NaN": (nan_X, coef, 0.0),
        "coef float32": (X, coef.astype(np.float32), 0.0),
        "coef 2-D": (X, coef[None, :], 0.0),
        "coef short": (X, coef[:2], 0.0),
        "coef inf": (X, np.array([np.inf, 0.0, 0.0]), 0.0),
        "intercept an array": (X, coef, np.zeros(1)),
        "intercept NaN": (X, coef, np.nan),
        "float32 overflow": (np.full((2, 3), 3e38, np.float32), np.ones(3), 0.0),
    }.items():
        assert _core.predict_fast(X_, coef_, b, 1) is None, what


def test_loss_grad_errors_are_the_validations():
    """kernels.loss_grad still names what is wrong, whichever path is tried."""
    X, y, coef = make_regression_data(n=20, p=3)
    with pytest.raises(ValueError, match="X contains NaN"):
        kernels.loss_grad(np.where(X > 1, np.nan, X), y, coef, 0.0)
    with pytest.raises(ValueError, match="epsilon must be finite"):
        kernels.loss_grad(X, y, coef, 0.0, loss="huber", epsilon=-1.0)
    with pytest.raises(FloatingPointError):
        kernels.loss_grad(np.full((20, 3), 1e200), y, np.full(3, 1e200), 0.0)


def _fast(name, **arguments):
    """The binding's fast path on ``apply_<name>``'s arguments (None: declined)."""
    kind, states = kernels._FAST[name]
    return _core.optimizer_step_fast(kind, states, arguments)


def test_fast_path_takes_arguments_in_the_kernels_form_with_the_validated_result():
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        p0, g = rng.standard_normal((2, 5, 3)).astype(dtype)
        m0, v0 = np.abs(rng.standard_normal((2, 5, 3))).astype(dtype)
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        for lr in (0.1, np.float64(0.1), 1):  # Python float, NumPy float64, Python int
            assert _fast("adam", params=p, grad=g, m=m, v=v, step=2, learning_rate=lr) is True
        q, mq, vq = p0.copy(), m0.copy(), v0.copy()
        hyper = (0.9, 0.9, 0.999, 0.9, 1e-8, 2.0, 0.0)
        for lr in (0.1, 0.1, 1.0):
            _core.optimizer_step(_core.CODES["optimizer"]["adam"], q, g, mq, vq, lr, *hyper)
        for got, want in ((p, q), (m, mq), (v, vq)):
            assert np.array_equal(got, want)
    # -0.0 is not negative; empty arrays are taken (nothing to do).
    assert _fast(
        "adagrad",
        params=np.zeros(2),
        grad=np.ones(2),
        sum_sq=np.array([-0.0, 0.0]),
        learning_rate=0.1,
        eps=1e-8,
    )
    assert _fast("sgd", params=np.zeros(0), grad=np.zeros(0), learning_rate=0.1) is True


class _Subclass(np.ndarray):
    pass


def _declined_forms():
    """(what, apply_<name>, arguments) the fast path must leave to the validation."""
    p, g, s = np.zeros(4), np.ones(4), np.zeros(4)
    big_endian = np.zeros(4, dtype=">f8")
    readonly = np.zeros(4)
    readonly.setflags(write=False)
    shared = np.ones(5)
    sgd = dict(params=p, grad=g, learning_rate=0.1)
    mom = dict(params=p, grad=g, velocity=s, learning_rate=0.1, momentum=0.5)
    adam = dict(params=p, grad=g, m=s, v=np.zeros(4), step=1, learning_rate=0.1)
    return [
        ("grad a list", "sgd", {**sgd, "grad": [1.0] * 4}),
        ("grad float32", "sgd", {**sgd, "grad": g.astype(np.float32)}),
        ("grad of another shape", "sgd", {**sgd, "grad": np.ones((2, 2))}),
        ("params big-endian", "sgd", {**sgd, "params": big_endian}),
        ("params float16", "sgd", {**sgd, "params": np.zeros(4, np.float16)}),
        ("params a subclass", "sgd", {**sgd, "params": np.zeros(4).view(_Subclass)}),
        ("params read-only", "sgd", {**sgd, "params": readonly}),
        ("params strided", "sgd", {**sgd, "params": np.zeros(8)[::2]}),
        (
            "params Fortran order",
            "sgd",
            {**sgd, "params": np.zeros((2, 3), order="F"), "grad": np.ones((2, 3), order="F")},
        ),
        ("params NaN", "sgd", {**sgd, "params": np.array([0.0, np.nan, 0.0, 0.0])}),
        ("grad inf", "sgd", {**sgd, "grad": np.array([0.0, np.inf, 0.0, 0.0])}),
        ("state is params", "momentum", {**mom, "velocity": p}),
        ("state overlaps grad", "momentum", {**mom, "grad": shared[:4], "velocity": shared[1:]}),
        ("state read-only", "momentum", {**mom, "velocity": readonly}),
        ("state negative", "adam", {**adam, "v": np.array([0.0, -1e-300, 0.0, 0.0])}),
        ("learning_rate negative", "sgd", {**sgd, "learning_rate": -0.1}),
        ("learning_rate NaN", "sgd", {**sgd, "learning_rate": np.nan}),
        ("learning_rate float32", "sgd", {**sgd, "learning_rate": np.float32(0.1)}),
        ("learning_rate bool", "sgd", {**sgd, "learning_rate": True}),
        ("learning_rate a string", "sgd", {**sgd, "learning_rate": "0.1"}),
        ("learning_rate a huge int", "sgd", {**sgd, "learning_rate": 10**400}),
        ("momentum 1", "momentum", {**mom, "momentum": 1.0}),
        ("momentum None", "momentum", {**mom, "momentum": None}),
        ("step 0", "adam", {**adam, "step": 0}),
        ("step a float", "adam", {**adam, "step": 1.0}),
        ("step NumPy int64", "adam", {**adam, "step": np.int64(1)}),
        ("step above 2**53", "adam", {**adam, "step": 2**53 + 1}),
    ]


@pytest.mark.parametrize(
    "what, name, arguments", _declined_forms(), ids=[what for what, *_ in _declined_forms()]
)
def test_fast_path_declines_every_other_form_and_writes_nothing(what, name, arguments):
    """Anything but the kernels' own form is left to the validation (which
    accepts it, converting, or names what is wrong), with nothing written."""
    arrays = {k: a.copy() for k, a in arguments.items() if isinstance(a, np.ndarray)}
    assert _fast(name, **arguments) is None, what
    for k, before in arrays.items():
        assert np.array_equal(arguments[k], before, equal_nan=True), (what, k)
