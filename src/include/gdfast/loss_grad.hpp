// The fused loss-and-gradient pass and the prediction kernel.
//
// For k outputs, coefficients W (k x p, row-major) and intercepts b (k):
//   p_it = x_i . W_t + b_t
//   loss = sum_i sum_t s_i l(p_it, y_it)
//   G_t  = sum_i s_i l'(p_it, y_it) x_i          gb_t = sum_i s_i l'(p_it, y_it)
// Rows are processed in cache-sized tiles (predict the tile, evaluate the loss,
// add the tile's gradient while it is still in cache), so X is read from memory
// once per call.
#pragma once

#include "common.hpp"
#include "losses.hpp"
#include "row_norms.hpp"
#include "rowops.hpp"

namespace gdfast {

// Scratch memory kept between calls, so that a loop calling the kernel once per
// mini-batch allocates nothing after the first call.
struct LossGradWorkspace {
    PaddedSlots partials;          // per block: [loss, gb (k), G (k x p)]
    PaddedSlots tiles;             // per thread: predictions and derivatives of a tile
    std::vector<int> flags;        // per block: a prediction was not finite
    std::vector<float> coef_float; // W rounded to float, for float32 rows
    std::vector<RowExtent> extents; // per block, when the caller measures the rows
};

// The targets (and weight) of indexed rows, in the two stages of prefetch_ahead:
// read at random too (y of 200,000 rows is past the L2 cache).
template <class T>
GDFAST_INLINE void prefetch_targets(const RowSet& rows, index_t r, const T* y, index_t k, const T* sample_weight) {
    if (rows.rows == nullptr) return;
    const index_t known = rows.count + rows.ahead;
    if (r + rows_prefetch_distance < known) {
        const index_t i = rows.rows[r + rows_prefetch_distance];
        prefetch(y + i * k);
        if (sample_weight) prefetch(sample_weight + i);
    }
    if (r + near_prefetch_distance < known) {
        const index_t i = rows.rows[r + near_prefetch_distance];
        prefetch<CacheLevel::l1>(y + i * k);
        if (sample_weight) prefetch<CacheLevel::l1>(sample_weight + i);
    }
}

// Rows per tile: about 128 KiB of X, so a tile read for the predictions is still
// in L2 when its gradient is added.
inline index_t tile_rows_for(index_t n_cols, std::size_t element_size) {
    const index_t bytes_per_row = std::max<index_t>(1, n_cols * static_cast<index_t>(element_size));
    const index_t rows = std::clamp<index_t>(131072 / bytes_per_row, 8, 512);
    return rows - rows % 8;
}

// P[t * m + r] = b_t + X[row r0 + r] . W_t, for the m rows of a tile.
template <class T>
GDFAST_INLINE void tile_predict(const DenseMatrix<T>& X, const RowSet& rows, index_t r0, index_t m, const double* W,
                  const double* b, index_t k, double* P) {
    const index_t p = X.n_cols;
    if (X.column_major()) {
        for (index_t t = 0; t < k; ++t) {
            double* Pt = P + t * m;
            for (index_t r = 0; r < m; ++r) Pt[r] = b[t];
            for (index_t j = 0; j < p; ++j) {
                const double w = W[t * p + j];
                const T* col = X.col(j);
                if (rows.rows == nullptr) {
                    const T* c = col + r0;
                    for (index_t r = 0; r < m; ++r) Pt[r] += w * static_cast<double>(c[r]);
                } else {
                    for (index_t r = 0; r < m; ++r) Pt[r] += w * static_cast<double>(col[rows.rows[r0 + r]]);
                }
            }
        }
        return;
    }
    for (index_t r = 0; r < m; ++r) {
        prefetch_ahead(X, rows, r0 + r);
        const DenseRow<T> x = row_of(X, rows[r0 + r]);
        for (index_t t = 0; t < k; ++t) P[t * m + r] = b[t] + x.dot(W + t * p);
    }
}

template <class T, class I>
GDFAST_INLINE void tile_predict(const CsrMatrix<T, I>& X, const RowSet& rows, index_t r0, index_t m, const double* W,
                  const double* b, index_t k, double* P) {
    const index_t p = X.n_cols;
    for (index_t r = 0; r < m; ++r) {
        prefetch_ahead(X, rows, r0 + r);
        const SparseRow<T, I> x = row_of(X, rows[r0 + r]);
        for (index_t t = 0; t < k; ++t) P[t * m + r] = b[t] + x.dot(W + t * p);
    }
}

// G_t += sum_r D[t * m + r] * X[row r0 + r], for the m rows of a tile.
template <class T>
GDFAST_INLINE void tile_gradient(const DenseMatrix<T>& X, const RowSet& rows, index_t r0, index_t m, const double* D,
                   index_t k, double* G) {
    const index_t p = X.n_cols;
    if (X.column_major()) {
        for (index_t t = 0; t < k; ++t) {
            const double* Dt = D + t * m;
            for (index_t j = 0; j < p; ++j) {
                const T* col = X.col(j);
                double s;
                if (rows.rows == nullptr) {
                    s = dot_contiguous(col + r0, Dt, m);
                } else {
                    s = 0.0;
                    for (index_t r = 0; r < m; ++r) s += static_cast<double>(col[rows.rows[r0 + r]]) * Dt[r];
                }
                G[t * p + j] += s;
            }
        }
        return;
    }
    for (index_t r = 0; r < m; ++r) {
        const DenseRow<T> x = row_of(X, rows[r0 + r]);
        for (index_t t = 0; t < k; ++t) {
            const double d = D[t * m + r];
            if (d != 0.0) x.axpy(d, G + t * p);
        }
    }
}

template <class T, class I>
GDFAST_INLINE void tile_gradient(const CsrMatrix<T, I>& X, const RowSet& rows, index_t r0, index_t m, const double* D,
                   index_t k, double* G) {
    const index_t p = X.n_cols;
    for (index_t r = 0; r < m; ++r) {
        const SparseRow<T, I> x = row_of(X, rows[r0 + r]);
        for (index_t t = 0; t < k; ++t) {
            const double d = D[t * m + r];
            if (d != 0.0) x.axpy(d, G + t * p);
        }
    }
}

// Turns the tile's predictions P into weighted derivatives D, adding the weighted
// losses to *loss_sum and the derivatives to gb. Returns false if a prediction
// was not finite (NaN/inf in X, or overflow).
template <class T>
GDFAST_INLINE bool tile_loss(const RowSet& rows, index_t r0, index_t m, const T* y, const T* sample_weight, index_t k,
               const Loss& loss, const double* P, double* D, double* loss_sum, double* gb) {
    bool finite = true;
    double total = 0.0;
    if (is_row_loss(loss.kind)) {
        // y holds the class index of each row; the k predictions of row r are m apart.
        for (index_t r = 0; r < m; ++r) {
            const index_t i = rows[r0 + r];
            for (index_t t = 0; t < k; ++t) finite = finite && std::isfinite(P[t * m + r]);
            const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
            const index_t c = static_cast<index_t>(y[i]);
            total += s * MultinomialLogLoss::eval<double>(P + r, m, k, &c, D + r);
            for (index_t t = 0; t < k; ++t) {
                D[t * m + r] *= s;
                gb[t] += D[t * m + r];
            }
        }
        *loss_sum += total;
        return finite;
    }
    for (index_t t = 0; t < k; ++t) {
        double g = 0.0;
        for (index_t r = 0; r < m; ++r) {
            const index_t i = rows[r0 + r];
            const double pred = P[t * m + r];
            finite = finite && std::isfinite(pred);
            const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
            double d;
            const double v = with_loss(loss.kind, [&](auto K) {
                return loss.template evaluate_pass<decltype(K)::value>(pred, static_cast<double>(y[i * k + t]), &d);
            });
            total += s * v;
            D[t * m + r] = s * d;
            g += s * d;
        }
        gb[t] += g;
    }
    *loss_sum += total;
    return finite;
}

// Row-major X: predict, differentiate and accumulate four rows at a time while
// they sit in L1. Handles rows [r0, r1) of `rows` and adds to part = [loss, gb, G].
// The last group is padded with weight-0 copies of its first row, so every row
// goes through the same arithmetic. Returns row_ok, row_nonfinite (a prediction
// is not finite) or row_float_overflow (float32 rows only: a 16-row partial
// gradient overflowed its float lanes; the caller redoes the block in double).
enum RowStatus : int { row_ok = 0, row_nonfinite = 1, row_float_overflow = 2 };

// One group of four rows starting at position r of `rows`: predictions, losses,
// derivatives and the gradient update. Padded groups (the block's last, with
// count < 4) repeat their first row with weight 0; full groups compile without
// those checks.
// Norms: the rows' squared norms into sq as well (from the first target's
// predictions' loads where the build can).
template <bool Fma, LossKind K, bool Padded, class T, bool Norms = false>
GDFAST_INLINE void loss_grad_group(const DenseMatrix<T>& X, const RowSet& rows, index_t r, int count, const T* y,
                                   const T* sample_weight, const T* Wt, const double* b, index_t k,
                                   const Loss& loss, double* gb, double* G, float* Gf, double& loss_sum,
                                   bool& finite, double* sq = nullptr) {
    const index_t p = X.n_cols;
    index_t idx[4];
    const T* x[4];
    double s[4];
    for (int u = 0; u < 4; ++u) {
        const bool real = !Padded || u < count;
        idx[u] = rows[r + (real ? u : 0)];
        x[u] = X.row(idx[u]);
        s[u] = !real ? 0.0 : (sample_weight ? static_cast<double>(sample_weight[idx[u]]) : 1.0);
    }
    for (index_t t = 0; t < k; ++t) {
        double pred[4], d[4];
        if (Norms && t == 0)
            dot_and_norms_four_rows<Fma>(x, Wt, p, pred, sq);
        else
            dot_four_rows<Fma>(x, Wt + t * p, p, pred);
        double g = 0.0, pu[4], yu[4], v[4], du[4];
        for (int u = 0; u < 4; ++u) {
            pu[u] = pred[u] + b[t];
            yu[u] = static_cast<double>(y[idx[u] * k + t]);
            finite &= static_cast<bool>(std::isfinite(pu[u]));
        }
        loss.template evaluate_pass4<K>(pu, yu, v, du);
        for (int u = 0; u < 4; ++u) {
            if (!Padded || u < count) loss_sum += s[u] * v[u];
            d[u] = s[u] * du[u];
            g += d[u];
        }
        gb[t] += g;
        if (d[0] != 0.0 || d[1] != 0.0 || d[2] != 0.0 || d[3] != 0.0) {
            if constexpr (std::is_same_v<T, float>)
                axpy_four_rows_float<Fma>(d, x, Gf + t * p, p);
            else
                axpy_four_rows<Fma>(d, x, G + t * p, p);
        }
    }
}

// Measure: add the rows to *extent (its own instantiation: the pass without
// it keeps its registers).
template <bool Fma, LossKind K, bool Measure, class T>
GDFAST_INLINE int rows_loss_grad(const DenseMatrix<T>& X, const RowSet& rows_ref, index_t r0, index_t r1, const T* y,
                                 const T* sample_weight, const T* Wt, const double* b, index_t k,
                                 const Loss& loss_ref, double* part, RowExtent* extent) {
    // Locals, not loads through `part` or references: the compiler cannot
    // tell that the gradient stores do not alias them, and would reload them
    // every row (the row set's: 20% of a float32 pass in order, measured).
    const Loss loss = loss_ref;
    const RowSet rows = rows_ref;
    RowExtent ext = Measure ? *extent : RowExtent{};
    const index_t p = X.n_cols;
    double* gb = part + 1;
    double* G = part + 1 + k;
    // float32 rows accumulate the gradient in float for up to 16 rows (four
    // groups), then flush into the double G: the float lanes are twice as wide.
    constexpr bool float_rows = std::is_same_v<T, float>;
    float* Gf = float_rows ? reinterpret_cast<float*>(G + k * p) : nullptr;
    int groups_in_float = 0;
    double loss_sum = 0.0;
    bool finite = true;
    index_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        // Shuffled mini-batches read rows at random: start loading the ones
        // a few groups on (into the next batch's).
        for (int u = 0; u < 4; ++u) {
            prefetch_ahead(X, rows, r + u);
            prefetch_targets(rows, r + u, y, k, sample_weight);
        }
        double sq[4];
        loss_grad_group<Fma, K, false, T, Measure>(X, rows, r, 4, y, sample_weight, Wt, b, k, loss, gb, G, Gf,
                                                   loss_sum, finite, sq);
        if constexpr (Measure)
            for (int u = 0; u < 4; ++u) ext.add_sq_norm(sq[u]);
        if constexpr (float_rows) {
            if (++groups_in_float == 4) {
                flush_float_accumulator(Gf, G, k * p);
                groups_in_float = 0;
            }
        }
    }
    if (r < r1) {
        loss_grad_group<Fma, K, true>(X, rows, r, static_cast<int>(r1 - r), y, sample_weight, Wt, b, k, loss, gb,
                                      G, Gf, loss_sum, finite);
        if constexpr (Measure) add_rows_to_extent_impl(X, rows, r, r1, ext);
        ++groups_in_float;
    }
    bool float_overflow = false;
    if constexpr (float_rows) {
        if (groups_in_float > 0) flush_float_accumulator(Gf, G, k * p);
        // Double sums of finite float partials cannot overflow: a non-finite G
        // means a float partial did (with finite predictions and derivatives).
        double total = 0.0;
        for (index_t j = 0; j < k * p; ++j) total += G[j] * 0.0;
        float_overflow = !std::isfinite(total);
    }
    part[0] += loss_sum;
    if constexpr (Measure) *extent = ext;
    if (!finite) return row_nonfinite;
    return float_overflow ? row_float_overflow : row_ok;
}

// The multinomial log-loss over rows [r0, r1) of row-major double X, four rows
// at a time (lanes = rows): the k predictions of each, the softmax, and the k
// gradient updates while the rows sit in L1. Adds to part = [loss, gb, G];
// returns false on a non-finite prediction.
template <bool Fma>
GDFAST_INLINE bool rows_multinomial(const DenseMatrix<double>& X, const RowSet& rows, index_t r0, index_t r1,
                                    const double* y, const double* sample_weight, const double* W, const double* b,
                                    index_t k, double* part) {
    const index_t p = X.n_cols;
    double* gb = part + 1;
    double* G = part + 1 + k;
    std::vector<double> P(static_cast<std::size_t>(4 * k)), D(static_cast<std::size_t>(4 * k));
    double loss_sum = 0.0;
    bool finite = true;
    for (index_t r = r0; r < r1; r += 4) {
        for (int u = 0; u < 4; ++u) {
            prefetch_ahead(X, rows, r + u);
            prefetch_targets(rows, r + u, y, 1, sample_weight);
        }
        const int count = static_cast<int>(std::min<index_t>(4, r1 - r));
        index_t idx[4], c[4];
        const double* x[4];
        double s[4];
        for (int u = 0; u < 4; ++u) {
            const bool real = u < count;
            idx[u] = rows[r + (real ? u : 0)];
            x[u] = X.row(idx[u]);
            c[u] = static_cast<index_t>(y[idx[u]]);
            s[u] = !real ? 0.0 : (sample_weight ? sample_weight[idx[u]] : 1.0);
        }
        for (index_t t = 0; t < k; ++t) {
            double pred[4];
            dot_four_rows<Fma>(x, W + t * p, p, pred);
            for (int u = 0; u < 4; ++u) {
                pred[u] += b[t];
                finite &= static_cast<bool>(std::isfinite(pred[u]));
            }
            std::copy(pred, pred + 4, P.begin() + 4 * t);
        }
        const vdouble4 v = MultinomialLogLoss::eval<vdouble4>(P.data(), 4, k, c, D.data());
        const vdouble4 sv = vload<vdouble4>(s);
        for (int u = 0; u < count; ++u) loss_sum += s[u] * v[u];
        for (index_t t = 0; t < k; ++t) {
            double d[4];
            vstore(d, vload<vdouble4>(D.data() + 4 * t) * sv);
            gb[t] += (d[0] + d[1]) + (d[2] + d[3]);
            axpy_four_rows<Fma>(d, x, G + t * p, p);
        }
    }
    part[0] += loss_sum;
    return finite;
}

// The coefficients in the element type of X: W itself for double, a float copy
// (kept in `buffer`) for float, or null when a coefficient does not fit in a
// float (then the rows are multiplied in double, by the tiled path).
template <class T>
const T* coef_as(const double* W, index_t n, std::vector<float>& buffer) {
    if constexpr (std::is_same_v<T, float>) {
        buffer.resize(static_cast<std::size_t>(n));
        bool fits = true;
        for (index_t j = 0; j < n; ++j) {
            buffer[static_cast<std::size_t>(j)] = static_cast<float>(W[j]);
            fits = fits && (std::isfinite(buffer[static_cast<std::size_t>(j)]) || !std::isfinite(W[j]));
        }
        return fits ? buffer.data() : nullptr;
    } else {
        return W;
    }
}

// One block of the fused pass: rows [r0, r1) of `rows`, added to part = [loss,
// gb, G], and to *extent when given. P and D are scratch for a tile. Returns
// false on a non-finite prediction.
template <bool Fma, class Matrix, class T>
GDFAST_INLINE bool block_loss_grad_impl(const Matrix& X, const RowSet& rows, index_t r0, index_t r1, const T* y,
                                        const T* sample_weight, const double* W, const T* Wt, const double* b,
                                        index_t k, const Loss& loss, index_t tile, double* P, double* D,
                                        double* part, bool gradient, RowExtent* extent) {
    if constexpr (!is_csr<Matrix>::value && std::is_same_v<T, double>) {
        if (gradient && X.col_stride == 1 && !X.column_major() && is_row_loss(loss.kind)) {
            const bool finite = rows_multinomial<Fma>(X, rows, r0, r1, y, sample_weight, W, b, k, part);
            if (extent) add_rows_to_extent_impl(X, rows, r0, r1, *extent);
            return finite;
        }
    }
    if constexpr (!is_csr<Matrix>::value) {
        if (gradient && Wt != nullptr && X.col_stride == 1 && !X.column_major() && !is_row_loss(loss.kind)) {
            // One dispatch per block: the row loop knows its loss. A switch, not
            // with_loss: a lambda would not inherit the AVX2 target of this clone.
            int st = row_ok;
#define GDFAST_ROWS_CASE(name, code)                                                                           \
    case LossKind::name:                                                                                       \
        st = extent ? rows_loss_grad<Fma, LossKind::name, true>(X, rows, r0, r1, y, sample_weight, Wt, b, k, loss, \
                                                                  part, extent)                                \
                    : rows_loss_grad<Fma, LossKind::name, false>(X, rows, r0, r1, y, sample_weight, Wt, b, k, loss, \
                                                                   part, nullptr);                             \
        break;
            switch (loss.kind) {
                GDFAST_LOSSES(GDFAST_ROWS_CASE)
                default:  // row losses take the tiled path
                    break;
            }
#undef GDFAST_ROWS_CASE
            if (st != row_float_overflow) return st == row_ok;
            // Sums over rows are double by contract: redo this block in double.
            std::fill(part, part + 1 + k + k * X.n_cols, 0.0);
        }
    }
    bool finite = true;
    for (index_t t0 = r0; t0 < r1; t0 += tile) {
        const index_t m = std::min(tile, r1 - t0);
        tile_predict(X, rows, t0, m, W, b, k, P);
        finite = tile_loss(rows, t0, m, y, sample_weight, k, loss, P, D, part, part + 1) && finite;
        if (gradient) tile_gradient(X, rows, t0, m, D, k, part + 1 + k);
        if (extent) add_rows_to_extent_impl(X, rows, t0, t0 + m, *extent);  // (the tile is in cache)
    }
    return finite;
}
GDFAST_MULTIVERSION_AVX2_AS(block_loss_grad, (<false>), (<true>))

// out[i * k + t] for the rows [r0, r1); returns false on a non-finite output.
template <class Matrix, class T>
GDFAST_INLINE bool block_predict_impl(const Matrix& X, index_t r0, index_t r1, const double* W, const double* b,
                                      index_t k, index_t tile, double* P, T* out) {
    const RowSet all{nullptr, X.n_rows};
    bool finite = true;
    for (index_t t0 = r0; t0 < r1; t0 += tile) {
        const index_t m = std::min(tile, r1 - t0);
        tile_predict(X, all, t0, m, W, b, k, P);
        for (index_t r = 0; r < m; ++r)
            for (index_t t = 0; t < k; ++t) {
                const T v = static_cast<T>(P[t * m + r]);
                finite = finite && std::isfinite(v);
                out[(t0 + r) * k + t] = v;
            }
    }
    return finite;
}
GDFAST_MULTIVERSION(block_predict)

// The fused pass over the rows in `rows`. y is (n, k) row-major (n class
// indices for a row loss) and sample_weight (n,) or null, both indexed by the
// original row number. Outputs: *loss_out, G_out (k x p) and gb_out (k); with
// `extent`, the rows are added to it as they are read (their targets: add_targets_to_extent).
// Returns status_nonfinite if a prediction was not finite; the sums are still
// written. A null G_out asks for the loss (and gb) alone: no gradient is summed.
template <class Matrix, class T = typename Matrix::value_type>
Status loss_grad(const Matrix& X, const RowSet& rows, const T* y, const T* sample_weight, const double* W,
                 const double* b, index_t k, const Loss& loss, int n_threads, LossGradWorkspace& ws,
                 double* loss_out, double* G_out, double* gb_out, RowExtent* extent = nullptr) {
    const index_t p = X.n_cols;
    const bool gradient = G_out != nullptr;
    const index_t width = 1 + k + (gradient ? k * p : 0);
    // float32 rows keep a float gradient accumulator after G in each block's slot
    const index_t scratch = gradient && std::is_same_v<T, float> ? (k * p + 1) / 2 : 0;
    const RowBlocks blocks = make_row_blocks(rows.count, width);
    // A mini-batch smaller than a tile is one tile either way: no larger scratch
    // to clear on every step.
    const index_t tile = std::min(tile_rows_for(p, sizeof(T)), std::max<index_t>(8, (rows.count + 7) / 8 * 8));
    const int threads = threads_for_work(n_threads, 2.0 * static_cast<double>(rows.count) * p * k, blocks.n_blocks);

    ws.partials.assign(blocks.n_blocks, width + scratch, 0.0);
    ws.flags.assign(static_cast<std::size_t>(blocks.n_blocks), 0);
    ws.tiles.reserve(threads, 2 * k * tile);  // predictions and derivatives, written before read
    if (extent) ws.extents.assign(static_cast<std::size_t>(blocks.n_blocks), RowExtent{});
    const T* Wt = coef_as<T>(W, k * p, ws.coef_float);

    parallel_for(blocks.n_blocks, threads, [&](index_t blk) {
        double* part = ws.partials.slot(blk);
        double* P = ws.tiles.slot(current_thread());
        double* D = P + k * tile;
        const bool finite = block_loss_grad(X, rows, blocks.begin(blk), blocks.end(blk), y, sample_weight, W, Wt,
                                            b, k, loss, tile, P, D, part, gradient,
                                            extent ? &ws.extents[static_cast<std::size_t>(blk)] : nullptr);
        ws.flags[static_cast<std::size_t>(blk)] = finite ? 0 : 1;
    });

    *loss_out = 0.0;
    std::fill(gb_out, gb_out + k, 0.0);
    if (gradient) std::fill(G_out, G_out + k * p, 0.0);
    bool finite = true;
    for (index_t blk = 0; blk < blocks.n_blocks; ++blk) {
        const double* part = ws.partials.slot(blk);
        *loss_out += part[0];
        for (index_t t = 0; t < k; ++t) gb_out[t] += part[1 + t];
        if (gradient)
            for (index_t q = 0; q < k * p; ++q) G_out[q] += part[1 + k + q];
        finite = finite && ws.flags[static_cast<std::size_t>(blk)] == 0;
        if (extent) extent->merge(ws.extents[static_cast<std::size_t>(blk)]);
    }
    return finite ? status_ok : status_nonfinite;
}

// out[i * k + t] = x_i . W_t + b_t for every row. Returns status_nonfinite if an
// output is not finite.
template <class Matrix, class T = typename Matrix::value_type>
Status predict(const Matrix& X, const double* W, const double* b, index_t k, int n_threads, T* out) {
    const index_t n = X.n_rows;
    const index_t p = X.n_cols;
    const RowBlocks blocks = make_row_blocks(n, 1);
    const index_t tile = tile_rows_for(p, sizeof(T));
    const int threads = threads_for_work(n_threads, static_cast<double>(n) * p * k, blocks.n_blocks);
    PaddedSlots scratch;
    scratch.assign(threads, k * tile, 0.0);
    std::vector<int> flags(static_cast<std::size_t>(blocks.n_blocks), 0);
    parallel_for(blocks.n_blocks, threads, [&](index_t blk) {
        double* P = scratch.slot(current_thread());
        const bool finite = block_predict(X, blocks.begin(blk), blocks.end(blk), W, b, k, tile, P, out);
        flags[static_cast<std::size_t>(blk)] = finite ? 0 : 1;
    });
    for (int f : flags)
        if (f) return status_nonfinite;
    return status_ok;
}

}  // namespace gdfast
