"""A process forked after parallel kernels ran (multiprocessing's "fork" start
method) must not hang: GNU OpenMP's pool does not survive fork, so kernels in
the child run on one thread."""

from __future__ import annotations

import multiprocessing
import sys
import warnings

import numpy as np
import pytest

from gdfast import GDRegressor, _core, kernels


def _child_work(seed):
    from gdfast._config import resolve_n_jobs

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200_000, 16))
    y = X @ np.ones(16)
    value, _, _ = kernels.loss_grad(X, y, np.zeros(16), 0.0, n_jobs=-1)
    model = GDRegressor(max_iter=50).fit(X, y)
    return resolve_n_jobs(None), resolve_n_jobs(-1), value, model.score(X, y)


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method: Linux")
@pytest.mark.skipif(not _core.openmp_available(), reason="needs the OpenMP build")
def test_forked_child_runs_kernels_on_one_thread():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200_000, 16))
    kernels.loss_grad(X, X[:, 0], np.zeros(16), 0.0, n_jobs=2)  # the parent's pool is alive
    ctx = multiprocessing.get_context("fork")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pool = ctx.Pool(1)
    try:
        threads, all_cores, value, score = pool.apply_async(_child_work, (1,)).get(timeout=120)
    finally:
        pool.terminate()
        pool.join()
    assert (threads, all_cores) == (1, 1)
    assert value > 0 and score > 0.999
