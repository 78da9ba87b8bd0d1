"""GDClassifier: logistic regression (and the other margin losses) by gradient
descent that needs no tuning."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils.validation import validate_data

from gdfast import _core
from gdfast._base import (
    GdfastEstimator,
    LinearRegressorBase,
    refuse_zero_features,
    unfitted_on_failure,
    validation_split,
)
from gdfast._divergence import share_divergence_threshold, threshold_of
from gdfast._gd_engine import GDEngine
from gdfast._labels import (
    LinearClassifierPredictions,
    check_classification_targets_of,
    class_weights_of,
    classes_of_call,
)
from gdfast._sklearn_compat import StrOptions, _check_sample_weight, _fit_context
from gdfast._validation import kernel_ready

MULTI_CLASS = ("auto", "multinomial", "ovr")


def encode_labels(index: np.ndarray, n_classes: int, multinomial: bool, dtype) -> np.ndarray:
    """The engine's targets (n, ky) for class indices: +1/-1 of the second
    class (two classes), the class index (multinomial), else +1/-1 per class."""
    if n_classes == 2:
        y2 = np.where(index == 1, 1, -1).astype(dtype)[:, None]
    elif multinomial:
        y2 = index.astype(dtype)[:, None]
    else:
        y2 = np.where(index[:, None] == np.arange(n_classes), 1, -1).astype(dtype)
    return np.ascontiguousarray(y2)


def class_sums(y2: np.ndarray, weight, n_classes: int, multinomial: bool) -> np.ndarray:
    """The (weighted) number of rows of each class, from the engine's targets."""
    w = np.ones(y2.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
    if multinomial:
        return np.bincount(y2[:, 0].astype(np.intp), weights=w, minlength=n_classes)
    positive = np.array([w[column > 0].sum() for column in y2.T])  # (no BLAS: _numeric)
    if n_classes == 2:
        return np.array([w.sum() - positive[0], positive[0]])
    return positive


def classes_threshold(counts, weights, loss: str, multinomial: bool) -> float:
    """The divergence threshold of a classification fit from the number of
    rows (``counts``) and the weight (``weights``) of each class."""
    if multinomial:
        return threshold_of(float(np.log(len(counts))))  # predicting 0 costs log(k) per row
    n, total = float(np.sum(counts)), float(np.sum(weights))
    if n == 0 or total <= 0:
        return float("inf")
    positive = slice(1, 2) if len(counts) == 2 else slice(None)
    return sum(
        share_divergence_threshold(c / n, (2 * w - total) / total, loss, 0.0)
        for c, w in zip(counts[positive], weights[positive], strict=True)
    )


def log_odds_start(weights: np.ndarray, multinomial: bool) -> np.ndarray | None:
    """The optimal intercepts of log_loss with every coefficient 0, from the
    weight of each class: centred log-shares (multinomial), else the log-odds
    of each binary problem (one for two classes). None when a class has no
    weight (its optimum is infinite)."""
    total = float(np.sum(weights))
    if total <= 0 or np.any(weights <= 0):
        return None
    share = np.asarray(weights, dtype=np.float64) / total
    if multinomial:
        return np.log(share) - np.log(share).mean()
    positive = share[1:] if len(share) == 2 else share
    return np.log(positive / (1.0 - positive))


class GDClassifier(GDEngine, LinearClassifierPredictions, GdfastEstimator):
    """Linear classification by gradient descent that converges without tuning.

    Logistic regression by default: binary, or multinomial (softmax) for more
    than two classes, its gradient for every class from one pass over X. The
    other margin losses of :class:`SGDClassifier` (hinge, squared hinge,
    modified Huber, perceptron) fit one-vs-rest, all classes in the same pass.
    The engine is :class:`GDRegressor`'s: full batch by default with a step size
    from the data and Nesterov's momentum with restart, feature standardization
    inside the kernels (X is never copied), mini-batches and every optimizer.

    The objective (SGDClassifier's convention; in standardized coordinates when
    ``standardize=True``) is::

        sum_i s_i loss(x_i, y_i) / sum_i s_i
            + alpha * ((1 - l1_ratio) / 2 * ||W||_2^2 + l1_ratio * ||W||_1)

    scikit-learn's ``LogisticRegression(C=C)`` minimizes the same objective with
    ``alpha = 1 / (C * sum_i s_i)``, ``penalty="l2"`` and ``standardize=False``.

    With the defaults and a smooth loss without an L1 term (n_features up to
    1024), each step is taken in the metric of the loss's curvature bound
    (Boehning's bound for the log losses): the co-moments of X, from the same
    pass as the standardization, precondition the gradient, so badly scaled or
    correlated features cost no extra steps.

    Parameters
    ----------
    loss : {"log_loss", "hinge", "modified_huber", "squared_hinge", \
            "perceptron"}, default="log_loss"
        The loss of the margin. ``log_loss`` is logistic regression.
    penalty : {"l2", "l1", "elasticnet", None}, default="l2"
        The regularization term.
    alpha : float, default=0.0001
        Regularization strength.
    l1_ratio : float, default=0.15
        Elastic-net mixing: 0 is pure L2, 1 pure L1.
    fit_intercept : bool, default=True
        Whether to fit intercepts.
    multi_class : {"auto", "multinomial", "ovr"}, default="auto"
        More than two classes: ``multinomial`` minimizes the softmax log-loss
        (``log_loss`` only), ``ovr`` one binary problem per class (all in one
        pass over X per step). ``auto``: multinomial for ``log_loss``, else ovr.
    batch_size, optimizer, learning_rate, eta0, power_t, gamma, step_size, \
momentum, beta_1, beta_2, rho, eps, standardize, max_iter, tol, n_iter_no_change, \
shuffle, average, random_state, verbose, n_jobs, on_divergence
        As in :class:`GDRegressor`.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the rows and stop on
        their accuracy.
    validation_fraction : float, default=0.1
        Share of rows held out for early stopping.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying the sample weights (``balanced``:
        ``sum(sample_weight) / (n_classes * np.bincount(y, sample_weight))``,
        as LogisticRegression's; not with partial_fit).
    warm_start : bool, default=False
        Start ``fit`` from the previous coefficients (the same classes).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients in the original units, in X's dtype.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_iter_ : int
        Epochs (full batch: steps) of the last ``fit`` / ``partial_fit``.
    t_ : int
        Parameter updates so far.
    loss_curve_ : list of float
        Training objective after each epoch of the last call.
    validation_scores_ : list of float or None
        Validation accuracy after each epoch when ``early_stopping``.
    learning_rate_ : float
        The base step size used (1 for preconditioned steps).
    feature_mean_, feature_scale_ : ndarray of shape (n_features,)
        The shift and scale of the descent's working coordinates: the
        implicit standardization; with ``standardize=False``, 0 and 1, except
        on a cold start of the default full-batch solver, which standardizes
        without a penalty and centres (scale 1) with one and an intercept,
        changing no objective (see ``standardize``).
    optimizer_state_ : dict
        What ``partial_fit`` resumes.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from gdfast import GDClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(300, 2) * [1, 1000]  # very different scales: no problem
    >>> y = np.where(X[:, 0] + X[:, 1] / 1000 > 0, "yes", "no")
    >>> clf = GDClassifier().fit(X, y)
    >>> bool(clf.score(X, y) > 0.95)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **{
            name: rule
            for name, rule in LinearRegressorBase._parameter_constraints.items()
            if name not in ("loss", "epsilon")
        },
        **GDEngine._parameter_constraints,
        "loss": [StrOptions(set(_core.MARGIN_LOSSES))],
        "multi_class": [StrOptions(set(MULTI_CLASS))],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    _preconditions = True
    _scores_accuracy = True

    def __init__(
        self,
        loss: str = "log_loss",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        multi_class: str = "auto",
        batch_size: int | None = None,
        optimizer: str = "nesterov",
        learning_rate: str = "auto",
        eta0: float = 0.01,
        power_t: float = 0.25,
        gamma: float = 0.9,
        step_size: int = 10,
        momentum: float | str = "auto",
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        rho: float = 0.9,
        eps: float = 1e-8,
        standardize: bool = True,
        max_iter: int = 10000,
        tol: float | str | None = "auto",
        n_iter_no_change: int = 5,
        shuffle: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        average: bool | int = False,
        class_weight: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        n_jobs: int | None = None,
        on_divergence: str = "raise",
    ) -> None:
        self._store_params(locals())

    # ------------------------------------------------------------------ parameters

    def _check_params(self, for_partial_fit: bool = False) -> None:
        super()._check_params(for_partial_fit)
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError(
                f"multi_class='multinomial' is the softmax log-loss: it needs "
                f"loss='log_loss', not {self.loss!r} (use multi_class='ovr')."
            )
        if for_partial_fit and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: compute the "
                "weights once with compute_class_weight('balanced', classes=classes, y=y) "
                "and pass them as class_weight."
            )

    @property
    def _engine_loss(self) -> str:
        return getattr(self, "_fitted_loss", self.loss)

    @property
    def _loss_epsilon(self) -> float:
        return 0.0  # the margin losses have no width

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the classifier by gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32/float64 in C or Fortran order and CSR are
            used in place.
        y : array-like of shape (n_samples,)
            Class labels (numbers, strings, booleans or a pandas categorical).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples, multiplied by ``class_weight``.

        Returns
        -------
        self : GDClassifier
            The fitted estimator.

        Raises
        ------
        DivergenceError
            If the coefficients become NaN/inf, or (``on_divergence="raise"``,
            the default) the returned model is useless.
        """
        self._check_params()
        y, labels = check_classification_targets_of(self, y)
        warm = self.warm_start and hasattr(self, "coef_")
        if warm and not np.array_equal(labels, self.classes_):
            raise ValueError(
                f"warm_start needs the classes of the previous fit {self.classes_.tolist()!r}; "
                f"y has {labels.tolist()!r}."
            )
        with unfitted_on_failure(self, True):
            return self._fit_checked(X, y, labels, sample_weight, labels, True, self.max_iter, warm)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch (full batch: one step) on the given samples, resuming.

        The first call fixes the classes and the standardization (from its
        rows); later calls continue from the current coefficients, schedule
        position and optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : array-like of shape (n_samples,)
            Its labels, each one of ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every class of all the calls: required on the first call, and, when
            given later, equal to ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples.

        Returns
        -------
        self : GDClassifier
            The updated estimator.
        """
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._check_params(for_partial_fit=True)
        y, labels = check_classification_targets_of(self, y)
        with unfitted_on_failure(self, first_call):
            classes_ = classes_of_call(self, classes, labels, first_call)
            return self._fit_checked(X, y, labels, sample_weight, classes_, first_call, 1, False)

    def _fit_checked(self, X, y, labels, sample_weight, classes_, first_call, max_iter, warm):
        refuse_zero_features(self, X)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            reset=first_call,
            ensure_all_finite=False,  # the kernels' passes find NaN/inf
        )
        X = kernel_ready(X)
        n_classes = len(classes_)
        if n_classes < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got {n_classes} class"
            )
        index = np.searchsorted(classes_, y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(
                sample_weight, X, dtype=X.dtype, ensure_non_negative=True
            )
        if self.class_weight is not None:
            # "balanced" from the classes' total sample weights: LogisticRegression's.
            weights = class_weights_of(self, classes_, y, sample_weight)
            factor = weights[index].astype(X.dtype)
            sample_weight = factor if sample_weight is None else factor * sample_weight
        multinomial, k = self._set_encoding(classes_, first_call)
        return self._descend(
            X,
            encode_labels(index, n_classes, multinomial, X.dtype),
            k,
            sample_weight,
            first_call=first_call,
            max_iter=max_iter,
            warm=warm,
            multi=True,
            split_on=index,
        )

    def _set_encoding(self, classes_: np.ndarray, first_call: bool) -> tuple[bool, int]:
        """(multinomial, k outputs) of a fit on ``classes_``; a first call fixes
        the loss the engine minimizes, later calls must keep it."""
        n_classes = len(classes_)
        multinomial = n_classes > 2 and self.loss == "log_loss" and self.multi_class != "ovr"
        if first_call:
            self._fitted_loss = "multinomial_log_loss" if multinomial else self.loss
        elif (self._fitted_loss == "multinomial_log_loss") != multinomial:
            raise ValueError("partial_fit needs the loss and multi_class of the first call.")
        self._classes_of_fit = classes_
        return multinomial, 1 if n_classes == 2 else n_classes

    @property
    def _multinomial(self) -> bool:
        return self._fitted_loss == "multinomial_log_loss"

    # ------------------------------------------------------------------ the engine's hooks

    def _validation_split(self, y, sample_weight):
        return validation_split(self, y, sample_weight, StratifiedShuffleSplit)

    def _divergence_threshold(self, y_train, w_train) -> float:
        n_classes = len(self._classes_of_fit)
        return classes_threshold(
            class_sums(y_train, None, n_classes, self._multinomial),
            class_sums(y_train, w_train, n_classes, self._multinomial),
            self.loss,
            self._multinomial,
        )

    def _y_spread(self, y_train) -> float:
        return 1.0  # margins of labels +1/-1, or logits

    def _best_constant(self, y_train, w_train) -> np.ndarray | None:
        if self.loss != "log_loss":
            return None
        n_classes = len(self._classes_of_fit)
        return log_odds_start(
            class_sums(y_train, w_train, n_classes, self._multinomial), self._multinomial
        )

    def _publish(self, coef, intercept, dtype, multi: bool) -> None:
        self.classes_ = self._classes_of_fit
        self.coef_ = coef.astype(dtype)
        self.intercept_ = intercept.astype(dtype)

    # ------------------------------------------------------------------ probabilities

    @property
    def _softmax_scores(self) -> bool:
        return getattr(self, "_fitted_loss", None) == "multinomial_log_loss"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags
