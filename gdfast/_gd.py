"""GDRegressor: full-batch and mini-batch gradient descent that needs no tuning."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import MultiOutputMixin
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import validate_data

from gdfast import _core
from gdfast._base import LinearRegressorBase, refuse_zero_features, targets_as, unfitted_on_failure
from gdfast._config import resolve_n_jobs
from gdfast._divergence import (
    Advice,
    divergence_threshold,
    judge_returned_model,
    raise_on_failure,
    returned_model_loss,
)
from gdfast._engine import (
    EngineState,
    code,
    run_descent,
    set_shared,
    standardization,
    starts_at_best_constant,
    to_original,
    to_working,
)
from gdfast._sklearn_compat import Interval, StrOptions, _check_sample_weight, _fit_context
from gdfast._validation import kernel_ready

# Every schedule of the engine but the per-sample passive-aggressive rules, and "auto".
SCHEDULES = {name for name in _core.CODES["schedule"] if name not in ("pa1", "pa2")} | {"auto"}

# tol="auto": full-batch descent on a smooth objective stops when the gradient
# has shrunk by this factor (enough for a 1e-6 relative gap even at condition
# number ~1e6); otherwise, when the objective improves by less than this
# relative amount for n_iter_no_change epochs.
AUTO_TOL_GRADIENT = 1e-8
# The exact solvers on the co-moments: a gradient 1e12 times smaller (the
# rule's other exit, 10 n_iter_no_change steps without a decrease, ends it there).
AUTO_TOL_QUADRATIC = 1e-12
AUTO_TOL_OBJECTIVE = 1e-4
# GDRegressor parameters that are engine fields of the same name and meaning.
ADOPTED = ("beta_1", "beta_2", "rho", "eps", "power_t", "gamma", "step_size")
# precompute="auto": the co-moments path up to this many features.
GRAM_MAX_FEATURES = 1024


class GDRegressor(MultiOutputMixin, LinearRegressorBase):
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
        standardized coefficients.
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
        Threads of the kernels (None: OpenMP's limit; -1: all cores). Results
        do not depend on it.
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
        The implicit standardization (0 and 1 when ``standardize=False``).
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
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "optimizer": [StrOptions(set(_core.CODES["optimizer"]))],
        "learning_rate": [StrOptions(SCHEDULES)],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, 1, closed="right")],
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"})],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "rho": [Interval(Real, 0, 1, closed="left")],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "standardize": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"}), None],
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

    def _check_params(self, for_partial_fit: bool = False) -> None:
        self._check_shared_params(for_partial_fit)
        if self.learning_rate == "optimal" and self.penalty is None:
            raise ValueError(
                "learning_rate='optimal' is 1 / (alpha (t0 + t)): it needs a penalty with "
                "alpha > 0."
            )

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
            ensure_all_finite=False,  # the kernels' passes find NaN/inf (see below)
        )
        X = kernel_ready(X)
        if not first_call and (y.ndim == 2) != (self.coef_.ndim == 2):
            raise ValueError(
                f"y has {y.ndim} dimension(s) but the model was fitted with "
                f"{self.coef_.ndim}; partial_fit needs the same targets."
            )
        multi = y.ndim == 2
        y2 = targets_as(y.reshape(y.shape[0], -1), X.dtype)
        n_samples, n_features = X.shape
        k = y2.shape[1]
        if not first_call and self.coef_.reshape(-1, n_features).shape[0] != k:
            raise ValueError(
                f"y has {k} targets but the model was fitted with "
                f"{self.coef_.reshape(-1, n_features).shape[0]}."
            )
        # None stays None: the kernels then weigh every row 1 without an array.
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        threads = resolve_n_jobs(self.n_jobs)
        full_batch = self.batch_size is None or self.batch_size >= n_samples

        split = self._validation_split(y2, sample_weight)
        if split is None:
            train_rows, val_rows = np.arange(n_samples, dtype=np.intp), np.empty(0, dtype=np.intp)
        else:
            train_rows, val_rows = split
        seed = self._draw_seed()
        all_rows = split is None
        y_train = y2 if all_rows else y2[train_rows]
        w_train = None if sample_weight is None or all_rows else sample_weight[train_rows]
        params = self._engine_params(
            n_features,
            full_batch,
            max_iter,
            seed,
            threads,
            divergence_threshold(y_train, self.loss, self.epsilon, w_train),
            float(np.max(np.std(y_train, axis=0))),
        )
        # NaN/inf in X shows in the co-moments (which hold every training row),
        # or in the returned-model pass (every row): raise_on_failure and
        # returned_model_loss then give scikit-learn's error. Held-out rows on
        # the co-moments path are in neither: checked here.
        if params.use_gram and split is not None:
            assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)

        if first_call:
            # A cold start on the co-moments takes the standardization from
            # them (the engine fills mean and scale): X is read once.
            from_moments = bool(self.standardize and params.use_gram and not warm)
            params.update(standardize_from_moments=from_moments, center=self.fit_intercept)
            if self.standardize and not from_moments:
                mean, scale = standardization(
                    X, train_rows, sample_weight, threads, center=self.fit_intercept
                )
            else:
                mean, scale = np.zeros(n_features), np.ones(n_features)
            best_constant = _weighted_mean(y2, sample_weight, None if all_rows else train_rows)
            V, c, state = self._starting_point(warm, k, mean, scale, best_constant)
        else:
            mean, scale = self.feature_mean_, self.feature_scale_
            V, c, state = self._working_coef, self._working_intercept, self._engine_state

        threshold = self._arm_divergence(params)
        run = run_descent(
            X=X,
            y2=y2,
            sample_weight=sample_weight,
            train_rows=train_rows,
            val_rows=val_rows,
            mean=mean,
            scale=scale,
            V=V,
            c=c,
            state=state,
            params=params,
            verbose=bool(self.verbose),
            show_step=True,
        )

        def final_loss_of(coef, intercept):
            return returned_model_loss(
                X,
                y2,
                coef,
                intercept,
                self.loss,
                self.epsilon,
                threads,
                sample_weight,
                name=type(self).__name__,
            )

        return self._commit(
            run, params, threshold, mean, scale, multi, X.dtype, max_iter, final_loss_of, X
        )

    def _starting_point(self, warm: bool, k: int, mean, scale, best_constant: np.ndarray):
        """Working coordinates and a fresh optimizer state for a first call: the
        model to resume (warm), else zeros (the intercepts at the best constant
        where descent starts there)."""
        n_features = mean.shape[0]
        if warm:
            coef0 = np.asarray(self.coef_, dtype=np.float64).reshape(k, n_features)
            intercept0 = np.asarray(self.intercept_, dtype=np.float64).reshape(k)
            V, c = to_working(coef0, intercept0, mean, scale)
        else:
            V, c = np.zeros((k, n_features)), np.zeros(k)
            if starts_at_best_constant(self.loss, self.fit_intercept, self.optimizer):
                c = np.array(best_constant, dtype=np.float64)
        return V, c, EngineState.fresh(k * n_features + k, bool(self.average))

    def _arm_divergence(self, params: _core.GdParams) -> float:
        """The divergence threshold; the engine stops a blown-up run early only
        when on_divergence='raise'."""
        threshold = params.divergence_threshold
        early = threshold if self.on_divergence == "raise" else float("inf")
        params.update(divergence_threshold=early)
        return threshold

    def _commit(
        self, run, params, threshold, mean, scale, multi, dtype, max_iter, final_loss_of, X
    ):
        """Raise for a failed run, else set the fitted attributes from it.

        ``final_loss_of(coef, intercept)`` is the mean training loss of a model
        (a pass over the data), needed when the run did not return it; X (or
        None) is what the error messages quote the scale of.
        """
        name = type(self).__name__
        raise_on_failure(
            name, run.record, params.divergence_threshold, X, self._divergence_advice()
        )
        new_state = run.state
        V_new, c_new = run.V, run.c
        k, n_features = V_new.shape
        if (
            self.average
            and new_state.avg is not None
            and self.average <= new_state.counters["step"]
        ):
            V_report = new_state.avg[: k * n_features].reshape(k, n_features)
            c_report = new_state.avg[k * n_features :]
        else:
            V_report, c_report = V_new, c_new
        coef, intercept = to_original(V_report, c_report, mean, scale)
        if not self.fit_intercept:
            intercept = np.zeros(k)
        final_loss = run.record.final_loss  # from the co-moments, when the fit had them
        if V_report is not V_new or not np.isfinite(final_loss):
            final_loss = final_loss_of(coef, intercept)
        judge_returned_model(
            name,
            final_loss,
            threshold,
            X,
            self._divergence_advice(),
            run.record.n_iter,
            raise_error=max_iter > 1 and self.on_divergence == "raise",
        )
        self.feature_mean_, self.feature_scale_ = mean, scale
        self._working_coef, self._working_intercept = V_new, c_new
        self._engine_state = new_state
        self.coef_ = (coef if multi else coef[0]).astype(dtype)
        self.intercept_ = intercept.astype(dtype) if multi else float(intercept[0])
        self.n_iter_ = run.record.n_iter
        self.t_ = int(new_state.counters["step"])
        self.loss_curve_ = run.record.objectives
        self.validation_scores_ = run.record.validation_scores if self.early_stopping else None
        self.learning_rate_ = float(
            new_state.counters["base_lr"] if params.auto_lr else params.eta0
        )
        if params.cg_on_passes and not new_state.counters["base_lr"]:
            self.learning_rate_ = float("nan")  # conjugate gradient takes no fixed step
        self.optimizer_state_ = {
            "m1": new_state.m1,
            "m2": new_state.m2,
            "average": new_state.avg,
            **new_state.counters,
        }
        if max_iter > 1 and params.tol > -np.inf and self.n_iter_ == max_iter:
            self._warn_max_iter(
                f"{name} reached max_iter={max_iter} before the objective "
                "stopped improving; increase max_iter (or tol)."
            )
        return self

    def _uses_gram(self, n_features: int, full_batch: bool) -> bool:
        """Whether the descent runs on the co-moments of [X, y] (precompute)."""
        precompute = self.precompute
        if precompute == "auto":
            precompute = n_features <= GRAM_MAX_FEATURES
        return bool(precompute and full_batch and self.loss == "squared_error")

    def _engine_params(
        self,
        n_features: int,
        full_batch: bool,
        max_iter: int,
        seed: int,
        threads: int,
        threshold: float,
        y_spread: float,
    ) -> _core.GdParams:
        """The engine's parameters; ``threshold`` is the divergence threshold of
        the training targets, ``y_spread`` their largest standard deviation."""
        use_gram = self._uses_gram(n_features, full_batch)
        # On the co-moments the smooth part is quadratic: the defaults solve it
        # (conjugate gradient, or coordinate descent with an L1 term), to rounding
        # level with tol="auto".
        defaults = (
            self.optimizer == "nesterov"
            and self.momentum == "auto"
            and self.learning_rate == "auto"
            and not self.average
        )
        solve_on_gram = use_gram and defaults
        l1_term = self.penalty in ("l1", "elasticnet")
        # Without the co-moments (wide or sparse data) the same conjugate
        # gradient runs on passes: one for the gradient, one for H d.
        cg_on_passes = bool(
            defaults
            and full_batch
            and not use_gram
            and self.loss == "squared_error"
            and not (l1_term and self.alpha > 0)
        )
        # The gradient rule measures the smallest subgradient; with an L1 term
        # only the exact solver drives it to zero reliably.
        smooth = self.loss in _core.SMOOTH_LOSSES and (not l1_term or solve_on_gram)
        gradient_rule = full_batch and smooth and not self.early_stopping
        tol = self.tol
        if tol == "auto":
            tol = AUTO_TOL_GRADIENT if gradient_rule else AUTO_TOL_OBJECTIVE
            if solve_on_gram and gradient_rule:
                tol = AUTO_TOL_QUADRATIC
        P = set_shared(
            _core.GdParams(),
            self,
            l1_ratio=self.l1_ratio,
            max_iter=max_iter,
            tol=tol,
            seed=seed,
            divergence_threshold=threshold,
        )
        # Taken as they are; the engine's fields have the estimator's names.
        P.update({name: getattr(self, name) for name in ADOPTED})
        P.update(
            tol_relative=True,
            n_threads=threads,
            cosine_epochs=self.max_iter,
            divergence_horizon=self.max_iter,
            gradient_rule=gradient_rule,
            optimizer=code("optimizer", self.optimizer),
            batch_size=0 if full_batch else int(self.batch_size),
            momentum=0.9 if self.momentum == "auto" else float(self.momentum),
            momentum_restart=self.momentum == "auto" and full_batch,
            eta0=float(self.eta0),
            average=float(self.average),
        )
        if self.learning_rate == "auto":
            if self.optimizer in ("adagrad", "rmsprop", "adam", "adamw"):
                # Coordinate-wise normalized steps move each parameter by about
                # the step size: start at a tenth of the spread of y. Adagrad's
                # accumulator already shrinks its steps; the others decay as 1/sqrt(t).
                P.eta0 = 0.1 * (y_spread or 1.0)
                if self.optimizer != "adagrad":
                    P.update(schedule=code("schedule", "invscaling"), power_t=0.5)
            else:
                P.auto_lr = True
                if self.loss not in _core.SMOOTH_LOSSES:  # subgradient steps decay
                    P.update(schedule=code("schedule", "invscaling"), power_t=0.5)
            if not full_batch:
                # Mini-batch noise: when progress stalls, shrink the step fivefold
                # (down to 1e-4 of the start) instead of stopping.
                P.update(schedule=code("schedule", "adaptive"), min_lr_scale=1e-4)
        else:
            P.schedule = code("schedule", self.learning_rate)
        P.update(use_gram=use_gram, solve_on_gram=solve_on_gram, cg_on_passes=cg_on_passes)
        return P

    def _divergence_advice(self) -> Advice:
        if self.learning_rate == "auto":
            # The step comes from the data: what overflows is the arithmetic.
            return Advice(
                "rescale X and y" + ("." if self.standardize else " or set standardize=True."),
                cause="The values of X or y are too large for double precision (their "
                "squares and products overflow beyond 1e308)",
            )
        return Advice(
            "lower eta0 (now {}) or use learning_rate='auto'{}.".format(
                self.eta0, "" if self.standardize else " and standardize=True"
            )
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _weighted_mean(y2: np.ndarray, sample_weight, rows) -> np.ndarray:
    """Column means of y2 (weighted) in float64, over ``rows`` (None: all)."""
    if rows is not None:
        y2 = y2[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    if sample_weight is None:
        return y2.mean(axis=0, dtype=np.float64)
    return np.average(y2.astype(np.float64, copy=False), axis=0, weights=sample_weight)
