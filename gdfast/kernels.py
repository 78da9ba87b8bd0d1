"""GIL-free kernels for pipelines that own their loop.

Each function validates its arguments (see ``gdfast._validation``; arguments
already in the kernel's form are checked by the binding's fast path instead,
against the same rules), then runs one compiled kernel with the GIL released,
so Python threads and distributed workers can call them concurrently. Results
do not depend on ``n_jobs``: rows are summed in fixed blocks, in a fixed order.

Losses are *sums* over rows, not means, so that the results of chunks of the
data add up to the result on the whole.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gdfast import _core
from gdfast._config import resolve_n_jobs
from gdfast._steps import (
    KERNEL_API,
    STEPS,
    UNUSED_HYPER,
    check_step_arguments,
    documented_step,
    step_overflow_error,
)
from gdfast._validation import (
    all_finite,
    check_loss_grad_args,
    check_predict_args,
    nonfinite_error,
)

__all__ = list(KERNEL_API)

Array = np.ndarray


def loss_grad(
    X: Any,
    y: Any,
    coef: Any,
    intercept: Any,
    *,
    loss: str = "squared_error",
    epsilon: float = 0.1,
    sample_weight: Any = None,
    n_jobs: int | None = None,
) -> tuple[float, np.ndarray, float | np.ndarray]:
    """Summed loss and its gradient for a linear model, in one pass over X.

    With predictions ``p = X @ coef + intercept``, computes
    ``sum_i s_i * l(p_i, y_i)`` and its gradient with respect to ``coef`` and
    ``intercept``, where ``s`` are the sample weights (1 when None) and ``l`` is
    one of the regression losses of the residual ``r = p - y``

    - ``squared_error``: ``r**2 / 2``
    - ``huber``: ``r**2 / 2`` if ``|r| <= epsilon`` else ``epsilon * |r| - epsilon**2 / 2``
    - ``epsilon_insensitive``: ``max(0, |r| - epsilon)``
    - ``squared_epsilon_insensitive``: ``max(0, |r| - epsilon)**2``

    or one of the classification losses of the margin ``z = p * y``, for labels
    ``y`` of +1 or -1 (several columns: one binary problem per column,
    one-vs-rest), scikit-learn's SGDClassifier losses

    - ``hinge``: ``max(0, 1 - z)``; ``perceptron``: ``max(0, -z)``
    - ``squared_hinge``: ``max(0, 1 - z)**2``
    - ``modified_huber``: ``max(0, 1 - z)**2`` if ``z >= -1`` else ``-4 z``
    - ``log_loss``: ``log(1 + exp(-z))``

    or the multinomial (softmax) log-loss of a row's k predictions ``p_t`` for
    its class ``c = y_i`` (an index 0, ..., k - 1; ``coef`` is then
    (k, n_features), one row per class, and the gradient of all k rows comes
    from the same single pass)

    - ``multinomial_log_loss``: ``log(sum_t exp(p_t)) - p_c``

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        float32/float64 arrays in C or Fortran order (and CSR matrices) are
        read in place; other input is converted once (float32 stays float32).
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Targets (labels +1/-1 for a margin loss, class indices for
        ``multinomial_log_loss``). For 2-D ``y`` (and for
        ``multinomial_log_loss``), ``coef`` is (n_targets, n_features) and
        ``intercept`` a scalar or (n_targets,).
    coef : array-like of shape (n_features,) or (n_targets, n_features)
        Coefficients.
    intercept : float or array-like of shape (n_targets,)
        Intercept(s).
    loss : {"squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive", "hinge", "log_loss", "modified_huber", \
            "squared_hinge", "perceptron", "multinomial_log_loss"}, \
            default="squared_error"
        The loss ``l``.
    epsilon : float, default=0.1
        Width of the Huber and epsilon-insensitive losses (>= 0).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights ``s``.
    n_jobs : int, default=None
        Threads: None uses OpenMP's limit (``OMP_NUM_THREADS``, threadpoolctl),
        -1 all cores. The result is bitwise identical for any value.

    Returns
    -------
    loss_sum : float
        ``sum_i s_i * l(r_i)``.
    grad_coef : ndarray of float64, shape of ``coef``
        ``sum_i s_i * l'(r_i) * x_i``.
    grad_intercept : float, or ndarray of shape (n_targets,) for 2-D ``y`` (and k classes)
        ``sum_i s_i * l'(r_i)``.

    Raises
    ------
    ValueError
        Wrong shapes, NaN/inf in any input, negative weights, unknown loss,
        labels other than +1/-1 for a margin loss (other than class indices
        0, ..., k - 1 for the multinomial).
    TypeError
        Complex, string or non-numeric data.
    FloatingPointError
        Finite inputs whose loss or gradient overflows float64.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast.kernels import loss_grad
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> loss_grad(X, np.array([1.0, 2.0]), np.zeros(2), 0.0)
    (2.5, array([ -7., -10.]), -3.0)
    """
    threads = resolve_n_jobs(n_jobs)
    # Arguments already in the kernel's form go straight to it; any others (or
    # a non-finite result) are validated, with errors naming what is wrong.
    fast = _core.loss_grad_fast(X, y, coef, intercept, loss, epsilon, sample_weight, threads)
    if fast is not None:
        return fast
    return _validated_loss_grad(X, y, coef, intercept, loss, epsilon, sample_weight, threads)


def _validated_loss_grad(
    X: Any,
    y: Any,
    coef: Any,
    intercept: Any,
    loss: str,
    epsilon: float,
    sample_weight: Any,
    threads: int,
) -> tuple[float, np.ndarray, float | np.ndarray]:
    """``loss_grad`` after validating (and converting) every argument."""
    a = check_loss_grad_args(X, y, coef, intercept, loss, epsilon, sample_weight)
    k = a.coef.shape[0]
    value, grad, grad_b, status = _core.loss_grad(
        _core.Matrix(a.X),
        a.y.reshape(-1),
        a.sample_weight,
        a.coef.reshape(-1),
        a.intercept,
        k,
        a.loss_kind,
        a.epsilon,
        threads,
    )
    if status != _core.STATUS_OK or not (
        math.isfinite(value) and all_finite(grad) and all_finite(grad_b)
    ):
        raise nonfinite_error(a.X, "loss_grad")
    if a.multi_output:
        return float(value), grad.reshape(k, -1), grad_b
    return float(value), grad, float(grad_b[0])


def predict(X: Any, coef: Any, intercept: Any, *, n_jobs: int | None = None) -> np.ndarray:
    """Predictions of a linear model: ``X @ coef.T + intercept``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        As in :func:`loss_grad`.
    coef : array-like of shape (n_features,) or (n_targets, n_features)
        Coefficients.
    intercept : float or array-like of shape (n_targets,)
        Intercept(s).
    n_jobs : int, default=None
        Threads, as in :func:`loss_grad`.

    Returns
    -------
    ndarray of shape (n_samples,) or (n_samples, n_targets)
        In X's floating dtype (float32 input gives float32 predictions).

    Raises
    ------
    ValueError, TypeError, FloatingPointError
        As in :func:`loss_grad`.
    """
    threads = resolve_n_jobs(n_jobs)
    fast = _core.predict_fast(X, coef, intercept, threads)  # as in loss_grad
    if fast is not None:
        return fast
    return _validated_predict(X, coef, intercept, threads)


def _validated_predict(X: Any, coef: Any, intercept: Any, threads: int) -> np.ndarray:
    """``predict`` after validating (and converting) every argument."""
    a = check_predict_args(X, coef, intercept)
    k = a.coef.shape[0]
    out, status = _core.predict(_core.Matrix(a.X), a.coef.reshape(-1), a.intercept, k, threads)
    if status != _core.STATUS_OK:
        raise nonfinite_error(a.X, "predict")
    return out if a.multi_output else out[:, 0]


# --------------------------------------------------------------------------- optimizer steps
#
# Each function updates ``params`` and its state arrays in place with one fused
# pass (no temporaries), with the GIL released. params and the state arrays are
# writable C-contiguous float32/float64 arrays of one shape and dtype.


# Each step's optimizer code and state arrays, as the binding's fast path takes them.
_FAST = {
    name: (
        _core.CODES["optimizer"][name],
        tuple((arg, arg in spec.non_negative) for arg, _ in spec.states),
    )
    for name, spec in STEPS.items()
}


def _step(name: str, arguments: dict[str, Any]) -> None:
    """Run the fused step ``apply_<name>`` in place, given its ``locals()``.

    Arguments already in the kernel's form (see ``_core.optimizer_step_fast``)
    go straight to it; any others are validated first, with errors naming
    what is wrong.
    """
    kind, states = _FAST[name]
    applied = _core.optimizer_step_fast(kind, states, arguments)
    if applied is None:
        arrays, h = check_step_arguments(name, arguments)
        p, g, *state_arrays = arrays
        s1, s2 = [*state_arrays, None, None][:2]
        hyper = [h.get(k, default) for k, default in UNUSED_HYPER]
        applied = _core.optimizer_step(kind, p, g, s1, s2, h["learning_rate"], *hyper)
    if not applied:
        raise step_overflow_error(f"apply_{name}")


@documented_step("sgd")
def apply_sgd(params: Array, grad: Any, *, learning_rate: float) -> None:
    _step("sgd", locals())


@documented_step("momentum")
def apply_momentum(
    params: Array, grad: Any, velocity: Array, *, learning_rate: float, momentum: float = 0.9
) -> None:
    _step("momentum", locals())


@documented_step("nesterov")
def apply_nesterov(
    params: Array, grad: Any, velocity: Array, *, learning_rate: float, momentum: float = 0.9
) -> None:
    _step("nesterov", locals())


@documented_step("adagrad")
def apply_adagrad(
    params: Array, grad: Any, sum_sq: Array, *, learning_rate: float, eps: float = 1e-8
) -> None:
    _step("adagrad", locals())


@documented_step("rmsprop")
def apply_rmsprop(
    params: Array,
    grad: Any,
    mean_sq: Array,
    *,
    learning_rate: float,
    rho: float = 0.9,
    eps: float = 1e-8,
) -> None:
    _step("rmsprop", locals())


@documented_step("adam")
def apply_adam(
    params: Array,
    grad: Any,
    m: Array,
    v: Array,
    step: int,
    *,
    learning_rate: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    eps: float = 1e-8,
) -> None:
    _step("adam", locals())


@documented_step("adamw")
def apply_adamw(
    params: Array,
    grad: Any,
    m: Array,
    v: Array,
    step: int,
    *,
    learning_rate: float,
    weight_decay: float,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    eps: float = 1e-8,
) -> None:
    _step("adamw", locals())
