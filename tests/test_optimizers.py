"""The fused optimizer steps of gdfast.kernels against their NumPy twins."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import OPTIMIZERS

from gdfast import kernels, reference

RTOL = {np.float64: 1e-12, np.float32: 1e-5}
# The hyperparameters of Adam and AdamW in run_steps.
ADAM = dict(learning_rate=0.1, beta_1=0.8, beta_2=0.95, eps=1e-7)


def run_steps(impl, name, dtype, n_steps=5, shape=(7, 3), seed=0):
    """Apply `n_steps` updates of optimizer `name` from `impl`; return params and states."""
    rng = np.random.default_rng(seed)
    params = rng.standard_normal(shape).astype(dtype)
    states = [np.zeros(shape, dtype=dtype) for _ in range(2)]
    for step in range(1, n_steps + 1):
        grad = rng.standard_normal(shape).astype(dtype)
        if name == "sgd":
            impl.apply_sgd(params, grad, learning_rate=0.1)
        elif name == "momentum":
            impl.apply_momentum(params, grad, states[0], learning_rate=0.1, momentum=0.8)
        elif name == "nesterov":
            impl.apply_nesterov(params, grad, states[0], learning_rate=0.1, momentum=0.8)
        elif name == "adagrad":
            impl.apply_adagrad(params, grad, states[0], learning_rate=0.1, eps=1e-7)
        elif name == "rmsprop":
            impl.apply_rmsprop(params, grad, states[0], learning_rate=0.1, rho=0.7, eps=1e-7)
        elif name == "adam":
            impl.apply_adam(params, grad, states[0], states[1], step, **ADAM)
        elif name == "adamw":
            impl.apply_adamw(params, grad, states[0], states[1], step, weight_decay=0.3, **ADAM)
    return params, states


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_steps_match_reference(name, dtype):
    got, got_states = run_steps(kernels, name, dtype)
    want, want_states = run_steps(reference, name, dtype)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype])
    for g, w in zip(got_states, want_states, strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_formulas_by_hand():
    p = np.array([1.0, -2.0])
    kernels.apply_sgd(p, [0.5, 0.5], learning_rate=0.2)
    np.testing.assert_allclose(p, [0.9, -2.1])
    # Adam's first step moves each coordinate by ~learning_rate against the gradient's sign.
    p, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    kernels.apply_adam(p, [3.0, -0.01, 100.0], m, v, 1, learning_rate=0.5, eps=1e-12)
    np.testing.assert_allclose(p, [-0.5, 0.5, -0.5], rtol=1e-9)
    # Nesterov twice with a constant gradient: v = 1, then 1.5; steps g + 0.5 v.
    p, vel = np.zeros(1), np.zeros(1)
    for _ in range(2):
        kernels.apply_nesterov(p, [1.0], vel, learning_rate=1.0, momentum=0.5)
    np.testing.assert_allclose(p, [-(1 + 0.5 * 1) - (1 + 0.5 * 1.5)])
    # AdamW with a zero gradient only decays.
    p, m, v = np.full(2, 4.0), np.zeros(2), np.zeros(2)
    kernels.apply_adamw(p, np.zeros(2), m, v, 1, learning_rate=0.1, weight_decay=0.5)
    np.testing.assert_allclose(p, [4.0 * 0.95] * 2)


def test_updates_are_in_place_and_grad_untouched():
    p = np.ones((2, 2))
    g = np.full((2, 2), 0.5)
    v = np.zeros((2, 2))
    before = p
    kernels.apply_momentum(p, g, v, learning_rate=1.0)
    assert p is before and np.all(p == 0.5) and np.all(v == 0.5) and np.all(g == 0.5)
    kernels.apply_sgd(np.zeros(0), np.zeros(0), learning_rate=1.0)  # empty is fine


@pytest.mark.parametrize("impl", [kernels, reference])
def test_bad_optimizer_input(impl):
    p = np.zeros(4)
    with pytest.raises(TypeError, match="params must be a NumPy array"):
        impl.apply_sgd([0.0, 1.0], [1.0, 1.0], learning_rate=0.1)
    with pytest.raises(TypeError, match="params must be float32 or float64"):
        impl.apply_sgd(np.zeros(4, dtype=int), np.ones(4), learning_rate=0.1)
    with pytest.raises(ValueError, match="writable C-contiguous"):
        impl.apply_sgd(np.zeros(8)[::2], np.ones(4), learning_rate=0.1)
    ro = np.zeros(4)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writable C-contiguous"):
        impl.apply_sgd(ro, np.ones(4), learning_rate=0.1)
    with pytest.raises(ValueError, match="grad must have the shape"):
        impl.apply_sgd(p, np.ones(3), learning_rate=0.1)
    with pytest.raises(ValueError, match="grad contains NaN"):
        impl.apply_sgd(p, np.full(4, np.nan), learning_rate=0.1)
    with pytest.raises(ValueError, match="velocity must match params"):
        impl.apply_momentum(p, np.ones(4), np.zeros(4, dtype=np.float32), learning_rate=0.1)
    with pytest.raises(ValueError, match="v contains NaN"):
        impl.apply_adam(p, np.ones(4), np.zeros(4), np.full(4, np.nan), 1, learning_rate=0.1)
    # Sums and means of squares are never negative: refused, named, nothing written.
    neg = np.array([0.0, -1e-3, 0.0, 0.0])
    for step, call in {
        "sum_sq": lambda s: impl.apply_adagrad(p, np.ones(4), s, learning_rate=0.1),
        "mean_sq": lambda s: impl.apply_rmsprop(p, np.ones(4), s, learning_rate=0.1),
        "v": lambda s: impl.apply_adam(p, np.ones(4), np.zeros(4), s, 1, learning_rate=0.1),
    }.items():
        state, before = neg.copy(), p.copy()
        with pytest.raises(ValueError, match=f"^{step} holds negative values"):
            call(state)
        assert np.array_equal(state, neg) and np.array_equal(p, before)
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        impl.apply_adam(p, np.ones(4), np.zeros(4), np.zeros(4), 0, learning_rate=0.1)


def test_bad_hyperparameters():
    p, g, s = np.zeros(2), np.ones(2), np.zeros(2)
    with pytest.raises(ValueError, match="learning_rate must be in"):
        kernels.apply_sgd(p, g, learning_rate=-1.0)
    with pytest.raises(ValueError, match="momentum must be in"):
        kernels.apply_momentum(p, g, s, learning_rate=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="eps must be in"):
        kernels.apply_adagrad(p, g, s, learning_rate=0.1, eps=0.0)
    with pytest.raises(TypeError, match="rho must be a real number"):
        kernels.apply_rmsprop(p, g, s, learning_rate=0.1, rho="x")
    with pytest.raises(ValueError, match="learning_rate must be in"):
        kernels.apply_sgd(p, g, learning_rate=np.inf)
