// Per-sample stochastic gradient descent with scikit-learn's semantics.
//
// For each sample i, in an order shuffled once per epoch:
//   p = w . x_i + b
//   w <- max(0, 1 - (1 - l1_ratio) eta alpha) w       (L2 shrinkage, O(1) via a scale)
//   w <- w - eta s_i l'(p, y_i) x_i,   b <- b - eta s_i l'(p, y_i) decay
//   L1 part: cumulative truncated gradient (Tsuruoka et al., 2009)
//   averaged SGD: the average of the iterates from t = average on (Bottou's trick)
// Whole epochs run here without the GIL; every update costs O(nnz(x_i)).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include "common.hpp"
#include "losses.hpp"
#include "monitor.hpp"
#include "penalty.hpp"
#include "row_norms.hpp"
#include "rowops.hpp"
#include "schedule.hpp"
#include "settings.hpp"
#include "staging.hpp"
#include "stats.hpp"

namespace gdfast {

// scikit-learn's per-sample SGD needs nothing beyond the shared settings.
using SgdParams = FitSettings;

// Parameters in and out. coef/avg_coef hold n_features doubles; avg_coef may be
// null when averaging is off. t is scikit-learn's t_ (starts at 1).
struct SgdState {
    double* coef = nullptr;
    double* avg_coef = nullptr;
    double intercept = 0.0;
    double avg_intercept = 0.0;
    double t = 1.0;
    FitRecord record;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("intercept", s.intercept), f("avg_intercept", s.avg_intercept), f("t", s.t);
    }
};

// w = wscale * w_raw, so that L2 shrinkage is O(1); plus the running average
// avg = (aw + average_a * w_raw) / average_b, so that averaging is O(nnz).
// sq_norm / l1_norm follow scikit-learn's WeightVector to the letter (they only
// feed the stopping rule, and identical rules give identical n_iter_; the
// log_loss value there is within 1e-15 of the exact one, see losses.hpp): exact at
// the start of a call, scaled with w, and after each update recomputed over the
// coordinates the sample touched (all of them for dense rows); the L1 step does
// not refresh them.
struct ScaledWeights {
    double* w;
    index_t n;
    double wscale = 1.0;
    double* aw = nullptr;
    double average_a = 0.0;
    double average_b = 1.0;
    double sq_norm = 0.0;
    double l1_norm = 0.0;

    void compute_norms() {
        double s = 0.0, l = 0.0;
        for (index_t j = 0; j < n; ++j) {
            s += w[j] * w[j];
            l += std::fabs(w[j]);
        }
        sq_norm = s * wscale * wscale;
        l1_norm = l * std::fabs(wscale);
    }

    void reset_scale() {
        if (aw != nullptr) {
            for (index_t j = 0; j < n; ++j) aw[j] = (aw[j] + average_a * w[j]) / average_b;
            average_a = 0.0;
            average_b = 1.0;
        }
        for (index_t j = 0; j < n; ++j) w[j] *= wscale;
        wscale = 1.0;
    }

    void scale(double c) {
        wscale *= c;
        sq_norm *= c * c;
        l1_norm *= std::fabs(c);
        if (wscale < 1e-9) reset_scale();
    }
};

// w_raw += a * x (a already divided by wscale), then the touched-coordinate norms
// (four partial sums each, the lanes of one vector, added up in a fixed order).
template <class T>
GDFAST_INLINE void add_row(ScaledWeights& W, const DenseRow<T>& x, double a, bool track_norms) {
    double* GDFAST_RESTRICT w = W.w;
    const T* GDFAST_RESTRICT xv = x.x;
    const index_t n = x.n;
    if (x.stride != 1) {
        x.axpy(a, w);
        if (track_norms) W.compute_norms();
        return;
    }
    if (!track_norms) {
        for (index_t j = 0; j < n; ++j) w[j] += a * static_cast<double>(xv[j]);
        return;
    }
    vdouble4 s = {0, 0, 0, 0}, l = {0, 0, 0, 0};
    index_t j = 0;
    const vdouble4 a4 = vbroadcast<vdouble4>(a);
    for (; j + 4 <= n; j += 4) {
        const vdouble4 v = vload<vdouble4>(w + j) + a4 * vload4(xv + j);
        vstore(w + j, v);
        s += v * v;
        l += vabs(v);
    }
    double ss = (s[0] + s[2]) + (s[1] + s[3]), ll = (l[0] + l[2]) + (l[1] + l[3]);
    for (; j < n; ++j) {
        const double v = w[j] + a * static_cast<double>(xv[j]);
        w[j] = v;
        ss += v * v;
        ll += std::fabs(v);
    }
    W.sq_norm = ss * W.wscale * W.wscale;
    W.l1_norm = ll * W.wscale;
}

template <class T, class I>
GDFAST_INLINE void add_row(ScaledWeights& W, const SparseRow<T, I>& x, double a, bool track_norms) {
    double* w = W.w;
    double ss = 0.0, ll = 0.0;
    for (index_t q = 0; q < x.nnz; ++q) {
        const index_t j = static_cast<index_t>(x.idx[q]);
        w[j] += a * static_cast<double>(x.values[q]);
        ss += w[j] * w[j];
        ll += std::fabs(w[j]);
    }
    if (track_norms) {
        W.sq_norm = ss * W.wscale * W.wscale;
        W.l1_norm = ll * W.wscale;
    }
}

// aw -= average_a * c / wscale * x, then the averaging coefficients move on.
template <class Row>
GDFAST_INLINE void add_average(ScaledWeights& W, const Row& x, double c, double num_iter) {
    const double mu = 1.0 / num_iter;
    x.axpy(W.average_a * (-c / W.wscale), W.aw);
    if (num_iter > 1) W.average_b /= (1.0 - mu);
    W.average_a += mu * W.average_b * W.wscale;
}

// Truncated-gradient L1 step on the coordinates x touches; q holds the penalty
// each coordinate has already received, u the total it should have received.
GDFAST_INLINE void l1_truncate(ScaledWeights& W, double* q, index_t j, double u) {
    double* w = W.w;
    const double z = w[j];
    const double ws = W.wscale;
    if (ws * z > 0.0)
        w[j] = std::max(0.0, w[j] - (u + q[j]) / ws);
    else if (ws * z < 0.0)
        w[j] = std::min(0.0, w[j] + (u - q[j]) / ws);
    q[j] += ws * (w[j] - z);
}

template <class T>
GDFAST_INLINE void l1_penalty(ScaledWeights& W, double* q, const DenseRow<T>& x, double u) {
    for (index_t j = 0; j < x.n; ++j) l1_truncate(W, q, j, u);
}

template <class T, class I>
GDFAST_INLINE void l1_penalty(ScaledWeights& W, double* q, const SparseRow<T, I>& x, double u) {
    for (index_t k = 0; k < x.nnz; ++k) l1_truncate(W, q, static_cast<index_t>(x.idx[k]), u);
}

// Mutable per-call state of the epoch loop (scikit-learn keeps these local to one
// fit/partial_fit call).
struct SgdRun {
    double eta = 0.0;
    double optimal_init = 0.0;
    double u = 0.0;        // cumulative L1 penalty
    double count = 0.0;    // updates in this call
    double objective_sum = 0.0;
    double loss_sum = 0.0;
    bool interrupted = false;
    // Set for the call's first epoch: it measures the rows' extent.
    bool measure = false;
    RowExtent extent;
};

// A CSR epoch's rows copied ahead, in order, on a core to spare (staging.hpp),
// in runs of this many samples; dense epochs stage nothing.
constexpr index_t sgd_staged_run = 256;

// One epoch over the order idx (validation rows skipped), its places final as
// `shuffle` says (null: all of them); the rows, targets and weights from
// `stager`'s copies when there is one (the same values: the same iterates).
template <class Matrix, class T, class Index, class Stager>
GDFAST_INLINE void sgd_epoch_impl(const Matrix& X, const T* y, const T* sample_weight, const std::uint8_t* validation,
                                  const Index* idx, const ShuffleAhead<Index>* shuffle, Stager* stager,
                                  const SgdParams& P, ScaledWeights& W_out, SgdState& S, double* q, SgdRun& run,
                                  const Callbacks& cb) {
    // The weights' scale and norms in a local copy, for the same reason as the
    // scalars below: through W_out every store to w could alias them (8% of a
    // dense epoch on Zen 4). The coefficients themselves stay where they are.
    ScaledWeights W = W_out;
    const index_t n = X.n_rows;
    const Loss loss = P.loss;
    const Schedule& schedule = P.schedule;
    const bool pa = schedule.passive_aggressive();
    const bool pa1 = schedule.kind == ScheduleKind::pa1;
    const bool margin = is_margin_loss(loss.kind);
    const double alpha = P.penalty.alpha;
    const double l1_ratio = P.penalty.l1_share();
    const bool l2_shrink = P.penalty.has_l2();
    const bool l1 = P.penalty.has_l1();
    const bool track_norms = P.penalty.active() && !pa;
    const bool averaging = W.aw != nullptr && P.average > 0;
    const bool varying_eta = schedule.kind == ScheduleKind::optimal || schedule.kind == ScheduleKind::invscaling;
    // The loop-carried scalars live in locals: through S and run, every store to
    // w could alias them, and each sample would reload them from memory.
    double intercept = S.intercept, avg_intercept = S.avg_intercept, t = S.t;
    double eta = run.eta, u = run.u, count = run.count, loss_sum = run.loss_sum, objective_sum = run.objective_sum;
    const bool measure = run.measure;
    RowExtent extent = run.extent;
    const auto write_back = [&] {
        W_out = W;
        run.extent = extent;
        S.intercept = intercept, S.avg_intercept = avg_intercept, S.t = t;
        run.eta = eta, run.u = u, run.count = count, run.loss_sum = loss_sum, run.objective_sum = objective_sum;
    };
    // One sample: its row x, target yi and weight si (when weighted).
    const auto sample = [&](const auto& x, double yi, double si) GDFAST_INLINE_LAMBDA {
        const double p = W.wscale * (measure ? dot_measuring(x, W.w, yi, extent) : x.dot(W.w)) + intercept;
        if (varying_eta) eta = schedule.at(t, 0.0, schedule.eta0, alpha, run.optimal_init);

        double dloss;
        const double cur = loss.value_and_derivative(p, yi, &dloss);
        loss_sum += cur;
        objective_sum += cur;
        if (track_norms)
            objective_sum += P.penalty.value(W.sq_norm, W.l1_norm);

        double update;
        if (pa1) {
            update = row_sq_norm(x);
            if (update == 0.0) return;
            update = std::min(schedule.eta0, cur / update);
        } else if (pa) {
            update = cur / (row_sq_norm(x) + 0.5 / schedule.eta0);
        } else {
            // Clipped, as in scikit-learn, to keep one outlier from blowing up w.
            update = -eta * std::clamp(dloss, -1e12, 1e12);
        }
        // Passive-aggressive: toward the label (classification) or the target.
        if (pa && (margin ? yi < 0.0 : yi - p < 0.0)) update = -update;
        if (sample_weight) update *= si;

        if (l2_shrink) W.scale(std::max(0.0, 1.0 - (1.0 - l1_ratio) * eta * alpha));
        if (update != 0.0) {
            add_row(W, x, update / W.wscale, track_norms);
            if (P.fit_intercept) intercept += update * P.intercept_decay;
        }
        if (averaging && P.average <= t) {
            const double num_iter = t - P.average + 1.0;
            add_average(W, x, update, num_iter);
            avg_intercept += (intercept - avg_intercept) / num_iter;
        }
        if (l1) {
            u += l1_ratio * eta * alpha;
            l1_penalty(W, q, x, u);
        }
        t += 1.0;
        count += 1.0;
    };
    // Ctrl-C, every 65,536 samples.
    const auto interrupted = [&](index_t r) {
        if ((r & 0xFFFF) != 0xFFFF || !cb.poll_interrupt()) return false;
        run.interrupted = true;
        write_back();
        return true;
    };
    index_t r = 0;
    if constexpr (is_csr<Matrix>::value) {
        for (; stager != nullptr && r < n;) {
            const index_t run_index = r / sgd_staged_run;
            const auto* staged = stager->acquire(run_index);
            if (staged == nullptr) break;  // the stager failed: X is read from here on
            for (index_t j = 0; j < staged->count; ++j, ++r) {
                if (interrupted(r)) return;
                if (validation != nullptr && validation[idx[r]]) continue;
                sample(staged->row(j), static_cast<double>(staged->y[static_cast<std::size_t>(j)]),
                       sample_weight ? static_cast<double>(staged->w[static_cast<std::size_t>(j)]) : 1.0);
            }
            stager->release(run_index);
        }
    }
    constexpr index_t far = rows_prefetch_distance, near = near_prefetch_distance;
    index_t ready = shuffle ? 0 : n;  // the leading places of idx that are final
    for (; r < n; ++r) {
        if (r + 2 * far >= ready && ready < n) ready = shuffle->wait_for(r + 2 * far + 1);
        // The next samples' rows, targets and weights are random reads: each would
        // otherwise cost a full memory latency. Into L2 far ahead, then into L1.
        if (r + 2 * far < n) prefetch_row_extent(X, static_cast<index_t>(idx[r + 2 * far]));
        if (r + far < n) {
            const index_t next = static_cast<index_t>(idx[r + far]);
            prefetch_row(X, next);
            prefetch(y + next);
            if (sample_weight) prefetch(sample_weight + next);
        }
        if (r + near < n) {
            const index_t next = static_cast<index_t>(idx[r + near]);
            prefetch_row<CacheLevel::l1>(X, next);
            prefetch<CacheLevel::l1>(y + next);
            if (sample_weight) prefetch<CacheLevel::l1>(sample_weight + next);
        }
        if (interrupted(r)) return;
        const index_t i = static_cast<index_t>(idx[r]);
        if (validation != nullptr && validation[i]) continue;
        sample(row_of(X, i), static_cast<double>(y[i]), sample_weight ? static_cast<double>(sample_weight[i]) : 1.0);
    }
    write_back();
}
GDFAST_MULTIVERSION(sgd_epoch)

// Runs up to max_iter epochs. Returns status_ok, status_nonfinite (a parameter
// became NaN/inf: S.record.failed_epoch says when), status_diverged (the
// objective passed the divergence threshold for good) or status_interrupted.
// On success the scale and the average are folded into coef / avg_coef.
template <class Matrix, class T = typename Matrix::value_type>
Status sgd_fit(const Matrix& X, const T* y, const T* sample_weight, const std::uint8_t* validation,
               const SgdParams& P, SgdState& S, const Callbacks& cb) {
    const index_t n = X.n_rows;
    const index_t n_features = X.n_cols;
    ScaledWeights W{S.coef, n_features};
    W.aw = P.average > 0 ? S.avg_coef : nullptr;
    W.compute_norms();

    // Sample order: 32-bit indices (half the memory traffic of the shuffle) when
    // they fit, as in scikit-learn.
    std::vector<std::uint32_t> idx32;
    std::vector<index_t> idx64;
    const bool narrow = n <= static_cast<index_t>(UINT32_MAX);
    if (narrow) {
        idx32.resize(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) idx32[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(i);
    } else {
        idx64.resize(static_cast<std::size_t>(n));
        for (index_t i = 0; i < n; ++i) idx64[static_cast<std::size_t>(i)] = i;
    }
    std::vector<index_t> validation_rows;
    if (validation != nullptr)
        for (index_t i = 0; i < n; ++i)
            if (validation[i]) validation_rows.push_back(i);
    const index_t n_train = n - static_cast<index_t>(validation_rows.size());
    const ValidationSet<T> held_out(std::move(validation_rows), y, 1, sample_weight, P.stop.score_accuracy);
    double mean_row_sq_norm = -1.0;  // computed on the first blow-up
    std::vector<double> q;
    if (P.penalty.has_l1()) q.assign(static_cast<std::size_t>(n_features), 0.0);

    SgdRun run;
    run.eta = P.schedule.eta0;
    run.measure = true;
    if (P.schedule.kind == ScheduleKind::optimal) run.optimal_init = optimal_offset(P.loss, P.penalty.alpha);

    EpochMonitor monitor(P.stop, cb, S.record, !held_out.empty(), P.schedule.kind == ScheduleKind::adaptive);
    Status status = status_ok;
    for (int epoch = 0; epoch < P.stop.max_iter; ++epoch) {
        run.objective_sum = 0.0;
        run.loss_sum = 0.0;
        double* qp = q.empty() ? nullptr : q.data();
        // The shuffle runs on the other core when there is one to spare.
        // So do a CSR epoch's row copies (sgd_staged_run).
        const auto epoch_over = [&](auto& idx) {
            using Index = typename std::decay_t<decltype(idx)>::value_type;
            std::optional<ShuffleAhead<Index>> shuffle;
            if (P.shuffle) shuffle.emplace(idx.data(), n, P.seed, P.n_threads);
            std::optional<typename StagerFor<Matrix, Index>::type> stager;
            if constexpr (is_csr<Matrix>::value) {
                if (decltype(stager)::value_type::worth_it(X, sgd_staged_run, P.n_threads, n))
                    stager.emplace(X, idx.data(), n, sgd_staged_run, y, 1, sample_weight, shuffle ? &*shuffle : nullptr);
            }
            sgd_epoch(X, y, sample_weight, validation, idx.data(), shuffle ? &*shuffle : nullptr,
                      stager ? &*stager : nullptr, P, W, S, qp, run, cb);
        };
        if (narrow)
            epoch_over(idx32);
        else
            epoch_over(idx64);
        if (run.interrupted) {
            status = status_interrupted;
            break;
        }
        if (run.measure && validation == nullptr) S.record.set_extent(run.extent);
        run.measure = false;
        bool finite = std::isfinite(S.intercept) && std::isfinite(W.wscale);
        for (index_t j = 0; finite && j < n_features; ++j) finite = std::isfinite(W.w[j]);
        const double objective = run.objective_sum / static_cast<double>(std::max<index_t>(1, n_train));
        EpochAction action = monitor.check(epoch, objective, finite, [&] {
            if (mean_row_sq_norm < 0.0) {
                std::vector<index_t> train_rows;
                train_rows.reserve(static_cast<std::size_t>(n_train));
                for (index_t i = 0; i < n; ++i)
                    if (validation == nullptr || !validation[i]) train_rows.push_back(i);
                mean_row_sq_norm = row_sq_norm_stats(X, RowSet{train_rows.data(), n_train}, nullptr, nullptr, 1).mean;
            }
            const double t_end = S.t + static_cast<double>(std::max(0, P.stop.divergence_horizon - epoch - 1)) *
                                           static_cast<double>(n_train);
            const double smallest = P.schedule.smallest_until(t_end, 0.0, P.schedule.eta0, P.penalty.alpha,
                                                              run.optimal_init);
            return hopeless_step(smallest, P.loss.max_curvature() * mean_row_sq_norm);
        });
        if (action == EpochAction::proceed) {
            const double score = held_out.empty() ? 0.0 : held_out.score(X, W.w, W.wscale, &S.intercept);
            action = monitor.progress(epoch, objective, score, run.eta > 1e-6, false, [&](EpochInfo& info) {
                info.mean_loss = run.loss_sum / static_cast<double>(std::max<index_t>(1, n_train));
                info.coef_norm = std::sqrt(std::max(0.0, W.sq_norm));
                if (!P.penalty.active()) {
                    double sq = 0.0;
                    for (index_t j = 0; j < n_features; ++j) sq += W.w[j] * W.w[j];
                    info.coef_norm = std::sqrt(sq) * W.wscale;
                }
                for (index_t j = 0; j < n_features; ++j) info.coef_nonzeros += W.w[j] != 0.0;
                info.intercept = S.intercept;
                info.updates = run.count;
                info.step_size = run.eta;
            });
        }
        if (action == EpochAction::shrink_step) run.eta /= 5.0;
        if (ends_fit(action)) {
            status = status_of(action);
            break;
        }
    }
    if (status == status_ok) W.reset_scale();
    return status;
}

}  // namespace gdfast
