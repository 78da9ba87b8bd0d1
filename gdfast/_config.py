"""Build and thread configuration: ``show_config`` and the n_jobs convention."""

from __future__ import annotations

import sys
from numbers import Integral

from gdfast import _core

# OpenMP counts threads in a C int.
MAX_THREADS = 2**31 - 1


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of threads a kernel call will use for ``n_jobs``.

    ``None`` means OpenMP's current limit (which follows ``OMP_NUM_THREADS`` and
    threadpoolctl), a positive integer that many threads, and a negative one
    counts back from the number of cores (``-1`` = all cores), as in joblib.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0. TypeError if it is not an integer or None.
    """
    if n_jobs is None:
        return int(_core.threads_for(0))
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral):
        raise TypeError(f"n_jobs must be None or a nonzero integer, got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs must be None or a nonzero integer, got 0.")
    if abs(n_jobs) > MAX_THREADS:
        raise ValueError(f"n_jobs must be at most {MAX_THREADS} in magnitude, got {n_jobs}.")
    return int(_core.threads_for(int(n_jobs)))


def show_config(file=None) -> None:
    """Print the gdfast version, whether OpenMP is enabled and the thread count.

    Parameters
    ----------
    file : file-like, default=None
        Where to print; standard output when None.
    """
    from gdfast import __version__

    out = sys.stdout if file is None else file
    openmp = bool(_core.openmp_available())
    lines = [
        f"gdfast {__version__}",
        f"  OpenMP: {'enabled' if openmp else 'DISABLED (kernels run on one thread)'}",
        f"  threads (n_jobs=None): {_core.max_threads()}",
        f"  SIMD: {_core.simd()}",
        f"  cores: {_core.cores()}",
        f"  extension: {_core.__file__}",
    ]
    print("\n".join(lines), file=out)
