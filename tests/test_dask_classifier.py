"""gdfast.dask.GDClassifier: the in-memory classifier's models from dask
collections, on dask's threaded scheduler and on a LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

import pandas as pd  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

import gdfast  # noqa: E402
from gdfast.dask import GDClassifier  # noqa: E402


def labelled(n=12_000, p=6, n_classes=3, seed=0, decades=4, dtype=np.float64):
    """Features on scales spanning ``decades`` powers of ten, offset from 0, and
    noisy classes of a linear score (labels "c0", "c1", ...)."""
    rng = np.random.default_rng(seed)
    scales = np.logspace(-2, decades - 2, p)
    X = rng.standard_normal((n, p)) * scales + rng.uniform(-3, 3, p)
    S = (X - X.mean(axis=0)) @ (rng.standard_normal((p, n_classes)) / scales[:, None])
    index = np.argmax(S / S.std(axis=0) + rng.gumbel(size=(n, n_classes)), axis=1)
    return X.astype(dtype), np.array([f"c{i}" for i in range(n_classes)])[index]


def as_dask(X, y, w=None, rows=2_500):
    dX = da.from_array(X, chunks=(rows, X.shape[1]))
    dy = da.from_array(y, chunks=rows)
    dw = None if w is None else da.from_array(w, chunks=rows)
    return dX, dy, dw


def assert_same_model(a, b, rtol):
    np.testing.assert_array_equal(b.classes_, a.classes_)
    scale = np.abs(a.coef_).max()
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(b.intercept_, a.intercept_, rtol=rtol, atol=rtol * scale)
    assert b.coef_.dtype == a.coef_.dtype
    # The stopping rules compare gradients or steps near rounding level: another
    # summation order of the same sums may take one more step.
    assert abs(b.n_iter_ - a.n_iter_) <= 1


FULL_BATCH = [
    ({}, 2),
    ({}, 4),
    ({"multi_class": "ovr"}, 3),
    ({"loss": "hinge", "alpha": 1e-3}, 3),
    ({"loss": "modified_huber"}, 2),
    ({"class_weight": "balanced"}, 3),
    ({"class_weight": {"c0": 3.0}}, 2),
    ({"fit_intercept": False}, 3),
    ({"standardize": False, "alpha": 1e-2}, 2),
    ({"penalty": "l1", "alpha": 1e-3}, 3),
]


@pytest.mark.parametrize(
    "params,n_classes",
    FULL_BATCH,
    ids=[",".join(map(str, p.values())) + f"-{k}" for p, k in FULL_BATCH],
)
def test_full_batch_gives_the_in_memory_model(params, n_classes):
    # up to 16,384 rows the in-memory preconditioner reads every row, as the
    # distributed co-moments do: the same steps to rounding
    X, y = labelled(n_classes=n_classes)
    dX, dy, _ = as_dask(X, y)
    a = gdfast.GDClassifier(**params).fit(X, y)
    with dask.config.set(scheduler="threads"):
        b = GDClassifier(**params).fit(dX, dy)
    assert_same_model(a, b, 1e-6)
    assert b.loss_curve_[-1] == pytest.approx(a.loss_curve_[-1], rel=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_on_the_cluster_with_weights(scheduler, dtype):
    X, y = labelled(n_classes=3, dtype=dtype)
    w = np.random.default_rng(1).uniform(0.2, 3.0, X.shape[0]).astype(dtype)
    dX, dy, dw = as_dask(X, y, w)
    a = gdfast.GDClassifier().fit(X, y, sample_weight=w)
    b = GDClassifier().fit(dX, dy, sample_weight=dw)
    assert_same_model(a, b, 1e-6 if dtype == np.float64 else 1e-4)


def test_balanced_class_weights_with_sample_weights_are_the_in_memory_ones():
    """ "balanced" from each class's total sample weight over all blocks, as
    in memory (LogisticRegression's rule)."""
    X, y = labelled(n_classes=3)
    w = np.random.default_rng(2).uniform(0.1, 4.0, X.shape[0]) * (1 + (y == 0))
    dX, dy, dw = as_dask(X, y, w)
    a = gdfast.GDClassifier(class_weight="balanced").fit(X, y, sample_weight=w)
    with dask.config.set(scheduler="threads"):
        b = GDClassifier(class_weight="balanced").fit(dX, dy, sample_weight=dw)
    assert_same_model(a, b, 1e-6)


def test_objective_of_logistic_regression(scheduler):
    """The optimum of scikit-learn's LogisticRegression, from the blocks (more
    rows than the in-memory fit's preconditioner reads: not its steps)."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y = labelled(n=40_000, n_classes=3)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    C = 1.0
    lr = linear_model.LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    dX, dy, _ = as_dask(X, y, rows=10_000)
    b = GDClassifier(alpha=1.0 / (C * X.shape[0]), standardize=False).fit(dX, dy)

    def objective(coef, intercept):
        scores = X @ coef.T + intercept
        top = scores.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
        truth = scores[np.arange(len(y)), np.searchsorted(lr.classes_, y)]
        return np.mean(log_z - truth) + 0.5 / (C * X.shape[0]) * np.sum(coef**2)

    best = objective(lr.coef_, lr.intercept_)
    assert objective(b.coef_, b.intercept_) <= best * (1 + 1e-6)


def test_predictions_are_lazy_and_match(scheduler):
    X, y = labelled(n_classes=4)
    dX, dy, _ = as_dask(X, y)
    b = GDClassifier().fit(dX, dy)
    for method in ("decision_function", "predict", "predict_proba", "predict_log_proba"):
        lazy = getattr(b, method)(dX)
        assert isinstance(lazy, da.Array)
        if method == "predict":
            np.testing.assert_array_equal(lazy.compute(), b.predict(X))
        else:
            np.testing.assert_allclose(lazy.compute(), getattr(b, method)(X), rtol=1e-12)
    assert b.score(dX, dy) == pytest.approx(accuracy_score(y, b.predict(X)), rel=1e-12)
    w = np.random.default_rng(0).uniform(0, 2, len(y))
    assert b.score(dX, dy, da.from_array(w, chunks=2_500)) == pytest.approx(
        accuracy_score(y, b.predict(X), sample_weight=w), rel=1e-12
    )


def test_binary_decision_function_and_hinge_has_no_proba():
    X, y = labelled(n_classes=2)
    dX, dy, _ = as_dask(X, y)
    with dask.config.set(scheduler="threads"):
        b = GDClassifier(loss="hinge").fit(dX, dy)
        scores = b.decision_function(dX)
        assert scores.shape == (X.shape[0],)
        np.testing.assert_allclose(scores.compute(), b.decision_function(X), rtol=1e-12)
    assert not hasattr(b, "predict_proba")


@pytest.mark.parametrize("kind", ["int", "bool", "category"])
def test_labels_of_every_kind_from_dataframes(kind):
    X, y = labelled(n_classes=2 if kind == "bool" else 3)
    labels = {
        "int": np.searchsorted(np.unique(y), y) * 10 - 5,
        "bool": y == "c1",
        "category": pd.Categorical(y),
    }[kind]
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    dX = dd.from_pandas(frame, npartitions=4)
    dy = dd.from_pandas(pd.Series(labels), npartitions=4)
    a = gdfast.GDClassifier().fit(frame, labels)
    with dask.config.set(scheduler="threads"):
        b = GDClassifier().fit(dX, dy)
        predicted = b.predict(dX).compute()
    np.testing.assert_array_equal(b.classes_, a.classes_)
    np.testing.assert_array_equal(b.feature_names_in_, frame.columns)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-6, atol=1e-6 * np.abs(a.coef_).max())
    np.testing.assert_array_equal(predicted, a.predict(frame))


def test_partial_fit_steps_as_in_memory(scheduler):
    X, y = labelled(n_classes=3)
    dX, dy, _ = as_dask(X, y)
    classes = np.unique(y)
    a, b = gdfast.GDClassifier(), GDClassifier()
    for _ in range(3):
        a.partial_fit(X, y, classes=classes)
        b.partial_fit(dX, dy, classes=classes)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9, atol=1e-12)
    assert b.t_ == a.t_ == 3
    with pytest.raises(ValueError, match="not among the classes"):
        GDClassifier().partial_fit(dX, da.where(dy == "c0", "new", dy), classes=classes)
    with pytest.raises(ValueError, match="classes must be passed"):
        GDClassifier().partial_fit(dX, dy)


def test_warm_start_resumes_and_checks_the_classes(scheduler):
    X, y = labelled(n_classes=3)
    dX, dy, _ = as_dask(X, y)
    cold = GDClassifier().fit(dX, dy)
    warm = GDClassifier(warm_start=True, max_iter=3)
    warm.coef_, warm.intercept_, warm.classes_ = cold.coef_, cold.intercept_, cold.classes_
    warm.fit(dX, dy)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="warm_start needs the classes"):
        warm.fit(dX, da.where(dy == "c2", "c1", dy))


@pytest.mark.parametrize("params", [{}, {"loss": "hinge"}], ids=["log_loss", "hinge"])
def test_early_stopping_scores_the_held_out_rows(scheduler, params):
    X, y = labelled(n_classes=3)
    dX, dy, _ = as_dask(X, y)
    b = GDClassifier(early_stopping=True, random_state=0, **params).fit(dX, dy)
    assert len(b.validation_scores_) == b.n_iter_
    # the last score is the returned model's accuracy on the rows each block held out
    from gdfast.dask._collections import as_blocks

    seed = int(check_random_state(0).randint(0, 2**31 - 1))
    _, held = as_blocks(dX, dy, labels=True).split(0.1, seed)
    Xh, yh = dask.compute(held.X, held.y)
    assert len(yh) == 4 * 250 + 200  # ceil(0.1 * rows) of blocks of 2,500, 2,500, ..., 2,000
    assert b.validation_scores_[-1] == pytest.approx(accuracy_score(yh, b.predict(Xh)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
def test_mini_batches_run_rounds_of_local_epochs(scheduler, n_classes):
    X, y = labelled(n=20_000, n_classes=n_classes, decades=1)
    dX, dy, _ = as_dask(X, y, rows=5_000)
    a = gdfast.GDClassifier().fit(X, y)
    b = GDClassifier(batch_size=128, random_state=0, max_iter=30).fit(dX, dy)
    assert b.coef_.shape == a.coef_.shape
    assert abs(b.score(X, y) - a.score(X, y)) < 0.01
    again = GDClassifier(batch_size=128, random_state=0, max_iter=30).fit(dX, dy)
    np.testing.assert_array_equal(again.coef_, b.coef_)


def test_numpy_input_is_fitted_in_memory():
    X, y = labelled(n=2_000)
    a = gdfast.GDClassifier().fit(X, y)
    b = GDClassifier().fit(X, y)
    np.testing.assert_array_equal(b.coef_, a.coef_)
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    assert b.score(X, y) == a.score(X, y)


def test_bad_labels_and_values_name_the_problem():
    X, y = labelled(n=6_000)
    dX, dy, _ = as_dask(X, y)
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError, match="greater than one"):
            GDClassifier().fit(dX, da.from_array(np.full(len(y), "a"), chunks=2_500))
        continuous = np.random.default_rng(0).standard_normal(len(y))
        with pytest.raises(ValueError, match="continuous"):
            GDClassifier().fit(dX, da.from_array(continuous, chunks=2_500))
        with_nan = np.where(np.arange(len(y)) == 4_000, np.nan, 1.0 * (y == "c1"))
        with pytest.raises(ValueError, match="NaN"):
            GDClassifier().fit(dX, da.from_array(with_nan, chunks=2_500))
        # blocks of integer labels and of string labels
        parts = [np.arange(2_500) % 2, np.arange(2_500) % 2, np.array(["x", "y"] * 500)]
        mixed = da.concatenate(
            [da.from_delayed(dask.delayed(p), (len(p),), dtype=object) for p in parts]
        )
        with pytest.raises(ValueError, match="mixes labels"):
            GDClassifier().fit(dX, mixed)
        bad = X.copy()
        bad[5_000, 1] = np.inf
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            GDClassifier().fit(da.from_array(bad, chunks=(2_500, X.shape[1])), dy)
        with pytest.raises(ValueError, match="requires y"):
            GDClassifier().fit(dX, None)
        with pytest.raises(ValueError, match="1-D class labels"):
            GDClassifier().fit(dX, da.zeros((len(y), 2), chunks=2_500))
        with pytest.raises(ValueError, match="different numbers of rows"):
            GDClassifier().fit(dX, dy[:-1])
        weights = da.from_array(-np.ones(len(y)), chunks=2_500)
        with pytest.raises(ValueError, match="sample_weight"):
            GDClassifier().fit(dX, dy, sample_weight=weights)
        model = GDClassifier()
        with pytest.raises(ValueError, match="multi_class='multinomial'"):
            GDClassifier(loss="hinge", multi_class="multinomial").fit(dX, dy)
        assert not hasattr(model, "coef_")
        fitted = GDClassifier().fit(dX, dy)
        with pytest.raises(ValueError, match="features"):
            fitted.predict(dX[:, :3])


def test_unfitted_predictions_raise():
    from sklearn.exceptions import NotFittedError

    X, _ = labelled(n=100)
    with pytest.raises(NotFittedError):
        GDClassifier().predict(da.from_array(X, chunks=50))


def test_wide_data_uses_column_statistics(scheduler):
    """More features than the co-moments path takes: no preconditioner, the
    step size from passes of one output over the blocks, as in memory."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1_500, 1_100)) * rng.uniform(0.5, 3, 1_100)
    y = np.where(X[:, :20] @ rng.standard_normal(20) > 0, "yes", "no")
    dX, dy, _ = as_dask(X, y, rows=400)
    params = {"alpha": 0.1, "max_iter": 200}
    a = gdfast.GDClassifier(**params).fit(X, y)
    b = GDClassifier(**params).fit(dX, dy)
    assert_same_model(a, b, 1e-8)
