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
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.math cimport INFINITY
from libcpp.vector cimport vector

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

    cdef cppclass EpochInfo:
        int epoch
        double objective
        double mean_loss
        double coef_norm
        index_t coef_nonzeros
        double intercept
        double updates
        double step_size
        bint has_validation
        double validation_score

    cdef cppclass Callbacks:
        void* context
        int (*interrupted)(void*) noexcept nogil
        void (*epoch_end)(void*, const EpochInfo&) noexcept nogil

    cdef cppclass SgdParams:
        Loss loss
        int penalty
        double alpha
        double l1_ratio
        int learning_rate
        double eta0
        double power_t
        bint fit_intercept
        double intercept_decay
        double average
        int max_iter
        double tol
        int n_iter_no_change
        bint shuffle
        uint32_t seed
        bint early_stopping
        double divergence_threshold
        int divergence_horizon
        bint verbose

    cdef cppclass SgdState:
        double* coef
        double intercept
        double* avg_coef
        double avg_intercept
        double t
        int n_iter
        int failed_epoch
        double failed_objective
        vector[double] objectives
        vector[double] validation_scores

    cdef cppclass GdParams:
        Loss loss
        int penalty
        double alpha
        double l1_ratio
        int optimizer
        double momentum
        bint momentum_restart
        double beta_1
        double beta_2
        double rho
        double eps
        int schedule
        bint auto_lr
        double eta0
        double power_t
        double gamma
        int step_size
        int cosine_epochs
        double optimal_t0
        double min_lr_scale
        bint fit_intercept
        index_t batch_size
        int max_iter
        double tol
        bint tol_relative
        bint gradient_rule
        int n_iter_no_change
        bint shuffle
        uint32_t seed
        bint early_stopping
        double divergence_threshold
        int divergence_horizon
        double average
        bint sum_gradient
        double intercept_decay
        bint verbose
        int n_threads
        bint use_gram

    cdef cppclass GdState:
        double* coef
        double* intercept
        double* m1
        double* m2
        double* avg
        double step
        double epoch
        double lr_scale
        double base_lr
        double fista_t
        double last_objective
        int n_iter
        int failed_epoch
        double failed_objective
        double last_lr
        vector[double] objectives
        vector[double] validation_scores

    Status gd_fit[M, T](const M& X, const T* y, index_t k, const T* sample_weight,
                        const index_t* train_rows, index_t n_train, const index_t* val_rows,
                        index_t n_val, const double* mean, const double* scale, const GdParams& P,
                        GdState& S, const Callbacks& cb) except +
    void column_stats[M, T](const M& X, const RowSet& rows, const T* sample_weight, int n_threads,
                            double* mean, double* var) except +
    double centered_comoments[M, T](const M& X, const RowSet& rows, const T* y, index_t k,
                                    const T* sample_weight, int n_threads, double* zbar,
                                    double* C) except +

    bint checked_sgd[T](T* theta, const T* g, index_t n, double lr)
    bint checked_momentum[T](T* theta, const T* g, T* v, index_t n, double lr, double beta,
                             bint nesterov)
    bint checked_adagrad[T](T* theta, const T* g, T* sum_sq, index_t n, double lr, double eps)
    bint checked_rmsprop[T](T* theta, const T* g, T* mean_sq, index_t n, double lr, double rho,
                            double eps)
    bint checked_adam[T](T* theta, const T* g, T* m, T* v, index_t n, double lr, double beta_1,
                         double beta_2, double eps, double step, double weight_decay)

    Status sgd_fit[M, T](const M& X, const T* y, const T* sample_weight, const uint8_t* validation,
                         const SgdParams& P, SgdState& S, const Callbacks& cb) except +

    bint openmp_enabled()
    bint cpu_has_avx2_fma()
    bint use_avx2()
    void set_avx2_disabled(int)
    int default_threads()
    int available_cores()
    int resolve_threads(int n_jobs)
    Loss make_loss(int kind, double epsilon, double derivative_clip)

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

cdef int require(bint ok, str what) except -1:
    # The Python layer validates every argument; this is the last line of
    # defence: a size mismatch here would make the kernels read or write out of
    # bounds, so it is an error even for this private API.
    if not ok:
        raise ValueError(f"gdfast._core: inconsistent array sizes ({what})")
    return 0

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


cdef class Loop:
    """Context of one long kernel call: the verbose callback and a pending error.

    The C++ loop calls back (taking the GIL briefly) to poll for Ctrl-C and to
    report epochs; an exception raised there is kept here and re-raised by
    ``reraise`` once the kernel has returned with the GIL.
    """
    cdef object callback
    cdef object error
    cdef Callbacks c

    def __cinit__(self, callback=None):
        self.callback = callback
        self.error = None
        self.c.context = <void*>self
        self.c.interrupted = loop_poll
        self.c.epoch_end = NULL
        if callback is not None:
            self.c.epoch_end = loop_epoch_end

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
    require(k >= 1 and y.shape[0] == M.n_rows * k and coef.shape[0] == k * M.n_cols
            and intercept.shape[0] == k, "loss_grad")
    require(sample_weight is None or sample_weight.shape[0] == M.n_rows, "sample_weight")
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    cdef Loss loss = make_loss(loss_kind, epsilon, INFINITY)
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
    require(indptr.shape[0] >= 1 and indices.shape[0] == data.shape[0], "CSR arrays")
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    require(k >= 1 and y.shape[0] == M.n_rows * k and coef.shape[0] == k * n_cols
            and intercept.shape[0] == k, "loss_grad")
    require(sample_weight is None or sample_weight.shape[0] == M.n_rows, "sample_weight")
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    cdef Loss loss = make_loss(loss_kind, epsilon, INFINITY)
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
    require(k >= 1 and coef.shape[0] == k * M.n_cols and intercept.shape[0] == k, "predict")
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
    require(indptr.shape[0] >= 1 and indices.shape[0] == data.shape[0], "CSR arrays")
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    require(k >= 1 and coef.shape[0] == k * n_cols and intercept.shape[0] == k, "predict")
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


# ---------------------------------------------------------------- per-sample SGD

cdef SgdParams sgd_params(dict p) except *:
    cdef SgdParams P
    P.loss = make_loss(p["loss"], p["epsilon"], INFINITY)
    P.penalty = p["penalty"]
    P.alpha = p["alpha"]
    P.l1_ratio = p["l1_ratio"]
    P.learning_rate = p["learning_rate"]
    P.eta0 = p["eta0"]
    P.power_t = p["power_t"]
    P.fit_intercept = p["fit_intercept"]
    P.intercept_decay = p["intercept_decay"]
    P.average = p["average"]
    P.max_iter = p["max_iter"]
    P.tol = p["tol"]
    P.n_iter_no_change = p["n_iter_no_change"]
    P.shuffle = p["shuffle"]
    P.seed = p["seed"]
    P.early_stopping = p["early_stopping"]
    P.divergence_threshold = p["divergence_threshold"]
    P.divergence_horizon = p["divergence_horizon"]
    P.verbose = p["verbose"]
    return P


cdef dict sgd_result(Status status, SgdState& S):
    return dict(
        status=int(status), intercept=S.intercept, avg_intercept=S.avg_intercept, t=S.t,
        n_iter=S.n_iter, failed_epoch=S.failed_epoch, failed_objective=S.failed_objective,
        objectives=list(S.objectives), validation_scores=list(S.validation_scores),
    )


cdef int sgd_require(Py_ssize_t n, Py_ssize_t p, const floating[::1] y,
                     const floating[::1] sample_weight, const uint8_t[::1] validation,
                     double[::1] coef, double[::1] avg_coef) except -1:
    require(n >= 1 and y.shape[0] == n and coef.shape[0] == p, "sgd_fit")
    require(sample_weight is None or sample_weight.shape[0] == n, "sample_weight")
    require(validation is None or validation.shape[0] == n, "validation")
    require(avg_coef is None or avg_coef.shape[0] == p, "avg_coef")
    return 0


def sgd_fit_dense(const floating[:, :] X, const floating[::1] y, const floating[::1] sample_weight,
                  const uint8_t[::1] validation, double[::1] coef, double intercept,
                  double[::1] avg_coef, double avg_intercept, double t, dict params, Loop loop):
    """Per-sample SGD epochs over C-ordered X; coef/avg_coef are updated in place."""
    cdef DenseMatrix[floating] M = dense_view(X)
    sgd_require(M.n_rows, M.n_cols, y, sample_weight, validation, coef, avg_coef)
    cdef SgdParams P = sgd_params(params)
    cdef SgdState S
    S.coef = &coef[0] if coef.shape[0] > 0 else NULL
    S.intercept = intercept
    S.avg_coef = &avg_coef[0] if avg_coef is not None and avg_coef.shape[0] > 0 else NULL
    S.avg_intercept = avg_intercept
    S.t = t
    cdef const uint8_t* mask = &validation[0] if validation is not None else NULL
    cdef const floating* sw = NULL
    if sample_weight is not None:
        sw = &sample_weight[0]
    cdef Status status
    with nogil:
        status = sgd_fit(M, &y[0], sw, mask, P, S, loop.c)
    loop.reraise()
    return sgd_result(status, S)


def sgd_fit_csr(const floating[::1] data, const index_int[::1] indices, const index_int[::1] indptr,
                Py_ssize_t n_cols, const floating[::1] y, const floating[::1] sample_weight,
                const uint8_t[::1] validation, double[::1] coef, double intercept,
                double[::1] avg_coef, double avg_intercept, double t, dict params, Loop loop):
    """Per-sample SGD epochs over a CSR matrix; O(nnz) per update."""
    require(indptr.shape[0] >= 1 and indices.shape[0] == data.shape[0], "CSR arrays")
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    sgd_require(M.n_rows, n_cols, y, sample_weight, validation, coef, avg_coef)
    cdef SgdParams P = sgd_params(params)
    cdef SgdState S
    S.coef = &coef[0] if coef.shape[0] > 0 else NULL
    S.intercept = intercept
    S.avg_coef = &avg_coef[0] if avg_coef is not None and avg_coef.shape[0] > 0 else NULL
    S.avg_intercept = avg_intercept
    S.t = t
    cdef const uint8_t* mask = &validation[0] if validation is not None else NULL
    cdef const floating* sw = NULL
    if sample_weight is not None:
        sw = &sample_weight[0]
    cdef Status status
    with nogil:
        status = sgd_fit(M, &y[0], sw, mask, P, S, loop.c)
    loop.reraise()
    return sgd_result(status, S)


# ---------------------------------------------------------------- statistics

def column_stats_dense(const floating[:, :] X, const floating[::1] sample_weight, int n_threads):
    """Weighted column means and variances of dense X."""
    cdef DenseMatrix[floating] M = dense_view(X)
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    mean = np.zeros(M.n_cols)
    var = np.zeros(M.n_cols)
    cdef double[::1] mv = mean
    cdef double[::1] vv = var
    cdef const floating* sw = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw = &sample_weight[0]
    if M.n_cols > 0 and M.n_rows > 0:
        with nogil:
            column_stats(M, rows, sw, n_threads, &mv[0], &vv[0])
    return mean, var


def column_stats_csr(const floating[::1] data, const index_int[::1] indices,
                     const index_int[::1] indptr, Py_ssize_t n_cols,
                     const floating[::1] sample_weight, int n_threads):
    """Weighted column means and variances of a CSR matrix."""
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    mean = np.zeros(n_cols)
    var = np.zeros(n_cols)
    cdef double[::1] mv = mean
    cdef double[::1] vv = var
    cdef const floating* sw = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw = &sample_weight[0]
    if n_cols > 0 and M.n_rows > 0:
        with nogil:
            column_stats(M, rows, sw, n_threads, &mv[0], &vv[0])
    return mean, var


def comoments_dense(const floating[:, :] X, const floating[::1] y, Py_ssize_t k,
                    const floating[::1] sample_weight, int n_threads):
    """Centered weighted co-moments of [X, Y]: (total weight, zbar, C)."""
    cdef DenseMatrix[floating] M = dense_view(X)
    cdef RowSet rows
    rows.rows = NULL
    rows.count = M.n_rows
    cdef Py_ssize_t q = M.n_cols + k
    zbar = np.zeros(q)
    C = np.zeros((q, q))
    cdef double[::1] zv = zbar
    cdef double[:, ::1] cv = C
    cdef const floating* sw = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw = &sample_weight[0]
    cdef double total = 0.0
    with nogil:
        total = centered_comoments(M, rows, &y[0], k, sw, n_threads, &zv[0], &cv[0, 0])
    return total, zbar, C


# ---------------------------------------------------------------- descent engine

cdef GdParams gd_params(dict p) except *:
    cdef GdParams P
    P.loss = make_loss(p["loss"], p["epsilon"], p["derivative_clip"])
    P.penalty = p["penalty"]
    P.alpha = p["alpha"]
    P.l1_ratio = p["l1_ratio"]
    P.optimizer = p["optimizer"]
    P.momentum = p["momentum"]
    P.momentum_restart = p["momentum_restart"]
    P.beta_1 = p["beta_1"]
    P.beta_2 = p["beta_2"]
    P.rho = p["rho"]
    P.eps = p["eps"]
    P.schedule = p["schedule"]
    P.auto_lr = p["auto_lr"]
    P.eta0 = p["eta0"]
    P.power_t = p["power_t"]
    P.gamma = p["gamma"]
    P.step_size = p["step_size"]
    P.cosine_epochs = p["cosine_epochs"]
    P.optimal_t0 = p["optimal_t0"]
    P.min_lr_scale = p["min_lr_scale"]
    P.fit_intercept = p["fit_intercept"]
    P.batch_size = p["batch_size"]
    P.max_iter = p["max_iter"]
    P.tol = p["tol"]
    P.tol_relative = p["tol_relative"]
    P.gradient_rule = p["gradient_rule"]
    P.n_iter_no_change = p["n_iter_no_change"]
    P.shuffle = p["shuffle"]
    P.seed = p["seed"]
    P.early_stopping = p["early_stopping"]
    P.divergence_threshold = p["divergence_threshold"]
    P.divergence_horizon = p["divergence_horizon"]
    P.average = p["average"]
    P.sum_gradient = p["sum_gradient"]
    P.intercept_decay = p["intercept_decay"]
    P.verbose = p["verbose"]
    P.n_threads = p["n_threads"]
    P.use_gram = p["use_gram"]
    return P


cdef int gd_state_in(GdState& S, dict state, double[::1] coef, double[::1] intercept,
                     double[::1] m1, double[::1] m2, double[::1] avg) except -1:
    S.coef = &coef[0] if coef.shape[0] > 0 else NULL
    S.intercept = &intercept[0]
    S.m1 = &m1[0]
    S.m2 = &m2[0]
    S.avg = &avg[0] if avg is not None else NULL
    S.step = state["step"]
    S.epoch = state["epoch"]
    S.lr_scale = state["lr_scale"]
    S.base_lr = state["base_lr"]
    S.fista_t = state["fista_t"]
    return 0


cdef dict gd_state_out(Status status, GdState& S):
    return dict(
        status=int(status), n_iter=S.n_iter, failed_epoch=S.failed_epoch,
        failed_objective=S.failed_objective, objectives=list(S.objectives),
        validation_scores=list(S.validation_scores), last_lr=S.last_lr,
        state=dict(step=S.step, epoch=S.epoch, lr_scale=S.lr_scale, base_lr=S.base_lr,
                   fista_t=S.fista_t),
    )


cdef int gd_require(Py_ssize_t n, Py_ssize_t p, Py_ssize_t k, const floating[::1] y,
                    const floating[::1] sample_weight, const Py_ssize_t[::1] train_rows,
                    const Py_ssize_t[::1] val_rows, const double[::1] mean,
                    const double[::1] scale, double[::1] coef, double[::1] intercept,
                    double[::1] m1, double[::1] m2, double[::1] avg) except -1:
    cdef Py_ssize_t m = k * p + k
    require(k >= 1 and y.shape[0] == n * k and train_rows.shape[0] >= 1, "gd_fit")
    require(sample_weight is None or sample_weight.shape[0] == n, "sample_weight")
    require(mean.shape[0] == p and scale.shape[0] == p, "mean/scale")
    require(coef.shape[0] == k * p and intercept.shape[0] == k, "coef/intercept")
    require(m1.shape[0] == m and m2.shape[0] == m and (avg is None or avg.shape[0] == m),
            "optimizer state")
    cdef Py_ssize_t i
    for i in range(train_rows.shape[0]):
        require(0 <= train_rows[i] < n, "train_rows")
    for i in range(val_rows.shape[0]):
        require(0 <= val_rows[i] < n, "val_rows")
    return 0


def gd_fit_dense(const floating[:, :] X, const floating[::1] y, Py_ssize_t k,
                 const floating[::1] sample_weight, const Py_ssize_t[::1] train_rows,
                 const Py_ssize_t[::1] val_rows, const double[::1] mean, const double[::1] scale,
                 double[::1] coef, double[::1] intercept, double[::1] m1, double[::1] m2,
                 double[::1] avg, dict params, dict state, Loop loop):
    """Descent epochs over dense X; parameters and optimizer state updated in place."""
    cdef DenseMatrix[floating] M = dense_view(X)
    gd_require(M.n_rows, M.n_cols, k, y, sample_weight, train_rows, val_rows, mean, scale, coef,
               intercept, m1, m2, avg)
    cdef GdParams P = gd_params(params)
    cdef GdState S
    gd_state_in(S, state, coef, intercept, m1, m2, avg)
    cdef const floating* sw = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw = &sample_weight[0]
    cdef const Py_ssize_t* vr = &val_rows[0] if val_rows.shape[0] > 0 else NULL
    cdef const double* mp = &mean[0] if mean.shape[0] > 0 else NULL
    cdef const double* sp = &scale[0] if scale.shape[0] > 0 else NULL
    cdef Status status
    with nogil:
        status = gd_fit(M, &y[0], k, sw, &train_rows[0], train_rows.shape[0], vr,
                        val_rows.shape[0], mp, sp, P, S, loop.c)
    loop.reraise()
    return gd_state_out(status, S)


def gd_fit_csr(const floating[::1] data, const index_int[::1] indices, const index_int[::1] indptr,
               Py_ssize_t n_cols, const floating[::1] y, Py_ssize_t k,
               const floating[::1] sample_weight, const Py_ssize_t[::1] train_rows,
               const Py_ssize_t[::1] val_rows, const double[::1] mean, const double[::1] scale,
               double[::1] coef, double[::1] intercept, double[::1] m1, double[::1] m2,
               double[::1] avg, dict params, dict state, Loop loop):
    """Descent epochs over a CSR matrix."""
    require(indptr.shape[0] >= 1 and indices.shape[0] == data.shape[0], "CSR arrays")
    cdef CsrMatrix[floating, index_int] M = csr_view(data, indices, indptr, n_cols)
    gd_require(M.n_rows, n_cols, k, y, sample_weight, train_rows, val_rows, mean, scale, coef,
               intercept, m1, m2, avg)
    cdef GdParams P = gd_params(params)
    cdef GdState S
    gd_state_in(S, state, coef, intercept, m1, m2, avg)
    cdef const floating* sw = NULL
    if sample_weight is not None and sample_weight.shape[0] > 0:
        sw = &sample_weight[0]
    cdef const Py_ssize_t* vr = &val_rows[0] if val_rows.shape[0] > 0 else NULL
    cdef const double* mp = &mean[0] if mean.shape[0] > 0 else NULL
    cdef const double* sp = &scale[0] if scale.shape[0] > 0 else NULL
    cdef Status status
    with nogil:
        status = gd_fit(M, &y[0], k, sw, &train_rows[0], train_rows.shape[0], vr,
                        val_rows.shape[0], mp, sp, P, S, loop.c)
    loop.reraise()
    return gd_state_out(status, S)


# ---------------------------------------------------------------- optimizer steps
# Each returns True when applied, False when the update would have written a
# non-finite value (then nothing was written).

def step_sgd(floating[::1] theta, const floating[::1] g, double lr):
    """theta -= lr g, in place."""
    require(theta.shape[0] == g.shape[0], "optimizer step")
    cdef bint ok = True
    if theta.shape[0] == 0:
        return True
    with nogil:
        ok = checked_sgd(&theta[0], &g[0], theta.shape[0], lr)
    return bool(ok)


def step_momentum(floating[::1] theta, const floating[::1] g, floating[::1] v, double lr,
                  double beta, bint nesterov):
    """Heavy-ball or Nesterov momentum step, in place."""
    require(theta.shape[0] == g.shape[0] == v.shape[0], "optimizer step")
    cdef bint ok = True
    if theta.shape[0] == 0:
        return True
    with nogil:
        ok = checked_momentum(&theta[0], &g[0], &v[0], theta.shape[0], lr, beta, nesterov)
    return bool(ok)


def step_adagrad(floating[::1] theta, const floating[::1] g, floating[::1] sum_sq, double lr,
                 double eps):
    """Adagrad step, in place."""
    require(theta.shape[0] == g.shape[0] == sum_sq.shape[0], "optimizer step")
    cdef bint ok = True
    if theta.shape[0] == 0:
        return True
    with nogil:
        ok = checked_adagrad(&theta[0], &g[0], &sum_sq[0], theta.shape[0], lr, eps)
    return bool(ok)


def step_rmsprop(floating[::1] theta, const floating[::1] g, floating[::1] mean_sq, double lr,
                 double rho, double eps):
    """RMSprop step, in place."""
    require(theta.shape[0] == g.shape[0] == mean_sq.shape[0], "optimizer step")
    cdef bint ok = True
    if theta.shape[0] == 0:
        return True
    with nogil:
        ok = checked_rmsprop(&theta[0], &g[0], &mean_sq[0], theta.shape[0], lr, rho, eps)
    return bool(ok)


def step_adam(floating[::1] theta, const floating[::1] g, floating[::1] m, floating[::1] v,
              double lr, double beta_1, double beta_2, double eps, double step,
              double weight_decay):
    """Adam / AdamW step, in place."""
    require(theta.shape[0] == g.shape[0] == m.shape[0] == v.shape[0], "optimizer step")
    cdef bint ok = True
    if theta.shape[0] == 0:
        return True
    with nogil:
        ok = checked_adam(&theta[0], &g[0], &m[0], &v[0], theta.shape[0], lr, beta_1, beta_2, eps,
                          step, weight_decay)
    return bool(ok)
