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

#include "common.hpp"
#include "losses.hpp"
#include "rowops.hpp"
#include "stats.hpp"

namespace gdfast {

enum Penalty : int { penalty_none = 0, penalty_l1 = 1, penalty_l2 = 2, penalty_elasticnet = 3 };

enum LearningRate : int {
    lr_constant = 1,
    lr_optimal = 2,
    lr_invscaling = 3,
    lr_adaptive = 4,
    lr_pa1 = 5,
    lr_pa2 = 6,
};

struct SgdParams {
    Loss loss;
    int penalty = penalty_l2;
    double alpha = 1e-4;
    double l1_ratio = 0.15;
    int learning_rate = lr_invscaling;
    double eta0 = 0.01;
    double power_t = 0.25;
    bool fit_intercept = true;
    double intercept_decay = 1.0;   // 0.01 for sparse X, as in scikit-learn
    double average = 0.0;           // 0: off; else averaging starts at this t
    int max_iter = 1000;
    double tol = -std::numeric_limits<double>::infinity();  // -inf: no stopping rule
    int n_iter_no_change = 5;
    bool shuffle = true;
    std::uint32_t seed = 0;
    bool early_stopping = false;
    // An objective above the threshold marks a blow-up; it is fatal when the step
    // the schedule reaches after `divergence_horizon` epochs is still hopeless
    // (see step_hopeless). The final model is judged by the caller.
    double divergence_threshold = std::numeric_limits<double>::infinity();
    int divergence_horizon = 1000;
    bool verbose = false;
};

// Parameters in and out. coef/avg_coef hold n_features doubles; avg_coef may be
// null when averaging is off. t is scikit-learn's t_ (starts at 1).
struct SgdState {
    double* coef = nullptr;
    double intercept = 0.0;
    double* avg_coef = nullptr;
    double avg_intercept = 0.0;
    double t = 1.0;
    // outputs
    int n_iter = 0;
    int failed_epoch = 0;            // epoch of a non-finite or diverged model
    double failed_objective = 0.0;
    std::vector<double> objectives;  // training objective of each epoch
    std::vector<double> validation_scores;
};

// w = wscale * w_raw, so that L2 shrinkage is O(1); plus the running average
// avg = (aw + average_a * w_raw) / average_b, so that averaging is O(nnz).
// sq_norm / l1_norm follow scikit-learn's WeightVector to the letter (they only
// feed the stopping rule, and identical rules give identical n_iter_): exact at
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

// w_raw += a * x (a already divided by wscale), then the touched-coordinate norms.
template <class T>
GDFAST_INLINE void add_row(ScaledWeights& W, const DenseRow<T>& x, double a, bool track_norms) {
    double* GDFAST_RESTRICT w = W.w;
    const T* GDFAST_RESTRICT xv = x.x;
    const index_t n = x.n;
    if (!track_norms) {
        for (index_t j = 0; j < n; ++j) w[j] += a * static_cast<double>(xv[j]);
        return;
    }
    double s[4] = {0, 0, 0, 0}, l[4] = {0, 0, 0, 0};
    index_t j = 0;
    for (; j + 4 <= n; j += 4)
        for (int u = 0; u < 4; ++u) {
            const double v = w[j + u] + a * static_cast<double>(xv[j + u]);
            w[j + u] = v;
            s[u] += v * v;
            l[u] += std::fabs(v);
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

// t^power_t: pow() is a large share of a per-sample update, so the exponents in
// common use take exact shortcuts (sqrt is correctly rounded; sqrt(sqrt(t)) is
// within an ulp of pow(t, 0.25)).
GDFAST_INLINE double power_of_t(double t, double power_t) {
    if (power_t == 0.25) return std::sqrt(std::sqrt(t));
    if (power_t == 0.5) return std::sqrt(t);
    if (power_t == 1.0) return t;
    if (power_t == 0.0) return 1.0;
    return std::pow(t, power_t);
}

// The smallest step size the schedule reaches by time t_end (0 when it can shrink
// without bound: adaptive; passive-aggressive steps are self-normalizing).
inline double smallest_future_eta(const SgdParams& P, double optimal_init, double t_end) {
    switch (P.learning_rate) {
        case lr_constant:
            return P.eta0;
        case lr_optimal:
            return 1.0 / (P.alpha * (optimal_init + t_end - 1.0));
        case lr_invscaling:
            return P.eta0 / std::pow(t_end, P.power_t);
        default:
            return 0.0;
    }
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
};

// One epoch over the shuffled order idx (validation rows skipped).
template <class Matrix, class T, class Index>
GDFAST_INLINE void sgd_epoch_impl(const Matrix& X, const T* y, const T* sample_weight, const std::uint8_t* validation,
                                  const Index* idx, const SgdParams& P, ScaledWeights& W, SgdState& S, double* q,
                                  SgdRun& run, const Callbacks& cb) {
    const index_t n = X.n_rows;
    const Loss loss = P.loss;
    const bool pa = P.learning_rate == lr_pa1 || P.learning_rate == lr_pa2;
    const double l1_ratio = P.l1_ratio;
    const bool l2_shrink = P.penalty == penalty_l2 || P.penalty == penalty_elasticnet;
    const bool l1 = P.penalty == penalty_l1 || P.penalty == penalty_elasticnet;
    const bool track_norms = P.penalty != penalty_none && !pa;
    const bool averaging = W.aw != nullptr && P.average > 0;
    constexpr index_t ahead = 8;
    for (index_t r = 0; r < n; ++r) {
        if (r + ahead < n) {
            // The next samples' row, target and weight are random reads: each would
            // otherwise cost a full memory latency.
            const index_t next = static_cast<index_t>(idx[r + ahead]);
            prefetch_row(X, next);
            prefetch(y + next);
            if (sample_weight) prefetch(sample_weight + next);
        }
        if ((r & 0xFFFF) == 0xFFFF && cb.poll_interrupt()) {
            run.interrupted = true;
            return;
        }
        const index_t i = static_cast<index_t>(idx[r]);
        if (validation != nullptr && validation[i]) continue;
        const auto x = row_of(X, i);
        const double yi = static_cast<double>(y[i]);
        const double p = W.wscale * x.dot(W.w) + S.intercept;
        if (P.learning_rate == lr_optimal)
            run.eta = 1.0 / (P.alpha * (run.optimal_init + S.t - 1.0));
        else if (P.learning_rate == lr_invscaling)
            run.eta = P.eta0 / power_of_t(S.t, P.power_t);

        double dloss;
        const double cur = loss.value_and_derivative(p, yi, &dloss);
        run.loss_sum += cur;
        run.objective_sum += cur;
        if (track_norms)
            run.objective_sum += P.alpha * ((1.0 - l1_ratio) * 0.5 * W.sq_norm + l1_ratio * W.l1_norm);

        double update;
        if (P.learning_rate == lr_pa1) {
            update = row_sq_norm(x);
            if (update == 0.0) continue;
            update = std::min(P.eta0, cur / update);
        } else if (P.learning_rate == lr_pa2) {
            update = cur / (row_sq_norm(x) + 0.5 / P.eta0);
        } else {
            // Clipped, as in scikit-learn, to keep one outlier from blowing up w.
            update = -run.eta * std::clamp(dloss, -1e12, 1e12);
        }
        if (pa && yi - p < 0.0) update = -update;
        if (sample_weight) update *= static_cast<double>(sample_weight[i]);

        if (l2_shrink) W.scale(std::max(0.0, 1.0 - (1.0 - l1_ratio) * run.eta * P.alpha));
        if (update != 0.0) {
            add_row(W, x, update / W.wscale, track_norms);
            if (P.fit_intercept) S.intercept += update * P.intercept_decay;
        }
        if (averaging && P.average <= S.t) {
            const double num_iter = S.t - P.average + 1.0;
            add_average(W, x, update, num_iter);
            S.avg_intercept += (S.intercept - S.avg_intercept) / num_iter;
        }
        if (l1) {
            run.u += l1_ratio * run.eta * P.alpha;
            l1_penalty(W, q, x, run.u);
        }
        S.t += 1.0;
        run.count += 1.0;
    }
}
GDFAST_MULTIVERSION(sgd_epoch)

// R^2 of the current model on the validation rows (weighted, like r2_score).
template <class Matrix, class T>
double validation_r2(const Matrix& X, const T* y, const T* sample_weight, const std::vector<index_t>& rows,
                     const ScaledWeights& W, double intercept, double ss_total) {
    double ss_res = 0.0;
    for (index_t i : rows) {
        const double p = W.wscale * row_of(X, i).dot(W.w) + intercept;
        const double r = static_cast<double>(y[i]) - p;
        ss_res += (sample_weight ? static_cast<double>(sample_weight[i]) : 1.0) * r * r;
    }
    if (ss_total == 0.0) return ss_res == 0.0 ? 1.0 : 0.0;
    return 1.0 - ss_res / ss_total;
}

// Runs up to max_iter epochs. Returns status_ok, status_nonfinite (a parameter
// became NaN/inf: S.failed_epoch says when), status_diverged (the objective
// passed P.divergence_threshold) or status_interrupted. On success the scale
// and the average are folded into coef / avg_coef.
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
    double mean_row_sq_norm = -1.0;  // computed on the first blow-up
    const auto weight_of = [&](index_t i) {
        return sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
    };
    double ss_total = 0.0;
    if (P.early_stopping) {
        double sw = 0.0, swy = 0.0;
        for (index_t i : validation_rows) {
            sw += weight_of(i);
            swy += weight_of(i) * static_cast<double>(y[i]);
        }
        const double mean = sw > 0.0 ? swy / sw : 0.0;
        for (index_t i : validation_rows) {
            const double r = static_cast<double>(y[i]) - mean;
            ss_total += weight_of(i) * r * r;
        }
    }
    std::vector<double> q;
    if (P.penalty == penalty_l1 || P.penalty == penalty_elasticnet) q.assign(static_cast<std::size_t>(n_features), 0.0);

    SgdParams params = P;
    if (P.penalty == penalty_l2) params.l1_ratio = 0.0;
    if (P.penalty == penalty_l1) params.l1_ratio = 1.0;
    SgdRun run;
    run.eta = P.eta0;
    if (P.learning_rate == lr_optimal) {
        const double typw = std::sqrt(1.0 / std::sqrt(P.alpha));
        const double initial_eta0 = typw / std::max(1.0, P.loss.derivative(-typw, 1.0));
        run.optimal_init = 1.0 / (initial_eta0 * P.alpha);
    }

    const double inf = std::numeric_limits<double>::infinity();
    double best_objective = inf, best_score = -inf;
    int no_improvement = 0;
    Status status = status_ok;
    S.objectives.clear();
    S.validation_scores.clear();
    int epoch = 0;
    for (; epoch < P.max_iter; ++epoch) {
        run.objective_sum = 0.0;
        run.loss_sum = 0.0;
        double* qp = q.empty() ? nullptr : q.data();
        if (narrow) {
            if (P.shuffle) shuffle_indices(idx32.data(), n, P.seed);
            sgd_epoch(X, y, sample_weight, validation, idx32.data(), params, W, S, qp, run, cb);
        } else {
            if (P.shuffle) shuffle_indices(idx64.data(), n, P.seed);
            sgd_epoch(X, y, sample_weight, validation, idx64.data(), params, W, S, qp, run, cb);
        }
        if (run.interrupted) {
            status = status_interrupted;
            break;
        }
        bool finite = std::isfinite(S.intercept) && std::isfinite(W.wscale);
        for (index_t j = 0; finite && j < n_features; ++j) finite = std::isfinite(W.w[j]);
        const double objective = run.objective_sum / static_cast<double>(std::max<index_t>(1, n_train));
        S.objectives.push_back(objective);
        if (!finite || !std::isfinite(objective)) {
            status = status_nonfinite;
            S.failed_epoch = epoch + 1;
            S.failed_objective = objective;
            break;
        }
        const bool blown_up = objective > P.divergence_threshold;
        if (blown_up) {
            if (mean_row_sq_norm < 0.0) {
                std::vector<index_t> train_rows;
                train_rows.reserve(static_cast<std::size_t>(n_train));
                for (index_t i = 0; i < n; ++i)
                    if (validation == nullptr || !validation[i]) train_rows.push_back(i);
                mean_row_sq_norm = row_sq_norm_stats(X, RowSet{train_rows.data(), n_train}, nullptr, nullptr, 1).mean;
            }
            const double t_end = S.t + static_cast<double>(std::max(0, P.divergence_horizon - epoch - 1)) *
                                           static_cast<double>(n_train);
            if (step_hopeless(smallest_future_eta(P, run.optimal_init, t_end),
                              P.loss.max_curvature() * mean_row_sq_norm)) {
                status = status_diverged;
                S.failed_epoch = epoch + 1;
                S.failed_objective = objective;
                break;
            }
        }
        // A blown-up run that may still recover is not stopped for lack of
        // progress (the adaptive schedule still shrinks its step).
        const int count_stall = (!blown_up || P.learning_rate == lr_adaptive) ? 1 : 0;
        double score = 0.0;
        if (P.early_stopping) {
            score = validation_r2(X, y, sample_weight, validation_rows, W, S.intercept, ss_total);
            S.validation_scores.push_back(score);
            if (P.tol > -inf && score < best_score + P.tol)
                no_improvement += count_stall;
            else
                no_improvement = 0;
            if (score > best_score) best_score = score;
        } else {
            if (P.tol > -inf && objective > best_objective - P.tol)
                no_improvement += count_stall;
            else
                no_improvement = 0;
            if (objective < best_objective) best_objective = objective;
        }
        if (P.verbose) {
            EpochInfo info;
            info.epoch = epoch + 1;
            info.objective = objective;
            info.mean_loss = run.loss_sum / static_cast<double>(std::max<index_t>(1, n_train));
            info.coef_norm = std::sqrt(std::max(0.0, W.sq_norm));
            if (params.penalty == penalty_none) {
                double s = 0.0;
                for (index_t j = 0; j < n_features; ++j) s += W.w[j] * W.w[j];
                info.coef_norm = std::sqrt(s) * W.wscale;
            }
            for (index_t j = 0; j < n_features; ++j) info.coef_nonzeros += W.w[j] != 0.0;
            info.intercept = S.intercept;
            info.updates = run.count;
            info.step_size = run.eta;
            info.has_validation = P.early_stopping;
            info.validation_score = score;
            cb.report(info);
        }
        if (no_improvement >= P.n_iter_no_change) {
            if (P.learning_rate == lr_adaptive && run.eta > 1e-6) {
                run.eta /= 5.0;
                no_improvement = 0;
            } else {
                ++epoch;
                break;
            }
        }
        if (cb.poll_interrupt()) {
            status = status_interrupted;
            break;
        }
    }
    S.n_iter = std::min(epoch, P.max_iter);
    if (status == status_ok) W.reset_scale();
    return status;
}

}  // namespace gdfast
