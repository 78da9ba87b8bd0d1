"""Shared fixtures and data generators for the gdfast tests."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import scipy.sparse as sp

from gdfast import _core

LOSSES = ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
MARGIN_LOSSES = ["hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"]
ROW_LOSSES = ["multinomial_log_loss"]
LAYOUTS = ["C", "F", "strided", "csr"]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


def make_layout(X: np.ndarray, layout: str):
    """X in the requested memory layout (same values)."""
    if layout == "C":
        return np.ascontiguousarray(X)
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "strided":
        wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
        wide[:, ::2] = X
        return wide[:, ::2]
    if layout == "csr":
        return sp.csr_matrix(X)
    raise ValueError(layout)


def make_regression_data(n=300, p=7, k=None, dtype=np.float64, seed=0, noise=0.1, sparsity=0.0):
    """Random linear-regression data; y is (n,) for k None, else (n, k)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    if sparsity:
        X[rng.random((n, p)) < sparsity] = 0.0
    coef = rng.standard_normal((p,) if k is None else (k, p))
    y = X @ coef.T + 0.5 + noise * rng.standard_normal((n,) if k is None else (n, k))
    return X.astype(dtype), y.astype(dtype), coef


SIMD_LEVELS = sorted(_core.CODES["simd"], key=_core.CODES["simd"].get)


@pytest.fixture(params=SIMD_LEVELS[::-1])
def simd(request):
    """Run a test with every build of the hot loops this CPU can run (AVX-512,
    AVX2+FMA, baseline); the others are skipped."""
    levels = _core.CODES["simd"]
    if levels[request.param] > levels[_core.cpu_simd()]:
        pytest.skip(f"this CPU cannot run the {request.param} build")
    before = _core.simd()
    _core.set_simd(request.param)
    yield request.param
    _core.set_simd(before)


@pytest.fixture
def small_data():
    """A small random regression problem: X of shape (30, 3) and y."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((30, 3)), rng.standard_normal(30)


@pytest.fixture(scope="session")
def dask_client():
    """A distributed LocalCluster of 2 worker processes (one thread each), for
    the session; tests opt in with ``dask_client.as_current()``."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c
    cluster.close()


@pytest.fixture(params=["threads", "cluster"])
def scheduler(request):
    """Run the test on dask's threaded scheduler, then on the LocalCluster."""
    dask = pytest.importorskip("dask")
    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield None
    else:
        c = request.getfixturevalue("dask_client")
        with c.as_current():
            yield c


def _signal_status(native_id: int) -> str:
    """The kernel's view of one thread's signals (pending, blocked and ignored
    masks), from /proc: readable from any thread."""
    try:
        with open(f"/proc/self/task/{native_id}/status") as f:
            fields = ("SigBlk", "SigPnd", "ShdPnd", "SigIgn")
            return " ".join(line.strip().replace("\t", "") for line in f if line.startswith(fields))
    except OSError:
        return "(no /proc)"


@contextmanager
def ctrl_c_after(seconds: float, real_signal: bool = False):
    """Ctrl-C the main thread ``seconds`` into the block, which must end in
    KeyboardInterrupt (swallowed here). Yields a dict: ``at``, when the
    interrupt was sent, and ``stopped``, when it arrived (perf_counter).

    ``real_signal``: a SIGINT sent to the main thread (what a terminal does),
    else ``_thread.interrupt_main()``. If no KeyboardInterrupt arrives, the
    failure says whether the interrupt was sent, the SIGINT handler, and the
    main thread's signal masks then and now: a lost interrupt must say why.
    """
    main = threading.main_thread()
    times: dict = {}

    def fire():
        times["at"] = time.perf_counter()
        times["status_at_send"] = _signal_status(main.native_id)
        if real_signal:
            signal.pthread_kill(main.ident, signal.SIGINT)
        else:
            _thread.interrupt_main()

    timer = threading.Timer(seconds, fire)
    started = time.perf_counter()
    timer.start()
    try:
        yield times
    except KeyboardInterrupt:
        times["stopped"] = time.perf_counter()
    else:
        sent = f"sent {times['at'] - started:.2f} s in" if "at" in times else "never sent"
        pytest.fail(
            f"no KeyboardInterrupt after {time.perf_counter() - started:.2f} s: the interrupt "
            f"was {sent}; SIGINT handler {signal.getsignal(signal.SIGINT)!r}; main thread at "
            f"send: {times.get('status_at_send')}; now: {_signal_status(main.native_id)}; "
            f"threads: {[t.name for t in threading.enumerate()]}"
        )
    finally:
        timer.cancel()
        timer.join()
