// Row-level primitives shared by every kernel: dot products of a row of X with a
// double vector and the scaled addition of a row into a double vector, for dense
// (any strides) and CSR rows. Element type T is float or double; arithmetic is
// always double.
#pragma once

#include <cstdint>
#include <type_traits>

#include "common.hpp"

#if GDFAST_X86_CLONES
#include <immintrin.h>
#endif

namespace gdfast {

// Vectors of W doubles (GCC/Clang vector extensions): the register blocks of
// the co-moment update are written once for every width and compiled to SSE2,
// AVX2 or AVX-512 by the build they are in. Loads and stores are unaligned.
// They only pass between always-inlined functions, so GCC's -Wpsabi note (such
// a vector by value between functions of different ISAs changes the ABI) does
// not apply: CMakeLists.txt turns it off.
typedef double vdouble2 __attribute__((vector_size(16)));
typedef double vdouble4 __attribute__((vector_size(32)));
typedef double vdouble8 __attribute__((vector_size(64)));
template <int W>
struct vdouble_of;
template <>
struct vdouble_of<2> {
    using type = vdouble2;
};
template <>
struct vdouble_of<4> {
    using type = vdouble4;
};
template <>
struct vdouble_of<8> {
    using type = vdouble8;
};

template <class V>
GDFAST_INLINE V vload(const double* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof(V));
    return v;
}

template <class V>
GDFAST_INLINE V vbroadcast(double s) {
    V v;
    for (unsigned u = 0; u < sizeof(V) / sizeof(double); ++u) v[u] = s;
    return v;
}

template <class V>
GDFAST_INLINE void vstore(double* p, V v) {
    __builtin_memcpy(p, &v, sizeof(V));
}

// a * b + c lane by lane, fused (one rounding) when Fma, as mul_add is.
#if GDFAST_X86_CLONES
GDFAST_AVX2 inline vdouble4 vfused(vdouble4 a, vdouble4 b, vdouble4 c) {
    return reinterpret_cast<vdouble4>(_mm256_fmadd_pd(reinterpret_cast<__m256d>(a), reinterpret_cast<__m256d>(b),
                                                      reinterpret_cast<__m256d>(c)));
}
GDFAST_AVX512 inline vdouble8 vfused(vdouble8 a, vdouble8 b, vdouble8 c) {
    return reinterpret_cast<vdouble8>(_mm512_fmadd_pd(reinterpret_cast<__m512d>(a), reinterpret_cast<__m512d>(b),
                                                      reinterpret_cast<__m512d>(c)));
}
#endif

// *p in every lane. The x86 builds broadcast straight from memory (a load-port
// operation): the compiler would otherwise load four neighbours as a vector and
// permute them on the shuffle ports the multiply-adds need.
#if GDFAST_X86_CLONES
GDFAST_AVX2 inline vdouble4 vbroadcast_from(const double* p, vdouble4*) {
    return reinterpret_cast<vdouble4>(_mm256_broadcast_sd(p));
}
GDFAST_AVX512 inline vdouble8 vbroadcast_from(const double* p, vdouble8*) {
    return reinterpret_cast<vdouble8>(_mm512_set1_pd(*p));
}
#endif

template <class V>
GDFAST_INLINE V vbroadcast_from(const double* p) {
#if GDFAST_X86_CLONES
    if constexpr (sizeof(V) >= 32) return vbroadcast_from(p, static_cast<V*>(nullptr));
#endif
    return vbroadcast<V>(*p);
}

template <bool Fma, class V>
GDFAST_INLINE V vmul_add(V a, V b, V c) {
    if constexpr (Fma) {
#if GDFAST_X86_CLONES
        if constexpr (sizeof(V) >= 32) return vfused(a, b, c);
#endif
        for (unsigned u = 0; u < sizeof(V) / sizeof(double); ++u) c[u] = std::fma(a[u], b[u], c[u]);
        return c;
    } else {
        return a * b + c;
    }
}

// Four consecutive elements of a row of T as doubles.
template <class T>
GDFAST_INLINE vdouble4 vload4(const T* x) {
    if constexpr (std::is_same_v<T, double>) {
        return vload<vdouble4>(x);
    } else {
        typedef float vfloat4 __attribute__((vector_size(16)));
        vfloat4 f;
        __builtin_memcpy(&f, x, sizeof f);
        return __builtin_convertvector(f, vdouble4);
    }
}

// |v| lane by lane (the sign bit cleared, as std::fabs).
template <class V>
GDFAST_INLINE V vabs(V v) {
    typedef std::uint64_t U __attribute__((vector_size(sizeof(V))));
    U bits;
    __builtin_memcpy(&bits, &v, sizeof v);
    bits &= 0x7fffffffffffffffULL;
    __builtin_memcpy(&v, &bits, sizeof v);
    return v;
}

// sum_j x[j] * w[j] with eight independent partial sums (the lanes of two
// vectors of four), added up in a fixed order, so the result is the same in
// every build. Written with explicit vectors: from scalar partial sums GCC
// transposes the loop across blocks of rows, a dozen shuffles per row.
// (w may be a row of T too: dot_contiguous(x, x, n) is x's squared norm.)
template <class T, class U = double>
GDFAST_INLINE double dot_contiguous(const T* x, const U* w, index_t n) {
    vdouble4 lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0};  // partial sums u and u + 4
    index_t j = 0;
    for (; j + 8 <= n; j += 8) {
        lo += vload4(x + j) * vload4(w + j);
        hi += vload4(x + j + 4) * vload4(w + j + 4);
    }
    const vdouble4 half = lo + hi;
    double s = (half[0] + half[1]) + (half[2] + half[3]);
    for (; j < n; ++j) s += static_cast<double>(x[j]) * static_cast<double>(w[j]);
    return s;
}

// dot_contiguous(x, w, n), and in *sq_norm dot_contiguous(x, x, n), from one
// read of x: each sum in the same order as there, so both are the same values.
template <class T>
GDFAST_INLINE double dot_and_sq_norm(const T* x, const double* w, index_t n, double* sq_norm) {
    vdouble4 lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0}, sq_lo = {0, 0, 0, 0}, sq_hi = {0, 0, 0, 0};
    index_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const vdouble4 a = vload4(x + j), c = vload4(x + j + 4);
        lo += a * vload4(w + j);
        hi += c * vload4(w + j + 4);
        sq_lo += a * a;
        sq_hi += c * c;
    }
    const vdouble4 half = lo + hi, sq_half = sq_lo + sq_hi;
    double s = (half[0] + half[1]) + (half[2] + half[3]);
    double q = (sq_half[0] + sq_half[1]) + (sq_half[2] + sq_half[3]);
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

#if GDFAST_X86_CLONES
// The AVX2 build of the four-row dot products, written out with intrinsics: two
// vector partial sums per row (consecutive multiply-adds do not wait on each
// other), then one transposing reduction that yields the four results in one
// vector. The compiler's own vectorization of the portable loop below keeps one
// partial sum per row and reduces each through the stack: profiled, that was a
// third of the in-cache pass, and float32 rows ran no faster than float64.
// Plain `inline`, not forced: GCC refuses to force AVX2 code into a caller not
// compiled for AVX2, and inlines it anyway once the caller is the AVX2 clone.
GDFAST_AVX2 GDFAST_INLINE __m256d sum_four_rows_avx2(__m256d a0, __m256d a1, __m256d a2, __m256d a3) {
    const __m256d h01 = _mm256_hadd_pd(a0, a1);  // a0[0]+a0[1], a1[0]+a1[1], a0[2]+a0[3], a1[2]+a1[3]
    const __m256d h23 = _mm256_hadd_pd(a2, a3);
    return _mm256_add_pd(_mm256_permute2f128_pd(h01, h23, 0x20), _mm256_permute2f128_pd(h01, h23, 0x31));
}

// Norms: also the rows' squared norms into sq (any order: for bounds), from the
// same loads of the rows.
template <bool Norms = false>
GDFAST_AVX2 inline void dot_four_rows_avx2(const double* const x[4], const double* GDFAST_RESTRICT w,
                                                  index_t n, double out[4], double* sq = nullptr) {
    const double* GDFAST_RESTRICT x0 = x[0];
    const double* GDFAST_RESTRICT x1 = x[1];
    const double* GDFAST_RESTRICT x2 = x[2];
    const double* GDFAST_RESTRICT x3 = x[3];
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    __m256d c0 = a0, c1 = a0, c2 = a0, c3 = a0;
    __m256d q0 = a0, q1 = a0, q2 = a0, q3 = a0;  // Norms: the squares
    index_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256d w0 = _mm256_loadu_pd(w + j);
        const __m256d w1 = _mm256_loadu_pd(w + j + 4);
        const __m256d l0 = _mm256_loadu_pd(x0 + j), l1 = _mm256_loadu_pd(x1 + j);
        const __m256d l2 = _mm256_loadu_pd(x2 + j), l3 = _mm256_loadu_pd(x3 + j);
        const __m256d h0 = _mm256_loadu_pd(x0 + j + 4), h1 = _mm256_loadu_pd(x1 + j + 4);
        const __m256d h2 = _mm256_loadu_pd(x2 + j + 4), h3 = _mm256_loadu_pd(x3 + j + 4);
        a0 = _mm256_fmadd_pd(l0, w0, a0);
        a1 = _mm256_fmadd_pd(l1, w0, a1);
        a2 = _mm256_fmadd_pd(l2, w0, a2);
        a3 = _mm256_fmadd_pd(l3, w0, a3);
        c0 = _mm256_fmadd_pd(h0, w1, c0);
        c1 = _mm256_fmadd_pd(h1, w1, c1);
        c2 = _mm256_fmadd_pd(h2, w1, c2);
        c3 = _mm256_fmadd_pd(h3, w1, c3);
        if constexpr (Norms) {
            q0 = _mm256_fmadd_pd(h0, h0, _mm256_fmadd_pd(l0, l0, q0));
            q1 = _mm256_fmadd_pd(h1, h1, _mm256_fmadd_pd(l1, l1, q1));
            q2 = _mm256_fmadd_pd(h2, h2, _mm256_fmadd_pd(l2, l2, q2));
            q3 = _mm256_fmadd_pd(h3, h3, _mm256_fmadd_pd(l3, l3, q3));
        }
    }
    if (j + 4 <= n) {
        const __m256d w0 = _mm256_loadu_pd(w + j);
        const __m256d l0 = _mm256_loadu_pd(x0 + j), l1 = _mm256_loadu_pd(x1 + j);
        const __m256d l2 = _mm256_loadu_pd(x2 + j), l3 = _mm256_loadu_pd(x3 + j);
        a0 = _mm256_fmadd_pd(l0, w0, a0);
        a1 = _mm256_fmadd_pd(l1, w0, a1);
        a2 = _mm256_fmadd_pd(l2, w0, a2);
        a3 = _mm256_fmadd_pd(l3, w0, a3);
        if constexpr (Norms) {
            q0 = _mm256_fmadd_pd(l0, l0, q0);
            q1 = _mm256_fmadd_pd(l1, l1, q1);
            q2 = _mm256_fmadd_pd(l2, l2, q2);
            q3 = _mm256_fmadd_pd(l3, l3, q3);
        }
        j += 4;
    }
    _mm256_storeu_pd(out, sum_four_rows_avx2(_mm256_add_pd(a0, c0), _mm256_add_pd(a1, c1), _mm256_add_pd(a2, c2),
                                             _mm256_add_pd(a3, c3)));
    if constexpr (Norms) _mm256_storeu_pd(sq, sum_four_rows_avx2(q0, q1, q2, q3));
    for (; j < n; ++j) {
        const double wj = w[j];
        out[0] = std::fma(x0[j], wj, out[0]);
        out[1] = std::fma(x1[j], wj, out[1]);
        out[2] = std::fma(x2[j], wj, out[2]);
        out[3] = std::fma(x3[j], wj, out[3]);
        if constexpr (Norms)
            for (int u = 0; u < 4; ++u) sq[u] += x[u][j] * x[u][j];
    }
}

// float32 rows: the same in float lanes, each 64-feature chunk's four sums
// added to the double results (as in the portable version).
GDFAST_AVX2 inline void dot_four_rows_avx2(const float* const x[4], const float* GDFAST_RESTRICT w,
                                                  index_t n, double out[4]) {
    const float* GDFAST_RESTRICT x0 = x[0];
    const float* GDFAST_RESTRICT x1 = x[1];
    const float* GDFAST_RESTRICT x2 = x[2];
    const float* GDFAST_RESTRICT x3 = x[3];
    __m256d total = _mm256_setzero_pd();
    index_t j = 0;
    while (j + 8 <= n) {
        const index_t j1 = std::min(n, j + 64);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m256 c0 = a0, c1 = a0, c2 = a0, c3 = a0;
        for (; j + 16 <= j1; j += 16) {
            const __m256 w0 = _mm256_loadu_ps(w + j);
            const __m256 w1 = _mm256_loadu_ps(w + j + 8);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + j), w0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + j), w0, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + j), w0, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + j), w0, a3);
            c0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + j + 8), w1, c0);
            c1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + j + 8), w1, c1);
            c2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + j + 8), w1, c2);
            c3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + j + 8), w1, c3);
        }
        if (j + 8 <= j1) {
            const __m256 w0 = _mm256_loadu_ps(w + j);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + j), w0, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + j), w0, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + j), w0, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + j), w0, a3);
            j += 8;
        }
        // Transpose-reduce: lane u of each 128-bit half holds part of row u.
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(_mm256_add_ps(a0, c0), _mm256_add_ps(a1, c1)),
                                        _mm256_hadd_ps(_mm256_add_ps(a2, c2), _mm256_add_ps(a3, c3)));
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        total = _mm256_add_pd(total, _mm256_cvtps_pd(s));
    }
    _mm256_storeu_pd(out, total);
    for (; j < n; ++j) {
        const double wj = static_cast<double>(w[j]);
        out[0] = std::fma(static_cast<double>(x0[j]), wj, out[0]);
        out[1] = std::fma(static_cast<double>(x1[j]), wj, out[1]);
        out[2] = std::fma(static_cast<double>(x2[j]), wj, out[2]);
        out[3] = std::fma(static_cast<double>(x3[j]), wj, out[3]);
    }
}
#endif

// out[r] = x_r . w for four rows at once: each load of w serves four rows. One
// simd partial sum per row (a fixed order for a given build). The AVX2 build on
// x86 uses dot_four_rows_avx2; Fma without it (other compilers) fuses here.
template <bool Fma, class T>
GDFAST_INLINE void dot_four_rows(const T* const x[4], const double* GDFAST_RESTRICT w, index_t n, double out[4]) {
#if GDFAST_X86_CLONES
    if constexpr (Fma && std::is_same_v<T, double>) return dot_four_rows_avx2(x, w, n, out);
#endif
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
#if GDFAST_X86_CLONES
    if constexpr (Fma) return dot_four_rows_avx2(x, w, n, out);
#endif
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
template <CacheLevel Level = CacheLevel::l2, class T>
GDFAST_INLINE void prefetch_row(const DenseMatrix<T>& X, index_t i) {
    const char* p = reinterpret_cast<const char*>(X.row(i));
    const index_t bytes = X.n_cols * static_cast<index_t>(sizeof(T));
    if (bytes <= 0) return;
    prefetch<Level>(p);
    if (bytes > 64) prefetch<Level>(p + 64);
    if (bytes > 128) prefetch<Level>(p + 128);
    if (bytes > 192) prefetch<Level>(p + 192);
    prefetch<Level>(p + bytes - 1);
}

// The first and last bytes of [first, first + bytes) and the lines between them,
// up to four: the lines of a short sparse row's values or indices.
template <CacheLevel Level = CacheLevel::l2>
GDFAST_INLINE void prefetch_span(const char* first, index_t bytes) {
    if (bytes <= 0) return;
    prefetch<Level>(first);
    if (bytes > 64) prefetch<Level>(first + 64);
    if (bytes > 128) prefetch<Level>(first + 128);
    prefetch<Level>(first + bytes - 1);
}

// A CSR row's values and indices. Its extent comes from indptr, itself a random
// read: prefetch_row_extent, called earlier, starts loading that.
template <CacheLevel Level = CacheLevel::l2, class T, class I>
GDFAST_INLINE void prefetch_row(const CsrMatrix<T, I>& X, index_t i) {
    const index_t start = static_cast<index_t>(X.indptr[i]);
    const index_t nnz = static_cast<index_t>(X.indptr[i + 1]) - start;
    prefetch_span<Level>(reinterpret_cast<const char*>(X.data + start), nnz * static_cast<index_t>(sizeof(T)));
    prefetch_span<Level>(reinterpret_cast<const char*>(X.indices + start), nnz * static_cast<index_t>(sizeof(I)));
}

template <class T>
GDFAST_INLINE void prefetch_row_extent(const DenseMatrix<T>&, index_t) {}  // a dense row's place is known

template <class T, class I>
GDFAST_INLINE void prefetch_row_extent(const CsrMatrix<T, I>& X, index_t i) {
    prefetch(X.indptr + i);
    prefetch(X.indptr + i + 1);
}

// Rows read at random are prefetched into L2 this many rows ahead of the one
// being read (enough to cover a load from memory), and the extent of a CSR row
// twice as far; then into L1 near_prefetch_distance rows ahead (an L2 load).
constexpr index_t rows_prefetch_distance = 32;
constexpr index_t near_prefetch_distance = 8;

// The two stages for position r of a set of indexed rows, for the rows whose
// index is known (in the set or in its `ahead`). Rows in order need none.
template <class Matrix>
GDFAST_INLINE void prefetch_ahead(const Matrix& X, const RowSet& rows, index_t r) {
    if (rows.rows == nullptr) return;
    const index_t known = rows.count + rows.ahead;
    if constexpr (is_csr<Matrix>::value) {
        if (r + 2 * rows_prefetch_distance < known) prefetch_row_extent(X, rows.rows[r + 2 * rows_prefetch_distance]);
    }
    if (r + rows_prefetch_distance < known) prefetch_row(X, rows.rows[r + rows_prefetch_distance]);
    if (r + near_prefetch_distance < known) prefetch_row<CacheLevel::l1>(X, rows.rows[r + near_prefetch_distance]);
}

}  // namespace gdfast
