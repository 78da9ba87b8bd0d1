"""gdfast.SGDClassifier: the drop-in for scikit-learn's, and its error handling."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import MARGIN_LOSSES
from sklearn.base import clone
from sklearn.linear_model import SGDClassifier as SkSGDClassifier
from sklearn.utils.estimator_checks import check_estimator

from gdfast import DivergenceError, DivergenceWarning, SGDClassifier
from gdfast._sgd_classifier import LOSS_ARGS

EXPECTED_FAILED_CHECKS = {
    # scikit-learn marks both xfail for its own SGDClassifier.
    "check_sample_weight_equivalence_on_dense_data": "per-sample SGD is not row repetition",
    "check_sample_weight_equivalence_on_sparse_data": "per-sample SGD is not row repetition",
}


def make_classes(n=600, p=6, n_classes=2, *, fmt="dense", seed=0):
    """Standardized features and integer labels from a noisy linear rule."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, n_classes))
    y = np.argmax(X @ W + 0.8 * rng.standard_normal((n, n_classes)), axis=1)
    if n_classes == 2:
        y = (X @ W[:, 0] + 0.3 * rng.standard_normal(n) > 0.2).astype(int)
    if fmt == "csr":
        X[rng.random((n, p)) > 0.6] = 0.0
        return sp.csr_matrix(X), y
    return X, y


def fit_both(params, X, y, **fit_kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = SGDClassifier(**params).fit(X, y, **fit_kw)
        ref = SkSGDClassifier(**params).fit(X, y, **fit_kw)
    return ours, ref


def sklearn_is_stable(params, X, y) -> bool:
    """Whether scikit-learn's own result survives a 1-ulp change of X: on a
    chaotic trajectory (huge early steps) rounding decides the model, and no
    reimplementation can agree beyond the first epochs."""
    X2 = X.multiply(1 + 2e-16).tocsr() if sp.issparse(X) else X * (1 + 2e-16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = SkSGDClassifier(**params).fit(X, y)
        b = SkSGDClassifier(**params).fit(X2, y)
    return a.n_iter_ == b.n_iter_ and np.allclose(a.coef_, b.coef_, rtol=0, atol=1e-9)


def assert_same_model(ours, ref, *, exact):
    assert ours.n_iter_ == ref.n_iter_ and ours.t_ == ref.t_
    assert ours.coef_.shape == ref.coef_.shape and ours.coef_.dtype == ref.coef_.dtype
    assert ours.intercept_.shape == ref.intercept_.shape
    assert ours.intercept_.dtype == ref.intercept_.dtype
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    if exact:
        np.testing.assert_array_equal(ours.coef_, ref.coef_)
        np.testing.assert_array_equal(ours.intercept_, ref.intercept_)
    else:
        scale = max(1.0, np.abs(ref.coef_).max())
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=0, atol=1e-9 * scale)


SETTINGS = [
    {},
    {"average": True},
    {"average": 300, "alpha": 0.01},
    {"class_weight": "balanced"},
    {"class_weight": {0: 2.0, 1: 0.5}},
    {"penalty": "elasticnet", "l1_ratio": 0.5},
    {"penalty": "l1"},
    {"penalty": None, "early_stopping": True},
    {"learning_rate": "invscaling", "eta0": 0.05},
    {"learning_rate": "adaptive", "eta0": 0.05},
    {"learning_rate": "constant", "eta0": 0.01, "fit_intercept": False},
]


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("loss", list(LOSS_ARGS))
def test_same_model_as_scikit_learn(loss, n_classes, fmt):
    """Every loss x setting: scikit-learn's model to rounding (dense float64 and
    CSR), wherever scikit-learn's own result is stable to rounding."""
    X, y = make_classes(n_classes=n_classes, fmt=fmt)
    compared = 0
    for setting in SETTINGS:
        if "class_weight" in setting and isinstance(setting["class_weight"], dict):
            setting = {**setting, "class_weight": {0: 2.0, 1: 0.5, 2: 1.5}}
        if loss == "log_loss" and setting.get("early_stopping"):
            continue  # scikit-learn scores 0/1 labels against +1/-1 predictions (see README)
        params = {"loss": loss, "random_state": 0, **setting}
        if not sklearn_is_stable(params, X, y):
            continue
        ours, ref = fit_both(params, X, y)
        assert_same_model(ours, ref, exact=False)
        assert (ours.predict(X) == ref.predict(X)).mean() > 0.99
        compared += 1
    assert compared >= 3, compared  # the comparison is not vacuous


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("loss", ["hinge", "log_loss", "perceptron", "modified_huber"])
def test_csr_defaults_are_bitwise_scikit_learns(loss, n_classes):
    """On CSR the loop does scikit-learn's operations in its order: the same bits."""
    X, y = make_classes(n_classes=n_classes, fmt="csr")
    ours, ref = fit_both({"loss": loss, "random_state": 0}, X, y)
    assert_same_model(ours, ref, exact=True)


@pytest.mark.parametrize("learning_rate", ["pa1", "pa2"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_passive_aggressive_matches_scikit_learn(learning_rate, fmt):
    X, y = make_classes(n_classes=3, fmt=fmt)
    ours, ref = fit_both({"learning_rate": learning_rate, "random_state": 0}, X, y)
    assert_same_model(ours, ref, exact=fmt == "csr")


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_partial_fit_matches_scikit_learn(fmt):
    X, y = make_classes(n_classes=3, fmt=fmt)
    # (not with average: scikit-learn 1.9 restarts the plain intercept of each
    # call from the previous call's start, see README)
    ours = SGDClassifier(loss="log_loss", random_state=0)
    ref = SkSGDClassifier(loss="log_loss", random_state=0)
    for start in range(0, 600, 200):
        rows = slice(start, start + 200)
        ours.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        ref.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    assert_same_model(ours, ref, exact=fmt == "csr")


def test_warm_start_and_coef_init_match_scikit_learn():
    X, y = make_classes(n_classes=3)
    init = {"coef_init": np.full((3, 6), 0.1), "intercept_init": np.array([0.1, 0.0, -0.1])}
    ours, ref = fit_both({"random_state": 0, "max_iter": 3, "tol": None}, X, y, **init)
    assert_same_model(ours, ref, exact=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours.set_params(warm_start=True).fit(X, y)
        ref.set_params(warm_start=True).fit(X, y)
    assert_same_model(ours, ref, exact=False)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("average", [False, True, 10**7])
@pytest.mark.parametrize("call", ["fit", "partial_fit", "fit then partial_fit"])
def test_float32_dtypes_are_scikit_learns(n_classes, average, call):
    """float32 coef_ always; intercept_ float64 for a binary problem unless the
    averaged one is returned (scikit-learn's loop's double), else float32."""
    X, y = make_classes(n=200, n_classes=n_classes)
    X = X.astype(np.float32)
    models = []
    for Model in (SGDClassifier, SkSGDClassifier):
        m = Model(random_state=0, max_iter=5, average=average)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if call != "partial_fit":
                m.fit(X, y)
            if call != "fit":
                m.partial_fit(X, y, classes=np.unique(y))
        models.append(m)
    ours, ref = models
    assert ours.coef_.dtype == ref.coef_.dtype == np.float32
    assert ours.intercept_.dtype == ref.intercept_.dtype, (ours.intercept_, ref.intercept_)


@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_probabilities_are_scikit_learns(loss, n_classes):
    X, y = make_classes(n_classes=n_classes)
    ours, ref = fit_both({"loss": loss, "random_state": 0}, X, y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-9)
    np.testing.assert_allclose(ours.decision_function(X), ref.decision_function(X), atol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(
            ours.predict_log_proba(X), np.log(ours.predict_proba(X)), atol=1e-12
        )


@pytest.mark.parametrize("loss", ["hinge", "perceptron", "squared_hinge"])
def test_no_probabilities_for_margin_only_losses(loss):
    clf = SGDClassifier(loss=loss).fit(*make_classes())
    assert not hasattr(clf, "predict_proba")
    with pytest.raises(AttributeError, match="predict_proba") as info:
        clf.predict_proba(np.zeros((1, 6)))
    assert "probability estimates are not available" in str(info.value.__cause__)


def test_results_do_not_depend_on_n_jobs():
    X, y = make_classes(n=2000, n_classes=5)
    fits = [SGDClassifier(random_state=0, n_jobs=j).fit(X, y) for j in (1, 2, 4)]
    for f in fits[1:]:
        assert np.array_equal(f.coef_, fits[0].coef_)
        assert np.array_equal(f.intercept_, fits[0].intercept_)
        assert f.n_iter_ == fits[0].n_iter_


def test_check_estimator():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(
            SGDClassifier(),
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            on_fail=None,
            on_skip=None,
        )
    unexpected = {
        r["check_name"]: repr(r["exception"])[:300]
        for r in results
        if r["status"] == "failed" and r["check_name"] not in EXPECTED_FAILED_CHECKS
    }
    assert not unexpected, unexpected
    assert set(EXPECTED_FAILED_CHECKS) <= {r["check_name"] for r in results}


def test_labels_of_any_kind():
    X, y = make_classes(n_classes=3)
    names = np.array(["cat", "dog", "emu"])[y]
    clf = SGDClassifier(random_state=0).fit(X, names)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert set(clf.predict(X)) <= set(names)
    pd = pytest.importorskip("pandas")
    cat = pd.Series(pd.Categorical(names))
    by_cat = SGDClassifier(random_state=0).fit(X, cat)
    np.testing.assert_array_equal(by_cat.coef_, clf.coef_)
    booleans = SGDClassifier(random_state=0).fit(X, y == 1)
    assert booleans.classes_.dtype == bool


def test_bad_labels_are_refused_with_clear_errors():
    X, y = make_classes(n_classes=3)
    with pytest.raises(ValueError, match="greater than one; got 1 class"):
        SGDClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="Unknown label type"):
        SGDClassifier().fit(X, np.linspace(0, 1, len(y)))
    with pytest.raises(ValueError, match="NaN"):
        SGDClassifier().fit(X, np.where(y == 0, np.nan, y))
    with pytest.raises(ValueError, match="Input y contains infinity"):
        SGDClassifier().fit(X, np.where(y == 0, np.inf, y))
    with pytest.raises(ValueError, match="classes must be passed"):
        SGDClassifier().partial_fit(X, y)
    clf = SGDClassifier().partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[2\] that are not among the classes"):
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        SGDClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_bad_data_is_refused_and_left_untouched():
    X, y = make_classes()
    bad = X.copy()
    bad[3, 2] = np.nan
    before = bad.copy()
    clf = SGDClassifier()
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(bad, y)
    np.testing.assert_array_equal(bad, before)
    assert not hasattr(clf, "coef_") and not hasattr(clf, "n_features_in_")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="Provided coef_init does not match dataset"):
        clf.fit(X, y, coef_init=np.zeros(5))
    with pytest.raises(ValueError, match="contains NaN"):
        clf.fit(X, y, coef_init=np.full(6, np.nan))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        clf.predict(X)
    fitted = SGDClassifier().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :4])


def test_divergence_is_never_silent():
    """Features x 1e50: scikit-learn returns garbage silently; gdfast the same
    model with a DivergenceWarning, or a DivergenceError with on_divergence="raise"."""
    X, y = make_classes()
    X = X * 1e50
    with pytest.warns(DivergenceWarning, match="useless"):
        ours = SGDClassifier(loss="squared_hinge", random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkSGDClassifier(loss="squared_hinge", random_state=0).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    clf = SGDClassifier(loss="squared_hinge", random_state=0, on_divergence="raise")
    with pytest.raises(DivergenceError, match="standardize X"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_")


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_every_loss_learns_separable_data(loss):
    X, y = make_classes(n=2000)
    clf = SGDClassifier(loss=loss, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.85
    assert isinstance(clf.loss_curve_, list) and len(clf.loss_curve_) == clf.n_iter_


def test_mini_batch_learns_and_keeps_one_curve_per_class():
    X, y = make_classes(n=3000, n_classes=3)
    clf = SGDClassifier(loss="log_loss", batch_size=64, learning_rate="constant", eta0=0.5)
    clf.set_params(random_state=0).fit(X, y)
    per_sample = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    assert clf.score(X, y) > per_sample.score(X, y) - 0.05
    assert len(clf.loss_curve_) == 3 and all(len(c) >= 1 for c in clf.loss_curve_)


def test_pickle_sparsify_and_clone():
    X, y = make_classes(n_classes=3)
    clf = SGDClassifier(penalty="l1", random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    dense_scores = clf.decision_function(X)
    clf.sparsify()
    assert sp.issparse(clf.coef_)
    np.testing.assert_allclose(clf.decision_function(X), dense_scores)
    clf.densify()
    assert isinstance(clf.coef_, np.ndarray)
    assert clone(clf).get_params() == clf.get_params()


@pytest.mark.parametrize("loss", list(LOSS_ARGS))
def test_label_threshold_is_the_general_threshold(loss):
    from gdfast._divergence import divergence_threshold, label_divergence_threshold

    rng = np.random.default_rng(4)
    y = np.where(rng.random(1001) < 0.3, 1.0, -1.0)
    w = rng.random(1001)
    for weights in (None, w):
        want = divergence_threshold(y, loss, 0.1, weights)
        assert label_divergence_threshold(y, loss, 0.1, weights) == pytest.approx(want, rel=1e-12)


def test_csr_with_64_bit_indices_fits_the_32_bit_model():
    # scikit-learn refuses 64-bit indices here; gdfast's kernels take both.
    X = sp.random(300, 40, density=0.2, format="csr", random_state=0, dtype=np.float64)
    y = np.random.default_rng(0).integers(0, 3, 300)
    wide = X.copy()
    wide.indices, wide.indptr = wide.indices.astype(np.int64), wide.indptr.astype(np.int64)
    a = SGDClassifier(random_state=0, max_iter=5, tol=None).fit(X, y)
    b = SGDClassifier(random_state=0, max_iter=5, tol=None).fit(wide, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.intercept_, b.intercept_)
