"""gdfast.dask.GDRegressor: GDRegressor over dask collections."""

from __future__ import annotations

import dask
import numpy as np

from gdfast import _core
from gdfast._base import unfitted_on_failure
from gdfast._divergence import threshold_of
from gdfast._gd import GDRegressor as _InMemoryGDRegressor
from gdfast._sklearn_compat import _fit_context
from gdfast.dask._blocks import block_constant_losses, tree_sum
from gdfast.dask._collections import Blocks, as_blocks, is_dask
from gdfast.dask._gd_engine import DaskGDEngine, Targets, _Summary


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


class GDRegressor(DaskGDEngine, _InMemoryGDRegressor):
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
            return self._fit_blocks_of(X, y, sample_weight, True, self.max_iter, warm)

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
            return self._fit_blocks_of(X, y, sample_weight, first_call, 1, False)

    def _fit_blocks_of(self, X, y, sample_weight, first_call: bool, max_iter: int, warm: bool):
        blocks = as_blocks(X, y, sample_weight)
        p = blocks.n_features
        multi = blocks.y.ndim == 2
        k = blocks.y.shape[1] if multi else 1
        if not first_call:
            self._check_features(blocks, reset=False)
            fitted_k = np.reshape(self.coef_, (-1, p)).shape[0]
            if multi != (self.coef_.ndim == 2) or fitted_k != k:
                raise ValueError("partial_fit needs the targets the model was fitted with.")
        return self._fit_blocks(Targets(blocks, k, multi), first_call, max_iter, warm)

    # ------------------------------------------- the engine's hooks

    def _blocks_threshold(self, summary: _Summary, blocks: Blocks, targets: Targets) -> float:
        if self.loss == "squared_error":
            return squared_error_threshold(
                summary.n_rows, summary.y_sum, summary.y_sq, summary.y_mean
            )
        references, _ = constant_loss_references(blocks, self.loss, self.epsilon, summary.y_mean)
        return threshold_of(float(np.max(references)) / (summary.n_rows * len(summary.y_sum)))

    def _blocks_y_spread(self, summary: _Summary) -> float:
        return summary.y_spread()

    def _blocks_best_constant(self, summary: _Summary, targets: Targets) -> np.ndarray:
        return summary.y_mean
