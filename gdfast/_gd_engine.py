"""The full-batch and mini-batch descent engine of GDRegressor and GDClassifier:
from validated targets to fitted attributes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.utils import assert_all_finite

from gdfast import _core
from gdfast._config import resolve_n_jobs
from gdfast._divergence import (
    Advice,
    extent_loss_bound,
    judge_returned_model,
    raise_if_unrepresentable,
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
from gdfast._sklearn_compat import Interval, StrOptions

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
# Quasi-Newton steps (GDClassifier's defaults) converge superlinearly near the
# optimum: a gradient 1e7 times smaller is well past a 1e-6 relative gap.
AUTO_TOL_QUASI_NEWTON = 1e-7
# GDRegressor parameters that are engine fields of the same name and meaning.
ADOPTED = ("beta_1", "beta_2", "rho", "eps", "power_t", "gamma", "step_size")
# precompute="auto": the co-moments path up to this many features.
GRAM_MAX_FEATURES = 1024


def _warn_underflowed_features(name: str, mean: np.ndarray, scale: np.ndarray) -> None:
    """A warning for features whose spread reads as 0 (scale 1: constant)
    although their mean is not 0 but tiny (below 1e-145): values so small
    (below about 1e-160) that their squares underflow, which the fit treats
    as constant instead of fitting them."""
    tiny = (scale == 1.0) & (mean != 0.0) & (np.abs(mean) < 1e-145)
    if not tiny.any():
        return
    where = np.flatnonzero(tiny)
    shown = ", ".join(str(j) for j in where[:5]) + (" ..." if len(where) > 5 else "")
    warnings.warn(
        f"{name}: feature(s) {shown} hold values of about {abs(mean[where[0]]):.1e}, so "
        "small that their squares underflow: their spread reads as 0 and they are "
        "treated as constant (left out of the model). Multiply X by a large constant "
        "(e.g. 1e150) before fitting.",
        UserWarning,
        stacklevel=3,
    )


class GDEngine:
    """Descent for a gdfast GD estimator.

    The estimator provides its parameters and, for its targets, the
    divergence threshold (``_divergence_threshold``), the best constant to start
    the intercepts at (``_best_constant``, or None), the spread of the targets
    (``_y_spread``) and how the fitted model is published (``_publish``).
    """

    # The parameter rules of the engine's own parameters.
    _parameter_constraints: ClassVar[dict] = {
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
    }
    # Whether smooth full-batch fits with the defaults step in the metric of
    # the curvature bound (GDClassifier); GDRegressor's squared error is solved
    # exactly on the co-moments instead.
    _preconditions = False
    # Early stopping scores accuracy (classifiers) rather than R^2.
    _scores_accuracy = False

    @property
    def _engine_loss(self) -> str:
        """The kernels' name of the loss descent minimizes."""
        return self.loss

    @property
    def _loss_epsilon(self) -> float:
        """The width of the loss (huber, the insensitive losses)."""
        return float(self.epsilon)

    def _check_params(self, for_partial_fit: bool = False) -> None:
        self._check_shared_params(for_partial_fit)
        if self.learning_rate == "optimal" and self.penalty is None:
            raise ValueError(
                "learning_rate='optimal' is 1 / (alpha (t0 + t)): it needs a penalty with "
                "alpha > 0."
            )

    def _descend(self, X, y2, k, sample_weight, *, first_call, max_iter, warm, multi, split_on):
        """Fit from validated, kernel-ready X and the engine's targets y2 (n, k)
        (n class indices for the multinomial) for k outputs: the validation
        split (of ``split_on``), the standardization, the descent, the checks of
        its result, and the fitted attributes."""
        n_samples, n_features = X.shape
        threads = resolve_n_jobs(self.n_jobs)
        full_batch = self.batch_size is None or self.batch_size >= n_samples

        split = self._validation_split(split_on, sample_weight)
        if split is None:
            train_rows, val_rows = None, np.empty(0, dtype=np.intp)  # None: every row
        else:
            train_rows, val_rows = split
        seed = self._draw_seed()
        all_rows = split is None
        y_train = y2 if all_rows else y2[train_rows]
        w_train = sample_weight if sample_weight is None or all_rows else sample_weight[train_rows]
        params = self._engine_params(
            n_features,
            full_batch,
            max_iter,
            seed,
            threads,
            self._divergence_threshold(y_train, w_train),
            lambda: self._y_spread(y_train),
        )
        # NaN/inf in X shows in the co-moments (which hold every training row),
        # or in the returned-model pass (every row): raise_on_failure and
        # returned_model_loss then give scikit-learn's error. Held-out rows on
        # the co-moments path are in neither: checked here.
        if (params.use_gram or params.precondition) and split is not None:
            assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)

        if first_call:
            # A cold start on the co-moments takes the standardization from
            # them (the engine fills mean and scale): X is read once.
            working = self._working_coordinates(params, warm)
            standardize = working == "standardize"
            from_moments = bool(standardize and params.use_gram and not warm)
            params.update(
                standardize_from_moments=from_moments,
                center=self.fit_intercept,
                center_raw=working == "center",
            )
            if standardize and not from_moments:
                mean, scale = standardization(
                    X, train_rows, sample_weight, threads, center=self.fit_intercept
                )
            else:
                mean, scale = np.zeros(n_features), np.ones(n_features)
            V, c, state = self._starting_point(
                warm, k, mean, scale, self._best_constant(y_train, w_train)
            )
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
                self._engine_loss,
                self._loss_epsilon,
                threads,
                sample_weight,
                name=type(self).__name__,
            )

        return self._commit(
            run,
            params,
            threshold,
            mean,
            scale,
            multi,
            X.dtype,
            max_iter,
            final_loss_of,
            X,
            y2 if self._engine_loss in _core.REGRESSION_LOSSES else None,  # (not labels)
        )

    def _starting_point(self, warm: bool, k: int, mean, scale, best_constant):
        """Working coordinates and a fresh optimizer state for a first call: the
        model to resume (warm), else zeros (the intercepts at the best constant
        where descent starts there)."""
        n_features = mean.shape[0]
        if warm:
            fitted = self._dense_coef()
            shape = fitted.shape
            if fitted.size != k * n_features or np.size(self.intercept_) != k:
                raise ValueError(
                    f"warm_start=True resumes the previous fit, whose coef_ has shape {shape}; "
                    f"this fit has {n_features} features and {k} output(s). Set "
                    "warm_start=False (or use a new estimator) to fit data of another shape."
                )
            coef0 = np.asarray(fitted, dtype=np.float64).reshape(k, n_features)
            intercept0 = np.asarray(self.intercept_, dtype=np.float64).reshape(k)
            V, c = to_working(coef0, intercept0, mean, scale)
        else:
            V, c = np.zeros((k, n_features)), np.zeros(k)
            if best_constant is not None and starts_at_best_constant(
                self._engine_loss, self.fit_intercept, self.optimizer
            ):
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
        self, run, params, threshold, mean, scale, multi, dtype, max_iter, final_loss_of, X, y=None
    ):
        """Raise for a failed run, else set the fitted attributes from it.

        ``final_loss_of(coef, intercept)`` is the mean training loss of a model
        (a pass over the data), needed when the run did not return it; X and y
        (or None) are what the error messages quote the scale of.
        """
        name = type(self).__name__
        advice = self._divergence_advice(y)
        raise_on_failure(name, run.record, params.divergence_threshold, X, advice)
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
        raise_if_unrepresentable(
            name,
            (coef, intercept),
            dtype,
            run.record.n_iter,
            threshold,
            X,
            advice,
        )
        final_loss = run.record.final_loss  # from the co-moments, when the fit had them
        if V_report is not V_new or not np.isfinite(final_loss):
            # Mini-batches measured every row: a loss bounded well below the
            # threshold needs no pass (a finite extent: X holds no NaN/inf).
            bound = extent_loss_bound(
                run.record, coef, intercept, self._engine_loss, self._loss_epsilon
            )
            final_loss = bound if bound < 0.5 * threshold else final_loss_of(coef, intercept)
        judge_returned_model(
            name,
            final_loss,
            threshold,
            X,
            advice,
            run.record.n_iter,
            raise_error=max_iter > 1 and self.on_divergence == "raise",
        )
        self.feature_mean_, self.feature_scale_ = mean, scale
        _warn_underflowed_features(name, mean, scale)
        self._working_coef, self._working_intercept = V_new, c_new
        self._engine_state = new_state
        self._publish(coef, intercept, dtype, multi)
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
        if not final_loss > threshold:  # (a useless model has warned already)
            self._warn_if_ended_above_best(params)
        return self

    def _warn_if_ended_above_best(self, params: _core.GdParams) -> None:
        """A ConvergenceWarning when a full-batch fit of a smooth loss (whose
        objective is exact, not a mini-batch's noise, and whose descent steps
        are meant to descend, unlike subgradient steps) returns a model clearly
        worse than one it passed: steps that overshoot, e.g. a fixed momentum
        too large."""
        curve = self.loss_curve_
        if params.batch_size != 0 or len(curve) < 2:
            return
        if self._engine_loss not in _core.SMOOTH_LOSSES:
            return
        best = int(np.argmin(curve))
        if curve[-1] - curve[best] <= 1e-3 * abs(curve[best]) + 1e-9 * abs(curve[0]):
            return
        remedy = "a smaller learning_rate"
        if self.momentum != "auto":
            remedy = 'momentum="auto" (which restarts when the objective rises) or ' + remedy
        self._warn_max_iter(
            f"{type(self).__name__}'s training objective ended at {curve[-1]:.6g}, above the "
            f"{curve[best]:.6g} it reached at epoch {best + 1}: the steps overshoot, and the "
            f"model returned is the last one. Use {remedy}."
        )

    def _working_coordinates(self, params: _core.GdParams, warm: bool) -> str | None:
        """How the descent's working coordinates shift and scale the features
        (``feature_mean_``, ``feature_scale_``): "standardize" (the means and
        standard deviations; root mean squares without an intercept), "center"
        (the means, scale 1; the engine takes them from its first pass) or None
        (the raw features).

        ``standardize=True`` standardizes. Without it, a cold start of the
        default full-batch solver (whose iterates are its own business) still
        changes coordinates where that changes no objective: without a penalty
        it standardizes (the optimum is the same in any coordinates); with one
        and an intercept it centers (the penalty is on the coefficients either
        way, the shift moves into the intercept). Features far from 0, whose
        intercept couples with them, or on extreme scales then no longer stall
        the solvers."""
        if self.standardize:
            return "standardize"
        if warm or params.batch_size != 0 or not self._default_solver():
            return None
        if self.penalty is None or self.alpha == 0:
            return "standardize"
        return "center" if self.fit_intercept else None

    def _default_solver(self) -> bool:
        """Whether the step rule is the defaults' (nesterov, momentum and step
        size "auto", no averaging): the one the exact and quasi-Newton solvers
        replace on a full batch."""
        return (
            self.optimizer == "nesterov"
            and self.momentum == "auto"
            and self.learning_rate == "auto"
            and not self.average
        )

    def _uses_gram(self, n_features: int, full_batch: bool) -> bool:
        """Whether the descent runs on the co-moments of [X, y] (precompute)."""
        if self._engine_loss != "squared_error":
            return False
        precompute = self.precompute
        if precompute == "auto":
            precompute = n_features <= GRAM_MAX_FEATURES
        return bool(precompute and full_batch)

    def _engine_params(
        self,
        n_features: int,
        full_batch: bool,
        max_iter: int,
        seed: int,
        threads: int,
        threshold: float,
        y_spread: Callable[[], float],
    ) -> _core.GdParams:
        """The engine's parameters; ``threshold`` is the divergence threshold of
        the training targets, ``y_spread()`` their largest standard deviation
        (a pass over them: called only when the step size needs it)."""
        use_gram = self._uses_gram(n_features, full_batch)
        # On the co-moments the smooth part is quadratic: the defaults solve it
        # (conjugate gradient, or coordinate descent with an L1 term), to rounding
        # level with tol="auto".
        defaults = self._default_solver()
        solve_on_gram = use_gram and defaults
        l1_term = self.penalty in ("l1", "elasticnet")
        l1_active = l1_term and self.alpha > 0
        # Without the co-moments (wide or sparse data) the same conjugate
        # gradient runs on passes: one for the gradient, one for H d.
        cg_on_passes = bool(
            defaults
            and full_batch
            and not use_gram
            and self._engine_loss == "squared_error"
            and not l1_active
        )
        # The gradient rule measures the smallest subgradient; with an L1 term
        # only the exact solver drives it to zero reliably.
        smooth = self._engine_loss in _core.SMOOTH_LOSSES and (not l1_term or solve_on_gram)
        gradient_rule = full_batch and smooth and not self.early_stopping
        # Smooth full-batch descent with the defaults, no L1 term: quasi-Newton
        # steps in the metric of the loss's curvature bound (from the co-moments
        # of a sample of rows), with a line search.
        precondition = bool(
            self._preconditions
            and defaults
            and full_batch
            and self._engine_loss in _core.SMOOTH_LOSSES
            and not l1_active
            and n_features <= GRAM_MAX_FEATURES
        )
        tol = self.tol
        if tol == "auto":
            tol = AUTO_TOL_GRADIENT if gradient_rule else AUTO_TOL_OBJECTIVE
            if solve_on_gram and gradient_rule:
                tol = AUTO_TOL_QUADRATIC
            if precondition and gradient_rule:
                tol = AUTO_TOL_QUASI_NEWTON
        P = set_shared(
            _core.GdParams(),
            self,
            l1_ratio=self.l1_ratio,
            max_iter=max_iter,
            tol=tol,
            seed=seed,
            divergence_threshold=threshold,
            loss=code("loss", self._engine_loss),
            epsilon=self._loss_epsilon,
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
                P.eta0 = 0.1 * (y_spread() or 1.0)
                if self.optimizer != "adagrad":
                    P.update(schedule=code("schedule", "invscaling"), power_t=0.5)
            else:
                P.auto_lr = True
                if self._engine_loss not in _core.SMOOTH_LOSSES:  # subgradient steps decay
                    P.update(schedule=code("schedule", "invscaling"), power_t=0.5)
            if not full_batch:
                # Mini-batch noise: when progress stalls, shrink the step fivefold
                # (down to 1e-4 of the start) instead of stopping.
                P.update(schedule=code("schedule", "adaptive"), min_lr_scale=1e-4)
        else:
            P.schedule = code("schedule", self.learning_rate)
        P.update(
            use_gram=use_gram,
            solve_on_gram=solve_on_gram,
            cg_on_passes=cg_on_passes,
            precondition=precondition,
            score_accuracy=self._scores_accuracy,
        )
        return P

    def _divergence_advice(self, y=None) -> Advice:
        if self.learning_rate == "auto":
            # The step comes from the data: what overflows is the arithmetic.
            largest = ""
            if y is not None and np.size(y):
                with np.errstate(all="ignore"):
                    largest = f"; the largest |target| is {float(np.max(np.abs(y))):.3g}"
            return Advice(
                "rescale X and y" + ("." if self.standardize else " or set standardize=True."),
                cause="The values of X or y are too large for double precision (their "
                f"squares and products overflow beyond 1e308{largest})",
            )
        return Advice(
            "lower eta0 (now {}) or use learning_rate='auto'{}.".format(
                self.eta0, "" if self.standardize else " and standardize=True"
            )
        )
