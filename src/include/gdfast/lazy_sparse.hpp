// Mini-batch steps on CSR rows at the cost of the batch's nonzeros, not of the
// number of features: gd_fit's sgd, momentum and Nesterov steps with an L2
// term and implicit standardization, the same iterates as its dense steps.
//
// In working coordinates (gd.hpp) the gradient of a coefficient V_tj that no
// row of the batch reads is lambda V_tj - c_j R_t: its L2 term and the
// centering term, with c_j = mu_j / sigma_j and R_t the batch's mean derivative.
// Its state s_tj (V_tj, and its velocity) then moves by the one linear map
// s' = A s - f c_j R_t of every such coordinate (linear_step). So the states
// are kept as
//   s_tj = M u_tj + c_j q_t            (M: d x d and q_t: d, shared)
// and a step updates M <- A M and q_t <- A q_t - f R_t in O(1), and u only
// where the batch has nonzeros: u_tj += M^-1 f G_tj / (sigma_j norm). Stored
// per feature, scaled to raw coordinates: ut_tj = u_tj / sigma_j and
// ct_j = mu_j / sigma_j^2, so that the raw coefficients are
//   W_tj = M_0 . ut_tj + ct_j q_t0      b_t = c_t - M_0 . Y_t - q_t0 K
// with Y_t = sum_j mu_j ut_tj (kept current) and K = sum_j mu_j ct_j.
// The representation is folded into explicit states (M = I, q = 0) when M
// grows ill-conditioned (momentum's decaying mode makes M^-1 grow), every
// `fold_every` steps (so that rounding cannot build up), and by store().
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "common.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "row_norms.hpp"
#include "rowops.hpp"
#include "staging.hpp"

namespace gdfast {

template <class T, class I>
class LazySparseSteps {
public:
    // k outputs over X's features, the optimizer's state dimension d (1 or 2),
    // mini-batches of up to max_batch rows; mean and scale as in gd_fit.
    LazySparseSteps(const CsrMatrix<T, I>& X, index_t k, int d, const double* mean, const double* scale,
                    index_t max_batch)
        : X_(X), p_(X.n_cols), k_(k), d_(d), mean_(mean), scale_(scale), q_(static_cast<std::size_t>(k * d)),
          Y_(static_cast<std::size_t>(k * d)), acc_(static_cast<std::size_t>(k * d)), braw_(static_cast<std::size_t>(k)),
          P_(static_cast<std::size_t>(k * max_batch)), D_(static_cast<std::size_t>(k * max_batch)),
          xc_(static_cast<std::size_t>(max_batch)) {
        for (index_t j = 0; j < p_; ++j) scaled_ = scaled_ || mean_[j] != 0.0 || scale_[j] != 1.0;
        // Without scaling ct = 0 and sigma = 1: ut alone is stored.
        stride_ = k_ * d_ + (scaled_ ? 2 : 0);
        L_.resize(static_cast<std::size_t>(p_ * stride_));
        K_ = 0.0;
        if (scaled_) {
            for (index_t j = 0; j < p_; ++j) {
                const double s2 = scale_[j] * scale_[j];
                double* f = feature(j);
                f[k_ * d_] = mean_[j] / s2;
                f[k_ * d_ + 1] = 1.0 / s2;
                K_ += mean_[j] * mean_[j] / s2;
            }
        }
        // A fold costs k p d: once per about 8 p d / (batch nonzeros) steps it
        // adds an eighth to the steps' cost.
        const double nnz_row =
            X.n_rows > 0 ? static_cast<double>(X.indptr[X.n_rows]) / static_cast<double>(X.n_rows) : 1.0;
        const double batch_nnz = std::max(1.0, nnz_row * static_cast<double>(max_batch));
        fold_every_ = static_cast<index_t>(std::clamp(8.0 * static_cast<double>(p_ * d_) / batch_nnz, 16.0, 65536.0));
    }

    // Explicit states in: theta (k x p, working coordinates), and the velocity
    // (k x p) when d = 2.
    void load(const double* theta, const double* velocity) {
        for (index_t j = 0; j < p_; ++j) {
            double* f = feature(j);
            for (index_t t = 0; t < k_; ++t) {
                f[t * d_] = theta[t * p_ + j] / scale_[j];
                if (d_ == 2) f[t * d_ + 1] = velocity[t * p_ + j] / scale_[j];
            }
        }
        reset();
    }

    // Explicit states out (folds first).
    void store(double* theta, double* velocity) {
        fold();
        for (index_t j = 0; j < p_; ++j) {
            const double* f = feature(j);
            for (index_t t = 0; t < k_; ++t) {
                theta[t * p_ + j] = f[t * d_] * scale_[j];
                if (d_ == 2) velocity[t * p_ + j] = f[t * d_ + 1] * scale_[j];
            }
        }
    }

    // One step over the batch `rows`: predictions at the current parameters
    // (intercepts c, working coordinates), the weighted losses added to
    // *loss_sum and the summed derivatives to gb (k), then the coefficients'
    // update by L, the gradient being divided by norm. False if a prediction
    // was not finite. rows.rows[0, available) are the rows to come (this
    // batch's and the next ones'), for prefetching. `staged`, when not null,
    // holds a copy of the batch's rows, targets and weights, read instead.
    // The rows' squared norms go into *extent when it is not null.
    bool step(const RowSet& rows, index_t available, const T* y, const T* sample_weight,
              const StagedBatch<T, I>* staged, const Loss& loss, const double* c, const LinearStep& L, double norm,
              double* loss_sum, double* gb, RowExtent* extent) {
        const index_t m = rows.count;
        for (index_t t = 0; t < k_; ++t) {
            const double* Yt = Y_.data() + t * d_;
            const double MY = d_ == 1 ? M_[0][0] * Yt[0] : M_[0][0] * Yt[0] + M_[0][1] * Yt[1];
            braw_[static_cast<std::size_t>(t)] = c[t] - MY - q_[static_cast<std::size_t>(t * d_)] * K_;
        }
        const index_t y_stride = is_row_loss(loss.kind) ? 1 : k_;
        const FromX from_x{*this, rows, available, y, y_stride};
        RowExtent e;
        dispatch([&](auto dim, auto scaled) {
            constexpr int D = decltype(dim)::value;
            constexpr bool S = decltype(scaled)::value;
            staged ? predict<D, S>(FromStaged{*this, *staged}, m, e) : predict<D, S>(from_x, m, e);
        });
        if (extent != nullptr) extent->merge(e);
        for (index_t t = 0; t < k_; ++t) gb[t] = 0.0;
        const bool finite = staged ? tile_loss(RowSet{nullptr, m}, 0, m, staged->y.data(),
                                               staged->w.empty() ? nullptr : staged->w.data(), k_, loss, P_.data(),
                                               D_.data(), loss_sum, gb)
                                   : tile_loss(rows, 0, m, y, sample_weight, k_, loss, P_.data(), D_.data(), loss_sum, gb);
        if (!finite) return false;
        // M <- A M, q_t <- A q_t - f R_t.
        double Mn[2][2];
        for (int a = 0; a < 2; ++a)
            for (int e = 0; e < 2; ++e) Mn[a][e] = L.A[a][0] * M_[0][e] + L.A[a][1] * M_[1][e];
        std::copy(&Mn[0][0], &Mn[0][0] + 4, &M_[0][0]);
        for (index_t t = 0; t < k_; ++t) {
            double* qt = q_.data() + t * d_;
            const double R = gb[t] / norm;
            const double q0 = qt[0], q1 = d_ == 2 ? qt[1] : 0.0;
            qt[0] = L.A[0][0] * q0 + L.A[0][1] * q1 - L.f[0] * R;
            if (d_ == 2) qt[1] = L.A[1][0] * q0 + L.A[1][1] * q1 - L.f[1] * R;
        }
        if (++since_fold_ >= fold_every_ || !well_conditioned()) fold();
        // kappa = M^-1 f / norm: the change of ut per unit of x D / sigma^2.
        double kappa[2] = {0.0, 0.0};
        if (d_ == 1) {
            kappa[0] = L.f[0] / (M_[0][0] * norm);
        } else {
            const double det = M_[0][0] * M_[1][1] - M_[0][1] * M_[1][0];
            kappa[0] = (M_[1][1] * L.f[0] - M_[0][1] * L.f[1]) / (det * norm);
            kappa[1] = (M_[0][0] * L.f[1] - M_[1][0] * L.f[0]) / (det * norm);
        }
        dispatch([&](auto dim, auto scaled) {
            constexpr int D = decltype(dim)::value;
            constexpr bool S = decltype(scaled)::value;
            staged ? scatter<D, S>(FromStaged{*this, *staged}, m, kappa) : scatter<D, S>(from_x, m, kappa);
        });
        return true;
    }

private:
    double* feature(index_t j) { return L_.data() + j * stride_; }
    const double* feature(index_t j) const { return L_.data() + j * stride_; }

    template <class F>
    void dispatch(F&& f) {
        using one = std::integral_constant<int, 1>;
        using two = std::integral_constant<int, 2>;
        if (d_ == 1)
            scaled_ ? f(one{}, std::true_type{}) : f(one{}, std::false_type{});
        else
            scaled_ ? f(two{}, std::true_type{}) : f(two{}, std::false_type{});
    }

    void reset() {
        M_[0][0] = 1.0, M_[0][1] = 0.0, M_[1][0] = 0.0, M_[1][1] = 1.0;
        std::fill(q_.begin(), q_.end(), 0.0);
        since_fold_ = 0;
        std::fill(Y_.begin(), Y_.end(), 0.0);
        if (!scaled_) return;
        for (index_t j = 0; j < p_; ++j) {
            const double* f = feature(j);
            for (index_t a = 0; a < k_ * d_; ++a) Y_[static_cast<std::size_t>(a)] += mean_[j] * f[a];
        }
    }

    // M's condition number (its Frobenius norm squared over |det|, for d = 2)
    // bounds the relative rounding of states read back through it.
    bool well_conditioned() const {
        if (d_ == 1) return std::fabs(M_[0][0]) > 1e-150 && std::fabs(M_[0][0]) < 1e150;
        const double det = M_[0][0] * M_[1][1] - M_[0][1] * M_[1][0];
        const double fro = M_[0][0] * M_[0][0] + M_[0][1] * M_[0][1] + M_[1][0] * M_[1][0] + M_[1][1] * M_[1][1];
        return std::isfinite(fro) && fro < 1e4 * std::fabs(det);
    }

    // ut_tj <- M ut_tj + ct_j q_t for every feature: the explicit states.
    void fold() {
        for (index_t j = 0; j < p_; ++j) {
            double* f = feature(j);
            const double ct = scaled_ ? f[k_ * d_] : 0.0;
            for (index_t t = 0; t < k_; ++t) {
                double* u = f + t * d_;
                const double* qt = q_.data() + t * d_;
                if (d_ == 1) {
                    u[0] = M_[0][0] * u[0] + ct * qt[0];
                } else {
                    const double u0 = u[0], u1 = u[1];
                    u[0] = M_[0][0] * u0 + M_[0][1] * u1 + ct * qt[0];
                    u[1] = M_[1][0] * u0 + M_[1][1] * u1 + ct * qt[1];
                }
            }
        }
        reset();
    }

    // Shuffled rows are random reads, prefetched in three stages as the rows
    // are predicted: the row's extent in indptr, then its values and indices
    // (and its target) into L2, then its values and the lines of its features
    // into L1 (in L2 they still cost the predictions a third of an epoch).
    // Spread over the loop, the requests never fill the miss queue (a burst
    // of a whole batch's would). Staged rows are read in order: their
    // features alone are prefetched.
    static constexpr index_t extent_ahead = 24, row_ahead = 12, feature_ahead = 4;

    GDFAST_INLINE void prefetch_features(const SparseRow<T, I>& x) const {
        for (index_t z = 0; z < x.nnz; ++z) prefetch<CacheLevel::l1>(feature(static_cast<index_t>(x.idx[z])));
    }

    // A step's rows: X's, at the batch's places in the order (rows.rows[0,
    // available) final, for prefetching), or a staged copy of them.
    struct FromX {
        const LazySparseSteps& s;
        const RowSet& rows;
        index_t available;
        const T* y;
        index_t y_stride;

        GDFAST_INLINE SparseRow<T, I> row(index_t r) const { return row_of(s.X_, rows[r]); }
        GDFAST_INLINE void prefetch_ahead(index_t r) const {
            const index_t* order = rows.rows;
            if (r + extent_ahead < available) prefetch_row_extent(s.X_, order[r + extent_ahead]);
            if (r + row_ahead < available) {
                const index_t i = order[r + row_ahead];
                prefetch_row(s.X_, i);
                prefetch(y + i * y_stride);
            }
            if (r + feature_ahead < available) {
                const SparseRow<T, I> x = row_of(s.X_, order[r + feature_ahead]);
                prefetch_span<CacheLevel::l1>(reinterpret_cast<const char*>(x.values),
                                              x.nnz * static_cast<index_t>(sizeof(T)));
                s.prefetch_features(x);
            }
        }
    };
    struct FromStaged {
        const LazySparseSteps& s;
        const StagedBatch<T, I>& batch;

        GDFAST_INLINE SparseRow<T, I> row(index_t r) const { return batch.row(r); }
        GDFAST_INLINE void prefetch_ahead(index_t r) const {
            if (r + feature_ahead < batch.count) s.prefetch_features(batch.row(r + feature_ahead));
        }
    };

    // P[t * m + r] = x_r . W_t + b_t, and xc_[r] = x_r . ct; the rows'
    // squared norms into e.
    template <int Dim, bool Scaled, class Rows>
    void predict(const Rows& src, index_t m, RowExtent& e) {
        const index_t kd = k_ * Dim, st = stride_;
        RowExtent local = e;  // not reloaded through e for every row
        const double* GDFAST_RESTRICT Lp = L_.data();
        const double M00 = M_[0][0], M01 = M_[0][1];
        for (index_t r = 0; r < m; ++r) {
            src.prefetch_ahead(r);
            const SparseRow<T, I> x = src.row(r);
            double xc = 0.0, sq = 0.0;
            if (k_ == 1) {
                double a0 = 0.0, a1 = 0.0;
                for (index_t z = 0; z < x.nnz; ++z) {
                    const double v = static_cast<double>(x.values[z]);
                    const double* f = Lp + static_cast<index_t>(x.idx[z]) * st;
                    a0 += v * f[0];
                    if constexpr (Dim == 2) a1 += v * f[1];
                    if constexpr (Scaled) xc += v * f[Dim];
                    sq += v * v;
                }
                P_[static_cast<std::size_t>(r)] = M00 * a0 + (Dim == 2 ? M01 * a1 : 0.0) + q_[0] * xc + braw_[0];
            } else {
                double* GDFAST_RESTRICT acc = acc_.data();
                for (index_t a = 0; a < kd; ++a) acc[a] = 0.0;
                for (index_t z = 0; z < x.nnz; ++z) {
                    const double v = static_cast<double>(x.values[z]);
                    const double* f = Lp + static_cast<index_t>(x.idx[z]) * st;
                    for (index_t a = 0; a < kd; ++a) acc[a] += v * f[a];
                    if constexpr (Scaled) xc += v * f[kd];
                    sq += v * v;
                }
                for (index_t t = 0; t < k_; ++t) {
                    const double* at = acc + t * Dim;
                    const double xw = Dim == 1 ? M00 * at[0] : M00 * at[0] + M01 * at[1];
                    P_[static_cast<std::size_t>(t * m + r)] =
                        xw + q_[static_cast<std::size_t>(t * Dim)] * xc + braw_[static_cast<std::size_t>(t)];
                }
            }
            xc_[static_cast<std::size_t>(r)] = xc;
            local.add_sq_norm(sq);
        }
        e = local;
    }

    // ut_tj += kappa x_rj D_tr / sigma_j^2 over the batch's nonzeros, and Y_t
    // by the same change: kappa sum_r D_tr xc_r.
    template <int Dim, bool Scaled, class Rows>
    void scatter(const Rows& src, index_t m, const double* kappa) {
        const index_t kd = k_ * Dim, st = stride_;
        double* GDFAST_RESTRICT Lp = L_.data();
        const double k0 = kappa[0], k1 = kappa[1];
        for (index_t r = 0; r < m; ++r) {
            const SparseRow<T, I> x = src.row(r);
            if (k_ == 1) {
                const double Dr = D_[static_cast<std::size_t>(r)];
                if (Dr == 0.0) continue;
                const double c0 = k0 * Dr, c1 = k1 * Dr;
                for (index_t z = 0; z < x.nnz; ++z) {
                    double* f = Lp + static_cast<index_t>(x.idx[z]) * st;
                    const double v = Scaled ? static_cast<double>(x.values[z]) * f[kd + 1]
                                            : static_cast<double>(x.values[z]);
                    f[0] += c0 * v;
                    if constexpr (Dim == 2) f[1] += c1 * v;
                }
                continue;
            }
            for (index_t z = 0; z < x.nnz; ++z) {
                double* f = Lp + static_cast<index_t>(x.idx[z]) * st;
                const double v = Scaled ? static_cast<double>(x.values[z]) * f[kd + 1] : static_cast<double>(x.values[z]);
                for (index_t t = 0; t < k_; ++t) {
                    const double w = v * D_[static_cast<std::size_t>(t * m + r)];
                    f[t * Dim] += k0 * w;
                    if constexpr (Dim == 2) f[t * Dim + 1] += k1 * w;
                }
            }
        }
        if constexpr (Scaled) {
            for (index_t t = 0; t < k_; ++t) {
                double s = 0.0;
                for (index_t r = 0; r < m; ++r)
                    s += D_[static_cast<std::size_t>(t * m + r)] * xc_[static_cast<std::size_t>(r)];
                Y_[static_cast<std::size_t>(t * Dim)] += k0 * s;
                if constexpr (Dim == 2) Y_[static_cast<std::size_t>(t * Dim + 1)] += k1 * s;
            }
        }
    }

    const CsrMatrix<T, I>& X_;
    index_t p_, k_;
    int d_;
    const double* mean_;
    const double* scale_;
    bool scaled_ = false;
    index_t stride_ = 1;
    std::vector<double> L_;  // per feature: ut (k x d), then (when scaled) ct and 1 / sigma^2
    double M_[2][2] = {{1.0, 0.0}, {0.0, 1.0}};
    std::vector<double> q_, Y_, acc_, braw_;
    double K_ = 0.0;
    std::vector<double> P_, D_, xc_;
    index_t since_fold_ = 0, fold_every_ = 16;
};

// The lazy steps of a matrix type: none for dense matrices.
template <class Matrix>
struct LazyStepsFor {
    struct type {};
};
template <class T, class I>
struct LazyStepsFor<CsrMatrix<T, I>> {
    using type = LazySparseSteps<T, I>;
};

}  // namespace gdfast
