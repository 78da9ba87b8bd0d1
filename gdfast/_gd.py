"""GDRegressor: full-batch and mini-batch gradient descent that needs no tuning."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import MultiOutputMixin
from sklearn.utils.validation import validate_data

from gdfast._base import LinearRegressorBase, refuse_zero_features, targets_as, unfitted_on_failure
from gdfast._divergence import divergence_threshold
from gdfast._gd_engine import GDEngine
from gdfast._sklearn_compat import StrOptions, _check_sample_weight, _fit_context
from gdfast._validation import kernel_ready


class GDRegressor(GDEngine, MultiOutputMixin, LinearRegressorBase):
    """Linear regression by gradient descent that converges without tuning.

    The same losses and penalties as :class:`SGDRegressor`, with full-batch or
    mini-batch descent, seven optimizers, learning-rate schedules, a step size
    derived from the data (``learning_rate="auto"``), feature standardization
    done inside the kernels (X is never copied), several targets in one pass,
    early stopping, a loss curve and a clear error when descent diverges.

    The objective, in the standardized coordinates when ``standardize=True``
    (as in a ``StandardScaler`` + model pipeline), is::

        sum_i s_i loss(x_i . w + b, y_i) / sum_i s_i
            + alpha * ((1 - l1_ratio) / 2 * ||w||_2^2 + l1_ratio * ||w||_1)

    ``coef_`` and ``intercept_`` are always reported in the original units.

    Parameters
    ----------
    loss : {"squared_error", "huber", "epsilon_insensitive", \
            "squared_epsilon_insensitive"}, default="squared_error"
        The loss; ``squared_error`` is half the squared residual.
    penalty : {"l2", "l1", "elasticnet", None}, default=None
        The regularization term (None: plain least squares / robust regression).
    alpha : float, default=0.0001
        Regularization strength (used when ``penalty`` is set).
    l1_ratio : float, default=0.15
        Elastic-net mixing: 0 is pure L2, 1 pure L1.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    batch_size : int or None, default=None
        None: full batch (one step per epoch over all rows). An integer k:
        mini-batches of k rows, reshuffled each epoch from ``random_state``;
        1 is per-sample descent.
    optimizer : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", \
            "adamw"}, default="nesterov"
        The update rule; each is one fused in-place pass over the parameters.
    learning_rate : {"auto", "constant", "invscaling", "optimal", "adaptive", \
            "step", "exponential", "cosine"}, default="auto"
        Step-size schedule. ``auto`` derives the step from the data: ``1 / L``
        with ``L`` the largest eigenvalue of the Hessian (power iteration; for
        mini-batches, the expected smoothness of a batch), scaled by the loss's
        curvature bound; decaying as ``1/sqrt(t)`` for the non-smooth
        ``epsilon_insensitive`` loss. The adaptive optimizers start at a tenth
        of the spread of ``y`` (RMSprop and Adam then decay as ``1/sqrt(t)``).
        With mini-batches, ``auto`` also divides the step by 5 whenever progress
        stalls for ``n_iter_no_change`` epochs, down to 1e-4 of its start. The others multiply
        ``eta0``: ``invscaling`` by ``t**-power_t``, ``step`` by
        ``gamma**(epoch // step_size)``, ``exponential`` by ``gamma**epoch``,
        ``cosine`` anneals to 0 at ``max_iter``, ``adaptive`` divides by 5 when
        progress stalls; ``optimal`` is ``1 / (alpha (t0 + t))`` (needs alpha > 0).
    eta0 : float, default=0.01
        Base step size of the schedules other than ``auto`` and ``optimal``.
    power_t : float, default=0.25
        Exponent of ``invscaling``.
    gamma : float, default=0.9
        Decay factor of ``step`` and ``exponential``.
    step_size : int, default=10
        Epochs between decays of ``step``.
    momentum : float or "auto", default="auto"
        Momentum of ``momentum`` and ``nesterov``. ``auto``: Nesterov's
        accelerated sequence with adaptive restart for full batches (optimal
        without knowing the conditioning), 0.9 for mini-batches. On the Gram
        path (``precompute``) with ``nesterov``, ``learning_rate="auto"`` and no
        averaging, the quadratic is solved exactly instead: conjugate gradient,
        or cyclic coordinate descent with an L1 term.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's first and second moment estimates.
    rho : float, default=0.9
        Decay rate of RMSprop's mean square.
    eps : float, default=1e-8
        Numerical stabilizer of Adagrad, RMSprop and Adam (not the loss's
        ``epsilon``).
    standardize : bool, default=True
        Standardize the features inside the kernels: ``(x - mean) / std`` is
        applied implicitly, X is never copied, and the coefficients are
        reported in the original units. The penalty applies to the
        standardized coefficients. With ``False`` the penalty applies to the
        raw coefficients; the default full-batch solver (on a cold start) then
        still works in coordinates that change no objective (standardized
        without a penalty, centred with one), so that features far from 0 or
        on extreme scales reach the optimum; other step rules run on the raw
        features.
    max_iter : int, default=10000
        Maximum number of epochs (full batch: steps).
    tol : float, None or "auto", default="auto"
        Stopping rule. Full batch with a smooth loss (not
        ``epsilon_insensitive``), no early stopping and no L1 term unless the
        Gram path solves exactly: stop when the norm of the smallest
        subgradient has fallen below ``tol`` times its value at zero
        coefficients (``auto``: 1e-8; 1e-12 for the exact solvers),
        or when the objective has not improved at all for
        ``10 * n_iter_no_change`` epochs. Otherwise: stop when the objective (or
        the validation score) has not improved by ``tol`` times its magnitude
        for ``n_iter_no_change`` epochs (``auto``: 1e-4). None disables the rule.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping.
    shuffle : bool, default=True
        Reshuffle the mini-batches each epoch.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and stop on their R^2.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    epsilon : float, default=0.1
        Width of the Huber and epsilon-insensitive losses.
    average : bool or int, default=False
        Return the average of the iterates (from the ``average``-th update on
        when an int).
    precompute : bool or "auto", default="auto"
        Full-batch squared error only: compute the centered Gram matrix of
        [X, y] in one pass and take each step in O(n_features^2) instead of a
        pass over X (the same iterates up to rounding, except that the defaults
        then solve exactly: see ``momentum``). ``auto`` does so when
        n_features <= 1024.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling and the validation split.
    warm_start : bool, default=False
        Start ``fit`` from the previous coefficients (optimizer state is reset).
    verbose : int, default=0
        Print epoch, objective, step size and elapsed time after each epoch.
    n_jobs : int, default=None
        Threads of the kernels (None: OpenMP's limit; -1: all cores); with two
        or more, a mini-batch epoch of 65,536 rows or more shuffles its order on
        a second thread, which on CSR data also copies each batch's rows ahead of
        the steps. Results do not depend on it.
    on_divergence : {"raise", "warn"}, default="raise"
        What a fit whose returned model is useless (mean training loss above
        ``1e6`` times a constant prediction's) does: raise
        :class:`DivergenceError`, leaving the estimator as it was, or keep the
        model with a :class:`DivergenceWarning`. Non-finite coefficients always
        raise.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Coefficients in the original units, in X's dtype.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept(s).
    n_iter_ : int
        Epochs run by the last ``fit`` / ``partial_fit``.
    t_ : int
        Parameter updates so far.
    loss_curve_ : list of float
        Training objective after each epoch of the last call.
    validation_scores_ : list of float or None
        Validation R^2 after each epoch when ``early_stopping``.
    learning_rate_ : float
        The base step size used (the one ``auto`` derived, or ``eta0``); NaN when
        conjugate gradient ran on passes (wide or sparse data), which takes no fixed step.
    feature_mean_, feature_scale_ : ndarray of shape (n_features,)
        The shift and scale of the descent's working coordinates: the
        implicit standardization; with ``standardize=False``, 0 and 1, except
        on a cold start of the default full-batch solver, which standardizes
        without a penalty and centres (scale 1) with one and an intercept,
        changing no objective (see ``standardize``).
    optimizer_state_ : dict
        Moments, step count and schedule position: what ``partial_fit`` resumes.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast import GDRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3) * [1, 100, 10000]  # very different scales: no problem
    >>> y = X @ [1.0, 0.02, 0.0003] + 1
    >>> reg = GDRegressor().fit(X, y)
    >>> bool(np.allclose(reg.coef_, [1.0, 0.02, 0.0003]))
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **LinearRegressorBase._parameter_constraints,
        **GDEngine._parameter_constraints,
        "precompute": ["boolean", StrOptions({"auto"})],
    }

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        penalty: str | None = None,
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        batch_size: int | None = None,
        optimizer: str = "nesterov",
        learning_rate: str = "auto",
        eta0: float = 0.01,
        power_t: float = 0.25,
        gamma: float = 0.9,
        step_size: int = 10,
        momentum: float | str = "auto",
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        rho: float = 0.9,
        eps: float = 1e-8,
        standardize: bool = True,
        max_iter: int = 10000,
        tol: float | str | None = "auto",
        n_iter_no_change: int = 5,
        shuffle: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        epsilon: float = 0.1,
        average: bool | int = False,
        precompute: bool | str = "auto",
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        n_jobs: int | None = None,
        on_divergence: str = "raise",
    ) -> None:
        self._store_params(locals())

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model by gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32/float64 in C or Fortran order and CSR are
            used in place.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets; several targets are fitted in one pass over X per step.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples.

        Returns
        -------
        self : GDRegressor
            The fitted estimator.

        Raises
        ------
        DivergenceError
            If the coefficients become NaN/inf, or (``on_divergence="raise"``,
            the default) the returned model is useless.
        """
        self._check_params()
        warm = self.warm_start and hasattr(self, "coef_")
        return self._fit(X, y, sample_weight, first_call=True, max_iter=self.max_iter, warm=warm)

    def _one_epoch(self, X, y, sample_weight, first_call: bool):
        return self._fit(X, y, sample_weight, first_call=first_call, max_iter=1, warm=False)

    def _fit(self, X, y, sample_weight, *, first_call: bool, max_iter: int, warm: bool):
        with unfitted_on_failure(self, first_call):
            return self._fit_checked(X, y, sample_weight, first_call, max_iter, warm)

    def _fit_checked(self, X, y, sample_weight, first_call, max_iter, warm):
        refuse_zero_features(self, X)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=True,
            reset=first_call,
            ensure_all_finite=False,  # the kernels' passes find NaN/inf (see _descend)
        )
        X = kernel_ready(X)
        fitted = None if first_call else self._dense_coef()
        if fitted is not None and (y.ndim == 2) != (fitted.ndim == 2):
            raise ValueError(
                f"y has {y.ndim} dimension(s) but the model was fitted with "
                f"{fitted.ndim}; partial_fit needs the same targets."
            )
        y2 = targets_as(y.reshape(y.shape[0], -1), X.dtype)
        n_features = X.shape[1]
        k = y2.shape[1]
        if fitted is not None and fitted.reshape(-1, n_features).shape[0] != k:
            raise ValueError(
                f"y has {k} targets but the model was fitted with "
                f"{fitted.reshape(-1, n_features).shape[0]}."
            )
        # None stays None: the kernels then weigh every row 1 without an array.
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        return self._descend(
            X,
            y2,
            k,
            sample_weight,
            first_call=first_call,
            max_iter=max_iter,
            warm=warm,
            multi=y.ndim == 2,
            split_on=y2,
        )

    # ------------------------------------------------------------------ the engine's hooks

    def _divergence_threshold(self, y_train, w_train) -> float:
        return divergence_threshold(y_train, self.loss, self.epsilon, w_train)

    def _y_spread(self, y_train) -> float:
        return float(np.max(np.std(y_train, axis=0)))

    def _best_constant(self, y_train, w_train) -> np.ndarray:
        return _weighted_mean(y_train, w_train)

    def _publish(self, coef, intercept, dtype, multi: bool) -> None:
        self.coef_ = (coef if multi else coef[0]).astype(dtype)
        self.intercept_ = intercept.astype(dtype) if multi else float(intercept[0])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _weighted_mean(y2: np.ndarray, sample_weight) -> np.ndarray:
    """Column means of y2 (weighted) in float64."""
    if sample_weight is None:
        return y2.mean(axis=0, dtype=np.float64)
    return np.average(y2.astype(np.float64, copy=False), axis=0, weights=sample_weight)
