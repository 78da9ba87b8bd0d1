"""Divergence: when a fit is declared diverged, and the error that says so."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.utils import assert_all_finite

from gdfast import _core
from gdfast._numeric import coef_norm
from gdfast._validation import matrix_of

# A model whose training objective is this many times worse than predicting a
# constant is garbage. Descent may blow up for a while and recover
# (scikit-learn's "optimal" schedule starts with a huge step), so the kernels
# only give up early when the step the schedule will reach is still hopeless
# for the data (see hopeless_step in monitor.hpp); fit then judges the final model.
DIVERGENCE_FACTOR = 1e6


ON_DIVERGENCE = ("warn", "raise")


class DivergenceError(ValueError):
    """Gradient descent diverged: the training objective blew up or became NaN/inf.

    A subclass of ValueError, which scikit-learn raises on overflow, so existing
    ``except ValueError`` clauses keep working.
    """


class DivergenceWarning(UserWarning):
    """A fit completed, but the model it returns is useless: its mean training
    loss is more than ``DIVERGENCE_FACTOR`` times that of a constant prediction.
    The model is kept (scikit-learn's behaviour); ``on_divergence="raise"`` makes
    this a :class:`DivergenceError`."""


def divergence_threshold(y: np.ndarray, loss: str, epsilon: float, sample_weight=None) -> float:
    """The objective above which descent is declared diverged.

    ``DIVERGENCE_FACTOR`` times the larger of the mean loss of predicting 0 and
    of predicting the (weighted) mean of y. Infinite when both are 0 (y is all
    zeros), where only a non-finite objective counts as divergence.
    """
    y2 = np.ascontiguousarray(np.asarray(y, dtype=np.float64).reshape(len(y), -1))
    if y2.size == 0:
        return float("inf")
    code = _core.CODES["loss"][loss]
    with np.errstate(over="ignore", invalid="ignore"):  # huge y: an infinite threshold
        at_zero = _core.mean_constant_loss(y2, np.zeros(y2.shape[1]), code, float(epsilon))
        if loss == "squared_error" and sample_weight is None:
            # The mean's squared error is y's variance, never above its second
            # moment (0's): no second pass over y.
            return threshold_of(at_zero)
        mean = np.atleast_1d(np.average(y2, axis=0, weights=_summable(sample_weight)))
        at_mean = _core.mean_constant_loss(y2, np.ascontiguousarray(mean), code, float(epsilon))
    return threshold_of(max(at_zero, at_mean))


def label_divergence_threshold(
    y: np.ndarray, loss: str, epsilon: float, sample_weight=None
) -> float:
    """:func:`divergence_threshold` of labels +1/-1 (a classifier's binary
    problem), from the share of each label: O(n) to count, not a loss per row."""
    if y.size == 0:
        return float("inf")
    return share_divergence_threshold(
        float(np.mean(y > 0)), float(np.average(y, weights=_summable(sample_weight))), loss, epsilon
    )


def _summable(sample_weight):
    """The weights of a weighted mean of the targets, None (unweighted) when
    they sum to 0 (every sample of weight 0 fits nothing; the threshold is
    then the unweighted one's)."""
    if sample_weight is None or np.sum(sample_weight) > 0:
        return sample_weight
    return None


def share_divergence_threshold(positive: float, mean: float, loss: str, epsilon: float) -> float:
    """:func:`label_divergence_threshold` from the share of rows labelled +1
    (``positive``) and the weighted mean of the labels."""
    code = _core.CODES["loss"][loss]

    def mean_loss(c: float) -> float:
        at = np.array([c])
        up = _core.mean_constant_loss(np.ones((1, 1)), at, code, float(epsilon))
        down = _core.mean_constant_loss(-np.ones((1, 1)), at, code, float(epsilon))
        return positive * up + (1.0 - positive) * down

    return threshold_of(max(mean_loss(0.0), mean_loss(mean)))


def threshold_of(reference: float) -> float:
    """The divergence threshold for a mean loss of a constant prediction of
    ``reference``: infinite when that is 0 or not finite."""
    if not np.isfinite(reference):
        return float("inf")
    return DIVERGENCE_FACTOR * reference if reference > 0 else float("inf")


def divergence_message(
    name: str, epoch: int, objective: float, threshold: float, X: Any, advice: Advice
) -> str:
    """A message that says what happened and what to do about it."""
    if np.isfinite(objective):
        what = (
            f"the training objective reached {objective:.3g}, more than "
            f"{DIVERGENCE_FACTOR:.0e} times the loss of a constant prediction "
            f"({threshold / DIVERGENCE_FACTOR:.3g}), so the model would be useless"
        )
    else:
        what = "the coefficients or the training objective became NaN or infinite"
    return f"{name} diverged at epoch {epoch}: {what}. {_step_advice(X, advice)}"


def overflow_message(name: str, epoch: int, threshold: float, X: Any, advice: Advice) -> str:
    """The error of a run whose coefficients became NaN or infinite, in
    scikit-learn's words first (which code may match)."""
    return (
        f"Floating-point under-/overflow occurred at epoch #{epoch}. Scaling input "
        f"data with StandardScaler or MinMaxScaler might help. "
        + divergence_message(name, epoch, np.nan, threshold, X, advice)
    )


def raise_if_unrepresentable(
    name: str, arrays: tuple, dtype: Any, epoch: int, threshold: float, X: Any, advice: Advice
) -> None:
    """DivergenceError when parameters, finite in the float64 the kernels keep
    them in, do not fit the dtype the model is published in (float32 X): the
    model would hold infinities, so the run overflowed as surely as one whose
    float64 coefficients did."""
    limit = np.finfo(dtype).max
    if any(a is not None and not (np.abs(a) <= limit).all() for a in arrays):
        raise DivergenceError(overflow_message(name, epoch, threshold, X, advice))


class Advice(NamedTuple):
    """What an estimator says when descent fails: the likely cause (completed
    with the scale of the features) and the remedy."""

    remedy: str
    cause: str = "The step size is too large for the scale of the features"


def _step_advice(X: Any, advice: Advice) -> str:
    """The cause, with the scale of the data, and what to do. float32 X whose
    values are all tiny needs coefficients beyond float32's range (in which
    the model of float32 X is kept): that is the cause then."""
    if X is not None and getattr(X, "dtype", None) == np.float32:
        data = X.data if sp.issparse(X) else X
        if data.size and np.max(np.abs(data)) < 1e-30:
            return (
                f"The features are tiny for float32{_largest_value(X)}: the coefficients "
                "they need overflow float32's range (3.4e38), in which the model of "
                "float32 X is kept. Pass float64 X, or multiply X by a large constant."
            )
    return f"{advice.cause}{_largest_value(X)}: {advice.remedy}"


def _largest_value(X: Any) -> str:
    """' (the largest |feature value| is ...)', or '' for an empty or unknown
    (None: data not in memory) X."""
    if X is None:
        return ""
    data = X.data if sp.issparse(X) else X
    if not data.size:
        return ""
    with np.errstate(all="ignore"):
        spread = np.max(np.abs(data))
    return f" (the largest |feature value| is {spread:.3g})"


def raise_on_failure(
    name: str, record: _core.Record, threshold: float, X: Any, advice: Advice
) -> None:
    """DivergenceError for a run that became non-finite or blew up beyond
    recovery (the kernels stopped it). The estimators leave the NaN/inf check
    of X to the kernels, whose passes read every row: a failed run first raises
    scikit-learn's error when X holds NaN/inf. Otherwise, a run that found the
    data's co-moments not finite (finite values whose squares overflow) raises
    the error of a non-finite run."""
    status = record.status
    epoch, objective = record.failed_epoch, record.failed_objective
    if status != _core.STATUS_OK and X is not None:
        assert_all_finite(X, input_name="X", estimator_name=name)
    if status == _core.STATUS_INPUT_NONFINITE:
        status = _core.STATUS_NONFINITE
    if status in (_core.STATUS_NONFINITE, _core.STATUS_DIVERGED):
        if status == _core.STATUS_NONFINITE:
            objective = np.nan
        if status == _core.STATUS_NONFINITE:
            raise DivergenceError(overflow_message(name, epoch, threshold, X, advice))
        raise DivergenceError(divergence_message(name, epoch, objective, threshold, X, advice))
    if status != _core.STATUS_OK:  # pragma: no cover - interrupts re-raise in the binding
        raise RuntimeError(f"descent kernel failed with status {status}")


def returned_model_loss(
    X,
    y2: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray,
    loss: str,
    epsilon: float,
    n_threads: int,
    sample_weight: np.ndarray | None = None,
    *,
    name: str,
) -> float:
    """Mean training loss of the model a fit returns (weighted when the
    threshold is), summed over targets as the threshold is: one pass over
    every row of X (the loss alone, no gradient). A non-finite prediction there
    raises scikit-learn's error when X holds NaN/inf (``name`` is the
    estimator's), else gives inf."""
    b = np.ascontiguousarray(np.asarray(intercept, dtype=np.float64).reshape(-1))
    k = b.shape[0]  # y2's columns, or its classes for the multinomial (y2: class indices)
    W = np.ascontiguousarray(np.asarray(coef, dtype=np.float64).reshape(k, -1)).reshape(-1)
    total, _, _, status = _core.loss_grad(
        matrix_of(X),
        np.ascontiguousarray(y2, dtype=X.dtype),
        sample_weight,
        W,
        b,
        k,
        _core.CODES["loss"][loss],
        float(epsilon),
        n_threads,
        gradient=False,
    )
    if status != _core.STATUS_OK:
        assert_all_finite(X, input_name="X", estimator_name=name)
        return float("inf")
    weight = (
        y2.shape[0] if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64))
    )
    return total / weight if weight > 0 else 0.0


def label_loss_bound(
    coef: np.ndarray, intercept: Any, row_norms: tuple[float, float], loss: str, epsilon: float
) -> float:
    """An upper bound on the mean loss, on labels +1/-1, of a linear model over
    rows whose squared norms have the mean and max ``row_norms``
    (:func:`gdfast._core.row_norm_stats`), without a pass over the rows: every
    prediction w.x + b lies in [-Z, Z] with Z = ||w|| max||x|| + |b|
    (Cauchy-Schwarz), and a loss convex in the prediction is largest at an end
    of that interval. NaN when X (its mean row norm) or the model is not finite."""
    mean_sq, max_sq = row_norms
    with np.errstate(over="ignore", invalid="ignore"):
        norm = coef_norm(coef)
        reach = norm * np.sqrt(max_sq) + float(np.max(np.abs(intercept)))
    if not (np.isfinite(mean_sq) and np.isfinite(reach)):
        return float("nan")
    code = _core.CODES["loss"][loss]
    return max(
        _core.mean_constant_loss(np.full((1, 1), label), np.array([end]), code, float(epsilon))
        for label in (1.0, -1.0)
        for end in (reach, -reach)
    )


def regression_loss_bound(
    coef: np.ndarray,
    intercept: Any,
    row_sq_norm_max: float,
    target_abs_max: float,
    loss: str,
    epsilon: float,
) -> float:
    """An upper bound on the mean loss of a linear model over rows whose squared
    norms are at most ``row_sq_norm_max`` and targets at most ``target_abs_max``
    in magnitude, without a pass over the rows: every residual w.x + b - y lies
    in [-R, R] with R = ||w|| max||x|| + |b| + max|y| (Cauchy-Schwarz), and each
    regression loss is a non-decreasing function of |residual|. NaN when a
    measure or the model is not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        norm = coef_norm(coef)
        reach = norm * np.sqrt(row_sq_norm_max) + float(np.max(np.abs(intercept)))
        reach += target_abs_max
    if not np.isfinite(reach):
        return float("nan")
    code = _core.CODES["loss"][loss]
    return _core.mean_constant_loss(np.zeros((1, 1)), np.array([reach]), code, float(epsilon))


def extent_loss_bound(record: _core.Record, coef, intercept, loss: str, epsilon: float) -> float:
    """An upper bound on a model's mean loss over every row of X, summed over
    its k targets as :func:`returned_model_loss` sums it, from the extent of the
    rows a fit measured (``record.row_sq_norm_max``, ``record.target_abs_max``):
    :func:`regression_loss_bound` for each target. NaN when the fit did not
    measure it (held-out rows, a non-finite row: then X may hold NaN/inf, which
    the pass reports) or the loss is not a regression loss."""
    if loss not in _core.REGRESSION_LOSSES:
        return float("nan")
    bound = regression_loss_bound(
        coef, intercept, record.row_sq_norm_max, record.target_abs_max, loss, epsilon
    )
    return int(np.size(intercept)) * bound


def judge_returned_model(
    name: str,
    loss_value: float,
    threshold: float,
    X: Any,
    advice: Advice,
    epoch: int,
    raise_error: bool,
) -> None:
    """DivergenceError (``raise_error``) or DivergenceWarning when the returned
    model's mean loss is above ``threshold``; nothing otherwise."""
    if not loss_value > threshold:
        return
    what = (
        f"{name}'s fit ended (epoch {epoch}) with a model whose mean training loss is "
        f"{loss_value:.3g}, more than {DIVERGENCE_FACTOR:.0e} times the loss of a constant "
        f"prediction ({threshold / DIVERGENCE_FACTOR:.3g}): the model is useless"
    )
    message = f"{what}. {_step_advice(X, advice)}"
    if raise_error:
        raise DivergenceError(message)
    warnings.warn(
        f"{message} (on_divergence='raise' makes this an error.)",
        DivergenceWarning,
        stacklevel=4,
    )
