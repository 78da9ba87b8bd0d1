"""Every workload of gdfast._bench, timed by pytest-benchmark.

The contestants of a workload are timed together (interleaved rounds, so that a
noisy neighbour on a shared machine hits all of them alike); pytest-benchmark
records the gdfast contestant's rounds, and the summary table prints them all.
"""

from __future__ import annotations

import statistics

import pytest
from conftest import MEMORY, RESULTS, WORKLOADS

from gdfast import _bench


@pytest.mark.parametrize("key", list(WORKLOADS))
def test_workload(benchmark, key):
    w = WORKLOADS[key]
    times = _bench.median_times(w.contestants, w.rounds, w.settle)
    for c in w.contestants:
        quality = c.quality(c.run()) if c.quality else ""
        RESULTS.append(
            _bench.Result(
                w.key, w.title, c.name, statistics.median(times[c.name]), times[c.name], quality
            )
        )
    # pytest-benchmark's own table: the fastest gdfast contestant of the workload.
    gdfast = next(c for c in w.contestants if c.name.startswith("gdfast"))
    benchmark.group = w.title
    benchmark.name = gdfast.name
    benchmark.pedantic(gdfast.run, rounds=3, iterations=1)


@pytest.mark.parametrize(
    ("name", "estimator"),
    [
        ("gdfast GDRegressor()", "GDRegressor()"),
        ("gdfast GDRegressor(precompute=False)", "GDRegressor(precompute=False)"),
        ("gdfast SGDRegressor()", "SGDRegressor(random_state=0)"),
        ("scikit-learn SGDRegressor()", "SkSGD(random_state=0)"),
        # calibration: LinearRegression copies and centers X
        (
            "scikit-learn LinearRegression()",
            "__import__('sklearn.linear_model').linear_model.LinearRegression()",
        ),
    ],
)
def test_peak_memory_of_fit(name, estimator):
    MEMORY[name] = _bench.peak_memory_ratio(estimator)
