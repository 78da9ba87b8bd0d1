// One-pass statistics of the training rows: weighted column means and variances
// (for implicit standardization), the centered co-moment matrix of [X, Y] (the
// full-batch squared-error fast path) and the largest row norm (step sizes).
// All are reduced over the fixed row blocks in order: thread-count independent.
#pragma once

#include <limits>

#include "common.hpp"
#include "rowops.hpp"

namespace gdfast {

// Weighted mean and (population) variance of each column over `rows`, merged
// block by block with Chan et al.'s pairwise formula (stable for offset data).
template <class Matrix, class T = typename Matrix::value_type>
void column_stats(const Matrix& X, const RowSet& rows, const T* sample_weight, int n_threads, double* mean,
                  double* var) {
    const index_t p = X.n_cols;
    constexpr bool csr = is_csr<Matrix>::value;
    // per block: [weight, then dense: mean (p), m2 (p); CSR: per column its
    // mean and m2 side by side, so that an entry (a random column) touches one
    // place, not two arrays]
    const RowBlocks blocks = make_row_blocks(rows.count, 2 * p + 1);
    const int threads = threads_for_work(n_threads, 3.0 * static_cast<double>(rows.count) * p, blocks.n_blocks);
    PaddedSlots part;
    part.assign(blocks.n_blocks, 2 * p + 1, 0.0);
    parallel_for(blocks.n_blocks, threads, [&](index_t blk) {
        double* w = part.slot(blk);
        double total = 0.0;
        for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
            const index_t i = rows[r];
            const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
            total += s;
        }
        w[0] = total;
        if (total <= 0.0) return;
        // Two passes over the block (it is in cache): the mean, then the spread.
        if constexpr (csr) {
            // The zeros' share of sum s (x - mu)^2 (their weight times mu^2),
            // then the stored entries' s (x - mu)^2: no cancellation, unlike
            // sum s x^2 - total mu^2. The first pass sums the stored entries'
            // weight where m2 will be.
            double* col = w + 1;
            for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
                const index_t i = rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                if (s == 0.0) continue;
                const double f = s / total;
                const auto x = row_of(X, i);
                for (index_t q = 0; q < x.nnz; ++q) {
                    double* c = col + 2 * static_cast<index_t>(x.idx[q]);
                    c[0] += f * static_cast<double>(x.values[q]);
                    c[1] += s;
                }
            }
            for (index_t j = 0; j < p; ++j) {
                double* c = col + 2 * j;
                c[1] = std::max(0.0, total - c[1]) * c[0] * c[0];
            }
            for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
                const index_t i = rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                if (s == 0.0) continue;
                const auto x = row_of(X, i);
                for (index_t q = 0; q < x.nnz; ++q) {
                    double* c = col + 2 * static_cast<index_t>(x.idx[q]);
                    const double d = static_cast<double>(x.values[q]) - c[0];
                    c[1] += s * d * d;
                }
            }
        } else {
            double* mu = w + 1;
            double* m2 = mu + p;
            for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
                const index_t i = rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                if (s != 0.0) row_of(X, i).axpy(s / total, mu);
            }
            for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
                const index_t i = rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                const T* x = X.row(i);
                for (index_t j = 0; j < p; ++j) {
                    const double d = static_cast<double>(x[j * X.col_stride]) - mu[j];
                    m2[j] += s * d * d;
                }
            }
        }
    });
    // A block's mean and m2 of column j.
    const index_t step = csr ? 2 : 1, m2_at = csr ? 2 : 1 + p;
    double total = 0.0;
    std::fill(mean, mean + p, 0.0);
    std::fill(var, var + p, 0.0);
    for (index_t blk = 0; blk < blocks.n_blocks; ++blk) {
        const double* w = part.slot(blk);
        const double wb = w[0];
        if (wb <= 0.0) continue;
        const double merged = total + wb;
        const double* mb = w + 1;
        const double* m2b = w + m2_at;
        for (index_t j = 0; j < p; ++j) {
            const double delta = mb[j * step] - mean[j];
            mean[j] += delta * wb / merged;
            var[j] += m2b[j * step] + delta * delta * total * wb / merged;
        }
        total = merged;
    }
    for (index_t j = 0; j < p; ++j) var[j] = total > 0.0 ? var[j] / total : 0.0;
}

// Uncentered sums of one block of CSR rows, then centered on the block's mean:
// sum s z z^T over the nonzero pairs of each row, O(sum nnz_i^2), never a dense
// row. Duplicate entries of a column (valid, non-canonical CSR) add up as the
// dense matrix they stand for: a pair of them is counted twice on the diagonal.
template <class T, class I>
void block_sparse_comoments(const CsrMatrix<T, I>& X, const RowSet& rows, index_t r0, index_t r1, const T* y,
                            index_t k, const T* sample_weight, PassPoll& poll, double* out) {
    const index_t p = X.n_cols;
    const index_t q = p + k;
    double* zbar = out + 1;
    double* C = out + 1 + q;
    double total = 0.0;
    for (index_t r = r0; r < r1; ++r) {
        if (poll.stop(r)) return;
        const index_t i = rows[r];
        const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
        if (s == 0.0) continue;
        total += s;
        const auto x = row_of(X, i);
        const T* yi = y + i * k;
        for (index_t a = 0; a < x.nnz; ++a) {
            const auto ja = static_cast<index_t>(x.idx[a]);
            const double va = s * static_cast<double>(x.values[a]);
            double* Ca = C + ja * q;
            zbar[ja] += va;
            Ca[ja] += va * static_cast<double>(x.values[a]);
            for (index_t b = a + 1; b < x.nnz; ++b) {
                const auto jb = static_cast<index_t>(x.idx[b]);
                const double v = va * static_cast<double>(x.values[b]);
                if (ja == jb)
                    Ca[ja] += 2.0 * v;
                else
                    C[std::min(ja, jb) * q + std::max(ja, jb)] += v;
            }
            for (index_t t = 0; t < k; ++t) Ca[p + t] += va * static_cast<double>(yi[t]);
        }
        for (index_t t = 0; t < k; ++t) {
            const double vt = s * static_cast<double>(yi[t]);
            zbar[p + t] += vt;
            for (index_t u = t; u < k; ++u) C[(p + t) * q + p + u] += vt * static_cast<double>(yi[u]);
        }
    }
    out[0] = total;
    if (total <= 0.0) return;
    for (index_t a = 0; a < q; ++a) zbar[a] /= total;
    for (index_t a = 0; a < q; ++a)
        for (index_t b = a; b < q; ++b) C[a * q + b] -= total * zbar[a] * zbar[b];
}

// The dense co-moments pass reads each row of [X, y] once: a block of rows is
// shifted by a reference point c (the mean of its first panel of rows), and
// each panel of rows is packed as d = z - c (and s d when weighted) into a
// row-major buffer of `stride` doubles per row, zero-padded, while it is in L1.
// The panel's shifted co-moments are a symmetric rank-m update computed in
// register blocks. At the end of the block, the sums are centered on the
// block's mean. The shift bounds the cancellation: c is a mean of rows of the
// block, so (c - mean)^2 is at most (block rows / panel rows) times the
// block's variance, whatever the data's offset.
constexpr index_t comoment_panel_rows = 128;

// Register block of the rank-m update: MR rows of C times NV vectors of W
// columns, accumulated over the panel's m rows in order (each entry of C sums
// its rows in the same order in every build; only FMA rounding differs).
// `ahead` walks the cache lines of the rows to pack next: one prefetch every
// fourth row of each register block's sweep (measured on a Zen 3: every row or
// every other one floods the miss queues), so that memory streams in while the
// update computes.
struct Prefetcher {
    const char* next;
    const char* end;
    GDFAST_INLINE void step() {
        if (next < end) {
            prefetch(next);
            next += 64;
        }
    }
};

template <bool Fma, int W, int MR, int NV>
GDFAST_INLINE void panel_syrk_block(const double* A, const double* B, index_t stride, index_t m, index_t a0,
                                    index_t b0, double* C, index_t ldc, Prefetcher& ahead) {
    using V = typename vdouble_of<W>::type;
    V acc[MR][NV];
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NV; ++j) acc[i][j] = V{};
    for (index_t r = 0; r < m; ++r) {
        const double* ar = A + r * stride + a0;
        const double* br = B + r * stride + b0;
        if ((r & 3) == 0) ahead.step();
        V b[NV];
        for (int j = 0; j < NV; ++j) b[j] = vload<V>(br + j * W);
        for (int i = 0; i < MR; ++i) {
            const V a = vbroadcast_from<V>(ar + i);
            for (int j = 0; j < NV; ++j) acc[i][j] = vmul_add<Fma>(a, b[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NV; ++j) {
            double* c = C + (a0 + i) * ldc + b0 + j * W;
            vstore(c, vload<V>(c) + acc[i][j]);
        }
}

// panel_syrk_block for nv = 1, 2 or 3 vectors of columns.
template <bool Fma, int W, int MR>
GDFAST_INLINE void panel_syrk_blocks(const double* A, const double* B, index_t stride, index_t m, index_t a0,
                                     index_t b0, index_t nv, double* C, Prefetcher& ahead) {
    if (nv == 3)
        panel_syrk_block<Fma, W, MR, 3>(A, B, stride, m, a0, b0, C, stride, ahead);
    else if (nv == 2)
        panel_syrk_block<Fma, W, MR, 2>(A, B, stride, m, a0, b0, C, stride, ahead);
    else
        panel_syrk_block<Fma, W, MR, 1>(A, B, stride, m, a0, b0, C, stride, ahead);
}

// panel_syrk_blocks for 4, 2 or 1 rows of C.
template <bool Fma, int W>
GDFAST_INLINE void panel_syrk_rows(int rows, const double* A, const double* B, index_t stride, index_t m, index_t a0,
                                   index_t b0, index_t nv, double* C, Prefetcher& ahead) {
    if (rows == 4)
        panel_syrk_blocks<Fma, W, 4>(A, B, stride, m, a0, b0, nv, C, ahead);
    else if (rows == 2)
        panel_syrk_blocks<Fma, W, 2>(A, B, stride, m, a0, b0, nv, C, ahead);
    else
        panel_syrk_blocks<Fma, W, 1>(A, B, stride, m, a0, b0, nv, C, ahead);
}

// The register block's rows of the dense pass. The columns [0, qm) that fill
// whole blocks (qm: q rounded down to a multiple of them) form the blocked
// triangle; the few beyond (the targets' among them) are rows of their own.
template <int W>
constexpr index_t syrk_rows() {
    return W >= 8 ? 8 : 4;
}

// C (ldc = stride) += A^T B over the panel for q columns: on and above the
// diagonal of the columns [0, qm) in MR x NB register blocks, trimmed along the
// diagonal to the vectors that reach it; the q - qm columns beyond as rows of C
// against every vector up to column q (their entries left of the diagonal
// stand for those above it). Padding them to a whole block instead multiplies
// the work of their last vector of columns by MR / (q - qm).
template <bool Fma, int W>
GDFAST_INLINE void panel_syrk(const double* A, const double* B, index_t stride, index_t q, index_t m, double* C,
                              Prefetcher& ahead) {
    constexpr int MR = syrk_rows<W>();
    constexpr index_t NB = W * 3;
    const index_t qm = q / MR * MR;
    for (index_t b0 = 0; b0 < qm; b0 += NB) {
        const index_t b1 = std::min(qm, b0 + NB);
        for (index_t a0 = 0; a0 < b1; a0 += MR) {
            // the first vector holding a column >= a0 (columns left of it are below the diagonal)
            const index_t start = std::max(b0, a0 / W * W);
            panel_syrk_blocks<Fma, W, MR>(A, B, stride, m, a0, start, (b1 - start) / W, C, ahead);
        }
    }
    // Left of column qm the roles swap (B's entry times A's vector): each
    // product is then the one the triangle would have formed for the pair.
    const index_t qv = (q + W - 1) / W * W;  // the vectors reaching column q
    for (index_t a0 = qm; a0 < q;) {
        const int rows = q - a0 >= 4 ? 4 : q - a0 >= 2 ? 2 : 1;
        for (index_t b0 = 0; b0 < qm; b0 += NB)
            panel_syrk_rows<Fma, W>(rows, B, A, stride, m, a0, b0, (std::min(qm, b0 + NB) - b0) / W, C, ahead);
        for (index_t b0 = qm; b0 < qv; b0 += NB)
            panel_syrk_rows<Fma, W>(rows, A, B, stride, m, a0, b0, (std::min(qv, b0 + NB) - b0) / W, C, ahead);
        a0 += rows;
    }
}

// The packed row length for q columns: a multiple of the vector width and of
// the register block's rows.
inline index_t comoment_stride(index_t q, int W) {
    const index_t unit = W >= 8 ? 8 : 4;
    return (q + unit - 1) / unit * unit;
}

// Scratch doubles of one thread of the dense pass (enough for every build).
inline index_t comoment_scratch(index_t q) {
    const index_t ld = comoment_stride(q, 8);
    return 2 * comoment_panel_rows * ld + ld * ld + 2 * ld;
}

// Adds a part (weight wp, mean mp, centered co-moments Cp with row length ldp,
// upper triangle) to the running (total, zbar, C) of q columns: Chan et al.'s
// pairwise update.
inline void merge_comoments(double wp, const double* mp, const double* Cp, index_t ldp, index_t q, double& total,
                            double* zbar, double* C, double* delta) {
    if (wp <= 0.0) return;
    const double merged = total + wp;
    const double f = total * wp / merged;
    for (index_t a = 0; a < q; ++a) delta[a] = mp[a] - zbar[a];
    for (index_t a = 0; a < q; ++a) {
        const double fa = f * delta[a];
        for (index_t b = a; b < q; ++b) C[a * q + b] += Cp[a * ldp + b] + fa * delta[b];
    }
    for (index_t a = 0; a < q; ++a) zbar[a] += delta[a] * wp / merged;
    total = merged;
}

// Packs rows [t0, t0 + m) of `rows` as d = z - c into D (and s d into A when
// weighted), adding s d to `sum` and s to *weight.
template <class Matrix, class T>
GDFAST_INLINE void pack_shifted_rows(const Matrix& X, const RowSet& rows, index_t t0, index_t m, const T* y, index_t k,
                                     const T* sample_weight, const double* c, index_t ld, double* D, double* A,
                                     double* sum, double* weight) {
    const index_t p = X.n_cols;
    const index_t q = p + k;
    for (index_t r = 0; r < m; ++r) {
        const index_t i = rows[t0 + r];
        double* GDFAST_RESTRICT d = D + r * ld;
        const T* x = X.row(i);
        if (X.col_stride == 1) {
            for (index_t a = 0; a < p; ++a) d[a] = static_cast<double>(x[a]) - c[a];
        } else {
            for (index_t a = 0; a < p; ++a) d[a] = static_cast<double>(x[a * X.col_stride]) - c[a];
        }
        for (index_t t = 0; t < k; ++t) d[p + t] = static_cast<double>(y[i * k + t]) - c[p + t];
        for (index_t a = q; a < ld; ++a) d[a] = 0.0;
        if (sample_weight) {
            const double s = static_cast<double>(sample_weight[i]);
            double* GDFAST_RESTRICT e = A + r * ld;
            for (index_t a = 0; a < ld; ++a) e[a] = s * d[a];
            for (index_t a = 0; a < q; ++a) sum[a] += e[a];
            *weight += s;
        } else {
            for (index_t a = 0; a < q; ++a) sum[a] += d[a];
            *weight += 1.0;
        }
    }
}

// The weighted, centered co-moments of z = [x, y] (q = p + k columns):
//   C = sum_i s_i (z_i - zbar)(z_i - zbar)^T,  zbar = sum s z / sum s,
// upper triangle of a q x q matrix, with zbar (q) and sum s, for rows [r0, r1)
// of `rows`: out = [sum s, zbar, C]. `z` is comoment_scratch(q) doubles.
template <bool Fma, int W, class Matrix, class T = typename Matrix::value_type>
GDFAST_INLINE void block_comoments_impl(const Matrix& X, const RowSet& rows, index_t r0, index_t r1, const T* y,
                                        index_t k, const T* sample_weight, PassPoll& poll, double* out,
                                        double* z) {
    const index_t p = X.n_cols;
    const index_t q = p + k;
    const index_t ld = comoment_stride(q, W);
    constexpr index_t M = comoment_panel_rows;
    double* D = z;                               // M x ld: shifted rows
    double* A = sample_weight ? D + M * ld : D;  // M x ld: weighted shifted rows
    double* Cs = D + 2 * M * ld;                 // ld x ld: shifted co-moments
    double* c = Cs + ld * ld;                    // ld: the shift
    double* sum = c + ld;                        // ld: sum s (z - c)
    std::fill(Cs, Cs + ld * ld + 2 * ld, 0.0);
    // The shift: the weighted mean of the first panel's rows.
    double w0 = 0.0;
    for (index_t r = r0; r < std::min(r1, r0 + M); ++r) {
        const index_t i = rows[r];
        const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
        if (s == 0.0) continue;
        w0 += s;
        row_of(X, i).axpy(s, c);
        for (index_t t = 0; t < k; ++t) c[p + t] += s * static_cast<double>(y[i * k + t]);
    }
    if (w0 > 0.0)
        for (index_t a = 0; a < q; ++a) c[a] /= w0;
    double weight = 0.0;
    for (index_t t0 = r0; t0 < r1; t0 += M) {
        if (poll.stop(t0 - r0)) return;
        const index_t m = std::min(M, r1 - t0);
        pack_shifted_rows(X, rows, t0, m, y, k, sample_weight, c, ld, D, A, sum, &weight);
        // The next panel's rows (as one range: a hint, harmless when they are not).
        Prefetcher ahead{nullptr, nullptr};
        if (t0 + M < r1) {
            const T* first = X.row(rows[t0 + M]);
            ahead = Prefetcher{reinterpret_cast<const char*>(first),
                               reinterpret_cast<const char*>(first + std::min(M, r1 - t0 - M) * X.row_stride)};
        }
        panel_syrk<Fma, W>(A, D, ld, q, m, Cs, ahead);
    }
    // Center: C = Cs - sum sum^T / weight, zbar = c + sum / weight.
    out[0] = weight;
    if (weight <= 0.0) return;
    double* zbar = out + 1;
    double* C = out + 1 + q;
    const index_t qm = q / syrk_rows<W>() * syrk_rows<W>();  // (see panel_syrk)
    for (index_t a = 0; a < q; ++a) {
        const double fa = sum[a] / weight;
        for (index_t b = a; b < q; ++b)
            C[a * q + b] = (a < qm && b >= qm ? Cs[b * ld + a] : Cs[a * ld + b]) - fa * sum[b];
        zbar[a] = c[a] + fa;
    }
}
GDFAST_MULTIVERSION_WIDE(block_comoments)

// The implicit standardization from weighted column means and (population)
// variances, in place: var becomes the scale. With center, scale is the
// standard deviation, 1 for a feature that is constant (spread at rounding
// level relative to its mean: sd <= 1e-10 |mean|; features of any small scale
// keep theirs). Without (no intercept to absorb a shift), the mean becomes 0 and
// the scale the root mean square, 1 where that is 0.
inline void standardize_from_stats(index_t p, bool center, double* mean, double* var) {
    for (index_t j = 0; j < p; ++j) {
        const double sd = std::sqrt(std::max(0.0, var[j]));
        if (center) {
            var[j] = sd <= 1e-10 * std::abs(mean[j]) ? 1.0 : sd;
        } else {
            const double rms = std::sqrt(std::max(0.0, var[j]) + mean[j] * mean[j]);
            var[j] = rms == 0.0 ? 1.0 : rms;
            mean[j] = 0.0;
        }
    }
}

// Floating-point operations of the co-moments pass: q^2 / 2 per dense row, the
// nonzero pairs of each CSR row (O(n) to count from indptr).
template <class Matrix>
double comoments_work(const Matrix& X, const RowSet& rows, index_t k) {
    const double q = static_cast<double>(X.n_cols + k);
    if constexpr (is_csr<Matrix>::value) {
        double work = 0.0;
        for (index_t r = 0; r < rows.count; ++r) {
            const index_t i = rows[r];
            const double nz = static_cast<double>(X.indptr[i + 1] - X.indptr[i]) + static_cast<double>(k);
            work += 0.5 * nz * nz;
        }
        return work + q * q;
    } else {
        return 0.5 * static_cast<double>(rows.count) * q * q;
    }
}

// Returns the total weight, or NaN when Ctrl-C stopped the pass.
template <class Matrix, class T = typename Matrix::value_type>
double centered_comoments(const Matrix& X, const RowSet& rows, const T* y, index_t k, const T* sample_weight,
                          int n_threads, PassPoll& poll, double* zbar, double* C) {
    const index_t q = X.n_cols + k;
    const index_t width = 1 + q + q * q;
    const RowBlocks blocks = make_row_blocks(rows.count, width);
    const int threads = threads_for_work(n_threads, comoments_work(X, rows, k), blocks.n_blocks);
    PaddedSlots part, scratch;
    part.assign(blocks.n_blocks, width, 0.0);
    if constexpr (!is_csr<Matrix>::value) {
        scratch.assign(threads, comoment_scratch(q), 0.0);
    }
    parallel_for(blocks.n_blocks, threads, [&](index_t blk) {
        if constexpr (is_csr<Matrix>::value)
            block_sparse_comoments(X, rows, blocks.begin(blk), blocks.end(blk), y, k, sample_weight, poll,
                                   part.slot(blk));
        else
            block_comoments(X, rows, blocks.begin(blk), blocks.end(blk), y, k, sample_weight, poll, part.slot(blk),
                            scratch.slot(current_thread()));
    });
    if (poll.stopped()) return std::numeric_limits<double>::quiet_NaN();
    double total = 0.0;
    std::fill(zbar, zbar + q, 0.0);
    std::fill(C, C + q * q, 0.0);
    std::vector<double> delta(static_cast<std::size_t>(q));
    for (index_t blk = 0; blk < blocks.n_blocks; ++blk) {
        const double* w = part.slot(blk);
        merge_comoments(w[0], w + 1, w + 1 + q, q, q, total, zbar, C, delta.data());
    }
    for (index_t a = 0; a < q; ++a)
        for (index_t b = 0; b < a; ++b) C[a * q + b] = C[b * q + a];
    return total;
}

// Mean and max over `rows` of ||(x_i - mean) / scale||^2: the per-sample
// curvature that bounds stable step sizes.
struct RowNormStats {
    double mean = 0.0;
    double max = 0.0;
};

template <class Matrix>
RowNormStats row_sq_norm_stats(const Matrix& X, const RowSet& rows, const double* mean, const double* scale,
                               int n_threads) {
    const index_t p = X.n_cols;
    const RowBlocks blocks = make_row_blocks(rows.count, 2);
    const int threads = threads_for_work(n_threads, 2.0 * static_cast<double>(rows.count) * p, blocks.n_blocks);
    std::vector<double> part(static_cast<std::size_t>(2 * blocks.n_blocks), 0.0);
    std::vector<double> inv2(static_cast<std::size_t>(p)), shift(static_cast<std::size_t>(p));
    double base = 0.0;  // ||mean / scale||^2, the norm of an all-zero row
    for (index_t j = 0; j < p; ++j) {
        const double m = mean ? mean[j] : 0.0;
        const double sc = scale ? scale[j] : 1.0;
        inv2[static_cast<std::size_t>(j)] = 1.0 / (sc * sc);
        shift[static_cast<std::size_t>(j)] = -2.0 * m * inv2[static_cast<std::size_t>(j)];
        base += m * m * inv2[static_cast<std::size_t>(j)];
    }
    parallel_for(blocks.n_blocks, threads, [&](index_t blk) {
        double total = 0.0, top = 0.0;
        for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
            const auto x = row_of(X, rows[r]);
            double s = base;
            if constexpr (is_csr<Matrix>::value) {
                for (index_t q = 0; q < x.nnz; ++q) {
                    const double v = static_cast<double>(x.values[q]);
                    const auto j = static_cast<std::size_t>(x.idx[q]);
                    s += v * v * inv2[j] + v * shift[j];
                }
            } else {
                for (index_t j = 0; j < p; ++j) {
                    const double v = static_cast<double>(x.x[j * x.stride]);
                    s += v * v * inv2[static_cast<std::size_t>(j)] + v * shift[static_cast<std::size_t>(j)];
                }
            }
            total += s;
            top = std::max(top, s);
        }
        part[static_cast<std::size_t>(2 * blk)] = total;
        part[static_cast<std::size_t>(2 * blk + 1)] = top;
    });
    RowNormStats out;
    for (index_t blk = 0; blk < blocks.n_blocks; ++blk) {
        out.mean += part[static_cast<std::size_t>(2 * blk)];
        out.max = std::max(out.max, part[static_cast<std::size_t>(2 * blk + 1)]);
    }
    out.mean = rows.count > 0 ? out.mean / static_cast<double>(rows.count) : 0.0;
    return out;
}

// The weighted mean of ||(x_i - mean) / scale||^2 from the co-moments of
// [X, y] (q columns, total weight S): sum_j (C_jj / S + (zbar_j - mean_j)^2) / scale_j^2.
inline double moments_row_sq_norm(const std::vector<double>& C, const std::vector<double>& zbar, double S, index_t p,
                                  index_t q, const double* mean, const double* scale) {
    if (!(S > 0.0)) return 0.0;
    double out = 0.0;
    for (index_t j = 0; j < p; ++j) {
        const double d = zbar[static_cast<std::size_t>(j)] - (mean ? mean[j] : 0.0);
        const double sc = scale ? scale[j] : 1.0;
        out += (C[static_cast<std::size_t>(j * q + j)] / S + d * d) / (sc * sc);
    }
    return out;
}

}  // namespace gdfast
