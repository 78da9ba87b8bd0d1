"""The specification of gdfast's math, in plain NumPy.

Every function here has the signature of its compiled twin in
:mod:`gdfast.kernels` and computes the same thing the obvious way. The tests
hold the kernels to these functions, and the benchmarks race them. Nothing
here is tuned for speed; it is written to be read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from gdfast._validation import (
    LOSSES,
    check_loss_grad_args,
    check_predict_args,
    nonfinite_error,
)

__all__ = ["loss_derivative", "loss_grad", "loss_value", "predict"]


def loss_value(r: np.ndarray, loss: str, epsilon: float) -> np.ndarray:
    """The loss of each residual ``r = p - y``."""
    a = np.abs(r)
    if loss == "squared_error":
        return 0.5 * r * r
    if loss == "huber":
        return np.where(a <= epsilon, 0.5 * r * r, epsilon * a - 0.5 * epsilon * epsilon)
    if loss == "epsilon_insensitive":
        return np.maximum(0.0, a - epsilon)
    if loss == "squared_epsilon_insensitive":
        return np.maximum(0.0, a - epsilon) ** 2
    raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {loss!r}.")


def loss_derivative(r: np.ndarray, loss: str, epsilon: float) -> np.ndarray:
    """The derivative of the loss with respect to the prediction, at ``r = p - y``.

    At a kink the derivative is scikit-learn's choice: 0 where ``|r| == epsilon``
    for the epsilon-insensitive losses.
    """
    a = np.abs(r)
    if loss == "squared_error":
        return r
    if loss == "huber":
        return np.where(a <= epsilon, r, epsilon * np.sign(r))
    if loss == "epsilon_insensitive":
        return np.where(a > epsilon, np.sign(r), 0.0)
    if loss == "squared_epsilon_insensitive":
        return np.where(a > epsilon, 2.0 * np.sign(r) * (a - epsilon), 0.0)
    raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {loss!r}.")


def _loss_name(kind: int) -> str:
    return next(name for name, code in LOSSES.items() if code == kind)


def predict(X: Any, coef: Any, intercept: Any, *, n_jobs: int | None = None) -> np.ndarray:
    """``X @ coef.T + intercept``; see :func:`gdfast.kernels.predict`.

    ``n_jobs`` is accepted for the same signature and ignored.
    """
    a = check_predict_args(X, coef, intercept)
    dtype = a.X.dtype
    with np.errstate(all="ignore"):  # a non-finite result is raised below
        out = np.asarray(a.X @ a.coef.T.astype(dtype)) + a.intercept.astype(dtype)
    if not np.isfinite(out).all():
        raise nonfinite_error(a.X, "predict")
    return out if a.multi_output else out[:, 0]


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
    """Summed loss and gradient; see :func:`gdfast.kernels.loss_grad`.

    NumPy needs two passes over X: ``X @ coef`` for the predictions, then
    ``X.T @ d`` for the gradient. ``n_jobs`` is accepted and ignored.
    """
    a = check_loss_grad_args(X, y, coef, intercept, loss, epsilon, sample_weight)
    dtype = a.X.dtype
    with np.errstate(all="ignore"):  # a non-finite result is raised below
        p = np.asarray(a.X @ a.coef.T.astype(dtype)) + a.intercept.astype(dtype)  # (n, k)
    if not np.isfinite(p).all():
        raise nonfinite_error(a.X, "loss_grad")
    name = _loss_name(a.loss_kind)
    r = p - a.y
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is raised below
        values = loss_value(r, name, a.epsilon)
        d = loss_derivative(r, name, a.epsilon)
        if a.sample_weight is not None:
            values = values * a.sample_weight[:, None]
            d = d * a.sample_weight[:, None]
        grad = np.asarray(a.X.T @ d, dtype=np.float64).T  # (k, p)
    if sp.issparse(grad):  # pragma: no cover - X.T @ dense is dense
        grad = grad.toarray()
    value = float(values.sum(dtype=np.float64))
    grad_b = d.sum(axis=0, dtype=np.float64)
    if not (np.isfinite(value) and np.isfinite(grad).all()):
        raise nonfinite_error(a.X, "loss_grad")
    if a.multi_output:
        return value, np.ascontiguousarray(grad), grad_b
    return value, np.ascontiguousarray(grad[0]), float(grad_b[0])
