"""What the distributed estimators share: feature checks, predict and score on
dask collections (NumPy input goes to the in-memory estimator)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from gdfast import _core
from gdfast.dask._blocks import (
    add_sums,
    block_loss,
    block_predict,
    block_r2_sums,
    reduce_blocks,
)
from gdfast.dask._collections import Blocks, as_blocks, is_dask


def model_arrays(estimator) -> tuple[np.ndarray, np.ndarray, bool]:
    """coef_ as (k, p) float64, intercept_ as (k,) float64, and whether 2-D."""
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    multi = coef.ndim == 2
    W = np.ascontiguousarray(coef.reshape(-1, coef.shape[-1]))
    b = np.ascontiguousarray(np.asarray(estimator.intercept_, dtype=np.float64).reshape(-1))
    return W, b, multi


def r2_on(blocks: Blocks, W: np.ndarray, b: np.ndarray, n_jobs: int | None) -> float:
    """scikit-learn's weighted r2_score (uniform average over targets) of raw
    coefficients (W (k, p), b (k,)) on the blocks, from sums computed where
    they live."""
    sums = reduce_blocks(blocks, block_r2_sums, np.add, W, b, n_jobs)
    ssr, sy, sy2, sw = sums
    if not np.isfinite(sums).all():
        raise ValueError(
            "Input X or y contains NaN or infinity (the R² sums of a block on the cluster are "
            "not finite)."
        )
    if not np.all(sw > 0):
        raise ValueError(
            "The sample weights for validation set are all zero, consider using a"
            " different random state."
        )
    sst = sy2 - sy * sy / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - ssr / sst, np.where(ssr == 0, 1.0, 0.0))
    return float(np.mean(r2))


def early_stopping_split(estimator, blocks: Blocks):
    """(training blocks, validation score of raw (W, b) or None): the held-out
    rows of early stopping, drawn from the estimator's random_state, scored by
    its ``_validation_score``."""
    if not estimator.early_stopping:
        return blocks, None
    seed = int(check_random_state(estimator.random_state).randint(0, 2**31 - 1))
    train, validation = blocks.split(estimator.validation_fraction, seed)
    return train, lambda W, b: estimator._validation_score(validation, W, b)


class DaskLinearMixin:
    """predict / score / feature bookkeeping for dask collections; everything
    else, and NumPy input, is the in-memory estimator's."""

    def _check_features(self, blocks: Blocks, reset: bool) -> None:
        """n_features_in_ and feature_names_in_ as scikit-learn's validate_data
        sets (reset) or checks them."""
        name = type(self).__name__
        if reset:
            self.n_features_in_ = blocks.n_features
            if blocks.feature_names is not None:
                self.feature_names_in_ = blocks.feature_names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        if blocks.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {blocks.n_features} features, but {name} is expecting "
                f"{self.n_features_in_} features as input."
            )
        fitted = getattr(self, "feature_names_in_", None)
        given = blocks.feature_names
        if fitted is not None and given is not None and list(fitted) != list(given):
            raise ValueError(
                "The feature names should match those that were passed during fit: "
                f"fitted with {list(fitted)}, got {list(given)}."
            )
        if fitted is not None and given is None:
            warnings.warn(
                f"X does not have valid feature names, but {name} was fitted with feature names",
                UserWarning,
                stacklevel=3,
            )
        if fitted is None and given is not None:
            warnings.warn(
                f"X has feature names, but {name} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features), or array-like
            Samples. NumPy / SciPy / pandas input is predicted in memory.

        Returns
        -------
        dask array or ndarray of shape (n_samples,) or (n_samples, n_targets)
            For a dask collection, a lazy dask array with X's row blocks (nothing
            is computed until asked for); otherwise an ndarray.
        """
        if not is_dask(X):
            return super().predict(X)
        check_is_fitted(self)
        return self._scores(X, np.ndim(self.coef_) == 2)

    def _scores(self, X, multi: bool):
        """The lazy scores ``X @ coef_.T + intercept_`` of the blocks of X,
        (n,) or (n, k) (``multi``)."""
        check_is_fitted(self)
        blocks = as_blocks(X, known_rows=False)
        self._check_features(blocks, reset=False)
        return self._block_scores(blocks, multi)

    def _block_scores(self, blocks: Blocks, multi: bool):
        """The lazy scores of the (checked) blocks of X."""
        W, b, _ = model_arrays(self)
        dtype = np.result_type(blocks.X.dtype, self.coef_.dtype, self.intercept_)
        kwargs = {"chunks": (blocks.X.chunks[0], (W.shape[0],))} if multi else {"drop_axis": 1}
        return blocks.X.map_blocks(
            block_predict, W, b, multi, dtype, self.n_jobs, dtype=dtype, **kwargs
        )

    def score(self, X, y, sample_weight=None) -> float:
        """R² of the predictions, computed on the cluster for dask collections.

        Parameters
        ----------
        X : dask array or dask DataFrame, or array-like
            Samples.
        y : dask array or dask Series/DataFrame, or array-like
            True values.
        sample_weight : dask array, default=None
            Weights, chunked like y.

        Returns
        -------
        float
            scikit-learn's ``r2_score`` (uniform average over targets).
        """
        if not is_dask(X):
            return super().score(X, y, sample_weight)
        check_is_fitted(self)
        blocks = as_blocks(X, y, sample_weight)
        self._check_features(blocks, reset=False)
        W, b, _ = model_arrays(self)
        return r2_on(blocks, W, b, self.n_jobs)

    def _validation_score(self, validation: Blocks, W: np.ndarray, b: np.ndarray) -> float:
        """Early stopping's score of raw coefficients on the held-out blocks."""
        return r2_on(validation, W, b, self.n_jobs)

    def _mean_loss(
        self, blocks: Blocks, coef: np.ndarray, intercept: np.ndarray, loss: str, epsilon: float
    ) -> float:
        """Mean training loss of a model (summed over targets): one pass on the cluster."""
        code = _core.CODES["loss"][loss]
        W = np.ascontiguousarray(coef, dtype=np.float64).reshape(-1, blocks.n_features)
        b = np.ascontiguousarray(intercept, dtype=np.float64).reshape(-1)
        total = reduce_blocks(blocks, block_loss, add_sums, W, b, code, float(epsilon), self.n_jobs)
        return total[0] / total[1] if total[1] > 0 else 0.0
