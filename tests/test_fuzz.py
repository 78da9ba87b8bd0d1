"""Bad input, fuzzed.

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
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError

from gdfast import DivergenceError, GDRegressor, SGDRegressor, kernels, reference

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

    def assert_unchanged(self) -> None:
        for name, (obj, snap) in self.items.items():
            _assert_same(name, obj, snap)


def assert_finite_array(a, shape, what: str) -> None:
    a = np.asarray(a)
    assert a.shape == tuple(shape), f"{what}: shape {a.shape}, expected {tuple(shape)}"
    assert np.isfinite(a).all(), f"{what} is not finite: {a}"


# --------------------------------------------------------------------------- estimators


@dataclass(frozen=True)
class EstSpec:
    cls: str
    params: tuple

    def make(self):
        return {"SGD": SGDRegressor, "GD": GDRegressor}[self.cls](**dict(self.params))

    def __str__(self) -> str:  # a short test id
        shown = [f"{k}={v}" for k, v in self.params if k not in ("max_iter", "random_state", "tol")]
        return f"{self.cls}({','.join(shown)})"

    @property
    def multi_output(self) -> bool:
        return self.cls == "GD"


def est(cls, **params) -> EstSpec:
    base = {"max_iter": 5, "random_state": 0}
    if cls == "SGD":
        base["tol"] = None
    base.update(params)
    return EstSpec(cls, tuple(sorted(base.items())))


ESTIMATORS = (
    est("SGD", batch_size=1),
    est("SGD", batch_size=4),
    est("SGD", batch_size=1, loss="huber", average=True),
    est("SGD", batch_size=4, learning_rate="adaptive", penalty="elasticnet"),
    est("GD", batch_size=None, optimizer="nesterov"),
    est("GD", batch_size=4, optimizer="adam"),
    est("GD", batch_size=None, optimizer="rmsprop", standardize=False),
    est("GD", batch_size=4, optimizer="momentum", learning_rate="constant"),
    est("GD", batch_size=None, optimizer="adagrad", loss="epsilon_insensitive", penalty="l1"),
    est("GD", batch_size=None, optimizer="sgd", precompute=False, standardize=False),
)


def clean_X(p: int, n: int = 4) -> np.ndarray:
    return np.linspace(-1.0, 1.0, n * p).reshape(n, p)


def fit_call(model, method: str, X, y, sw):
    return getattr(model, method)(X, y, sample_weight=sw)


def check_fitted_model(model, p: int, k: int | None) -> None:
    """A successful fit or partial_fit left a finite, usable model."""
    coef = np.asarray(model.coef_)
    intercept = np.asarray(model.intercept_)
    assert np.isfinite(coef).all() and np.isfinite(intercept).all(), (
        f"silent non-finite model: coef_={coef}, intercept_={intercept}"
    )
    expected = (p,) if k is None else (k, p)
    assert coef.shape == expected, f"coef_ shape {coef.shape}, expected {expected}"
    assert intercept.size == (1 if k is None else k)
    assert model.n_features_in_ == p
    Xc = clean_X(p)
    out = call(model.predict, Xc)
    bound = float(np.sum(np.abs(coef), dtype=np.float64)) + float(np.max(np.abs(intercept)))
    if bound < 1e300:  # predictions of |x| <= 1 cannot overflow
        assert out.ok, f"predict on clean data failed: {out.error!r}"
    if out.ok:
        assert_finite_array(out.value, (4,) if k is None else (4, k), "predict(clean X)")


def canonical(spec, dtype):
    """The values of ``spec`` as a plain C-contiguous float array (None stays None)."""
    values = numeric_values(spec.build())
    return None if values is None else np.ascontiguousarray(values, dtype)


def expected_fit_failure(estspec, n, p, X, y_kind, y, sw_spec, sw) -> str | None:
    """Why this fit must be refused (None: it may succeed)."""
    if n == 0:
        return "0 rows"
    if p == 0:
        return "0 features"
    if is_unusable(X) or is_nonfinite(X):
        return "X is complex, non-numeric or not finite"
    if y_kind in ("wrong_len", "3d"):
        return f"y is {y_kind}"
    if y_kind in ("2d2", "2d3") and not estspec.multi_output:
        return "SGDRegressor with several targets"
    if is_unusable(y) or is_nonfinite(y):
        return "y is complex, non-numeric or not finite"
    if sw_spec.bad or sw_spec.kind == "all_zero" or is_nonfinite(sw):
        return f"sample_weight is {sw_spec.kind}"
    return None


def n_targets(estspec, y_kind):
    if not estspec.multi_output:
        return None
    return N_TARGETS.get(y_kind)


@FUZZ
@given(
    estspec=st.sampled_from(ESTIMATORS),
    method=st.sampled_from(("fit", "partial_fit")),
    inputs=fit_inputs(),
)
def test_estimator_fit_fuzz(estspec, method, inputs):
    n, p, Xs, y_kind, ys, sws = inputs
    X, y, sw = Xs.build(), ys.build(), sws.build()
    snap = Snapshot(X=X, y=y, sample_weight=sw)
    model = estspec.make()
    out = call(fit_call, model, method, X, y, sw)
    snap.assert_unchanged()

    must_fail = expected_fit_failure(estspec, n, p, X, y_kind, y, sws, sw)
    note(f"must_fail={must_fail!r}")
    if must_fail:
        assert not out.ok, f"{method} accepted bad input ({must_fail})"
    clean = must_fail is None and Xs.clean and ys.clean and sws.kind in GOOD_WEIGHT_KINDS
    if clean:
        assert out.ok, f"{method} refused clean input: {out.error!r}"

    if not out.ok:
        # A failed first fit leaves the estimator unfitted, not half-fitted.
        after = call(model.predict, clean_X(max(p, 1)))
        assert not after.ok and isinstance(after.error, NotFittedError), (
            f"after a failed {method}, predict gave {after}"
        )
        return

    k = n_targets(estspec, y_kind)
    check_fitted_model(model, p, k)
    # predict on the training input itself: finite, or a clear error.
    pred = call(model.predict, X)
    snap.assert_unchanged()
    if pred.ok:
        assert_finite_array(pred.value, (n,) if k is None else (n, k), "predict(X)")

    if clean:
        # The same model as from a plain C-contiguous float array: layouts,
        # containers and integer/bool/object dtypes change nothing.
        dtype = Xs.canonical_float
        twin = estspec.make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_call(twin, method, canonical(Xs, dtype), canonical(ys, None), canonical(sws, None))
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(model.coef_, twin.coef_, **tol)
        np.testing.assert_allclose(model.intercept_, twin.intercept_, **tol)


@FUZZ
@given(
    estspec=st.sampled_from(ESTIMATORS),
    p_fit=st.integers(1, 4),
    n=st.integers(0, 30),
    p_extra=st.sampled_from((0, 0, 0, 1, -1, 3)),
    mode=st.sampled_from(MODES),
    data=st.data(),
)
def test_estimator_predict_fuzz(estspec, p_fit, n, p_extra, mode, data):
    rng = np.random.default_rng(p_fit)
    X_fit = rng.standard_normal((20, p_fit))
    y_fit = X_fit @ rng.standard_normal(p_fit) + 0.5
    model = estspec.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_fit, y_fit)
    p = max(0, p_fit + p_extra)
    Xs = data.draw(array_specs((n, p), mode=mode), label="X")
    X = Xs.build()
    snap = Snapshot(X=X)
    coef_before = np.array(model.coef_, copy=True)

    out = call(model.predict, X)
    snap.assert_unchanged()
    assert np.array_equal(model.coef_, coef_before), "predict changed coef_"

    if p != p_fit:
        assert not out.ok, f"predict accepted {p} features for a model fitted on {p_fit}"
        if n > 0 and Xs.dtype in NUMERIC_DTYPES and not is_nonfinite(X):
            message = str(out.error)
            assert "feature" in message, f"the error does not name the problem: {message!r}"
    if n == 0 or is_unusable(X) or is_nonfinite(X):
        assert not out.ok, "predict accepted empty, non-numeric or non-finite X"
    if out.ok:
        assert_finite_array(out.value, (n,), "predict(X)")
    if Xs.clean and p == p_fit and n > 0:
        assert out.ok, f"predict refused clean input: {out.error!r}"
        twin = model.predict(canonical(Xs, Xs.canonical_float))
        tol = 1e-5 if Xs.canonical_float == np.float32 else 1e-12
        np.testing.assert_allclose(out.value, twin, rtol=tol, atol=tol)


@FEW
@given(
    estspec=st.sampled_from(ESTIMATORS), n=st.integers(0, 8), p=st.integers(0, 6), data=st.data()
)
def test_predict_before_fit(estspec, n, p, data):
    Xs = data.draw(array_specs((n, p)), label="X")
    X = Xs.build()
    snap = Snapshot(X=X)
    out = call(estspec.make().predict, X)
    snap.assert_unchanged()
    assert not out.ok and isinstance(out.error, NotFittedError), out


@FUZZ
@given(
    estspec=st.sampled_from(ESTIMATORS),
    multi=st.booleans(),
    data=st.data(),
)
def test_partial_fit_after_fit_fuzz(estspec, multi, data):
    """A bad batch after a good one is refused and leaves the model as it was;
    a good one keeps it finite."""
    multi = multi and estspec.multi_output
    rng = np.random.default_rng(1)
    X0 = rng.standard_normal((12, 3))
    y0 = X0 @ rng.standard_normal((3, 2) if multi else 3) + 0.5
    model = estspec.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(X0, y0)
    coef0 = np.array(model.coef_, copy=True)
    intercept0 = np.array(model.intercept_, copy=True)

    if multi:
        y_kinds = ("2d2", "2d2", "2d2", "1d", "2d3")
    elif estspec.multi_output:
        y_kinds = ("1d", "1d", "1d", "2d1")
    else:
        y_kinds = ("1d", "1d", "2d1", "2d2")
    n, p, Xs, y_kind, ys, sws = data.draw(
        fit_inputs(p=st.sampled_from((3, 3, 3, 3, 3, 0, 2, 4)), good_y_kinds=y_kinds),
        label="batch",
    )
    X, y, sw = Xs.build(), ys.build(), sws.build()
    snap = Snapshot(X=X, y=y, sample_weight=sw)
    out = call(model.partial_fit, X, y, sample_weight=sw)
    snap.assert_unchanged()

    must_fail = expected_fit_failure(estspec, n, p, X, y_kind, y, sws, sw)
    if p != 3:
        must_fail = "wrong number of features"
    if multi and y_kind != "2d2":
        must_fail = "other targets than the first call"
    if not multi and estspec.multi_output and y_kind in N_TARGETS:
        must_fail = "other targets than the first call"
    note(f"must_fail={must_fail!r}")
    if must_fail:
        assert not out.ok, f"partial_fit accepted bad input ({must_fail})"
    if not out.ok:
        np.testing.assert_array_equal(
            model.coef_, coef0, err_msg="failed partial_fit changed coef_"
        )
        np.testing.assert_array_equal(
            model.intercept_, intercept0, err_msg="failed partial_fit changed intercept_"
        )
        return
    check_fitted_model(model, 3, 2 if multi else None)


@pytest.mark.skipif(pd is None, reason="pandas is not installed")
@pytest.mark.parametrize("estspec", ESTIMATORS, ids=str)
def test_pandas_feature_names(estspec):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((15, 3)), columns=["a", "b", "c"])
    y = pd.Series(rng.standard_normal(15), name="target")
    snap = Snapshot(X=df, y=y)
    model = estspec.make()
    assert call(model.fit, df, y).ok
    snap.assert_unchanged()
    check_fitted_model(model, 3, None)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    # Same names, another order: scikit-learn's ValueError naming the features.
    out = call(model.predict, df[["c", "a", "b"]])
    assert not out.ok and "feature names" in str(out.error)
    # Unknown name.
    out = call(model.predict, df.rename(columns={"c": "z"}))
    assert not out.ok and "feature names" in str(out.error)
    # Missing column.
    out = call(model.predict, df[["a", "b"]])
    assert not out.ok and "feature" in str(out.error)
    # Nullable dtype with a missing value.
    bad = df.astype("Float64")
    bad.iloc[2, 1] = pd.NA
    out = call(model.predict, bad)
    assert not out.ok
    snap.assert_unchanged()


@pytest.mark.skipif(pd is None, reason="pandas is not installed")
@pytest.mark.parametrize("estspec", ESTIMATORS[:1] + ESTIMATORS[4:5], ids=str)
def test_zero_column_dataframe_error_names_the_problem(estspec):
    """A DataFrame without columns has 0 features: the error must say so (as it
    does for an ndarray of shape (n, 0)), not leak a NumPy internal message."""
    empty = pd.DataFrame(np.zeros((3, 0)))
    y = np.arange(3.0)
    snap = Snapshot(X=empty, y=y)
    out = call(estspec.make().fit, empty, y)
    assert not out.ok
    assert "feature" in str(out.error), f"fit: unclear error {out.error!r}"

    model = estspec.make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(np.ones((3, 2)), y)
    out = call(model.predict, empty)
    assert not out.ok
    assert "feature" in str(out.error), f"predict: unclear error {out.error!r}"
    snap.assert_unchanged()


# --------------------------------------------------------------------------- kernels


KERNEL_PARAM_DTYPES = ("float64", "float32", "int64", "object_num", "complex128", "str_num")
LOSSES = ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")
EPSILONS = (0.1, 0.0, 1.5, -1.0, NAN, INF, "0.1", True)
INTERCEPT_KINDS = ("scalar", "zero_d", "vector", "list", "wrong", "nan", "inf", "str", "complex")


@dataclass(frozen=True)
class InterceptSpec:
    kind: str
    k: int | None  # None: single output

    def build(self):
        k = 1 if self.k is None else self.k
        return {
            "scalar": 0.25,
            "zero_d": np.array(-0.5),
            "vector": np.linspace(-1, 1, k),
            "list": [0.5] * k,
            "wrong": np.zeros(k + 1),
            "nan": NAN,
            "inf": np.full(k, -INF),
            "str": "abc",
            "complex": 1 + 2j,
        }[self.kind]

    @property
    def bad(self) -> bool:
        return self.kind in ("wrong", "nan", "inf", "str", "complex")


@st.composite
def coef_specs(draw, p, k, *, mode="any"):
    """coef for p features and k targets (None: 1-D); in mode "any" sometimes of
    the wrong shape."""
    shape = (p,) if k is None else (k, p)
    wrong = draw(st.sampled_from((None, "features", "ndim"))) if mode == "any" else None
    if wrong == "features":
        shape = (*shape[:-1], p + 1)
    elif wrong == "ndim":
        shape = (1, p) if k is None else (k * p,)
    spec = draw(array_specs(shape, mode=mode, dtypes=KERNEL_PARAM_DTYPES))
    return wrong, spec


GOOD_INTERCEPT_KINDS = ("scalar", "zero_d", "vector", "list")
GOOD_EPSILONS = (0.1, 0.0, 1.5)


def kernel_modes(draw, names):
    """Modes of the kernel arguments: one faulty or near the float limits (or
    all faulty, "everything"), the others good."""
    fault = draw(st.sampled_from(("none", *names, "limits", "everything")), label="fault")
    modes = dict.fromkeys(names, "good")
    if fault == "limits":
        arrays = tuple(name for name in ("X", "y", "coef") if name in names)
        modes[draw(st.sampled_from(arrays))] = "limits"
    elif fault == "everything":
        modes = dict.fromkeys(names, "any")
    elif fault in modes:
        modes[fault] = "any"
    return fault, modes


@st.composite
def loss_grad_inputs(draw):
    _, modes = kernel_modes(draw, ("X", "y", "coef", "intercept", "sample_weight", "epsilon"))
    n = draw(st.integers(0, 30), label="n")
    p = draw(st.integers(0, 6), label="p")
    Xs = draw(array_specs((n, p), mode=modes["X"]), label="X")
    y_kind, ys = draw(target_specs(n, mode=modes["y"]), label="y")
    k = N_TARGETS.get(y_kind)
    coef_wrong, cs = draw(coef_specs(p, k, mode=modes["coef"]), label="coef")
    intercept_kinds = GOOD_INTERCEPT_KINDS if modes["intercept"] == "good" else INTERCEPT_KINDS
    bs = InterceptSpec(draw(st.sampled_from(intercept_kinds)), k)
    sws = draw(weight_specs(n, mode=modes["sample_weight"]), label="sample_weight")
    loss = draw(st.sampled_from(LOSSES))
    epsilon = draw(st.sampled_from(GOOD_EPSILONS if modes["epsilon"] == "good" else EPSILONS))
    n_jobs = draw(st.sampled_from((None, 1, 2, -1)))
    return n, p, Xs, y_kind, ys, k, coef_wrong, cs, bs, sws, loss, epsilon, n_jobs


def same_acceptance(out_k: Outcome, out_r: Outcome, what: str) -> None:
    """The kernel and its NumPy specification accept or refuse alike."""
    if out_k.ok != out_r.ok or (not out_k.ok and type(out_k.error) is not type(out_r.error)):
        raise AssertionError(
            f"{what}: kernel and reference disagree: kernel "
            f"{'returned' if out_k.ok else repr(out_k.error)}, reference "
            f"{'returned' if out_r.ok else repr(out_r.error)}"
        )


def epsilon_ok(epsilon) -> bool:
    return (
        not isinstance(epsilon, bool)
        and isinstance(epsilon, float)
        and math.isfinite(epsilon)
        and epsilon >= 0
    )


@FUZZ
@given(inputs=loss_grad_inputs())
def test_kernel_loss_grad_fuzz(inputs):
    n, p, Xs, y_kind, ys, k, coef_wrong, cs, bs, sws, loss, epsilon, n_jobs = inputs
    X, y, coef, intercept, sw = Xs.build(), ys.build(), cs.build(), bs.build(), sws.build()
    snap = Snapshot(X=X, y=y, coef=coef, intercept=intercept, sample_weight=sw)
    kw = dict(loss=loss, epsilon=epsilon, sample_weight=sw)
    out = call(kernels.loss_grad, X, y, coef, intercept, n_jobs=n_jobs, **kw)
    snap.assert_unchanged()
    ref = call(reference.loss_grad, X, y, coef, intercept, **kw)
    snap.assert_unchanged()
    same_acceptance(out, ref, "loss_grad")

    bad = [
        name
        for name, is_bad in (
            ("X", is_unusable(X) or is_nonfinite(X) or np.ndim(X) != 2),
            ("y", y_kind in ("wrong_len", "3d") or is_unusable(y) or is_nonfinite(y)),
            ("coef", coef_wrong is not None or is_unusable(coef) or is_nonfinite(coef)),
            ("intercept", bs.bad),
            ("sample_weight", sws.bad or is_nonfinite(sw)),
            ("epsilon", not epsilon_ok(epsilon)),
            ("str", any(np.asarray(a).dtype.kind in "USV" for a in (X, y, coef))),
        )
        if is_bad
    ]
    note(f"bad={bad}")
    if bad:
        assert not out.ok, f"loss_grad accepted bad {bad}"
    clean = not bad and Xs.clean and ys.clean and cs.clean and sws.kind in GOOD_WEIGHT_KINDS
    if clean:
        assert out.ok, f"loss_grad refused clean input: {out.error!r}"
    if not out.ok:
        return

    value, grad, grad_b = out.value
    grad_shape = (p,) if k is None else (k, p)
    assert isinstance(value, float) and math.isfinite(value), value
    assert isinstance(grad, np.ndarray) and grad.dtype == np.float64
    assert_finite_array(grad, grad_shape, "grad_coef")
    if k is None:
        assert isinstance(grad_b, float) and math.isfinite(grad_b), grad_b
    else:
        assert_finite_array(grad_b, (k,), "grad_intercept")
    if n == 0:
        assert value == 0.0 and not grad.any() and not np.any(grad_b)

    if clean:
        r_value, r_grad, r_grad_b = ref.value
        f32 = Xs.kernel_float == np.float32
        rtol, atol = (1e-3, 1e-3) if f32 else (1e-9, 1e-9)
        np.testing.assert_allclose(value, r_value, rtol=rtol, atol=atol * (1 + abs(r_value)))
        scale = 1 + float(np.max(np.abs(r_grad), initial=0.0))
        np.testing.assert_allclose(grad, r_grad, rtol=rtol, atol=atol * scale)
        np.testing.assert_allclose(grad_b, r_grad_b, rtol=rtol, atol=atol * scale)
        # The same numbers as from plain C-contiguous arrays.
        X_c = canonical(Xs, Xs.kernel_float)
        twin = kernels.loss_grad(X_c, numeric_values(y), numeric_values(coef), intercept, **kw)
        np.testing.assert_allclose(value, twin[0], rtol=rtol, atol=atol * (1 + abs(twin[0])))
        np.testing.assert_allclose(grad, twin[1], rtol=rtol, atol=atol * scale)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        # float32 X near the float32 limit: the loss (~7e74) is finite in float64,
        # the dtype of the returned loss and gradient.
        (
            "loss_grad",
            (np.array([[3e38]], dtype=np.float32), np.array([0.5]), np.array([0.125]), 0.25),
        ),
        # a coefficient beyond the float32 range times a float32 zero: prediction 0.
        ("predict", (np.array([[0.0]], dtype=np.float32), np.array([1e308]), 0.25)),
    ],
    ids=["loss_grad-float32-X-3e38", "predict-float32-X-coef-1e308"],
)
def test_kernel_and_reference_agree_on_float32_near_limits(name, args):
    """float32 data with values the float64 computation handles: the kernel and
    its specification must agree on whether the input is accepted."""
    snap = Snapshot(**{f"arg{i}": a for i, a in enumerate(args)})
    out = call(getattr(kernels, name), *args)
    ref = call(getattr(reference, name), *args)
    snap.assert_unchanged()
    if out.ok:
        assert np.isfinite(np.asarray(out.value[0] if name == "loss_grad" else out.value)).all()
    same_acceptance(out, ref, name)


@st.composite
def predict_inputs(draw):
    _, modes = kernel_modes(draw, ("X", "coef", "intercept"))
    n = draw(st.integers(0, 30), label="n")
    p = draw(st.integers(0, 6), label="p")
    Xs = draw(array_specs((n, p), mode=modes["X"]), label="X")
    k = draw(st.sampled_from((None, None, 1, 3)), label="k")
    coef_wrong, cs = draw(coef_specs(p, k, mode=modes["coef"]), label="coef")
    intercept_kinds = GOOD_INTERCEPT_KINDS if modes["intercept"] == "good" else INTERCEPT_KINDS
    bs = InterceptSpec(draw(st.sampled_from(intercept_kinds)), k)
    n_jobs = draw(st.sampled_from((None, 1, 2, -1)))
    return n, p, Xs, k, coef_wrong, cs, bs, n_jobs


@FUZZ
@given(inputs=predict_inputs())
def test_kernel_predict_fuzz(inputs):
    n, p, Xs, k, coef_wrong, cs, bs, n_jobs = inputs
    X, coef, intercept = Xs.build(), cs.build(), bs.build()
    snap = Snapshot(X=X, coef=coef, intercept=intercept)
    out = call(kernels.predict, X, coef, intercept, n_jobs=n_jobs)
    snap.assert_unchanged()
    ref = call(reference.predict, X, coef, intercept)
    snap.assert_unchanged()
    # "ndim" may still be valid: (1, p) is a 1-target model, and (k * p,) is a
    # single-output one when k * p == p.
    if coef_wrong == "ndim" and k is None:
        coef_wrong, k = None, 1
    elif coef_wrong == "ndim" and k * p == p:
        coef_wrong, k = None, None
    intercept_bad = bs.bad or (k is None and np.size(intercept) != 1)
    same_acceptance(out, ref, "predict")

    bad = [
        name
        for name, is_bad in (
            ("X", is_unusable(X) or is_nonfinite(X) or np.ndim(X) != 2),
            ("coef", coef_wrong is not None or is_unusable(coef) or is_nonfinite(coef)),
            ("intercept", intercept_bad),
            ("str", any(np.asarray(a).dtype.kind in "USV" for a in (X, coef))),
        )
        if is_bad
    ]
    note(f"bad={bad}")
    if bad:
        assert not out.ok, f"predict accepted bad {bad}"
    clean = not bad and Xs.clean and cs.clean
    if clean:
        assert out.ok, f"predict refused clean input: {out.error!r}"
    if not out.ok:
        return
    pred = out.value
    assert isinstance(pred, np.ndarray)
    assert pred.dtype == Xs.kernel_float or not clean, pred.dtype
    assert_finite_array(pred, (n,) if k is None else (n, k), "predictions")
    if p == 0 and n > 0:  # predictions are the intercepts
        np.testing.assert_array_equal(
            pred, np.broadcast_to(np.asarray(intercept, dtype=pred.dtype), pred.shape)
        )
    if clean:
        f32 = pred.dtype == np.float32
        tol = 1e-4 if f32 else 1e-10
        np.testing.assert_allclose(pred, ref.value, rtol=tol, atol=tol)
        twin = kernels.predict(canonical(Xs, Xs.kernel_float), numeric_values(coef), intercept)
        np.testing.assert_allclose(pred, twin, rtol=tol, atol=tol)


# --------------------------------------------------------------------------- optimizer steps

RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
N_STATES = {
    "sgd": 0,
    "momentum": 1,
    "nesterov": 1,
    "adagrad": 1,
    "rmsprop": 1,
    "adam": 2,
    "adamw": 2,
}


def apply_rule(impl, rule, params, grad, states, step=1, **hyper):
    """One in-place step of ``rule`` from ``impl`` (kernels or reference)."""
    lr = hyper.get("learning_rate", 0.1)
    if rule == "sgd":
        return impl.apply_sgd(params, grad, learning_rate=lr)
    if rule in ("momentum", "nesterov"):
        fn = impl.apply_momentum if rule == "momentum" else impl.apply_nesterov
        return fn(params, grad, states[0], learning_rate=lr, momentum=hyper.get("momentum", 0.9))
    if rule == "adagrad":
        return impl.apply_adagrad(
            params, grad, states[0], learning_rate=lr, eps=hyper.get("eps", 1e-8)
        )
    if rule == "rmsprop":
        return impl.apply_rmsprop(
            params,
            grad,
            states[0],
            learning_rate=lr,
            rho=hyper.get("rho", 0.9),
            eps=hyper.get("eps", 1e-8),
        )
    common = dict(
        learning_rate=lr,
        beta_1=hyper.get("beta_1", 0.9),
        beta_2=hyper.get("beta_2", 0.999),
        eps=hyper.get("eps", 1e-8),
    )
    if rule == "adam":
        return impl.apply_adam(params, grad, states[0], states[1], step, **common)
    return impl.apply_adamw(
        params,
        grad,
        states[0],
        states[1],
        step,
        weight_decay=hyper.get("weight_decay", 0.01),
        **common,
    )


def optimizer_arrays(rule, dtype, shape, seed):
    rng = np.random.default_rng(seed)
    params = np.array(rng.standard_normal(shape), dtype=dtype)
    grad = np.array(rng.standard_normal(shape), dtype=dtype)
    # squared-gradient accumulators are non-negative
    states = [
        np.array(np.abs(rng.standard_normal(shape)), dtype=dtype) for _ in range(N_STATES[rule])
    ]
    return params, grad, states


ARRAY_DEFECTS = (
    "params_float16",
    "params_int64",
    "params_complex",
    "params_object",
    "params_list",
    "params_strided",
    "params_fortran",
    "params_reversed",
    "params_readonly",
    "params_memmap_r",
    "params_nan",
    "params_inf",
    "params_0d_vs_grad",
    "state_other_float",
    "state_float16",
    "state_shape",
    "state_readonly",
    "state_strided",
    "state_nan",
    "state_list",
    "grad_shape",
    "grad_nan",
    "grad_inf",
    "grad_complex",
    "grad_str",
    "grad_object_str",
    "grad_transposed_shape",
    "step_0",
    "step_negative",
    "step_float",
    "step_bool",
    "step_str",
)
HYPER_DEFECTS = (
    ("learning_rate", -0.1),
    ("learning_rate", NAN),
    ("learning_rate", INF),
    ("learning_rate", "0.1"),
    ("learning_rate", None),
    ("momentum", 1.0),
    ("momentum", -0.5),
    ("eps", 0.0),
    ("eps", -1e-8),
    ("rho", 1.0),
    ("beta_1", 1.0),
    ("beta_2", -0.1),
    ("weight_decay", -1.0),
    ("weight_decay", NAN),
)


def apply_defect(defect, rule, params, grad, states):
    """The arguments with one defect; None when it does not apply to ``rule``."""
    n_states = N_STATES[rule]
    step = 3
    if defect.startswith("state") and n_states == 0:
        return None
    if defect.startswith("step") and rule not in ("adam", "adamw"):
        return None
    if defect.startswith("params_"):
        what = defect[len("params_") :]
        if what in ("float16", "int64", "complex", "object"):
            params = params.astype({"complex": np.complex128, "object": object}.get(what, what))
        elif what == "list":
            params = params.tolist()
        elif what == "fortran":
            if params.ndim < 2:
                return None
            params = np.asfortranarray(params)
        elif what in ("strided", "reversed", "readonly", "memmap_r"):
            params = lay_out(params, what)
        elif what == "nan":
            params.flat[-1] = NAN
        elif what == "inf":
            params.flat[0] = -INF
        elif what == "0d_vs_grad":
            params = params.reshape(-1)[:1].reshape(())
    elif defect.startswith("state_"):
        what = defect[len("state_") :]
        s = states[-1]
        if what == "other_float":
            s = s.astype(np.float32 if s.dtype == np.float64 else np.float64)
        elif what == "float16":
            s = s.astype(np.float16)
        elif what == "shape":
            s = np.zeros(s.size + 1, dtype=s.dtype)
        elif what in ("readonly", "strided"):
            s = lay_out(s, what)
        elif what == "nan":
            s.flat[0] = NAN
        elif what == "list":
            s = s.tolist()
        states = [*states[:-1], s]
    elif defect.startswith("grad_"):
        what = defect[len("grad_") :]
        if what == "shape":
            grad = np.zeros(grad.size + 1)
        elif what == "nan":
            grad.flat[0] = NAN
        elif what == "inf":
            grad.flat[-1] = INF
        elif what == "complex":
            grad = grad.astype(np.complex128)
        elif what == "str":
            grad = grad.astype(str)
        elif what == "object_str":
            grad = grad.astype(object)
            grad.flat[0] = "abc"
        elif what == "transposed_shape":
            if grad.ndim < 2 or grad.shape[0] == grad.shape[1]:
                return None
            grad = np.ascontiguousarray(grad.T)
    elif defect.startswith("step_"):
        step = {"0": 0, "negative": -2, "float": 1.5, "bool": True, "str": "1"}[defect[5:]]
    return params, grad, states, step


@FUZZ
@given(
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from((np.float64, np.float32)),
    shape=st.sampled_from(((5,), (2, 3), (3, 2))),
    defect=st.sampled_from(ARRAY_DEFECTS),
    seed=seeds,
)
def test_optimizer_steps_refuse_bad_arrays(rule, dtype, shape, defect, seed):
    params, grad, states = optimizer_arrays(rule, dtype, shape, seed)
    args = apply_defect(defect, rule, params, grad, states)
    if args is None:
        return
    params, grad, states, step = args
    snap = Snapshot(params=params, grad=grad, **{f"state{i}": s for i, s in enumerate(states)})
    out = call(apply_rule, kernels, rule, params, grad, states, step)
    snap.assert_unchanged()
    assert not out.ok, f"apply_{rule} accepted {defect}"
    ref = call(apply_rule, reference, rule, params, grad, states, step)
    snap.assert_unchanged()
    same_acceptance(out, ref, f"apply_{rule} with {defect}")


@FEW
@given(
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from((np.float64, np.float32)),
    defect=st.sampled_from(HYPER_DEFECTS),
    seed=seeds,
)
def test_optimizer_steps_refuse_bad_hyperparameters(rule, dtype, defect, seed):
    name, value = defect
    uses = {
        "learning_rate": RULES,
        "momentum": ("momentum", "nesterov"),
        "eps": ("adagrad", "rmsprop", "adam", "adamw"),
        "rho": ("rmsprop",),
        "beta_1": ("adam", "adamw"),
        "beta_2": ("adam", "adamw"),
        "weight_decay": ("adamw",),
    }[name]
    if rule not in uses:
        return
    params, grad, states = optimizer_arrays(rule, dtype, (4,), seed)
    snap = Snapshot(params=params, grad=grad, **{f"state{i}": s for i, s in enumerate(states)})
    out = call(apply_rule, kernels, rule, params, grad, states, 1, **{name: value})
    snap.assert_unchanged()
    assert not out.ok, f"apply_{rule} accepted {name}={value!r}"
    assert name in str(out.error), f"the error does not name {name}: {out.error}"


GRAD_FORMS = (
    "same",
    "list",
    "strided",
    "reversed",
    "readonly",
    "memmap_r",
    "F",
    "other_float",
    "float16",
    "int64",
    "object_num",
)


def grad_form(grad: np.ndarray, form: str):
    if form == "same":
        return grad
    if form == "list":
        return grad.tolist() if grad.ndim else float(grad)
    if form in ("strided", "reversed", "readonly", "memmap_r", "F"):
        return lay_out(grad, form)
    if form == "other_float":
        return grad.astype(np.float32 if grad.dtype == np.float64 else np.float64)
    if form == "int64":
        return np.round(grad * 3).astype(np.int64)
    if form == "object_num":
        return grad.astype(object)
    return grad.astype(form)


@FUZZ
@given(
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from((np.float64, np.float32)),
    shape=st.sampled_from(((0,), (), (1,), (7,), (3, 4), (2, 0))),
    form=st.sampled_from(GRAD_FORMS),
    params_memmap=st.booleans(),
    seed=seeds,
    step=st.integers(1, 1000),
    hyper=st.fixed_dictionaries(
        {
            "learning_rate": st.floats(0.0, 1.0),
            "momentum": st.floats(0.0, 0.99),
            "eps": st.floats(1e-10, 1e-2),
            "rho": st.floats(0.0, 0.99),
            "beta_1": st.floats(0.0, 0.99),
            "beta_2": st.floats(0.0, 0.9999),
            "weight_decay": st.floats(0.0, 1.0),
        }
    ),
)
def test_optimizer_steps_match_reference(
    rule, dtype, shape, form, params_memmap, seed, step, hyper
):
    """Valid arguments in any form: the kernel's step is the reference's, and grad
    is left alone. A writable memory-mapped params is a valid params."""
    params, grad, states = optimizer_arrays(rule, dtype, shape, seed)
    grad = grad_form(grad, form)
    snap = Snapshot(grad=grad)
    p_k = lay_out(params, "memmap_rw") if params_memmap and params.size else params.copy()
    s_k = [s.copy() for s in states]
    p_r, s_r = params.copy(), [s.copy() for s in states]
    out = call(apply_rule, kernels, rule, p_k, grad, s_k, step, **hyper)
    snap.assert_unchanged()
    assert out.ok, f"apply_{rule} refused valid input: {out.error!r}"
    assert out.value is None
    apply_rule(reference, rule, p_r, grad, s_r, step, **hyper)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    names = ["params", "state 1", "state 2"]
    for got, want, name in zip([p_k, *s_k], [p_r, *s_r], names, strict=False):
        assert got.dtype == dtype and got.shape == shape
        assert np.isfinite(got).all(), f"{name} became non-finite"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=name)


@FEW
@given(
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from((np.float64, np.float32)),
    where=st.sampled_from(("params", "grad", "state")),
    value=st.sampled_from((1e308, -1.7976931348623157e308, 3e38, -3e38, 1e200, 1e-310, 5e-324)),
    seed=seeds,
    learning_rate=st.sampled_from((0.1, 1.0)),
)
def test_optimizer_steps_near_float_limits(rule, dtype, where, value, seed, learning_rate):
    """Finite values near the float limits: a finite update, or a clear error
    that leaves every array as it was -- never a silent inf/NaN in params or state."""
    params, grad, states = optimizer_arrays(rule, dtype, (6,), seed)
    if where == "state" and not states:
        return
    with np.errstate(over="ignore"):
        v = np.asarray(value).astype(dtype)
    if not np.isfinite(v):
        return  # not representable in float32: a different test (non-finite input)
    target = {"params": params, "grad": grad, "state": states[-1] if states else None}[where]
    target[2] = abs(v) if where == "state" else v
    snap = Snapshot(params=params, grad=grad, **{f"state{i}": s for i, s in enumerate(states)})
    out = call(apply_rule, kernels, rule, params, grad, states, 7, learning_rate=learning_rate)
    if not out.ok:
        snap.assert_unchanged()
        return
    _assert_same("grad", grad, snap.items["grad"][1])
    for name, a in [("params", params), *[(f"state {i + 1}", s) for i, s in enumerate(states)]]:
        assert np.isfinite(a).all(), (
            f"apply_{rule} returned normally but left {name} non-finite: {a} "
            f"({where}[2] = {v!r}, learning_rate={learning_rate})"
        )


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_optimizer_step_overflow_is_not_silent(rule, dtype):
    """A finite gradient at the top of the float range (its square overflows):
    the step raises a clear error (arrays untouched) or leaves params and state
    finite -- it does not return normally with inf written into them."""
    big = np.finfo(dtype).max * 0.9
    params = np.array([0.5, -0.25, 1.0], dtype=dtype)
    grad = np.array([big, 1.0, -big], dtype=dtype)
    states = [np.zeros(3, dtype=dtype) for _ in range(N_STATES[rule])]
    snap = Snapshot(params=params, grad=grad, **{f"state{i}": s for i, s in enumerate(states)})
    out = call(apply_rule, kernels, rule, params, grad, states, 1, learning_rate=1.0)
    if not out.ok:
        snap.assert_unchanged()
        return
    _assert_same("grad", grad, snap.items["grad"][1])
    for name, a in [("params", params), *[(f"state {i + 1}", s) for i, s in enumerate(states)]]:
        assert np.isfinite(a).all(), f"apply_{rule} returned normally with {name} = {a}"


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
