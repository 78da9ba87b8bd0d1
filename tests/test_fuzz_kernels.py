"""Fuzzed bad input to gdfast.kernels (loss_grad, predict), checked against
gdfast.reference (the harness is tests/fuzz_harness.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import fuzz_harness as fh
import numpy as np
import pytest
from conftest import LOSSES
from fuzz_harness import _hang_watchdog, _memmap_dir  # noqa: F401  (autouse: apply here)
from hypothesis import given, note
from hypothesis import strategies as st

from gdfast import kernels, reference

# --------------------------------------------------------------------------- kernels


KERNEL_PARAM_DTYPES = ("float64", "float32", "int64", "object_num", "complex128", "str_num")
EPSILONS = (0.1, 0.0, 1.5, -1.0, fh.NAN, fh.INF, "0.1", True)
INTERCEPT_KINDS = ("scalar", "zero_d", "vector", "list", "wrong", "nan", "inf", "str", "complex")


@dataclass(frozen=True)
class InterceptSpec:
    kind: str
    k: int | None  # None: single output

    def build(self):
        k = 1 if self.k is None else self.k
        return {
            "scalar": 0.25,
            "zero_d": np.array(-0.5),
            "vector": np.linspace(-1, 1, k),
            "list": [0.5] * k,
            "wrong": np.zeros(k + 1),
            "nan": fh.NAN,
            "inf": np.full(k, -fh.INF),
            "str": "abc",
            "complex": 1 + 2j,
        }[self.kind]

    @property
    def bad(self) -> bool:
        return self.kind in ("wrong", "nan", "inf", "str", "complex")


@st.composite
def coef_specs(draw, p, k, *, mode="any"):
    """coef for p features and k targets (None: 1-D); in mode "any" sometimes of
    the wrong shape."""
    shape = (p,) if k is None else (k, p)
    wrong = draw(st.sampled_from((None, "features", "ndim"))) if mode == "any" else None
    if wrong == "features":
        shape = (*shape[:-1], p + 1)
    elif wrong == "ndim":
        shape = (1, p) if k is None else (k * p,)
    spec = draw(fh.array_specs(shape, mode=mode, dtypes=KERNEL_PARAM_DTYPES))
    return wrong, spec


GOOD_INTERCEPT_KINDS = ("scalar", "zero_d", "vector", "list")
GOOD_EPSILONS = (0.1, 0.0, 1.5)


def kernel_modes(draw, names):
    """Modes of the kernel arguments: one faulty or near the float limits (or
    all faulty, "everything"), the others good."""
    fault = draw(st.sampled_from(("none", *names, "limits", "everything")), label="fault")
    modes = dict.fromkeys(names, "good")
    if fault == "limits":
        arrays = tuple(name for name in ("X", "y", "coef") if name in names)
        modes[draw(st.sampled_from(arrays))] = "limits"
    elif fault == "everything":
        modes = dict.fromkeys(names, "any")
    elif fault in modes:
        modes[fault] = "any"
    return fault, modes


@st.composite
def loss_grad_inputs(draw):
    _, modes = kernel_modes(draw, ("X", "y", "coef", "intercept", "sample_weight", "epsilon"))
    n = draw(st.integers(0, 30), label="n")
    p = draw(st.integers(0, 6), label="p")
    Xs = draw(fh.array_specs((n, p), mode=modes["X"]), label="X")
    y_kind, ys = draw(fh.target_specs(n, mode=modes["y"]), label="y")
    k = fh.N_TARGETS.get(y_kind)
    coef_wrong, cs = draw(coef_specs(p, k, mode=modes["coef"]), label="coef")
    intercept_kinds = GOOD_INTERCEPT_KINDS if modes["intercept"] == "good" else INTERCEPT_KINDS
    bs = InterceptSpec(draw(st.sampled_from(intercept_kinds)), k)
    sws = draw(fh.weight_specs(n, mode=modes["sample_weight"]), label="sample_weight")
    loss = draw(st.sampled_from(LOSSES))
    epsilon = draw(st.sampled_from(GOOD_EPSILONS if modes["epsilon"] == "good" else EPSILONS))
    n_jobs = draw(st.sampled_from((None, 1, 2, -1)))
    return n, p, Xs, y_kind, ys, k, coef_wrong, cs, bs, sws, loss, epsilon, n_jobs


def epsilon_ok(epsilon) -> bool:
    return (
        not isinstance(epsilon, bool)
        and isinstance(epsilon, float)
        and math.isfinite(epsilon)
        and epsilon >= 0
    )


@fh.FUZZ
@given(inputs=loss_grad_inputs())
def test_kernel_loss_grad_fuzz(inputs):
    n, p, Xs, y_kind, ys, k, coef_wrong, cs, bs, sws, loss, epsilon, n_jobs = inputs
    X, y, coef, intercept, sw = Xs.build(), ys.build(), cs.build(), bs.build(), sws.build()
    snap = fh.Snapshot(X=X, y=y, coef=coef, intercept=intercept, sample_weight=sw)
    kw = dict(loss=loss, epsilon=epsilon, sample_weight=sw)
    out = fh.call(kernels.loss_grad, X, y, coef, intercept, n_jobs=n_jobs, **kw)
    snap.assert_unchanged()
    ref = fh.call(reference.loss_grad, X, y, coef, intercept, **kw)
    snap.assert_unchanged()
    fh.same_acceptance(out, ref, "loss_grad")

    bad = [
        name
        for name, is_bad in (
            ("X", fh.is_unusable(X) or fh.is_nonfinite(X) or np.ndim(X) != 2),
            ("y", y_kind in ("wrong_len", "3d") or fh.is_unusable(y) or fh.is_nonfinite(y)),
            ("coef", coef_wrong is not None or fh.is_unusable(coef) or fh.is_nonfinite(coef)),
            ("intercept", bs.bad),
            ("sample_weight", sws.bad or fh.is_nonfinite(sw)),
            ("epsilon", not epsilon_ok(epsilon)),
            ("str", any(np.asarray(a).dtype.kind in "USV" for a in (X, y, coef))),
        )
        if is_bad
    ]
    note(f"bad={bad}")
    if bad:
        assert not out.ok, f"loss_grad accepted bad {bad}"
    clean = not bad and Xs.clean and ys.clean and cs.clean and sws.kind in fh.GOOD_WEIGHT_KINDS
    if clean:
        assert out.ok, f"loss_grad refused clean input: {out.error!r}"
    if not out.ok:
        return

    value, grad, grad_b = out.value
    grad_shape = (p,) if k is None else (k, p)
    assert isinstance(value, float) and math.isfinite(value), value
    assert isinstance(grad, np.ndarray) and grad.dtype == np.float64
    fh.assert_finite_array(grad, grad_shape, "grad_coef")
    if k is None:
        assert isinstance(grad_b, float) and math.isfinite(grad_b), grad_b
    else:
        fh.assert_finite_array(grad_b, (k,), "grad_intercept")
    if n == 0:
        assert value == 0.0 and not grad.any() and not np.any(grad_b)

    if clean:
        r_value, r_grad, r_grad_b = ref.value
        f32 = Xs.kernel_float == np.float32
        rtol, atol = (1e-3, 1e-3) if f32 else (1e-9, 1e-9)
        np.testing.assert_allclose(value, r_value, rtol=rtol, atol=atol * (1 + abs(r_value)))
        scale = 1 + float(np.max(np.abs(r_grad), initial=0.0))
        np.testing.assert_allclose(grad, r_grad, rtol=rtol, atol=atol * scale)
        np.testing.assert_allclose(grad_b, r_grad_b, rtol=rtol, atol=atol * scale)
        # The same numbers as from plain C-contiguous arrays.
        X_c = fh.canonical(Xs, Xs.kernel_float)
        twin = kernels.loss_grad(
            X_c, fh.numeric_values(y), fh.numeric_values(coef), intercept, **kw
        )
        np.testing.assert_allclose(value, twin[0], rtol=rtol, atol=atol * (1 + abs(twin[0])))
        np.testing.assert_allclose(grad, twin[1], rtol=rtol, atol=atol * scale)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        # float32 X near the float32 limit: the loss (~7e74) is finite in float64,
        # the dtype of the returned loss and gradient.
        (
            "loss_grad",
            (np.array([[3e38]], dtype=np.float32), np.array([0.5]), np.array([0.125]), 0.25),
        ),
        # a coefficient beyond the float32 range times a float32 zero: prediction 0.
        ("predict", (np.array([[0.0]], dtype=np.float32), np.array([1e308]), 0.25)),
    ],
    ids=["loss_grad-float32-X-3e38", "predict-float32-X-coef-1e308"],
)
def test_kernel_and_reference_agree_on_float32_near_limits(name, args):
    """float32 data with values the float64 computation handles: the kernel and
    its specification must agree on whether the input is accepted."""
    snap = fh.Snapshot(**{f"arg{i}": a for i, a in enumerate(args)})
    out = fh.call(getattr(kernels, name), *args)
    ref = fh.call(getattr(reference, name), *args)
    snap.assert_unchanged()
    if out.ok:
        assert np.isfinite(np.asarray(out.value[0] if name == "loss_grad" else out.value)).all()
    fh.same_acceptance(out, ref, name)


@st.composite
def predict_inputs(draw):
    _, modes = kernel_modes(draw, ("X", "coef", "intercept"))
    n = draw(st.integers(0, 30), label="n")
    p = draw(st.integers(0, 6), label="p")
    Xs = draw(fh.array_specs((n, p), mode=modes["X"]), label="X")
    k = draw(st.sampled_from((None, None, 1, 3)), label="k")
    coef_wrong, cs = draw(coef_specs(p, k, mode=modes["coef"]), label="coef")
    intercept_kinds = GOOD_INTERCEPT_KINDS if modes["intercept"] == "good" else INTERCEPT_KINDS
    bs = InterceptSpec(draw(st.sampled_from(intercept_kinds)), k)
    n_jobs = draw(st.sampled_from((None, 1, 2, -1)))
    return n, p, Xs, k, coef_wrong, cs, bs, n_jobs


@fh.FUZZ
@given(inputs=predict_inputs())
def test_kernel_predict_fuzz(inputs):
    n, p, Xs, k, coef_wrong, cs, bs, n_jobs = inputs
    X, coef, intercept = Xs.build(), cs.build(), bs.build()
    snap = fh.Snapshot(X=X, coef=coef, intercept=intercept)
    out = fh.call(kernels.predict, X, coef, intercept, n_jobs=n_jobs)
    snap.assert_unchanged()
    ref = fh.call(reference.predict, X, coef, intercept)
    snap.assert_unchanged()
    # "ndim" may still be valid: (1, p) is a 1-target model, and (k * p,) is a
    # single-output one when k * p == p.
    if coef_wrong == "ndim" and k is None:
        coef_wrong, k = None, 1
    elif coef_wrong == "ndim" and k * p == p:
        coef_wrong, k = None, None
    intercept_bad = bs.bad or (k is None and np.size(intercept) != 1)
    fh.same_acceptance(out, ref, "predict")

    bad = [
        name
        for name, is_bad in (
            ("X", fh.is_unusable(X) or fh.is_nonfinite(X) or np.ndim(X) != 2),
            ("coef", coef_wrong is not None or fh.is_unusable(coef) or fh.is_nonfinite(coef)),
            ("intercept", intercept_bad),
            ("str", any(np.asarray(a).dtype.kind in "USV" for a in (X, coef))),
        )
        if is_bad
    ]
    note(f"bad={bad}")
    if bad:
        assert not out.ok, f"predict accepted bad {bad}"
    clean = not bad and Xs.clean and cs.clean
    if clean:
        assert out.ok, f"predict refused clean input: {out.error!r}"
    if not out.ok:
        return
    pred = out.value
    assert isinstance(pred, np.ndarray)
    assert pred.dtype == Xs.kernel_float or not clean, pred.dtype
    fh.assert_finite_array(pred, (n,) if k is None else (n, k), "predictions")
    if p == 0 and n > 0:  # predictions are the intercepts
        np.testing.assert_array_equal(
            pred, np.broadcast_to(np.asarray(intercept, dtype=pred.dtype), pred.shape)
        )
    if clean:
        f32 = pred.dtype == np.float32
        tol = 1e-4 if f32 else 1e-10
        np.testing.assert_allclose(pred, ref.value, rtol=tol, atol=tol)
        twin = kernels.predict(
            fh.canonical(Xs, Xs.kernel_float), fh.numeric_values(coef), intercept
        )
        np.testing.assert_allclose(pred, twin, rtol=tol, atol=tol)
