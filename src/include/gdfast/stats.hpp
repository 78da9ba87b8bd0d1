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
    const RowBlocks blocks = make_row_blocks(rows.count, 2 * p + 1);
    const int threads = threads_for_work(n_threads, 3.0 * static_cast<double>(rows.count) * p, blocks.n_blocks);
    // per block: [weight, mean (p), m2 (p)]
    PaddedSlots part;
    part.assign(blocks.n_blocks, 2 * p + 1, 0.0);
    parallel_for(blocks.n_blocks, threads, [&](index_t blk) {
        double* w = part.slot(blk);
        double* mu = w + 1;
        double* m2 = mu + p;
        double total = 0.0;
        for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
            const index_t i = rows[r];
            const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
            total += s;
        }
        w[0] = total;
        if (total <= 0.0) return;
        // Two passes over the block (it is in cache): the mean, then the spread.
        for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
            const index_t i = rows[r];
            const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
            if (s != 0.0) row_of(X, i).axpy(s / total, mu);
        }
        if constexpr (is_csr<Matrix>::value) {
            // sum s (x - mu)^2 over the stored entries, plus the zeros' share
            // (their weight times mu^2): no cancellation, unlike sum s x^2 - total mu^2.
            std::vector<double> stored_weight(static_cast<std::size_t>(p), 0.0);
            for (index_t r = blocks.begin(blk); r < blocks.end(blk); ++r) {
                const index_t i = rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                const auto x = row_of(X, i);
                for (index_t q = 0; q < x.nnz; ++q) {
                    const auto j = x.idx[q];
                    const double d = static_cast<double>(x.values[q]) - mu[j];
                    m2[j] += s * d * d;
                    stored_weight[static_cast<std::size_t>(j)] += s;
                }
            }
            for (index_t j = 0; j < p; ++j)
                m2[j] += std::max(0.0, total - stored_weight[static_cast<std::size_t>(j)]) * mu[j] * mu[j];
        } else {
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
    double total = 0.0;
    std::fill(mean, mean + p, 0.0);
    std::fill(var, var + p, 0.0);
    for (index_t blk = 0; blk < blocks.n_blocks; ++blk) {
        const double* w = part.slot(blk);
        const double wb = w[0];
        if (wb <= 0.0) continue;
        const double merged = total + wb;
        for (index_t j = 0; j < p; ++j) {
            const double delta = w[1 + j] - mean[j];
            mean[j] += delta * wb / merged;
            var[j] += w[1 + p + j] + delta * delta * total * wb / merged;
        }
        total = merged;
    }
    for (index_t j = 0; j < p; ++j) var[j] = total > 0.0 ? var[j] / total : 0.0;
}

// Upper triangle of C += sum_u s_u d_u d_u^T for the first `count` of four
// vectors of length q (the others are zeroed first).
template <bool Fma>
GDFAST_INLINE void rank4_update(double* const d[4], double sw[4], int count, index_t q, double* C) {
    for (int u = count; u < 4; ++u) {
        std::fill(d[u], d[u] + q, 0.0);
        sw[u] = 0.0;
    }
    for (index_t a = 0; a < q; ++a) {
        const double c[4] = {sw[0] * d[0][a], sw[1] * d[1][a], sw[2] * d[2][a], sw[3] * d[3][a]};
        const double* shifted[4] = {d[0] + a, d[1] + a, d[2] + a, d[3] + a};
        axpy_four_rows<Fma>(c, shifted, C + a * q + a, q - a);
    }
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

// The weighted, centered co-moments of z = [x, y] (q = p + k columns):
//   C = sum_i s_i (z_i - zbar)(z_i - zbar)^T,  zbar = sum s z / sum s,
// written as a full q x q matrix, with zbar (q) and sum s. One pass over X:
// each block is centered on its own mean while in cache, then blocks merge.
template <bool Fma, class Matrix, class T = typename Matrix::value_type>
GDFAST_INLINE void block_comoments_impl(const Matrix& X, const RowSet& rows, index_t r0, index_t r1, const T* y,
                                        index_t k, const T* sample_weight, PassPoll& poll, double* out,
                                        double* z) {
    const index_t p = X.n_cols;
    const index_t q = p + k;
    double* weight = out;
    double* zbar = out + 1;
    double* C = out + 1 + q;
    double total = 0.0;
    for (index_t r = r0; r < r1; ++r) {
        const index_t i = rows[r];
        const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
        if (s == 0.0) continue;
        total += s;
        row_of(X, i).axpy(s, zbar);
        for (index_t t = 0; t < k; ++t) zbar[p + t] += s * static_cast<double>(y[i * k + t]);
    }
    *weight = total;
    if (total <= 0.0) return;
    for (index_t a = 0; a < q; ++a) zbar[a] /= total;
    // Rank-4 updates of the upper triangle: d_u = z_u - zbar, C += s_u d_u d_u^T.
    double* d[4];
    for (int u = 0; u < 4; ++u) d[u] = z + u * q;
    int filled = 0;
    double sw[4] = {0, 0, 0, 0};
    for (index_t r = r0; r < r1; ++r) {
        if (poll.stop(r)) return;
        const index_t i = rows[r];
        const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
        if (s == 0.0) continue;
        double* di = d[filled];
        for (index_t a = 0; a < p; ++a) di[a] = -zbar[a];
        row_of(X, i).axpy(1.0, di);
        for (index_t t = 0; t < k; ++t) di[p + t] = static_cast<double>(y[i * k + t]) - zbar[p + t];
        sw[filled] = s;
        if (++filled == 4) {
            rank4_update<Fma>(d, sw, filled, q, C);
            filled = 0;
        }
    }
    if (filled > 0) rank4_update<Fma>(d, sw, filled, q, C);
}
GDFAST_MULTIVERSION_FMA(block_comoments)

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
    if constexpr (!is_csr<Matrix>::value) scratch.assign(threads, 4 * q, 0.0);
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
        const double wb = w[0];
        if (wb <= 0.0) continue;
        const double merged = total + wb;
        const double f = total * wb / merged;
        for (index_t a = 0; a < q; ++a) delta[static_cast<std::size_t>(a)] = w[1 + a] - zbar[a];
        for (index_t a = 0; a < q; ++a)
            for (index_t b = a; b < q; ++b)
                C[a * q + b] += w[1 + q + a * q + b] + f * delta[static_cast<std::size_t>(a)] *
                                                          delta[static_cast<std::size_t>(b)];
        for (index_t a = 0; a < q; ++a) zbar[a] += delta[static_cast<std::size_t>(a)] * wb / merged;
        total = merged;
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

}  // namespace gdfast
