"""gdfast.dask.SGDRegressor: SGDRegressor over dask collections."""

from __future__ import annotations

import numpy as np

from gdfast._base import EpochPrinter, unfitted_on_failure
from gdfast._divergence import judge_returned_model, raise_on_failure, threshold_of
from gdfast._engine import _loop
from gdfast._sgd import SGDRegressor as _InMemorySGDRegressor
from gdfast._sklearn_compat import _fit_context
from gdfast.dask._base import DaskLinearMixin, early_stopping_split
from gdfast.dask._collections import as_blocks, is_dask
from gdfast.dask._gd import constant_loss_references
from gdfast.dask._rounds import merge_running_means, run_rounds

# The fitted attributes a block's epoch starts from and returns.
_STATE = ("coef_", "intercept_", "t_", "n_features_in_")
_AVERAGE_STATE = ("_standard_coef", "_standard_intercept", "_average_coef", "_average_intercept")


class SGDRegressor(DaskLinearMixin, _InMemorySGDRegressor):
    """:class:`gdfast.SGDRegressor` for data on a Dask cluster.

    The same parameters, defaults and fitted attributes (NumPy arrays) as the
    in-memory estimator; NumPy, SciPy and pandas input is fitted in memory.

    On dask collections each epoch is a round of local epochs: every row block
    runs one native epoch (per-sample, or mini-batch with ``batch_size``) on
    its worker, all blocks in parallel, from the current model; the models are
    then averaged, weighted by rows, and ``tol`` / ``n_iter_no_change`` judge
    the row-weighted mean of the blocks' epoch objectives. ``t_`` advances by
    the number of rows per round, as one machine's epoch does. This is not the
    in-memory iterate sequence: each block sees its own rows only, and the
    average of models is not one model's path (on well-conditioned data it
    reaches the in-memory model's R² to about 1e-3). With ``early_stopping``,
    ceil(validation_fraction · rows) rows of every block are held out and the
    averaged model is scored on them on the cluster after each round.

    See :class:`gdfast.SGDRegressor` for the parameters and attributes.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit by rounds of local epochs on dask collections, or in memory.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features), or array-like
            Training data.
        y : dask array or dask Series of shape (n_samples,), or array-like
            Targets.
        coef_init : array-like of shape (n_features,), default=None
            Initial coefficients (a first call only, as in scikit-learn).
        intercept_init : array-like of shape (1,), default=None
            Initial intercept.
        sample_weight : dask array of shape (n_samples,), default=None
            Weights, chunked like y (rechunked if not).

        Returns
        -------
        self : SGDRegressor
            The fitted estimator.
        """
        if not is_dask(X):
            return super().fit(X, y, coef_init, intercept_init, sample_weight)
        self._check_params()
        warm = self.warm_start and getattr(self, "coef_", None) is not None
        first = {"coef_init": coef_init, "intercept_init": intercept_init}
        with unfitted_on_failure(self, not warm):
            self._fit_rounds(X, y, sample_weight, self.max_iter, not warm, first, True)
        if self.tol is not None and self.n_iter_ == self.max_iter:
            self._warn_max_iter(
                "Maximum number of iteration reached before convergence. Consider "
                "increasing max_iter to improve the fit."
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One round of local epochs on dask collections, or an epoch in memory.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        self : SGDRegressor
            The updated estimator.
        """
        if not is_dask(X):
            return super().partial_fit(X, y, sample_weight)
        first_call = getattr(self, "coef_", None) is None
        if first_call:
            self._check_params(for_partial_fit=True)
        first = {"coef_init": None, "intercept_init": None}
        with unfitted_on_failure(self, first_call):
            return self._fit_rounds(X, y, sample_weight, 1, first_call, first, False)

    # -------------------------------------------------- what the rounds call

    def _block_estimator(self, seed: int, step_scale: float) -> SGDRegressor:
        """The estimator a block's epoch runs on its worker (its in-memory
        epoch), with the adaptive schedule's current step."""
        params = self.get_params()
        params.update(
            random_state=seed,
            verbose=0,
            early_stopping=False,
            on_divergence="warn",
            eta0=self.eta0 * step_scale,
        )
        return type(self)(**params)

    def _first_block_epoch(self, X, y, w, *, coef_init, intercept_init):
        self._partial_fit(
            X,
            y,
            max_iter=1,
            sample_weight=w,
            coef_init=coef_init,
            intercept_init=intercept_init,
            first_call=True,
            t=1.0,
            final_check=False,
        )

    def _can_shrink(self, step_scale: float) -> bool:
        return self.eta0 * step_scale > 1e-6  # scikit-learn's floor of adaptive eta

    def _load_round_state(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _round_state(self) -> dict:
        names = _STATE + (_AVERAGE_STATE if self.average else ())
        return {name: getattr(self, name) for name in names if hasattr(self, name)}

    # ----------------------------------------------------------------- the fit

    def _fit_rounds(self, X, y, sample_weight, max_iter, first_call, first, final_check):
        blocks = as_blocks(X, y, sample_weight)
        if blocks.y.ndim != 1:
            raise ValueError(f"y should be a 1d array, got an array of shape {blocks.y.shape}.")
        if not first_call:
            self._check_features(blocks, reset=False)
        blocks, score = early_stopping_split(self, blocks)
        blocks = blocks.persisted()  # every round reads the blocks
        name = type(self).__name__
        references, _ = constant_loss_references(blocks, self.loss, self.epsilon, None)
        threshold = threshold_of(float(np.max(references)) / sum(blocks.X.chunks[0]))
        early = threshold if self.on_divergence == "raise" else float("inf")
        params = self._engine_params(max_iter, self._draw_seed(draws=2), early, False)
        state = None if first_call else self._round_state()
        if state is not None and final_check:
            # fit with warm_start restarts the schedule at t = 1, as in memory
            # (partial_fit goes on from t_).
            state["t_"] = 1.0

        def after_round(averaged: dict, previous: dict | None, parts: list) -> dict:
            start = 1.0 if previous is None else float(previous["t_"])
            out = {**averaged, "t_": start + sum(p.n_rows for p in parts)}
            if self.average:
                # Averaged SGD: the mean of all blocks' iterates, each once
                # (t_ - average iterates are in a running mean at t_).
                def count(t: float) -> float:
                    return max(0.0, t - float(self.average))

                before = count(start)
                counts = [count(start + p.n_rows) for p in parts]
                for name in ("_average_coef", "_average_intercept"):
                    mine = [p.state[name] for p in parts]
                    earlier = previous[name] if previous is not None else np.zeros_like(mine[0])
                    merged = merge_running_means(earlier, before, mine, counts)
                    if merged is not None:
                        out[name] = merged
                if self.average <= out["t_"] - 1.0:
                    out["coef_"] = out["_average_coef"]
                    out["intercept_"] = out["_average_intercept"]
            return out

        state, record = run_rounds(
            self,
            blocks,
            params=params,
            loop=_loop(params, bool(self.verbose), EpochPrinter),
            max_iter=max_iter,
            state=state,
            first=first,
            after_round=after_round,
            score=score,
        )
        raise_on_failure(name, record, early, None, self._divergence_advice())
        coef = np.asarray(state["coef_"])
        intercept = np.asarray(state["intercept_"], dtype=np.float64).reshape(1)
        judge_returned_model(
            name,
            self._mean_loss(blocks, coef[None, :], intercept, self.loss, self.epsilon),
            threshold,
            None,
            self._divergence_advice(),
            record.n_iter,
            raise_error=final_check and self.on_divergence == "raise",
        )
        self._load_round_state(state)
        if first_call:
            self._check_features(blocks, reset=True)
        self.n_iter_ = record.n_iter
        self.loss_curve_ = record.objectives
        self.validation_scores_ = record.validation_scores if self.early_stopping else None
        if self.verbose and record.n_iter < max_iter:
            print(f"Convergence after {record.n_iter} epochs.")
        return self
