"""Input checks shared by ``gdfast.kernels`` and ``gdfast.reference``.

Every public function funnels its arguments through here, so that both
implementations accept exactly the same inputs and raise the same errors. The
rules: float32 and float64 arrays in C or Fortran order are used in place;
anything else is converted once (float16 to float32, integers and booleans to
float64); complex, string, date and duration data, and object data that is
not numeric, are refused with a ``TypeError``; wrong shapes and non-finite
values get a ``ValueError``. No function here writes to an array it was given.
"""

from __future__ import annotations

import math
import weakref
from numbers import Real
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from gdfast import _core

# loss name -> kernel code, from the C++ enum.
LOSSES: dict[str, int] = _core.CODES["loss"]


_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def float_dtype(dtype: np.dtype) -> np.dtype:
    """The floating dtype gdfast computes in for data of ``dtype``."""
    return _FLOAT32 if np.dtype(dtype).char in "fe" else _FLOAT64


def _numeric_array(a: Any, name: str) -> np.ndarray:
    """``a`` as an ndarray of a real numeric dtype, or a TypeError naming ``name``."""
    if a is None:
        raise TypeError(f"{name} must be a number or an array of numbers; got None.")
    arr = a if type(a) is np.ndarray else np.asarray(a)
    kind = arr.dtype.kind
    if kind == "f":  # the common case: nothing to refuse or convert
        return arr
    if kind == "c":
        raise TypeError(f"{name} must be real-valued; got complex data (dtype {arr.dtype}).")
    if kind in "USV":
        raise TypeError(f"{name} must contain numbers; got dtype {arr.dtype}.")
    if kind == "M" or kind == "m":
        raise TypeError(
            f"{name} must contain numbers; got dtype {arr.dtype} (dates and durations: "
            "convert them to numbers first)."
        )
    if kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"{name} must contain numbers; got dtype {np.asarray(a).dtype} "
                f"that cannot be converted to float ({exc})."
            ) from None
    return arr


def check_matrix(X: Any, name: str = "X", *, accept_sparse: bool = True):
    """Validate a 2-D design matrix.

    Returns a float32/float64 ndarray that is C- or F-contiguous (the input
    itself when it already is) or a CSR matrix with float data and consistent
    int32/int64 index arrays.
    """
    if type(X) is np.ndarray and X.ndim == 2 and X.dtype.char in "fd" and X.dtype.isnative:
        flags = X.flags  # the common case, read in place as it is
        if flags.c_contiguous or flags.f_contiguous:
            return X
    if sp.issparse(X):
        if not accept_sparse:
            raise TypeError(f"{name} must be a dense array; sparse input is not supported here.")
        return _check_csr(X, name)
    arr = _numeric_array(X, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); "
            f"got a {arr.ndim}-D array of shape {arr.shape}."
        )
    dtype = float_dtype(arr.dtype)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        arr = np.ascontiguousarray(arr)
    return arr


def _check_csr(X, name: str):
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got a sparse array of shape {X.shape}.")
    if X.dtype.kind == "c":
        raise TypeError(f"{name} must be real-valued; got complex data (dtype {X.dtype}).")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must contain numbers; got dtype {X.dtype}.")
    if X.format != "csr":
        X = X.tocsr()
    dtype = float_dtype(X.dtype)
    data = np.ascontiguousarray(X.data, dtype=dtype)
    index_dtype = (
        np.int32 if X.indices.dtype == np.int32 and X.indptr.dtype == np.int32 else np.int64
    )
    indices = np.ascontiguousarray(X.indices, dtype=index_dtype)
    indptr = np.ascontiguousarray(X.indptr, dtype=index_dtype)
    # The structure (indptr start, order and end, column index range) is
    # checked in O(nnz) by _core.Matrix, before any kernel reads it.
    if data is X.data and indices is X.indices and indptr is X.indptr:
        return X
    out = X.__class__((data, indices, indptr), shape=X.shape)
    # The constructor may re-derive index dtypes; keep the validated arrays.
    out.data, out.indices, out.indptr = data, indices, indptr
    return out


def kernel_ready(X: Any):
    """X (already validated for values) as the kernels read it: a CSR matrix
    with one index dtype and contiguous arrays, or a C-/F-contiguous array,
    converted only when it is not one already. The structure of a CSR matrix is
    checked here (O(nnz), by the binding): a malformed one raises a ValueError
    that says what is wrong, before anything else reads it. A valid matrix with
    duplicate entries (non-canonical) is summed into a copy, so that column
    variances and row norms are those of the matrix it stands for."""
    if sp.issparse(X):
        X = _check_csr(X, "X")
        # Raises for a malformed structure; tells whether X is canonical from
        # the same pass (scipy's cached flag could be stale after an in-place change).
        if not _core.Matrix(X).canonical:
            X = X.copy()
            # scipy skips the sort when its cached flag (maybe stale) says sorted
            X.has_sorted_indices = False
            X.sum_duplicates()
        _remember(X)
    elif not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    return X


# The CSR matrix kernel_ready checked last, and the arrays it checked, as weak
# references (nothing here keeps a matrix alive): checking the structure costs
# a pass over the indices, which a sparse fit would otherwise pay at every
# kernel call. Every public entry point calls kernel_ready first, so a matrix
# changed in place between two calls is checked again.
_last_checked: tuple = ()


def _remember(X) -> None:
    global _last_checked
    _last_checked = tuple(weakref.ref(a) for a in (X, X.data, X.indices, X.indptr))


def matrix_of(X) -> _core.Matrix:
    """The kernels' view of a kernel-ready X; the structure of a CSR matrix is
    checked unless kernel_ready just checked these very arrays."""
    if sp.issparse(X) and _last_checked:
        current = (X, X.data, X.indices, X.indptr)
        if all(ref() is a for ref, a in zip(_last_checked, current, strict=True)):
            return _core.Matrix(X, structure_checked=True)
    return _core.Matrix(X)


def all_finite(a: np.ndarray) -> bool:
    """Whether ``a`` holds no NaN or infinity: read in place (compiled, without a
    temporary) when it is a C-contiguous float array, else through NumPy."""
    ok = _core.all_finite(a)
    return bool(np.isfinite(a).all()) if ok is None else ok


def check_finite(a: np.ndarray, name: str) -> None:
    """ValueError naming ``name`` if ``a`` holds NaN or infinity."""
    if a.size and not all_finite(a):
        kind = "NaN" if np.isnan(a).any() else "infinity"
        raise ValueError(f"{name} contains {kind}; all values must be finite.")


def check_vector(v: Any, name: str, length: int, dtype: np.dtype) -> np.ndarray:
    """A 1-D finite array of ``length`` values of ``dtype`` (C-contiguous)."""
    arr = _numeric_array(v, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of length {length}; got shape {arr.shape}.")
    if arr.shape[0] != length:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries; expected {length} (one per row of X)."
        )
    arr = np.ascontiguousarray(arr, dtype=dtype)
    check_finite(arr, name)
    return arr


def check_targets(y: Any, n_rows: int, dtype: np.dtype, name: str = "y") -> np.ndarray:
    """y as a finite (n_rows, k) C-contiguous array of ``dtype`` (k=1 for 1-D y)."""
    arr = _numeric_array(y, name)
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (n_samples,) or 2-D (n_samples, n_targets); "
            f"got a {arr.ndim}-D array of shape {arr.shape}."
        )
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {n_rows}; they must match.")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} has no targets (shape {arr.shape}).")
    arr = np.ascontiguousarray(arr if arr.ndim == 2 else arr[:, None], dtype=dtype)
    check_finite(arr, name)
    return arr


def check_sample_weight(sample_weight: Any, n_rows: int, dtype: np.dtype) -> np.ndarray | None:
    """None, or finite non-negative weights as a C-contiguous array of ``dtype``."""
    if sample_weight is None:
        return None
    sw = check_vector(sample_weight, "sample_weight", n_rows, dtype)
    if sw.size and sw.min() < 0:
        raise ValueError("sample_weight contains negative values; weights must be >= 0.")
    return sw


def check_coef(coef: Any, n_features: int, n_targets: int | None, name: str = "coef") -> np.ndarray:
    """Coefficients as a finite float64 (k, n_features) array.

    ``n_targets`` None means "single output": coef must be 1-D (n_features,).
    """
    arr = _numeric_array(coef, name)
    if n_targets is not None and n_targets < 1:
        raise ValueError(
            f"{name} must have at least one row (one per target); got shape {arr.shape}."
        )
    if n_targets is None:
        if arr.ndim != 1 or arr.shape[0] != n_features:
            raise ValueError(
                f"{name} must have shape ({n_features},) to match X's {n_features} "
                f"features; got shape {arr.shape}."
            )
    elif arr.shape != (n_targets, n_features):
        raise ValueError(
            f"{name} must have shape ({n_targets}, {n_features}) for {n_targets} targets "
            f"and {n_features} features; got shape {arr.shape}."
        )
    arr = np.array(arr, dtype=np.float64, order="C", ndmin=2, copy=True)
    check_finite(arr, name)
    return arr


def check_intercept(intercept: Any, n_targets: int | None, name: str = "intercept") -> np.ndarray:
    """Intercepts as a finite float64 (k,) array; a scalar when single-output."""
    if n_targets is None and type(intercept) is float:  # the common scalar
        arr = np.array([intercept])
        check_finite(arr, name)
        return arr
    arr = _numeric_array(intercept, name)
    k = 1 if n_targets is None else n_targets
    if n_targets is None:
        if arr.size != 1 or arr.ndim > 1:
            raise ValueError(f"{name} must be a scalar; got shape {arr.shape}.")
    elif arr.ndim == 0:
        arr = np.full(k, arr)
    elif arr.shape != (k,):
        raise ValueError(f"{name} must be a scalar or have shape ({k},); got shape {arr.shape}.")
    arr = np.array(arr, dtype=np.float64, copy=True).reshape(k)
    check_finite(arr, name)
    return arr


def check_loss(loss: Any, epsilon: Any) -> tuple[int, float]:
    """The kernel code of ``loss`` and a validated ``epsilon``."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}; got {loss!r}.")
    if isinstance(epsilon, bool) or not isinstance(epsilon, Real):
        raise TypeError(f"epsilon must be a real number; got {epsilon!r}.")
    if not math.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon must be finite and >= 0; got {epsilon!r}.")
    return LOSSES[loss], float(epsilon)


class LossGradArgs(NamedTuple):
    """Validated arguments of ``loss_grad``."""

    X: Any
    y: np.ndarray  # (n, k), X's dtype
    coef: np.ndarray  # (k, p) float64
    intercept: np.ndarray  # (k,) float64
    sample_weight: np.ndarray | None
    loss_kind: int
    epsilon: float
    multi_output: bool


def check_loss_grad_args(X, y, coef, intercept, loss, epsilon, sample_weight) -> LossGradArgs:
    """Validate every argument of ``loss_grad`` (shared by kernels and reference)."""
    X = check_matrix(X)
    n_rows, n_features = X.shape
    y_arr = np.asarray(y) if not sp.issparse(y) else y
    if sp.issparse(y_arr):
        raise TypeError("y must be a dense array; got a sparse matrix.")
    multi = getattr(y_arr, "ndim", 1) == 2
    kind, eps = check_loss(loss, epsilon)
    y2 = check_targets(y_arr, n_rows, X.dtype)
    if loss in _core.ROW_LOSSES:
        # One class index per row; coef holds a row of coefficients per class.
        coef_arr = _numeric_array(coef, "coef")
        if multi or coef_arr.ndim != 2:
            raise ValueError(
                f"loss={loss!r} takes y of shape (n_samples,) (class indices) and coef of "
                f"shape (n_classes, n_features); got y of shape {y_arr.shape} and coef of "
                f"shape {coef_arr.shape}."
            )
        k = coef_arr.shape[0]
        check_class_indices(y2, k, loss)
        multi = True
    else:
        k = y2.shape[1] if multi else None
    coef2 = check_coef(coef, n_features, k)
    b = check_intercept(intercept, k)
    sw = check_sample_weight(sample_weight, n_rows, X.dtype)
    if loss in _core.MARGIN_LOSSES:
        check_margin_labels(y2, loss)
    return LossGradArgs(X, y2, coef2, b, sw, kind, eps, multi)


def check_class_indices(y: np.ndarray, n_classes: int, loss: str) -> None:
    """A ValueError unless every label is a class index 0, ..., n_classes - 1."""
    bad = (y != np.floor(y)) | (y < 0) | (y >= n_classes)
    if bad.any():
        value = y[bad].flat[0].item()
        raise ValueError(
            f"loss={loss!r} takes class indices 0 to {n_classes - 1} (one per row of coef) "
            f"as labels; got {value!r}."
        )


def check_margin_labels(y: np.ndarray, loss: str) -> None:
    """A ValueError unless every label is +1 or -1 (what the margin losses take)."""
    bad = (y != 1) & (y != -1)
    if bad.any():
        value = y[bad].flat[0].item()
        raise ValueError(
            f"loss={loss!r} is a classification loss: its labels must be +1 or -1 "
            f"(one column per class, one-vs-rest); got {value!r}."
        )


class PredictArgs(NamedTuple):
    """Validated arguments of ``predict``."""

    X: Any
    coef: np.ndarray  # (k, p) float64
    intercept: np.ndarray  # (k,) float64
    multi_output: bool


def check_predict_args(X, coef, intercept) -> PredictArgs:
    """Validate the arguments of ``predict`` (shared by kernels and reference)."""
    X = check_matrix(X)
    coef_arr = _numeric_array(coef, "coef")
    multi = coef_arr.ndim == 2
    k = coef_arr.shape[0] if multi else None
    coef2 = check_coef(coef_arr, X.shape[1], k)
    b = check_intercept(intercept, k)
    return PredictArgs(X, coef2, b, multi)


def nonfinite_error(X, what: str) -> Exception:
    """The exception for a kernel result that is not finite.

    Non-finite input in X (the kernels detect it while computing, at no extra
    cost) is a ValueError; finite input that overflowed is a FloatingPointError.
    """
    data = X.data if sp.issparse(X) else X
    if data.size and not all_finite(data):
        kind = "NaN" if np.isnan(data).any() else "infinity"
        return ValueError(f"X contains {kind}; all values must be finite.")
    return FloatingPointError(
        f"{what} overflowed: the result is not finite although every input is. "
        "Scale the features (e.g. StandardScaler) or use smaller coefficients."
    )
