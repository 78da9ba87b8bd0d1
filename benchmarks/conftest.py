"""Shared data and a ratio summary for the gdfast benchmark suite.

Run with ``pytest benchmarks`` (after ``pip install ".[bench]"``). Every
workload races its contestants on the same data in the same run; at the end a
table prints each contestant's median time and its speed-up over the group's
baseline, which is what the README quotes.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np
import pytest

# group -> {contestant: median seconds}; filled by the `race` fixture.
RESULTS: dict[str, dict[str, float]] = defaultdict(dict)
BASELINES: dict[str, str] = {}
NOTES: dict[str, list[str]] = defaultdict(list)

_CACHE: dict[tuple, tuple] = {}


def regression_data(n: int, p: int, dtype=np.float64, seed: int = 0):
    """Standardized random regression data, cached for the session."""
    key = (n, p, np.dtype(dtype).str, seed)
    if key not in _CACHE:
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, p)).astype(dtype)
        coef = rng.standard_normal(p)
        y = (X @ coef.astype(dtype) + 0.5 + 0.1 * rng.standard_normal(n)).astype(dtype)
        _CACHE[key] = (X, y, coef)
    return _CACHE[key]


@pytest.fixture
def race(benchmark):
    """race(group, name, fn, baseline=False, rounds=7): time fn, record its median."""

    def run(group, name, fn, *, baseline=False, rounds=7, warmup=1):
        benchmark.group = group
        benchmark.name = name
        result = benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=warmup)
        RESULTS[group][name] = statistics.median(benchmark.stats.stats.data)
        if baseline:
            BASELINES[group] = name
        return result

    return run


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("gdfast speed-ups (median of rounds, same data, same run)")
    for group in sorted(RESULTS):
        rows = RESULTS[group]
        base = BASELINES.get(group)
        tr.write_line(f"{group}:")
        for name, t in sorted(rows.items(), key=lambda kv: kv[1]):
            ratio = f"  {rows[base] / t:6.2f}x vs {base}" if base and base in rows else ""
            tr.write_line(f"    {name:<38} {t * 1e3:10.2f} ms{ratio}")
        for note in NOTES.get(group, []):
            tr.write_line(f"    {note}")
