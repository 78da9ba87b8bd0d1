"""SGDRegressor: a drop-in replacement for scikit-learn's, with the epochs in C++."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.utils.validation import validate_data

from gdfast import _core
from gdfast._base import LinearRegressorBase, refuse_zero_features, targets_as, unfitted_on_failure
from gdfast._config import resolve_n_jobs
from gdfast._divergence import divergence_threshold
from gdfast._sgd_engine import DEFAULT_EPSILON, LEARNING_RATES, SGDEngine, Start, initial_params
from gdfast._sklearn_compat import Interval, StrOptions, _check_sample_weight, _fit_context
from gdfast._validation import kernel_ready


class SGDRegressor(SGDEngine, LinearRegressorBase):
    """Linear regression by stochastic gradient descent, compiled.

    A drop-in replacement for :class:`sklearn.linear_model.SGDRegressor`: the
    same parameters, defaults, methods, attributes and objective, and with the
    same ``random_state`` the same sample order, so swapping the import is all a
    user changes. The per-sample loop runs in C++ without the GIL.

    The objective is ``mean_i loss(x_i . w + b, y_i) + alpha * R(w)`` with
    ``R(w) = (1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1``.

    Divergence: non-finite coefficients raise :class:`DivergenceError` (a
    ``ValueError``, as scikit-learn raises); a fit that completes with a useless
    model (mean training loss above ``1e6`` times a constant prediction's) keeps
    scikit-learn's result and gives a :class:`DivergenceWarning` that says what
    to do, or raises with ``on_divergence="raise"``.

    Parameters
    ----------
    loss : {"squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive"}, default="squared_error"
        The loss. ``squared_error`` is half the squared residual.
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
        Maximum number of epochs (passes over the data) in ``fit``.
    tol : float or None, default=1e-3
        Stop when the training objective (or the validation score with
        ``early_stopping``) has not improved by ``tol`` for ``n_iter_no_change``
        epochs. None disables the rule.
    shuffle : bool, default=True
        Shuffle the samples before each epoch.
    verbose : int, default=0
        Print the objective after each epoch.
    epsilon : float, default=0.1
        Width of the Huber and epsilon-insensitive losses.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the validation split.
    learning_rate : {"constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"}, \
            default="invscaling"
        Step size schedule: ``eta0``; ``1 / (alpha (t0 + t))``;
        ``eta0 / t**power_t``; ``eta0`` divided by 5 when progress stalls;
        passive-aggressive I / II (``epsilon_insensitive`` loss only).
    eta0 : float, default=0.01
        Initial step size (the aggressiveness ``C`` for ``pa1``/``pa2``).
    power_t : float, default=0.25
        Exponent of ``invscaling``.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when the R^2 on
        it stops improving.
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or, for ``adaptive``,
        before dividing the step size by 5).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Return the average of the iterates (from the ``average``-th update on
        when an int).
    batch_size : int, default=1
        Samples per update. 1 is scikit-learn's per-sample SGD. Larger values
        step along the summed gradient of shuffled mini-batches (one fused pass
        over each batch's rows), with ``t`` counting samples, so that ``eta0``,
        the schedules and ``tol`` keep their per-sample meaning. ``pa1``/``pa2``
        need ``batch_size=1``.
    n_jobs : int, default=None
        Threads for mini-batch gradients, validation scores and ``predict``
        (None: OpenMP's limit; -1: all cores). Per-sample SGD is sequential;
        with two threads or more, an epoch of 65,536 rows or more shuffles its
        order on a second one (the same order) and, on CSR input, copies its
        rows ahead there. Results do not depend on it.
    on_divergence : {"warn", "raise"}, default="warn"
        What a fit that returns a useless model does: warn with
        :class:`DivergenceWarning` and keep the model (scikit-learn returns it
        silently), or raise :class:`DivergenceError` and leave the estimator as
        it was. With "raise", a run whose step stays hopeless for the data is
        also stopped early.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients, in the dtype of X (float32 stays float32).
    intercept_ : ndarray of shape (1,)
        Intercept, float64 (as scikit-learn's, also for float32 X).
    n_iter_ : int
        Epochs run by the last ``fit`` (1 for ``partial_fit``).
    t_ : float
        Number of samples the updates have used, plus one (scikit-learn's
        definition; the schedules' ``t``).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string column names.
    loss_curve_ : list of float
        Training objective (mean loss + penalty) of each epoch of the last
        ``fit`` or ``partial_fit``.
    validation_scores_ : list of float or None
        R^2 on the held-out set after each epoch when ``early_stopping``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from gdfast import SGDRegressor
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.randn(100, 5), rng.randn(100)
    >>> reg = make_pipeline(StandardScaler(), SGDRegressor(random_state=0)).fit(X, y)
    """

    # scikit-learn's class attribute: each loss's kernel code and default epsilon.
    loss_functions: ClassVar[dict] = {
        name: (code_,) if name == "squared_error" else (code_, DEFAULT_EPSILON)
        for name, code_ in _core.REGRESSION_LOSSES.items()
    }

    _parameter_constraints: ClassVar[dict] = {
        **LinearRegressorBase._parameter_constraints,
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "learning_rate": [StrOptions(set(LEARNING_RATES))],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float | None = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        random_state: Any = None,
        learning_rate: str = "invscaling",
        eta0: float = 0.01,
        power_t: float = 0.25,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        warm_start: bool = False,
        average: bool | int = False,
        batch_size: int = 1,
        n_jobs: int | None = None,
        on_divergence: str = "warn",
    ) -> None:
        self._store_params(locals())

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the model by stochastic gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target values.
        coef_init : array-like of shape (n_features,), default=None
            Initial coefficients. Ignored, as in scikit-learn, when
            ``warm_start`` continues from a fitted model.
        intercept_init : array-like of shape (1,), default=None
            Initial intercept (ignored likewise).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (1 when None). Negative weights are accepted
            with ``batch_size=1``, as in scikit-learn.

        Returns
        -------
        self : SGDRegressor
            The fitted estimator.

        Raises
        ------
        DivergenceError
            If the coefficients become NaN/inf, or (``on_divergence="raise"``)
            the returned model would be useless.
        """
        self._check_params()
        warm = self.warm_start and getattr(self, "coef_", None) is not None
        self._partial_fit(
            X,
            y,
            max_iter=self.max_iter,
            sample_weight=sample_weight,
            coef_init=coef_init,
            intercept_init=intercept_init,
            first_call=not warm,
            t=1.0,
            final_check=True,
        )
        if self.tol is not None and self.tol > -np.inf and self.n_iter_ == self.max_iter:
            self._warn_max_iter(
                "Maximum number of iteration reached before convergence. Consider "
                "increasing max_iter to improve the fit."
            )
        if self.power_t < 0:
            warnings.warn(
                "Negative values for `power_t` are deprecated in scikit-learn 1.8 and "
                "will raise an error in 1.10. Use values in the range [0.0, inf) instead.",
                FutureWarning,
                stacklevel=2,
            )
        return self

    def _one_epoch(self, X, y, sample_weight, first_call: bool):
        return self._partial_fit(
            X,
            y,
            max_iter=1,
            sample_weight=sample_weight,
            coef_init=None,
            intercept_init=None,
            first_call=first_call,
            t=1.0 if first_call else self.t_,
            final_check=False,
        )

    def _partial_fit(self, X, y, **kwargs):
        with unfitted_on_failure(self, kwargs["first_call"]):
            return self._partial_fit_checked(X, y, **kwargs)

    def _partial_fit_checked(
        self,
        X,
        y,
        *,
        max_iter,
        sample_weight,
        coef_init,
        intercept_init,
        first_call,
        t,
        final_check,
    ):
        """Validate, set up the parameters, run the engine, then commit the state.

        As in scikit-learn, a first call starts from ``coef_init`` (or zeros); a
        later one (``partial_fit``, or ``fit`` with ``warm_start``) continues from
        the current coefficients and averages. Nothing on ``self`` changes unless
        the run succeeds: a divergence or a Ctrl-C leaves the estimator as it was.
        """
        refuse_zero_features(self, X)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            copy=False,
            order="C" if self.batch_size == 1 else None,
            dtype=[np.float64, np.float32],
            reset=first_call,
            # NaN/inf in X: the returned-model pass below reads every row and
            # raises scikit-learn's error (raise_on_failure, if a run fails first).
            ensure_all_finite=False,
        )
        X = kernel_ready(X)
        y = targets_as(y, X.dtype)
        n_features = X.shape[1]
        # None stays None: the kernels then weigh every sample 1 without an array.
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=self.batch_size > 1
            )
        dtype = X.dtype
        average_coef = average_intercept = None
        if first_call:
            standard_coef = initial_params(coef_init, (n_features,), dtype, "coef_init")
            standard_intercept = initial_params(intercept_init, (1,), np.float64, "intercept_init")
        elif self.average and hasattr(self, "_standard_coef"):
            standard_coef, standard_intercept = self._standard_coef, self._standard_intercept
            average_coef = getattr(self, "_average_coef", None)
            average_intercept = getattr(self, "_average_intercept", None)
        else:
            standard_coef, standard_intercept = self._dense_coef(), self.intercept_
        if self.average and average_coef is None:
            average_coef = np.zeros(n_features, dtype=dtype)
            average_intercept = np.zeros(1)

        start = Start(standard_coef, standard_intercept, average_coef, average_intercept, t)
        result = self._run_engine(X, y, sample_weight, start, max_iter)
        coef, intercept, avg_coef, avg_intercept = result["params"]
        record = result["record"]
        averaged = self.average and self.average <= result["t"] - 1.0
        returned = (avg_coef, avg_intercept) if averaged else (coef, intercept)
        self._judge_returned(X, y, returned, result, final_check, resolve_n_jobs(self.n_jobs))

        # Commit: only now does the estimator change.
        self.n_iter_ = record.n_iter
        self.t_ = float(result["t"])
        self.loss_curve_ = record.objectives
        self.validation_scores_ = record.validation_scores if self.early_stopping else None
        if self.average:
            self._standard_coef = coef
            self._standard_intercept = intercept
            self._average_coef = avg_coef
            self._average_intercept = avg_intercept
        self.coef_, self.intercept_ = returned
        return self

    def _run_engine(self, X, y, sample_weight, start: Start, max_iter) -> dict:
        """Run the compiled epochs on copies of the parameters; raise on failure.

        Returns the new parameters, the record, the new t_ and the divergence
        threshold.
        """
        split = self._validation_split(y, sample_weight)
        validation = None
        if split is not None:
            validation = np.zeros(y.shape[0], dtype=np.uint8)
            validation[split[1]] = 1
        # The draws scikit-learn makes, in its order: the shuffling seed, then the
        # dataset's own seed (unused here, drawn to keep the stream identical).
        seed = self._draw_seed(draws=2)
        train_y = y if validation is None else y[validation == 0]
        threshold = divergence_threshold(train_y, self.loss, self.epsilon)
        n_threads = resolve_n_jobs(self.n_jobs)
        return self._run_epochs(
            X, y, sample_weight, validation, start, max_iter, seed, threshold, n_threads
        )
