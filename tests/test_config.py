"""show_config and the n_jobs convention (OMP_NUM_THREADS, threadpoolctl)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_limits

import gdfast
from gdfast import _core
from gdfast._config import resolve_n_jobs


def test_show_config_reports_version_openmp_and_threads():
    buf = io.StringIO()
    gdfast.show_config(file=buf)
    text = buf.getvalue()
    assert f"gdfast {gdfast.__version__}" in text
    assert ("OpenMP: enabled" in text) == _core.openmp_available()
    assert "threads (n_jobs=None):" in text


def test_built_with_openmp():
    # The build is expected to find OpenMP on every supported platform.
    assert _core.openmp_available()


def test_n_jobs_resolution():
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(3) == 3
    assert resolve_n_jobs(-1) == _core.cores()
    assert resolve_n_jobs(None) >= 1


def test_threadpoolctl_limits_are_respected():
    with threadpool_limits(limits=1, user_api="openmp"):
        assert resolve_n_jobs(None) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="environment handling differs")
def test_omp_num_threads_is_respected(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    code = "from gdfast._config import resolve_n_jobs; print(resolve_n_jobs(None))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "1"
