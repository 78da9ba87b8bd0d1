"""The harness of the fuzz tests (tests/test_fuzz_*.py): bad input, fuzzed.

Hypothesis drives every public entry point (the estimators' fit, partial_fit
and predict; gdfast.kernels, checked against gdfast.reference) with empty and
tiny shapes, every kind of dtype, every memory layout (Fortran, strided,
negative strides, read-only, memory-mapped), NaN/inf and values near the float
limits, odd sample weights, pandas and list input, and the wrong number of
features. Each call must either return a correct, finite result or raise a
clear ValueError / TypeError / FloatingPointError (NotFittedError,
DivergenceError and InvalidParameterError are ValueErrors) with a sentence for
a message -- never crash, hang, return a NaN model or raise anything else --
and the caller's arrays must come back unchanged.

Each generated input is a small frozen "spec" (shape, RNG seed, special values,
dtype, layout, container) whose repr is a complete reproducer: Hypothesis
prints it when a test fails, and ``spec.build()`` rebuilds the argument.

This module holds what the fuzz tests share: settings, the specs and their
strategies, and the checks of an outcome. It is not a test module. A test
module imports its autouse fixtures (``_memmap_dir``, ``_hang_watchdog``) to
apply them to its tests.
"""

from __future__ import annotations

import cmath
import copy
import faulthandler
import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning

try:
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is optional
    pd = None

# --------------------------------------------------------------------------- settings

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=30)

# The exceptions a caller may get: everything else (IndexError, KeyError,
# AttributeError, SystemError, ZeroDivisionError, OverflowError, ...) is a bug.
EXPECTED = (ValueError, TypeError, FloatingPointError)

NAN, INF = float("nan"), float("inf")
# Values that break naive code: non-finite, near the float64 / float32 / float16
# limits, subnormal, signed zero, and values whose square overflows.
SPECIALS = (
    NAN,
    INF,
    -INF,
    1e308,
    -1e308,
    1.7976931348623157e308,
    3e38,
    -3e38,
    1e-310,
    5e-324,
    1e154,
    1e200,
    -0.0,
    65504.0,
    1e30,
)
SCALES = (1.0, 1e-200, 1e200)

FLOAT_DTYPES = ("float64", "float32", "float16")
INT_DTYPES = ("int32", "int64")
X_DTYPES = (
    *FLOAT_DTYPES,
    *INT_DTYPES,
    "bool",
    "complex128",
    "object_num",
    "object_str",
    "str_num",
    "str_word",
)
Y_DTYPES = (
    "float64",
    "float32",
    "int64",
    "bool",
    "object_num",
    "complex128",
    "str_num",
    "str_word",
)
# dtypes whose values are exactly the numbers they hold (no parsing involved)
NUMERIC_DTYPES = (*FLOAT_DTYPES, *INT_DTYPES, "bool", "object_num")
LAYOUTS = ("C", "F", "strided", "reversed", "readonly", "memmap_r", "memmap_rw")
CONTAINERS = ("ndarray", "list", "pandas") if pd is not None else ("ndarray", "list")


# --------------------------------------------------------------------------- building inputs

_MEMMAP_DIR = None
_MEMMAP_COUNTER = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def _memmap_dir(tmp_path_factory):
    """A directory for the memory-mapped inputs (module scope: Hypothesis-safe)."""
    global _MEMMAP_DIR
    _MEMMAP_DIR = tmp_path_factory.mktemp("fuzz_memmaps")
    yield _MEMMAP_DIR
    _MEMMAP_DIR = None


@pytest.fixture(autouse=True)
def _hang_watchdog():
    """A hang (even inside a compiled kernel holding no GIL) kills the run with a
    traceback instead of blocking it forever."""
    faulthandler.dump_traceback_later(300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def convert(base: np.ndarray, dtype: str) -> np.ndarray:
    """The float64 array ``base`` as data of kind ``dtype``."""
    if dtype in FLOAT_DTYPES:
        with np.errstate(over="ignore"):
            return base.astype(dtype)
    if dtype in INT_DTYPES:
        lo, hi = (-(2**31), 2**31 - 1) if dtype == "int32" else (-(2**62), 2**62)
        b = np.clip(np.round(np.nan_to_num(base, nan=0.0)), lo, hi)
        return b.astype(dtype)
    if dtype == "bool":
        return base > 0
    if dtype == "complex128":
        return base.astype(np.complex128)
    if dtype == "object_num":
        out = base.astype(object)
        if out.size:  # a mix of Python ints and floats
            out.flat[0] = int(np.clip(np.nan_to_num(base.flat[0]), -(2**62), 2**62))
        return out
    if dtype == "object_str":
        out = base.astype(object)
        if out.size:
            out.flat[out.size // 2] = "abc"
        return out
    if dtype == "str_num":
        return base.astype(str)
    if dtype == "str_word":
        return np.full(base.shape, "abc", dtype="<U3")
    raise AssertionError(dtype)


def lay_out(arr: np.ndarray, layout: str) -> np.ndarray:
    """``arr`` (same values) in the memory layout ``layout``."""
    full = (slice(None, None, -1),) * arr.ndim
    if layout == "C" or arr.ndim == 0:
        return np.array(arr, order="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
    if layout == "F":
        return np.asfortranarray(arr)
    if layout == "strided":  # every other column (element) of a wider array
        wide = np.zeros((*arr.shape[:-1], 2 * arr.shape[-1]), dtype=arr.dtype)
        wide[..., ::2] = arr
        return wide[..., ::2]
    if layout == "reversed":  # negative strides
        return np.ascontiguousarray(arr[full])[full]
    if layout == "readonly":
        out = np.array(arr, copy=True)
        out.setflags(write=False)
        return out
    if layout in ("memmap_r", "memmap_rw"):
        if arr.dtype == object or arr.size == 0:  # cannot be memory-mapped
            out = np.array(arr, copy=True)
            out.setflags(write=False)
            return out
        path = _MEMMAP_DIR / f"a{next(_MEMMAP_COUNTER)}.dat"
        mm = np.memmap(path, dtype=arr.dtype, mode="w+", shape=arr.shape)
        mm[...] = arr
        mm.flush()
        del mm
        mode = "r" if layout == "memmap_r" else "r+"
        return np.memmap(path, dtype=arr.dtype, mode=mode, shape=arr.shape)
    raise AssertionError(layout)


def contain(arr: np.ndarray, container: str, layout: str):
    # (a list cannot hold the shape of an empty 2-D array: [] is 1-D)
    if container == "list" and arr.ndim >= 1 and (arr.ndim == 1 or arr.size):
        return arr.tolist()
    if container == "pandas" and arr.ndim in (1, 2):
        return pd.DataFrame(arr) if arr.ndim == 2 else pd.Series(arr)
    return lay_out(arr, layout)


@dataclass(frozen=True)
class ArraySpec:
    """``rng(seed).standard_normal(shape) * scale`` with ``specials`` written at
    (flat index mod size), converted to ``dtype``, laid out, and contained."""

    shape: tuple
    seed: int
    specials: tuple = ()
    scale: float = 1.0
    dtype: str = "float64"
    layout: str = "C"
    container: str = "ndarray"

    def base(self) -> np.ndarray:
        base = np.random.default_rng(self.seed).standard_normal(self.shape) * self.scale
        flat = base.reshape(-1)
        for index, value in self.specials:
            if flat.size:
                flat[index % flat.size] = value
        return base

    def build(self):
        return contain(convert(self.base(), self.dtype), self.container, self.layout)

    @property
    def clean(self) -> bool:
        """Moderate, exactly representable numbers: a correct result is required."""
        return not self.specials and self.scale == 1.0 and self.dtype in NUMERIC_DTYPES

    @property
    def canonical_float(self):
        """The float dtype the estimators compute in for this input."""
        return np.float32 if np.asarray(self.build()).dtype == np.float32 else np.float64

    @property
    def kernel_float(self):
        """The float dtype the kernels compute in for this input."""
        dtype = np.asarray(self.build()).dtype
        return np.float32 if dtype in (np.float32, np.float16) else np.float64


@dataclass(frozen=True)
class WeightSpec:
    """A sample_weight argument of a given ``kind`` for ``n`` rows."""

    kind: str
    n: int
    seed: int = 0
    dtype: str = "float64"
    layout: str = "C"
    container: str = "ndarray"

    @property
    def bad(self) -> bool:
        """Every entry point must refuse it (all_zero: only the estimators; NaN and
        inf, which integer dtypes cannot hold, are checked on the built values)."""
        return self.kind in ("wrong_len", "two_d") or (self.kind == "negative" and self.n > 0)

    def build(self):
        if self.kind == "none":
            return None
        rng = np.random.default_rng(self.seed)
        n = self.n
        if n == 0 and self.kind in ("negative", "nan", "inf"):
            return contain(convert(np.zeros(0), self.dtype), self.container, self.layout)
        w = rng.uniform(1.0, 3.0, n)
        if self.kind == "ones":
            w = np.ones(n)
        elif self.kind == "zeros_some":
            w[1::2] = 0.0
        elif self.kind == "all_zero":
            w = np.zeros(n)
        elif self.kind == "negative":
            w[rng.integers(n)] = -1.0
        elif self.kind == "nan":
            w[rng.integers(n)] = NAN
        elif self.kind == "inf":
            w[rng.integers(n)] = INF
        elif self.kind == "huge":
            w[:] = 1e308
        elif self.kind == "tiny":
            w[:] = 1e-310
        elif self.kind == "wrong_len":
            w = rng.uniform(1.0, 3.0, n + 1 if n < 2 or self.seed % 2 else n - 1)
        elif self.kind == "two_d":
            w = w[:, None]
        return contain(convert(w, self.dtype), self.container, self.layout)


def numeric_values(obj):
    """``obj`` as a float64 ndarray, or None when it is complex or not numbers."""
    if obj is None:
        return None
    a = np.asarray(obj)
    if a.dtype.kind == "c":
        return None
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError):
        return None


def is_nonfinite(obj) -> bool:
    v = numeric_values(obj)
    return v is not None and v.size > 0 and not np.isfinite(v).all()


def is_unusable(obj) -> bool:
    """Complex, or holds something that is not a number."""
    if obj is None:
        return False
    a = np.asarray(obj)
    return a.dtype.kind == "c" or (a.size > 0 and numeric_values(obj) is None)


# --------------------------------------------------------------------------- strategies

seeds = st.integers(0, 2**32 - 1)
special_lists = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(SPECIALS)), max_size=3)


FINITE_SPECIALS = tuple(v for v in SPECIALS if math.isfinite(v))
# What a generated argument may hold. Every mode uses every layout and container.
#   good:   moderate numbers of a numeric dtype (a correct result is required)
#   limits: finite values near the float limits (a finite result or a clear error)
#   any:    anything: non-finite values, complex, strings, objects...
MODES = ("good", "limits", "any")


@st.composite
def array_specs(draw, shape, *, mode="any", dtypes=X_DTYPES):
    if mode == "good":
        dtypes = tuple(d for d in dtypes if d in NUMERIC_DTYPES)
        specials, scale = (), 1.0
    elif mode == "limits":
        dtypes = tuple(d for d in dtypes if d in NUMERIC_DTYPES)
        specials = draw(
            st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(FINITE_SPECIALS)), max_size=3)
        )
        scale = draw(st.sampled_from(SCALES))
    else:
        specials = draw(special_lists)
        scale = draw(st.sampled_from(SCALES))
    return ArraySpec(
        shape=tuple(shape),
        seed=draw(seeds),
        specials=tuple(specials),
        scale=scale,
        dtype=draw(st.sampled_from(dtypes)),
        layout=draw(st.sampled_from(LAYOUTS)),
        container=draw(st.sampled_from(CONTAINERS)),
    )


Y_KINDS = ("1d", "2d1", "2d2", "2d3", "wrong_len", "3d")
N_TARGETS = {"2d1": 1, "2d2": 2, "2d3": 3}


def y_shape(kind: str, n: int) -> tuple:
    return {
        "1d": (n,),
        "2d1": (n, 1),
        "2d2": (n, 2),
        "2d3": (n, 3),
        "wrong_len": (n + 1,),
        "3d": (n, 1, 1),
    }[kind]


GOOD_Y_KINDS = ("1d", "2d1", "2d2", "2d3")


@st.composite
def target_specs(draw, n, *, mode="any", kinds=None):
    if kinds is None:
        kinds = Y_KINDS if mode == "any" else GOOD_Y_KINDS
    kind = draw(st.sampled_from(kinds))
    return kind, draw(array_specs(y_shape(kind, n), mode=mode, dtypes=Y_DTYPES))


WEIGHT_KINDS = (
    "none",
    "ones",
    "random",
    "zeros_some",
    "all_zero",
    "negative",
    "nan",
    "inf",
    "huge",
    "tiny",
    "wrong_len",
    "two_d",
)


GOOD_WEIGHT_KINDS = ("none", "ones", "random", "zeros_some")


@st.composite
def weight_specs(draw, n, *, mode="any"):
    kinds = {"good": GOOD_WEIGHT_KINDS, "limits": ("huge", "tiny")}.get(mode, WEIGHT_KINDS)
    return WeightSpec(
        kind=draw(st.sampled_from(kinds)),
        n=n,
        seed=draw(seeds),
        dtype=draw(st.sampled_from(("float64", "float32", "int64", "object_num"))),
        layout=draw(st.sampled_from(LAYOUTS)),
        container=draw(st.sampled_from(CONTAINERS)),
    )


@st.composite
def fit_inputs(draw, *, p=None, good_y_kinds=None):
    """(n, p, X, y_kind, y, sample_weight): one argument (or all, "everything")
    is faulty or near the float limits, the others are good."""
    fault = draw(
        st.sampled_from(("none", "X", "y", "sample_weight", "limits", "everything")),
        label="fault",
    )
    if fault == "none":
        n = draw(st.integers(1, 30), label="n")
        p = draw(st.integers(1, 6), label="p") if p is None else draw(p, label="p")
    else:
        n = draw(st.integers(0, 30), label="n")
        p = draw(st.integers(0, 6), label="p") if p is None else draw(p, label="p")
    modes = dict.fromkeys(("X", "y", "sample_weight"), "good")
    if fault == "limits":
        modes[draw(st.sampled_from(tuple(modes)))] = "limits"
    elif fault == "everything":
        modes = dict.fromkeys(modes, "any")
    elif fault in modes:
        modes[fault] = "any"
    X = draw(array_specs((n, p), mode=modes["X"]), label="X")
    y_kinds = good_y_kinds if modes["y"] != "any" else None
    y_kind, y = draw(target_specs(n, mode=modes["y"], kinds=y_kinds), label="y")
    sw = draw(weight_specs(n, mode=modes["sample_weight"]), label="sample_weight")
    return n, p, X, y_kind, y, sw


# --------------------------------------------------------------------------- checking outcomes


@dataclass
class Outcome:
    ok: bool
    value: object = None
    error: BaseException | None = None


def safe_note(text: str, *, label: str | None = None) -> None:
    """Note (and count, for --hypothesis-show-statistics) inside a Hypothesis test."""
    try:
        note(text)
        if label is not None:
            event(label)
    except Exception:  # outside a Hypothesis test
        pass


def call(fn, *args, **kwargs) -> Outcome:
    """Run ``fn``: its result, or an expected exception with a clear message.

    Any other exception fails the test (it is re-raised as an AssertionError
    that names it, chained to the original traceback).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DataConversionWarning)
        warnings.filterwarnings("ignore", message=".*feature names.*", category=UserWarning)
        name = getattr(fn, "__qualname__", fn)
        try:
            result = fn(*args, **kwargs)
        except EXPECTED as exc:
            message = str(exc)
            assert len(message) > 10 and " " in message.strip(), (
                f"{getattr(fn, '__qualname__', fn)} raised {type(exc).__name__} with an "
                f"unclear message: {message!r}"
            )
            safe_note(f"{name} -> {type(exc).__name__}: {message}", label=f"{name}: raised")
            return Outcome(False, error=exc)
        except Exception as exc:
            raise AssertionError(
                f"{getattr(fn, '__qualname__', fn)} raised an unexpected "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        safe_note(f"{name} returned", label=f"{name}: returned")
        return Outcome(True, result)


def _copy(obj):
    if isinstance(obj, np.ndarray):
        return (np.array(obj, copy=True, subok=False), obj.dtype, obj.shape, obj.flags.writeable)
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.copy(deep=True)
    return copy.deepcopy(obj)


def _same_objects(a, b) -> bool:
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(_same_objects(x, z) for x, z in zip(a, b, strict=True))
        )
    if isinstance(a, (float, complex)) and type(a) is type(b):
        return a == b or (cmath.isnan(a) and cmath.isnan(b) and str(a) == str(b))
    return type(a) is type(b) and a == b


def _assert_same(name: str, obj, snap) -> None:
    if isinstance(obj, np.ndarray):
        values, dtype, shape, writeable = snap
        assert obj.dtype == dtype and obj.shape == shape, f"{name}: dtype/shape changed"
        assert obj.flags.writeable == writeable, f"{name}: writeable flag changed"
        if dtype.kind == "O":
            same = _same_objects(np.asarray(obj).tolist(), values.tolist())
        else:  # bitwise: NaN payloads and signed zeros included
            same = np.ascontiguousarray(obj).tobytes() == np.ascontiguousarray(values).tobytes()
        assert same, f"the caller's {name} was modified"
    elif pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        assert obj.equals(snap), f"the caller's {name} (pandas) was modified"
        dtypes = (obj.dtypes, snap.dtypes)
        assert all(np.atleast_1d(dtypes[0] == dtypes[1])), f"{name}: pandas dtypes changed"
    else:
        assert _same_objects(obj, snap), f"the caller's {name} was modified"


class Snapshot:
    """Copies of the caller's arguments, to check that a call left them alone."""

    def __init__(self, **objs):
        self.items = {k: (v, _copy(v)) for k, v in objs.items() if v is not None}

    def assert_unchanged(self, *names: str) -> None:
        """The arguments (only those named, if any are) are as they were."""
        for name, (obj, snap) in self.items.items():
            if not names or name in names:
                _assert_same(name, obj, snap)


def assert_finite_array(a, shape, what: str) -> None:
    a = np.asarray(a)
    assert a.shape == tuple(shape), f"{what}: shape {a.shape}, expected {tuple(shape)}"
    assert np.isfinite(a).all(), f"{what} is not finite: {a}"


def canonical(spec, dtype):
    """The values of ``spec`` as a plain C-contiguous float array (None stays None)."""
    values = numeric_values(spec.build())
    return None if values is None else np.ascontiguousarray(values, dtype)


def same_acceptance(out_k: Outcome, out_r: Outcome, what: str) -> None:
    """The kernel and its NumPy specification accept or refuse alike."""
    if out_k.ok != out_r.ok or (not out_k.ok and type(out_k.error) is not type(out_r.error)):
        raise AssertionError(
            f"{what}: kernel and reference disagree: kernel "
            f"{'returned' if out_k.ok else repr(out_k.error)}, reference "
            f"{'returned' if out_r.ok else repr(out_r.error)}"
        )
