"""The optimizer steps' contract, shared by ``gdfast.kernels`` and ``gdfast.reference``.

For each step: its state arrays and hyper-parameters (names, defaults, rules),
the docstring both implementations carry, and the validation of a call. The
update formulas themselves are in ``optimizers.hpp`` and, readably, in
``gdfast.reference``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from gdfast import _core
from gdfast._validation import _numeric_array, check_finite


def check_optimizer_arrays(
    params: Any,
    grad: Any,
    *states: Any,
    state_names: tuple[str, ...] = (),
    non_negative: tuple[str, ...] = (),
) -> tuple[np.ndarray, ...]:
    """Validate the arrays of an in-place optimizer step.

    ``params`` and each state array must be writable, C-contiguous float32 or
    float64 ndarrays of one dtype and shape (they are updated in place); ``grad``
    may be anything convertible to that shape and dtype, and must be finite.
    The states named in ``non_negative`` (sums and means of squares) must be
    >= 0. Errors name the states by ``state_names``. Returns flat views
    (params, grad, *states).
    """
    state_names = state_names or tuple(f"state array {i + 1}" for i in range(len(states)))
    names = ["params", *state_names]
    arrays = [params, *states]
    for name, a in zip(names, arrays, strict=True):
        if not isinstance(a, np.ndarray):
            raise TypeError(
                f"{name} must be a NumPy array (it is updated in place); got {type(a)}."
            )
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64; got {a.dtype}.")
        if not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(
                f"{name} must be a writable C-contiguous array (it is updated in place)."
            )
    for name, a in zip(names[1:], arrays[1:], strict=True):
        if a.dtype != params.dtype or a.shape != params.shape:
            raise ValueError(
                f"{name} must match params: dtype {params.dtype} and shape {params.shape}; got "
                f"{a.dtype} and {a.shape}."
            )
    g = _numeric_array(grad, "grad")
    if g.shape != params.shape:
        raise ValueError(f"grad must have the shape of params {params.shape}; got {g.shape}.")
    g = np.ascontiguousarray(g, dtype=params.dtype)
    check_finite(g, "grad")
    for name, a in zip(names, arrays, strict=True):
        check_finite(a, name)
        if name in non_negative and a.size and a.min() < 0:
            raise ValueError(
                f"{name} holds negative values; it accumulates squared gradients, so it "
                "must be >= 0 (start it with zeros)."
            )
    # The update reads and writes every array in one pass: overlapping memory
    # (a view of params passed as its own state or gradient) would mix old and
    # new values. All are C-contiguous here: their extents are their bytes.
    flat = [params, g, *states]
    pair = _core.first_overlap(flat)
    if pair is not None:
        labels = ["params", "grad", *names[1:]]
        i, j = pair
        raise ValueError(
            f"{labels[i]} and {labels[j]} overlap in memory; the step reads and writes "
            "them in one pass: pass separate arrays."
        )
    return tuple(a.reshape(-1) for a in flat)


def check_hyperparameter(
    value: Any,
    name: str,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """A finite real number in the given interval, or a ValueError/TypeError naming it."""
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, Real)):
        raise TypeError(f"{name} must be a real number; got {value!r}.")
    v = float(value)
    too_low = v <= low if low_open else v < low
    too_high = high is not None and (v >= high if high_open else v > high)
    if not math.isfinite(v) or too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(
            f"{name} must be in {lo}{low}, {high if high is not None else 'inf'}{hi}; got {v!r}."
        )
    return v


def check_step(step: Any) -> int:
    """Adam's 1-based update count."""
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 1 <= step <= 2**53:
        raise ValueError(
            f"step must be an integer >= 1 and <= 2**53 (the count of this update); got {step!r}."
        )
    return int(step)


# The interval of each hyper-parameter (check_hyperparameter's arguments).
HYPER_RULES: dict[str, dict[str, Any]] = {
    "learning_rate": dict(low=0.0),
    "weight_decay": dict(low=0.0),
    "momentum": dict(low=0.0, high=1.0),
    "rho": dict(low=0.0, high=1.0),
    "beta_1": dict(low=0.0, high=1.0),
    "beta_2": dict(low=0.0, high=1.0),
    "eps": dict(low=0.0, low_open=True),
}

# The binding's optimizer_step arguments after the learning rate, with the
# value passed when a step does not take one (the kernel ignores it then).
UNUSED_HYPER = (
    ("momentum", 0.9),
    ("beta_1", 0.9),
    ("beta_2", 0.999),
    ("rho", 0.9),
    ("eps", 1e-8),
    ("step", 1.0),
    ("weight_decay", 0.0),
)


def _binding_rules() -> dict[str, tuple[float, float, float, bool, bool]]:
    """HYPER_RULES as the binding's fast path takes them (set_step_rules)."""
    unused = dict(UNUSED_HYPER, learning_rate=0.0)
    return {
        name: (
            unused[name],
            rule["low"],
            math.inf if rule.get("high") is None else rule["high"],
            rule.get("low_open", False),
            rule.get("high_open", True),
        )
        for name, rule in HYPER_RULES.items()
    }


_core.set_step_rules(_binding_rules())


def check_optimizer_call(
    name: str,
    params: Any,
    grad: Any,
    states: tuple = (),
    *,
    step: Any = None,
    state_names: tuple[str, ...] = (),
    non_negative: tuple[str, ...] = (),
    **hyper: Any,
) -> tuple[tuple[np.ndarray, ...], dict[str, float]]:
    """Validate an optimizer step (shared by gdfast.kernels and gdfast.reference).

    Returns the flat (params, grad, *states) views and the validated
    hyper-parameters: ``learning_rate`` and ``weight_decay`` >= 0, ``momentum``,
    ``rho``, ``beta_1`` and ``beta_2`` in [0, 1), ``eps`` > 0, ``step`` an int >= 1.
    """
    arrays = check_optimizer_arrays(
        params, grad, *states, state_names=state_names, non_negative=non_negative
    )
    checked = {k: check_hyperparameter(v, k, **HYPER_RULES[k]) for k, v in hyper.items()}
    if step is not None:
        checked["step"] = float(check_step(step))
    return arrays, checked


def step_overflow_error(name: str) -> FloatingPointError:
    """The error of an optimizer step whose result would not be finite."""
    return FloatingPointError(
        f"{name}: the update would overflow (a parameter or optimizer state would become "
        "infinite or NaN); nothing was changed. Lower the learning rate or check the "
        "gradient's scale."
    )


@dataclass(frozen=True)
class Step:
    """One optimizer step: what it does, its state arrays and its hyper-parameters."""

    summary: str
    formula: str
    states: tuple[tuple[str, str], ...] = ()  # (argument, description)
    hyper: tuple[tuple[str, str], ...] = ()  # (argument, numpydoc entry)
    takes_step: bool = False  # Adam's 1-based update count
    non_negative: tuple[str, ...] = ()  # the states of squares (>= 0)


_MOMENTUM = (("momentum", "momentum : float, default=0.9\n    Momentum coefficient in [0, 1)."),)
_EPS = ("eps", "eps : float, default=1e-8\n    Stabilizer (> 0).")
_BETAS = (
    ("beta_1", "beta_1, beta_2 : float, default=0.9, 0.999\n    Decay rates in [0, 1)."),
    ("beta_2", ""),  # documented with beta_1
    _EPS,
)
_VELOCITY = (("velocity", "Momentum buffer (start with zeros), updated in place."),)
_MOMENTS = (
    ("m", "First moment estimate (start with zeros), updated in place."),
    ("v", "Second moment estimate (start with zeros), updated in place."),
)
_ADAM = "``m_hat = m / (1 - beta_1**step)``, ``v_hat = v / (1 - beta_2**step)``"

STEPS: dict[str, Step] = {
    "sgd": Step("Plain gradient step.", "``params -= learning_rate * grad``."),
    "momentum": Step(
        "Heavy-ball step (PyTorch's convention), in place.",
        "``velocity = momentum * velocity + grad``; ``params -= learning_rate * velocity``.",
        _VELOCITY,
        _MOMENTUM,
    ),
    "nesterov": Step(
        "Nesterov momentum step (PyTorch's convention), in place.",
        "``velocity = momentum * velocity + grad``;\n"
        "``params -= learning_rate * (grad + momentum * velocity)``.",
        _VELOCITY,
        _MOMENTUM,
    ),
    "adagrad": Step(
        "Adagrad step, in place.",
        "``sum_sq += grad**2``; ``params -= learning_rate * grad / (sqrt(sum_sq) + eps)``.",
        (("sum_sq", "Running sum of squared gradients (start with zeros), updated in place."),),
        (_EPS,),
        non_negative=("sum_sq",),
    ),
    "rmsprop": Step(
        "RMSprop step, in place.",
        "``mean_sq = rho * mean_sq + (1 - rho) * grad**2``;\n"
        "``params -= learning_rate * grad / (sqrt(mean_sq) + eps)``.",
        (("mean_sq", "Running mean of squared gradients (start with zeros), updated in place."),),
        (("rho", "rho : float, default=0.9\n    Decay rate in [0, 1)."), _EPS),
        non_negative=("mean_sq",),
    ),
    "adam": Step(
        "Adam step, in place.",
        "``m = beta_1 m + (1 - beta_1) grad``; ``v = beta_2 v + (1 - beta_2) grad**2``;\n"
        f"``params -= learning_rate * m_hat / (sqrt(v_hat) + eps)`` with {_ADAM}.",
        _MOMENTS,
        _BETAS,
        takes_step=True,
        non_negative=("v",),
    ),
    "adamw": Step(
        "AdamW step (Adam with decoupled weight decay), in place.",
        "``params *= 1 - learning_rate * weight_decay``, then the Adam update of ``apply_adam``.",
        _MOMENTS,
        (("weight_decay", "weight_decay : float\n    Decoupled decay rate (>= 0)."), *_BETAS),
        takes_step=True,
        non_negative=("v",),
    ),
}

# The names every implementation of the kernels API defines.
KERNEL_API = ("loss_grad", "predict", *(f"apply_{name}" for name in STEPS))


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.split("\n"))


def step_docstring(name: str, note: str = "") -> str:
    """The numpydoc docstring of ``apply_<name>``."""
    spec = STEPS[name]
    params = [
        "params : ndarray\n    Parameters, updated in place.",
        "grad : array-like\n    Gradient at ``params``.",
        *(f"{arg} : ndarray\n    {text}" for arg, text in spec.states),
    ]
    if spec.takes_step:
        params.append("step : int\n    1-based count of this update.")
    params.append("learning_rate : float\n    Step size (>= 0).")
    params += [entry for _, entry in spec.hyper if entry]
    text = f"{spec.summary}\n\n{spec.formula}\n"
    if note:
        text += f"\n{note}\n"
    text += "\nParameters\n----------\n" + "\n".join(params)
    text += (
        "\n\nRaises\n------\nFloatingPointError\n"
        "    If the update would overflow; then nothing is changed.\n"
    )
    return _indent(text, 4).lstrip()


def documented_step(name: str, note: str = ""):
    """Decorator: give ``apply_<name>`` its docstring from ``STEPS``."""

    def decorate(function):
        function.__doc__ = step_docstring(name, note)
        return function

    return decorate


def check_step_arguments(
    name: str, arguments: dict[str, Any]
) -> tuple[tuple[np.ndarray, ...], dict[str, float]]:
    """Validate the arguments of ``apply_<name>`` (given by argument name).

    Returns the flat (params, grad, *states) arrays and the validated
    hyper-parameters (``learning_rate``, the step's own, ``step`` for Adam and
    ``weight_decay`` (0 unless AdamW)).
    """
    spec = STEPS[name]
    states = tuple(arguments[arg] for arg, _ in spec.states)
    hyper = {"learning_rate": arguments["learning_rate"]}
    hyper.update({arg: arguments[arg] for arg, _ in spec.hyper})
    if name == "adam":
        hyper["weight_decay"] = 0.0
    step = arguments["step"] if spec.takes_step else None
    return check_optimizer_call(
        f"apply_{name}",
        arguments["params"],
        arguments["grad"],
        states,
        step=step,
        state_names=tuple(arg for arg, _ in spec.states),
        non_negative=spec.non_negative,
        **hyper,
    )
