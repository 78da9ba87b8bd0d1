"""Mini-batch descent measures the extent of the rows it reads (max ||x_i||^2
and max |y_i|) in the call's first epoch; the returned model's loss bound from
it replaces the returned-model pass when it clears the divergence threshold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import gdfast._gd_engine as gd_engine
from gdfast import DivergenceWarning, GDRegressor
from gdfast._divergence import extent_loss_bound, returned_model_loss


def _problem(n=600, p=7, k=None, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 4.0, size=p)
    X[rng.random((n, p)) < 0.3] = 0.0
    coef = rng.standard_normal(p if k is None else (p, k))
    y = X @ coef + 0.1 * rng.standard_normal(n if k is None else (n, k))
    return X, y


def _records(monkeypatch):
    """The records of the engine runs that follow."""
    seen = []
    native = gd_engine.run_descent

    def spy(**kw):
        run = native(**kw)
        seen.append(run.record)
        return run

    monkeypatch.setattr(gd_engine, "run_descent", spy)
    return seen


LAYOUTS = {
    "C": lambda X: X,
    "F": np.asfortranarray,  # the tiled pass
    "CSR": sp.csr_matrix,  # lazy steps (sgd)
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("k", [None, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mini_batches_measure_the_extent_of_every_row(monkeypatch, layout, optimizer, k, dtype):
    X, y = _problem(k=k)
    X, y = X.astype(dtype), y.astype(dtype)
    records = _records(monkeypatch)
    params = dict(batch_size=16, max_iter=3, tol=None, random_state=0, optimizer=optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GDRegressor(**params).fit(LAYOUTS[layout](X), y)
    (record,) = records
    X64 = X.astype(np.float64)
    assert record.row_sq_norm_max == pytest.approx(np.max(np.sum(X64 * X64, axis=1)), rel=1e-12)
    assert record.target_abs_max == np.max(np.abs(y.astype(np.float64)))


@pytest.mark.parametrize(
    "params",
    [
        dict(),  # full batch on the co-moments
        dict(precompute=False, optimizer="adam", max_iter=3, tol=None),  # full-batch passes
        dict(batch_size=16, early_stopping=True, max_iter=3),  # rows held out
    ],
)
def test_no_extent_without_a_mini_batch_epoch_over_every_row(monkeypatch, params):
    X, y = _problem()
    records = _records(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GDRegressor(**params).fit(X, y)
    (record,) = records
    assert np.isnan(record.row_sq_norm_max) and np.isnan(record.target_abs_max)


@pytest.mark.parametrize("loss", ["squared_error", "huber", "epsilon_insensitive"])
def test_extent_bound_bounds_every_targets_loss(loss):
    """Summed over k targets as the returned-model pass sums them, the bound is
    never below that pass's loss, for good and for blown-up models."""

    class Record:
        pass

    X, Y = _problem(k=3)
    record = Record()
    record.row_sq_norm_max = float(np.max(np.sum(X * X, axis=1)))
    record.target_abs_max = float(np.max(np.abs(Y)))
    rng = np.random.default_rng(1)
    for scale in (0.0, 1e-2, 1.0, 1e4):
        coef, intercept = rng.standard_normal((3, 7)) * scale, rng.standard_normal(3) * scale
        actual = returned_model_loss(X, Y, coef, intercept, loss, 0.1, 1, name="t")
        assert actual <= extent_loss_bound(record, coef, intercept, loss, 0.1) * (1 + 1e-12)


def test_a_mini_batch_fit_skips_the_pass_only_when_the_bound_allows(monkeypatch):
    """A sound fit's model is judged by the bound alone; a blown-up one still
    gets the pass and its DivergenceWarning."""
    calls = []
    native = gd_engine.returned_model_loss

    def counted(*args, **kw):
        calls.append(1)
        return native(*args, **kw)

    monkeypatch.setattr(gd_engine, "returned_model_loss", counted)
    X, y = _problem()
    GDRegressor(batch_size=32, max_iter=2, tol=None, random_state=0).fit(X, y)
    assert calls == []
    blown = dict(optimizer="sgd", learning_rate="constant", eta0=0.01, standardize=False)
    blown["on_divergence"] = "warn"  # the model is kept and judged
    with pytest.warns(DivergenceWarning):
        GDRegressor(batch_size=32, max_iter=2, tol=None, random_state=0, **blown).fit(X * 30, y)
    assert calls == [1]
