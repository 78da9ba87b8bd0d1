"""GDClassifier: the optimum of scikit-learn's LogisticRegression, the
multinomial kernel against the reference, labels, weights, resuming, bad input."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import LAYOUTS, make_layout
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils._test_common.instance_generator import PER_ESTIMATOR_XFAIL_CHECKS
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.estimator_checks import check_estimator

from gdfast import DivergenceError, GDClassifier, kernels, reference


def blobs(n=2000, p=6, n_classes=2, seed=0, scales=None, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((n_classes, p))
    y = np.argmax(X @ W.T + noise * rng.gumbel(size=(n, n_classes)), axis=1)
    if scales is not None:
        X = X * scales
    return X, y


def objective(X, y, clf, alpha):
    """Mean log-loss (binary or multinomial) + alpha / 2 ||W||^2 of a fitted model."""
    classes = clf.classes_
    index = np.searchsorted(classes, y)
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64)
    n = X.shape[0]
    if len(classes) == 2:
        labels = np.where(index == 1, 1.0, -1.0)
        loss, _, _ = kernels.loss_grad(X, labels, coef[0], intercept[0], loss="log_loss")
    else:
        loss, _, _ = kernels.loss_grad(X, index, coef, intercept, loss="multinomial_log_loss")
    return loss / n + alpha / 2 * float((coef**2).sum())


def logistic_optimum(X, y, C=1.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # lbfgs on badly scaled data
        return LogisticRegression(C=C, tol=1e-12, max_iter=20000).fit(X, y)


# ------------------------------------------------------------ the multinomial kernel


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_multinomial_loss_grad_matches_the_reference(layout, dtype, weighted):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((301, 7)).astype(dtype)
    y = rng.integers(0, 4, 301)
    W = rng.standard_normal((4, 7))
    b = rng.standard_normal(4)
    sw = rng.random(301) if weighted else None
    got = kernels.loss_grad(
        make_layout(X, layout), y, W, b, loss="multinomial_log_loss", sample_weight=sw
    )
    want = reference.loss_grad(X, y, W, b, loss="multinomial_log_loss", sample_weight=sw)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got[0], want[0], rtol=rtol)
    np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=rtol * 10)
    np.testing.assert_allclose(got[2], want[2], rtol=rtol, atol=rtol * 10)


def test_multinomial_loss_is_the_softmax_cross_entropy_and_thread_invariant():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5000, 5))
    y = rng.integers(0, 3, 5000)
    W = 30 * rng.standard_normal((3, 5))  # large scores: no overflow
    P = X @ W.T
    top = P.max(axis=1, keepdims=True)
    softmax = np.exp(P - top) / np.exp(P - top).sum(axis=1, keepdims=True)
    want = -np.log(np.maximum(softmax[np.arange(5000), y], 1e-300)).sum()
    one = kernels.loss_grad(X, y, W, np.zeros(3), loss="multinomial_log_loss", n_jobs=1)
    two = kernels.loss_grad(X, y, W, np.zeros(3), loss="multinomial_log_loss", n_jobs=2)
    np.testing.assert_allclose(one[0], want, rtol=1e-9)
    assert one[0] == two[0]
    assert np.array_equal(one[1], two[1]) and np.array_equal(one[2], two[2])


@pytest.mark.parametrize(
    "y, coef, message",
    [
        (np.array([0, 1, 3]), np.zeros((3, 2)), "class indices 0 to 2"),
        (np.array([0, 1, 0.5]), np.zeros((3, 2)), "class indices"),
        (np.array([0, 1, -1]), np.zeros((3, 2)), "class indices"),
        (np.array([0, 1, 1]), np.zeros(2), "coef of shape"),
        (np.zeros((3, 2)), np.zeros((2, 2)), "y of shape"),
    ],
)
def test_multinomial_kernel_refuses_what_is_not_class_indices(y, coef, message):
    X = np.ones((3, 2))
    for module in (kernels, reference):
        with pytest.raises(ValueError, match=message):
            module.loss_grad(
                X, y, coef, np.zeros(len(np.atleast_2d(coef))), loss="multinomial_log_loss"
            )


# ------------------------------------------------------------ the optimum of LogisticRegression


CASES = {
    "standardized binary": dict(n_classes=2),
    "badly scaled binary": dict(n_classes=2, scales=np.logspace(-2, 2, 6)),
    "standardized 4 classes": dict(n_classes=4),
    "badly scaled 4 classes": dict(n_classes=4, scales=np.logspace(-2, 2, 6)),
    "nearly separable binary": dict(n_classes=2, noise=0.05),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("C", [1.0, 0.01])
def test_defaults_reach_the_logistic_regression_optimum(case, C):
    X, y = blobs(**CASES[case])
    alpha = 1.0 / (C * X.shape[0])
    lr = logistic_optimum(X, y, C)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = GDClassifier(alpha=alpha, standardize=False).fit(X, y)
    f_lr, f_gd = objective(X, y, lr, alpha), objective(X, y, clf, alpha)
    assert f_gd <= f_lr * (1 + 1e-6)
    assert clf.coef_.shape == lr.coef_.shape and clf.intercept_.shape == lr.intercept_.shape
    np.testing.assert_allclose(clf.predict_proba(X), lr.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_csr_input_reaches_the_same_optimum_as_dense(n_classes):
    rng = np.random.default_rng(3)
    X = sp.random(3000, 40, density=0.1, format="csr", random_state=3)
    W = rng.standard_normal((n_classes, 40)) * 3
    y = np.argmax(X @ W.T + rng.gumbel(size=(3000, n_classes)), axis=1)
    alpha = 1.0 / X.shape[0]
    lr = logistic_optimum(X, y)
    sparse = GDClassifier(alpha=alpha, standardize=False).fit(X, y)
    dense = GDClassifier(alpha=alpha, standardize=False).fit(X.toarray(), y)
    assert objective(X, y, sparse, alpha) <= objective(X, y, lr, alpha) * (1 + 1e-6)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-4, atol=1e-6)


def test_standardized_fit_predicts_like_a_scaled_logistic_regression():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = blobs(n_classes=3, scales=[1e-3, 1, 1e3, 1, 1, 1])
    alpha = 1.0 / X.shape[0]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(tol=1e-12, max_iter=5000))
    pipe.fit(X, y)
    clf = GDClassifier(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), pipe.predict_proba(X), atol=1e-6)


# ------------------------------------------------------------ the estimator


def test_check_estimator_passes_apart_from_scikit_learns_own_xfails():
    expected = PER_ESTIMATOR_XFAIL_CHECKS[LogisticRegression]
    results = check_estimator(GDClassifier(), expected_failed_checks=expected, on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []


def test_labels_of_any_kind_come_back_as_given():
    pd = pytest.importorskip("pandas")
    X, y = blobs(n_classes=3)
    names = np.array(["cat", "dog", "eel"])[y]
    for labels in (names, pd.Series(pd.Categorical(names)), y.astype(float) + 10):
        clf = GDClassifier().fit(X, labels)
        assert set(clf.predict(X)) <= set(np.unique(np.asarray(labels)))
        assert clf.score(X, labels) > 0.6
    clf = GDClassifier().fit(X, y == 1)
    assert clf.classes_.tolist() == [False, True]


def test_probabilities_are_softmax_for_multinomial_and_sum_to_one():
    X, y = blobs(n_classes=4)
    clf = GDClassifier().fit(X, y)
    proba = clf.predict_proba(X)
    scores = clf.decision_function(X)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, expected / expected.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-12)
    assert np.array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])
    hinge = GDClassifier(loss="hinge").fit(X, y)
    assert not hasattr(hinge, "predict_proba")


def test_one_vs_rest_fits_each_class_as_its_own_binary_problem():
    X, y = blobs(n_classes=3)
    ovr = GDClassifier(multi_class="ovr", tol=1e-12).fit(X, y)
    for t in range(3):
        binary = GDClassifier(tol=1e-12).fit(X, y == t)
        np.testing.assert_allclose(ovr.coef_[t], binary.coef_[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ovr.intercept_[t], binary.intercept_[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss", ["hinge", "modified_huber", "squared_hinge", "perceptron"])
def test_other_margin_losses_classify(loss):
    X, y = blobs(n_classes=3, noise=0.3)
    clf = GDClassifier(loss=loss).fit(X, y)
    assert clf.coef_.shape == (3, 6)
    assert clf.score(X, y) > 0.8


def test_balanced_with_sample_weights_is_logistic_regressions_rule():
    """ "balanced" weighs each class by the total sample weight of its rows
    (scikit-learn's compute_class_weight with sample_weight, as
    LogisticRegression uses it), not by its count of rows."""
    X, y = blobs(n_classes=3, n=600)
    sw = np.random.default_rng(4).uniform(0.1, 3.0, len(y)) * (1 + 2 * (y == 1))
    balanced = GDClassifier(class_weight="balanced", tol=1e-12).fit(X, y, sample_weight=sw)
    per_class = compute_class_weight("balanced", classes=np.arange(3), y=y, sample_weight=sw)
    totals = np.bincount(y, weights=sw)
    np.testing.assert_allclose(per_class, sw.sum() / (3 * totals), rtol=1e-14)
    weighted = GDClassifier(tol=1e-12).fit(X, y, sample_weight=sw * per_class[y])
    np.testing.assert_allclose(balanced.coef_, weighted.coef_, rtol=1e-10, atol=1e-12)
    zero = np.where(y == 2, 0.0, sw)
    with pytest.raises(ValueError, match="positive total sample_weight; class 2 has 0"):
        GDClassifier(class_weight="balanced").fit(X, y, sample_weight=zero)


def test_class_weight_is_sample_weight_and_weights_are_repetitions():
    X, y = blobs(n_classes=3, n=600)
    balanced = GDClassifier(class_weight="balanced", tol=1e-12).fit(X, y)
    weights = len(y) / (3 * np.bincount(y))
    weighted = GDClassifier(tol=1e-12).fit(X, y, sample_weight=weights[y])
    np.testing.assert_allclose(balanced.coef_, weighted.coef_, rtol=1e-10, atol=1e-12)
    repeat = np.arange(len(y)) % 3
    by_weight = GDClassifier(tol=1e-12).fit(X, y, sample_weight=repeat)
    by_rows = GDClassifier(tol=1e-12).fit(np.repeat(X, repeat, axis=0), np.repeat(y, repeat))
    np.testing.assert_allclose(by_weight.coef_, by_rows.coef_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_results_do_not_depend_on_threads_and_float32_stays_float32(n_jobs):
    X, y = blobs(n_classes=3, n=3000)
    one = GDClassifier(n_jobs=1).fit(X, y)
    other = GDClassifier(n_jobs=n_jobs).fit(X, y)
    assert np.array_equal(one.coef_, other.coef_)
    single = GDClassifier(n_jobs=n_jobs).fit(X.astype(np.float32), y)
    assert single.coef_.dtype == np.float32 and single.intercept_.dtype == np.float32
    np.testing.assert_allclose(single.coef_, one.coef_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam", "rmsprop", "adagrad"])
def test_mini_batches_and_optimizers_approach_the_optimum(optimizer):
    X, y = blobs(n_classes=3, n=3000)
    best = GDClassifier().fit(X, y)
    alpha = best.alpha
    clf = GDClassifier(batch_size=64, optimizer=optimizer, max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    f_best, f = objective(X, y, best, 0.0), objective(X, y, clf, 0.0)
    assert f <= f_best * 1.05 + alpha
    assert clf.score(X, y) >= best.score(X, y) - 0.03


def test_partial_fit_resumes_and_pickles_mid_way():
    X, y = blobs(n_classes=3)
    classes = np.unique(y)
    steady = GDClassifier()
    for _ in range(6):
        steady.partial_fit(X, y, classes=classes)
    halfway = GDClassifier()
    for _ in range(3):
        halfway.partial_fit(X, y, classes=classes)
    resumed = pickle.loads(pickle.dumps(halfway))
    for _ in range(3):
        resumed.partial_fit(X, y)
    assert np.array_equal(resumed.coef_, steady.coef_)
    assert steady.loss_curve_[-1] < GDClassifier().partial_fit(X, y, classes).loss_curve_[-1]


def test_early_stopping_scores_held_out_accuracy():
    X, y = blobs(n_classes=3, n=3000)
    for multi_class in ("multinomial", "ovr"):
        clf = GDClassifier(early_stopping=True, multi_class=multi_class, random_state=0).fit(X, y)
        scores = np.array(clf.validation_scores_)
        assert scores.size == clf.n_iter_ and np.all((scores >= 0) & (scores <= 1))
        assert scores.max() > 0.6


def test_warm_start_continues_from_the_fitted_model():
    X, y = blobs(n_classes=3)
    cold = GDClassifier().fit(X, y)
    warm = GDClassifier(warm_start=True).fit(X, y)
    warm.fit(X, y)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="warm_start needs the classes"):
        warm.fit(X, np.where(y == 2, 1, y))


@pytest.mark.parametrize(
    "fit, message",
    [
        (lambda X, y: GDClassifier().fit(X, np.zeros(len(y))), "greater than one"),
        (lambda X, y: GDClassifier().fit(X, np.where(y == 0, np.nan, y)), "NaN"),
        (lambda X, y: GDClassifier().fit(X, y + 0.5), "continuous"),
        (lambda X, y: GDClassifier(loss="hinge", multi_class="multinomial").fit(X, y), "log_loss"),
        (lambda X, y: GDClassifier().partial_fit(X, y), "classes must be passed"),
        (lambda X, y: GDClassifier().partial_fit(X, y, classes=[0, 1]), r"labels \[2\]"),
        (
            lambda X, y: GDClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2]),
            "balanced",
        ),
        (lambda X, y: GDClassifier().fit(X, y, sample_weight=-np.ones(len(y))), "(?i)negative"),
        (lambda X, y: GDClassifier().fit(X[:10], y), "inconsistent numbers of samples"),
    ],
)
def test_bad_input_gets_a_clear_error(fit, message):
    X, y = blobs(n_classes=3, n=200)
    with pytest.raises(ValueError, match=message):
        fit(X, y)


def test_nan_in_X_is_named_and_nothing_is_left_fitted():
    X, y = blobs(n_classes=3, n=200)
    X[5, 2] = np.nan
    clf = GDClassifier()
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_") and not hasattr(clf, "n_features_in_")


def test_partial_fit_with_different_classes_is_refused():
    X, y = blobs(n_classes=3, n=200)
    clf = GDClassifier().partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])


def test_a_blown_up_step_raises_a_divergence_error():
    X, y = blobs(n_classes=2, n=500, scales=1e4)
    clf = GDClassifier(learning_rate="constant", eta0=1e6, optimizer="sgd", standardize=False)
    with pytest.raises(DivergenceError, match="eta0"):
        clf.fit(X, y)
    X_before = X.copy()
    GDClassifier().fit(X, y)
    assert np.array_equal(X, X_before)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_default_solver_follows_the_reference(n_classes, weighted):
    X, y = blobs(n_classes=n_classes, n=800, scales=[1, 10, 100, 1, 0.1, 1])
    sw = np.random.default_rng(4).uniform(0.5, 2, len(y)) if weighted else None
    alpha = 1e-3
    clf = GDClassifier(alpha=alpha, standardize=False, tol=1e-10).fit(X, y, sample_weight=sw)
    if n_classes == 2:
        labels, loss, k = np.where(y == 1, 1.0, -1.0), "log_loss", None
    else:
        labels, loss, k = y, "multinomial_log_loss", n_classes
    W, b, objectives = reference.quasi_newton(
        X, labels, loss=loss, n_classes=k, alpha=alpha, sample_weight=sw, tol=1e-10
    )
    np.testing.assert_allclose(clf.coef_, W, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(clf.intercept_, b, rtol=1e-6, atol=1e-8)
    # both converge in a handful of quasi-Newton steps on these badly scaled features
    assert len(objectives) < 40 and clf.n_iter_ < 40


def test_the_reference_solver_refuses_a_loss_without_curvature():
    X, y = blobs(n=50)
    with pytest.raises(ValueError, match="smooth loss"):
        reference.quasi_newton(X, np.where(y == 1, 1.0, -1.0), loss="hinge")


@pytest.mark.parametrize("offset", [1e4, 1e6])
@pytest.mark.parametrize("sparse", [False, True])
def test_unstandardized_features_far_from_zero_reach_the_same_optimum(offset, sparse):
    # standardize=False penalizes the raw coefficients: shifting every feature
    # moves only the intercept of the optimum. The default solver centres its
    # working coordinates, so that the shift does not stall it.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3000, 6))
    y = (X @ rng.standard_normal(6) + 0.5 * rng.standard_normal(3000) > 0).astype(int)
    near = GDClassifier(standardize=False).fit(X, y)
    Xf = X + offset
    far = GDClassifier(standardize=False).fit(sp.csr_matrix(Xf) if sparse else Xf, y)

    def objective(model, X):
        z = (X @ model.coef_.T).ravel() + model.intercept_[0]
        return np.mean(np.logaddexp(0, -np.where(y == 1, 1, -1) * z)) + 0.5e-4 * np.sum(
            model.coef_**2
        )

    assert abs(objective(far, Xf) - objective(near, X)) <= 1e-9 * objective(near, X)
    np.testing.assert_allclose(far.coef_, near.coef_, rtol=1e-5)
    np.testing.assert_allclose(
        far.intercept_, near.intercept_ - offset * near.coef_.sum(axis=1), rtol=1e-5
    )
