"""The GD engine over dask blocks, shared by gdfast.dask's GDRegressor and
GDClassifier: one distributed pass for the statistics, then full-batch descent
on the client (on the co-moments, or one distributed pass per step) or rounds
of local epochs with model averaging."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdfast import _core
from gdfast._base import EpochPrinter
from gdfast._config import resolve_n_jobs
from gdfast._engine import DescentRun, EngineState, RemoteRows, _loop, run_descent, to_original
from gdfast._gd_engine import GRAM_MAX_FEATURES
from gdfast.dask._base import DaskLinearMixin, early_stopping_split
from gdfast.dask._blocks import (
    PROBLEMS,
    ColumnStats,
    Moments,
    add_sums,
    block_column_stats,
    block_loss_grad,
    block_moments,
    reduce_blocks,
)
from gdfast.dask._collections import Blocks
from gdfast.dask._rounds import merge_running_means, run_rounds


@dataclass
class Targets:
    """What the engine fits on the cluster: ``blocks`` hold X, the engine's
    targets (float, (n,) or (n, columns)) and the weights; ``k`` outputs;
    ``multi``: coef_ is published 2-D. A classifier's targets also count the
    rows and weight of each class (over all blocks)."""

    blocks: Blocks
    k: int
    multi: bool
    class_rows: np.ndarray | None = None
    class_weights: np.ndarray | None = None


def _raise_problem(stats) -> None:
    if stats.problem:
        raise ValueError(f"{PROBLEMS[stats.problem]} (found in a block on the cluster).")


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


class DaskGDEngine(DaskLinearMixin):
    """The in-memory GD engine's fit on dask blocks. The estimator checks its
    input into ``Targets`` and gives, from the summary of the statistics pass,
    the divergence threshold (``_blocks_threshold``), the spread of the targets
    (``_blocks_y_spread``) and the intercepts to start at
    (``_blocks_best_constant``, or None)."""

    def _fit_blocks(self, targets: Targets, first_call: bool, max_iter: int, warm: bool):
        """Fit the engine on the blocks of ``targets`` (checked by the estimator)."""
        k = targets.k
        blocks, score = early_stopping_split(self, targets.blocks)
        p = blocks.n_features
        full_batch = self.batch_size is None or self.batch_size >= blocks.n_samples
        gram = self._uses_gram(p, full_batch)
        if not gram:
            # Every step reads the blocks: keep them in the workers' memory.
            blocks = blocks.persisted()
        # One pass: the co-moments (the descent's data on the co-moments path,
        # the step size's or the preconditioner's otherwise) or, for wide data,
        # the column statistics.
        if gram or p <= GRAM_MAX_FEATURES:
            stats = reduce_blocks(blocks, block_moments, Moments.merged, self.n_jobs)
        else:
            stats = reduce_blocks(blocks, block_column_stats, ColumnStats.merged, self.n_jobs)
        _raise_problem(stats)
        summary = _Summary.of(stats, p)
        if first_call:
            self._check_features(blocks, reset=True)
        threshold = self._blocks_threshold(summary, blocks, targets)
        params = self._engine_params(
            p,
            full_batch,
            max_iter,
            self._draw_seed(),
            resolve_n_jobs(self.n_jobs),
            threshold,
            lambda: self._blocks_y_spread(summary),
        )
        if first_call:
            params.update(standardize_from_moments=False, center=self.fit_intercept)
            working = self._working_coordinates(params, warm)
            if working == "standardize" and summary.total > 0:
                mean, scale = _core.standardize(summary.mean, summary.var, self.fit_intercept)
            elif working == "center" and summary.total > 0:
                mean, scale = summary.mean.copy(), np.ones(p)  # (the statistics pass's means)
            else:
                mean, scale = np.zeros(p), np.ones(p)
            V, c, state = self._starting_point(
                warm, k, mean, scale, self._blocks_best_constant(summary, targets)
            )
        else:
            mean, scale = self.feature_mean_, self.feature_scale_
            V, c, state = self._working_coef, self._working_intercept, self._engine_state
        threshold = self._arm_divergence(params)
        dtype = blocks.X.dtype
        if full_batch:
            run = self._descend_blocks(blocks, params, mean, scale, V, c, state, summary, score)
        else:
            run = self._local_epochs(
                blocks, params, mean, scale, V, c, state, summary, score, targets.multi
            )
        return self._commit(
            run,
            params,
            threshold,
            mean,
            scale,
            targets.multi,
            dtype,
            max_iter,
            lambda coef, intercept: self._mean_loss(
                blocks, coef, intercept, self._engine_loss, self._loss_epsilon
            ),
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

    def _local_epochs(
        self, blocks, params, mean, scale, V, c, state, summary, score, multi: bool
    ) -> DescentRun:
        """Mini-batch descent as rounds of local epochs (see ``_rounds``), each
        block's epoch the in-memory one from the averaged model, with the
        standardization of all rows."""
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

    def _block_estimator(self, seed: int, step_scale: float):
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
        loss = _core.CODES["loss"][self._engine_loss]
        squared_code = _core.CODES["loss"]["squared_error"]
        epsilon = float(self._loss_epsilon)

        def pass_(W, b, zero_targets: bool, squared: bool):
            code = squared_code if squared else loss
            return reduce_blocks(
                blocks, block_loss_grad, add_sums, W, b, code, epsilon, zero_targets, self.n_jobs
            )

        return pass_
