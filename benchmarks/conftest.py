"""The gdfast benchmark suite (pytest-benchmark), kept out of the default test run.

Run with ``pytest benchmarks`` after ``pip install ".[bench]"``. The workloads
are defined once, in :mod:`gdfast._bench`, and shared with ``gdfast bench``.
Each workload's contestants race on the same data in the same process; at the
end a table prints every median and its speed-up over the workload's baseline
(the figures the README quotes), plus the peak memory of ``fit``.
"""

from __future__ import annotations

import pytest

from gdfast import _bench

WORKLOADS = {w.key: w for w in _bench.workloads(quick=False)}
RESULTS: list[_bench.Result] = []
MEMORY: dict[str, float] = {}


@pytest.fixture(scope="session")
def workloads():
    return WORKLOADS


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    if RESULTS:
        tr.section("gdfast speed-ups (median of interleaved rounds, same data, same run)")
        tr.write_line(f"machine: {_bench.machine_summary()}")
        selected = [WORKLOADS[k] for k in dict.fromkeys(r.workload for r in RESULTS)]
        for line in _bench.format_table(RESULTS, selected).splitlines():
            tr.write_line(line)
    if MEMORY:
        tr.section("peak extra memory of fit, as a fraction of X's size (500,000 x 32 float64)")
        for name, ratio in MEMORY.items():
            tr.write_line(f"    {name:<40} {ratio:6.3f} x X")
