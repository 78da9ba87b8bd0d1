"""Per-call time of gdfast's kernels against the NumPy a user writes, on small
inputs where the call's own cost (validation, dispatch) is most of it.

Run: ``python scripts/kernel_call_overhead.py``. Each line is the median over
interleaved rounds (gdfast and NumPy alternating) of the mean time per call
of a burst of calls, on one thread.
"""

from __future__ import annotations

import time

import numpy as np

from gdfast import kernels


def per_call(call, calls: int) -> float:
    """Mean seconds per call over a burst of ``calls`` calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - t0) / calls


def race(contestants: dict, calls: int, rounds: int = 7) -> dict[str, float]:
    """Median per-call microseconds of each contestant, rounds interleaved."""
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, call in contestants.items():
            times[name].append(per_call(call, calls))
    return {name: 1e6 * float(np.median(t)) for name, t in times.items()}


def main() -> None:
    rng = np.random.default_rng(0)
    for n in (256, 4096):
        X = rng.standard_normal((n, 32))
        y = rng.standard_normal(n)
        w = rng.standard_normal(32)

        def numpy_loss_grad(X=X, y=y, w=w):
            r = X @ w + 0.5 - y
            return 0.5 * float(r @ r), X.T @ r, float(r.sum())

        result = race(
            {
                "kernels.predict": lambda X=X, w=w: kernels.predict(X, w, 0.5, n_jobs=1),
                "NumPy (X @ w + b)": lambda X=X, w=w: X @ w + 0.5,
            },
            calls=20_000 if n == 256 else 2_000,
        )
        print(f"predict, {n} x 32: " + ", ".join(f"{k} {v:.1f} us" for k, v in result.items()))
        result = race(
            {
                "kernels.loss_grad": lambda X=X, y=y, w=w: kernels.loss_grad(
                    X, y, w, 0.5, n_jobs=1
                ),
                "NumPy (X @ w, X.T @ r)": numpy_loss_grad,
            },
            calls=20_000 if n == 256 else 2_000,
        )
        print(f"loss_grad, {n} x 32: " + ", ".join(f"{k} {v:.1f} us" for k, v in result.items()))
    p, g = np.zeros(33), rng.standard_normal(33)
    m, v = np.zeros(33), np.zeros(33)

    def numpy_adam(step=10, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        m[:] = b1 * m + (1 - b1) * g
        v[:] = b2 * v + (1 - b2) * g * g
        p[:] -= lr * (m / (1 - b1**step)) / (np.sqrt(v / (1 - b2**step)) + eps)

    steps = {
        "apply_sgd": (
            lambda: kernels.apply_sgd(p, g, learning_rate=1e-3),
            lambda: p.__isub__(1e-3 * g),
        ),
        "apply_adam": (
            lambda: kernels.apply_adam(p, g, m, v, 10, learning_rate=1e-3),
            numpy_adam,
        ),
    }
    for name, (ours, theirs) in steps.items():
        result = race({f"kernels.{name}": ours, "NumPy": theirs}, calls=20_000)
        print(f"{name}, 33 parameters: " + ", ".join(f"{k} {v:.1f} us" for k, v in result.items()))


if __name__ == "__main__":
    main()
