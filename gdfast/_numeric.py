"""Sums the Python layer does on long vectors, without BLAS.

An OpenBLAS call on long vectors wakes its thread pool, whose threads then spin
for a while after it returns, on the core that a fit's second thread (the
shuffle, the staging of CSR batches) or the kernels' OpenMP threads need.
"""

from __future__ import annotations

import numpy as np


def rows_dot(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A @ x`` for a 1-D ``x`` (over A's last axis), summed by NumPy."""
    return np.multiply(A, x).sum(axis=-1)


def coef_norm(coef: np.ndarray) -> float:
    """The Euclidean norm of all the coefficients."""
    c = np.asarray(coef, dtype=np.float64).ravel()
    return float(np.sqrt(rows_dot(c, c)))
