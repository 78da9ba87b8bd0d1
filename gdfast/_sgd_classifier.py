"""SGDClassifier: a drop-in replacement for scikit-learn's, with the epochs in C++."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from gdfast import _core
from gdfast._base import (
    MAX_SEED,
    LinearRegressorBase,
    SparseCoefMixin,
    refuse_zero_features,
    unfitted_on_failure,
    validation_split,
)
from gdfast._config import resolve_n_jobs
from gdfast._divergence import label_divergence_threshold
from gdfast._labels import (
    LinearClassifierPredictions,
    check_classification_targets_of,
    class_weights_of,
    classes_of_call,
)
from gdfast._sgd_engine import DEFAULT_EPSILON, LEARNING_RATES, SGDEngine, Start
from gdfast._sklearn_compat import Interval, StrOptions, _check_sample_weight, _fit_context
from gdfast._validation import all_finite, kernel_ready, matrix_of

# scikit-learn's SGDClassifier losses: kernel code and the arguments of its table.
LOSS_ARGS = {
    "hinge": (1.0,),
    "squared_hinge": (1.0,),
    "perceptron": (0.0,),
    "log_loss": (),
    "modified_huber": (),
    "squared_error": (),
    "huber": (DEFAULT_EPSILON,),
    "epsilon_insensitive": (DEFAULT_EPSILON,),
    "squared_epsilon_insensitive": (DEFAULT_EPSILON,),
}


class SGDClassifier(SGDEngine, LinearClassifierPredictions, SparseCoefMixin, BaseEstimator):
    """Linear classifiers (SVM, logistic regression, ...) by SGD, compiled.

    A drop-in replacement for :class:`sklearn.linear_model.SGDClassifier`: the
    same parameters, defaults, methods, attributes and objective, and with the
    same integer ``random_state`` the same iterates (dense float64 and CSR
    data). Two classes are one binary problem; more are one-vs-all, each class
    against the rest, run in parallel on ``n_jobs`` threads without the GIL.

    Each binary problem minimizes ``mean_i s_i loss(x_i . w + b, y_i) + alpha
    R(w)`` with labels ``y_i = +1/-1``, ``s_i`` the sample weight times the
    class weight, ``R(w) = (1 - l1_ratio) / 2 ||w||_2^2 + l1_ratio ||w||_1``.

    Divergence: non-finite coefficients raise :class:`DivergenceError` (a
    ``ValueError``, as scikit-learn raises); a fit that completes with a useless
    model (mean training loss above ``1e6`` times a constant prediction's) gives
    a :class:`DivergenceWarning`, or raises with ``on_divergence="raise"``.

    Parameters
    ----------
    loss : {"hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron", \
            "squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive"}, default="hinge"
        The loss: ``hinge`` a linear SVM, ``log_loss`` logistic regression
        (``predict_proba``), ``modified_huber`` a smooth hinge that also gives
        probabilities, ``squared_hinge``, ``perceptron``, or a regression loss
        on the labels +1/-1.
    penalty : {"l2", "l1", "elasticnet", None}, default="l2"
        The regularization term.
    alpha : float, default=0.0001
        Regularization strength; also sets the step size when
        ``learning_rate="optimal"``.
    l1_ratio : float, default=0.15
        Elastic-net mixing: 0 is pure L2, 1 pure L1.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    max_iter : int, default=1000
        Maximum number of epochs in ``fit``.
    tol : float or None, default=1e-3
        Stop when the training objective (or the validation accuracy with
        ``early_stopping``) has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. None disables the rule.
    shuffle : bool, default=True
        Shuffle the samples before each epoch.
    verbose : int, default=0
        Print the objective after each epoch.
    epsilon : float, default=0.1
        Width of the Huber and epsilon-insensitive losses.
    n_jobs : int, default=None
        One-vs-all problems run at a time (None: one, as in scikit-learn;
        -1: one per core), and threads of ``predict``, of the model checks and
        of each problem's shuffle and CSR row copies, shared by the problems
        run at once (None: OpenMP's limit). Results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the validation split.
    learning_rate : {"constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"}, \
            default="optimal"
        Step size schedule: ``eta0``; ``1 / (alpha (t0 + t))``;
        ``eta0 / t**power_t``; ``eta0`` divided by 5 when progress stalls;
        passive-aggressive I / II (``hinge`` loss only).
    eta0 : float, default=0.01
        Initial step size (the aggressiveness ``C`` for ``pa1``/``pa2``).
    power_t : float, default=0.5
        Exponent of ``invscaling``.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the data and stop when
        the accuracy on it stops improving.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or, for ``adaptive``,
        before dividing the step size by 5).
    class_weight : dict, "balanced" or None, default=None
        Weight of each class (multiplies the sample weights); "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))``.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Return the average of the iterates (from the ``average``-th update on
        when an int).
    batch_size : int, default=1
        Samples per update. 1 is scikit-learn's per-sample SGD; larger values
        step along the summed gradient of shuffled mini-batches, as in
        :class:`SGDRegressor`. ``pa1``/``pa2`` need ``batch_size=1``.
    on_divergence : {"warn", "raise"}, default="warn"
        What a fit that returns a useless model does: warn and keep it, or
        raise :class:`DivergenceError` and leave the estimator as it was.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients (one row for two classes), in the dtype of X.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts, in the dtype of X (as scikit-learn's).
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_iter_ : int
        Epochs run by the last ``fit`` (the most of any one-vs-all problem).
    t_ : float
        Number of samples the updates have used, plus one.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string column names.
    loss_curve_ : list of float, or list of lists of float
        Training objective (mean loss + penalty) of each epoch of the last
        ``fit`` or ``partial_fit``; with more than two classes one list per
        class, in the order of ``classes_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from gdfast import SGDClassifier
    >>> X = np.array([[-1, -1], [-2, -1], [1, 1], [2, 1]])
    >>> y = np.array([1, 1, 2, 2])
    >>> clf = make_pipeline(StandardScaler(), SGDClassifier(random_state=0)).fit(X, y)
    >>> print(clf.predict([[-0.8, -1]]))
    [1]
    """

    # scikit-learn's class attribute: each loss's kernel code and its arguments.
    loss_functions: ClassVar[dict] = {
        name: (_core.CODES["loss"][name], *args) for name, args in LOSS_ARGS.items()
    }

    _parameter_constraints: ClassVar[dict] = {
        **LinearRegressorBase._parameter_constraints,
        "loss": [StrOptions(set(LOSS_ARGS))],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "learning_rate": [StrOptions(set(LEARNING_RATES))],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    _scores_accuracy = True
    _pa_loss = "hinge"

    def __init__(
        self,
        loss: str = "hinge",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float | None = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = DEFAULT_EPSILON,
        n_jobs: int | None = None,
        random_state: Any = None,
        learning_rate: str = "optimal",
        eta0: float = 0.01,
        power_t: float = 0.5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        class_weight: Any = None,
        warm_start: bool = False,
        average: bool | int = False,
        batch_size: int = 1,
        on_divergence: str = "warn",
    ) -> None:
        for name, value in locals().items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # ------------------------------------------------------------ parameters

    def _check_params(self, for_partial_fit: bool = False) -> None:
        """The rules that tie parameters together (scikit-learn's, same messages)."""
        self._check_sgd_params(for_partial_fit)
        if for_partial_fit and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order to use "
                "'balanced' weights, use compute_class_weight('balanced', classes=classes, "
                "y=y). In place of y you can use a large enough sample of the full training "
                "set target to properly estimate the class frequency distributions. Pass the "
                "resulting weights as the class_weight parameter."
            )

    # ------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the classifier by stochastic gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels (numbers, strings, booleans or a pandas categorical).
        coef_init : array-like of shape (n_classes, n_features), default=None
            Initial coefficients (``(n_features,)`` or ``(1, n_features)`` for
            two classes).
        intercept_init : array-like of shape (n_classes,), default=None
            Initial intercepts.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples, multiplied by ``class_weight``.

        Returns
        -------
        self : SGDClassifier
            The fitted estimator.

        Raises
        ------
        DivergenceError
            If the coefficients become NaN/inf, or (``on_divergence="raise"``)
            the returned model would be useless.
        """
        self._check_params()
        y, labels = check_classification_targets_of(self, y)
        if self.warm_start and getattr(self, "coef_", None) is not None:
            coef_init = self._dense_coef() if coef_init is None else coef_init
            intercept_init = self.intercept_ if intercept_init is None else intercept_init
            if sp.issparse(coef_init):
                coef_init = coef_init.toarray()
        self._partial_fit(
            X,
            y,
            max_iter=self.max_iter,
            classes=labels,
            labels=labels,
            sample_weight=sample_weight,
            coef_init=coef_init,
            intercept_init=intercept_init,
            reset=True,
        )
        if self.tol is not None and self.tol > -np.inf and self.n_iter_ == self.max_iter:
            warnings.warn(
                "Maximum number of iteration reached before convergence. Consider "
                "increasing max_iter to improve the fit.",
                ConvergenceWarning,
                stacklevel=2,
            )
        if self.power_t < 0:
            warnings.warn(
                "Negative values for `power_t` are deprecated in scikit-learn 1.8 and "
                "will raise an error in 1.10. Use values in the range [0.0, inf) instead.",
                FutureWarning,
                stacklevel=2,
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of SGD on the given samples, resuming from the current model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : array-like of shape (n_samples,)
            Its labels, each one of ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class of all the calls: required on the first call, and, when
            given later, equal to ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : SGDClassifier
            The updated estimator.
        """
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._check_params(for_partial_fit=True)
        y, labels = check_classification_targets_of(self, y)
        return self._partial_fit(
            X,
            y,
            max_iter=1,
            classes=classes,
            labels=labels,
            sample_weight=sample_weight,
            coef_init=None,
            intercept_init=None,
            reset=False,
        )

    def _partial_fit(self, X, y, *, reset: bool, **kwargs):
        first_call = reset or not hasattr(self, "classes_")
        with unfitted_on_failure(self, first_call):
            return self._partial_fit_checked(X, y, first_call=first_call, **kwargs)

    def _partial_fit_checked(
        self,
        X,
        y,
        *,
        max_iter,
        classes,
        labels,
        sample_weight,
        coef_init,
        intercept_init,
        first_call,
    ):
        """Validate, run each binary problem, then commit: nothing on ``self``
        changes unless every problem succeeds."""
        refuse_zero_features(self, X)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C" if self.batch_size == 1 else None,
            reset=first_call,
            # NaN/inf in X: the returned-model pass reads every row and raises
            # scikit-learn's error (raise_on_failure, if a run fails first).
            ensure_all_finite=False,
        )
        X = kernel_ready(X)
        dtype = X.dtype
        classes_ = classes_of_call(self, classes, labels, first_call)
        if len(classes_) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got {len(classes_)} class"
            )
        class_weight = class_weights_of(self, classes_, y)
        weighted = sample_weight is not None or np.any(class_weight != 1.0)
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=dtype, allow_all_zero_weights=self.early_stopping
        )
        starts = self._starts(classes_, X.shape[1], dtype, coef_init, intercept_init, first_call)
        n_classes = len(classes_)
        if n_classes == 2:
            problems = [(1, starts[0], class_weight[1], class_weight[0], None, self.random_state)]
        else:
            validation = self._validation_mask(y, sample_weight)
            seeds = check_random_state(self.random_state).randint(MAX_SEED, size=n_classes)
            problems = [
                (i, starts[i], class_weight[i], 1.0, validation, int(seeds[i]))
                for i in range(n_classes)
            ]

        def run(problem):
            i, start, pos, neg, validation, random_state = problem
            y_i = np.where(y == classes_[i], 1.0, -1.0).astype(dtype, copy=False)
            weights = _class_weighted(y_i, sample_weight, pos, neg) if weighted else None
            out = self._fit_binary(
                X, y_i, weights, sample_weight, validation, random_state, start, max_iter, threads
            )
            return y_i, out

        workers = min(n_classes if n_classes > 2 else 1, resolve_n_jobs(self.n_jobs or 1))
        # The threads each problem may use besides its own (the shuffle, the
        # CSR rows' copies ahead): the problems running at once share them.
        threads = max(1, resolve_n_jobs(self.n_jobs) // workers)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(run, problems))
        else:
            results = [run(problem) for problem in problems]
        n_threads = resolve_n_jobs(self.n_jobs)
        # One pass for every class's bound (a pass of its own for each otherwise).
        row_norms = _core.row_norm_stats(matrix_of(X), n_threads)
        for y_i, out in results:
            self._judge_returned(X, y_i, out["returned"], out, max_iter > 1, n_threads, row_norms)
        self._commit(classes_, [out for _, out in results], starts[0].t, X.shape[0])
        return self

    def _fit_binary(
        self,
        X,
        y_i,
        weights,
        sample_weight,
        validation,
        random_state,
        start: Start,
        max_iter,
        n_threads,
    ) -> dict:
        """One binary problem (labels +1/-1 in ``y_i``), with scikit-learn's draws
        in its order: the dataset's seed (unused), the validation split (stratified
        on ``y_i`` unless given), the shuffling seed."""
        rng = check_random_state(random_state)
        rng.randint(1, MAX_SEED)
        if validation is None:
            validation = self._validation_mask(y_i, sample_weight)
        seed = int(rng.randint(MAX_SEED))
        train = slice(None) if validation is None else validation == 0
        threshold = label_divergence_threshold(
            y_i[train], self.loss, self.epsilon, None if weights is None else weights[train]
        )
        out = self._run_epochs(
            X, y_i, weights, validation, start, max_iter, seed, threshold, n_threads
        )
        coef, intercept, avg_coef, avg_intercept = out["params"]
        averaged = self.average and self.average <= out["t"] - 1.0
        out["returned"] = (avg_coef, avg_intercept) if averaged else (coef, intercept)
        return out

    def _starts(self, classes_, n_features, dtype, coef_init, intercept_init, first_call):
        """Where each binary problem starts: ``coef_init``/``intercept_init`` or
        zeros on a first call, else the current (standard, averaged) parameters."""
        k = 1 if len(classes_) == 2 else len(classes_)
        t = 1.0 if first_call else self.t_
        if first_call or coef_init is not None:
            coef = _initial_block(coef_init, (k, n_features), dtype, "coef_init")
            intercept = _initial_block(intercept_init, (k,), dtype, "intercept_init")
            avg_coef = np.zeros_like(coef) if self.average else None
            avg_intercept = np.zeros_like(intercept) if self.average else None
        else:
            if self.coef_.shape[-1] != n_features:
                raise ValueError(
                    f"Number of features {n_features} does not match previous data "
                    f"{self.coef_.shape[-1]}."
                )
            if self.average and hasattr(self, "_standard_coef"):
                coef, intercept = self._standard_coef, self._standard_intercept
                avg_coef, avg_intercept = self._average_coef, self._average_intercept
            else:
                coef = self._dense_coef()
                intercept = self.intercept_
                avg_coef = np.zeros_like(coef) if self.average else None
                avg_intercept = np.zeros_like(intercept) if self.average else None
        return [
            Start(
                coef[i],
                intercept[i : i + 1],
                None if avg_coef is None else avg_coef[i],
                None if avg_intercept is None else avg_intercept[i : i + 1],
                t,
            )
            for i in range(k)
        ]

    def _commit(self, classes_, results: list, t: float, n_samples: int) -> None:
        """Publish the fitted parameters: only now does the estimator change."""
        dtype = results[0]["params"][0].dtype
        stack = lambda j: np.array([out["params"][j] for out in results]).reshape(  # noqa: E731
            len(results), -1
        )
        # scikit-learn's dtypes: a binary problem's plain intercept is its
        # loop's double (float64 for float32 X too); the one-vs-all intercepts
        # and the averaged ones are in X's dtype.
        plain = np.float64 if len(results) == 1 else dtype
        coef, intercept = stack(0), stack(1).ravel().astype(plain)
        n_iter = max(out["record"].n_iter for out in results)
        self.classes_ = classes_
        self.t_ = float(t + n_iter * n_samples)
        self.n_iter_ = n_iter
        curves = [list(out["record"].objectives) for out in results]
        self.loss_curve_ = curves[0] if len(results) == 1 else curves
        if self.average:
            self._standard_coef, self._standard_intercept = coef, intercept
            self._average_coef = stack(2).astype(dtype)
            self._average_intercept = stack(3).ravel().astype(dtype)
            if self.average <= self.t_ - 1.0:
                coef, intercept = self._average_coef, self._average_intercept
        self.coef_, self.intercept_ = coef, intercept

    def _validation_mask(self, y, sample_weight) -> np.ndarray | None:
        """scikit-learn's stratified held-out rows for early stopping, as a 0/1
        mask, or None without early stopping."""
        split = validation_split(self, y, sample_weight, StratifiedShuffleSplit)
        if split is None:
            return None
        mask = np.zeros(y.shape[0], dtype=np.uint8)
        mask[split[1]] = 1
        return mask


def _class_weighted(y_i, sample_weight, pos: float, neg: float) -> np.ndarray:
    """The weight of each sample times its class weight, in the samples' dtype
    (the product scikit-learn's loop forms, rounded alike)."""
    dtype = sample_weight.dtype
    cw = np.where(y_i > 0, dtype.type(pos), dtype.type(neg)).astype(dtype)
    return cw * sample_weight


def _initial_block(value, shape: tuple, dtype, name: str) -> np.ndarray:
    """``coef_init`` (k, p) or ``intercept_init`` (k,) as scikit-learn checks them
    (two classes: k = 1, any shape of the right size), or zeros."""
    if value is None:
        return np.zeros(shape, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    if shape[0] == 1:
        arr = arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr
    if arr.shape != shape:
        # scikit-learn's words: ``coef_`` for several classes' coef_init
        what = "``coef_``" if name == "coef_init" and shape[0] > 1 else name
        raise ValueError(f"Provided {what} does not match dataset. ")
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity.")
    return np.array(arr, dtype=dtype)
