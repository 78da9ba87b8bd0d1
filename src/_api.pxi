# Part of gdfast._core (included by _core.pyx): the C++ declarations the
# binding uses, from src/include/gdfast/api.hpp.

cdef extern from "gdfast/gdfast.hpp" namespace "gdfast" nogil:
    ctypedef Py_ssize_t index_t

    cdef enum Status:
        status_ok
        status_nonfinite
        status_interrupted
        status_diverged
        status_input_nonfinite

    cdef cppclass NamedCode:
        const char* name
        int code

    cdef cppclass CodeTable:
        const NamedCode* items
        int size

    CodeTable code_table(const string& family)
    int csr_defect(const MatrixView& v, index_t stored, index_t* where, cbool* canonical)

    cdef enum class Element(int):
        float32
        float64

    cdef enum class OptimizerKind(int):
        sgd

    int state_arrays(OptimizerKind kind)

    cdef cppclass MatrixView:
        cbool csr
        Element element
        cbool wide_indices
        const void* data
        const void* indices
        const void* indptr
        index_t n_rows
        index_t n_cols
        index_t row_stride
        index_t col_stride

    cdef cppclass Loss:
        pass

    Loss make_loss(int kind, double epsilon, double derivative_clip)

    cdef cppclass EpochInfo:
        int epoch
        double objective
        double mean_loss
        double coef_norm
        index_t coef_nonzeros
        double intercept
        double updates
        double step_size
        cbool has_validation
        double validation_score

    cdef cppclass Callbacks:
        void* context
        int (*interrupted)(void*) noexcept nogil
        void (*epoch_end)(void*, const EpochInfo&) noexcept nogil
        int (*remote_pass)(void*, const double*, const double*, index_t, int, int, double*, double*,
                           double*) noexcept nogil
        double (*remote_score)(void*, const double*, const double*) noexcept nogil

    cdef cppclass FitRecord:
        vector[double] objectives
        vector[double] validation_scores
        int n_iter
        int failed_epoch
        double failed_objective
        double final_loss
        double row_sq_norm_max
        double target_abs_max

    cdef cppclass FieldSet:
        int set(const string& name, double value)
        int get(const string& name, double* value)
        vector[string] names()
        void* address()

    FieldSet* new_field_set(const string& kind)

    cdef cppclass CppOptimizerHyper "gdfast::OptimizerHyper":
        double momentum
        double beta_1
        double beta_2
        double rho
        double eps

    cdef cppclass CppSgdParams "gdfast::SgdParams":
        pass

    cdef cppclass CppSgdState "gdfast::SgdState":
        double* coef
        double* avg_coef
        FitRecord record

    cdef cppclass CppGdParams "gdfast::GdParams":
        pass

    cdef cppclass CppGdState "gdfast::GdState":
        double* coef
        double* intercept
        double* m1
        double* m2
        double* avg
        FitRecord record

    Status loss_grad_kernel(const MatrixView& X, const void* y, const void* sample_weight,
                            const double* W, const double* b, index_t k, const Loss& loss,
                            int n_threads, double* loss_out, double* G, double* gb) except +
    Status predict_kernel(const MatrixView& X, const double* W, const double* b, index_t k,
                          int n_threads, void* out) except +
    void column_stats_kernel(const MatrixView& X, const void* sample_weight, int n_threads,
                             double* mean, double* var) except +
    cdef cppclass RowNormStats:
        double mean
        double max
    RowNormStats row_norm_stats_kernel(const MatrixView& X, int n_threads) except +
    Status sgd_fit_kernel(const MatrixView& X, const void* y, const void* sample_weight,
                          const uint8_t* validation, const CppSgdParams& P, CppSgdState& S,
                          const Callbacks& cb) except +
    cdef cppclass MonitorHandle "gdfast::MonitorHandle":
        MonitorHandle(const CppSgdParams& P, const Callbacks& cb, cbool has_validation)
        MonitorHandle(const CppGdParams& P, const Callbacks& cb, cbool has_validation)
        int epoch_end(int epoch, double objective, cbool finite, cbool can_shrink,
                      double score) except +
        const FitRecord& record()

    cdef cppclass GivenData "gdfast::GivenData":
        double total
        const double* zbar
        const double* C
        cbool remote
        double weight_total
        double mean_row_sq_norm

    Status gd_fit_kernel(const MatrixView& X, const void* y, index_t k, const void* sample_weight,
                         const index_t* train_rows, index_t n_train, const index_t* val_rows,
                         index_t n_val, double* mean, double* scale,
                         const CppGdParams& P, CppGdState& S, const Callbacks& cb,
                         const GivenData* given) except +
    double comoments_kernel(const MatrixView& X, const void* y, index_t k, const void* sample_weight,
                            int n_threads, double* zbar, double* C) except +
    double merge_comoments_kernel(double wp, const double* mp, const double* Cp, index_t q,
                                  double total, double* zbar, double* C) except +
    cbool optimizer_step_kernel(Element element, OptimizerKind kind, void* theta, const void* g,
                                void* s1, void* s2, index_t n, double lr, const CppOptimizerHyper& h,
                                double step, double weight_decay)
    double mean_constant_loss_kernel(int kind, double epsilon, const double* y, index_t n,
                                     index_t k, const double* c)
    double loss_curvature(int kind)
    bint loss_is_margin(int kind)
    index_t loss_target_columns(int kind, index_t k)
    void standardize_from_stats(index_t p, cbool center, double* mean, double* var)
    double read_sum_kernel(Element element, const void* x, index_t n, int n_threads)
    cbool all_finite_kernel(Element element, const void* x, index_t n)
    cbool none_negative_kernel(Element element, const void* x, index_t n)

    cbool openmp_enabled()
    int simd_level_code()
    int cpu_simd_level_code()
    void set_simd_cap(int)
    int default_threads()
    int available_cores()
    int resolve_threads(int n_jobs)
