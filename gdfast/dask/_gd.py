"""gdfast.dask.GDRegressor: GDRegressor over dask collections."""

from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np

from gdfast import _core
from gdfast._base import EpochPrinter, unfitted_on_failure
from gdfast._config import resolve_n_jobs
from gdfast._divergence import threshold_of
from gdfast._engine import DescentRun, EngineState, RemoteRows, _loop, run_descent, to_original
from gdfast._gd import GDRegressor as _InMemoryGDRegressor
from gdfast._gd_engine import GRAM_MAX_FEATURES
from gdfast._sklearn_compat import _fit_context
from gdfast.dask._base import DaskLinearMixin, early_stopping_split
from gdfast.dask._blocks import (
    PROBLEMS,
    ColumnStats,
    Moments,
    add_sums,
    block_column_stats,
    block_constant_losses,
    block_loss_grad,
    block_moments,
    reduce_blocks,
    tree_sum,
)
from gdfast.dask._collections import Blocks, as_blocks, is_dask
from gdfast.dask._rounds import merge_running_means, run_rounds


def _raise_problem(stats) -> None:
    if stats.problem:
        raise ValueError(f"{PROBLEMS[stats.problem]} (found in a block on the cluster).")


def squared_error_threshold(n: int, y_sum, y_sq, mean) -> float:
    """The divergence threshold of squared error (``divergence_threshold``'s
    reference: the larger mean loss of predicting 0 and the weighted mean of y,
    over rows and targets) from the sums of y and y^2."""
    k = len(y_sum)
    at_zero = y_sq.sum() / 2
    at_mean = (y_sq - 2 * mean * y_sum + n * mean * mean).sum() / 2
    return threshold_of(max(at_zero, at_mean) / (n * k))


def constant_loss_references(blocks: Blocks, loss: str, epsilon: float, y_mean):
    """The summed losses of predicting 0 and ``y_mean`` (None: the unweighted
    mean of y, from a pass over y) over the rows and targets of y; and that
    mean. ``divergence_threshold``'s references, from passes over y only."""
    ys = blocks.y.to_delayed().ravel()
    if y_mean is None:
        sums = [dask.delayed(_sum_rows, pure=True)(yb) for yb in ys]
        (total,) = dask.compute(tree_sum(sums, np.add))
        y_mean = total / blocks.n_samples
    code = _core.CODES["loss"][loss]
    parts = [
        dask.delayed(block_constant_losses, pure=True)(
            yb, np.atleast_1d(y_mean), code, float(epsilon)
        )
        for yb in ys
    ]
    (references,) = dask.compute(tree_sum(parts, np.add))
    return references, y_mean


def _sum_rows(y) -> np.ndarray:
    return np.atleast_1d(np.asarray(y, dtype=np.float64).sum(axis=0))


def _round_state(n_features, mean, scale, coef, intercept, V, c, state: EngineState) -> dict:
    """What a block's mini-batch epoch starts from and returns: the fitted
    attributes of GDRegressor, the engine state flattened (arrays average)."""
    return {
        "n_features_in_": n_features,
        "feature_mean_": mean,
        "feature_scale_": scale,
        "coef_": coef,
        "intercept_": intercept,
        "_working_coef": V,
        "_working_intercept": c,
        "_engine_m1": state.m1,
        "_engine_m2": state.m2,
        "_engine_avg": state.avg,
        "_engine_counters": dict(state.counters),
    }


@dataclass
class _Summary:
    """What one distributed pass tells of the training data."""

    total: float  # weight
    mean: np.ndarray  # of the features
    var: np.ndarray
    y_mean: np.ndarray  # weighted
    n_rows: int
    y_sum: np.ndarray  # unweighted sums of y and y^2
    y_sq: np.ndarray
    moments: Moments | None

    @classmethod
    def of(cls, stats: Moments | ColumnStats, p: int) -> _Summary:
        if isinstance(stats, Moments):
            var = np.diag(stats.C)[:p] / stats.total if stats.total > 0 else np.zeros(p)
            return cls(
                stats.total,
                stats.zbar[:p],
                var,
                stats.zbar[p:],
                stats.n_rows,
                stats.y_sum,
                stats.y_sq,
                stats,
            )
        total = stats.total
        var = stats.m2 / total if total > 0 else np.zeros(p)
        y_mean = stats.y_wsum / total if total > 0 else np.zeros_like(stats.y_sum)
        return cls(total, stats.mean, var, y_mean, stats.n_rows, stats.y_sum, stats.y_sq, None)

    def y_spread(self) -> float:
        n = self.n_rows
        return float(np.sqrt(np.max(np.maximum(self.y_sq / n - (self.y_sum / n) ** 2, 0.0))))

    def mean_row_sq_norm(self, mean: np.ndarray, scale: np.ndarray) -> float:
        """Mean of ||(x - mean) / scale||^2 over the rows (weighted)."""
        return float(np.sum((self.var + (self.mean - mean) ** 2) / scale**2))


class GDRegressor(DaskLinearMixin, _InMemoryGDRegressor):
    """:class:`gdfast.GDRegressor` for data on a Dask cluster.

    The same parameters, defaults and fitted attributes (NumPy arrays) as the
    in-memory estimator. ``fit``, ``partial_fit``, ``predict`` and ``score``
    take dask arrays and dask DataFrames (column names become
    ``feature_names_in_``); NumPy, SciPy and pandas input is fitted in memory.
    Without a ``distributed.Client`` dask's local scheduler runs the blocks;
    with one, its cluster does.

    On dask collections, squared error with full-batch descent and up to
    1,024 features (``precompute="auto"``'s co-moments path) takes one
    distributed pass: each row block's co-moments of [X, y] by the native
    kernel on its worker, added up in a tree; the descent then runs on the
    client in O(n_features²) per step. Other full-batch settings persist X on
    the workers and map the native ``loss_grad`` over the blocks once per step
    (the in-memory engine steps on the client). Mini-batches run rounds of
    local epochs with model averaging (see :class:`gdfast.dask.SGDRegressor`).
    Full-batch fits give the coefficients of the in-memory fit on the same
    data (to rounding). With ``early_stopping``, ceil(validation_fraction ·
    rows) rows of every block are held out and scored on the cluster. The
    client never holds X.

    See :class:`gdfast.GDRegressor` for the parameters and attributes.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit on dask collections (one distributed pass), or in memory.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features), or array-like
            Training data; row blocks are what the workers read.
        y : dask array or dask Series/DataFrame of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : dask array of shape (n_samples,), default=None
            Non-negative weights, chunked like y (rechunked if not).

        Returns
        -------
        self : GDRegressor
            The fitted estimator.
        """
        if not is_dask(X):
            return super().fit(X, y, sample_weight)
        self._check_params()
        warm = self.warm_start and hasattr(self, "coef_")
        with unfitted_on_failure(self, True):
            return self._fit_blocks(X, y, sample_weight, True, self.max_iter, warm)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch (one descent step) on dask collections, or in memory.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        self : GDRegressor
            The updated estimator.
        """
        if not is_dask(X):
            return super().partial_fit(X, y, sample_weight)
        first_call = not hasattr(self, "coef_")
        if first_call:
            self._check_params(for_partial_fit=True)
        with unfitted_on_failure(self, first_call):
            return self._fit_blocks(X, y, sample_weight, first_call, 1, False)

    def _fit_blocks(self, X, y, sample_weight, first_call: bool, max_iter: int, warm: bool):
        blocks = as_blocks(X, y, sample_weight)
        p = blocks.n_features
        multi = blocks.y.ndim == 2
        k = blocks.y.shape[1] if multi else 1
        if not first_call:
            self._check_features(blocks, reset=False)
            fitted_k = np.reshape(self.coef_, (-1, p)).shape[0]
            if multi != (self.coef_.ndim == 2) or fitted_k != k:
                raise ValueError("partial_fit needs the targets the model was fitted with.")
        blocks, score = early_stopping_split(self, blocks)
        full_batch = self.batch_size is None or self.batch_size >= blocks.n_samples
        gram = self._uses_gram(p, full_batch)
        if not gram:
            # Every step reads the blocks: keep them in the workers' memory.
            blocks = blocks.persisted()
        # One pass: the co-moments (the descent's data on the co-moments path,
        # the step size's otherwise) or, for wide data, the column statistics.
        if gram or p <= GRAM_MAX_FEATURES:
            stats = reduce_blocks(blocks, block_moments, Moments.merged, self.n_jobs)
        else:
            stats = reduce_blocks(blocks, block_column_stats, ColumnStats.merged, self.n_jobs)
        _raise_problem(stats)
        summary = _Summary.of(stats, p)
        if first_call:
            self._check_features(blocks, reset=True)
        if self.loss == "squared_error":
            threshold = squared_error_threshold(
                summary.n_rows, summary.y_sum, summary.y_sq, summary.y_mean
            )
        else:
            references, _ = constant_loss_references(
                blocks, self.loss, self.epsilon, summary.y_mean
            )
            threshold = threshold_of(float(np.max(references)) / (summary.n_rows * k))
        params = self._engine_params(
            p,
            full_batch,
            max_iter,
            self._draw_seed(),
            resolve_n_jobs(self.n_jobs),
            threshold,
            summary.y_spread(),
        )
        if first_call:
            params.update(standardize_from_moments=False, center=self.fit_intercept)
            if self.standardize and summary.total > 0:
                mean, scale = _core.standardize(summary.mean, summary.var, self.fit_intercept)
            else:
                mean, scale = np.zeros(p), np.ones(p)
            V, c, state = self._starting_point(warm, k, mean, scale, summary.y_mean)
        else:
            mean, scale = self.feature_mean_, self.feature_scale_
            V, c, state = self._working_coef, self._working_intercept, self._engine_state
        threshold = self._arm_divergence(params)
        dtype = blocks.X.dtype
        if full_batch:
            run = self._descend_blocks(blocks, params, mean, scale, V, c, state, summary, score)
        else:
            run = self._local_epochs(blocks, params, mean, scale, V, c, state, summary, score)
        return self._commit(
            run,
            params,
            threshold,
            mean,
            scale,
            multi,
            dtype,
            max_iter,
            lambda coef, intercept: self._mean_loss(blocks, coef, intercept),
            None,
        )

    def _descend_blocks(
        self, blocks, params, mean, scale, V, c, state, summary, score
    ) -> DescentRun:
        """Full-batch descent on the client: on the co-moments, or with one
        distributed pass per step."""
        p, k = V.shape[1], V.shape[0]
        m = summary.moments
        remote = None
        if not params.use_gram:
            remote = RemoteRows(
                self._remote_pass(blocks),
                summary.total,
                summary.mean_row_sq_norm(mean, scale),
            )
        dtype = blocks.X.dtype
        return run_descent(
            X=np.empty((0, p), dtype=dtype),
            y2=np.empty((0, k), dtype=dtype),
            sample_weight=None,
            train_rows=np.empty(0, dtype=np.intp),
            val_rows=np.empty(0, dtype=np.intp),
            mean=mean,
            scale=scale,
            V=V,
            c=c,
            state=state,
            params=params,
            verbose=bool(self.verbose),
            show_step=True,
            moments=None if m is None else (m.total, m.zbar, m.C),
            remote=remote,
            remote_score=score,
        )

    # ------------------------------------------- mini-batches: local epochs

    def _local_epochs(self, blocks, params, mean, scale, V, c, state, summary, score) -> DescentRun:
        """Mini-batch descent as rounds of local epochs (see ``_rounds``), each
        block's epoch the in-memory one from the averaged model, with the
        standardization of all rows."""
        multi = blocks.y.ndim == 2
        coef, intercept = to_original(V, c, mean, scale)
        dtype = blocks.X.dtype
        start = _round_state(
            blocks.n_features,
            mean,
            scale,
            (coef if multi else coef[0]).astype(dtype),
            intercept.astype(dtype) if multi else float(intercept[0]),
            V,
            c,
            state,
        )
        steps_per_epoch = -(-summary.n_rows // int(self.batch_size))
        self._min_step_scale = params.min_lr_scale

        def after_round(averaged: dict, previous: dict | None, parts: list) -> dict:
            before_state = previous or start
            counters = dict(before_state["_engine_counters"])
            out = {**averaged}
            if self.average and averaged["_engine_avg"] is not None:
                # The engine's running mean of iterates (from step `average` on):
                # every block's iterates, each once.
                def count(steps: float) -> float:
                    return max(0.0, steps - float(self.average) + 1.0)

                merged = merge_running_means(
                    before_state["_engine_avg"],
                    count(counters["step"]),
                    [p.state["_engine_avg"] for p in parts],
                    [count(p.state["_engine_counters"]["step"]) for p in parts],
                )
                if merged is not None:
                    out["_engine_avg"] = merged
            counters.update(
                step=counters["step"] + steps_per_epoch,
                epoch=counters["epoch"] + 1,
                base_lr=averaged["_engine_counters"]["base_lr"],
            )
            return {**out, "_engine_counters": counters}

        final, record = run_rounds(
            self,
            blocks,
            params=params,
            loop=_loop(params, bool(self.verbose), lambda: EpochPrinter(True)),
            max_iter=int(params.max_iter),
            state=start,
            first={},
            after_round=after_round,
            score=score,
        )
        del self._min_step_scale
        return DescentRun(
            record,
            final["_working_coef"],
            final["_working_intercept"],
            EngineState(
                final["_engine_m1"],
                final["_engine_m2"],
                final["_engine_avg"],
                final["_engine_counters"],
            ),
        )

    def _block_estimator(self, seed: int, step_scale: float) -> GDRegressor:
        """The estimator a block's epoch runs on its worker (its in-memory epoch)."""
        params = self.get_params()
        params.update(random_state=seed, verbose=0, early_stopping=False, on_divergence="warn")
        block = type(self)(**params)
        block._step_scale = step_scale
        return block

    def _can_shrink(self, step_scale: float) -> bool:
        return step_scale > self._min_step_scale

    def _load_round_state(self, state: dict) -> None:
        for name in ("n_features_in_", "feature_mean_", "feature_scale_", "coef_", "intercept_"):
            setattr(self, name, state[name])
        self._working_coef, self._working_intercept = (
            state["_working_coef"],
            state["_working_intercept"],
        )
        counters = {**state["_engine_counters"], "lr_scale": self._step_scale}
        self._engine_state = EngineState(
            state["_engine_m1"], state["_engine_m2"], state["_engine_avg"], counters
        )

    def _round_state(self) -> dict:
        return _round_state(
            self.n_features_in_,
            self.feature_mean_,
            self.feature_scale_,
            self.coef_,
            self.intercept_,
            self._working_coef,
            self._working_intercept,
            self._engine_state,
        )

    def _remote_pass(self, blocks: Blocks):
        """The engine's pass over the blocks: loss_grad on each block where it
        lives, the sums added up in a tree; only the coefficients travel."""
        loss = _core.CODES["loss"][self.loss]
        squared_code = _core.CODES["loss"]["squared_error"]
        epsilon = float(self.epsilon)

        def pass_(W, b, zero_targets: bool, squared: bool):
            code = squared_code if squared else loss
            return reduce_blocks(
                blocks, block_loss_grad, add_sums, W, b, code, epsilon, zero_targets, self.n_jobs
            )

        return pass_
