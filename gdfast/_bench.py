"""The benchmark workloads, defined once for ``gdfast bench`` and ``benchmarks/``.

Each workload races its contestants on the same data in the same process and
reports median times; ratios are taken against the workload's baseline. The
pytest-benchmark suite in ``benchmarks/`` runs the full-size workloads; the
command line runs a shorter version (``quick=True``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np


@dataclass
class Contestant:
    """One way of doing a workload's job."""

    name: str
    run: Callable[[], object]
    # after the timing, what the result achieved (e.g. the MSE it reached)
    quality: Callable[[object], str] | None = None


@dataclass
class Workload:
    """A job, its contestants and its baseline (the contestant ratios refer to)."""

    key: str
    title: str
    baseline: str
    contestants: list[Contestant]
    rounds: int = 7
    # Each round times a block of back-to-back calls per contestant, discarding
    # the calls of its first `settle` seconds: a contestant is measured in its
    # own steady state, not in the wake of the previous one (after a BLAS call
    # OpenBLAS's idle workers spin on the other cores for ~0.1 s; after a pause
    # OpenMP's workers sleep and an idle vCPU is slow to wake). 0: one call.
    settle: float = 0.15
    notes: list[str] = field(default_factory=list)
    # Lines derived from the contestants' medians (by name), printed below them.
    derived: Callable[[dict[str, float]], list[str]] | None = None


@dataclass
class Result:
    workload: str
    title: str
    contestant: str
    median: float
    times: list[float]
    quality: str = ""


_DATA: dict[tuple, tuple] = {}


def regression_data(n: int, p: int, dtype=np.float64, seed: int = 0, k: int | None = None):
    """Standardized random regression data (cached): X, y, true coefficients."""
    key = (n, p, np.dtype(dtype).str, seed, k)
    if key not in _DATA:
        rng = np.random.default_rng(seed)
        X = np.empty((n, p), dtype=dtype)
        for start in range(0, n, 65536):  # fill in chunks: no float64 temporary of X
            X[start : start + 65536] = rng.standard_normal((min(65536, n - start), p))
        coef = rng.standard_normal(p)
        y = (X @ coef.astype(dtype) + 0.5 + 0.1 * rng.standard_normal(n)).astype(dtype)
        _DATA[key] = (X, y, coef)
    return _DATA[key]


def _mse_note(X, y):
    def note(model) -> str:
        mse = float(np.mean((model.predict(X) - y) ** 2))
        return f"MSE {mse:.6g}"

    return note


def workloads(quick: bool = False) -> list[Workload]:
    """The benchmark workloads; ``quick`` shrinks them to run in well under 2 minutes."""
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.linear_model import SGDRegressor as SkSGD

    from gdfast import GDRegressor, SGDRegressor, _core, kernels, reference

    n1 = 200_000 if quick else 1_000_000
    n2 = 50_000 if quick else 200_000
    n3 = 100_000 if quick else 1_000_000
    p = 32
    rounds = 5 if quick else 7
    out: list[Workload] = []

    for dtype in (np.float64, np.float32):
        X, y, coef = regression_data(n1, p, dtype)
        flat = X.reshape(-1)
        coef_x = coef.astype(dtype)  # what a NumPy user multiplies X by
        name = np.dtype(dtype).name
        out.append(
            Workload(
                key=f"W1-{name}",
                title=f"W1 loss_grad, one full-batch gradient pass, {n1:,} x {p} {name}",
                baseline="NumPy r = X @ w + b - y; X.T @ r",
                rounds=5 if not quick else 3,
                contestants=[
                    Contestant(
                        "NumPy r = X @ w + b - y; X.T @ r",
                        lambda X=X, y=y, c=coef_x: numpy_loss_grad(X, y, c, 0.5),
                    ),
                    Contestant(
                        "numpy reference",
                        lambda X=X, y=y, c=coef: reference.loss_grad(X, y, c, 0.5),
                    ),
                    Contestant("gdfast", lambda X=X, y=y, c=coef: kernels.loss_grad(X, y, c, 0.5)),
                    Contestant(
                        "gdfast, 1 thread",
                        lambda X=X, y=y, c=coef: kernels.loss_grad(X, y, c, 0.5, n_jobs=1),
                    ),
                    Contestant("NumPy X @ w (one gemv)", lambda X=X, c=coef_x: X @ c),
                    Contestant(
                        "read X once (bandwidth floor)",
                        lambda flat=flat: _core.read_sum(flat, _core.max_threads()),
                    ),
                ],
            )
        )

    def loss_grad_race(key: str, title: str, calls: dict) -> Workload:
        """A W1 workload racing ``kernels.loss_grad`` calls, given as
        ``{contestant name: (X, y, coef, n_jobs)}``; the first is the baseline."""
        return Workload(
            key=key,
            title=title,
            baseline=next(iter(calls)),
            rounds=5 if not quick else 3,
            contestants=[
                Contestant(name, partial(kernels.loss_grad, X, y, c, 0.5, n_jobs=n_jobs))
                for name, (X, y, c, n_jobs) in calls.items()
            ],
        )

    # The two element types raced against each other (same rows, cached above).
    X64, y64, c64 = regression_data(n1, p, np.float64)
    X32, y32, _ = regression_data(n1, p, np.float32)
    out.append(
        loss_grad_race(
            "W1-dtype",
            f"W1 loss_grad, float32 against float64 rows, {n1:,} x {p}",
            {"gdfast, float64": (X64, y64, c64, None), "gdfast, float32": (X32, y32, c64, None)},
        )
    )

    Xc, yc, cc = regression_data(32_768, p)  # 8 MiB: in the L3 cache
    out.append(
        loss_grad_race(
            "W1-threads",
            f"W1 loss_grad in cache, 32,768 x {p} float64 (8 MiB), threads",
            {"gdfast, 1 thread": (Xc, yc, cc, 1), "gdfast, 2 threads": (Xc, yc, cc, 2)},
        )
    )

    X2, y2, _ = regression_data(n2, p)
    for batch in (32, 256):
        common = dict(optimizer="sgd", learning_rate=0.01, batch_size=batch, epochs=1)
        gd = GDRegressor(
            optimizer="sgd",
            learning_rate="constant",
            eta0=0.01,
            batch_size=batch,
            max_iter=1,
            tol=None,
            shuffle=True,
            random_state=0,
            standardize=False,
        )
        out.append(
            Workload(
                key=f"W2-batch{batch}",
                title=f"W2 one epoch of shuffled mini-batch SGD, batch {batch}, {n2:,} x {p}",
                baseline="NumPy mini-batch loop",
                rounds=rounds,
                contestants=[
                    Contestant(
                        "NumPy mini-batch loop",
                        lambda X2=X2, y2=y2, b=batch: numpy_minibatch_epoch(X2, y2, b, 0.01),
                    ),
                    Contestant(
                        "numpy reference (rows in order)",
                        lambda X2=X2, y2=y2, c=common: reference.descent(X2, y2, **c),
                    ),
                    Contestant("gdfast", lambda X2=X2, y2=y2, gd=gd: gd.fit(X2, y2)),
                ],
            )
        )

    X3, y3, _ = regression_data(n3, p)
    note3 = _mse_note(X3, y3)

    def sgd_epoch(cls):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(max_iter=1, tol=None, random_state=0).fit(X3, y3)

    out.append(
        Workload(
            key="W3",
            title=f"W3 one epoch of per-sample SGD, {n3:,} x {p} (same epochs, same model)",
            baseline="scikit-learn SGDRegressor",
            rounds=rounds,
            contestants=[
                Contestant("scikit-learn SGDRegressor", lambda: sgd_epoch(SkSGD), note3),
                Contestant("gdfast SGDRegressor", lambda: sgd_epoch(SGDRegressor), note3),
            ],
        )
    )

    def fit(model):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(X3, y3)

    out.append(
        Workload(
            key="W4",
            title=f"W4 time to a solution with default parameters, {n3:,} x {p}",
            baseline="scikit-learn SGDRegressor",
            rounds=max(3, rounds - 2),
            settle=0.0,  # fits of 0.1-2 s: one call per round
            contestants=[
                Contestant("scikit-learn SGDRegressor", lambda: fit(SkSGD(random_state=0)), note3),
                Contestant("scikit-learn LinearRegression", lambda: fit(LinearRegression()), note3),
                Contestant("scikit-learn Ridge(lsqr)", lambda: fit(Ridge(solver="lsqr")), note3),
                Contestant("gdfast SGDRegressor", lambda: fit(SGDRegressor(random_state=0)), note3),
                Contestant("gdfast GDRegressor", lambda: fit(GDRegressor()), note3),
            ],
        )
    )

    exact = [Contestant("scikit-learn LinearRegression", lambda: fit(LinearRegression()), note3)]
    intelex = _intelex_linear_regression()
    if intelex is not None:
        exact.insert(
            0, Contestant("scikit-learn-intelex LinearRegression", lambda: fit(intelex()), note3)
        )
    exact.append(Contestant("gdfast GDRegressor()", lambda: fit(GDRegressor()), note3))
    out.append(
        Workload(
            key="W5",
            title=f"W5 exact least squares, {n3:,} x {p} float64 (same MSE)",
            baseline=exact[0].name,
            rounds=rounds,
            contestants=exact,
            notes=[]
            if intelex
            else ["scikit-learn-intelex is not installed (pip install sklearnex)"],
        )
    )
    out.extend(sparse_workloads(quick))
    from gdfast._bench_classify import classifier_workloads

    out.extend(classifier_workloads(quick))
    return out


def numpy_loss_grad(X, y, w, b):
    """The full-batch squared-error gradient the way a NumPy user writes it."""
    r = X @ w + b - y
    return 0.5 * float(r @ r), X.T @ r, float(r.sum())


def numpy_minibatch_epoch(X, y, batch: int, lr: float, seed: int = 0):
    """One epoch of shuffled mini-batch SGD on the squared error, the way a
    NumPy user writes it: gather the batch by fancy indexing, two gemvs, update."""
    n, p = X.shape
    w = np.zeros(p, dtype=X.dtype)
    b = 0.0
    order = np.random.default_rng(seed).permutation(n)
    for start in range(0, n, batch):
        rows = order[start : start + batch]
        xb = X[rows]
        r = xb @ w + b - y[rows]
        w -= lr * (xb.T @ r) / len(rows)
        b -= lr * float(r.mean())
    return w, b


def _intelex_linear_regression():
    """scikit-learn-intelex's (oneDAL's) LinearRegression, or None when absent."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from sklearnex.linear_model import LinearRegression
    except Exception:  # not installed, or no build for this platform
        return None
    return LinearRegression


def sparse_data(n: int, p: int, nnz_per_row: int, seed: int = 0):
    """A random CSR regression problem (cached): nnz_per_row distinct columns per row."""
    key = ("csr", n, p, nnz_per_row, seed)
    if key not in _DATA:
        import scipy.sparse as sp

        rng = np.random.default_rng(seed)
        cols = rng.integers(0, p, size=(n, nnz_per_row))
        cols.sort(axis=1)
        values = rng.standard_normal((n, nnz_per_row))
        indptr = np.arange(0, n * nnz_per_row + 1, nnz_per_row, dtype=np.int64)
        X = sp.csr_matrix((values.ravel(), cols.ravel(), indptr), shape=(n, p))
        X.sum_duplicates()
        coef = rng.standard_normal(p)
        y = X @ coef + 0.5 + 0.1 * rng.standard_normal(n)
        _DATA[key] = (X, y, coef)
    return _DATA[key]


def sparse_workloads(quick: bool) -> list[Workload]:
    """W6: CSR data, per-sample SGD epochs, mini-batch epochs and ridge to the optimum."""
    from sklearn.linear_model import Ridge
    from sklearn.linear_model import SGDRegressor as SkSGD

    from gdfast import GDRegressor, SGDRegressor, kernels

    n, p = (100_000, 10_000) if quick else (500_000, 50_000)
    X, y, _ = sparse_data(n, p, 20)
    shape = f"CSR {n:,} x {p:,}, 20 nonzeros per row"
    rounds = 3 if quick else 5
    # SGD's objective, mean(r^2) / 2 + alpha ||w||^2 / 2, is Ridge's / (2 n) with alpha_r = alpha n
    alpha = 1e-4

    def quiet(make):
        """A contestant that fits make() on (X, y), warnings silenced."""

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return make().fit(X, y)

        return run

    epoch = dict(max_iter=1, tol=None, random_state=0)
    # one epoch of plain descent, fixed step: full batch is one gradient pass
    descent = dict(epoch, optimizer="sgd", learning_rate="constant", eta0=0.01)

    def per_epoch(medians: dict[str, float]) -> list[str]:
        """An epoch alone, without the setup and the returned model's pass that
        every fit pays once: (3-epoch fit - 1-epoch fit) / 2."""
        full = (medians["gdfast GDRegressor(max_iter=3)"] - medians["gdfast GDRegressor()"]) / 2
        mini = (
            medians["gdfast GDRegressor(batch_size=256, max_iter=3)"]
            - medians["gdfast GDRegressor(batch_size=256)"]
        ) / 2
        return [
            f"per epoch alone ((3-epoch fit - 1-epoch fit) / 2): full batch {full * 1e3:.2f} ms, "
            f"batch_size=256 {mini * 1e3:.2f} ms: {mini / full:.2f}x a full-batch epoch"
        ]

    def ridge_note(model) -> str:
        r = model.predict(X) - y
        value = 0.5 * float(r @ r) / n + 0.5 * alpha * float(model.coef_ @ model.coef_)
        return f"objective {value:.10g}"

    out = [
        Workload(
            key="W6-sgd",
            title=f"W6 one epoch of per-sample SGD, {shape} (same iterates)",
            baseline="scikit-learn SGDRegressor",
            rounds=rounds,
            contestants=[
                Contestant("scikit-learn SGDRegressor", quiet(lambda: SkSGD(**epoch))),
                Contestant("gdfast SGDRegressor", quiet(lambda: SGDRegressor(**epoch))),
            ],
        ),
        *(
            Workload(
                key="W6-epoch" + ("-std" if standardize else ""),
                title=f"W6 1- and 3-epoch fits, {shape}"
                + (", standardized" if standardize else "")
                + ": mini-batch against full batch",
                baseline="gdfast GDRegressor()",
                rounds=rounds,
                contestants=[
                    Contestant(
                        "one loss_grad pass (a full-batch epoch's floor)",
                        lambda: kernels.loss_grad(X, y, np.zeros(p), 0.0),
                    ),
                    *(
                        Contestant(
                            f"gdfast GDRegressor({args})",
                            quiet(
                                lambda batch=batch, standardize=standardize, epochs=epochs: (
                                    GDRegressor(
                                        batch_size=batch,
                                        standardize=standardize,
                                        **{**descent, "max_iter": epochs},
                                    )
                                )
                            ),
                        )
                        for batch, epochs, args in (
                            (None, 1, ""),
                            (256, 1, "batch_size=256"),
                            (None, 3, "max_iter=3"),
                            (256, 3, "batch_size=256, max_iter=3"),
                        )
                    ),
                ],
                derived=per_epoch,
            )
            for standardize in (False, True)
        ),
        Workload(
            key="W6-ridge",
            title=f"W6 ridge to the optimum, {shape} (alpha=1e-4, SGD's objective)",
            baseline="scikit-learn Ridge(solver='sparse_cg')",
            rounds=rounds,
            settle=0.0,
            contestants=[
                Contestant(
                    "scikit-learn Ridge(solver='sparse_cg')",
                    quiet(lambda: Ridge(alpha=alpha * n, solver="sparse_cg", tol=1e-8)),
                    ridge_note,
                ),
                Contestant(
                    "scikit-learn Ridge(solver='sag')",
                    quiet(lambda: Ridge(alpha=alpha * n, solver="sag", tol=1e-8, random_state=0)),
                    ridge_note,
                ),
                Contestant(
                    "gdfast GDRegressor(penalty='l2', standardize=False)",
                    quiet(lambda: GDRegressor(penalty="l2", alpha=alpha, standardize=False)),
                    ridge_note,
                ),
            ],
        ),
    ]
    return out


def median_times(
    contestants: list[Contestant], rounds: int, settle: float = 0.0
) -> dict[str, list[float]]:
    """Time the contestants in ``rounds`` interleaved rounds (so that a noisy
    neighbour hits all of them alike). In each round a contestant runs back to
    back for ``settle`` seconds untimed, then as many timed calls as fit in
    another ``settle`` seconds (at least one)."""
    for c in contestants:
        c.run()
    times: dict[str, list[float]] = {c.name: [] for c in contestants}
    for _ in range(rounds):
        for c in contestants:
            start = time.perf_counter()
            while time.perf_counter() - start < settle:
                c.run()
            block_start = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                c.run()
                times[c.name].append(time.perf_counter() - t0)
                if time.perf_counter() - block_start >= settle:
                    break
    return times


def run_workloads(
    selected: list[Workload], progress: Callable[[str], None] | None = None
) -> list[Result]:
    """Run the workloads; ``progress`` receives a line as each one starts."""
    results: list[Result] = []
    for i, w in enumerate(selected, 1):
        if progress:
            progress(f"[{i}/{len(selected)}] {w.title}")
        times = median_times(w.contestants, w.rounds, w.settle)
        for c in w.contestants:
            model = c.run() if c.quality else None
            results.append(
                Result(
                    w.key,
                    w.title,
                    c.name,
                    statistics.median(times[c.name]),
                    times[c.name],
                    c.quality(model) if c.quality else "",
                )
            )
    return results


def peak_memory_ratio(estimator: str, n: int = 500_000, p: int = 32) -> float:
    """Extra peak resident memory of ``fit``, as a fraction of X's size.

    Measured in a fresh interpreter on Linux: the peak resident size is reset
    just before ``fit`` (``/proc/self/clear_refs``), and the peak after it minus
    the resident size before it is divided by ``X.nbytes``. A copy of X shows
    as 1.0 or more.
    """
    code = f"""
import warnings, numpy as np
warnings.simplefilter("ignore")
from gdfast._bench import regression_data
from gdfast import GDRegressor, SGDRegressor
from sklearn.linear_model import SGDRegressor as SkSGD
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
X, y, _ = regression_data({n}, {p})
model = {estimator}
model.fit(X[:1000], y[:1000])  # imports and first-call allocations out of the way
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
model.fit(X, y)
print((status("VmHWM:") - before) / X.nbytes)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
        cwd=os.path.expanduser("~"),
    )
    return float(out.stdout.strip().splitlines()[-1])


def format_table(results: list[Result], selected: list[Workload]) -> str:
    """A plain-text table: median time and speed-up over each workload's baseline."""
    lines = []
    by_key = {w.key: w for w in selected}
    for key in dict.fromkeys(r.workload for r in results):
        rows = [r for r in results if r.workload == key]
        w = by_key[key]
        base = next(r.median for r in rows if r.contestant == w.baseline)
        lines.append(rows[0].title)
        for r in rows:
            speed = base / r.median
            extra = f"   {r.quality}" if r.quality else ""
            lines.append(f"    {r.contestant:<32} {r.median * 1e3:10.2f} ms  {speed:6.2f}x{extra}")
        if w.derived:
            medians = {r.contestant: r.median for r in rows}
            lines.extend(f"    {line}" for line in w.derived(medians))
        lines.append("")
    return "\n".join(lines)


def plot_speedups(results: list[Result], selected: list[Workload], path: str) -> None:
    """Bar chart of each contestant's speed-up over its workload's baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {w.key: w for w in selected}
    labels, values = [], []
    for r in results:
        w = by_key[r.workload]
        if r.contestant == w.baseline:
            continue
        base = next(
            x.median for x in results if x.workload == r.workload and x.contestant == w.baseline
        )
        labels.append(f"{r.workload}: {r.contestant}")
        values.append(base / r.median)
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1], color="tab:blue")
    ax.axvline(1.0, color="k", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up over the workload's baseline (x, log scale)")
    ax.set_title("gdfast benchmarks (median, same data, same run)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine_summary() -> str:
    """One line about where the figures were measured."""
    import platform

    from gdfast import _core

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {_core.cores()} cores, {_core.max_threads()} threads, SIMD {_core.simd()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )
