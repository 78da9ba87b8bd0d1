// Row-level primitives shared by every kernel: dot products of a row of X with a
// double vector and the scaled addition of a row into a double vector, for dense
// (any strides) and CSR rows. Element type T is float or double; arithmetic is
// always double.
#pragma once

#include "common.hpp"

namespace gdfast {

// sum_j x[j] * w[j] with eight independent partial sums, so the compiler can
// keep them in vector registers; the order is fixed, so the result is too.
template <class T>
GDFAST_INLINE double dot_contiguous(const T* x, const double* w, index_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int u = 0; u < 8; ++u) acc[u] += static_cast<double>(x[j + u]) * w[j + u];
    double s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; j < n; ++j) s += static_cast<double>(x[j]) * w[j];
    return s;
}

// Like dot_contiguous, also returning sum_j x[j]^2 in *sq_norm (one read of x).
template <class T>
GDFAST_INLINE double dot_and_sq_norm(const T* x, const double* w, index_t n, double* sq_norm) {
    double acc[4] = {0, 0, 0, 0};
    double sq[4] = {0, 0, 0, 0};
    index_t j = 0;
    for (; j + 4 <= n; j += 4)
        for (int u = 0; u < 4; ++u) {
            const double v = static_cast<double>(x[j + u]);
            acc[u] += v * w[j + u];
            sq[u] += v * v;
        }
    double s = (acc[0] + acc[2]) + (acc[1] + acc[3]);
    double q = (sq[0] + sq[2]) + (sq[1] + sq[3]);
    for (; j < n; ++j) {
        const double v = static_cast<double>(x[j]);
        s += v * w[j];
        q += v * v;
    }
    *sq_norm = q;
    return s;
}

template <class T>
GDFAST_INLINE double dot_strided(const T* x, index_t stride, const double* w, index_t n) {
    if (stride == 1) return dot_contiguous(x, w, n);
    double s = 0.0;
    for (index_t j = 0; j < n; ++j) s += static_cast<double>(x[j * stride]) * w[j];
    return s;
}

// g[j] += a * x[j]
template <class T>
GDFAST_INLINE void axpy_strided(double a, const T* x, index_t stride, double* g, index_t n) {
    if (stride == 1) {
        for (index_t j = 0; j < n; ++j) g[j] += a * static_cast<double>(x[j]);
    } else {
        for (index_t j = 0; j < n; ++j) g[j] += a * static_cast<double>(x[j * stride]);
    }
}

// out[r] = x_r . w for four rows at once: each load of w serves four rows. One
// simd partial sum per row (a fixed order for a given build); multiply-adds
// fused when Fma (the AVX2 build).
template <bool Fma, class T>
GDFAST_INLINE void dot_four_rows(const T* const x[4], const double* GDFAST_RESTRICT w, index_t n, double out[4]) {
    const T* GDFAST_RESTRICT x0 = x[0];
    const T* GDFAST_RESTRICT x1 = x[1];
    const T* GDFAST_RESTRICT x2 = x[2];
    const T* GDFAST_RESTRICT x3 = x[3];
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    GDFAST_SIMD_REDUCTION(a0, a1, a2, a3)
    for (index_t j = 0; j < n; ++j) {
        const double wj = w[j];
        a0 = mul_add<Fma>(static_cast<double>(x0[j]), wj, a0);
        a1 = mul_add<Fma>(static_cast<double>(x1[j]), wj, a1);
        a2 = mul_add<Fma>(static_cast<double>(x2[j]), wj, a2);
        a3 = mul_add<Fma>(static_cast<double>(x3[j]), wj, a3);
    }
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
}

// g += d[0] x_0 + d[1] x_1 + d[2] x_2 + d[3] x_3: one read and write of g for
// four rows.
template <bool Fma, class T>
GDFAST_INLINE void axpy_four_rows(const double d[4], const T* const x[4], double* GDFAST_RESTRICT g, index_t n) {
    const T* GDFAST_RESTRICT x0 = x[0];
    const T* GDFAST_RESTRICT x1 = x[1];
    const T* GDFAST_RESTRICT x2 = x[2];
    const T* GDFAST_RESTRICT x3 = x[3];
    const double d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
    for (index_t j = 0; j < n; ++j) {
        double v = mul_add<Fma>(d0, static_cast<double>(x0[j]), g[j]);
        v = mul_add<Fma>(d1, static_cast<double>(x1[j]), v);
        v = mul_add<Fma>(d2, static_cast<double>(x2[j]), v);
        g[j] = mul_add<Fma>(d3, static_cast<double>(x3[j]), v);
    }
}

// float32 rows: products and short partial sums in float lanes (twice the
// width of double), flushed into double every 64 features so the error does not
// grow with the row length. w is the coefficient vector rounded to float once.
template <bool Fma>
GDFAST_INLINE void dot_four_rows(const float* const x[4], const float* GDFAST_RESTRICT w, index_t n, double out[4]) {
    const float* GDFAST_RESTRICT x0 = x[0];
    const float* GDFAST_RESTRICT x1 = x[1];
    const float* GDFAST_RESTRICT x2 = x[2];
    const float* GDFAST_RESTRICT x3 = x[3];
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (index_t j0 = 0; j0 < n; j0 += 64) {
        const index_t j1 = std::min(n, j0 + 64);
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        GDFAST_SIMD_REDUCTION(a0, a1, a2, a3)
        for (index_t j = j0; j < j1; ++j) {
            const float wj = w[j];
            a0 = mul_add<Fma>(x0[j], wj, a0);
            a1 = mul_add<Fma>(x1[j], wj, a1);
            a2 = mul_add<Fma>(x2[j], wj, a2);
            a3 = mul_add<Fma>(x3[j], wj, a3);
        }
        s0 += a0;
        s1 += a1;
        s2 += a2;
        s3 += a3;
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

// float32 rows: the four-row combination in float, added to g in double.
template <bool Fma>
GDFAST_INLINE void axpy_four_rows(const double d[4], const float* const x[4], double* GDFAST_RESTRICT g, index_t n) {
    const float* GDFAST_RESTRICT x0 = x[0];
    const float* GDFAST_RESTRICT x1 = x[1];
    const float* GDFAST_RESTRICT x2 = x[2];
    const float* GDFAST_RESTRICT x3 = x[3];
    const float d0 = static_cast<float>(d[0]), d1 = static_cast<float>(d[1]);
    const float d2 = static_cast<float>(d[2]), d3 = static_cast<float>(d[3]);
    for (index_t j = 0; j < n; ++j) {
        float v = mul_add<Fma>(d1, x1[j], d0 * x0[j]);
        v = mul_add<Fma>(d2, x2[j], v);
        v = mul_add<Fma>(d3, x3[j], v);
        g[j] += static_cast<double>(v);
    }
}

// float32 rows into a float accumulator gf (flushed into double by the caller
// every few groups): gf += d[0] x_0 + ... + d[3] x_3, all in float lanes.
template <bool Fma>
GDFAST_INLINE void axpy_four_rows_float(const double d[4], const float* const x[4], float* GDFAST_RESTRICT gf,
                                        index_t n) {
    const float* GDFAST_RESTRICT x0 = x[0];
    const float* GDFAST_RESTRICT x1 = x[1];
    const float* GDFAST_RESTRICT x2 = x[2];
    const float* GDFAST_RESTRICT x3 = x[3];
    const float d0 = static_cast<float>(d[0]), d1 = static_cast<float>(d[1]);
    const float d2 = static_cast<float>(d[2]), d3 = static_cast<float>(d[3]);
    for (index_t j = 0; j < n; ++j) {
        float v = mul_add<Fma>(d0, x0[j], gf[j]);
        v = mul_add<Fma>(d1, x1[j], v);
        v = mul_add<Fma>(d2, x2[j], v);
        gf[j] = mul_add<Fma>(d3, x3[j], v);
    }
}

// g += gf (in double), gf = 0. A float partial sum that overflowed leaves an
// inf or NaN in g, which the caller checks once per block.
GDFAST_INLINE void flush_float_accumulator(float* GDFAST_RESTRICT gf, double* GDFAST_RESTRICT g, index_t n) {
    for (index_t j = 0; j < n; ++j) {
        g[j] += static_cast<double>(gf[j]);
        gf[j] = 0.0f;
    }
}

template <class T, class I>
GDFAST_INLINE double dot_sparse(const T* values, const I* idx, index_t nnz, const double* w) {
    double s = 0.0;
    for (index_t q = 0; q < nnz; ++q) s += static_cast<double>(values[q]) * w[idx[q]];
    return s;
}

template <class T, class I>
GDFAST_INLINE void axpy_sparse(double a, const T* values, const I* idx, index_t nnz, double* g) {
    for (index_t q = 0; q < nnz; ++q) g[idx[q]] += a * static_cast<double>(values[q]);
}

// One row of X as the per-sample loops see it: a dense row (pointer + stride)
// or the nonzeros of a CSR row. `dot` and `axpy` hide the difference.
template <class T>
struct DenseRow {
    const T* x;
    index_t stride;
    index_t n;

    GDFAST_INLINE double dot(const double* w) const { return dot_strided(x, stride, w, n); }
    GDFAST_INLINE void axpy(double a, double* g) const { axpy_strided(a, x, stride, g, n); }
};

template <class T, class I>
struct SparseRow {
    const T* values;
    const I* idx;
    index_t nnz;

    GDFAST_INLINE double dot(const double* w) const { return dot_sparse(values, idx, nnz, w); }
    GDFAST_INLINE void axpy(double a, double* g) const { axpy_sparse(a, values, idx, nnz, g); }
};

template <class T>
GDFAST_INLINE DenseRow<T> row_of(const DenseMatrix<T>& X, index_t i) {
    return DenseRow<T>{X.row(i), X.col_stride, X.n_cols};
}

template <class T, class I>
GDFAST_INLINE SparseRow<T, I> row_of(const CsrMatrix<T, I>& X, index_t i) {
    const index_t start = static_cast<index_t>(X.indptr[i]);
    const index_t stop = static_cast<index_t>(X.indptr[i + 1]);
    return SparseRow<T, I>{X.data + start, X.indices + start, stop - start};
}

// Start loading a row that will be read soon: shuffled rows are random accesses.
// Its first four cache lines and its last one: NumPy's data is 16 bytes past a
// line boundary, so a 256-byte row spans five lines, and a missed last line
// costs a full memory latency per sample. Beyond that, the hardware's stream
// prefetcher takes over. Straight-line code: GCC deletes a loop that only
// prefetches.
template <class T>
GDFAST_INLINE void prefetch_row(const DenseMatrix<T>& X, index_t i) {
    const char* p = reinterpret_cast<const char*>(X.row(i));
    const index_t bytes = X.n_cols * static_cast<index_t>(sizeof(T));
    if (bytes <= 0) return;
    prefetch(p);
    if (bytes > 64) prefetch(p + 64);
    if (bytes > 128) prefetch(p + 128);
    if (bytes > 192) prefetch(p + 192);
    prefetch(p + bytes - 1);
}

template <class T, class I>
GDFAST_INLINE void prefetch_row(const CsrMatrix<T, I>& X, index_t i) {
    const index_t start = static_cast<index_t>(X.indptr[i]);
    prefetch(X.data + start);
    prefetch(X.indices + start);
}

}  // namespace gdfast
