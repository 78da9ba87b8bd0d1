// What the binding calls: one entry point per kernel over a MatrixView (the
// dtype and layout of X decided once, at run time), the parameter structs
// exposed by name, and the code tables of every enum.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "gd.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "penalty.hpp"
#include "schedule.hpp"
#include "sgd.hpp"
#include "stats.hpp"
#include "stream.hpp"

namespace gdfast {

// ---------------------------------------------------------------- code tables

// The table of `family` ("loss", "penalty", "schedule", "optimizer"), or an
// empty table for an unknown name.
inline CodeTable code_table(const std::string& family) {
    if (family == "loss") return make_code_table(loss_names);
    if (family == "penalty") return make_code_table(penalty_names);
    if (family == "schedule") return make_code_table(schedule_names);
    if (family == "optimizer") return make_code_table(optimizer_names);
    if (family == "simd") return make_code_table(simd_level_names);
    return CodeTable{nullptr, 0};
}

// The SIMD level the kernels run at now, and the best this CPU has.
inline int simd_level_code() { return static_cast<int>(simd_level()); }
inline int cpu_simd_level_code() { return static_cast<int>(cpu_simd_level()); }

// ---------------------------------------------------------------- matrix view

enum class Element : int { float32 = 0, float64 = 1 };

// X as the binding found it: dense with element strides (C, Fortran or any
// other order), or CSR with 32- or 64-bit indices. Built once per call, after
// validation; visit() hands a kernel the typed matrix.
struct MatrixView {
    bool csr = false;
    Element element = Element::float64;
    bool wide_indices = false;  // CSR: int64 indices and indptr (else int32)
    const void* data = nullptr;
    const void* indices = nullptr;
    const void* indptr = nullptr;
    index_t n_rows = 0;
    index_t n_cols = 0;
    index_t row_stride = 0;  // dense: elements between X[i, j] and X[i + 1, j]
    index_t col_stride = 0;
};

template <class T>
DenseMatrix<T> dense_of(const MatrixView& v) {
    return DenseMatrix<T>{static_cast<const T*>(v.data), v.n_rows, v.n_cols, v.row_stride, v.col_stride};
}

template <class T, class I>
CsrMatrix<T, I> csr_of(const MatrixView& v) {
    return CsrMatrix<T, I>{static_cast<const T*>(v.data), static_cast<const I*>(v.indices),
                           static_cast<const I*>(v.indptr), v.n_rows, v.n_cols};
}

// Why the kernels cannot trust a CSR view (they index with it unchecked):
// 0 when they can. *where is the offending row (indptr) or stored entry (indices).
enum CsrDefect : int {
    csr_ok = 0,
    csr_indptr_start = 1,       // indptr[0] != 0
    csr_indptr_decreasing = 2,  // indptr[i + 1] < indptr[i]
    csr_indptr_overrun = 3,     // indptr[n_rows] > the stored entries
    csr_index_range = 4,        // a column index outside [0, n_cols)
};

// One pass over the indices, in blocks of 4096 whose checks are branch-free
// (they vectorize): a block with an offender is read again for its place.
// *canonical (when no defect): every row's indices strictly increase, i.e.
// sorted and free of duplicates, scipy's canonical format.
template <class I>
int csr_defect_of(const I* indptr, const I* indices, index_t n_rows, index_t n_cols, index_t stored,
                  index_t* where, bool* canonical) {
    if (indptr[0] != 0) return *where = 0, csr_indptr_start;
    bool decreasing = false;
    for (index_t i = 0; i < n_rows; ++i) decreasing |= indptr[i + 1] < indptr[i];
    if (decreasing)
        for (index_t i = 0; i < n_rows; ++i)
            if (indptr[i + 1] < indptr[i]) return *where = i, csr_indptr_decreasing;
    const index_t nnz = static_cast<index_t>(indptr[n_rows]);
    if (nnz > stored) return *where = n_rows, csr_indptr_overrun;
    // Unsigned, a negative index is out of range too; a 32-bit index below
    // 2^31 is within any n_cols of 2^31 or more.
    using U = std::make_unsigned_t<I>;
    const U limit = static_cast<U>(std::min<std::uint64_t>(static_cast<std::uint64_t>(n_cols),
                                                           static_cast<std::uint64_t>(std::numeric_limits<I>::max()) + 1));
    constexpr index_t block = 4096;
    index_t not_increasing = 0;  // adjacent pairs q-1, q with indices[q] <= indices[q-1], rows' boundaries included
    if (nnz > 0 && static_cast<U>(indices[0]) >= limit) return *where = 0, csr_index_range;
    for (index_t q0 = 1; q0 < nnz; q0 += block) {
        const index_t q1 = std::min(nnz, q0 + block);
        U outside = 0, down = 0;  // counts in the indices' own width: the loop vectorizes
        for (index_t q = q0; q < q1; ++q) {
            outside |= static_cast<U>(static_cast<U>(indices[q]) >= limit);
            down += static_cast<U>(indices[q] <= indices[q - 1]);
        }
        if (outside != 0)
            for (index_t q = q0; q < q1; ++q)
                if (static_cast<U>(indices[q]) >= limit) return *where = q, csr_index_range;
        not_increasing += static_cast<index_t>(down);
    }
    // The pairs across a boundary (a row's first entry and the one before it)
    // do not count.
    for (index_t i = 0; i < n_rows; ++i) {
        const index_t p = static_cast<index_t>(indptr[i]);
        if (p > 0 && p < static_cast<index_t>(indptr[i + 1])) not_increasing -= indices[p] <= indices[p - 1];
    }
    *canonical = not_increasing == 0;
    return csr_ok;
}

// The defect of a CSR view with `stored` entries in data and indices.
inline int csr_defect(const MatrixView& v, index_t stored, index_t* where, bool* canonical) {
    if (v.wide_indices)
        return csr_defect_of(static_cast<const std::int64_t*>(v.indptr), static_cast<const std::int64_t*>(v.indices),
                             v.n_rows, v.n_cols, stored, where, canonical);
    return csr_defect_of(static_cast<const std::int32_t*>(v.indptr), static_cast<const std::int32_t*>(v.indices),
                         v.n_rows, v.n_cols, stored, where, canonical);
}

// f(M) with M the typed matrix behind the view.
template <class F>
decltype(auto) visit(const MatrixView& v, F&& f) {
    if (!v.csr) {
        if (v.element == Element::float32) return f(dense_of<float>(v));
        return f(dense_of<double>(v));
    }
    if (v.element == Element::float32) {
        if (v.wide_indices) return f(csr_of<float, std::int64_t>(v));
        return f(csr_of<float, std::int32_t>(v));
    }
    if (v.wide_indices) return f(csr_of<double, std::int64_t>(v));
    return f(csr_of<double, std::int32_t>(v));
}

// ---------------------------------------------------------------- kernels
// Arrays typed `void` hold X's element type (float or double).

inline Status loss_grad_kernel(const MatrixView& X, const void* y, const void* sample_weight, const double* W,
                               const double* b, index_t k, const Loss& loss, int n_threads, double* loss_out,
                               double* G, double* gb) {
    return visit(X, [&](const auto& M) {
        using T = typename std::decay_t<decltype(M)>::value_type;
        LossGradWorkspace ws;
        return loss_grad(M, RowSet{nullptr, M.n_rows}, static_cast<const T*>(y),
                         static_cast<const T*>(sample_weight), W, b, k, loss, n_threads, ws, loss_out, G, gb);
    });
}

inline Status predict_kernel(const MatrixView& X, const double* W, const double* b, index_t k, int n_threads,
                             void* out) {
    return visit(X, [&](const auto& M) {
        using T = typename std::decay_t<decltype(M)>::value_type;
        return predict(M, W, b, k, n_threads, static_cast<T*>(out));
    });
}

inline void column_stats_kernel(const MatrixView& X, const void* sample_weight, int n_threads, double* mean,
                                double* var) {
    visit(X, [&](const auto& M) {
        using T = typename std::decay_t<decltype(M)>::value_type;
        column_stats(M, RowSet{nullptr, M.n_rows}, static_cast<const T*>(sample_weight), n_threads, mean, var);
    });
}

// Mean and max over the rows of X of ||x_i||^2 (NaN in X: a NaN mean).
inline RowNormStats row_norm_stats_kernel(const MatrixView& X, int n_threads) {
    return visit(X, [&](const auto& M) {
        return row_sq_norm_stats(M, RowSet{nullptr, M.n_rows}, nullptr, nullptr, n_threads);
    });
}

inline Status sgd_fit_kernel(const MatrixView& X, const void* y, const void* sample_weight,
                             const std::uint8_t* validation, const SgdParams& P, SgdState& S, const Callbacks& cb) {
    return visit(X, [&](const auto& M) {
        using T = typename std::decay_t<decltype(M)>::value_type;
        return sgd_fit(M, static_cast<const T*>(y), static_cast<const T*>(sample_weight), validation, P, S, cb);
    });
}

inline Status gd_fit_kernel(const MatrixView& X, const void* y, index_t k, const void* sample_weight,
                            const index_t* train_rows, index_t n_train, const index_t* val_rows, index_t n_val,
                            double* mean, double* scale, const GdParams& P, GdState& S,
                            const Callbacks& cb, const GivenData* given) {
    return visit(X, [&](const auto& M) {
        using T = typename std::decay_t<decltype(M)>::value_type;
        return gd_fit(M, static_cast<const T*>(y), k, static_cast<const T*>(sample_weight), train_rows, n_train,
                      val_rows, n_val, mean, scale, P, S, cb, given);
    });
}

// The epoch monitor for loops driven from Python (the distributed layer's
// rounds): each epoch's objective in, what the driver does next out (-1: go
// on; -2: the adaptive schedule shrinks the step fivefold and goes on; else
// the status the fit ends with). Blow-ups are judged at the end.
class MonitorHandle {
   public:
    MonitorHandle(const FitSettings& P, const Callbacks& cb, bool has_validation)
        : rule_(P.stop), cb_(cb),
          monitor_(rule_, cb_, record_, has_validation, P.schedule.kind == ScheduleKind::adaptive) {}
    // `score`: the validation R^2 of the epoch's model (early stopping).
    int epoch_end(int epoch, double objective, bool finite, bool can_shrink, double score) {
        EpochAction action = monitor_.check(epoch, objective, finite, [] { return false; });
        if (action == EpochAction::proceed)
            action = monitor_.progress(epoch, objective, score, can_shrink, false, [](EpochInfo&) {});
        if (action == EpochAction::shrink_step) return -2;
        return ends_fit(action) ? static_cast<int>(status_of(action)) : -1;
    }
    const FitRecord& record() const { return record_; }

   private:
    StopRule rule_;
    Callbacks cb_;
    FitRecord record_;
    EpochMonitor monitor_;
};

// Total weight, means zbar (q = p + k) and centered co-moments C (q x q) of
// [X, y] over all rows: the partial result a chunk of rows contributes.
inline double comoments_kernel(const MatrixView& X, const void* y, index_t k, const void* sample_weight,
                               int n_threads, double* zbar, double* C) {
    return visit(X, [&](const auto& M) {
        using T = typename std::decay_t<decltype(M)>::value_type;
        PassPoll poll;
        return centered_comoments(M, RowSet{nullptr, M.n_rows}, static_cast<const T*>(y), k,
                                  static_cast<const T*>(sample_weight), n_threads, poll, zbar, C);
    });
}

// Adds part (wp, mp, Cp) to (total, zbar, C), all q-wide and C, Cp full
// symmetric: the co-moments of the union of the two sets of rows.
inline double merge_comoments_kernel(double wp, const double* mp, const double* Cp, index_t q, double total,
                                     double* zbar, double* C) {
    std::vector<double> delta(static_cast<std::size_t>(q));
    if (total <= 0.0) {
        std::copy(mp, mp + q, zbar);
        std::copy(Cp, Cp + q * q, C);
        return wp;
    }
    merge_comoments(wp, mp, Cp, q, q, total, zbar, C, delta.data());
    for (index_t a = 0; a < q; ++a)
        for (index_t b = 0; b < a; ++b) C[a * q + b] = C[b * q + a];
    return total;
}

// The fused optimizer step on n parameters of `element` type, refused (false,
// nothing written) when a new value would not be finite.
inline bool optimizer_step_kernel(Element element, OptimizerKind kind, void* theta, const void* g, void* s1,
                                  void* s2, index_t n, double lr, const OptimizerHyper& h, double step,
                                  double weight_decay) {
    if (element == Element::float32)
        return checked_apply(kind, static_cast<float*>(theta), static_cast<const float*>(g), static_cast<float*>(s1),
                             static_cast<float*>(s2), n, lr, h, step, weight_decay);
    return checked_apply(kind, static_cast<double*>(theta), static_cast<const double*>(g), static_cast<double*>(s1),
                         static_cast<double*>(s2), n, lr, h, step, weight_decay);
}

inline double mean_constant_loss_kernel(int kind, double epsilon, const double* y, index_t n, index_t k,
                                        const double* c) {
    if (is_row_loss(static_cast<LossKind>(kind))) return std::nan("");  // not elementwise
    return mean_constant_loss(make_loss(kind, epsilon), y, n, k, c);
}

// sup l'' of a loss (0: not smooth).
inline double loss_curvature(int kind) { return make_loss(kind, 0.0).max_curvature(); }

// Whether a loss is a margin (classification) loss, of labels +1/-1.
inline bool loss_is_margin(int kind) { return is_margin_loss(static_cast<LossKind>(kind)); }

// The columns of y for k outputs of a loss (1 for a row loss: class indices).
inline index_t loss_target_columns(int kind, index_t k) { return target_columns(static_cast<LossKind>(kind), k); }

inline bool all_finite_kernel(Element element, const void* x, index_t n) {
    if (element == Element::float32) return all_finite(static_cast<const float*>(x), n);
    return all_finite(static_cast<const double*>(x), n);
}

inline bool none_negative_kernel(Element element, const void* x, index_t n) {
    if (element == Element::float32) return none_negative(static_cast<const float*>(x), n);
    return none_negative(static_cast<const double*>(x), n);
}

inline double read_sum_kernel(Element element, const void* x, index_t n, int n_threads) {
    if (element == Element::float32) return stream_sum(static_cast<const float*>(x), n, n_threads);
    return stream_sum(static_cast<const double*>(x), n, n_threads);
}

// ---------------------------------------------------------------- parameter structs by name

// One parameter struct, readable and writable by field name through its static
// fields(self, visitor). Values travel as doubles; integer, boolean and enum
// fields refuse what they cannot hold exactly.
class FieldSet {
   public:
    enum Result : int { ok = 0, unknown = 1, not_representable = 2 };
    enum Kind : int { missing = -1, real = 0, integer = 1, boolean = 2 };

    virtual ~FieldSet() = default;
    virtual int set(const std::string& name, double value) = 0;
    virtual int get(const std::string& name, double* value) const = 0;  // returns a Kind
    virtual std::vector<std::string> names() const = 0;
    virtual void* address() = 0;
};

template <class S>
class FieldSetOf final : public FieldSet {
   public:
    S value{};

    int set(const std::string& name, double v) override {
        int result = unknown;
        S::fields(value, [&](const char* field_name, auto& field) {
            if (name == field_name) result = assign(field, v) ? ok : not_representable;
        });
        return result;
    }

    int get(const std::string& name, double* out) const override {
        int kind = missing;
        S::fields(value, [&](const char* field_name, const auto& field) {
            if (name != field_name) return;
            using F = std::decay_t<decltype(field)>;
            if constexpr (std::is_enum_v<F>) {
                *out = static_cast<double>(static_cast<int>(field));
                kind = integer;
            } else {
                *out = static_cast<double>(field);
                kind = std::is_same_v<F, bool> ? boolean : (std::is_floating_point_v<F> ? real : integer);
            }
        });
        return kind;
    }

    std::vector<std::string> names() const override {
        std::vector<std::string> out;
        S::fields(value, [&](const char* field_name, const auto&) { out.emplace_back(field_name); });
        return out;
    }

    void* address() override { return &value; }

   private:
    template <class F>
    static bool assign(F& field, double v) {
        if constexpr (std::is_floating_point_v<F>) {
            field = static_cast<F>(v);
            return true;
        } else if constexpr (std::is_same_v<F, bool>) {
            if (v != 0.0 && v != 1.0) return false;
            field = v != 0.0;
            return true;
        } else if constexpr (std::is_enum_v<F>) {
            if (!(v >= 0.0 && v <= 255.0) || v != std::floor(v)) return false;
            field = static_cast<F>(static_cast<int>(v));
            return true;
        } else {
            using L = std::numeric_limits<F>;
            if (!(v >= static_cast<double>(L::min()) && v < std::ldexp(1.0, L::digits)) || v != std::floor(v))
                return false;
            field = static_cast<F>(v);
            return true;
        }
    }
};

// A new struct of `kind` ("sgd_params", "sgd_state", "gd_params", "gd_state"),
// or nullptr.
inline FieldSet* new_field_set(const std::string& kind) {
    if (kind == "sgd_params") return new FieldSetOf<SgdParams>();
    if (kind == "sgd_state") return new FieldSetOf<SgdState>();
    if (kind == "gd_params") return new FieldSetOf<GdParams>();
    if (kind == "gd_state") return new FieldSetOf<GdState>();
    return nullptr;
}

}  // namespace gdfast
