"""What gdfast's estimators share: divergence detection, prediction, progress."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted, validate_data

from gdfast import _core
from gdfast._config import resolve_n_jobs
from gdfast.reference import loss_value

# A model whose training objective is this many times worse than predicting a
# constant is garbage. Descent may blow up for a while and recover
# (scikit-learn's "optimal" schedule starts with a huge step), so the kernels
# only give up early when the step the schedule will reach is still hopeless
# for the data (see step_hopeless in stats.hpp); fit then judges the final model.
DIVERGENCE_FACTOR = 1e6


class DivergenceError(ValueError):
    """Gradient descent diverged: the training objective blew up or became NaN/inf.

    A subclass of ValueError, which scikit-learn raises on overflow, so existing
    ``except ValueError`` clauses keep working.
    """


def divergence_threshold(y: np.ndarray, loss: str, epsilon: float, sample_weight=None) -> float:
    """The objective above which descent is declared diverged.

    ``DIVERGENCE_FACTOR`` times the larger of the mean loss of predicting 0 and
    of predicting the (weighted) mean of y. Infinite when both are 0 (y is all
    zeros), where only a non-finite objective counts as divergence.
    """
    y = np.asarray(y)
    if y.size == 0:
        return float("inf")
    mean = np.average(y, axis=0, weights=sample_weight)
    with np.errstate(over="ignore", invalid="ignore"):  # huge y: an infinite threshold
        if loss == "squared_error":  # closed forms: no temporaries the size of y
            flat = y.reshape(-1).astype(np.float64, copy=False)
            mean_sq = float(flat @ flat) / flat.size
            spread = mean_sq - float(np.mean(np.square(mean)))
            reference = 0.5 * max(mean_sq, spread)
        else:
            y = y.astype(np.float64, copy=False)
            reference = max(
                float(np.mean(loss_value(-y, loss, epsilon))),
                float(np.mean(loss_value(mean - y, loss, epsilon))),
            )
    if not np.isfinite(reference):
        return float("inf")
    return DIVERGENCE_FACTOR * reference if reference > 0 else float("inf")


def divergence_message(
    name: str, epoch: int, objective: float, threshold: float, X: Any, advice: str
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
    scale = ""
    data = X.data if sp.issparse(X) else X
    if data.size:
        with np.errstate(all="ignore"):
            spread = np.max(np.abs(data))
        scale = f" (the largest |feature value| is {spread:.3g})"
    return (
        f"{name} diverged at epoch {epoch}: {what}. The step size is too large for the "
        f"scale of the features{scale}: {advice}"
    )


def raise_on_failure(name, out, threshold, final_check, X, advice) -> None:
    """DivergenceError for a run that became non-finite, blew up beyond recovery,
    or (``final_check``: fit) ended with an objective above ``threshold``."""
    status = out["status"]
    objectives = out["objectives"]
    if status == _core.STATUS_OK and final_check and objectives and objectives[-1] > threshold:
        status = _core.STATUS_DIVERGED
        out["failed_epoch"] = out["n_iter"]
        out["failed_objective"] = objectives[-1]
    if status in (_core.STATUS_NONFINITE, _core.STATUS_DIVERGED):
        objective = out["failed_objective"] if status == _core.STATUS_DIVERGED else np.nan
        raise DivergenceError(
            divergence_message(name, out["failed_epoch"], objective, threshold, X, advice)
        )
    if status != _core.STATUS_OK:  # pragma: no cover - interrupts re-raise in the binding
        raise RuntimeError(f"descent kernel failed with status {status}")


@contextmanager
def unfitted_on_failure(estimator, first_call: bool):
    """Undo what validate_data(reset=True) set if the first fit fails, so that a
    failed fit leaves the estimator unfitted rather than half-fitted."""
    try:
        yield
    except BaseException:
        if first_call:
            for attr in ("n_features_in_", "feature_names_in_"):
                if attr in vars(estimator):
                    delattr(estimator, attr)
        raise


def targets_as(y: np.ndarray, dtype) -> np.ndarray:
    """y in X's dtype, or a ValueError if a finite target does not fit in it (a
    float32 X with targets beyond ~3.4e38 would otherwise train on infinities)."""
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(y, dtype=dtype)
    if out.size and not np.isfinite(out).all():
        raise ValueError(
            f"y has values beyond the range of {np.dtype(dtype).name}, the dtype of X "
            "(the model is computed in X's dtype): pass float64 X or rescale y."
        )
    return out


def refuse_zero_features(estimator, X) -> None:
    """scikit-learn's error for an array with no columns, also for a DataFrame
    (whose conversion would otherwise fail with a message that names nothing)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(shape)}) while a minimum of 1 is "
            f"required by {type(estimator).__name__}."
        )


def linear_predict(estimator, X, n_jobs=None) -> np.ndarray:
    """Validated ``X @ coef_.T + intercept_`` for a fitted linear estimator.

    The output dtype is what scikit-learn returns: the result type of X's and
    ``coef_``'s dtypes.
    """
    check_is_fitted(estimator)
    refuse_zero_features(estimator, X)
    X = validate_data(
        estimator, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False
    )
    coef = estimator.coef_
    if sp.issparse(coef):
        coef = coef.toarray().reshape(estimator._dense_coef_shape)
    coef = np.asarray(coef, dtype=np.float64)
    multi = coef.ndim == 2
    k = coef.shape[0] if multi else 1
    W = np.ascontiguousarray(coef.reshape(k, -1))
    b = np.ascontiguousarray(np.asarray(estimator.intercept_, dtype=np.float64).reshape(k))
    out_dtype = np.result_type(X.dtype, estimator.coef_.dtype)
    threads = resolve_n_jobs(n_jobs)
    if sp.issparse(X):
        X = X.tocsr()
        out, status = _core.predict_csr(
            X.data, X.indices, X.indptr, X.shape[1], W.reshape(-1), b, k, threads
        )
    else:
        if not (X.flags.c_contiguous or X.flags.f_contiguous):
            X = np.ascontiguousarray(X)
        out, status = _core.predict_dense(X, W.reshape(-1), b, k, threads)
    if status != _core.STATUS_OK:
        raise FloatingPointError(
            "predict overflowed: the predictions are not finite although X is. The "
            "coefficients are too large for this X."
        )
    out = out.astype(out_dtype, copy=False)
    return out if multi else out[:, 0]


class EpochPrinter:
    """Prints one block per epoch for ``verbose``: scikit-learn's format, plus the
    step size when ``show_step`` (GDRegressor)."""

    def __init__(self, show_step: bool = False) -> None:
        self.start = time.perf_counter()
        self.show_step = show_step

    def __call__(self, info: dict) -> None:
        print(f"-- Epoch {info['epoch']}")
        line = (
            f"Norm: {info['coef_norm']:.2f}, NNZs: {info['coef_nonzeros']}, "
            f"Bias: {info['intercept']:.6f}, T: {int(info['updates'])}, "
            f"Avg. loss: {info['mean_loss']:f}, Objective: {info['objective']:f}"
        )
        if info["validation_score"] is not None:
            line += f", Validation score: {info['validation_score']:f}"
        if self.show_step:
            line += f", Step size: {info['step_size']:.6g}"
        print(line)
        print(f"Total training time: {time.perf_counter() - self.start:.2f} seconds.")


class SparseCoefMixin:
    """``densify`` / ``sparsify`` of ``coef_``, as scikit-learn's linear models have."""

    def densify(self):
        """Convert a sparse ``coef_`` back to a dense array of its original shape."""
        check_is_fitted(self)
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray().reshape(self._dense_coef_shape)
        return self

    def sparsify(self):
        """Convert ``coef_`` to a scipy.sparse CSR matrix; returns self.

        Worth it only when most coefficients are zero (L1 penalty). ``predict``
        accepts either form.
        """
        check_is_fitted(self)
        if not sp.issparse(self.coef_):
            self._dense_coef_shape = self.coef_.shape
            self.coef_ = sp.csr_matrix(np.atleast_2d(self.coef_))
        return self
