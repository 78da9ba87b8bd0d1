"""Build and thread configuration: ``show_config`` and the n_jobs convention."""

from __future__ import annotations

import os
import sys
from numbers import Integral

from gdfast import _core

# OpenMP counts threads in a C int.
MAX_THREADS = 2**31 - 1

# GNU OpenMP's thread pool does not survive fork(): a child forked after the
# parent ran a parallel kernel (multiprocessing's default "fork" start method on
# Linux) would hang in its next parallel region. Kernels in a forked child run on
# one thread instead.
_in_forked_child = False


def _after_fork_in_child() -> None:
    global _in_forked_child
    _in_forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def apply_simd_env() -> None:
    """Cap the kernels' instruction set at ``GDFAST_SIMD`` (``baseline``,
    ``avx2`` or ``avx512``), read once at import. Unset, the kernels use the best
    build the CPU supports; a level above the CPU's changes nothing."""
    import warnings

    requested = os.environ.get("GDFAST_SIMD", "").strip().lower()
    if not requested:
        return
    if requested not in _core.CODES["simd"]:
        warnings.warn(
            f"GDFAST_SIMD={requested!r} is not one of {sorted(_core.CODES['simd'])}; "
            "ignored: the kernels use the best build this CPU supports.",
            RuntimeWarning,
            stacklevel=2,
        )
        return
    _core.set_simd(requested)


apply_simd_env()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Number of threads a kernel call will use for ``n_jobs``.

    ``None`` means OpenMP's current limit (which follows ``OMP_NUM_THREADS`` and
    threadpoolctl), a positive integer that many threads, and a negative one
    counts back from the number of cores (``-1`` = all cores), as in joblib.

    In a process forked from one that had imported gdfast, kernels run on one
    thread (GNU OpenMP is not fork-safe); use the "spawn" or "forkserver" start
    method of multiprocessing for parallel kernels in worker processes.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0. TypeError if it is not an integer or None.
    """
    if n_jobs is None:
        return 1 if _in_forked_child else int(_core.threads_for(0))
    if type(n_jobs) is not int and (isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral)):
        raise TypeError(f"n_jobs must be None or a nonzero integer, got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs must be None or a nonzero integer, got 0.")
    if abs(n_jobs) > MAX_THREADS:
        raise ValueError(f"n_jobs must be at most {MAX_THREADS} in magnitude, got {n_jobs}.")
    return 1 if _in_forked_child else int(_core.threads_for(int(n_jobs)))


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
        f"  threads (n_jobs=None): {resolve_n_jobs(None)}",
        f"  SIMD: {_core.simd()} (this CPU supports up to {_core.cpu_simd()}; "
        "GDFAST_SIMD=baseline|avx2|avx512 caps it)",
        f"  cores: {_core.cores()}",
        f"  extension: {_core.__file__}",
    ]
    print("\n".join(lines), file=out)
