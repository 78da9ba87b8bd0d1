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

from gdfast import _core
from gdfast._engine import starts_at_best_constant
from gdfast._steps import KERNEL_API, check_step_arguments, documented_step, step_overflow_error
from gdfast._validation import (
    LOSSES,
    check_loss_grad_args,
    check_matrix,
    check_predict_args,
    check_sample_weight,
    check_targets,
    nonfinite_error,
)

__all__ = [*KERNEL_API, "descent", "loss_derivative", "loss_value", "quasi_newton"]

Array = np.ndarray


def _log1pexp(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(0.0, x)


def loss_value(p: np.ndarray, y: np.ndarray, loss: str, epsilon: float) -> np.ndarray:
    """The loss of each prediction ``p`` for its target ``y``.

    Regression losses are functions of the residual ``r = p - y``; margin losses
    (classification, labels ``y`` = +1/-1) of the margin ``z = p y``. The
    multinomial log-loss takes the (n, k) predictions of n rows and their class
    indices y (n, 1), and gives one value per row (n, 1).
    """
    if loss == "multinomial_log_loss":  # log sum_t exp(p_t) - p_y
        top = p.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(p - top).sum(axis=1, keepdims=True)) + top
        return log_sum - np.take_along_axis(p, y.astype(np.intp), axis=1)
    r = p - y
    a = np.abs(r)
    z = p * y
    if loss == "squared_error":
        return 0.5 * r * r
    if loss == "huber":
        return np.where(a <= epsilon, 0.5 * r * r, epsilon * a - 0.5 * epsilon * epsilon)
    if loss == "epsilon_insensitive":
        return np.maximum(0.0, a - epsilon)
    if loss == "squared_epsilon_insensitive":
        return np.maximum(0.0, a - epsilon) ** 2
    if loss == "hinge":
        return np.maximum(0.0, 1.0 - z)
    if loss == "perceptron":
        return np.maximum(0.0, -z)
    if loss == "squared_hinge":
        return np.maximum(0.0, 1.0 - z) ** 2
    if loss == "modified_huber":
        return np.where(z >= -1.0, np.maximum(0.0, 1.0 - z) ** 2, -4.0 * z)
    if loss == "log_loss":  # log(1 + exp(-z)) for y = +1/-1
        return _log1pexp(-z)
    raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {loss!r}.")


def loss_derivative(p: np.ndarray, y: np.ndarray, loss: str, epsilon: float) -> np.ndarray:
    """The derivative of the loss with respect to the prediction ``p``.

    At a kink the derivative is scikit-learn's choice: 0 where ``|r| == epsilon``
    for the epsilon-insensitive losses; ``-y`` where the hinge's margin is exactly
    1 (the perceptron's exactly 0). The multinomial log-loss's (n, k) derivative
    is ``softmax(p) - onehot(y)``.
    """
    if loss == "multinomial_log_loss":
        e = np.exp(p - p.max(axis=1, keepdims=True))
        d = e / e.sum(axis=1, keepdims=True)
        np.put_along_axis(d, y.astype(np.intp), np.take_along_axis(d, y.astype(np.intp), 1) - 1, 1)
        return d
    r = p - y
    a = np.abs(r)
    z = p * y
    if loss == "squared_error":
        return r
    if loss == "huber":
        return np.where(a <= epsilon, r, epsilon * np.sign(r))
    if loss == "epsilon_insensitive":
        return np.where(a > epsilon, np.sign(r), 0.0)
    if loss == "squared_epsilon_insensitive":
        return np.where(a > epsilon, 2.0 * np.sign(r) * (a - epsilon), 0.0)
    if loss == "hinge":
        return np.where(z <= 1.0, -y, 0.0)
    if loss == "perceptron":
        return np.where(z <= 0.0, -y, 0.0)
    if loss == "squared_hinge":
        return -2.0 * y * np.maximum(0.0, 1.0 - z)
    if loss == "modified_huber":
        return np.where(z >= -1.0, -2.0 * y * np.maximum(0.0, 1.0 - z), -4.0 * y)
    if loss == "log_loss":  # d/dp log(1 + exp(-z)) = -y sigmoid(-z)
        return -y / (1.0 + np.exp(z))
    raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {loss!r}.")


def _loss_name(kind: int) -> str:
    return next(name for name, code in LOSSES.items() if code == kind)


def predict(X: Any, coef: Any, intercept: Any, *, n_jobs: int | None = None) -> np.ndarray:
    """``X @ coef.T + intercept`` computed in float64, returned in X's dtype; see
    :func:`gdfast.kernels.predict`. ``n_jobs`` is accepted and ignored."""
    a = check_predict_args(X, coef, intercept)
    with np.errstate(all="ignore"):  # a non-finite result is raised below
        out = (np.asarray(a.X @ a.coef.T) + a.intercept).astype(a.X.dtype)
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
    # Predictions in X's dtype (float32 data is multiplied in float32, as by NumPy
    # and the kernels); losses, derivatives and sums over rows in float64.
    with np.errstate(all="ignore"):  # a non-finite result is raised below
        coef = a.coef.T.astype(dtype)
        if not np.isfinite(coef).all():  # beyond float32: the kernels then multiply in float64
            coef, dtype = a.coef.T, np.dtype(np.float64)
        p = np.asarray(a.X @ coef) + a.intercept.astype(dtype)  # (n, k)
        if dtype == np.float32 and not np.isfinite(p).all():
            # float32 products that overflow: the kernels redo their rows in float64
            p = np.asarray(a.X.astype(np.float64) @ a.coef.T) + a.intercept
    if not np.isfinite(p).all():
        raise nonfinite_error(a.X, "loss_grad")
    name = _loss_name(a.loss_kind)
    p = p.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is raised below
        values = loss_value(p, a.y, name, a.epsilon)
        d = loss_derivative(p, a.y, name, a.epsilon)
        if a.sample_weight is not None:
            values = values * a.sample_weight[:, None]
            d = d * a.sample_weight[:, None]
        grad = np.asarray(a.X.T @ d.astype(dtype), dtype=np.float64).T  # (k, p)
        if not np.isfinite(grad).all() and np.isfinite(d).all():
            # the float32 sum overflowed; the sums are float64 by contract
            grad = np.asarray(a.X.T.astype(np.float64) @ d).T
    if sp.issparse(grad):  # pragma: no cover - X.T @ dense is dense
        grad = grad.toarray()
    value = float(values.sum(dtype=np.float64))
    grad_b = d.sum(axis=0, dtype=np.float64)
    if not (np.isfinite(value) and np.isfinite(grad).all()):
        raise nonfinite_error(a.X, "loss_grad")
    if a.multi_output:
        return value, np.ascontiguousarray(grad), grad_b
    return value, np.ascontiguousarray(grad[0]), float(grad_b[0])


# --------------------------------------------------------------------------- optimizer steps


def _updated(name: str, p, g, states: list, h: dict) -> list:
    """The formulas: the new (params, *states) of one ``name`` step, in float64."""
    lr = h["learning_rate"]
    g = g.astype(np.float64)
    if name == "sgd":
        return [p - lr * g]
    if name in ("momentum", "nesterov"):
        v = h["momentum"] * states[0] + g
        return [p - lr * (v if name == "momentum" else g + h["momentum"] * v), v]
    if name in ("adagrad", "rmsprop"):
        decay, gain = (1.0, 1.0) if name == "adagrad" else (h["rho"], 1.0 - h["rho"])
        acc = decay * states[0] + gain * g**2
        return [p - lr * g / (np.sqrt(acc) + h["eps"]), acc]
    b1, b2, t = h["beta_1"], h["beta_2"], h["step"]  # adam, adamw
    m = b1 * states[0] + (1.0 - b1) * g
    v = b2 * states[1] + (1.0 - b2) * g * g
    m_hat, v_hat = m / (1.0 - b1**t), v / (1.0 - b2**t)
    decayed = p * (1.0 - lr * h["weight_decay"])
    return [decayed - lr * m_hat / (np.sqrt(v_hat) + h["eps"]), m, v]


def _apply(name: str, arguments: dict[str, Any]) -> None:
    """Validate the arguments of ``apply_<name>`` (its ``locals()``), compute the
    new values and write them, or raise (writing nothing) if any is not finite."""
    (p, g, *states), h = check_step_arguments(name, arguments)
    with np.errstate(all="ignore"):
        values = _updated(name, p, g, [s.astype(np.float64) for s in states], h)
        fresh = [np.asarray(v, dtype=p.dtype) for v in values]
    if not all(np.isfinite(v).all() for v in fresh):
        raise step_overflow_error(f"apply_{name}")
    for target, value in zip([p, *states], fresh, strict=True):
        target[...] = value


@documented_step("sgd")
def apply_sgd(params: Array, grad: Any, *, learning_rate: float) -> None:
    _apply("sgd", locals())


@documented_step("momentum")
def apply_momentum(
    params: Array, grad: Any, velocity: Array, *, learning_rate: float, momentum: float = 0.9
) -> None:
    _apply("momentum", locals())


@documented_step("nesterov")
def apply_nesterov(
    params: Array, grad: Any, velocity: Array, *, learning_rate: float, momentum: float = 0.9
) -> None:
    _apply("nesterov", locals())


@documented_step("adagrad")
def apply_adagrad(
    params: Array, grad: Any, sum_sq: Array, *, learning_rate: float, eps: float = 1e-8
) -> None:
    _apply("adagrad", locals())


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
    _apply("rmsprop", locals())


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
    _apply("adam", locals())


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
    _apply("adamw", locals())


# --------------------------------------------------------------------------- a descent loop


def descent(
    X: Any,
    y: Any,
    *,
    loss: str = "squared_error",
    epsilon: float = 0.1,
    penalty: str | None = None,
    alpha: float = 1e-4,
    l1_ratio: float = 0.15,
    optimizer: str = "sgd",
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    rho: float = 0.9,
    eps: float = 1e-8,
    batch_size: int | None = None,
    epochs: int = 1,
    fit_intercept: bool = True,
    standardize: bool = False,
    sample_weight: Any = None,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Gradient descent on a linear model, written for reading: the specification
    of ``GDRegressor`` with a constant step size, rows in order, no stopping rule.

    Minimizes ``sum_i s_i l(x~_i . w + b, y_i) / sum_i s_i + alpha R(w)`` where
    ``x~ = (x - mean) / std`` when ``standardize`` (weighted statistics, std 1 for
    constant features) and ``R(w) = (1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1``
    (L2: l1_ratio 0, L1: 1). Each step takes the gradient of one batch of
    consecutive rows (all rows when ``batch_size`` is None), adds the L2 term
    (AdamW decays instead), applies the optimizer, then soft-thresholds for L1.

    Returns
    -------
    coef : ndarray of shape (n_features,) or (n_targets, n_features)
        In the original units.
    intercept : float or ndarray of shape (n_targets,)
    objectives : list of float
        Per epoch: the objective at the start of the step (full batch), or the
        batches' mean loss plus the final penalty (mini-batches).
    """
    Xm = check_matrix(X)
    n, p = Xm.shape
    Y = check_targets(y, n, np.dtype(np.float64))
    multi = np.ndim(y) == 2
    k = Y.shape[1]
    sw = check_sample_weight(sample_weight, n, np.dtype(np.float64))
    s = np.ones(n) if sw is None else sw
    Xd = Xm.toarray() if sp.issparse(Xm) else np.asarray(Xm, dtype=np.float64)
    if standardize and fit_intercept:
        mean = np.average(Xd, axis=0, weights=s)
        std = np.sqrt(np.average((Xd - mean) ** 2, axis=0, weights=s))
        std[std <= 1e-10 * np.abs(mean)] = 1.0  # constant: spread at rounding level
    elif standardize:  # no intercept to absorb a shift: scale by the root mean square
        mean = np.zeros(p)
        std = np.sqrt(np.average(Xd**2, axis=0, weights=s))
        std[std == 0] = 1.0
    else:
        mean, std = np.zeros(p), np.ones(p)
    Xs = (Xd - mean) / std
    r = {"l1": 1.0, "elasticnet": l1_ratio}.get(penalty, 0.0)
    l2 = 0.0 if penalty is None else alpha * (1.0 - r)
    l1 = 0.0 if penalty is None else alpha * r

    theta = np.zeros(k * p + k)  # [V (k x p), c (k)]
    if starts_at_best_constant(loss, fit_intercept, optimizer):
        theta[k * p :] = np.average(Y, axis=0, weights=s)
    m1, m2 = np.zeros_like(theta), np.zeros_like(theta)
    step = 0
    B = n if batch_size is None else batch_size
    objectives = []
    for _ in range(epochs):
        loss_total = weight_total = 0.0
        for start in range(0, n, B):
            rows = slice(start, min(n, start + B))
            V, c = theta[: k * p].reshape(k, p), theta[k * p :]
            pred = Xs[rows] @ V.T + c
            weights = s[rows][:, None]
            S = float(s[rows].sum())
            if S <= 0:
                continue
            d = loss_derivative(pred, Y[rows], loss, epsilon) * weights
            batch_loss = float((loss_value(pred, Y[rows], loss, epsilon) * weights).sum())
            penalty_now = 0.5 * l2 * float(np.sum(V * V)) + l1 * float(np.abs(V).sum())
            grad = np.concatenate([(d.T @ Xs[rows]).ravel(), d.sum(axis=0)]) / S
            if not fit_intercept:
                grad[k * p :] = 0.0
            if l2 and optimizer != "adamw":
                grad[: k * p] += l2 * theta[: k * p]
            step += 1
            if optimizer == "sgd":
                apply_sgd(theta, grad, learning_rate=learning_rate)
            elif optimizer in ("momentum", "nesterov"):
                fn = apply_momentum if optimizer == "momentum" else apply_nesterov
                fn(theta, grad, m1, learning_rate=learning_rate, momentum=momentum)
            elif optimizer == "adagrad":
                apply_adagrad(theta, grad, m1, learning_rate=learning_rate, eps=eps)
            elif optimizer == "rmsprop":
                apply_rmsprop(theta, grad, m1, learning_rate=learning_rate, rho=rho, eps=eps)
            else:
                # AdamW decays the coefficients only, never the intercepts.
                decay = l2 if optimizer == "adamw" else 0.0
                for part, wd in ((slice(0, k * p), decay), (slice(k * p, None), 0.0)):
                    apply_adamw(
                        theta[part],
                        grad[part],
                        m1[part],
                        m2[part],
                        step,
                        learning_rate=learning_rate,
                        weight_decay=wd,
                        beta_1=beta_1,
                        beta_2=beta_2,
                        eps=eps,
                    )
            if l1:
                if optimizer in ("adagrad", "rmsprop"):
                    per_coord = learning_rate / (np.sqrt(m1[: k * p]) + eps)
                elif optimizer in ("adam", "adamw"):
                    v_hat = m2[: k * p] / (1.0 - beta_2**step)
                    per_coord = learning_rate / (np.sqrt(v_hat) + eps)
                else:
                    per_coord = learning_rate
                head = theta[: k * p]
                theta[: k * p] = np.sign(head) * np.maximum(0.0, np.abs(head) - per_coord * l1)
            loss_total += batch_loss
            weight_total += S
            if B >= n:
                objectives.append(batch_loss / S + penalty_now)
        if B < n:
            V = theta[: k * p].reshape(k, p)
            objectives.append(
                loss_total / weight_total
                + 0.5 * l2 * float(np.sum(V * V))
                + l1 * float(np.abs(V).sum())
            )
    V, c = theta[: k * p].reshape(k, p), theta[k * p :]
    coef = V / std
    intercept = c - coef @ mean
    if multi:
        return coef, intercept, objectives
    return coef[0], float(intercept[0]), objectives


# --------------------------------------------------------------------------- quasi-Newton


def quasi_newton(
    X: Any,
    y: Any,
    *,
    loss: str = "log_loss",
    n_classes: int | None = None,
    alpha: float = 1e-4,
    fit_intercept: bool = True,
    sample_weight: Any = None,
    memory: int = 10,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """GDClassifier's default solver, written for reading (no standardization).

    Minimizes ``sum_i s_i l(x_i . W + b, y_i) / sum_i s_i + alpha / 2 ||W||^2`` by
    L-BFGS whose initial inverse Hessian is ``M^-1``, ``M`` the curvature bound
    ``c [[X'SX / S, X's / S], [s'X / S, 1]] + alpha`` (c: the loss's curvature
    bound; one block per output), scaled by the last ``s'y / y'M^-1 y``; each step
    backtracks (Armijo, 1e-4) from length 1. ``y`` is what the kernels take: ±1
    labels (n,) or (n, k), or class indices with ``n_classes`` for
    ``multinomial_log_loss``. Stops when the gradient has shrunk by ``tol``.
    Returns coef (k, p), intercept (k,) and the objective before each step.
    """
    Xd = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    n, p = Xd.shape
    rows = loss in _core.ROW_LOSSES
    k = n_classes if rows else (1 if np.ndim(y) == 1 else np.shape(y)[1])
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    S = float(s.sum())
    # sup l'' of the smooth classification losses
    bounds = {
        "log_loss": 0.25,
        "multinomial_log_loss": 0.5,
        "modified_huber": 2.0,
        "squared_hinge": 2.0,
    }
    if loss not in bounds:
        raise ValueError(f"quasi_newton needs a smooth loss ({sorted(bounds)}); got {loss!r}.")
    curvature = bounds[loss]
    Z = np.column_stack([Xd, np.ones(n)])
    M = curvature * (Z.T * s) @ Z / S + alpha * np.diag(np.r_[np.ones(p), 0.0])
    M[p, p] += 0.0 if fit_intercept else 1.0
    M_inv = np.linalg.inv(M)

    def unpack(theta):
        return theta[: k * p].reshape(k, p), theta[k * p :]

    def objective_and_gradient(theta):
        W, b = unpack(theta)
        coef = W if rows or np.ndim(y) == 2 else W[0]
        value, gW, gb = loss_grad(
            Xd, y, coef, b if rows or np.ndim(y) == 2 else b[0], loss=loss, sample_weight=s
        )
        g = np.concatenate([np.reshape(gW, -1) / S + alpha * theta[: k * p], np.ravel(gb) / S])
        if not fit_intercept:
            g[k * p :] = 0.0
        return value / S + 0.5 * alpha * float(theta[: k * p] @ theta[: k * p]), g

    def precondition(v):  # M^-1 per output block [W_t, b_t]
        blocks = np.column_stack([v[: k * p].reshape(k, p), v[k * p :]]) @ M_inv.T
        return np.concatenate([blocks[:, :p].ravel(), blocks[:, p]])

    theta = np.zeros(k * p + k)
    f, g = objective_and_gradient(theta)
    g0 = np.linalg.norm(g)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    objectives = []
    for _ in range(max_iter):
        objectives.append(f)
        if np.linalg.norm(g) <= tol * g0:
            break
        q, alphas = g.copy(), []
        for s_i, y_i in reversed(pairs):
            a = (s_i @ q) / (y_i @ s_i)
            alphas.append(a)
            q -= a * y_i
        r = precondition(q)
        if pairs:
            s_i, y_i = pairs[-1]
            r *= (s_i @ y_i) / (y_i @ precondition(y_i))
        for (s_i, y_i), a in zip(pairs, reversed(alphas), strict=True):
            r += s_i * (a - (y_i @ r) / (y_i @ s_i))
        d, step = -r, 1.0
        while True:
            f_new, g_new = objective_and_gradient(theta + step * d)
            if f_new <= f + 1e-4 * step * (g @ d) or step < 1e-10:
                break
            step *= 0.5
        s_new, y_new = step * d, g_new - g
        if s_new @ y_new > 0:
            pairs = [*pairs[-(memory - 1) :], (s_new, y_new)]
        theta, f, g = theta + s_new, f_new, g_new
    W, b = unpack(theta)
    return W, b, objectives
