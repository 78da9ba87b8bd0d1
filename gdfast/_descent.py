"""The Python side of the descent engine shared by GDRegressor and mini-batch SGDRegressor.

It turns estimator parameters into the engine's integer codes, computes the
implicit standardization, runs ``_core.gd_fit_*`` and turns its status into
exceptions. The arithmetic itself is in ``src/include/gdfast/gd.hpp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from gdfast import _core
from gdfast._base import EpochPrinter, raise_on_failure
from gdfast._validation import LOSSES

OPTIMIZERS = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 2,
    "adagrad": 3,
    "rmsprop": 4,
    "adam": 5,
    "adamw": 6,
}
ADAPTIVE_OPTIMIZERS = {"adagrad", "rmsprop", "adam", "adamw"}
SCHEDULES = {
    "constant": 1,
    "optimal": 2,
    "invscaling": 3,
    "adaptive": 4,
    "step": 7,
    "exponential": 8,
    "cosine": 9,
}
PENALTY_CODES = {None: 0, "l1": 1, "l2": 2, "elasticnet": 3}
MAX_INT = np.iinfo(np.int32).max


def optimal_t0(loss: str, epsilon: float, alpha: float) -> float:
    """scikit-learn's offset of the 'optimal' schedule, so that its first step is
    ``sqrt(1 / sqrt(alpha)) / max(1, l'(-typw, 1))``."""
    from gdfast.reference import loss_derivative

    typw = np.sqrt(1.0 / np.sqrt(alpha))
    d = float(loss_derivative(np.array([-typw - 1.0]), loss, epsilon)[0])
    initial_eta0 = typw / max(1.0, d)
    return 1.0 / (initial_eta0 * alpha)


def standardization(X, rows, sample_weight, n_threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and scale of each feature over ``rows`` (scale 1 where constant).

    X is only read: the scaling is applied inside the kernels.
    """
    if rows is not None and rows.shape[0] != X.shape[0]:
        X = X[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    if sp.issparse(X):
        mean, var = _core.column_stats_csr(
            X.data, X.indices, X.indptr, X.shape[1], sample_weight, n_threads
        )
    else:
        mean, var = _core.column_stats_dense(X, sample_weight, n_threads)
    scale = np.sqrt(var)
    tiny = 1e-12 * np.maximum(1.0, np.abs(mean))
    scale[scale <= tiny] = 1.0
    return mean, scale


def to_working(coef: np.ndarray, intercept: np.ndarray, mean, scale):
    """Original-unit (coef (k, p), intercept (k,)) to working coordinates."""
    V = coef * scale
    c = intercept + coef @ mean
    return V, c


def to_original(V: np.ndarray, c: np.ndarray, mean, scale):
    """Working coordinates (V (k, p), c (k,)) to original-unit coef and intercept."""
    coef = V / scale
    intercept = c - coef @ mean
    return coef, intercept


@dataclass
class EngineState:
    """Optimizer state the engine resumes from (kept on the estimator between calls)."""

    m1: np.ndarray
    m2: np.ndarray
    avg: np.ndarray | None
    counters: dict = field(default_factory=dict)

    @classmethod
    def fresh(cls, n_params: int, averaging: bool) -> EngineState:
        return cls(
            m1=np.zeros(n_params),
            m2=np.zeros(n_params),
            avg=np.zeros(n_params) if averaging else None,
            counters=dict(step=0.0, epoch=0.0, lr_scale=1.0, base_lr=0.0, fista_t=1.0),
        )

    def copy(self) -> EngineState:
        return EngineState(
            self.m1.copy(),
            self.m2.copy(),
            None if self.avg is None else self.avg.copy(),
            dict(self.counters),
        )


def run_engine_unchecked(
    *,
    X,
    y2: np.ndarray,
    sample_weight,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    V: np.ndarray,
    c: np.ndarray,
    state: EngineState,
    params: dict,
    verbose: bool,
    show_step: bool = False,
) -> dict:
    """Run the compiled epochs on copies of (V, c) and ``state``.

    Returns the engine's report with the new ``V``, ``c`` and ``engine_state``;
    the caller's arrays are not touched, so a failure leaves the estimator as
    it was. The status is left for the caller to check (``raise_on_failure``).
    """
    k, p = V.shape
    coef = np.array(V, dtype=np.float64, order="C").reshape(-1)
    intercept = np.array(c, dtype=np.float64)
    new_state = state.copy()
    loop = _core.Loop(EpochPrinter(show_step) if verbose else None)
    args = (
        y2.reshape(-1),
        k,
        sample_weight,
        train_rows,
        val_rows,
        mean,
        scale,
        coef,
        intercept,
        new_state.m1,
        new_state.m2,
        new_state.avg,
        params,
        new_state.counters,
        loop,
    )
    if sp.issparse(X):
        out = _core.gd_fit_csr(X.data, X.indices, X.indptr, X.shape[1], *args)
    else:
        out = _core.gd_fit_dense(X, *args)
    new_state.counters = out["state"]
    out["V"] = coef.reshape(k, p)
    out["c"] = intercept
    out["engine_state"] = new_state
    return out


def run_engine(*, name: str, final_check: bool, advice: str, **kwargs) -> dict:
    """``run_engine_unchecked``, then a DivergenceError if descent diverged."""
    out = run_engine_unchecked(**kwargs)
    threshold = kwargs["params"]["divergence_threshold"]
    raise_on_failure(name, out, threshold, final_check, kwargs["X"], advice)
    return out


def base_params(
    *,
    loss: str,
    epsilon: float,
    penalty,
    alpha: float,
    l1_ratio: float,
    fit_intercept: bool,
    max_iter: int,
    tol: float | None,
    tol_relative: bool,
    n_iter_no_change: int,
    shuffle: bool,
    seed: int,
    early_stopping: bool,
    divergence_threshold: float,
    verbose: bool,
    n_threads: int,
) -> dict:
    """The engine parameters every caller sets; the rest have defaults here."""
    return {
        "loss": LOSSES[loss],
        "epsilon": float(epsilon),
        "penalty": PENALTY_CODES[penalty],
        "alpha": float(alpha),
        "l1_ratio": float(l1_ratio),
        "optimizer": OPTIMIZERS["sgd"],
        "momentum": 0.9,
        "momentum_restart": False,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "rho": 0.9,
        "eps": 1e-8,
        "schedule": SCHEDULES["constant"],
        "auto_lr": False,
        "eta0": 0.01,
        "power_t": 0.25,
        "gamma": 0.9,
        "step_size": 10,
        "cosine_epochs": int(max_iter),
        "optimal_t0": 1.0,
        "min_lr_scale": 0.0,
        "fit_intercept": bool(fit_intercept),
        "batch_size": 0,
        "max_iter": int(max_iter),
        "tol": float(tol) if tol is not None else -np.inf,
        "tol_relative": bool(tol_relative),
        "gradient_rule": False,
        "n_iter_no_change": int(n_iter_no_change),
        "shuffle": bool(shuffle),
        "seed": int(seed),
        "early_stopping": bool(early_stopping),
        "divergence_threshold": float(divergence_threshold),
        "divergence_horizon": int(max_iter),
        "average": 0.0,
        "sum_gradient": False,
        "derivative_clip": np.inf,
        "intercept_decay": 1.0,
        "verbose": bool(verbose),
        "n_threads": int(n_threads),
        "use_gram": False,
    }
