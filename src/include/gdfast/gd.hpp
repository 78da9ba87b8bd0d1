// Full-batch and mini-batch gradient descent: the engine of GDRegressor and of
// SGDRegressor(batch_size > 1).
//
// Parameters live in "working" coordinates: with per-feature mean mu and scale
// sigma (0 and 1 when scaling is off) the model is p = ((x - mu) / sigma) . V + c.
// X is never copied or rescaled: each step maps (V, c) to raw coefficients
// W = V / sigma, b = c - mu . W, runs the fused loss_grad pass on raw X, and maps
// the gradient back: dV = (dW - mu dB) / sigma, dc = dB. The objective is
//   sum_i s_i l(p_i, y_i) / sum_i s_i + alpha ((1 - l1_ratio) / 2 ||V||^2 + l1_ratio ||V||_1)
// For full-batch squared error the pass over X can be replaced by the centered
// co-moments of [X, Y] computed once (O(p^2) per step, same iterates), or the
// quadratic solved exactly on them (solve_on_gram); wide and sparse data solve
// it by conjugate gradient over passes (cg_on_passes).
#pragma once

#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>

#include "common.hpp"
#include "curvature.hpp"
#include "lazy_sparse.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "monitor.hpp"
#include "optimizers.hpp"
#include "penalty.hpp"
#include "schedule.hpp"
#include "settings.hpp"
#include "stats.hpp"

namespace gdfast {

struct GdParams : FitSettings {
    OptimizerKind optimizer = OptimizerKind::sgd;
    OptimizerHyper hyper;
    bool momentum_restart = false;  // full batch: FISTA's momentum sequence with adaptive restart
    bool auto_lr = false;           // base step from the curvature of the data (computed once)
    double min_lr_scale = 0.0;      // 'adaptive' stops dividing (and stops) below this scale
    index_t batch_size = 0;         // 0: full batch
    // SGDRegressor's mini-batches: the summed (not mean) batch gradient and the
    // step count advancing by samples, so that eta0, the schedules and tol mean
    // what they mean per sample.
    bool sum_gradient = false;
    bool use_gram = false;
    // Full-batch squared error on the co-moments: the smooth part is quadratic,
    // and an exact solver replaces the optimizer: conjugate gradient (the optimal
    // momentum for a quadratic, exact line search) without an L1 term, cyclic
    // coordinate descent with one.
    bool solve_on_gram = false;
    // Full-batch squared error without the co-moments (wide or sparse data), no
    // L1 term: the same conjugate gradient, its Hessian products one pass each.
    bool cg_on_passes = false;
    // With the co-moments: derive the implicit standardization from them (mean
    // and scale are then outputs), so that no other pass reads X; `center` as
    // in standardize_from_stats.
    bool standardize_from_moments = false;
    bool center = true;
    // Unstandardized features (mean 0 and scale 1 given), a cold start of the
    // default full-batch solver with an intercept: shift the working
    // coordinates by the features' means (mean is then an output; scale stays
    // 1), from the co-moments, the Jacobi preconditioner's column statistics or
    // else a pass of its own. The objective is the same (the penalty is on the
    // coefficients either way; the shift moves into the intercept), and the
    // intercept no longer couples with features far from 0, which stalls the
    // solvers (its curvature grows as the square of the offset).
    bool center_raw = false;
    // Full batch, smooth loss, no L1 term, co-moments affordable, auto step:
    // quasi-Newton steps from the loss's curvature bound (see gd_fit).
    bool precondition = false;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        FitSettings::fields(s, f), OptimizerHyper::fields(s.hyper, f), f("optimizer", s.optimizer);
        f("momentum_restart", s.momentum_restart), f("auto_lr", s.auto_lr), f("min_lr_scale", s.min_lr_scale);
        f("batch_size", s.batch_size), f("sum_gradient", s.sum_gradient);
        f("use_gram", s.use_gram), f("solve_on_gram", s.solve_on_gram), f("cg_on_passes", s.cg_on_passes);
        f("standardize_from_moments", s.standardize_from_moments), f("center", s.center);
        f("center_raw", s.center_raw);
        f("precondition", s.precondition);
    }
};

// Parameters and optimizer state, in and out (so partial_fit can resume).
struct GdState {
    double* coef = nullptr;       // k x p, working coordinates
    double* intercept = nullptr;  // k
    double* m1 = nullptr;         // first optimizer state (velocity, sum_sq, mean_sq, m), k*p + k
    double* m2 = nullptr;         // second (adam's v), k*p + k
    double* avg = nullptr;        // averaged [coef, intercept] when averaging
    double step = 0.0;            // updates so far
    double epoch = 0.0;           // epochs so far
    double lr_scale = 1.0;        // adaptive / safeguard multiplier of the base step
    double base_lr = 0.0;         // the step size 'auto' derived (0: not yet)
    double fista_t = 1.0;         // momentum sequence (full batch, momentum 'auto')
    FitRecord record;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("step", s.step), f("epoch", s.epoch), f("lr_scale", s.lr_scale), f("base_lr", s.base_lr);
        f("fista_t", s.fista_t);
    }
};

// What the distributed layer knows of rows it holds: their co-moments of
// [X, y] (total weight, means (p + k), centered co-moment matrix (p + k)^2,
// row-major, symmetric; C null when not given), and, for `remote` rows
// (passes through Callbacks::remote_pass, full batch only), their total weight
// and mean ||(x - mean) / scale||^2.
struct GivenData {
    double total = 0.0;
    const double* zbar = nullptr;
    const double* C = nullptr;
    bool remote = false;
    double weight_total = 0.0;
    double mean_row_sq_norm = 0.0;
};

// Whether a feature is shifted or scaled (else the working coordinates are X's).
inline bool is_standardized(const double* mean, const double* scale, index_t p) {
    for (index_t j = 0; j < p; ++j)
        if (mean[j] != 0.0 || scale[j] != 1.0) return true;
    return false;
}

// The inverse diagonal of the mean squared loss's Hessian plus l2 in working
// coordinates, ((x_j - mean_j) / scale_j)^2 averaged with the weights (+ l2),
// from the columns' means mu and variances var, for k outputs, then 1 for each
// intercept (the mean of the ones): the Jacobi preconditioner of conjugate
// gradient. A zero diagonal (an empty column without a penalty, whose gradient
// stays 0) gets 1.
inline std::vector<double> jacobi_from_stats(const double* mu, const double* var, const double* mean,
                                             const double* scale, index_t p, index_t k, double l2) {
    std::vector<double> pinv(static_cast<std::size_t>(k * p + k), 1.0);
    for (index_t j = 0; j < p; ++j) {
        const double shift = mu[j] - mean[j];
        const double h = (var[j] + shift * shift) / (scale[j] * scale[j]) + l2;
        for (index_t t = 0; t < k; ++t) pinv[static_cast<std::size_t>(t * p + j)] = h > 0.0 ? 1.0 / h : 1.0;
    }
    return pinv;
}

// jacobi_from_stats from one pass of column statistics over `rows`; with
// `center`, the columns' means are written to mean first.
template <class Matrix, class T = typename Matrix::value_type>
std::vector<double> jacobi_inverse(const Matrix& X, const RowSet& rows, const T* sample_weight, int n_threads,
                                   double* mean, const double* scale, index_t k, double l2, bool center) {
    const index_t p = X.n_cols;
    std::vector<double> mu(static_cast<std::size_t>(p)), var(static_cast<std::size_t>(p));
    column_stats(X, rows, sample_weight, n_threads, mu.data(), var.data());
    if (center) std::copy(mu.begin(), mu.end(), mean);
    return jacobi_from_stats(mu.data(), var.data(), mean, scale, p, k, l2);
}

// With given co-moments the descent (use_gram) or the step size runs on them;
// with remote rows every pass is a remote_pass. X then may have no rows.
template <class Matrix, class T = typename Matrix::value_type>
Status gd_fit(const Matrix& X, const T* y, index_t k, const T* sample_weight, const index_t* train_rows,
              index_t n_train, const index_t* val_rows, index_t n_val, double* mean, double* scale,
              const GdParams& P, GdState& S, const Callbacks& cb, const GivenData* given = nullptr) {
    const index_t p = X.n_cols;
    const index_t kp = k * p;
    const index_t m = kp + k;
    const index_t ky = target_columns(P.loss.kind, k);  // columns of y
    const bool full = P.batch_size <= 0 || P.batch_size >= n_train;
    const bool gram = P.use_gram && full && P.loss.kind == LossKind::squared_error;
    const bool moments_given = given != nullptr && given->C != nullptr;
    const bool remote = full && given != nullptr && given->remote && cb.remote_pass != nullptr;
    // A full batch on given co-moments or remote rows is one step of no rows of X.
    const bool elsewhere = (gram && moments_given) || remote;
    const index_t B = full ? std::max<index_t>(n_train, elsewhere ? 1 : 0) : P.batch_size;
    const index_t n_batched = elsewhere ? std::max<index_t>(n_train, 1) : n_train;
    const double inf = std::numeric_limits<double>::infinity();
    const Schedule& schedule = P.schedule;
    const double alpha = P.penalty.alpha;
    const double t0 = schedule.kind == ScheduleKind::optimal ? optimal_offset(P.loss, alpha) : 1.0;
    double last_objective = inf;  // the safeguard compares epochs of this call only

    std::vector<double> theta(static_cast<std::size_t>(m)), g(static_cast<std::size_t>(m));
    std::copy(S.coef, S.coef + kp, theta.begin());
    std::copy(S.intercept, S.intercept + k, theta.begin() + kp);
    std::vector<double> W(static_cast<std::size_t>(kp)), b(static_cast<std::size_t>(k));
    std::vector<double> G(static_cast<std::size_t>(kp)), gb(static_cast<std::size_t>(k));
    // The training rows, in the order mini-batches take them. Null train_rows:
    // rows [0, n_train) in order, not copied unless mini-batches need an order.
    std::vector<index_t> order;
    if (train_rows != nullptr)
        order.assign(train_rows, train_rows + n_train);
    else if (!full) {
        order.resize(static_cast<std::size_t>(n_train));
        std::iota(order.begin(), order.end(), index_t{0});
    }
    const index_t* const order_ptr = order.empty() ? nullptr : order.data();
    const RowSet train{order_ptr, n_train};
    LossGradWorkspace ws;

    double weight_total = remote ? given->weight_total : 0.0;
    if (sample_weight) {
        for (index_t r = 0; r < n_train; ++r) weight_total += static_cast<double>(sample_weight[train[r]]);
    } else {
        weight_total += static_cast<double>(n_train);  // (the sum of as many ones, exactly)
    }

    std::vector<double> C, zbar;
    double S_gram = 0.0;
    const index_t q = p + ky;
    PassPoll poll(cb.interrupted, cb.context);
    // Conjugate gradient over passes takes no fixed step: no step to derive.
    const bool passes_cg = full && !gram && P.cg_on_passes && P.loss.kind == LossKind::squared_error &&
                           P.penalty.l1_strength() == 0.0;
    // Preconditioned quasi-Newton steps: the curvature bound M = c H + l2 I of
    // the objective in working coordinates (H: the Hessian of the mean squared
    // loss, from the co-moments; c: the loss's curvature bound, Boehning's for
    // the log losses) majorizes the objective; M^-1 is L-BFGS's initial inverse
    // Hessian, and a line search keeps every step a descent. Each class's block
    // gets the same (p + 1)^2 matrix (the multinomial's bound is block diagonal).
    // Remote rows need their co-moments given (the distributed layer sums them).
    const bool precond = P.precondition && full && !gram && (!remote || moments_given) &&
                         P.loss.max_curvature() > 0.0 &&
                         P.penalty.l1_strength() == 0.0 && P.auto_lr;
    const bool derive_lr = P.auto_lr && S.base_lr <= 0.0 && !passes_cg && !precond;
    const bool moments_for_lr =
        derive_lr && P.loss.max_curvature() > 0.0 && full &&
        (remote ? moments_given : moments_cheaper_for_step(X, train, k));
    const index_t precond_rows = std::max<index_t>(8192, 32 * q);
    const bool precond_sampled = precond && !moments_given && n_train > 2 * precond_rows;
    if (gram || moments_for_lr || precond) {
        C.resize(static_cast<std::size_t>(q * q));
        zbar.resize(static_cast<std::size_t>(q));
        if (moments_given) {
            S_gram = given->total;
            std::copy(given->zbar, given->zbar + q, zbar.begin());
            std::copy(given->C, given->C + q * q, C.begin());
        } else if (precond_sampled) {
            // The preconditioner needs the curvature's shape, not its exact value
            // (the line search keeps any positive definite one safe): every
            // stride-th training row, 32 per moment dimension (at least 8192).
            const index_t stride = (n_train + precond_rows - 1) / precond_rows;
            std::vector<index_t> sample;
            for (index_t r = 0; r < n_train; r += stride) sample.push_back(train[r]);
            S_gram = centered_comoments(X, RowSet{sample.data(), static_cast<index_t>(sample.size())}, y, ky,
                                        sample_weight, P.n_threads, poll, zbar.data(), C.data());
        } else {
            S_gram = centered_comoments(X, train, y, ky, sample_weight, P.n_threads, poll, zbar.data(), C.data());
        }
        if (poll.stopped()) return status_interrupted;
        // NaN/inf anywhere in the rows shows in the means or the diagonal.
        bool finite = std::isfinite(S_gram);
        for (index_t a = 0; a < q; ++a)
            finite = finite && std::isfinite(zbar[static_cast<std::size_t>(a)]) &&
                     std::isfinite(C[static_cast<std::size_t>(a * q + a)]);
        if (!finite) return status_input_nonfinite;
        if (P.standardize_from_moments && S_gram > 0.0 && !precond_sampled) {
            for (index_t j = 0; j < p; ++j) {
                mean[j] = zbar[static_cast<std::size_t>(j)];
                scale[j] = C[static_cast<std::size_t>(j * q + j)] / S_gram;
            }
            standardize_from_stats(p, P.center, mean, scale);
        } else if (P.center_raw && S_gram > 0.0) {
            for (index_t j = 0; j < p; ++j) mean[j] = zbar[static_cast<std::size_t>(j)];
        }
    } else if (P.center_raw && !passes_cg && !remote && n_train > 0) {
        // No co-moments to take the means from (nor the Jacobi pass, below): a
        // pass of column statistics.
        std::vector<double> var(static_cast<std::size_t>(p));
        column_stats(X, train, sample_weight, P.n_threads, mean, var.data());
    }
    if (derive_lr) {
        const double lr = auto_step_size(X, train, sample_weight, mean, scale, P.fit_intercept, P.loss, P.optimizer,
                                         P.hyper.momentum, B, full, C, zbar, C.empty() ? weight_total : S_gram, q,
                                         P.n_threads, P.penalty.l2_strength(), poll, remote ? &cb : nullptr);
        if (poll.stopped()) return status_interrupted;
        S.base_lr = lr;
    }
    if (precond) S.base_lr = 1.0;
    const double base = P.auto_lr ? S.base_lr : schedule.eta0;
    const index_t h = p + 1;
    std::vector<double> chol;  // the Cholesky factor of M (h x h, lower), when preconditioning
    if (precond) chol = curvature_bound_factor(C, q, zbar, S_gram, p, mean, scale, P.fit_intercept,
                                               P.loss.max_curvature(), P.penalty.l2_strength());
    if (!gram) C.clear();
    const ValidationSet<T> held_out(std::vector<index_t>(val_rows, val_rows + n_val), y, k, sample_weight,
                                    P.stop.score_accuracy, ky != k);

    const double l2 = P.penalty.l2_strength();
    const double l1 = P.penalty.l1_strength();
    const bool momentum_opt = uses_momentum(P.optimizer);
    // (Not for the quasi-Newton steps: their line search keeps them descending.)
    const bool safeguard =
        full && !precond && (P.momentum_restart || (P.auto_lr && P.optimizer == OptimizerKind::sgd));
    const bool gradient_rule = P.stop.gradient_rule && full && P.stop.tol > -inf;
    StopRule rule = P.stop;
    rule.gradient_rule = gradient_rule;
    double initial_grad_norm = 0.0;
    double mean_row_sq_norm = -1.0;  // computed on the first blow-up
    bool first_step = true;
    bool converged = false;
    double last_lr = 0.0;
    index_t last_batch_rows = 0;
    std::vector<T> zeros;  // targets 0, for H d by a pass
    // The call's first epoch of mini-batches over every row of X (none held
    // out) measures the rows' extent, which bounds the final model's loss
    // (FitRecord::set_extent): the pass adds each batch's rows as it reads them.
    bool measuring = false;
    RowExtent extent;
    auto batch_weight = [&](const RowSet& rows) {
        if (!sample_weight) return static_cast<double>(rows.count);  // (a sum of ones, exactly)
        double w = 0.0;
        for (index_t r = 0; r < rows.count; ++r) w += static_cast<double>(sample_weight[rows[r]]);
        return w;
    };
    // On unscaled features, CG is preconditioned by the inverse of the
    // Hessian's diagonal (Jacobi): over passes from one pass of column
    // statistics (which also gives center_raw its means), on the co-moments
    // from their diagonal. Features whose scales or nonzero counts differ
    // (sparse columns) no longer set its condition. Standardized coordinates
    // have a diagonal near 1 already.
    const bool unscaled = std::all_of(scale, scale + p, [](double s) { return s == 1.0; });
    std::vector<double> cg_pinv;
    if (unscaled && passes_cg && !remote) {
        // (centred here unless the co-moments' means already did it: the
        // step size or a preconditioner may have used them)
        const bool centred = gram || moments_for_lr || precond;
        cg_pinv = jacobi_inverse(X, train, sample_weight, P.n_threads, mean, scale, k, l2, P.center_raw && !centred);
    } else if (unscaled && gram && P.solve_on_gram && l1 == 0.0 && S_gram > 0.0) {
        std::vector<double> var(static_cast<std::size_t>(p));
        for (index_t j = 0; j < p; ++j) var[static_cast<std::size_t>(j)] = C[static_cast<std::size_t>(j * q + j)] / S_gram;
        cg_pinv = jacobi_from_stats(zbar.data(), var.data(), mean, scale, p, k, l2);
    }
    // No feature shifted or scaled: the working coordinates are the raw ones,
    // and a step converts neither the parameters nor the gradient (the same
    // values: x / 1 and x - 0 * y are x).
    const bool raw_coordinates = !is_standardized(mean, scale, p);
    // One pass (or remote_pass): loss sum, batch weight and the gradient `out`
    // (working coordinates, L2 term included unless AdamW decays instead) at th
    // over `rows`, for the targets y (or 0, with zero_targets: H th).
    auto pass_gradient = [&](const double* th, const RowSet& rows, bool zero_targets, double* out,
                             double* loss_sum, double* Sb) -> bool {
        if (raw_coordinates) {
            std::copy(th, th + kp, W.begin());
            std::copy(th + kp, th + kp + k, b.begin());
        } else {
            working_to_raw(th, th + kp, mean, scale, p, k, W.data(), b.data());
        }
        const Status st =
            remote ? (cb.remote_pass(cb.context, W.data(), b.data(), k, zero_targets, 0, loss_sum, G.data(), gb.data())
                          ? status_ok
                          : status_nonfinite)
                   : loss_grad(X, rows, zero_targets ? zeros.data() : y, sample_weight, W.data(), b.data(), k,
                               P.loss, P.n_threads, ws, loss_sum, G.data(), gb.data(), measuring ? &extent : nullptr);
        *Sb = full ? weight_total : batch_weight(rows);
        if (st != status_ok || !std::isfinite(*loss_sum)) return false;
        if (*Sb <= 0.0) return true;
        // Mean gradient, or (sum_gradient) the sum with the penalty counted once per row.
        const double norm = P.sum_gradient ? 1.0 : *Sb;
        const double penalty_weight = P.sum_gradient ? static_cast<double>(rows.count) : 1.0;
        for (index_t t = 0; t < k; ++t) {
            if (raw_coordinates) {
                for (index_t j = 0; j < p; ++j) out[t * p + j] = G[static_cast<std::size_t>(t * p + j)] / norm;
            } else {
                for (index_t j = 0; j < p; ++j)
                    out[t * p + j] = (G[static_cast<std::size_t>(t * p + j)] - mean[j] * gb[static_cast<std::size_t>(t)]) /
                                     scale[j] / norm;
            }
            out[kp + t] =
                P.fit_intercept ? P.intercept_decay * gb[static_cast<std::size_t>(t)] / norm : 0.0;
        }
        if (l2 != 0.0 && P.optimizer != OptimizerKind::adamw)
            for (index_t j = 0; j < kp; ++j) out[j] += penalty_weight * l2 * th[j];
        last_batch_rows = rows.count;
        return true;
    };
    // Loss sum, batch weight and the gradient g at parameters th over `rows`.
    auto gradient_at = [&](const double* th, const RowSet& rows, double* loss_sum, double* Sb) -> bool {
        if (gram) {
            // From the moments, in working coordinates (full batch, mean gradient).
            gram_working_gradient(C, q, zbar, S_gram, p, k, mean, scale, P.fit_intercept,
                                  P.optimizer != OptimizerKind::adamw ? l2 : 0.0, th, true, g.data(), loss_sum);
            for (index_t t = 0; t < k; ++t) g[static_cast<std::size_t>(kp + t)] *= P.intercept_decay;
            *Sb = S_gram;
            last_batch_rows = rows.count;
            return std::isfinite(*loss_sum);
        }
        return pass_gradient(th, rows, false, g.data(), loss_sum, Sb);
    };
    // The optimality residual at th: the norm of the smallest subgradient of the
    // objective (the gradient g when there is no L1 term; with one, a nonzero
    // coefficient adds l1 sign(theta), a zero one keeps what exceeds l1).
    auto grad_norm = [&](const double* th) {
        double s2 = 0.0;
        for (index_t j = 0; j < m; ++j) {
            double v = g[static_cast<std::size_t>(j)];
            if (l1 != 0.0 && j < kp)
                v = th[j] != 0.0 ? v + std::copysign(l1, th[j]) : std::copysign(std::max(0.0, std::fabs(v) - l1), v);
            s2 += v * v;
        }
        return std::sqrt(s2);
    };
    const bool warm = std::any_of(theta.begin(), theta.begin() + kp, [](double v) { return v != 0.0; });
    if (gradient_rule && warm) {
        // The yardstick of the gradient rule: the gradient with all coefficients
        // zero (the intercepts as they start: the caller may start them at the
        // best constant), so that a warm start near the optimum is not held to a
        // tinier target, and y's offset does not set it.
        std::vector<double> zero(static_cast<std::size_t>(m), 0.0);
        std::copy(theta.begin() + kp, theta.end(), zero.begin() + kp);
        double loss0 = 0.0, S0 = 0.0;
        if (gradient_at(zero.data(), train, &loss0, &S0)) initial_grad_norm = grad_norm(zero.data());
    }
    const auto lr_at = [&](double step, double epoch) {
        return schedule.at(step + 1.0, epoch, base, alpha, t0) * S.lr_scale;
    };
    // Conjugate gradient (Polak-Ribiere+, the gradient recomputed every step), or
    // coordinate descent on the working-coordinates Hessian (one sweep a step).
    const bool cg = (gram && P.solve_on_gram && l1 == 0.0) || passes_cg;
    const bool cd = gram && P.solve_on_gram && l1 != 0.0;
    std::vector<double> cg_dir, cg_prev, cg_Hd(static_cast<std::size_t>(cg ? m : 0));
    double cg_prev_gz = 0.0;  // g.z of the previous step (z: the preconditioned gradient)
    // Without the co-moments, H d is the gradient at d for targets 0 (one pass).
    zeros.assign(static_cast<std::size_t>(cg && !gram && !remote ? X.n_rows * k : 0), T(0));
    // After a conjugate-gradient or quasi-Newton step, g and known_loss_sum
    // already hold the gradient and loss at theta: no pass is needed for them.
    bool gradient_known = false;
    double known_loss_sum = 0.0;
    int cg_steps_since_pass = 0;
    const std::vector<double> H =
        cd ? gram_working_hessian(C, q, zbar, S_gram, p, mean, scale, P.fit_intercept, l2) : std::vector<double>();
    bool restarted_last = false;
    // Preconditioned quasi-Newton: the last `memory` steps s and gradient changes y.
    constexpr std::size_t memory = 10;
    std::vector<std::vector<double>> lb_s, lb_y;
    std::vector<double> lb_rho, lb_alpha(memory), lb_q, theta_trial, g_trial;
    Status status = status_ok;
    // Held-out rows elsewhere: the distributed layer scores them.
    const bool remote_validation = given != nullptr && cb.remote_score != nullptr;
    // CSR mini-batches: steps at the cost of the batch's nonzeros (lazy_sparse.hpp)
    // for the optimizers that are linear maps, without an L1 term or averaging.
    const bool lazy = is_csr<Matrix>::value && !full && !elsewhere && has_linear_step(P.optimizer) && l1 == 0.0 &&
                      !(S.avg != nullptr && P.average > 0.0) && n_train > 0;
    std::optional<typename LazyStepsFor<Matrix>::type> lazy_steps;
    if constexpr (is_csr<Matrix>::value) {
        if (lazy) lazy_steps.emplace(X, k, uses_momentum(P.optimizer) ? 2 : 1, mean, scale, B);
    }
    EpochMonitor monitor(rule, cb, S.record, !held_out.empty() || remote_validation,
                         schedule.kind == ScheduleKind::adaptive);
    measuring = !full && !elsewhere && held_out.empty() && !remote_validation;
    for (int epoch = 0; epoch < P.stop.max_iter; ++epoch) {
        // Shuffled on the other core when there is one to spare: each batch waits
        // for its rows' places (and those its prefetches read) to be final.
        std::optional<ShuffleAhead<index_t>> shuffle;
        if (!full && P.shuffle)
            shuffle.emplace(order.data(), n_train, P.seed, P.n_threads);
        index_t ready = shuffle ? 0 : n_train;  // the leading places of `order` that are final
        // CSR mini-batches: the batches' rows copied ahead, in order, on that core.
        std::optional<typename StagerFor<Matrix>::type> stager;
        if constexpr (is_csr<Matrix>::value) {
            if (lazy && decltype(stager)::value_type::worth_it(X, B, P.n_threads, n_train))
                stager.emplace(X, order_ptr, n_train, B, y, ky, sample_weight, shuffle ? &*shuffle : nullptr);
        }
        double loss_epoch = 0.0, weight_epoch = 0.0, objective_full = 0.0;
        index_t steps_in_epoch = 0;
        if constexpr (is_csr<Matrix>::value) {
            if (lazy) lazy_steps->load(theta.data(), S.m1);
        }
        for (index_t b0 = 0; b0 < n_batched; b0 += B) {
            // The kernels prefetch rows through the batch's end into the next
            // batches' (shuffled rows are read at random).
            const index_t count = std::min(B, std::max<index_t>(n_train - b0, 0));
            if (ready < b0 + count + 2 * rows_prefetch_distance && ready < n_train)
                ready = shuffle->wait_for(b0 + count + 2 * rows_prefetch_distance);
            const RowSet rows{order_ptr ? order_ptr + b0 : nullptr, count, order_ptr ? ready - b0 - count : 0};
            if constexpr (is_csr<Matrix>::value) {
                if (lazy) {
                    double loss_sum = 0.0;
                    const double Sb = batch_weight(rows);
                    const index_t batch = b0 / B;
                    const auto* staged = stager ? stager->acquire(batch) : nullptr;
                    if (Sb <= 0.0) {
                        if (measuring) add_rows_to_extent(X, rows, 0, rows.count, extent);
                        if (stager) stager->release(batch);
                        continue;
                    }
                    const double lr = lr_at(S.step, S.epoch);
                    const double beta = P.hyper.momentum;
                    const double norm = P.sum_gradient ? 1.0 : Sb;
                    const double lambda = (P.sum_gradient ? static_cast<double>(rows.count) : 1.0) * l2;
                    const bool finite = lazy_steps->step(rows, ready - b0, y, sample_weight, staged, P.loss,
                                                         theta.data() + kp, linear_step(P.optimizer, lr, lambda, beta),
                                                         norm, &loss_sum, gb.data(), measuring ? &extent : nullptr);
                    if (stager) stager->release(batch);
                    if (!finite) {
                        status = status_nonfinite;
                        break;
                    }
                    loss_epoch += loss_sum;
                    weight_epoch += Sb;
                    last_lr = lr;
                    last_batch_rows = rows.count;
                    const double step_number = S.step + 1.0;
                    for (index_t t = 0; t < k; ++t)
                        g[static_cast<std::size_t>(kp + t)] =
                            P.fit_intercept ? P.intercept_decay * gb[static_cast<std::size_t>(t)] / norm : 0.0;
                    apply(P.optimizer, theta.data() + kp, g.data() + kp, S.m1 + kp, S.m2 + kp, k, lr, P.hyper, beta,
                          step_number, 0.0);
                    if (!P.fit_intercept) std::copy(S.intercept, S.intercept + k, theta.begin() + kp);
                    S.step = P.sum_gradient ? S.step + static_cast<double>(last_batch_rows) : step_number;
                    if ((++steps_in_epoch & 1023) == 0 && cb.poll_interrupt()) {
                        status = status_interrupted;
                        break;
                    }
                    continue;
                }
            }
            double loss_sum = 0.0, Sb = 0.0;
            if (gradient_known) {
                loss_sum = known_loss_sum;  // known after the last step
                Sb = weight_total;
            } else if (!gradient_at(theta.data(), rows, &loss_sum, &Sb)) {
                status = status_nonfinite;
                break;
            }
            if (Sb <= 0.0) continue;
            loss_epoch += loss_sum;
            weight_epoch += Sb;
            double lr = lr_at(S.step, S.epoch);
            double beta = P.hyper.momentum;
            if (full) {
                objective_full = loss_sum / Sb + P.penalty.value(theta.data(), kp);
                if (gradient_rule) {
                    const double gnorm = grad_norm(theta.data());
                    if (first_step) initial_grad_norm = std::max(initial_grad_norm, gnorm);
                    first_step = false;
                    if (gnorm <= P.stop.tol * initial_grad_norm) {
                        converged = true;  // theta is the answer: no further step
                        break;
                    }
                }
                if (safeguard && !cg && !cd) {
                    // An increase means momentum overshot (restart it) or, twice in
                    // a row, that the step is too long for this data (halve it).
                    const bool increased = objective_full > last_objective + 1e-10 * std::fabs(last_objective);
                    if (increased) {
                        if (restarted_last || !momentum_opt) S.lr_scale *= 0.5;
                        if (momentum_opt && S.m1 != nullptr) std::fill(S.m1, S.m1 + m, 0.0);
                        S.fista_t = 1.0;
                        lr = lr_at(S.step, S.epoch);
                    }
                    restarted_last = increased;
                }
                last_objective = objective_full;
                if (P.momentum_restart) {
                    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * S.fista_t * S.fista_t));
                    beta = (S.fista_t - 1.0) / t_next;
                    S.fista_t = t_next;
                }
            }
            if (precond) {
                // L-BFGS with the curvature bound as its initial Hessian: the
                // direction from the two-loop recursion, then a backtracking
                // (Armijo) line search from step 1; the accepted point's pass
                // gives the next gradient.
                lb_q = g;
                const std::size_t used = lb_s.size();
                for (std::size_t i = used; i-- > 0;) {
                    lb_alpha[i] = lb_rho[i] * dot_of(lb_s[i], lb_q);
                    axpy_of(-lb_alpha[i], lb_y[i], lb_q);
                }
                precondition_blocks(chol, h, p, k, lb_q.data());
                if (used > 0) {
                    // Scale the bound's inverse to the curvature last measured.
                    std::vector<double> My = lb_y[used - 1];
                    precondition_blocks(chol, h, p, k, My.data());
                    const double yMy = dot_of(lb_y[used - 1], My);
                    if (yMy > 0.0) for (double& v : lb_q) v *= 1.0 / (lb_rho[used - 1] * yMy);
                }
                for (std::size_t i = 0; i < used; ++i) {
                    const double beta_i = lb_rho[i] * dot_of(lb_y[i], lb_q);
                    axpy_of(lb_alpha[i] - beta_i, lb_s[i], lb_q);
                }
                double slope = -dot_of(g, lb_q);  // g . d with d = -lb_q
                if (!(slope < 0.0)) {
                    // Not a descent direction (rounding): the bound's step alone.
                    lb_s.clear(), lb_y.clear(), lb_rho.clear();
                    lb_q = g;
                    precondition_blocks(chol, h, p, k, lb_q.data());
                    slope = -dot_of(g, lb_q);
                }
                const double f0 = objective_full;
                if (-slope <= 4e-16 * std::fabs(f0)) {
                    converged = true;  // the decrease left is below rounding of the objective
                    break;
                }
                double a = S.lr_scale, f1 = f0, loss1 = 0.0, S1 = 0.0;
                bool accepted = false;
                theta_trial.resize(theta.size());
                for (int tries = 0; tries < 40 && slope < 0.0; ++tries) {
                    for (index_t j = 0; j < m; ++j)
                        theta_trial[static_cast<std::size_t>(j)] = theta[static_cast<std::size_t>(j)] - a * lb_q[static_cast<std::size_t>(j)];
                    if (!P.fit_intercept) std::copy(S.intercept, S.intercept + k, theta_trial.begin() + kp);
                    g_trial = g;
                    if (!gradient_at(theta_trial.data(), rows, &loss1, &S1)) {
                        g = g_trial;  // overflow along d: a shorter step
                        a *= 0.5;
                        continue;
                    }
                    f1 = loss1 / S1 + P.penalty.value(theta_trial.data(), kp);
                    if (f1 <= f0 + 1e-4 * a * slope) {
                        accepted = true;
                        break;
                    }
                    std::swap(g, g_trial);  // keep the gradient at theta
                    // The minimizer of the quadratic through f0, the slope and f1,
                    // kept within [a / 10, a / 2].
                    const double curv = f1 - f0 - slope * a;
                    const double a_min = curv > 0.0 ? -slope * a * a / (2.0 * curv) : 0.5 * a;
                    a = std::min(0.5 * a, std::max(0.1 * a, a_min));
                }
                if (!accepted) {
                    converged = true;  // no decrease left along d: rounding level
                    break;
                }
                std::vector<double> sv(static_cast<std::size_t>(m)), yv(static_cast<std::size_t>(m));
                for (index_t j = 0; j < m; ++j) {
                    sv[static_cast<std::size_t>(j)] = theta_trial[static_cast<std::size_t>(j)] - theta[static_cast<std::size_t>(j)];
                    yv[static_cast<std::size_t>(j)] = g[static_cast<std::size_t>(j)] - g_trial[static_cast<std::size_t>(j)];
                }
                const double sy = dot_of(sv, yv);
                if (sy > 1e-12 * std::sqrt(dot_of(sv, sv) * dot_of(yv, yv))) {
                    if (lb_s.size() == memory) lb_s.erase(lb_s.begin()), lb_y.erase(lb_y.begin()), lb_rho.erase(lb_rho.begin());
                    lb_s.push_back(std::move(sv)), lb_y.push_back(std::move(yv)), lb_rho.push_back(1.0 / sy);
                }
                theta.swap(theta_trial);
                gradient_known = true;  // g holds the gradient at the new theta
                known_loss_sum = loss1 * (weight_total / S1);
                last_lr = a;
                S.step += 1.0;
                continue;
            }
            if (cd) {
                // One cyclic sweep: each coordinate to its exact minimizer given the
                // others (soft-thresholded for coefficients), g kept current.
                for (index_t t = 0; t < k; ++t) {
                    for (index_t j = 0; j < (P.fit_intercept ? h : p); ++j) {
                        const double hjj = H[static_cast<std::size_t>(j * h + j)];
                        const index_t at = j < p ? t * p + j : kp + t;
                        if (!(hjj > 0.0)) continue;
                        const double old = theta[static_cast<std::size_t>(at)];
                        const double step_j = old - g[static_cast<std::size_t>(at)] / hjj;
                        const double now = j < p ? soft_threshold(step_j, l1 / hjj) : step_j;
                        const double delta = now - old;
                        if (delta == 0.0) continue;
                        theta[static_cast<std::size_t>(at)] = now;
                        const double* Hj = H.data() + j * h;  // H is symmetric: column j
                        for (index_t a = 0; a < p; ++a) g[static_cast<std::size_t>(t * p + a)] += Hj[a] * delta;
                        g[static_cast<std::size_t>(kp + t)] += P.fit_intercept ? Hj[p] * delta : 0.0;
                    }
                }
                last_lr = 0.0;
                S.step += 1.0;
                continue;
            }
            if (cg) {
                // d = -z + beta d (z = P g, P the preconditioner or I), then the
                // exact minimizer along d.
                const bool pre = !cg_pinv.empty();
                double num = 0.0, gz = 0.0;
                for (index_t j = 0; j < m; ++j) {
                    const double gj = g[static_cast<std::size_t>(j)];
                    const double zj = pre ? gj * cg_pinv[static_cast<std::size_t>(j)] : gj;
                    gz += gj * zj;
                    if (!cg_prev.empty()) num += zj * (gj - cg_prev[static_cast<std::size_t>(j)]);
                }
                const double beta_cg =
                    (cg_prev.empty() || cg_prev_gz <= 0.0) ? 0.0 : std::max(0.0, num / cg_prev_gz);
                if (cg_dir.empty()) cg_dir.assign(static_cast<std::size_t>(m), 0.0);
                for (index_t j = 0; j < m; ++j) {
                    const double zj = pre ? g[static_cast<std::size_t>(j)] * cg_pinv[static_cast<std::size_t>(j)]
                                          : g[static_cast<std::size_t>(j)];
                    cg_dir[static_cast<std::size_t>(j)] = -zj + beta_cg * cg_dir[static_cast<std::size_t>(j)];
                }
                cg_prev = g;
                cg_prev_gz = gz;
                if (gram) {
                    gram_working_gradient(C, q, zbar, S_gram, p, k, mean, scale, P.fit_intercept, l2,
                                          cg_dir.data(), false, cg_Hd.data());
                } else {
                    double unused = 0.0, S_unused = 0.0;
                    if (!pass_gradient(cg_dir.data(), rows, true, cg_Hd.data(), &unused, &S_unused)) {
                        status = status_nonfinite;
                        break;
                    }
                }
                double dHd = 0.0, gd = 0.0;
                for (index_t j = 0; j < m; ++j) {
                    dHd += cg_dir[static_cast<std::size_t>(j)] * cg_Hd[static_cast<std::size_t>(j)];
                    gd += g[static_cast<std::size_t>(j)] * cg_dir[static_cast<std::size_t>(j)];
                }
                if (!(dHd > 0.0) || !(gd < 0.0)) {
                    converged = true;  // no descent left along d: rounding level
                    break;
                }
                const double step_cg = -gd / dHd;
                const double objective_before = loss_sum / Sb + P.penalty.value(theta.data(), kp);
                for (index_t j = 0; j < m; ++j) theta[static_cast<std::size_t>(j)] += step_cg * cg_dir[static_cast<std::size_t>(j)];
                if (!P.fit_intercept) std::copy(S.intercept, S.intercept + k, theta.begin() + kp);
                if (passes_cg) {
                    // On a quadratic the next gradient and objective follow without
                    // a pass: g + a H d and f + a g.d + a^2 d.H.d / 2. A pass
                    // recomputes them every 8th step, so rounding cannot drift.
                    gradient_known = ++cg_steps_since_pass < 8;
                    if (gradient_known) {
                        for (index_t j = 0; j < m; ++j)
                            g[static_cast<std::size_t>(j)] += step_cg * cg_Hd[static_cast<std::size_t>(j)];
                        const double objective_after = objective_before + step_cg * gd + 0.5 * step_cg * step_cg * dHd;
                        known_loss_sum = (objective_after - P.penalty.value(theta.data(), kp)) * Sb;
                    } else {
                        cg_steps_since_pass = 0;
                    }
                }
                last_lr = step_cg;
                S.step += 1.0;
                continue;
            }
            last_lr = lr;
            const double step_number = S.step + 1.0;
            // AdamW decays the coefficients only, never the intercepts.
            const double decay = P.optimizer == OptimizerKind::adamw ? l2 : 0.0;
            apply(P.optimizer, theta.data(), g.data(), S.m1, S.m2, kp, lr, P.hyper, beta, step_number, decay);
            apply(P.optimizer, theta.data() + kp, g.data() + kp, S.m1 + kp, S.m2 + kp, k, lr, P.hyper, beta,
                  step_number, 0.0);
            if (l1 != 0.0) {
                const double c2 = 1.0 / (1.0 - std::pow(P.hyper.beta_2, step_number));
                const double weight = P.sum_gradient ? static_cast<double>(last_batch_rows) : 1.0;
                for (index_t j = 0; j < kp; ++j) {
                    const double thr = effective_step(P.optimizer, lr, S.m1, S.m2, j, P.hyper.eps, c2) * l1 * weight;
                    theta[static_cast<std::size_t>(j)] = soft_threshold(theta[static_cast<std::size_t>(j)], thr);
                }
            }
            if (!P.fit_intercept) std::copy(S.intercept, S.intercept + k, theta.begin() + kp);
            if (S.avg != nullptr && P.average > 0.0 && P.average <= step_number) {
                const double num = step_number - P.average + 1.0;
                for (index_t j = 0; j < m; ++j) S.avg[j] += (theta[static_cast<std::size_t>(j)] - S.avg[j]) / num;
            }
            S.step = P.sum_gradient ? S.step + static_cast<double>(last_batch_rows) : step_number;
            if ((++steps_in_epoch & 1023) == 0 && cb.poll_interrupt()) {
                status = status_interrupted;
                break;
            }
        }
        if (shuffle) shuffle->finish();  // the order is read whole from here on
        if (status == status_nonfinite) monitor.fail_within(epoch);
        if (status != status_ok) break;
        if (measuring) {
            add_targets_to_extent(y, ky, train, extent);
            S.record.set_extent(extent);
        }
        measuring = false;
        if constexpr (is_csr<Matrix>::value) {
            if (lazy) lazy_steps->store(theta.data(), S.m1);
        }
        bool finite = true;
        for (double v : theta) finite = finite && std::isfinite(v);
        const double objective =
            full ? objective_full
                 : (weight_epoch > 0.0 ? loss_epoch / weight_epoch : 0.0) + P.penalty.value(theta.data(), kp);
        EpochAction action = monitor.check(epoch, objective, finite, [&] {
            if (mean_row_sq_norm < 0.0)
                mean_row_sq_norm = (remote ? given->mean_row_sq_norm
                                    : gram ? moments_row_sq_norm(C, zbar, S_gram, p, q, mean, scale)
                                           : row_sq_norm_stats(X, train, mean, scale,
                                                               P.n_threads).mean) +
                                   (P.fit_intercept ? 1.0 : 0.0);
            // Curvature along the update: a mean gradient over B rows has at least
            // trace / min(B, dimension); a summed one at least a row's.
            const double dims = static_cast<double>(p + (P.fit_intercept ? 1 : 0));
            const double curvature = P.loss.max_curvature() * mean_row_sq_norm /
                                     (P.sum_gradient ? 1.0 : std::max(1.0, std::min(static_cast<double>(B), dims)));
            const double epochs_left = static_cast<double>(std::max(0, P.stop.divergence_horizon - epoch - 1));
            const double steps = P.sum_gradient ? static_cast<double>(n_train)
                                                : std::ceil(static_cast<double>(n_batched) / static_cast<double>(B));
            // The last update within the horizon (S.epoch still counts this epoch as to come).
            const double last_epoch = S.epoch + 1.0 + std::max(0.0, epochs_left - 1.0);
            const double last_step = S.step + std::max(0.0, epochs_left * steps - 1.0);
            const double smallest = schedule.smallest_until(last_step + 1.0, last_epoch, base, alpha, t0) *
                                    S.lr_scale * step_amplification(P.optimizer, P.hyper.momentum);
            return hopeless_step(smallest, curvature);
        });
        S.epoch += 1.0;
        if (action == EpochAction::proceed) {
            double score = 0.0;
            if (P.stop.early_stopping && (remote_validation || !held_out.empty())) {
                working_to_raw(theta.data(), theta.data() + kp, mean, scale, p, k, W.data(), b.data());
                score = remote_validation ? cb.remote_score(cb.context, W.data(), b.data())
                                          : held_out.score(X, W.data(), 1.0, b.data());
                if (std::isnan(score) && cb.poll_interrupt()) {
                    status = status_interrupted;
                    break;
                }
            }
            action = monitor.progress(epoch, objective, score, S.lr_scale > P.min_lr_scale, converged,
                                      [&](EpochInfo& info) {
                                          info.mean_loss = weight_epoch > 0.0 ? loss_epoch / weight_epoch : 0.0;
                                          double sq = 0.0;
                                          for (index_t j = 0; j < kp; ++j) {
                                              const double v = theta[static_cast<std::size_t>(j)];
                                              sq += v * v;
                                              info.coef_nonzeros += v != 0.0;
                                          }
                                          info.coef_norm = std::sqrt(sq);
                                          info.intercept = theta[static_cast<std::size_t>(kp)];
                                          info.updates = S.step;
                                          info.step_size = last_lr;
                                      });
        }
        if (action == EpochAction::shrink_step) S.lr_scale /= 5.0;
        if (ends_fit(action)) {
            status = status_of(action);
            break;
        }
    }
    if (status == status_ok && gram && S_gram > 0.0) {
        double loss_sum = 0.0;
        gram_working_gradient(C, q, zbar, S_gram, p, k, mean, scale, P.fit_intercept, 0.0, theta.data(), true,
                              g.data(), &loss_sum);
        S.record.final_loss = loss_sum / S_gram;
    }
    // Quasi-Newton steps end with the loss at theta known (every row trains).
    if (status == status_ok && precond && gradient_known && n_val == 0 && weight_total > 0.0)
        S.record.final_loss = known_loss_sum / weight_total;
    if (status == status_ok) {
        std::copy(theta.begin(), theta.begin() + kp, S.coef);
        std::copy(theta.begin() + kp, theta.end(), S.intercept);
    }
    return status;
}

}  // namespace gdfast
