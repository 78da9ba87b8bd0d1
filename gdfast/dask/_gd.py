"""gdfast.dask.GDRegressor: GDRegressor over dask collections."""

from __future__ import annotations

import dask
import numpy as np

from gdfast import _core
from gdfast._base import unfitted_on_failure
from gdfast._config import resolve_n_jobs
from gdfast._divergence import threshold_of
from gdfast._engine import run_descent
from gdfast._gd import GRAM_MAX_FEATURES
from gdfast._gd import GDRegressor as _InMemoryGDRegressor
from gdfast._sklearn_compat import _fit_context
from gdfast.dask._base import DaskLinearMixin
from gdfast.dask._blocks import PROBLEMS, Moments, block_moments, tree_sum
from gdfast.dask._collections import Blocks, as_blocks, is_dask


def distributed_moments(blocks: Blocks, n_jobs: int | None) -> Moments:
    """The co-moments of [X, y] over all rows: each block's on its worker, added
    up in a tree; a ValueError names what a block found wrong."""
    parts = [
        dask.delayed(block_moments, pure=True)(xb, yb, wb, n_jobs)
        for xb, yb, wb in blocks.delayed()
    ]
    (moments,) = dask.compute(tree_sum(parts, Moments.merged))
    if moments.problem:
        raise ValueError(f"{PROBLEMS[moments.problem]} (found in a block on the cluster).")
    return moments


def squared_error_threshold(m: Moments, k: int) -> float:
    """The divergence threshold of squared error (``divergence_threshold``'s
    reference: the larger mean loss of predicting 0 and the weighted mean of y,
    over rows and targets) from the sums of y and y^2."""
    n = m.n_rows
    mean = m.zbar[-k:]
    at_zero = m.y_sq.sum() / 2
    at_mean = (m.y_sq - 2 * mean * m.y_sum + n * mean * mean).sum() / 2
    return threshold_of(max(at_zero, at_mean) / (n * k))


class GDRegressor(DaskLinearMixin, _InMemoryGDRegressor):
    """:class:`gdfast.GDRegressor` for data on a Dask cluster.

    The same parameters, defaults and fitted attributes (NumPy arrays) as the
    in-memory estimator. ``fit``, ``partial_fit``, ``predict`` and ``score``
    take dask arrays and dask DataFrames (column names become
    ``feature_names_in_``); NumPy, SciPy and pandas input is fitted in memory.
    Without a ``distributed.Client`` dask's local scheduler runs the blocks;
    with one, its cluster does.

    On dask collections it fits squared error with full-batch descent and up
    to 1,024 features (``precompute="auto"``'s co-moments path): one
    distributed pass computes each row block's co-moments of [X, y] with the
    native kernel on its worker and adds them up in a tree; the descent then
    runs on the client in O(n_features²) per step and gives the coefficients of
    the in-memory fit on the same data (to rounding). The client never holds
    X. Other losses, mini-batches, early stopping and wider data raise
    ``NotImplementedError`` on dask collections for now.

    See :class:`gdfast.GDRegressor` for the parameters and attributes.
    """

    def _distributable(self, n_features: int, full_batch: bool) -> None:
        """NotImplementedError for settings the co-moments path does not fit."""
        precompute = self.precompute
        gram = n_features <= GRAM_MAX_FEATURES if precompute == "auto" else bool(precompute)
        problems = []
        if self.loss != "squared_error":
            problems.append(f"loss={self.loss!r}")
        if not full_batch:
            problems.append(f"batch_size={self.batch_size!r}")
        if self.early_stopping:
            problems.append("early_stopping=True")
        if not gram:
            problems.append(
                f"precompute={precompute!r} with {n_features} features"
                if precompute == "auto"
                else "precompute=False"
            )
        if problems:
            raise NotImplementedError(
                "gdfast.dask.GDRegressor fits squared error, full batch, up to 1024 features "
                "(the co-moments path) on dask collections; not yet "
                + ", ".join(problems)
                + ". Fit in memory with gdfast.GDRegressor (X.compute()) meanwhile."
            )

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
        n_samples, n_features = blocks.n_samples, blocks.n_features
        multi = blocks.y.ndim == 2
        k = blocks.y.shape[1] if multi else 1
        if not first_call:
            self._check_features(blocks, reset=False)
            fitted_k = np.reshape(self.coef_, (-1, n_features)).shape[0]
            if multi != (self.coef_.ndim == 2) or fitted_k != k:
                raise ValueError("partial_fit needs the targets the model was fitted with.")
        full_batch = self.batch_size is None or self.batch_size >= n_samples
        self._distributable(n_features, full_batch)
        m = distributed_moments(blocks, self.n_jobs)
        if first_call:
            self._check_features(blocks, reset=True)
        n = m.n_rows
        spread = float(np.sqrt(np.max(np.maximum(m.y_sq / n - (m.y_sum / n) ** 2, 0.0))))
        threads = resolve_n_jobs(self.n_jobs)
        params = self._engine_params(
            n_features,
            full_batch,
            max_iter,
            self._draw_seed(),
            threads,
            squared_error_threshold(m, k),
            spread,
        )
        p = n_features
        if first_call:
            params.update(standardize_from_moments=False, center=self.fit_intercept)
            if self.standardize and m.total > 0:
                variance = np.diag(m.C)[:p] / m.total
                mean, scale = _core.standardize(m.zbar[:p], variance, self.fit_intercept)
            else:
                mean, scale = np.zeros(p), np.ones(p)
            V, c, state = self._starting_point(warm, k, mean, scale, m.zbar[p:])
        else:
            mean, scale = self.feature_mean_, self.feature_scale_
            V, c, state = self._working_coef, self._working_intercept, self._engine_state
        threshold = self._arm_divergence(params)
        dtype = blocks.X.dtype
        run = run_descent(
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
            moments=(m.total, m.zbar, m.C),
        )
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
