"""What runs on the workers: the native kernels over one row block, returning
sums that add up across blocks; and the tree that adds them up.

Each function takes the NumPy blocks dask hands it and returns small results
(co-moments, sums, predictions); X never travels back to the client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dask
import numpy as np
from dask import delayed

from gdfast import _core
from gdfast._config import resolve_n_jobs

# What a block found wrong with its values (the first one found wins).
FINE, NONFINITE_X, NONFINITE_Y, BAD_WEIGHT, OVERFLOW = range(5)
PROBLEMS = {
    NONFINITE_X: "Input X contains NaN or infinity",
    NONFINITE_Y: "Input y contains NaN or infinity",
    BAD_WEIGHT: "sample_weight contains negative values, NaN or infinity",
    OVERFLOW: (
        "The squares and products of the values of X and y overflow float64 (beyond 1e308): "
        "rescale X and y"
    ),
}


def _dense(X) -> np.ndarray:
    X = np.asarray(X)
    if not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    return X


def _targets(y, n: int, dtype) -> np.ndarray:
    """y as (n, k) contiguous rows in ``dtype``."""
    y = np.asarray(y)
    k = y.shape[1] if y.ndim == 2 else 1
    return np.ascontiguousarray(y.reshape(n, k), dtype=dtype)


def _weight_problem(w) -> bool:
    return w is not None and not (np.isfinite(w).all() and (w >= 0).all())


@dataclass
class Moments:
    """Co-moments of [X, y] over some rows, with the unweighted sums of y the
    divergence threshold needs and the first problem found in the values."""

    total: float
    zbar: np.ndarray
    C: np.ndarray
    n_rows: int
    y_sum: np.ndarray
    y_sq: np.ndarray
    problem: int = FINE

    def merged(self, other: Moments) -> Moments:
        total, zbar, C = _core.merge_comoments(
            (self.total, self.zbar, self.C), (other.total, other.zbar, other.C)
        )
        return Moments(
            total,
            zbar,
            C,
            self.n_rows + other.n_rows,
            self.y_sum + other.y_sum,
            self.y_sq + other.y_sq,
            self.problem or other.problem,
        )


def block_moments(X, y, w, n_jobs: int | None) -> Moments:
    """The co-moments of one block (the native rank-k pass over [X, y])."""
    X = _dense(X)
    n, p = X.shape
    y2 = _targets(y, n, X.dtype)
    k = y2.shape[1]
    w = None if w is None else np.ascontiguousarray(w, dtype=X.dtype)
    y64 = y2.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        y_sum, y_sq = y64.sum(axis=0), (y64 * y64).sum(axis=0)
    if _weight_problem(w):
        zeros = np.zeros(p + k)
        return Moments(0.0, zeros, np.zeros((p + k, p + k)), n, y_sum, y_sq, BAD_WEIGHT)
    total, zbar, C = _core.comoments(_core.Matrix(X), y2.reshape(-1), k, w, resolve_n_jobs(n_jobs))
    problem = FINE
    if not (np.isfinite(total) and np.isfinite(zbar).all() and np.isfinite(np.diag(C)).all()):
        if not np.isfinite(X).all():
            problem = NONFINITE_X
        elif not np.isfinite(y2).all():
            problem = NONFINITE_Y
        else:
            problem = OVERFLOW
    return Moments(total, zbar, C, n, y_sum, y_sq, problem)


@dataclass
class ColumnStats:
    """Weighted column means and centred sums of squares of X over some rows
    (for data too wide for the co-moments), with the sums of y as in Moments."""

    total: float
    mean: np.ndarray
    m2: np.ndarray
    n_rows: int
    y_sum: np.ndarray
    y_sq: np.ndarray
    y_wsum: np.ndarray
    problem: int = FINE

    def merged(self, other: ColumnStats) -> ColumnStats:
        total = self.total + other.total
        if total > 0:
            delta = other.mean - self.mean
            mean = self.mean + delta * (other.total / total)
            m2 = self.m2 + other.m2 + delta * delta * (self.total * other.total / total)
        else:
            mean, m2 = self.mean, self.m2
        return ColumnStats(
            total,
            mean,
            m2,
            self.n_rows + other.n_rows,
            self.y_sum + other.y_sum,
            self.y_sq + other.y_sq,
            self.y_wsum + other.y_wsum,
            self.problem or other.problem,
        )


def block_column_stats(X, y, w, n_jobs: int | None) -> ColumnStats:
    """Column means and centred sums of squares of one block (a native pass)."""
    X = _dense(X)
    n, p = X.shape
    y2 = _targets(y, n, X.dtype)
    w = None if w is None else np.ascontiguousarray(w, dtype=X.dtype)
    y64 = y2.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        y_sum, y_sq = y64.sum(axis=0), (y64 * y64).sum(axis=0)
        y_wsum = y_sum if w is None else w.astype(np.float64) @ y64
    total = float(n if w is None else np.sum(w, dtype=np.float64))
    if _weight_problem(w):
        return ColumnStats(0.0, np.zeros(p), np.zeros(p), n, y_sum, y_sq, y_wsum, BAD_WEIGHT)
    if n == 0 or total == 0:
        return ColumnStats(0.0, np.zeros(p), np.zeros(p), n, y_sum, y_sq, y_wsum)
    mean, var = _core.column_stats(_core.Matrix(X), w, resolve_n_jobs(n_jobs))
    problem = FINE
    if not (np.isfinite(mean).all() and np.isfinite(var).all()):
        problem = NONFINITE_X if not np.isfinite(X).all() else OVERFLOW
    elif not np.isfinite(y_wsum).all():
        problem = NONFINITE_Y
    return ColumnStats(total, mean, var * total, n, y_sum, y_sq, y_wsum, problem)


def block_constant_losses(y, constant: np.ndarray, loss: int, epsilon: float) -> np.ndarray:
    """[sum of the loss of predicting 0, of predicting ``constant``] over the
    rows and targets of one block (``divergence_threshold``'s references)."""
    y2 = _targets(y, len(y), np.float64)
    n, k = y2.shape
    with np.errstate(over="ignore", invalid="ignore"):
        at_zero = _core.mean_constant_loss(y2, np.zeros(k), loss, epsilon)
        at_constant = _core.mean_constant_loss(y2, np.ascontiguousarray(constant), loss, epsilon)
    return np.array([at_zero, at_constant]) * (n * k)


def block_loss_grad(
    X,
    y,
    w,
    coef: np.ndarray,
    intercept: np.ndarray,
    loss: int,
    epsilon: float,
    zero_targets: bool,
    n_jobs: int | None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The native loss_grad of one block: (loss sum, gradient sums (k, p), (k,))."""
    X = _dense(X)
    n = X.shape[0]
    k = coef.shape[0]
    if n == 0:
        return 0.0, np.zeros(coef.shape), np.zeros(k)
    y2 = np.zeros((n, k), dtype=X.dtype) if zero_targets else _targets(y, n, X.dtype)
    w = None if w is None else np.ascontiguousarray(w, dtype=X.dtype)
    value, G, gb, status = _core.loss_grad(
        _core.Matrix(X),
        y2.reshape(-1),
        w,
        coef.reshape(-1),
        intercept,
        k,
        loss,
        epsilon,
        resolve_n_jobs(n_jobs),
    )
    if status != _core.STATUS_OK:
        value = np.inf
    return float(value), G.reshape(coef.shape), gb


def add_sums(a: tuple, b: tuple) -> tuple:
    """Element-wise sum of two tuples of sums."""
    return tuple(x + y for x, y in zip(a, b, strict=True))


def block_loss(
    X, y, w, coef: np.ndarray, intercept: np.ndarray, loss: int, epsilon: float, n_jobs: int | None
) -> tuple[float, float]:
    """(summed loss, summed weight) of a linear model over one block."""
    value, _, _ = block_loss_grad(X, y, w, coef, intercept, loss, epsilon, False, n_jobs)
    n = np.asarray(X).shape[0]
    return value, float(n if w is None else np.sum(w, dtype=np.float64))


def block_predict(
    X, coef: np.ndarray, intercept: np.ndarray, multi: bool, dtype, n_jobs: int | None
) -> np.ndarray:
    """``X @ coef.T + intercept`` for one block, in ``dtype``."""
    X = _dense(X)
    k = coef.shape[0]
    if X.shape[0] == 0:
        return np.empty((0, k) if multi else (0,), dtype=dtype)
    out, status = _core.predict(
        _core.Matrix(X), coef.reshape(-1), intercept, k, resolve_n_jobs(n_jobs)
    )
    if status != _core.STATUS_OK:
        raise ValueError(
            "predict: the predictions of a block are not finite (X holds NaN or infinity, "
            "or the coefficients are too large for it)."
        )
    out = out.astype(dtype, copy=False)
    return out if multi else out[:, 0]


def block_r2_sums(
    X, y, w, coef: np.ndarray, intercept: np.ndarray, n_jobs: int | None
) -> np.ndarray:
    """Per target: sum w (y - p)^2, sum w y, sum w y^2, and sum w (rows 0-3)."""
    X = _dense(X)
    n = X.shape[0]
    y2 = _targets(y, n, np.float64)
    k = y2.shape[1]
    out = np.zeros((4, k))
    if n == 0:
        return out
    pred = block_predict(X, coef, intercept, True, np.float64, n_jobs)
    s = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    out[0] = s @ (y2 - pred) ** 2
    out[1] = s @ y2
    out[2] = s @ y2**2
    out[3] = s.sum()
    return out


def tree_sum(parts: Sequence, add: Callable, fan_in: int = 8):
    """One delayed result adding ``parts`` in a tree of ``add`` calls of up to
    ``fan_in`` parts each, in a fixed order (the result does not depend on where
    or when the parts were computed)."""

    def add_all(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = add(out, x)
        return out

    level = list(parts)
    while len(level) > 1:
        level = [
            delayed(add_all, pure=True)(*level[i : i + fan_in])
            for i in range(0, len(level), fan_in)
        ]
    return level[0]


def reduce_blocks(blocks, function: Callable, add: Callable, *args):
    """``function(X block, y block, weight block, *args)`` on every block, added
    up in a tree, computed (on the current client's cluster, if any)."""
    parts = [delayed(function, pure=True)(xb, yb, wb, *args) for xb, yb, wb in blocks.delayed()]
    (total,) = dask.compute(tree_sum(parts, add))
    return total
