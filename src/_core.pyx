# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# distutils: language = c++
"""gdfast._core: the one binding between Python and the C++ kernels.

Everything here is private: arguments are validated by the Python layer
(``gdfast._validation``) before they reach this module. Each function turns
NumPy buffers into kernel views, releases the GIL around the whole kernel call,
and returns a status the Python layer turns into an exception.
"""

from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int32_t, int64_t

import numpy as np

cdef extern from "gdfast/gdfast.hpp" namespace "gdfast" nogil:
    ctypedef Py_ssize_t index_t

    cdef enum Status:
        status_ok
        status_nonfinite
        status_interrupted
        status_diverged

    cdef cppclass DenseMatrix[T]:
        const T* data
        index_t n_rows
        index_t n_cols
        index_t row_stride
        index_t col_stride

    cdef cppclass CsrMatrix[T, I]:
        const T* data
        const I* indices
        const I* indptr
        index_t n_rows
        index_t n_cols

    cdef cppclass RowSet:
        const index_t* rows
        index_t count

    cdef cppclass Loss:
        pass

    cdef cppclass LossGradWorkspace:
        pass

    cdef cppclass Callbacks:
        void* context
        int (*interrupted)(void*) noexcept nogil

    bint openmp_enabled()
    bint cpu_has_avx2_fma()
    bint use_avx2()
    void set_avx2_disabled(int)
    int default_threads()
    int available_cores()
    int resolve_threads(int n_jobs)
    Loss make_loss(int kind, double epsilon)

    Status loss_grad[M, T](const M& X, const RowSet& rows, const T* y, const T* sample_weight,
                           const double* W, const double* b, index_t k, const Loss& loss,
                           int n_threads, LossGradWorkspace& ws, double* loss_out,
                           double* G_out, double* gb_out) except +
    double stream_sum[T](const T* x, index_t n, int n_threads)
    Status predict[M, T](const M& X, const double* W, const double* b, index_t k,
                         int n_threads, T* out) except +


ctypedef fused floating:
    float
    double

ctypedef fused index_int:
    int32_t
    int64_t

STATUS_OK = status_ok
STATUS_NONFINITE = status_nonfinite
STATUS_INTERRUPTED = status_interrupted
STATUS_DIVERGED = status_diverged


# ---------------------------------------------------------------- helpers

cdef inline DenseMatrix[floating] dense_view(const floating[:, :] X) noexcept:
    cdef DenseMatrix[floating] M
    M.n_rows = X.shape[0]
    M.n_cols = X.shape[1]
    M.data = &X[0, 0] if (M.n_rows > 0 and M.n_cols > 0) else NULL
    M.row_stride = X.strides[0] // <Py_ssize_t>sizeof(floating)
    M.col_stride = X.strides[1] // <Py_ssize_t>sizeof(floating)
    return M


cdef inline CsrMatrix[floating, index_int] csr_view(
    const floating[::1] data, const index_int[::1] indices, const index_int[::1] indptr,
    Py_ssize_t n_cols,
) noexcept:
    cdef CsrMatrix[floating, index_int] M
    M.data = &data[0] if data.shape[0] > 0 else NULL
    M.indices = &indices[0] if indices.shape[0] > 0 else NULL
    M.indptr = &indptr[0]
    M.n_rows = indptr.shape[0] - 1
    M.n_cols = n_cols
    return M


cdef int poll_interrupt(void* context) noexcept nogil:
    # Takes the GIL for a moment; a pending KeyboardInterrupt stays set and is
    # raised by raise_pending() once the kernel has returned.
    with gil:
        return 1 if PyErr_CheckSignals() != 0 else 0


cdef int raise_pending() except -1:
    return -1


cdef Callbacks make_callbacks() noexcept:
    cdef Callbacks cb
    cb.context = NULL
    cb.interrupted = poll_interrupt
    return cb


# ---------------------------------------------------------------- config

def openmp_available():
    """Whether the extension was compiled with OpenMP."""
    return bool(openmp_enabled())


def max_threads():
    """Threads used for n_jobs=None (OpenMP's current limit)."""
    return default_threads()


def cores():
    """Processors OpenMP sees."""
    return available_cores()


def simd():
    """The instruction set the kernels use: 'avx2+fma' or 'baseline'."""
    return "avx2+fma" if use_avx2() else "baseline"


def set_baseline_simd(bint baseline):
    """Force the baseline code even where AVX2 is available (for tests)."""
    set_avx2_disabled(1 if baseline else 0)


def threads_for(int n_jobs):
    """Threads a kernel uses for ``n_jobs`` (0 means the default)."""
    return resolve_threads(n_jobs)


# ---------------------------------------------------------------- loss_grad / predict

def loss_grad_dense(const floating[:, :] X, const floating[::1] y, const floating[::1] sample_weight,
                    const double[::1] coef, const double[::1] intercept, Py_ssize_t k,
                    int loss_kind, double epsilon, int n_threads):
    """Fused loss/gradient over dense X; y is (n*k,), coef (k*p,), intercept (k,).

    Returns (loss_sum, grad_coef (k*p,), grad_intercept (k,), status).
    """
    cdef DenseMatrix[floating] M = dense_view(X)
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    cdef Loss loss = make_loss(loss_kind, epsilon)
    cdef LossGradWorkspace ws
    grad = np.empty(k * M.n_cols, dtype=np.float64)
    grad_b = np.empty(k, dtype=np.float64)
    cdef double[::1] g = grad
    cdef double[::1] gb = grad_b
    cdef double value = 0.0
    cdef Status status
    cdef const floating* y_ptr = &y[0] if y.shape[0] > 0 else NULL
    cdef const floating* sw_ptr = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw_ptr = &sample_weight[0]
    cdef const double* coef_ptr = &coef[0] if coef.shape[0] > 0 else NULL
    cdef double* g_ptr = &g[0] if g.shape[0] > 0 else NULL
    with nogil:
        status = loss_grad(
            M, rows, y_ptr, sw_ptr, coef_ptr, &intercept[0], k, loss, n_threads, ws, &value,
            g_ptr, &gb[0])
    return value, grad, grad_b, int(status)


def loss_grad_csr(const floating[::1] data, const index_int[::1] indices, const index_int[::1] indptr,
                  Py_ssize_t n_cols, const floating[::1] y, const floating[::1] sample_weight,
                  const double[::1] coef, const double[::1] intercept, Py_ssize_t k,
                  int loss_kind, double epsilon, int n_threads):
    """Fused loss/gradient over a CSR matrix given by its three arrays."""
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    cdef Loss loss = make_loss(loss_kind, epsilon)
    cdef LossGradWorkspace ws
    grad = np.empty(k * n_cols, dtype=np.float64)
    grad_b = np.empty(k, dtype=np.float64)
    cdef double[::1] g = grad
    cdef double[::1] gb = grad_b
    cdef double value = 0.0
    cdef Status status
    cdef const floating* y_ptr = &y[0] if y.shape[0] > 0 else NULL
    cdef const floating* sw_ptr = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw_ptr = &sample_weight[0]
    cdef const double* coef_ptr = &coef[0] if coef.shape[0] > 0 else NULL
    cdef double* g_ptr = &g[0] if g.shape[0] > 0 else NULL
    with nogil:
        status = loss_grad(
            M, rows, y_ptr, sw_ptr, coef_ptr, &intercept[0], k, loss, n_threads, ws, &value,
            g_ptr, &gb[0])
    return value, grad, grad_b, int(status)


def predict_dense(const floating[:, :] X, const double[::1] coef, const double[::1] intercept,
                  Py_ssize_t k, int n_threads):
    """X @ coef.T + intercept as an (n, k) array of X's dtype, and a status."""
    cdef DenseMatrix[floating] M = dense_view(X)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((M.n_rows, k), dtype=dtype)
    cdef floating[:, ::1] o = out
    cdef Status status = status_ok
    cdef const double* coef_ptr = &coef[0] if coef.shape[0] > 0 else NULL
    if M.n_rows > 0:
        with nogil:
            status = predict(M, coef_ptr, &intercept[0], k, n_threads, &o[0, 0])
    return out, int(status)


def predict_csr(const floating[::1] data, const index_int[::1] indices, const index_int[::1] indptr,
                Py_ssize_t n_cols, const double[::1] coef, const double[::1] intercept,
                Py_ssize_t k, int n_threads):
    """Prediction for a CSR matrix given by its three arrays."""
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    dtype = np.float32 if floating is float else np.float64
    out = np.empty((M.n_rows, k), dtype=dtype)
    cdef floating[:, ::1] o = out
    cdef Status status = status_ok
    cdef const double* coef_ptr = &coef[0] if coef.shape[0] > 0 else NULL
    if M.n_rows > 0:
        with nogil:
            status = predict(M, coef_ptr, &intercept[0], k, n_threads, &o[0, 0])
    return out, int(status)


def read_sum(const floating[::1] x, int n_threads):
    """Sum of x read once, in parallel: the memory-bandwidth yardstick."""
    cdef double s = 0.0
    cdef Py_ssize_t n = x.shape[0]
    if n == 0:
        return 0.0
    with nogil:
        s = stream_sum(&x[0], n, n_threads)
    return s
