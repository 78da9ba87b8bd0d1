"""The per-sample and mini-batch SGD drivers both SGD estimators run, and the
divergence checks around them."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from gdfast import _core
from gdfast._base import check_shared_params
from gdfast._config import resolve_n_jobs
from gdfast._divergence import (
    Advice,
    extent_loss_bound,
    judge_returned_model,
    label_loss_bound,
    raise_if_unrepresentable,
    raise_on_failure,
    returned_model_loss,
)
from gdfast._engine import EngineState, code, run_descent, run_per_sample, set_shared
from gdfast._validation import all_finite

# scikit-learn's learning-rate schedules (the engine has more; GDRegressor offers them).
LEARNING_RATES = ("constant", "optimal", "invscaling", "adaptive", "pa1", "pa2")

# scikit-learn's default width of the epsilon losses (its loss_functions table).
DEFAULT_EPSILON = 0.1
# scikit-learn damps intercept updates on sparse data by this factor...
SPARSE_INTERCEPT_DECAY = 0.01
# ...and caps the loss derivative, so that a blown-up step stays finite.
MAX_DLOSS = 1e12


class Start(NamedTuple):
    """Where a call starts: the plain and averaged parameters and t_."""

    coef: np.ndarray
    intercept: np.ndarray
    avg_coef: np.ndarray | None
    avg_intercept: np.ndarray | None
    t: float


class SGDEngine:
    """One run of scikit-learn's SGD on one target (one binary problem of a
    classifier): the epochs in C++, then the checks of what they returned.

    Uses the estimator's parameters (``loss``, ``penalty``, ``batch_size``, the
    schedule, ``average``, ``on_divergence``, ...).
    """

    # Early stopping's held-out score: accuracy (classifiers) or R^2.
    _scores_accuracy = False
    # The loss scikit-learn's passive-aggressive schedules (pa1, pa2) need.
    _pa_loss = "epsilon_insensitive"

    def _check_params(self, for_partial_fit: bool = False) -> None:
        """The rules that tie parameters together (scikit-learn's, same messages)."""
        self._check_sgd_params(for_partial_fit)

    def _check_sgd_params(self, for_partial_fit: bool) -> None:
        check_shared_params(self, for_partial_fit)
        if self.learning_rate in ("pa1", "pa2") and self.loss != self._pa_loss:
            raise ValueError(
                f"Learning rate '{self.learning_rate}' only works with loss '{self._pa_loss}'."
            )
        if self.learning_rate in ("pa1", "pa2") and self.batch_size != 1:
            raise ValueError(
                f"Learning rate '{self.learning_rate}' is a per-sample rule; it needs batch_size=1."
            )
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")

    def _l1_ratio(self) -> float:
        return 0.0 if self.l1_ratio is None else float(self.l1_ratio)

    def _run_epochs(
        self, X, y, sample_weight, validation, start: Start, max_iter, seed, threshold, n_threads
    ) -> dict:
        """The epochs from ``start`` on rows not flagged in ``validation``, on
        ``n_threads``; a DivergenceError if they failed. Returns the new
        parameters, the record, the new t_ and the divergence ``threshold``."""
        run = self._per_sample if self.batch_size == 1 else self._mini_batch
        # scikit-learn's rule: only non-finite coefficients stop a fit; with
        # on_divergence="raise" a step that stays hopeless stops it too.
        early = threshold if self.on_divergence == "raise" else float("inf")
        params = self._engine_params(max_iter, seed, early, sp.issparse(X), n_threads)
        out = run(X, y, sample_weight, validation, start, max_iter, params)
        name, advice = type(self).__name__, self._divergence_advice()
        raise_on_failure(name, out["record"], early, X, advice)
        epoch = out["record"].n_iter
        raise_if_unrepresentable(name, out["params"], X.dtype, epoch, early, X, advice)
        coef, intercept, avg_coef, avg_intercept = out["params"]
        out["params"] = (
            coef.astype(X.dtype),
            intercept,
            None if avg_coef is None else avg_coef.astype(X.dtype),
            avg_intercept,
        )
        out["threshold"] = threshold
        if self.verbose and out["record"].n_iter < max_iter:
            print(f"Convergence after {out['record'].n_iter} epochs.")
        return out

    def _judge_returned(
        self, X, y, returned, out: dict, final_check: bool, n_threads, row_norms=None
    ) -> None:
        """DivergenceWarning (or, for ``fit`` with on_divergence="raise",
        DivergenceError) when the returned model is useless; one pass of its
        loss over X, which also raises scikit-learn's error for NaN/inf in X. For labels
        +1/-1, the squared row norms' (mean, max) of a finite X skip that pass
        when the model's loss is bounded well below the threshold."""
        name = type(self).__name__
        if row_norms is not None:
            bound = label_loss_bound(*returned, row_norms, self.loss, self.epsilon)
        else:  # the rows' extent, when the first epoch measured every row
            bound = extent_loss_bound(out["record"], *returned, self.loss, self.epsilon)
        if bound < 0.5 * out["threshold"]:  # a margin for rounding
            return
        judge_returned_model(
            name,
            returned_model_loss(
                X, y[:, None], *returned, self.loss, self.epsilon, n_threads, name=name
            ),
            out["threshold"],
            X,
            self._divergence_advice(),
            out["record"].n_iter,
            raise_error=final_check and self.on_divergence == "raise",
        )

    def _engine_params(self, max_iter, seed, threshold, sparse, n_threads=None):
        """The settings both drivers share, as a struct of the driver to run, on
        ``n_threads`` (None: the estimator's n_jobs)."""
        P = _core.SgdParams() if self.batch_size == 1 else _core.GdParams()
        set_shared(
            P,
            self,
            l1_ratio=self._l1_ratio(),
            max_iter=max_iter,
            tol=self.tol,
            seed=seed,
            divergence_threshold=threshold,
            # the mini-batch passes; the shuffle of each epoch's order and the
            # copies of its CSR rows ahead (either driver)
            n_threads=resolve_n_jobs(self.n_jobs) if n_threads is None else n_threads,
        )
        # scikit-learn's stopping rule: an objective of exactly best - tol is progress.
        # A blow-up may recover within a fit's max_iter epochs (partial_fit: the
        # calls to come); only a step still hopeless by then is fatal.
        P.update(
            ties_progress=True,
            judge_at_end=True,
            divergence_horizon=self.max_iter,
            schedule=code("schedule", self.learning_rate),
            eta0=float(self.eta0),
            power_t=float(self.power_t),
            average=float(self.average),
            intercept_decay=SPARSE_INTERCEPT_DECAY if sparse else 1.0,
            score_accuracy=self._scores_accuracy,
        )
        return P

    def _per_sample(self, X, y, sample_weight, validation, start: Start, max_iter, params) -> dict:
        """scikit-learn's per-sample loop, in C++."""
        run = run_per_sample(
            X=X,
            y=y,
            sample_weight=sample_weight,
            validation=validation,
            coef=start.coef,
            intercept=float(start.intercept[0]),
            avg_coef=start.avg_coef,
            avg_intercept=0.0 if start.avg_intercept is None else float(start.avg_intercept[0]),
            t=float(start.t),
            params=params,
            verbose=bool(self.verbose),
        )
        averaging = run.avg_coef is not None
        return {
            "record": run.record,
            "params": (  # float64: _run_epochs publishes them in X's dtype
                run.coef,
                np.array([run.intercept]),
                run.avg_coef if averaging else None,
                np.array([run.avg_intercept]) if averaging else None,
            ),
            "t": start.t + run.record.n_iter * X.shape[0],
        }

    def _mini_batch(self, X, y, sample_weight, validation, start: Start, max_iter, params) -> dict:
        """Mini-batch SGD on the shared descent engine: the summed gradient of each
        batch (one fused pass), the same schedules and penalties, t_ counting samples."""
        params.update(
            batch_size=int(self.batch_size),
            min_lr_scale=1e-6 / float(self.eta0),  # scikit-learn: adaptive stops at eta 1e-6
            # The batch's summed gradient with t counting samples: an epoch moves
            # as far as scikit-learn's per-sample epoch, and eta0, the schedules
            # and tol keep their per-sample meaning.
            sum_gradient=True,
            derivative_clip=MAX_DLOSS,
            cosine_epochs=max_iter,
        )
        n_features = X.shape[1]
        state = EngineState.fresh(n_features + 1, bool(self.average))
        state.counters["step"] = float(start.t) - 1.0
        if start.avg_coef is not None:
            state.avg = np.concatenate([start.avg_coef, start.avg_intercept]).astype(np.float64)
        run = run_descent(
            X=X,
            y2=y[:, None],
            sample_weight=sample_weight,
            train_rows=None  # every row
            if validation is None
            else np.flatnonzero(validation == 0).astype(np.intp),
            val_rows=np.empty(0, dtype=np.intp)
            if validation is None
            else np.flatnonzero(validation).astype(np.intp),
            mean=np.zeros(n_features),
            scale=np.ones(n_features),
            V=np.asarray(start.coef, dtype=np.float64)[None, :],
            c=np.asarray(start.intercept, dtype=np.float64).reshape(1),
            state=state,
            params=params,
            verbose=bool(self.verbose),
        )
        avg = run.state.avg
        return {
            "record": run.record,
            "params": (  # float64: _run_epochs publishes them in X's dtype
                run.V[0].copy(),
                run.c.copy(),
                None if avg is None else avg[:n_features].copy(),
                None if avg is None else avg[n_features:].copy(),
            ),
            "t": 1.0 + run.state.counters["step"],
        }

    def _divergence_advice(self) -> Advice:
        scaled = f"standardize X (e.g. make_pipeline(StandardScaler(), {type(self).__name__}()))"
        if self.learning_rate == "optimal":
            return Advice(
                f"{scaled} or increase alpha (now {self.alpha}), which sets the optimal step size."
            )
        return Advice(f"{scaled} or lower eta0 (now {self.eta0}).")


def initial_params(value, shape: tuple, dtype, name: str) -> np.ndarray:
    """``coef_init`` / ``intercept_init`` of a first call, checked as scikit-learn
    checks them (and for NaN/inf), or zeros when not given."""
    if value is None:
        return np.zeros(shape, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    arr = arr.ravel() if name == "coef_init" else arr.reshape(1) if arr.shape == () else arr
    if arr.shape != shape:
        raise ValueError(f"Provided {name} does not match dataset.")
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity.")
    return arr
