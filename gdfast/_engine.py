"""The Python side of the compiled drivers: parameter structs, the implicit
standardization, and the calls of ``_core.sgd_fit`` / ``_core.gd_fit``.

The arithmetic is in ``src/include/gdfast/`` (``sgd.hpp``: scikit-learn's
per-sample step; ``gd.hpp``: full-batch and mini-batch descent; ``monitor.hpp``:
what ends an epoch). Parameters travel in the C++ structs themselves
(``_core.SgdParams``, ``_core.GdParams``), set by field name; codes come from
``_core.CODES``. Each run works on copies, so a failure leaves the caller's
arrays as they were; the status is left to ``raise_on_failure``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gdfast import _core
from gdfast._base import EpochPrinter
from gdfast._numeric import rows_dot
from gdfast._validation import matrix_of

Params = _core.SgdParams | _core.GdParams

# A per-epoch callback (the EpochInfo dict) for fits run in this context when
# verbose is off: the command line's progress line.
PROGRESS: contextvars.ContextVar[Callable[[dict], None] | None] = contextvars.ContextVar(
    "gdfast_progress", default=None
)


def _loop(
    params: Params,
    verbose: bool,
    printer: Callable[[], EpochPrinter],
    remote_pass=None,
    remote_score=None,
) -> _core.Loop:
    """The callbacks of a run: the verbose printer, else a PROGRESS callback;
    the remote pass over rows held elsewhere and the remote validation score."""
    callback = printer() if verbose else PROGRESS.get()
    if callback is not None:
        params.verbose = True  # the engine reports epochs
    return _core.Loop(callback, remote_pass, remote_score)


def code(family: str, name: str | None) -> int:
    """The kernels' code of ``name`` in ``family`` (a None penalty is "none")."""
    return _core.CODES[family]["none" if name is None else name]


# The estimator parameters both drivers take as they are (same names in both structs).
SHARED = ("alpha", "fit_intercept", "n_iter_no_change", "shuffle", "early_stopping", "verbose")


def set_shared(P: Params, estimator, **values) -> Params:
    """Set the fields both drivers have from ``estimator``'s parameters;
    ``values`` (max_iter, tol, seed, divergence_threshold, l1_ratio; loss and
    epsilon when they are not the estimator's own) are the ones the estimator
    derives."""
    P.update({name: getattr(estimator, name) for name in SHARED})
    tol = values.pop("tol")
    # ``loss`` (a code) and ``epsilon`` among the values replace the estimator's
    # (the GD engine's loss may be the multinomial; GDClassifier has no epsilon).
    loss = values.pop("loss") if "loss" in values else code("loss", estimator.loss)
    epsilon = values.pop("epsilon") if "epsilon" in values else estimator.epsilon
    P.update(
        loss=loss,
        epsilon=float(epsilon),
        penalty=code("penalty", estimator.penalty),
        tol=-np.inf if tol is None else float(tol),
        **values,
    )
    return P


def standardization(
    X, rows, sample_weight, n_threads: int, center: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and scale of each feature over ``rows`` (scale 1 where constant).

    ``center=False`` (no intercept to absorb a shift): mean 0 and the root mean
    square as scale, so that the working features keep their offsets. A feature
    is constant when its spread is at rounding level relative to its mean
    (1e-10 |mean|): features of any small scale keep theirs. X is only read: the
    scaling is applied inside the kernels.
    """
    if rows is not None and rows.shape[0] != X.shape[0]:
        X = X[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    mean, var = _core.column_stats(matrix_of(X), sample_weight, n_threads)
    return _core.standardize(mean, var, center)


def starts_at_best_constant(loss: str, fit_intercept: bool, optimizer: str) -> bool:
    """Whether descent starts its intercepts at the best constant: the (weighted)
    mean of y for squared error, the log-odds of the classes for the log losses,
    the optimal intercepts for zero coefficients (on centred features), so that
    the targets' offset is not in the first gradient nor in the stopping
    yardstick; with the steps linear in the gradient (coordinate-normalized ones
    would blow the rounding noise of a zero intercept gradient up to whole steps)."""
    return (
        fit_intercept
        and loss in ("squared_error", "log_loss", "multinomial_log_loss")
        and optimizer in ("sgd", "momentum", "nesterov")
    )


def to_working(coef: np.ndarray, intercept: np.ndarray, mean, scale):
    """Original-unit (coef (k, p), intercept (k,)) to working coordinates."""
    V = coef * scale
    c = intercept + rows_dot(coef, mean)
    return V, c


def to_original(V: np.ndarray, c: np.ndarray, mean, scale):
    """Working coordinates (V (k, p), c (k,)) to original-unit coef and intercept."""
    coef = V / scale
    intercept = c - rows_dot(coef, mean)
    return coef, intercept


@dataclass
class EngineState:
    """Optimizer state the descent engine resumes from (kept between calls).

    ``counters`` holds the fields of the engine's GdState (step, epoch, ...).
    """

    m1: np.ndarray
    m2: np.ndarray
    avg: np.ndarray | None
    counters: dict

    @classmethod
    def fresh(cls, n_params: int, averaging: bool) -> EngineState:
        return cls(
            m1=np.zeros(n_params),
            m2=np.zeros(n_params),
            avg=np.zeros(n_params) if averaging else None,
            counters=_core.GdState().as_dict(),
        )

    def copy(self) -> EngineState:
        return EngineState(
            self.m1.copy(),
            self.m2.copy(),
            None if self.avg is None else self.avg.copy(),
            dict(self.counters),
        )


@dataclass
class RemoteRows:
    """Training rows held elsewhere (on a cluster), as the engine sees them.

    ``pass_(W (k, p), b (k,), zero_targets, squared)`` returns the summed loss
    and gradient sums ``(loss_sum, G (k, p), gb (k,))`` over all of them, for
    the targets (0 when ``zero_targets``) and the fit's loss (squared error
    when ``squared``).
    """

    pass_: Callable
    weight_total: float
    mean_row_sq_norm: float


@dataclass
class DescentRun:
    """The outcome of ``run_descent``: the record and the new parameters and state."""

    record: _core.Record
    V: np.ndarray
    c: np.ndarray
    state: EngineState


def run_descent(
    *,
    X,
    y2: np.ndarray,
    sample_weight,
    train_rows: np.ndarray | None,
    val_rows: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    V: np.ndarray,
    c: np.ndarray,
    state: EngineState,
    params: _core.GdParams,
    verbose: bool,
    show_step: bool = False,
    moments: tuple[float, np.ndarray, np.ndarray] | None = None,
    remote: RemoteRows | None = None,
    remote_score: Callable | None = None,
) -> DescentRun:
    """Run the descent engine's epochs on copies of (V, c) and ``state``.

    X is as ``_validation.kernel_ready`` returns it (the estimators call it).
    With ``moments`` (total, zbar, C of [X, y], from ``_core.comoments``) and
    ``params.use_gram``, the engine descends on them and X may have no rows;
    with ``remote`` (full batch), every pass over the training rows is
    ``remote.pass_`` and X has no rows; ``remote_score(W, b)``, the R² of raw
    coefficients on held-out rows held elsewhere, serves early stopping.
    ``train_rows`` None: every row of X.
    """
    k, p = V.shape
    coef = np.array(V, dtype=np.float64, order="C").reshape(-1)
    intercept = np.array(c, dtype=np.float64)
    new_state = state.copy()
    counters = _core.GdState()
    counters.update(new_state.counters)
    record = _core.gd_fit(
        matrix_of(X),
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
        counters,
        _loop(
            params,
            verbose,
            lambda: EpochPrinter(show_step),
            remote and remote.pass_,
            remote_score,
        ),
        moments,
        remote and (remote.weight_total, remote.mean_row_sq_norm),
    )
    new_state.counters = counters.as_dict()
    return DescentRun(record, coef.reshape(k, p), intercept, new_state)


@dataclass
class PerSampleRun:
    """The outcome of ``run_per_sample``: the record and the new parameters."""

    record: _core.Record
    coef: np.ndarray
    intercept: float
    avg_coef: np.ndarray | None
    avg_intercept: float
    t: float


def run_per_sample(
    *,
    X,
    y: np.ndarray,
    sample_weight,
    validation: np.ndarray | None,
    coef: np.ndarray,
    intercept: float,
    avg_coef: np.ndarray | None,
    avg_intercept: float,
    t: float,
    params: _core.SgdParams,
    verbose: bool,
) -> PerSampleRun:
    """Run scikit-learn's per-sample epochs on copies of the parameters."""
    w = np.array(coef, dtype=np.float64)
    aw = None if avg_coef is None else np.array(avg_coef, dtype=np.float64)
    state = _core.SgdState()
    state.update(intercept=float(intercept), avg_intercept=float(avg_intercept), t=float(t))
    record = _core.sgd_fit(
        matrix_of(X),
        y,
        sample_weight,
        validation,
        w,
        aw,
        params,
        state,
        _loop(params, verbose, EpochPrinter),
    )
    return PerSampleRun(record, w, state.intercept, aw, state.avg_intercept, state.t)
