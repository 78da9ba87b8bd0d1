"""What gdfast's estimators share: parameter rules, the validation split, the
seed, rollback on failure, warnings, prediction and progress output."""

from __future__ import annotations

import functools
import threading
import time
import warnings
import weakref
from contextlib import contextmanager
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning
from sklearn.model_selection import ShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from gdfast import _core
from gdfast._config import resolve_n_jobs
from gdfast._divergence import ON_DIVERGENCE
from gdfast._sklearn_compat import Interval, StrOptions, _fit_context
from gdfast._validation import all_finite, kernel_ready, matrix_of

# scikit-learn draws its seeds below this bound (np.int32 max).
MAX_SEED = int(np.iinfo(np.int32).max)


@functools.cache
def _param_names_of(cls) -> tuple[str, ...]:
    return tuple(super(GdfastEstimator, cls)._get_param_names())


@functools.lru_cache(maxsize=256)
def _first_draw(random_state: int) -> int:
    """The first draw in [0, MAX_SEED) of ``np.random.RandomState(random_state)``:
    what a fit with an int random_state draws every time (seeding the generator
    took 0.2 ms of a 9 ms fit)."""
    return int(np.random.RandomState(random_state).randint(0, MAX_SEED))


# One lock per estimator object, gone with it (estimators keep no lock
# themselves: they must pickle and clone).
_FIT_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextmanager
def unfitted_on_failure(estimator, first_call: bool):
    """One fit of ``estimator`` at a time, undone if it fails.

    Fits of one estimator from several threads run one after the other, so the
    attributes a fit publishes (``n_features_in_`` first, ``coef_`` last) always
    come from the same fit. If a first fit fails, what validate_data(reset=True)
    set is removed, so the estimator is left unfitted rather than half-fitted.
    """
    with _FIT_LOCKS.setdefault(estimator, threading.RLock()):
        try:
            yield
        except BaseException:
            if first_call:
                for attr in ("n_features_in_", "feature_names_in_"):
                    if attr in vars(estimator):
                        delattr(estimator, attr)
            raise


def targets_as(y: np.ndarray, dtype) -> np.ndarray:
    """Validated (finite) targets y in X's dtype, or a ValueError if one does not
    fit in it (a float32 X with targets beyond ~3.4e38 would otherwise train on
    infinities). Only a cast can make them non-finite: y of X's dtype is not read."""
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(y, dtype=dtype)
    if out.dtype != np.asarray(y).dtype and out.size and not all_finite(out):
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

    The output dtype is what scikit-learn returns: the result type of X,
    ``coef_`` and ``intercept_``.
    """
    check_is_fitted(estimator)
    refuse_zero_features(estimator, X)
    X = validate_data(
        estimator, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False
    )
    coef = np.asarray(estimator._dense_coef(), dtype=np.float64)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64)
    multi = coef.ndim == 2
    k = coef.shape[0] if multi else 1
    if coef.ndim not in (1, 2) or coef.size != k * X.shape[1] or k < 1 or intercept.size != k:
        raise ValueError(
            f"{type(estimator).__name__}'s coef_ (shape {coef.shape}) and intercept_ (shape "
            f"{intercept.shape}) do not describe a model of X's {X.shape[1]} features: were "
            "they changed after fit?"
        )
    W = np.ascontiguousarray(coef.reshape(k, -1))
    b = np.ascontiguousarray(intercept.reshape(k))
    # (SGDRegressor's float64 intercept_ makes float32 predictions float64, as in
    # scikit-learn; GDRegressor's Python-float intercept keeps X's dtype.)
    out_dtype = np.result_type(X.dtype, estimator.coef_.dtype, estimator.intercept_)
    threads = resolve_n_jobs(n_jobs)
    X = kernel_ready(X)
    out, status = _core.predict(matrix_of(X), W.reshape(-1), b, k, threads)
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


def _sparse_like_sklearn(coef: np.ndarray):
    """``coef`` as scikit-learn's sparsify stores it: a CSR container of the same
    shape ((n_features,) stays 1-D where SciPy has 1-D sparse arrays), of the
    kind scikit-learn's ``sparse_interface`` setting names (spmatrix by default)."""
    from sklearn import get_config

    try:
        out = sp.csr_array(coef)
    except (ValueError, TypeError):  # SciPy without 1-D sparse arrays
        out = sp.csr_array(np.atleast_2d(coef))
    if get_config().get("sparse_interface", "spmatrix") == "spmatrix":
        try:
            out = sp.csr_matrix(out)
        except (ValueError, TypeError):
            out = sp.csr_matrix(np.atleast_2d(coef))
    return out


class SparseCoefMixin:
    """What every gdfast linear model has: ``densify`` / ``sparsify`` of
    ``coef_`` (as scikit-learn's linear models), sparse input, and fitted once
    ``coef_`` exists."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coef_")

    def _dense_coef(self) -> np.ndarray:
        """``coef_`` as a dense array of its fitted shape, whether or not
        ``sparsify`` made it sparse: what a warm start or ``partial_fit``
        resumes from."""
        coef = self.coef_
        return coef.toarray().reshape(self._dense_coef_shape) if sp.issparse(coef) else coef

    def densify(self):
        """Convert a sparse ``coef_`` back to a dense array of its original shape."""
        check_is_fitted(self)
        self.coef_ = self._dense_coef()
        return self

    def sparsify(self):
        """Convert ``coef_`` to a scipy.sparse CSR matrix; returns self.

        Worth it only when most coefficients are zero (L1 penalty). ``predict``
        accepts either form.
        """
        check_is_fitted(self)
        if not sp.issparse(self.coef_):
            self._dense_coef_shape = self.coef_.shape
            self.coef_ = _sparse_like_sklearn(self.coef_)
        return self


def check_shared_params(estimator, for_partial_fit: bool = False) -> None:
    """The rules every gdfast estimator's parameters follow together, with
    scikit-learn's messages."""
    if estimator.early_stopping and for_partial_fit:
        raise ValueError("early_stopping should be False with partial_fit")
    if estimator.learning_rate == "optimal" and estimator.alpha == 0:
        raise ValueError(
            "alpha must be > 0 since learning_rate is 'optimal'. alpha is used "
            "to compute the optimal learning rate."
        )


def validation_split(estimator, y, sample_weight, splitter) -> tuple[np.ndarray, np.ndarray] | None:
    """scikit-learn's held-out split for early stopping (``splitter``:
    ShuffleSplit for regressors, StratifiedShuffleSplit for classifiers, the same
    random draws): sorted training and validation row indices, or None without
    early stopping; scikit-learn's errors for an empty side or a validation set
    of zero weights."""
    if not estimator.early_stopping:
        return None
    n_samples = y.shape[0]
    fraction = estimator.validation_fraction
    cv = splitter(test_size=fraction, random_state=estimator.random_state)
    idx_train, idx_val = next(cv.split(np.zeros((n_samples, 1)), y))
    if sample_weight is not None and not np.any(sample_weight[idx_val] > 0):
        raise ValueError(
            "The sample weights for validation set are all zero, consider using a"
            " different random state."
        )
    if idx_train.shape[0] == 0 or idx_val.shape[0] == 0:
        raise ValueError(
            f"Splitting {n_samples} samples into a train set and a validation set "
            f"with validation_fraction={fraction!r} led to an empty "
            f"set ({idx_train.shape[0]} and {idx_val.shape[0]} samples). Please either "
            "change validation_fraction, increase number of samples, or disable "
            "early_stopping."
        )
    if splitter is ShuffleSplit and idx_val.shape[0] < 2:
        warnings.warn(
            f"early_stopping holds out a single sample (validation_fraction={fraction!r} of "
            f"{n_samples}): its R² is undefined (NaN), so no epoch counts as an improvement or "
            "a stall and the fit runs to max_iter (as scikit-learn's, which warns at every "
            "epoch). Increase validation_fraction or disable "
            "early_stopping.",
            UndefinedMetricWarning,
            stacklevel=4,
        )
    return np.sort(idx_train).astype(np.intp), np.sort(idx_val).astype(np.intp)


class GdfastEstimator(SparseCoefMixin, BaseEstimator):
    """What GDRegressor, SGDRegressor and GDClassifier do alike: store their
    parameters, check the rules that tie them, draw the seed, warn."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """scikit-learn's, read from the signature of ``__init__`` once per class
        (75 us a call: every fit validates its parameters through it)."""
        return list(_param_names_of(cls))

    def _store_params(self, arguments: dict) -> None:
        """What __init__ does, and all it does: store each parameter as given."""
        for name, value in arguments.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    def _check_shared_params(self, for_partial_fit: bool = False) -> None:
        """The rules that tie parameters together, with scikit-learn's messages."""
        check_shared_params(self, for_partial_fit)

    def _draw_seed(self, draws: int = 1) -> int:
        """The shuffling seed, drawn as scikit-learn draws it (``draws`` > 1 also
        makes the draws scikit-learn makes after it, to keep the stream identical)."""
        if isinstance(self.random_state, Integral) and not isinstance(self.random_state, bool):
            # A fresh generator of its own: the later draws change nothing.
            return _first_draw(int(self.random_state))
        rng = check_random_state(self.random_state)
        seed = rng.randint(0, MAX_SEED)
        for _ in range(draws - 1):
            rng.randint(1, MAX_SEED)
        return int(seed)

    def _warn_max_iter(self, message: str) -> None:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)


class LinearRegressorBase(RegressorMixin, GdfastEstimator):
    """The parts of SGDRegressor and GDRegressor that are the same.

    Subclasses extend ``_parameter_constraints`` and implement ``fit``.
    """

    _parameter_constraints: ClassVar[dict] = {
        "loss": [StrOptions(set(_core.REGRESSION_LOSSES))],
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "verbose": ["verbose"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "eta0": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "average": [Interval(Integral, 0, None, closed="neither"), "boolean"],
        "n_jobs": [Integral, None],
        "on_divergence": [StrOptions(set(ON_DIVERGENCE))],
    }

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch on the given samples, resuming from the current model.

        The first call starts from zeros (and, for GDRegressor, fixes the
        standardization from its rows); later calls continue from the current
        coefficients, schedule position and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Its targets (several targets: GDRegressor only).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples (all 1 when None).

        Returns
        -------
        self
            The updated estimator.
        """
        first_call = not hasattr(self, "coef_")
        if first_call:
            self._check_params(for_partial_fit=True)
        return self._one_epoch(X, y, sample_weight, first_call)

    def _check_params(self, for_partial_fit: bool = False) -> None:
        """Cross-parameter rules (subclasses extend them)."""
        self._check_shared_params(for_partial_fit)

    def _one_epoch(self, X, y, sample_weight, first_call: bool):
        raise NotImplementedError

    def _validation_split(self, y, sample_weight) -> tuple[np.ndarray, np.ndarray] | None:
        """scikit-learn's held-out split for early stopping (the same random draws):
        sorted training and validation row indices, or None without early stopping."""
        return validation_split(self, y, sample_weight, ShuffleSplit)

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        return linear_predict(self, X, self.n_jobs)
