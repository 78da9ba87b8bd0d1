"""The classification (margin) losses: the kernels against the reference, finite
differences and scikit-learn's own loss functions, value by value."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import LAYOUTS, MARGIN_LOSSES, make_layout
from scipy.special import expit
from sklearn._loss.loss import HalfBinomialLoss
from sklearn.linear_model._sgd_fast import Hinge, ModifiedHuber, SquaredHinge

from gdfast import SGDClassifier, _core, kernels, reference
from gdfast._divergence import label_loss_bound, returned_model_loss

RTOL = {np.float64: 1e-10, np.float32: 2e-5}


def classification_data(n=2000, p=8, k=None, dtype=np.float64, seed=0, sparsity=0.0):
    """Features, labels +1/-1 (n,) or (n, k) from a noisy linear rule, and coefficients
    near (not at) the rule, so that every branch of every loss is visited."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if sparsity:
        X[rng.random((n, p)) < sparsity] = 0.0
    coef = rng.standard_normal((p,) if k is None else (k, p))
    margin = X @ coef.T + 0.3 * rng.standard_normal((n,) if k is None else (n, k))
    y = np.where(margin > 0, 1.0, -1.0)
    w = 1.5 * coef + 0.4 * rng.standard_normal(coef.shape)
    return X.astype(dtype), y.astype(dtype), w


def pointwise(loss: str, p: float, y: float) -> tuple[float, float]:
    """l(p, y) and dl/dp from the kernels: one row x = [1], coef p, intercept 0."""
    value, _, d = kernels.loss_grad(np.ones((1, 1)), np.array([y]), np.array([p]), 0.0, loss=loss)
    return value, d


def sklearn_pointwise(loss: str, p: float, y: float) -> tuple[float, float]:
    """scikit-learn's SGDClassifier loss objects at one point (log_loss: its half
    binomial loss of the 0/1 label)."""
    if loss == "log_loss":
        binomial = HalfBinomialLoss()
        t = np.array([1.0 if y > 0 else 0.0])
        raw = np.array([p])
        return (
            float(binomial.loss(y_true=t, raw_prediction=raw)[0]),
            float(binomial.gradient(y_true=t, raw_prediction=raw)[0]),
        )
    rule = {
        "hinge": Hinge(1.0),
        "perceptron": Hinge(0.0),
        "squared_hinge": SquaredHinge(1.0),
        "modified_huber": ModifiedHuber(),
    }[loss]
    return rule.py_loss(p, y), rule.py_dloss(p, y)


# The kinks and cut-offs of every loss, and points beside them.
POINTS = sorted(
    {v * s for v in (0.0, 0.25, 1.0, 2.0, 18.0, 33.3, 37.0, 40.0, 700.0, 750.0) for s in (1, -1)}
    | {np.nextafter(v, -np.inf) for v in (1.0, -1.0, -2.0, 18.0, -37.0)}
    | {np.nextafter(v, np.inf) for v in (1.0, -1.0, -2.0, 18.0, -37.0)}
)


@pytest.mark.parametrize("loss", sorted(set(MARGIN_LOSSES) - {"log_loss"}))
@pytest.mark.parametrize("y", [1.0, -1.0])
def test_each_loss_is_bitwise_scikit_learns(loss, y):
    for p in POINTS:
        assert pointwise(loss, p, y) == sklearn_pointwise(loss, p, y), (loss, p, y)


@pytest.mark.parametrize("y", [1.0, -1.0])
def test_the_fused_log_loss_is_accurate_to_1e_15(y):
    # The pass evaluates it with its own branch-free exp and log1p (vector
    # lanes); SGDClassifier's steps keep scikit-learn's arithmetic (see
    # test_sgd_classifier). Against accurate formulas: log(1 + e^q) and
    # +-sigmoid(q) with q = -p y (scikit-learn's value, cut off at 33.3, is 0
    # beyond; the pass's is the true value there).
    grid = np.concatenate([np.linspace(-800, 800, 4001), np.geomspace(1e-300, 800, 400)])
    for p in sorted(set(POINTS) | set(grid) | set(-grid)):
        value, d = pointwise("log_loss", p, y)
        q = -p * y
        assert value == pytest.approx(np.logaddexp(0.0, q), rel=1e-15, abs=1e-300), (p, y)
        assert d == pytest.approx(-y * expit(q), rel=1e-15, abs=1e-300), (p, y)
        want_d = sklearn_pointwise("log_loss", p, y)[1]
        assert d == pytest.approx(want_d, rel=1e-15, abs=1e-300), (p, y)


@pytest.mark.parametrize("y", [1.0, -1.0])
def test_the_per_sample_log_loss_value_is_accurate_to_1e_15(y):
    # SGD's steps take scikit-learn's derivative (bitwise: test_sgd_classifier);
    # the value beside it, which feeds the stopping rule and loss_curve_, reuses
    # that derivative's exp. Read here through the loss of a constant prediction.
    code = _core.CODES["loss"]["log_loss"]
    grid = np.concatenate([np.linspace(-800, 800, 4001), np.geomspace(1e-300, 800, 400)])
    for p in sorted(set(POINTS) | set(grid) | set(-grid)):
        value = _core.mean_constant_loss(np.array([[y]]), np.array([p]), code, 0.0)
        want = np.logaddexp(0.0, -p * y)
        assert value == pytest.approx(want, rel=1e-15, abs=1e-300), (p, y)


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_grad_matches_reference(loss, dtype, layout, k, weighted, simd):
    X, y, w = classification_data(k=k, dtype=dtype, sparsity=0.5 if layout == "csr" else 0)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0, 3, size=len(y)).astype(dtype) if weighted else None
    b = 0.2 if k is None else np.array([0.2, -0.1, 0.4])
    got = kernels.loss_grad(make_layout(X, layout), y, w, b, loss=loss, sample_weight=sw, n_jobs=2)
    want = reference.loss_grad(X.astype(np.float64), y, w, b, loss=loss, sample_weight=sw)
    scale = float(np.abs(X).sum() * 10)
    rtol = RTOL[dtype]
    assert got[0] == pytest.approx(want[0], rel=rtol, abs=rtol * scale)
    np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(got[2], want[2], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("loss", ["log_loss", "modified_huber", "squared_hinge"])
def test_gradient_matches_finite_differences(loss):
    X, y, w = classification_data(n=400, p=5, seed=5)
    _, grad, grad_b = kernels.loss_grad(X, y, w, 0.3, loss=loss)
    h = 1e-6
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        up = kernels.loss_grad(X, y, w + e, 0.3, loss=loss)[0]
        down = kernels.loss_grad(X, y, w - e, 0.3, loss=loss)[0]
        assert (up - down) / (2 * h) == pytest.approx(grad[j], rel=1e-5, abs=1e-4)
    up = kernels.loss_grad(X, y, w, 0.3 + h, loss=loss)[0]
    down = kernels.loss_grad(X, y, w, 0.3 - h, loss=loss)[0]
    assert (up - down) / (2 * h) == pytest.approx(grad_b, rel=1e-5, abs=1e-4)


@pytest.mark.parametrize("loss", MARGIN_LOSSES)
def test_bitwise_identical_for_any_n_jobs(loss):
    X, y, w = classification_data(n=20_000, p=12, seed=3)
    results = [kernels.loss_grad(X, y, w, 0.1, loss=loss, n_jobs=j) for j in (1, 2, 3)]
    for r in results[1:]:
        assert r[0] == results[0][0] and r[2] == results[0][2]
        assert np.array_equal(r[1], results[0][1])


@pytest.mark.parametrize("module", [kernels, reference])
@pytest.mark.parametrize("labels", [[0.0, 1.0], [1.0, 2.0], [-1.0, 0.5]])
def test_labels_other_than_plus_minus_one_are_refused(module, labels):
    X = np.ones((4, 2))
    y = np.array(labels * 2)
    with pytest.raises(ValueError, match="labels must be \\+1 or -1"):
        module.loss_grad(X, y, np.zeros(2), 0.0, loss="hinge")


@pytest.mark.parametrize("loss", list(SGDClassifier.loss_functions))
@pytest.mark.parametrize("sparse", [False, True])
def test_the_label_loss_bound_bounds_the_mean_loss(loss, sparse):
    """The screen that lets SGDClassifier skip its returned-model pass is an
    upper bound of that pass's mean loss (every loss it accepts, dense and CSR,
    models from small to huge), and NaN when X holds NaN."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 6)) * np.array([1e-3, 1.0, 1.0, 10.0, 1e3, 1.0])
    X[rng.random(X.shape) < 0.3] = 0.0
    y = np.where(rng.random(500) < 0.4, 1.0, -1.0)
    Xk = sp.csr_matrix(X) if sparse else X
    norms = _core.row_norm_stats(_core.Matrix(Xk), 1)
    np.testing.assert_allclose(norms, [np.mean(np.sum(X**2, 1)), np.max(np.sum(X**2, 1))])
    for scale in (1e-3, 1.0, 1e3):
        coef, b = scale * rng.standard_normal(6), scale * rng.standard_normal()
        exact = returned_model_loss(Xk, y[:, None], coef, np.array([b]), loss, 0.1, 1, name="t")
        assert exact <= label_loss_bound(coef, np.array([b]), norms, loss, 0.1)
    # Tight: every prediction at one end of [-Z, Z], against every label.
    v = np.array([3.0, -1.0, 0.0, 2.0, 0.5, 1.0])
    for label in (1.0, -1.0):
        for sign in (1.0, -1.0):
            for b in (0.0, sign * 2.0):
                Xt, yt, coef = np.tile(v, (10, 1)), np.full(10, label), sign * 4.0 * v
                exact = returned_model_loss(
                    Xt, yt[:, None], coef, np.array([b]), loss, 0.1, 1, name="t"
                )
                norms_t = _core.row_norm_stats(_core.Matrix(Xt), 1)
                bound = label_loss_bound(coef, np.array([b]), norms_t, loss, 0.1)
                assert exact <= bound * (1 + 1e-12)
    X[7, 2] = np.nan
    bad = _core.row_norm_stats(_core.Matrix(sp.csr_matrix(X) if sparse else X), 1)
    assert np.isnan(label_loss_bound(coef, np.array([b]), bad, loss, 0.1))
