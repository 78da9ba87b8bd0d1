"""scikit-learn's own SGDRegressor tests (its linear_model/tests/test_sgd.py, the
regressor cases, dense and sparse) run against gdfast.SGDRegressor: the drop-in
promise, checked by the tests of the estimator it replaces."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn


def test_sklearn_sgd_regressor_tests_pass_against_gdfast():
    package = Path(sklearn.__file__).parent
    suite = package / "linear_model" / "tests" / "test_sgd.py"
    if not suite.exists():
        pytest.skip("this scikit-learn install has no test files")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-p", "sklearn_sgd_patch", f"--rootdir={package}", str(suite),
         "-k", "Regressor or regressor", "-W", "ignore::UserWarning"],
        capture_output=True, text=True, timeout=600, env=env, cwd=str(package.parent),
    )  # fmt: skip
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 75, summary  # scikit-learn 1.9 has 75 regressor cases
    assert "failed" not in summary and "error" not in summary, summary
