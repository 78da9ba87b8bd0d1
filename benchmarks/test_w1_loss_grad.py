"""W1: one full-batch gradient pass (loss_grad) on 1,000,000 x 32.

Contestants: gdfast.kernels.loss_grad (all threads and one thread), the NumPy
reference, and one parallel read of X (the memory-bandwidth floor).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import regression_data

from gdfast import _core, kernels, reference

N, P = 1_000_000, 32


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(
    "contestant", ["numpy reference", "gdfast", "gdfast 1 thread", "read X once"]
)
def test_w1(race, dtype, contestant):
    X, y, coef = regression_data(N, P, dtype)
    group = f"W1 loss_grad {N}x{P} {np.dtype(dtype).name}"
    if contestant == "numpy reference":
        race(group, contestant, lambda: reference.loss_grad(X, y, coef, 0.5), baseline=True)
    elif contestant == "gdfast":
        race(group, contestant, lambda: kernels.loss_grad(X, y, coef, 0.5))
    elif contestant == "gdfast 1 thread":
        race(group, contestant, lambda: kernels.loss_grad(X, y, coef, 0.5, n_jobs=1))
    else:
        flat = X.reshape(-1)
        race(group, contestant, lambda: _core.read_sum(flat, _core.max_threads()))
