"""What the classifiers share: the labels a fit accepts, the classes of a call,
and predictions from the scores of a linear model."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import compute_class_weight
from sklearn.utils.extmath import softmax
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d

from gdfast._base import linear_predict
from gdfast._validation import all_finite

# The losses whose scores are probabilities (scikit-learn's rule).
PROBABILISTIC_LOSSES = ("log_loss", "modified_huber")


def check_classification_targets_of(estimator, y) -> tuple[np.ndarray, np.ndarray]:
    """``y`` as a 1-D array of class labels and its sorted distinct labels, or
    scikit-learn's errors: for a continuous or multi-output target, NaN, or a
    missing label. Numbers, strings, booleans and pandas categoricals are labels;
    a column vector is raveled with a warning. y is read once more, by np.unique."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    y = column_or_1d(y, warn=True)
    kind = y.dtype.kind
    if kind == "f" and not all_finite(y):
        raise ValueError(f"Input y contains {'NaN' if np.isnan(y).any() else 'infinity'}.")
    if kind not in "biuf":
        # strings, objects, mixed types: scikit-learn's own (slower) checks
        missing = [v for v in y if v is None or (isinstance(v, float) and np.isnan(v))]
        if missing:
            raise ValueError(f"Input y contains a missing label ({missing[0]!r}).")
        check_classification_targets(y)
    labels = _distinct(y)
    if kind == "f" and np.any(labels != np.round(labels)):
        raise ValueError(
            "Unknown label type: continuous. Maybe you are trying to fit a classifier, which "
            "expects discrete classes on a regression target with continuous values."
        )
    return y, labels


def _distinct(y: np.ndarray) -> np.ndarray:
    """np.unique(y); small non-negative integer labels by one counting pass."""
    if y.dtype.kind in "iu" and y.size:
        low, high = y.min(), y.max()
        if low >= 0 and high < 1 << 16:
            return np.flatnonzero(np.bincount(y, minlength=int(high) + 1)).astype(y.dtype)
    return np.unique(y)


def classes_of_call(estimator, classes, labels: np.ndarray, first_call: bool) -> np.ndarray:
    """The classes of this fit: ``classes`` on a first call (required), the
    fitted ``classes_`` afterwards (``classes``, when given, must equal them).
    Every label of y (``labels``, distinct) must be one of them."""
    if first_call:
        if classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        out = unique_labels(classes)
    else:
        out = estimator.classes_
        if classes is not None and not np.array_equal(out, unique_labels(classes)):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                f"was: {out!r}"
            )
    unseen = np.setdiff1d(labels, out)
    if unseen.size:
        raise ValueError(
            f"y contains labels {unseen.tolist()!r} that are not among the classes "
            f"{out.tolist()!r}: pass every class to the first partial_fit call (classes=...)."
        )
    return out


def class_weights_of(estimator, classes: np.ndarray, y, sample_weight=None) -> np.ndarray:
    """The weight of each class of ``classes`` (compute_class_weight's, from
    ``estimator.class_weight``: ones when None; "balanced" from the classes'
    total ``sample_weight`` when given, as LogisticRegression's), checked by
    ``checked_class_weights``."""
    if estimator.class_weight is None:
        return np.ones(len(classes))
    with np.errstate(divide="ignore"):  # a class of zero weight: refused below
        weights = compute_class_weight(
            estimator.class_weight, classes=classes, y=y, sample_weight=sample_weight
        )
    return checked_class_weights(estimator, weights, classes)


def checked_class_weights(estimator, weights: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``weights``, or a ValueError naming class_weight and the class when one
    is negative, NaN or infinite (a negative weight would reward the loss it
    should penalize; "balanced" is infinite for a class of zero total weight)."""
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        label = np.asarray(classes)[i].tolist()
        if estimator.class_weight == "balanced":
            raise ValueError(
                f"class_weight='balanced' needs every class to have a positive total "
                f"sample_weight; class {label!r} has 0."
            )
        raise ValueError(
            f"class_weight must be finite and >= 0 for every class; got {float(weights[i])!r} "
            f"for class {label!r}."
        )
    return weights


def labels_of_scores(scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The predicted class of each row of a linear classifier's scores: the
    second class where the one score (n,) is positive, else the largest."""
    index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
    return np.take(classes, index, axis=0)


def probabilities(scores: np.ndarray, loss: str, softmax_scores: bool) -> np.ndarray:
    """Class probabilities from a linear classifier's scores (n,) or (n, k):
    the softmax (``softmax_scores``: a multinomial fit), else scikit-learn's
    rules for one-vs-rest scores: the logistic function (``log_loss``) or
    ``(clip(score, -1, 1) + 1) / 2`` (``modified_huber``), normalized (uniform
    where every class has 0)."""
    if softmax_scores:
        return softmax(np.asarray(scores, dtype=np.float64))
    if loss == "log_loss":
        prob = 1.0 / (1.0 + np.exp(-np.clip(scores, -745.0, 745.0)))
    else:
        prob = (np.clip(scores, -1.0, 1.0) + 1.0) / 2.0
    if prob.ndim == 1:
        return np.column_stack([1.0 - prob, prob])
    total = prob.sum(axis=1, keepdims=True)
    zero = total[:, 0] == 0
    prob[zero] = 1.0
    total[zero] = prob.shape[1]
    return prob / total


class LinearClassifierPredictions(ClassifierMixin):
    """``decision_function``, ``predict``, ``predict_proba``, ``predict_log_proba``
    and ``score`` (accuracy) of a fitted linear classifier (``coef_``,
    ``intercept_``, ``classes_``, ``loss``), as scikit-learn computes them."""

    def decision_function(self, X):
        """Signed distance of each sample to each class's hyperplane.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            The scores (one column for two classes: of ``classes_[1]``).
        """
        check_is_fitted(self)
        scores = linear_predict(self, X, self.n_jobs)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        return labels_of_scores(self.decision_function(X), self.classes_)

    # Whether the scores are a multinomial fit's (probabilities: their softmax).
    _softmax_scores = False

    def _check_proba(self) -> bool:
        if self.loss not in PROBABILISTIC_LOSSES:
            raise AttributeError(f"probability estimates are not available for loss={self.loss!r}")
        return True

    @available_if(_check_proba)
    def predict_proba(self, X):
        """Class probabilities (``log_loss`` and ``modified_huber`` only).

        A multinomial fit (GDClassifier): the softmax of the scores. Otherwise
        ``log_loss``: the logistic function of each score; more than two classes
        are normalized one-vs-rest scores. ``modified_huber``:
        ``(clip(score, -1, 1) + 1) / 2``, normalized likewise (uniform where
        every class has 0).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        return probabilities(self.decision_function(X), self.loss, self._softmax_scores)

    @available_if(_check_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities (``-inf`` where ``modified_huber`` gives 0).
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))
