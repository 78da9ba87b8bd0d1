// Row norms: the squared norm of a row (dense or CSR; the passive-aggressive
// steps take it too), four dense rows' at once for bounds, and the extent of a
// set of rows (their largest squared norm and target magnitude), which bounds a
// linear model's loss over them.
#pragma once

#include <cmath>
#include <limits>

#include "common.hpp"
#include "rowops.hpp"

namespace gdfast {

template <class T>
GDFAST_INLINE double row_sq_norm(const DenseRow<T>& x) {
    double s = 0.0;
    for (index_t j = 0; j < x.n; ++j) s += static_cast<double>(x.x[j * x.stride]) * static_cast<double>(x.x[j * x.stride]);
    return s;
}

template <class T, class I>
GDFAST_INLINE double row_sq_norm(const SparseRow<T, I>& x) {
    double s = 0.0;
    for (index_t q = 0; q < x.nnz; ++q) s += static_cast<double>(x.values[q]) * static_cast<double>(x.values[q]);
    return s;
}

// sum_j x[j]^2 in whatever order is fastest: for bounds, never for an update.
template <class T>
GDFAST_INLINE double sq_norm_any_order(const DenseRow<T>& x) {
    return x.stride == 1 ? dot_contiguous(x.x, x.x, x.n) : row_sq_norm(x);
}

template <class T, class I>
GDFAST_INLINE double sq_norm_any_order(const SparseRow<T, I>& x) {
    return row_sq_norm(x);
}

// The largest squared norm and target magnitude of the rows seen, and whether
// every one was finite: over every row of X they bound a linear model's
// residuals, so its loss, without a pass (regression_loss_bound in
// gdfast/_divergence.py).
struct RowExtent {
    double row_sq_norm_max = 0.0;
    double target_abs_max = 0.0;
    bool finite = true;

    template <class Row>
    GDFAST_INLINE void add_row(const Row& x) {
        add_sq_norm(sq_norm_any_order(x));
    }
    GDFAST_INLINE void add_sq_norm(double sq) {
        finite = finite & (sq <= std::numeric_limits<double>::max());  // (sq >= 0)
        row_sq_norm_max = std::max(row_sq_norm_max, sq);
    }
    // Branch-free (a loop over targets vectorizes): not finite is NaN or inf.
    GDFAST_INLINE void add_target(double y) {
        const double ya = std::fabs(y);
        finite = finite & (ya <= std::numeric_limits<double>::max());
        target_abs_max = std::max(target_abs_max, ya);
    }
    template <class Row>
    GDFAST_INLINE void add(const Row& x, double y) {
        add_row(x);
        add_target(y);
    }
    GDFAST_INLINE void merge(const RowExtent& o) {
        finite = finite && o.finite;
        row_sq_norm_max = std::max(row_sq_norm_max, o.row_sq_norm_max);
        target_abs_max = std::max(target_abs_max, o.target_abs_max);
    }
};

// Adds the rows at positions [r0, r1) of `rows` to e: best while they are in
// cache (just read). Multiversioned for the drivers, which are compiled for the
// baseline. Their targets: add_targets_to_extent, once.
template <class Matrix>
GDFAST_INLINE void add_rows_to_extent_impl(const Matrix& X, const RowSet& rows, index_t r0, index_t r1,
                                           RowExtent& e) {
    RowExtent local = e;  // not reloaded through e for every row
    for (index_t r = r0; r < r1; ++r) local.add_row(row_of(X, rows[r]));
    e = local;
}
GDFAST_MULTIVERSION(add_rows_to_extent)

// Adds the ky targets (y is n x ky) of the rows of `rows` to e, in one pass:
// mini-batch epochs measure their rows as the passes read them and the targets
// here, after the epoch (per row, inside the pass, they had cost a shuffled
// 200,000-row epoch about 0.5 ms on Zen 4).
template <class T>
inline void add_targets_to_extent(const T* y, index_t ky, const RowSet& rows, RowExtent& e) {
    RowExtent local = e;  // not reloaded through e for every target
    if (rows.rows == nullptr) {
        for (index_t q = 0; q < rows.count * ky; ++q) local.add_target(static_cast<double>(y[q]));
    } else {
        for (index_t r = 0; r < rows.count; ++r)
            for (index_t t = 0; t < ky; ++t) local.add_target(static_cast<double>(y[rows.rows[r] * ky + t]));
    }
    e = local;
}

// out[r] = ||x_r||^2 for four rows at once (for bounds: any order). Avx2: the
// caller is the AVX2 clone.
#if GDFAST_X86_CLONES
GDFAST_AVX2 inline void sq_norms_four_rows_avx2(const double* const x[4], index_t n, double out[4]) {
    __m256d a[4], c[4];
    for (int u = 0; u < 4; ++u) a[u] = c[u] = _mm256_setzero_pd();
    index_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int u = 0; u < 4; ++u) {
            const __m256d lo = _mm256_loadu_pd(x[u] + j), hi = _mm256_loadu_pd(x[u] + j + 4);
            a[u] = _mm256_fmadd_pd(lo, lo, a[u]);
            c[u] = _mm256_fmadd_pd(hi, hi, c[u]);
        }
    for (; j + 4 <= n; j += 4)
        for (int u = 0; u < 4; ++u) {
            const __m256d v = _mm256_loadu_pd(x[u] + j);
            a[u] = _mm256_fmadd_pd(v, v, a[u]);
        }
    _mm256_storeu_pd(out, sum_four_rows_avx2(_mm256_add_pd(a[0], c[0]), _mm256_add_pd(a[1], c[1]),
                                             _mm256_add_pd(a[2], c[2]), _mm256_add_pd(a[3], c[3])));
    for (; j < n; ++j)
        for (int u = 0; u < 4; ++u) out[u] += x[u][j] * x[u][j];
}
#endif

template <bool Avx2, class T>
GDFAST_INLINE void sq_norms_four_rows(const T* const x[4], index_t n, double out[4]) {
#if GDFAST_X86_CLONES
    if constexpr (Avx2 && std::is_same_v<T, double>) return sq_norms_four_rows_avx2(x, n, out);
#endif
    for (int u = 0; u < 4; ++u) out[u] = dot_contiguous(x[u], x[u], n);
}

// dot_four_rows, and the rows' squared norms (sq_norms_four_rows' values, in
// any order): from the same loads for double rows in the AVX2 build, where a
// measuring pass would otherwise read each group of rows twice.
template <bool Fma, class T, class U>
GDFAST_INLINE void dot_and_norms_four_rows(const T* const x[4], const U* w, index_t n, double out[4], double sq[4]) {
#if GDFAST_X86_CLONES
    if constexpr (Fma && std::is_same_v<T, double>) return dot_four_rows_avx2<true>(x, w, n, out, sq);
#endif
    dot_four_rows<Fma>(x, w, n, out);
    sq_norms_four_rows<Fma>(x, n, sq);
}

// x . w, with x and its target y added to the extent from the same loads of x
// (the same values as x.dot(w) and e.add(x, y)). A per-sample epoch measuring
// in a read of its own took 20-25% longer on shuffled rows (Zen 4).
template <class T>
GDFAST_INLINE double dot_measuring(const DenseRow<T>& x, const double* w, double y, RowExtent& e) {
    if (x.stride != 1) {
        e.add(x, y);
        return x.dot(w);
    }
    double sq;
    const double d = dot_and_sq_norm(x.x, w, x.n, &sq);
    e.add_sq_norm(sq);
    e.add_target(y);
    return d;
}

template <class T, class I>
GDFAST_INLINE double dot_measuring(const SparseRow<T, I>& x, const double* w, double y, RowExtent& e) {
    double d = 0.0, sq = 0.0;
    for (index_t q = 0; q < x.nnz; ++q) {
        const double v = static_cast<double>(x.values[q]);
        d += v * w[x.idx[q]];
        sq += v * v;
    }
    e.add_sq_norm(sq);
    e.add_target(y);
    return d;
}

}  // namespace gdfast
