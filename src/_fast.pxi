# Part of gdfast._core (included by _core.pyx): the checks of the Python
# layer that read arrays (all_finite, first_overlap), and the fast paths.

def all_finite(x):
    """Whether every value of x is finite (NaN and infinities are not), read in
    place without the GIL; None when x is not a C-contiguous float32/float64
    array (the caller then checks it another way)."""
    cdef Buffer b
    try:
        b = acquire(x, False, False)
    except (BufferError, TypeError, ValueError):
        return None
    if b.kind != b"f" or b.view.itemsize not in (4, 8):
        return None
    cdef Element element = Element.float32 if b.view.itemsize == 4 else Element.float64
    cdef Py_ssize_t n = b.items()
    cdef const void* x_ptr = b.ptr()
    cdef cbool ok = True
    if n == 0:
        return True
    with nogil:
        ok = all_finite_kernel(element, x_ptr, n)
    return bool(ok)


def first_overlap(arrays):
    """The first pair (i, j) of the C-contiguous arrays whose memory overlaps,
    or None (a contiguous array's bytes are exactly its extent)."""
    cdef list held = [acquire(a, False, False) for a in arrays]
    cdef Py_ssize_t i, j, n = len(held)
    cdef Buffer bi, bj
    cdef char* start_i
    cdef char* start_j
    for i in range(n):
        bi = held[i]
        if bi.view.len == 0:
            continue
        start_i = <char*>bi.view.buf
        for j in range(i + 1, n):
            bj = held[j]
            start_j = <char*>bj.view.buf
            if bj.view.len and start_i < start_j + bj.view.len and start_j < start_i + bi.view.len:
                return i, j
    return None


# ---------------------------------------------------------------- the fast paths
#
# Arguments already in a kernel's form need not pay for the Python layer's
# validation (several microseconds against a kernel's one on small arrays).
# The fast entry points (loss_grad_fast, predict_fast, optimizer_step_fast) check
# exactly that validation's rules for such arguments only, and decline anything
# else: the caller then validates, and names what is wrong.

cdef object exact_ndarray = np.ndarray
cdef object exact_float64 = np.float64


cdef Buffer plain_float_array(object a, bint writable, bint any_order):
    # a's memory when a is an exact ndarray of native float32/float64,
    # C-contiguous (either order when any_order) and writable if asked; else None.
    if type(a) is not exact_ndarray:
        return None
    cdef Buffer b = Buffer.__new__(Buffer)
    cdef int flags = PyBUF_FORMAT | (PyBUF_ANY_CONTIGUOUS if any_order else PyBUF_C_CONTIGUOUS)
    if writable:
        flags |= PyBUF_WRITABLE
    try:
        PyObject_GetBuffer(a, &b.view, flags)
    except (BufferError, ValueError, TypeError):
        return None
    b.held = True
    cdef const char* fmt = b.view.format
    if fmt == NULL or not (fmt[0] == b"d" or fmt[0] == b"f") or fmt[1] != 0:
        return None
    b.kind = b"f"
    return b


cdef bint same_shape(Buffer a, Buffer b) noexcept:
    if a.view.ndim != b.view.ndim or a.view.itemsize != b.view.itemsize:
        return False
    cdef int d
    for d in range(a.view.ndim):
        if a.view.shape[d] != b.view.shape[d]:
            return False
    return True


cdef double plain_real(object v) except? -1.0:
    # A Python float, NumPy float64 or Python int within 2**53 as a double;
    # NaN for anything else (which a caller's interval check then declines).
    if type(v) is float or type(v) is exact_float64:
        return PyFloat_AS_DOUBLE(v)
    if type(v) is int and -2**53 <= v <= 2**53:
        return <double>v
    return NAN


cdef bint finite_values(Buffer b, bint non_negative=False) noexcept:
    # Whether every value of a plain float array is finite (and >= 0 if asked).
    cdef Element element = Element.float32 if b.view.itemsize == 4 else Element.float64
    cdef Py_ssize_t n = b.items()
    cdef const void* ptr = b.view.buf
    cdef cbool ok = True
    if n:
        with nogil:
            ok = all_finite_kernel(element, ptr, n) and (
                not non_negative or none_negative_kernel(element, ptr, n))
    return ok


def loss_grad_fast(X, y, coef, intercept, loss, epsilon, sample_weight, int n_threads):
    """gdfast.kernels.loss_grad for a single-output regression loss, taken only
    when X is an exact ndarray of native float32/float64 in C or Fortran order,
    y a C-contiguous 1-D ndarray of X's dtype, coef a 1-D float64 one,
    sample_weight None or a 1-D one of X's dtype (>= 0), all finite, with
    matching lengths; intercept and epsilon (>= 0) Python floats, NumPy float64
    or Python ints, finite.

    Returns (loss_sum, grad_coef, grad_intercept) when taken and finite, None
    otherwise (declined, or a non-finite result: the caller validates the
    arguments, and names what is wrong).
    """
    if type(loss) is not str or loss not in REGRESSION_LOSSES:
        return None
    cdef double eps = plain_real(epsilon), b = plain_real(intercept)
    if not (isfinite(eps) and eps >= 0 and isfinite(b)):
        return None
    cdef Buffer xb = plain_float_array(X, False, True)
    if xb is None or xb.view.ndim != 2 or xb.view.shape[0] == 0 or xb.view.shape[1] == 0:
        return None
    cdef Py_ssize_t n = xb.view.shape[0], p = xb.view.shape[1]
    cdef Buffer yb = plain_float_array(y, False, False)
    cdef Buffer cb = plain_float_array(coef, False, False)
    cdef Buffer sw = None
    if yb is None or cb is None or yb.view.ndim != 1 or cb.view.ndim != 1:
        return None
    if yb.view.itemsize != xb.view.itemsize or yb.view.shape[0] != n:
        return None
    if cb.view.itemsize != 8 or cb.view.shape[0] != p:
        return None
    if sample_weight is not None:
        sw = plain_float_array(sample_weight, False, False)
        if (sw is None or sw.view.ndim != 1 or sw.view.itemsize != xb.view.itemsize
                or sw.view.shape[0] != n or not finite_values(sw, True)):
            return None
    if not (finite_values(yb) and finite_values(cb)):
        return None
    value, grad, grad_b, status = run_loss_grad(
        Matrix(X), yb.view.buf, ptr_of(sw), <const double*>cb.view.buf, &b, 1,
        REGRESSION_LOSSES[loss], eps, n_threads, True)
    cdef Buffer gbuf = plain_float_array(grad, False, False)
    if status != status_ok or not (isfinite(value) and isfinite(grad_b[0]) and finite_values(gbuf)):
        return None
    return value, grad, float(grad_b[0])


def predict_fast(X, coef, intercept, int n_threads):
    """gdfast.kernels.predict for one output, taken only when X is an exact
    ndarray of native float32/float64 in C or Fortran order with rows and
    columns, coef a finite C-contiguous 1-D float64 ndarray of X's width and
    intercept a finite Python float, NumPy float64 or Python int.

    Returns the (n_samples,) predictions in X's dtype, or None (declined, or a
    non-finite prediction: the caller validates the arguments).
    """
    cdef double b = plain_real(intercept)
    if not isfinite(b):
        return None
    cdef Buffer xb = plain_float_array(X, False, True)
    if xb is None or xb.view.ndim != 2 or xb.view.shape[0] == 0 or xb.view.shape[1] == 0:
        return None
    cdef Buffer cb = plain_float_array(coef, False, False)
    if (cb is None or cb.view.ndim != 1 or cb.view.itemsize != 8
            or cb.view.shape[0] != xb.view.shape[1] or not finite_values(cb)):
        return None
    cdef Matrix M = Matrix(X)
    out = np.empty(xb.view.shape[0], dtype=np.float32 if xb.view.itemsize == 4 else np.float64)
    cdef Buffer ob = plain_float_array(out, True, False)
    cdef Status status
    cdef MatrixView view = M.c
    cdef const double* coef_ptr = <const double*>cb.view.buf
    cdef void* out_ptr = ob.view.buf
    with nogil:
        status = predict_kernel(view, coef_ptr, &b, 1, n_threads, out_ptr)
    return out if status == status_ok else None
