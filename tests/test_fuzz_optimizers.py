"""Fuzzed bad input to the optimizer steps (gdfast.kernels.apply_*), checked
against gdfast.reference (the harness is tests/fuzz_harness.py)."""

from __future__ import annotations

import fuzz_harness as fh
import numpy as np
import pytest
from conftest import OPTIMIZERS
from fuzz_harness import _hang_watchdog, _memmap_dir  # noqa: F401  (autouse: apply here)
from hypothesis import given
from hypothesis import strategies as st

from gdfast import kernels, reference

# --------------------------------------------------------------------------- optimizer steps

N_STATES = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "adagrad": 1,
    "rmsprop": 1,
    "adam": 2,
    "adamw": 2,
}


def apply_rule(impl, rule, params, grad, states, step=1, **hyper):
    """One in-place step of ``rule`` from ``impl`` (kernels or reference)."""
    lr = hyper.get("learning_rate", 0.1)
    if rule == "sgd":
        return impl.apply_sgd(params, grad, learning_rate=lr)
    if rule in ("momentum", "nesterov"):
        fn = impl.apply_momentum if rule == "momentum" else impl.apply_nesterov
        return fn(params, grad, states[0], learning_rate=lr, momentum=hyper.get("momentum", 0.9))
    if rule == "adagrad":
        return impl.apply_adagrad(
            params, grad, states[0], learning_rate=lr, eps=hyper.get("eps", 1e-8)
        )
    if rule == "rmsprop":
        return impl.apply_rmsprop(
            params,
            grad,
            states[0],
            learning_rate=lr,
            rho=hyper.get("rho", 0.9),
            eps=hyper.get("eps", 1e-8),
        )
    common = dict(
        learning_rate=lr,
        beta_1=hyper.get("beta_1", 0.9),
        beta_2=hyper.get("beta_2", 0.999),
        eps=hyper.get("eps", 1e-8),
    )
    if rule == "adam":
        return impl.apply_adam(params, grad, states[0], states[1], step, **common)
    return impl.apply_adamw(
        params,
        grad,
        states[0],
        states[1],
        step,
        weight_decay=hyper.get("weight_decay", 0.01),
        **common,
    )


def step_snapshot(params, grad, states) -> fh.Snapshot:
    """A snapshot of the arguments of one step: params, grad and each state."""
    return fh.Snapshot(params=params, grad=grad, **{f"state{i}": s for i, s in enumerate(states)})


def optimizer_arrays(rule, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    params = np.array(rng.standard_normal(shape), dtype=dtype)
    grad = np.array(rng.standard_normal(shape), dtype=dtype)
    # squared-gradient accumulators are non-negative
    states = [
        np.array(np.abs(rng.standard_normal(shape)), dtype=dtype) for _ in range(N_STATES[rule])
    ]
    return params, grad, states


ARRAY_DEFECTS = (
    "params_float16",
    "params_int64",
    "params_complex",
    "params_object",
    "params_list",
    "params_strided",
    "params_fortran",
    "params_reversed",
    "params_readonly",
    "params_memmap_r",
    "params_nan",
    "params_inf",
    "params_0d_vs_grad",
    "state_other_float",
    "state_float16",
    "state_shape",
    "state_readonly",
    "state_strided",
    "state_nan",
    "state_list",
    "grad_shape",
    "grad_nan",
    "grad_inf",
    "grad_complex",
    "grad_str",
    "grad_object_str",
    "grad_transposed_shape",
    "step_0",
    "step_negative",
    "step_float",
    "step_bool",
    "step_str",
)
HYPER_DEFECTS = (
    ("learning_rate", -0.1),
    ("learning_rate", fh.NAN),
    ("learning_rate", fh.INF),
    ("learning_rate", "0.1"),
    ("learning_rate", None),
    ("momentum", 1.0),
    ("momentum", -0.5),
    ("eps", 0.0),
    ("eps", -1e-8),
    ("rho", 1.0),
    ("beta_1", 1.0),
    ("beta_2", -0.1),
    ("weight_decay", -1.0),
    ("weight_decay", fh.NAN),
)


def apply_defect(defect, rule, params, grad, states):
    """The arguments with one defect; None when it does not apply to ``rule``."""
    n_states = N_STATES[rule]
    step = 3
    if defect.startswith("state") and n_states == 0:
        return None
    if defect.startswith("step") and rule not in ("adam", "adamw"):
        return None
    if defect.startswith("params_"):
        what = defect[len("params_") :]
        if what in ("float16", "int64", "complex", "object"):
            params = params.astype({"complex": np.complex128, "object": object}.get(what, what))
        elif what == "list":
            params = params.tolist()
        elif what == "fortran":
            if params.ndim < 2:
                return None
            params = np.asfortranarray(params)
        elif what in ("strided", "reversed", "readonly", "memmap_r"):
            params = fh.lay_out(params, what)
        elif what == "nan":
            params.flat[-1] = fh.NAN
        elif what == "inf":
            params.flat[0] = -fh.INF
        elif what == "0d_vs_grad":
            params = params.reshape(-1)[:1].reshape(())
    elif defect.startswith("state_"):
        what = defect[len("state_") :]
        s = states[-1]
        if what == "other_float":
            s = s.astype(np.float32 if s.dtype == np.float64 else np.float64)
        elif what == "float16":
            s = s.astype(np.float16)
        elif what == "shape":
            s = np.zeros(s.size + 1, dtype=s.dtype)
        elif what in ("readonly", "strided"):
            s = fh.lay_out(s, what)
        elif what == "nan":
            s.flat[0] = fh.NAN
        elif what == "list":
            s = s.tolist()
        states = [*states[:-1], s]
    elif defect.startswith("grad_"):
        what = defect[len("grad_") :]
        if what == "shape":
            grad = np.zeros(grad.size + 1)
        elif what == "nan":
            grad.flat[0] = fh.NAN
        elif what == "inf":
            grad.flat[-1] = fh.INF
        elif what == "complex":
            grad = grad.astype(np.complex128)
        elif what == "str":
            grad = grad.astype(str)
        elif what == "object_str":
            grad = grad.astype(object)
            grad.flat[0] = "abc"
        elif what == "transposed_shape":
            if grad.ndim < 2 or grad.shape[0] == grad.shape[1]:
                return None
            grad = np.ascontiguousarray(grad.T)
    elif defect.startswith("step_"):
        step = {"0": 0, "negative": -2, "float": 1.5, "bool": True, "str": "1"}[defect[5:]]
    return params, grad, states, step


@fh.FUZZ
@given(
    rule=st.sampled_from(OPTIMIZERS),
    dtype=st.sampled_from((np.float64, np.float32)),
    shape=st.sampled_from(((5,), (2, 3), (3, 2))),
    defect=st.sampled_from(ARRAY_DEFECTS),
    seed=fh.seeds,
)
def test_optimizer_steps_refuse_bad_arrays(rule, dtype, shape, defect, seed):
    params, grad, states = optimizer_arrays(rule, dtype, shape, seed)
    args = apply_defect(defect, rule, params, grad, states)
    if args is None:
        return
    params, grad, states, step = args
    snap = step_snapshot(params, grad, states)
    out = fh.call(apply_rule, kernels, rule, params, grad, states, step)
    snap.assert_unchanged()
    assert not out.ok, f"apply_{rule} accepted {defect}"
    ref = fh.call(apply_rule, reference, rule, params, grad, states, step)
    snap.assert_unchanged()
    fh.same_acceptance(out, ref, f"apply_{rule} with {defect}")


@fh.FEW
@given(
    rule=st.sampled_from(OPTIMIZERS),
    dtype=st.sampled_from((np.float64, np.float32)),
    defect=st.sampled_from(HYPER_DEFECTS),
    seed=fh.seeds,
)
def test_optimizer_steps_refuse_bad_hyperparameters(rule, dtype, defect, seed):
    name, value = defect
    uses = {
        "learning_rate": OPTIMIZERS,
        "momentum": ("momentum", "nesterov"),
        "eps": ("adagrad", "rmsprop", "adam", "adamw"),
        "rho": ("rmsprop",),
        "beta_1": ("adam", "adamw"),
        "beta_2": ("adam", "adamw"),
        "weight_decay": ("adamw",),
    }[name]
    if rule not in uses:
        return
    params, grad, states = optimizer_arrays(rule, dtype, (4,), seed)
    snap = step_snapshot(params, grad, states)
    out = fh.call(apply_rule, kernels, rule, params, grad, states, 1, **{name: value})
    snap.assert_unchanged()
    assert not out.ok, f"apply_{rule} accepted {name}={value!r}"
    assert name in str(out.error), f"the error does not name {name}: {out.error}"


GRAD_FORMS = (
    "same",
    "list",
    "strided",
    "reversed",
    "readonly",
    "memmap_r",
    "F",
    "other_float",
    "float16",
    "int64",
    "object_num",
)


def grad_form(grad: np.ndarray, form: str):
    if form == "same":
        return grad
    if form == "list":
        return grad.tolist() if grad.ndim else float(grad)
    if form in ("strided", "reversed", "readonly", "memmap_r", "F"):
        return fh.lay_out(grad, form)
    if form == "other_float":
        return grad.astype(np.float32 if grad.dtype == np.float64 else np.float64)
    if form == "int64":
        return np.round(grad * 3).astype(np.int64)
    if form == "object_num":
        return grad.astype(object)
    return grad.astype(form)


@fh.FUZZ
@given(
    rule=st.sampled_from(OPTIMIZERS),
    dtype=st.sampled_from((np.float64, np.float32)),
    shape=st.sampled_from(((0,), (), (1,), (7,), (3, 4), (2, 0))),
    form=st.sampled_from(GRAD_FORMS),
    params_memmap=st.booleans(),
    seed=fh.seeds,
    step=st.integers(1, 1000),
    hyper=st.fixed_dictionaries(
        {
            "learning_rate": st.floats(0.0, 1.0),
            "momentum": st.floats(0.0, 0.99),
            "eps": st.floats(1e-10, 1e-2),
            "rho": st.floats(0.0, 0.99),
            "beta_1": st.floats(0.0, 0.99),
            "beta_2": st.floats(0.0, 0.9999),
            "weight_decay": st.floats(0.0, 1.0),
        }
    ),
)
def test_optimizer_steps_match_reference(
    rule, dtype, shape, form, params_memmap, seed, step, hyper
):
    """Valid arguments in any form: the kernel's step is the reference's, and grad
    is left alone. A writable memory-mapped params is a valid params."""
    params, grad, states = optimizer_arrays(rule, dtype, shape, seed)
    grad = grad_form(grad, form)
    snap = fh.Snapshot(grad=grad)
    p_k = fh.lay_out(params, "memmap_rw") if params_memmap and params.size else params.copy()
    s_k = [s.copy() for s in states]
    p_r, s_r = params.copy(), [s.copy() for s in states]
    out = fh.call(apply_rule, kernels, rule, p_k, grad, s_k, step, **hyper)
    snap.assert_unchanged()
    assert out.ok, f"apply_{rule} refused valid input: {out.error!r}"
    assert out.value is None
    apply_rule(reference, rule, p_r, grad, s_r, step, **hyper)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    names = ["params", "state 1", "state 2"]
    for got, want, name in zip([p_k, *s_k], [p_r, *s_r], names, strict=False):
        assert got.dtype == dtype and got.shape == shape
        assert np.isfinite(got).all(), f"{name} became non-finite"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=name)


@fh.FEW
@given(
    rule=st.sampled_from(OPTIMIZERS),
    dtype=st.sampled_from((np.float64, np.float32)),
    where=st.sampled_from(("params", "grad", "state")),
    value=st.sampled_from((1e308, -1.7976931348623157e308, 3e38, -3e38, 1e200, 1e-310, 5e-324)),
    seed=fh.seeds,
    learning_rate=st.sampled_from((0.1, 1.0)),
)
def test_optimizer_steps_near_float_limits(rule, dtype, where, value, seed, learning_rate):
    """Finite values near the float limits: a finite update, or a clear error
    that leaves every array as it was -- never a silent inf/NaN in params or state."""
    params, grad, states = optimizer_arrays(rule, dtype, (6,), seed)
    if where == "state" and not states:
        return
    with np.errstate(over="ignore"):
        v = np.asarray(value).astype(dtype)
    if not np.isfinite(v):
        return  # not representable in float32: a different test (non-finite input)
    target = {"params": params, "grad": grad, "state": states[-1] if states else None}[where]
    target[2] = abs(v) if where == "state" else v
    snap = step_snapshot(params, grad, states)
    out = fh.call(apply_rule, kernels, rule, params, grad, states, 7, learning_rate=learning_rate)
    if not out.ok:
        snap.assert_unchanged()
        return
    snap.assert_unchanged("grad")
    for name, a in [("params", params), *[(f"state {i + 1}", s) for i, s in enumerate(states)]]:
        assert np.isfinite(a).all(), (
            f"apply_{rule} returned normally but left {name} non-finite: {a} "
            f"({where}[2] = {v!r}, learning_rate={learning_rate})"
        )


@pytest.mark.parametrize("rule", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_step_overflow_is_not_silent(rule, dtype):
    """A finite gradient at the top of the float range (its square overflows):
    the step raises a clear error (arrays untouched) or leaves params and state
    finite -- it does not return normally with inf written into them."""
    big = np.finfo(dtype).max * 0.9
    params = np.array([0.5, -0.25, 1.0], dtype=dtype)
    grad = np.array([big, 1.0, -big], dtype=dtype)
    states = [np.zeros(3, dtype=dtype) for _ in range(N_STATES[rule])]
    snap = step_snapshot(params, grad, states)
    out = fh.call(apply_rule, kernels, rule, params, grad, states, 1, learning_rate=1.0)
    if not out.ok:
        snap.assert_unchanged()
        return
    snap.assert_unchanged("grad")
    for name, a in [("params", params), *[(f"state {i + 1}", s) for i, s in enumerate(states)]]:
        assert np.isfinite(a).all(), f"apply_{rule} returned normally with {name} = {a}"
