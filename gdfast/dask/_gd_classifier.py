"""gdfast.dask.GDClassifier: GDClassifier over dask collections."""

from __future__ import annotations

from dataclasses import dataclass

import dask
import numpy as np
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from gdfast._base import unfitted_on_failure
from gdfast._gd_classifier import GDClassifier as _InMemoryGDClassifier
from gdfast._gd_classifier import classes_threshold, encode_labels, log_odds_start
from gdfast._labels import (
    LinearClassifierPredictions,
    check_classification_targets_of,
    checked_class_weights,
    class_weights_of,
    classes_of_call,
    labels_of_scores,
    probabilities,
)
from gdfast._sklearn_compat import _fit_context
from gdfast._validation import kernel_ready
from gdfast.dask._blocks import _dense, block_predict, reduce_blocks, tree_sum
from gdfast.dask._collections import Blocks, as_blocks, is_dask
from gdfast.dask._gd_engine import DaskGDEngine, Targets, _Summary


@dataclass
class LabelTally:
    """The distinct labels of some rows, sorted, with the rows and weight of each."""

    labels: np.ndarray
    rows: np.ndarray
    weights: np.ndarray

    def on(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, weights) of each of ``labels`` (sorted, a superset of ours)."""
        rows = np.zeros(len(labels), dtype=np.int64)
        weights = np.zeros(len(labels))
        at = np.searchsorted(labels, self.labels)
        rows[at] = self.rows
        weights[at] = self.weights
        return rows, weights

    def merged(self, other: LabelTally) -> LabelTally:
        numbers = {t.labels.dtype.kind in "biuf" for t in (self, other) if t.labels.size}
        try:
            if len(numbers) > 1:
                raise TypeError("numbers and text")
            labels = np.union1d(self.labels, other.labels)
        except TypeError as error:
            raise ValueError(
                f"y mixes labels of different types ({self.labels[:1].tolist()!r} and "
                f"{other.labels[:1].tolist()!r} in different blocks)."
            ) from error
        (rows_a, weights_a), (rows_b, weights_b) = self.on(labels), other.on(labels)
        return LabelTally(labels, rows_a + rows_b, weights_a + weights_b)


def block_label_tally(y, w) -> LabelTally:
    """The labels of one block, checked as in memory (NaN, continuous values
    and missing labels raise), with the rows and weight of each."""
    y = np.asarray(y)
    if y.size == 0:
        return LabelTally(y[:0], np.zeros(0, dtype=np.int64), np.zeros(0))
    y, labels = check_classification_targets_of(None, y)
    index = np.searchsorted(labels, y)
    rows = np.bincount(index, minlength=len(labels))
    if w is None:
        return LabelTally(labels, rows, rows.astype(np.float64))
    weights = np.bincount(index, weights=np.asarray(w, dtype=np.float64), minlength=len(labels))
    return LabelTally(labels, rows, weights)


def block_targets(y, classes: np.ndarray, multinomial: bool, dtype) -> np.ndarray:
    """The engine's targets of one block of labels: (n,) or (n, classes)."""
    y2 = encode_labels(np.searchsorted(classes, np.asarray(y)), len(classes), multinomial, dtype)
    return y2[:, 0] if y2.shape[1] == 1 else y2


def block_weights(y, w, classes: np.ndarray, factor: np.ndarray, dtype) -> np.ndarray:
    """Sample weights times the class weight of each row's label."""
    out = factor[np.searchsorted(classes, np.asarray(y))].astype(dtype)
    return out if w is None else out * np.asarray(w, dtype=dtype)


def block_accuracy_sums(X, y2, w, W: np.ndarray, b: np.ndarray, labels: bool, n_jobs) -> np.ndarray:
    """[weight of the rows predicted right, weight of all rows] of one block of
    engine targets: the sign of one output on +1/-1, else the largest output
    on the class index (``labels``) or on the +1 column."""
    X = _dense(X)
    n = X.shape[0]
    if n == 0:
        return np.zeros(2)
    scores = block_predict(X, W, b, True, np.float64, n_jobs)
    y2 = np.asarray(y2).reshape(n, -1)
    if W.shape[0] == 1:
        right = (scores[:, 0] > 0) == (y2[:, 0] > 0)
    else:
        truth = y2[:, 0].astype(np.intp) if labels else y2.argmax(axis=1)
        right = scores.argmax(axis=1) == truth
    s = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    return np.array([s @ right, s.sum()])


class GDClassifier(DaskGDEngine, _InMemoryGDClassifier):
    """:class:`gdfast.GDClassifier` for data on a Dask cluster.

    The same parameters, defaults and fitted attributes (NumPy arrays) as the
    in-memory estimator. ``fit``, ``partial_fit``, ``decision_function``,
    ``predict``, ``predict_proba``, ``predict_log_proba`` and ``score`` take
    dask arrays and dask DataFrames (labels: a dask array or Series of numbers,
    strings or booleans); NumPy, SciPy and pandas input is handled in memory.

    A fit reads the labels once (their classes, counts and weights, added up
    over the blocks), then runs the engine of :class:`gdfast.dask.GDRegressor`
    on the encoded targets: with the defaults, one distributed pass for the
    co-moments of X (the standardization and the curvature bound that
    preconditions the quasi-Newton steps), then one distributed pass of the
    native loss-gradient kernel per step (X persisted on the workers, only the
    coefficients travel); mini-batches run rounds of local epochs with model
    averaging. Full-batch fits give the in-memory fit's model on the same data
    (to rounding; the in-memory fit takes the preconditioner from a sample of
    rows when there are more than 16,384). ``class_weight="balanced"`` uses
    the classes' total sample weights over all blocks. With
    ``early_stopping``, ceil(validation_fraction · rows) rows of every block
    are held out (not stratified) and their accuracy computed on the cluster.

    See :class:`gdfast.GDClassifier` for the parameters and attributes.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit on dask collections, or in memory.

        Parameters
        ----------
        X : dask array or dask DataFrame of shape (n_samples, n_features), or array-like
            Training data; row blocks are what the workers read.
        y : dask array or dask Series of shape (n_samples,)
            Class labels.
        sample_weight : dask array of shape (n_samples,), default=None
            Non-negative weights, chunked like y (rechunked if not).

        Returns
        -------
        self : GDClassifier
            The fitted estimator.
        """
        if not is_dask(X):
            return super().fit(X, y, sample_weight)
        self._check_params()
        warm = self.warm_start and hasattr(self, "coef_")
        with unfitted_on_failure(self, True):
            targets = self._label_targets(X, y, sample_weight, None, True, warm, False)
            return self._fit_blocks(targets, True, self.max_iter, warm)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch (one descent step) on dask collections, or in memory.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Every class of all the calls: required on the first call.

        Returns
        -------
        self : GDClassifier
            The updated estimator.
        """
        if not is_dask(X):
            return super().partial_fit(X, y, classes, sample_weight)
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._check_params(for_partial_fit=True)
        with unfitted_on_failure(self, first_call):
            targets = self._label_targets(X, y, sample_weight, classes, first_call, False, True)
            return self._fit_blocks(targets, first_call, 1, False)

    def _label_targets(self, X, y, sample_weight, classes, first_call, warm, partial) -> Targets:
        """The blocks of X with the engine's targets and weights for the labels
        y: one pass over y (and the weights) for the classes and their counts."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        blocks = as_blocks(X, y, sample_weight, labels=True)
        if not first_call:
            self._check_features(blocks, reset=False)
        ws = (
            [None] * blocks.y.numblocks[0]
            if blocks.sample_weight is None
            else list(blocks.sample_weight.to_delayed().ravel())
        )
        parts = [
            dask.delayed(block_label_tally, pure=True)(yb, wb)
            for yb, wb in zip(blocks.y.to_delayed().ravel(), ws, strict=True)
        ]
        (tally,) = dask.compute(tree_sum(parts, LabelTally.merged))
        if partial:
            classes_ = classes_of_call(self, classes, tally.labels, first_call)
        else:
            classes_ = tally.labels
            if warm and not np.array_equal(classes_, self.classes_):
                raise ValueError(
                    f"warm_start needs the classes of the previous fit "
                    f"{self.classes_.tolist()!r}; y has {classes_.tolist()!r}."
                )
        if len(classes_) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got {len(classes_)} class"
            )
        rows, weights = tally.on(classes_)
        factor = np.ones(len(classes_))
        if self.class_weight == "balanced":  # from the total weights, as in memory
            with np.errstate(divide="ignore"):
                balanced = weights.sum() / (len(classes_) * weights)
            factor = checked_class_weights(self, balanced, classes_)
        elif self.class_weight is not None:
            factor = class_weights_of(self, classes_, classes_)
        multinomial, k = self._set_encoding(classes_, first_call)
        dtype = blocks.X.dtype
        columns = 1 if k == 1 or multinomial else k
        chunks = (blocks.y.chunks[0],) if columns == 1 else (blocks.y.chunks[0], (columns,))
        y2 = blocks.y.map_blocks(
            block_targets,
            classes_,
            multinomial,
            dtype,
            dtype=dtype,
            chunks=chunks,
            **({} if columns == 1 else {"new_axis": 1}),
        )
        w2 = blocks.sample_weight
        if self.class_weight is not None:
            w2 = blocks.y.map_blocks(
                block_weights, w2, classes_, factor, dtype, dtype=dtype, chunks=blocks.y.chunks
            )
        return Targets(
            Blocks(blocks.X, y2, w2, blocks.feature_names), k, True, rows, weights * factor
        )

    # ------------------------------------------- the engine's hooks

    def _blocks_threshold(self, summary: _Summary, blocks: Blocks, targets: Targets) -> float:
        return classes_threshold(
            targets.class_rows, targets.class_weights, self.loss, self._multinomial
        )

    def _blocks_y_spread(self, summary: _Summary) -> float:
        return 1.0

    def _blocks_best_constant(self, summary: _Summary, targets: Targets) -> np.ndarray | None:
        if self.loss != "log_loss":
            return None
        return log_odds_start(targets.class_weights, self._multinomial)

    def _validation_score(self, validation: Blocks, W: np.ndarray, b: np.ndarray) -> float:
        right, total = reduce_blocks(
            validation, block_accuracy_sums, np.add, W, b, self._multinomial, self.n_jobs
        )
        if not total > 0:
            raise ValueError(
                "The sample weights for validation set are all zero, consider using a"
                " different random state."
            )
        return float(right / total)

    def _block_estimator(self, seed: int, step_scale: float):
        block = super()._block_estimator(seed, step_scale)
        block._fitted_loss, block._classes_of_fit = self._fitted_loss, self._classes_of_fit
        return block

    def _one_epoch(self, X, y2, w, first_call: bool):
        """A block's local epoch (rounds of mini-batches): y2 holds the engine's
        targets of the block, w its weights (class weights included)."""
        X = kernel_ready(X)
        y2 = np.ascontiguousarray(np.reshape(y2, (X.shape[0], -1)), dtype=X.dtype)
        w = None if w is None else np.ascontiguousarray(w, dtype=X.dtype)
        return self._descend(
            X,
            y2,
            self._working_coef.shape[0],
            w,
            first_call=first_call,
            max_iter=1,
            warm=False,
            multi=True,
            split_on=y2[:, 0],
        )

    # ------------------------------------------- predictions

    def decision_function(self, X):
        """Scores of each class: a lazy dask array for dask collections.

        Parameters
        ----------
        X : dask array or dask DataFrame, or array-like
            Samples.

        Returns
        -------
        dask array or ndarray of shape (n_samples,) or (n_samples, n_classes)
            The scores (one column for two classes: of ``classes_[1]``).
        """
        if not is_dask(X):
            return super().decision_function(X)
        check_is_fitted(self)
        return self._scores(X, np.shape(self.coef_)[0] > 1)

    def predict(self, X):
        """The class of each sample: a lazy dask array for dask collections.

        Parameters
        ----------
        X : dask array or dask DataFrame, or array-like
            Samples.

        Returns
        -------
        dask array or ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        if not is_dask(X):
            return _InMemoryGDClassifier.predict(self, X)
        return self._labels_of(self.decision_function(X))

    def _labels_of(self, scores):
        """The lazy labels of lazy scores."""
        drop = {} if scores.ndim == 1 else {"drop_axis": 1}
        return scores.map_blocks(labels_of_scores, self.classes_, dtype=self.classes_.dtype, **drop)

    @available_if(LinearClassifierPredictions._check_proba)
    def predict_proba(self, X):
        """Class probabilities (``log_loss`` and ``modified_huber``), lazy for
        dask collections; see :meth:`gdfast.GDClassifier.predict_proba`.

        Parameters
        ----------
        X : dask array or dask DataFrame, or array-like
            Samples.

        Returns
        -------
        dask array or ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        if not is_dask(X):
            return _InMemoryGDClassifier.predict_proba(self, X)
        scores = self.decision_function(X)
        n_classes = len(self.classes_)
        shape = {"new_axis": 1} if scores.ndim == 1 else {}
        return scores.map_blocks(
            probabilities,
            self.loss,
            self._softmax_scores,
            dtype=np.float64,
            chunks=(scores.chunks[0], (n_classes,)),
            **shape,
        )

    @available_if(LinearClassifierPredictions._check_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (lazy for dask collections).

        Parameters
        ----------
        X : dask array or dask DataFrame, or array-like
            Samples.

        Returns
        -------
        dask array or ndarray of shape (n_samples, n_classes)
            Log-probabilities.
        """
        if not is_dask(X):
            return _InMemoryGDClassifier.predict_log_proba(self, X)
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy (weighted), computed on the cluster for dask collections.

        Parameters
        ----------
        X : dask array or dask DataFrame, or array-like
            Samples.
        y : dask array or dask Series, or array-like
            True labels.
        sample_weight : dask array, default=None
            Weights, chunked like y.

        Returns
        -------
        float
            scikit-learn's ``accuracy_score``.
        """
        if not is_dask(X):
            return _InMemoryGDClassifier.score(self, X, y, sample_weight)
        check_is_fitted(self)
        blocks = as_blocks(X, y, sample_weight, labels=True)
        self._check_features(blocks, reset=False)
        scores = self._block_scores(blocks, np.shape(self.coef_)[0] > 1)
        right = self._labels_of(scores) == blocks.y
        if blocks.sample_weight is None:
            (value,) = dask.compute(right.mean())
        else:
            w = blocks.sample_weight.astype(np.float64)
            hits, total = dask.compute((right * w).sum(), w.sum())
            value = hits / total
        return float(value)
