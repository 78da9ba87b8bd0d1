"""Class labels of the classifiers: what a fit accepts as y, and the classes of a call."""

from __future__ import annotations

import numpy as np
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import column_or_1d


def check_classification_targets_of(estimator, y) -> np.ndarray:
    """``y`` as a 1-D array of class labels, or scikit-learn's errors: for a
    continuous or multi-output target, NaN, or a length that is not one label
    per sample (checked against X later). Numbers, strings, booleans and pandas
    categoricals are labels; a column vector is raveled with a warning."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y is None."
        )
    y = column_or_1d(y, warn=True)
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("Input y contains NaN.")
    if y.dtype.kind == "O":
        missing = [v for v in y if v is None or (isinstance(v, float) and np.isnan(v))]
        if missing:
            raise ValueError(f"Input y contains a missing label ({missing[0]!r}).")
    check_classification_targets(y)
    return y


def classes_of_call(estimator, classes, y: np.ndarray, first_call: bool) -> np.ndarray:
    """The classes of this fit: ``classes`` on a first call (required), the
    fitted ``classes_`` afterwards (``classes``, when given, must equal them).
    Every label of ``y`` must be one of them."""
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
    unseen = np.setdiff1d(unique_labels(y), out)
    if unseen.size:
        raise ValueError(
            f"y contains labels {unseen.tolist()!r} that are not among the classes "
            f"{out.tolist()!r}: pass every class to the first partial_fit call (classes=...)."
        )
    return out
