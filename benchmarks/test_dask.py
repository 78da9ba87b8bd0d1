"""The distributed workloads of gdfast._bench_dask (LocalClusters of worker
processes, started here), timed like the others and added to the summary table."""

from __future__ import annotations

import statistics

import pytest
from conftest import RESULTS, WORKLOADS

from gdfast import _bench

pytest.importorskip("dask_ml")
_bench_dask = pytest.importorskip("gdfast._bench_dask")


@pytest.fixture(scope="module")
def dask_workloads():
    with _bench_dask.dask_workloads(quick=False) as workloads:
        yield workloads


def test_dask_workloads(dask_workloads):
    for w in dask_workloads:
        WORKLOADS[w.key] = w  # for the summary table
        times = _bench.median_times(w.contestants, w.rounds, w.settle)
        for c in w.contestants:
            quality = c.quality(c.run()) if c.quality else ""
            RESULTS.append(
                _bench.Result(
                    w.key,
                    w.title,
                    c.name,
                    statistics.median(times[c.name]),
                    times[c.name],
                    quality,
                )
            )
