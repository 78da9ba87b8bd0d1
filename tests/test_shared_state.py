"""State shared by callers: one estimator fitted from several threads, and
optimizer steps given overlapping arrays."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
from conftest import OPTIMIZERS

from gdfast import GDRegressor, SGDRegressor, kernels, reference


@pytest.mark.parametrize(
    "make", [lambda: GDRegressor(max_iter=20), lambda: SGDRegressor(max_iter=3)]
)
def test_one_estimator_fitted_from_threads_stays_consistent(make):
    rng = np.random.default_rng(0)
    data = [(rng.standard_normal((400, p)), rng.standard_normal(400)) for p in (3, 7, 11, 5)]
    model = make()
    errors = []

    def work(X, y):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for _ in range(5):
                    model.fit(X, y)
                    model.partial_fit(X, y) if model.n_features_in_ == X.shape[1] else None
        except Exception as exc:  # a fit that sees another width must say so, not corrupt
            errors.append(exc)

    threads = [threading.Thread(target=work, args=d) for d in data * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(e, ValueError) for e in errors), errors
    assert np.ravel(model.coef_).shape[0] == model.n_features_in_
    X, _ = next(d for d in data if d[0].shape[1] == model.n_features_in_)
    assert model.predict(X).shape == (400,)


def _step(module, name, params, grad, states):
    fn = getattr(module, f"apply_{name}")
    extra = {"step": 1} if name.startswith("adam") else {}
    if name == "adamw":
        extra["weight_decay"] = 0.01
    fn(params, grad, *states, learning_rate=0.1, **extra)


@pytest.mark.parametrize("module", [kernels, reference])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_overlapping_arrays_are_refused(module, name):
    n_states = {"sgd": 0, "adam": 2, "adamw": 2}.get(name, 1)
    buf = np.zeros(20)
    params, grad = buf[:10], np.ones(10)
    states = [np.zeros(10) for _ in range(n_states)]
    with pytest.raises(ValueError, match="overlap in memory"):
        _step(module, name, buf[1:11], buf[:10], states)  # grad is params shifted by one
    if n_states:
        before = buf.copy()
        with pytest.raises(ValueError, match="overlap in memory"):
            _step(module, name, params, grad, [params, *states[1:]])  # state aliased to params
        np.testing.assert_array_equal(buf, before)  # nothing was written
