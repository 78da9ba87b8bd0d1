# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# distutils: language = c++
"""gdfast._core: the one binding between Python and the C++ kernels.

Everything here is private: arguments are validated by the Python layer
(``gdfast._validation``) before they reach this module. X becomes a ``Matrix``
(a view of a dense float32/float64 array in any order, or of a CSR matrix with
int32/int64 indices) once; each kernel has one entry point taking it, releases
the GIL around the whole kernel call, and returns a status the Python layer
turns into an exception. The codes of every enum come from the C++ headers
(``CODES``); parameter structs are read and written by field name (``Fields``).
"""

from cpython.buffer cimport (
    PyBUF_ANY_CONTIGUOUS, PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE,
    PyBuffer_Release, PyObject_GetBuffer,
)
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.exc cimport PyErr_CheckSignals
from libc.math cimport INFINITY, NAN, isfinite
from libc.stdint cimport uint8_t
from libcpp cimport bool as cbool
from libcpp.memory cimport unique_ptr
from libcpp.string cimport string
from libcpp.vector cimport vector

import sys

import numpy as np

include "_api.pxi"


STATUS_OK = status_ok
STATUS_NONFINITE = status_nonfinite
STATUS_INTERRUPTED = status_interrupted
STATUS_DIVERGED = status_diverged
STATUS_INPUT_NONFINITE = status_input_nonfinite


def _code_tables():
    cdef CodeTable table
    cdef int i
    out = {}
    for family in ("loss", "penalty", "schedule", "optimizer", "simd"):
        table = code_table(family.encode())
        out[family] = {table.items[i].name.decode(): table.items[i].code for i in range(table.size)}
    return out


CODES = _code_tables()
"""family -> {name: code} for every enum of the kernels (loss, penalty, schedule, optimizer,
simd: the instruction-set levels of the hot loops, lowest first)."""

SMOOTH_LOSSES = frozenset(name for name, code in CODES["loss"].items() if loss_curvature(code) > 0)
"""The losses with a bounded, nonzero curvature (the others take subgradient steps)."""

MARGIN_LOSSES = frozenset(name for name, code in CODES["loss"].items() if loss_is_margin(code))
"""The classification losses, functions of the margin ``p * y`` of labels +1/-1."""

ROW_LOSSES = frozenset(name for name, code in CODES["loss"].items() if loss_target_columns(code, 2) == 1)
"""The losses of a row's k predictions and its class index (the multinomial log-loss)."""

REGRESSION_LOSSES = {name: code for name, code in CODES["loss"].items()
                     if name not in MARGIN_LOSSES and name not in ROW_LOSSES}
"""name -> code of the regression losses, functions of the residual ``p - y``."""


include "_buffers.pxi"
include "_fields.pxi"


# ---------------------------------------------------------------- callbacks

cdef class Loop:
    """Context of one long kernel call: the verbose callback and a pending error.

    The C++ loop calls back (taking the GIL briefly) to poll for Ctrl-C and to
    report epochs; an exception raised there is kept here and re-raised by
    ``reraise`` once the kernel has returned with the GIL.
    """
    cdef object callback
    cdef object remote
    cdef object score
    cdef object error
    cdef Callbacks c
    cdef Py_ssize_t n_features, n_targets

    def __cinit__(self, callback=None, remote_pass=None, remote_score=None):
        self.callback = callback
        self.remote = remote_pass
        self.score = remote_score
        self.error = None
        self.c.context = <void*>self
        self.c.interrupted = loop_poll
        self.c.epoch_end = NULL
        self.c.remote_pass = NULL
        self.c.remote_score = NULL
        if callback is not None:
            self.c.epoch_end = loop_epoch_end
        if remote_pass is not None:
            self.c.remote_pass = loop_remote_pass
        if remote_score is not None:
            self.c.remote_score = loop_remote_score

    def reraise(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error


cdef int loop_poll(void* context) noexcept nogil:
    with gil:
        loop = <Loop>context
        if loop.error is not None:
            return 1
        try:
            PyErr_CheckSignals()
        except BaseException as exc:
            loop.error = exc
            return 1
        return 0


cdef void loop_epoch_end(void* context, const EpochInfo& info) noexcept nogil:
    with gil:
        loop = <Loop>context
        if loop.error is not None:
            return
        try:
            loop.callback(dict(
                epoch=info.epoch, objective=info.objective, mean_loss=info.mean_loss,
                coef_norm=info.coef_norm, coef_nonzeros=info.coef_nonzeros,
                intercept=info.intercept, updates=info.updates, step_size=info.step_size,
                validation_score=info.validation_score if info.has_validation else None,
            ))
        except BaseException as exc:
            loop.error = exc


cdef tuple raw_model(const double* W, const double* b, Py_ssize_t k, Py_ssize_t p):
    """Copies of raw coefficients W (k, p) and intercepts b (k,) as arrays."""
    cdef Py_ssize_t i
    Wa = np.empty(k * p)
    ba = np.empty(k)
    cdef double[::1] wv = Wa
    cdef double[::1] bv = ba
    for i in range(k * p):
        wv[i] = W[i]
    for i in range(k):
        bv[i] = b[i]
    return Wa.reshape(k, p), ba


cdef int loop_remote_pass(void* context, const double* W, const double* b, index_t k,
                          int zero_targets, int squared, double* loss_sum, double* G,
                          double* gb) noexcept nogil:
    """remote_pass(W (k, p), b (k,), zero_targets, squared) -> (loss_sum, G, gb)
    in Python; a non-finite result or an exception fails the pass."""
    cdef Py_ssize_t i, p
    with gil:
        loop = <Loop>context
        if loop.error is not None:
            return 0
        p = loop.n_features
        try:
            Wa, ba = raw_model(W, b, k, p)
            value, Gr, gbr = loop.remote(Wa, ba, bool(zero_targets), bool(squared))
            Gr = np.ascontiguousarray(Gr, dtype=np.float64).reshape(-1)
            gbr = np.ascontiguousarray(gbr, dtype=np.float64).reshape(-1)
            if Gr.shape[0] != k * p or gbr.shape[0] != k:
                raise ValueError("remote_pass returned arrays of the wrong shape")
            loss_sum[0] = float(value)
            for i in range(k * p):
                G[i] = Gr[i]
            for i in range(k):
                gb[i] = gbr[i]
            return 1 if np.isfinite(value) and np.isfinite(Gr).all() and np.isfinite(gbr).all() else 0
        except BaseException as exc:
            loop.error = exc
            return 0


cdef double loop_remote_score(void* context, const double* W, const double* b) noexcept nogil:
    """remote_score(W (k, p), b (k,)) -> R^2 in Python; NaN (and the error kept
    for Python) when it raised."""
    with gil:
        loop = <Loop>context
        if loop.error is not None:
            return NAN
        try:
            return float(loop.score(*raw_model(W, b, loop.n_targets, loop.n_features)))
        except BaseException as exc:
            loop.error = exc
            return NAN


cdef class EpochRule:
    """The engine's epoch monitor (stopping rule, non-finite check, verbose
    report, Ctrl-C) for an epoch loop driven from Python, with the rule of
    ``params`` (SgdParams or GdParams) and the callbacks of ``loop``."""
    cdef unique_ptr[MonitorHandle] c
    cdef Loop loop

    def __cinit__(self, Fields params, Loop loop, bint has_validation=False):
        self.loop = loop
        if params.kind == "sgd_params":
            self.c.reset(new MonitorHandle((<CppSgdParams*>params.address("sgd_params"))[0],
                                           loop.c, has_validation))
        else:
            self.c.reset(new MonitorHandle((<CppGdParams*>params.address("gd_params"))[0],
                                           loop.c, has_validation))

    def epoch_end(self, int epoch, double objective, bint finite, bint can_shrink=False,
                  double score=0.0):
        """After 0-based ``epoch``: None to go on, "shrink" when the adaptive
        schedule divides the step by 5 and goes on (``can_shrink``: the step
        is above its floor), else the status the fit ends with (STATUS_OK:
        the rule stopped it). ``score``: the validation R^2 (early stopping)."""
        cdef int out = self.c.get().epoch_end(epoch, objective, finite, can_shrink, score)
        self.loop.reraise()
        if out == -2:
            return "shrink"
        return None if out < 0 else out

    def record(self, int status):
        """The fit's record (objectives, n_iter, failure) with ``status``."""
        return make_record(<Status>status, self.c.get().record())


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


def _simd_name(int code):
    return next(name for name, c in CODES["simd"].items() if c == code)


def simd():
    """The instruction set the kernels use now: 'avx512', 'avx2' (with FMA) or 'baseline'."""
    return _simd_name(simd_level_code())


def cpu_simd():
    """The best instruction set of this CPU that the kernels have a build for."""
    return _simd_name(cpu_simd_level_code())


def set_simd(str name):
    """Cap the instruction set the kernels use at ``name`` (one of ``CODES["simd"]``);
    a level above the CPU's runs the CPU's best."""
    if name not in CODES["simd"]:
        raise ValueError(f"unknown SIMD level {name!r}: expected one of {sorted(CODES['simd'])}")
    set_simd_cap(CODES["simd"][name])


def threads_for(int n_jobs):
    """Threads a kernel uses for ``n_jobs`` (0 means the default)."""
    return resolve_threads(n_jobs)


# ---------------------------------------------------------------- kernels

cdef tuple run_loss_grad(Matrix X, const void* y_ptr, const void* sw_ptr, const double* coef_ptr,
                         const double* intercept_ptr, Py_ssize_t k, int loss_kind, double epsilon,
                         int n_threads, bint gradient):
    # (loss_sum, grad_coef (k*p,) or None, grad_intercept (k,), status) of the fused pass.
    cdef MatrixView M = X.c
    cdef Loss loss = make_loss(loss_kind, epsilon, INFINITY)
    grad = np.empty(k * M.n_cols, dtype=np.float64)
    grad_b = np.empty(k, dtype=np.float64)
    cdef double[::1] g = grad
    cdef double[::1] gb = grad_b
    cdef double value = 0.0
    cdef Status status
    cdef double* g_ptr = &g[0] if g.shape[0] > 0 and gradient else NULL
    with nogil:
        status = loss_grad_kernel(M, y_ptr, sw_ptr, coef_ptr, intercept_ptr, k, loss, n_threads,
                                  &value, g_ptr, &gb[0])
    return value, grad if gradient else None, grad_b, int(status)


def loss_grad(Matrix X, y, sample_weight, const double[::1] coef, const double[::1] intercept,
              Py_ssize_t k, int loss_kind, double epsilon, int n_threads, bint gradient=True):
    """Fused loss/gradient; y is (n*k,) of X's dtype (n class indices in [0, k)
    for a row loss, checked by the caller), coef (k*p,), intercept (k,).

    Returns (loss_sum, grad_coef (k*p,), grad_intercept (k,), status); with
    ``gradient=False`` the pass sums the loss alone and grad_coef is None.
    """
    cdef MatrixView M = X.c
    require(k >= 1 and coef.shape[0] == k * M.n_cols and intercept.shape[0] == k, "loss_grad")
    cdef Buffer yb = vector_of(y, M.element, M.n_rows * loss_target_columns(loss_kind, k), "y")
    cdef Buffer sw = vector_of(sample_weight, M.element, M.n_rows, "sample_weight")
    cdef const double* coef_ptr = &coef[0] if coef.shape[0] > 0 else NULL
    return run_loss_grad(X, ptr_of(yb), ptr_of(sw), coef_ptr, &intercept[0], k, loss_kind,
                         epsilon, n_threads, gradient)


def predict(Matrix X, const double[::1] coef, const double[::1] intercept, Py_ssize_t k,
            int n_threads):
    """X @ coef.T + intercept as an (n, k) array of X's dtype, and a status."""
    cdef MatrixView M = X.c
    require(k >= 1 and coef.shape[0] == k * M.n_cols and intercept.shape[0] == k, "predict")
    out = np.empty((M.n_rows, k), dtype=X.dtype)
    cdef Buffer ob = vector_of(out, M.element, M.n_rows * k, "out", True)
    cdef Status status = status_ok
    cdef const double* coef_ptr = &coef[0] if coef.shape[0] > 0 else NULL
    cdef void* out_ptr = ptr_of(ob)
    if M.n_rows > 0:
        with nogil:
            status = predict_kernel(M, coef_ptr, &intercept[0], k, n_threads, out_ptr)
    return out, int(status)


def column_stats(Matrix X, sample_weight, int n_threads):
    """Weighted column means and (population) variances of X."""
    cdef MatrixView M = X.c
    cdef Buffer sw = vector_of(sample_weight, M.element, M.n_rows, "sample_weight")
    mean = np.zeros(M.n_cols)
    var = np.zeros(M.n_cols)
    cdef double[::1] mv = mean
    cdef double[::1] vv = var
    cdef const void* sw_ptr = ptr_of(sw)
    if M.n_cols > 0 and M.n_rows > 0:
        with nogil:
            column_stats_kernel(M, sw_ptr, n_threads, &mv[0], &vv[0])
    return mean, var


def row_norm_stats(Matrix X, int n_threads):
    """Mean and max over the rows of X of their squared norms (the mean is NaN
    when X holds NaN)."""
    cdef MatrixView M = X.c
    cdef RowNormStats stats
    with nogil:
        stats = row_norm_stats_kernel(M, n_threads)
    return stats.mean, stats.max


def standardize(const double[::1] mean, const double[::1] var, bint center):
    """The implicit standardization (mean, scale) from column means and variances
    (the rule of the kernels' standardize_from_stats)."""
    require(mean.shape[0] == var.shape[0], "mean/var")
    out_mean = np.array(mean, dtype=np.float64)
    out_scale = np.array(var, dtype=np.float64)
    cdef double[::1] mv = out_mean
    cdef double[::1] sv = out_scale
    if mv.shape[0] > 0:
        standardize_from_stats(mv.shape[0], center, &mv[0], &sv[0])
    return out_mean, out_scale


def mean_constant_loss(const double[:, ::1] y, const double[::1] c, int loss_kind, double epsilon):
    """Mean over rows and targets of loss(c_t, y_it): the loss of a constant prediction."""
    require(c.shape[0] == y.shape[1], "mean_constant_loss")
    if y.shape[0] == 0 or y.shape[1] == 0:
        return 0.0
    return mean_constant_loss_kernel(loss_kind, epsilon, &y[0, 0], y.shape[0], y.shape[1], &c[0])


def read_sum(x, int n_threads):
    """Sum of a contiguous float array read once, in parallel: the bandwidth yardstick."""
    cdef Buffer b = acquire(x, False, False)
    cdef Element element = element_of(b, "x")
    cdef double s = 0.0
    cdef Py_ssize_t n = b.items()
    cdef const void* x_ptr = b.ptr()
    if n == 0:
        return 0.0
    with nogil:
        s = read_sum_kernel(element, x_ptr, n, n_threads)
    return s


def sgd_fit(Matrix X, y, sample_weight, const uint8_t[::1] validation, double[::1] coef,
            double[::1] avg_coef, SgdParams params, SgdState state, Loop loop):
    """Per-sample SGD epochs; coef, avg_coef and state are updated in place."""
    cdef MatrixView M = X.c
    require(M.n_rows >= 1 and coef.shape[0] == M.n_cols, "sgd_fit")
    require(validation is None or validation.shape[0] == M.n_rows, "validation")
    require(avg_coef is None or avg_coef.shape[0] == M.n_cols, "avg_coef")
    cdef Buffer yb = vector_of(y, M.element, M.n_rows, "y")
    cdef Buffer sw = vector_of(sample_weight, M.element, M.n_rows, "sample_weight")
    cdef CppSgdParams* P = <CppSgdParams*>params.address("sgd_params")
    cdef CppSgdState* S = <CppSgdState*>state.address("sgd_state")
    S.coef = &coef[0] if coef.shape[0] > 0 else NULL
    S.avg_coef = &avg_coef[0] if avg_coef is not None and avg_coef.shape[0] > 0 else NULL
    cdef const uint8_t* mask = &validation[0] if validation is not None else NULL
    cdef const void* y_ptr = ptr_of(yb)
    cdef const void* sw_ptr = ptr_of(sw)
    cdef Status status
    with nogil:
        status = sgd_fit_kernel(M, y_ptr, sw_ptr, mask, P[0], S[0], loop.c)
    S.coef = NULL
    S.avg_coef = NULL
    loop.reraise()
    return make_record(status, S.record)


def gd_fit(Matrix X, y, Py_ssize_t k, sample_weight, const Py_ssize_t[::1] train_rows,
           const Py_ssize_t[::1] val_rows, double[::1] mean, double[::1] scale,
           double[::1] coef, double[::1] intercept, double[::1] m1, double[::1] m2,
           double[::1] avg, GdParams params, GdState state, Loop loop, moments=None,
           remote=None):
    """Descent epochs; parameters, optimizer state and counters updated in place.

    ``moments`` (total, zbar, C) from ``comoments``: with ``use_gram`` the
    descent runs on them, and X may have no rows (nothing reads it).
    ``remote`` (weight_total, mean_row_sq_norm) of training rows held
    elsewhere: every pass is the Loop's ``remote_pass`` (full batch).
    ``train_rows`` None: every row of X, in order.
    """
    cdef MatrixView M = X.c
    cdef Py_ssize_t ky = loss_target_columns(int(params.loss), k) if k >= 1 else k
    cdef Py_ssize_t n = M.n_rows, p = M.n_cols, m = k * M.n_cols + k, i, q = M.n_cols + ky
    cdef GivenData given
    cdef const double[::1] given_zbar
    cdef const double[:, ::1] given_C
    if remote is not None:
        require(loop.remote is not None, "remote rows need the Loop's remote_pass")
        given.remote = True
        given.weight_total = float(remote[0])
        given.mean_row_sq_norm = float(remote[1])
        loop.n_features, loop.n_targets = p, k
    cdef Py_ssize_t n_train = n if train_rows is None else train_rows.shape[0]
    if moments is None and remote is None:
        require(k >= 1 and n_train >= 1, "gd_fit")
    else:
        require(k >= 1, "gd_fit")
    if moments is not None:
        given.total = float(moments[0])
        given_zbar = moments[1]
        given_C = moments[2]
        require(given_zbar.shape[0] == q and given_C.shape[0] == q and given_C.shape[1] == q,
                "moments")
        given.zbar = &given_zbar[0]
        given.C = &given_C[0, 0]
    require(mean.shape[0] == p and scale.shape[0] == p, "mean/scale")
    require(coef.shape[0] == k * p and intercept.shape[0] == k, "coef/intercept")
    require(m1.shape[0] == m and m2.shape[0] == m and (avg is None or avg.shape[0] == m),
            "optimizer state")
    if train_rows is not None:
        for i in range(train_rows.shape[0]):
            require(0 <= train_rows[i] < n, "train_rows")
    for i in range(val_rows.shape[0]):
        require(0 <= val_rows[i] < n, "val_rows")
    cdef Buffer yb = vector_of(y, M.element, n * ky, "y")
    cdef Buffer sw = vector_of(sample_weight, M.element, n, "sample_weight")
    cdef CppGdParams* P = <CppGdParams*>params.address("gd_params")
    cdef CppGdState* S = <CppGdState*>state.address("gd_state")
    S.coef = &coef[0] if coef.shape[0] > 0 else NULL
    S.intercept = &intercept[0]
    S.m1 = &m1[0]
    S.m2 = &m2[0]
    S.avg = &avg[0] if avg is not None else NULL
    cdef const Py_ssize_t* tr = (
        &train_rows[0] if train_rows is not None and train_rows.shape[0] > 0 else NULL)
    cdef const Py_ssize_t* vr = &val_rows[0] if val_rows.shape[0] > 0 else NULL
    cdef double* mp = &mean[0] if p > 0 else NULL
    cdef double* sp = &scale[0] if p > 0 else NULL
    cdef const void* y_ptr = ptr_of(yb)
    cdef const void* sw_ptr = ptr_of(sw)
    if loop.score is not None:
        loop.n_features, loop.n_targets = p, k
    cdef const GivenData* given_ptr = (
        &given if (moments is not None or remote is not None or loop.score is not None) else NULL)
    cdef Status status
    with nogil:
        status = gd_fit_kernel(M, y_ptr, k, sw_ptr, tr, n_train,
                               vr, val_rows.shape[0], mp, sp, P[0], S[0], loop.c, given_ptr)
    S.coef = S.intercept = S.m1 = S.m2 = S.avg = NULL
    loop.reraise()
    return make_record(status, S.record)


def comoments(Matrix X, y, Py_ssize_t k, sample_weight, int n_threads):
    """Total weight, means (p + k,) and centered co-moments (p + k, p + k) of
    [X, y] over all rows (NaN/inf in the rows shows in them)."""
    cdef MatrixView M = X.c
    cdef Py_ssize_t q = M.n_cols + k
    require(k >= 1, "comoments")
    cdef Buffer yb = vector_of(y, M.element, M.n_rows * k, "y")
    cdef Buffer sw = vector_of(sample_weight, M.element, M.n_rows, "sample_weight")
    zbar = np.zeros(q)
    C = np.zeros((q, q))
    cdef double[::1] zv = zbar
    cdef double[:, ::1] Cv = C
    cdef const void* y_ptr = ptr_of(yb)
    cdef const void* sw_ptr = ptr_of(sw)
    cdef double total = 0.0
    if M.n_rows > 0:
        with nogil:
            total = comoments_kernel(M, y_ptr, k, sw_ptr, n_threads, &zv[0], &Cv[0, 0])
    return total, zbar, C


def merge_comoments(a, b):
    """The co-moments (total, zbar, C) of the union of two sets of rows."""
    cdef const double[::1] zb = b[1]
    cdef const double[:, ::1] Cb = b[2]
    cdef Py_ssize_t q = zb.shape[0]
    require(Cb.shape[0] == q and Cb.shape[1] == q and len(a[1]) == q, "merge_comoments")
    zbar = np.array(a[1], dtype=np.float64)
    C = np.array(a[2], dtype=np.float64, order="C")
    require(C.shape[0] == q and C.shape[1] == q, "merge_comoments")
    cdef double[::1] zv = zbar
    cdef double[:, ::1] Cv = C
    if q == 0:
        return float(a[0]) + float(b[0]), zbar, C
    total = merge_comoments_kernel(float(b[0]), &zb[0], &Cb[0, 0], q, float(a[0]), &zv[0], &Cv[0, 0])
    return total, zbar, C


include "_fast.pxi"
include "_steps.pxi"
