"""Sanity of the fuzz harness (tests/fuzz_harness.py) itself."""

from __future__ import annotations

import itertools

import numpy as np
from fuzz_harness import (
    LAYOUTS,
    X_DTYPES,
    ArraySpec,
    _hang_watchdog,  # noqa: F401  (autouse fixture: applies to this module)
    _memmap_dir,  # noqa: F401  (autouse fixture: applies to this module)
)
from sklearn.exceptions import NotFittedError

from gdfast import DivergenceError

# --------------------------------------------------------------------------- sanity of the harness


def test_harness_builds_every_layout_and_dtype():
    """Every spec builds, with the layout it claims (guards the fuzzers themselves)."""
    for dtype, layout in itertools.product(X_DTYPES, LAYOUTS):
        a = ArraySpec((4, 3), seed=1, dtype=dtype, layout=layout).build()
        assert a.shape == (4, 3)
        if layout == "strided":
            assert not a.flags.c_contiguous and not a.flags.f_contiguous
        if layout == "reversed":
            assert a.strides[0] < 0
        if layout in ("readonly", "memmap_r"):
            assert not a.flags.writeable
        if layout.startswith("memmap") and a.dtype != object:
            assert isinstance(a, np.memmap)
    assert isinstance(DivergenceError("x"), ValueError)
    assert issubclass(NotFittedError, ValueError)
