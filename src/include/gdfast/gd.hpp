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
// co-moments of [X, Y] computed once (O(p^2) per step, same iterates).
#pragma once

#include <cstdint>
#include <limits>

#include "common.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "sgd.hpp"
#include "stats.hpp"

namespace gdfast {

enum Schedule : int {
    sched_constant = 1,
    sched_optimal = 2,
    sched_invscaling = 3,
    sched_adaptive = 4,
    sched_step = 7,
    sched_exponential = 8,
    sched_cosine = 9,
};

struct GdParams {
    Loss loss;
    int penalty = penalty_none;
    double alpha = 0.0;
    double l1_ratio = 0.15;
    int optimizer = opt_sgd;
    double momentum = 0.9;
    bool momentum_restart = false;  // full batch: FISTA's momentum sequence with adaptive restart
    double beta_1 = 0.9;
    double beta_2 = 0.999;
    double rho = 0.9;
    double eps = 1e-8;
    int schedule = sched_constant;
    bool auto_lr = false;  // base step from the curvature of the data (computed once)
    double eta0 = 0.01;
    double power_t = 0.25;
    double gamma = 0.9;
    int step_size = 10;
    int cosine_epochs = 100;
    double optimal_t0 = 1.0;
    double min_lr_scale = 0.0;  // 'adaptive' stops dividing (and stops) below this scale
    bool fit_intercept = true;
    index_t batch_size = 0;  // 0: full batch
    int max_iter = 100;
    double tol = -std::numeric_limits<double>::infinity();
    bool tol_relative = true;
    // Full batch, smooth objective: stop when ||gradient|| <= tol ||gradient at the
    // start of the call|| (objective changes are tiny long before an
    // ill-conditioned problem has converged); a run whose objective stops
    // improving altogether for 10 n_iter_no_change epochs also ends.
    bool gradient_rule = false;
    int n_iter_no_change = 5;
    bool shuffle = true;
    std::uint32_t seed = 0;
    bool early_stopping = false;
    double divergence_threshold = std::numeric_limits<double>::infinity();
    int divergence_horizon = 1000;  // epochs over which a blow-up may still recover
    double average = 0.0;
    // SGDRegressor's mini-batches: the summed (not mean) batch gradient, the step
    // count advancing by samples, and scikit-learn's sparse intercept damping, so
    // that eta0, the schedules and tol mean what they mean per sample.
    bool sum_gradient = false;
    double intercept_decay = 1.0;
    bool verbose = false;
    int n_threads = 1;
    bool use_gram = false;
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
    double last_objective = std::numeric_limits<double>::infinity();
    // outputs
    int n_iter = 0;
    int failed_epoch = 0;
    double failed_objective = 0.0;
    double last_lr = 0.0;
    std::vector<double> objectives;
    std::vector<double> validation_scores;
};

// Loss and raw gradient of full-batch squared error from the centered co-moments
// (zbar, C of [x, y], total weight S): with delta_t = b_t + xbar . W_t - ybar_t,
//   loss = 1/2 sum_t (W_t' Cxx W_t - 2 W_t' Cxy_t + Cyy_tt + S delta_t^2)
//   dW_t = Cxx W_t - Cxy_t + S delta_t xbar,   db_t = S delta_t
inline void gram_loss_grad(const std::vector<double>& C, const std::vector<double>& zbar, double S, index_t p,
                           index_t k, const double* W, const double* b, double* loss_out, double* G, double* gb) {
    const index_t q = p + k;
    double loss = 0.0;
    for (index_t t = 0; t < k; ++t) {
        const double* w = W + t * p;
        double delta = b[t] - zbar[static_cast<std::size_t>(p + t)];
        for (index_t j = 0; j < p; ++j) delta += zbar[static_cast<std::size_t>(j)] * w[j];
        double quad = 0.0, cross = 0.0;
        for (index_t a = 0; a < p; ++a) {
            const double* Ca = C.data() + a * q;
            const double Cw = dot_contiguous(Ca, w, p);
            const double cxy = Ca[p + t];
            G[t * p + a] = Cw - cxy + S * delta * zbar[static_cast<std::size_t>(a)];
            quad += w[a] * Cw;
            cross += w[a] * cxy;
        }
        loss += 0.5 * (quad - 2.0 * cross + C[static_cast<std::size_t>((p + t) * q + p + t)] + S * delta * delta);
        gb[t] = S * delta;
    }
    *loss_out = loss;
}

inline double penalty_value(const GdParams& P, const double* V, index_t n) {
    if (P.penalty == penalty_none || P.alpha == 0.0) return 0.0;
    double sq = 0.0, l1 = 0.0;
    for (index_t j = 0; j < n; ++j) {
        sq += V[j] * V[j];
        l1 += std::fabs(V[j]);
    }
    const double r = P.penalty == penalty_l2 ? 0.0 : (P.penalty == penalty_l1 ? 1.0 : P.l1_ratio);
    return P.alpha * ((1.0 - r) * 0.5 * sq + r * l1);
}

inline double l1_share(const GdParams& P) {
    if (P.penalty == penalty_l1) return 1.0;
    if (P.penalty == penalty_elasticnet) return P.l1_ratio;
    return 0.0;
}

// The step size of update number `step` (0-based) in epoch `epoch`, before the
// adaptive/safeguard scale.
inline double scheduled_lr_at(const GdParams& P, double step, double epoch, double base) {
    const double t = step + 1.0;
    switch (P.schedule) {
        case sched_optimal:
            return 1.0 / (P.alpha * (P.optimal_t0 + t - 1.0));
        case sched_invscaling:
            return base / std::pow(t, P.power_t);
        case sched_step:
            return base * std::pow(P.gamma, std::floor(epoch / std::max(1, P.step_size)));
        case sched_exponential:
            return base * std::pow(P.gamma, epoch);
        case sched_cosine: {
            const double T = std::max(1, P.cosine_epochs);
            return base * 0.5 * (1.0 + std::cos(3.141592653589793 * std::min(epoch, T) / T));
        }
        default:
            return base;
    }
}

inline double scheduled_lr(const GdParams& P, const GdState& S, double base) {
    return scheduled_lr_at(P, S.step, S.epoch, base);
}

// The smallest step the schedule reaches within `epochs` more epochs of
// `steps_per_epoch` updates; 0 when it can shrink without bound (adaptive,
// cosine) or when the optimizer normalizes its steps (Adagrad, RMSprop, Adam).
inline double smallest_future_lr(const GdParams& P, const GdState& S, double base, double epochs,
                                 double steps_per_epoch) {
    if (P.schedule == sched_adaptive || P.schedule == sched_cosine) return 0.0;
    if (P.optimizer != opt_sgd && P.optimizer != opt_momentum && P.optimizer != opt_nesterov) return 0.0;
    const double last_epoch = S.epoch + std::max(0.0, epochs - 1.0);
    const double last_step = S.step + std::max(0.0, epochs * steps_per_epoch - 1.0);
    double lr = scheduled_lr_at(P, last_step, last_epoch, base) * S.lr_scale;
    if (P.optimizer != opt_sgd) lr /= 1.0 - std::min(P.momentum, 0.999);  // momentum amplifies steps
    return lr;
}

// W = V / sigma, b = c - mu . W for every target.
inline void working_to_raw(const double* V, const double* c, const double* mean, const double* scale, index_t p,
                           index_t k, double* W, double* b) {
    for (index_t t = 0; t < k; ++t) {
        double shift = 0.0;
        for (index_t j = 0; j < p; ++j) {
            W[t * p + j] = V[t * p + j] / scale[j];
            shift += mean[j] * W[t * p + j];
        }
        b[t] = c[t] - shift;
    }
}

// Largest eigenvalue of the Hessian of the mean squared loss in working
// coordinates, H = sum_i s_i [x~_i; 1][x~_i; 1]' / sum_i s_i, by power
// iteration: from the co-moments when available (cheap), else with passes over X.
template <class Matrix, class T>
double hessian_norm(const Matrix& X, const RowSet& rows, const T* sample_weight, const double* mean,
                    const double* scale, bool fit_intercept, const std::vector<double>& C,
                    const std::vector<double>& zbar, double S, index_t q, int n_threads, int iterations) {
    const index_t p = X.n_cols;
    const index_t m = p + (fit_intercept ? 1 : 0);
    std::vector<double> v(static_cast<std::size_t>(m)), Hv(static_cast<std::size_t>(m));
    for (index_t j = 0; j < m; ++j) v[static_cast<std::size_t>(j)] = 1.0 + 0.01 * static_cast<double>(j % 7);
    std::vector<double> W(static_cast<std::size_t>(p)), G(static_cast<std::size_t>(p));
    std::vector<T> zeros;
    LossGradWorkspace ws;
    Loss squared;
    double lambda = 0.0;
    // The moments of [x, 0]: x's block of C with one zero target.
    std::vector<double> Cx, zx;
    if (!C.empty()) {
        Cx.assign(static_cast<std::size_t>((p + 1) * (p + 1)), 0.0);
        zx.assign(static_cast<std::size_t>(p + 1), 0.0);
        for (index_t a = 0; a < p; ++a) {
            zx[static_cast<std::size_t>(a)] = zbar[static_cast<std::size_t>(a)];
            for (index_t c = 0; c < p; ++c)
                Cx[static_cast<std::size_t>(a * (p + 1) + c)] = C[static_cast<std::size_t>(a * q + c)];
        }
    }
    for (int it = 0; it < iterations; ++it) {
        double norm = 0.0;
        for (double a : v) norm += a * a;
        norm = std::sqrt(norm);
        if (norm == 0.0) return lambda;
        for (double& a : v) a /= norm;
        const double c = fit_intercept ? v[static_cast<std::size_t>(p)] : 0.0;
        double b, gb, loss;
        working_to_raw(v.data(), &c, mean, scale, p, 1, W.data(), &b);
        if (!Cx.empty()) {
            // H v from the moments: the loss with y = 0 is quadratic, its gradient is H v.
            gram_loss_grad(Cx, zx, S, p, 1, W.data(), &b, &loss, G.data(), &gb);
        } else {
            if (zeros.empty()) zeros.assign(static_cast<std::size_t>(X.n_rows), T(0));
            loss_grad(X, rows, zeros.data(), sample_weight, W.data(), &b, 1, squared, n_threads, ws, &loss, G.data(),
                      &gb);
        }
        for (index_t j = 0; j < p; ++j) Hv[static_cast<std::size_t>(j)] = (G[static_cast<std::size_t>(j)] - mean[j] * gb) / scale[j] / S;
        if (fit_intercept) Hv[static_cast<std::size_t>(p)] = gb / S;
        lambda = 0.0;
        for (index_t j = 0; j < m; ++j) lambda += v[static_cast<std::size_t>(j)] * Hv[static_cast<std::size_t>(j)];
        v.swap(Hv);
    }
    return lambda;
}

// R^2 on the validation rows, averaged over targets (scikit-learn's
// r2_score(multioutput="uniform_average")).
template <class Matrix, class T>
double validation_score(const Matrix& X, const T* y, index_t k, const T* sample_weight, const index_t* rows,
                        index_t n_rows, const double* W, const double* b, const std::vector<double>& ss_total) {
    const index_t p = X.n_cols;
    double total = 0.0;
    for (index_t t = 0; t < k; ++t) {
        double ss_res = 0.0;
        for (index_t r = 0; r < n_rows; ++r) {
            const index_t i = rows[r];
            const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
            const double e = static_cast<double>(y[i * k + t]) - (row_of(X, i).dot(W + t * p) + b[t]);
            ss_res += s * e * e;
        }
        const double sst = ss_total[static_cast<std::size_t>(t)];
        total += sst == 0.0 ? (ss_res == 0.0 ? 1.0 : 0.0) : 1.0 - ss_res / sst;
    }
    return total / static_cast<double>(k);
}

template <class Matrix, class T = typename Matrix::value_type>
Status gd_fit(const Matrix& X, const T* y, index_t k, const T* sample_weight, const index_t* train_rows,
              index_t n_train, const index_t* val_rows, index_t n_val, const double* mean, const double* scale,
              const GdParams& P, GdState& S, const Callbacks& cb) {
    const index_t p = X.n_cols;
    const index_t kp = k * p;
    const index_t m = kp + k;
    const bool full = P.batch_size <= 0 || P.batch_size >= n_train;
    const index_t B = full ? n_train : P.batch_size;
    const bool gram = P.use_gram && full && P.loss.kind == LossKind::squared_error;
    const double inf = std::numeric_limits<double>::infinity();
    S.last_objective = inf;  // the safeguard compares epochs of this call only

    std::vector<double> theta(static_cast<std::size_t>(m)), g(static_cast<std::size_t>(m));
    std::copy(S.coef, S.coef + kp, theta.begin());
    std::copy(S.intercept, S.intercept + k, theta.begin() + kp);
    std::vector<double> W(static_cast<std::size_t>(kp)), b(static_cast<std::size_t>(k));
    std::vector<double> G(static_cast<std::size_t>(kp)), gb(static_cast<std::size_t>(k));
    std::vector<index_t> order(train_rows, train_rows + n_train);
    LossGradWorkspace ws;

    double weight_total = 0.0;
    for (index_t r = 0; r < n_train; ++r)
        weight_total += sample_weight ? static_cast<double>(sample_weight[train_rows[r]]) : 1.0;

    std::vector<double> C, zbar;
    double S_gram = 0.0;
    const index_t q = p + k;
    if (gram || (P.auto_lr && S.base_lr <= 0.0 && P.loss.kind != LossKind::epsilon_insensitive && full &&
                 static_cast<double>(p) <= 1024)) {
        C.resize(static_cast<std::size_t>(q * q));
        zbar.resize(static_cast<std::size_t>(q));
        S_gram = centered_comoments(X, RowSet{order.data(), n_train}, y, k, sample_weight, P.n_threads, zbar.data(),
                                    C.data());
    }
    if (P.auto_lr && S.base_lr <= 0.0) {
        const RowSet all{order.data(), n_train};
        const double curvature = std::max(1.0, P.loss.max_curvature());
        const double L = curvature * hessian_norm(X, all, sample_weight, mean, scale, P.fit_intercept, C, zbar,
                                                  C.empty() ? weight_total : S_gram, q, P.n_threads,
                                                  C.empty() ? 12 : 100) * 1.02;
        if (full || n_train <= 1) {
            S.base_lr = 1.0 / std::max(L, 1e-300);
        } else {
            const double L_max = curvature * (row_sq_norm_stats(X, all, mean, scale, P.n_threads).max +
                                              (P.fit_intercept ? 1.0 : 0.0));
            const double n = static_cast<double>(n_train), bs = static_cast<double>(B);
            const double L_B = n * (bs - 1.0) / (bs * (n - 1.0)) * L + (n - bs) / (bs * (n - 1.0)) * L_max;
            double lr = 1.0 / (2.0 * std::max(L_B, 1e-300));
            if (P.optimizer == opt_momentum || P.optimizer == opt_nesterov) lr *= 1.0 - P.momentum;
            S.base_lr = lr;
        }
    }
    const double base = P.auto_lr ? S.base_lr : P.eta0;
    if (!gram) C.clear();

    std::vector<double> ss_total(static_cast<std::size_t>(k), 0.0);
    if (P.early_stopping && n_val > 0) {
        for (index_t t = 0; t < k; ++t) {
            double sw = 0.0, swy = 0.0;
            for (index_t r = 0; r < n_val; ++r) {
                const index_t i = val_rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                sw += s;
                swy += s * static_cast<double>(y[i * k + t]);
            }
            const double ybar = sw > 0.0 ? swy / sw : 0.0;
            for (index_t r = 0; r < n_val; ++r) {
                const index_t i = val_rows[r];
                const double s = sample_weight ? static_cast<double>(sample_weight[i]) : 1.0;
                const double e = static_cast<double>(y[i * k + t]) - ybar;
                ss_total[static_cast<std::size_t>(t)] += s * e * e;
            }
        }
    }

    const double l1r = l1_share(P);
    const double l2 = P.penalty == penalty_none ? 0.0 : P.alpha * (1.0 - l1r);
    const double l1 = P.penalty == penalty_none ? 0.0 : P.alpha * l1r;
    const bool momentum_opt = P.optimizer == opt_momentum || P.optimizer == opt_nesterov;
    const bool safeguard = full && (P.momentum_restart || (P.auto_lr && P.optimizer == opt_sgd));
    const bool gradient_rule = P.gradient_rule && full && P.tol > -inf;
    double initial_grad_norm = 0.0;
    double mean_row_sq_norm = -1.0;  // computed on the first blow-up
    bool first_step = true;
    bool converged = false;
    index_t last_batch_rows = 0;
    // Loss sum, batch weight and the gradient g (working coordinates, L2 term
    // included unless AdamW decays instead) at parameters th over `rows`.
    auto gradient_at = [&](const double* th, const RowSet& rows, double* loss_sum, double* Sb) -> bool {
        working_to_raw(th, th + kp, mean, scale, p, k, W.data(), b.data());
        Status st = status_ok;
        if (gram) {
            gram_loss_grad(C, zbar, S_gram, p, k, W.data(), b.data(), loss_sum, G.data(), gb.data());
            *Sb = S_gram;
        } else {
            st = loss_grad(X, rows, y, sample_weight, W.data(), b.data(), k, P.loss, P.n_threads, ws, loss_sum,
                           G.data(), gb.data());
            *Sb = 0.0;
            if (full) {
                *Sb = weight_total;
            } else {
                for (index_t r = 0; r < rows.count; ++r)
                    *Sb += sample_weight ? static_cast<double>(sample_weight[rows[r]]) : 1.0;
            }
        }
        if (st != status_ok || !std::isfinite(*loss_sum)) return false;
        if (*Sb <= 0.0) return true;
        // Mean gradient, or (sum_gradient) the sum with the penalty counted once per row.
        const double norm = P.sum_gradient ? 1.0 : *Sb;
        const double penalty_weight = P.sum_gradient ? static_cast<double>(rows.count) : 1.0;
        for (index_t t = 0; t < k; ++t) {
            for (index_t j = 0; j < p; ++j)
                g[static_cast<std::size_t>(t * p + j)] =
                    (G[static_cast<std::size_t>(t * p + j)] - mean[j] * gb[static_cast<std::size_t>(t)]) / scale[j] /
                    norm;
            g[static_cast<std::size_t>(kp + t)] =
                P.fit_intercept ? P.intercept_decay * gb[static_cast<std::size_t>(t)] / norm : 0.0;
        }
        if (l2 != 0.0 && P.optimizer != opt_adamw)
            for (index_t j = 0; j < kp; ++j) g[static_cast<std::size_t>(j)] += penalty_weight * l2 * th[j];
        last_batch_rows = rows.count;
        return true;
    };
    auto grad_norm = [&]() {
        double s2 = 0.0;
        for (double v : g) s2 += v * v;
        return std::sqrt(s2);
    };
    const bool warm = std::any_of(theta.begin(), theta.end(), [](double v) { return v != 0.0; });
    if (gradient_rule && warm) {
        // The yardstick of the gradient rule: the gradient of the zero model, so
        // that a warm start near the optimum is not held to a tinier target.
        std::vector<double> zero(static_cast<std::size_t>(m), 0.0);
        double loss0 = 0.0, S0 = 0.0;
        if (gradient_at(zero.data(), RowSet{order.data(), n_train}, &loss0, &S0)) initial_grad_norm = grad_norm();
    }
    double best_objective = inf, best_score = -inf;
    int no_improvement = 0;
    bool restarted_last = false;
    Status status = status_ok;
    S.objectives.clear();
    S.validation_scores.clear();
    int epoch = 0;
    for (; epoch < P.max_iter; ++epoch) {
        if (!full && P.shuffle) shuffle_indices(order.data(), n_train, P.seed);
        double loss_epoch = 0.0, weight_epoch = 0.0, objective_full = 0.0;
        index_t steps_in_epoch = 0;
        for (index_t b0 = 0; b0 < n_train; b0 += B) {
            const RowSet rows{order.data() + b0, std::min(B, n_train - b0)};
            double loss_sum = 0.0, Sb = 0.0;
            if (!gradient_at(theta.data(), rows, &loss_sum, &Sb)) {
                status = status_nonfinite;
                break;
            }
            if (Sb <= 0.0) continue;
            loss_epoch += loss_sum;
            weight_epoch += Sb;
            double lr = scheduled_lr(P, S, base) * S.lr_scale;
            double beta = P.momentum;
            if (full) {
                objective_full = loss_sum / Sb + penalty_value(P, theta.data(), kp);
                if (gradient_rule) {
                    const double gnorm = grad_norm();
                    if (first_step) initial_grad_norm = std::max(initial_grad_norm, gnorm);
                    first_step = false;
                    if (gnorm <= P.tol * initial_grad_norm) {
                        converged = true;  // theta is the answer: no further step
                        break;
                    }
                }
                if (safeguard) {
                    // An increase means momentum overshot (restart it) or, twice in
                    // a row, that the step is too long for this data (halve it).
                    const bool increased =
                        objective_full > S.last_objective + 1e-10 * std::fabs(S.last_objective);
                    if (increased) {
                        if (restarted_last || !momentum_opt) S.lr_scale *= 0.5;
                        if (momentum_opt && S.m1 != nullptr) std::fill(S.m1, S.m1 + m, 0.0);
                        S.fista_t = 1.0;
                        lr = scheduled_lr(P, S, base) * S.lr_scale;
                    }
                    restarted_last = increased;
                }
                S.last_objective = objective_full;
                if (P.momentum_restart) {
                    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * S.fista_t * S.fista_t));
                    beta = (S.fista_t - 1.0) / t_next;
                    S.fista_t = t_next;
                }
            }
            S.last_lr = lr;
            const double step_number = S.step + 1.0;
            switch (P.optimizer) {
                case opt_momentum:
                    apply_momentum<true>(theta.data(), g.data(), S.m1, m, lr, beta);
                    break;
                case opt_nesterov:
                    apply_nesterov<true>(theta.data(), g.data(), S.m1, m, lr, beta);
                    break;
                case opt_adagrad:
                    apply_adagrad<true>(theta.data(), g.data(), S.m1, m, lr, P.eps);
                    break;
                case opt_rmsprop:
                    apply_rmsprop<true>(theta.data(), g.data(), S.m1, m, lr, P.rho, P.eps);
                    break;
                case opt_adam:
                case opt_adamw: {
                    // AdamW decays the coefficients only, never the intercepts.
                    const double decay = P.optimizer == opt_adamw ? l2 : 0.0;
                    apply_adam<true>(theta.data(), g.data(), S.m1, S.m2, kp, lr, P.beta_1, P.beta_2, P.eps, step_number,
                               decay);
                    apply_adam<true>(theta.data() + kp, g.data() + kp, S.m1 + kp, S.m2 + kp, k, lr, P.beta_1, P.beta_2,
                               P.eps, step_number, 0.0);
                    break;
                }
                default:
                    apply_sgd<true>(theta.data(), g.data(), m, lr);
            }
            if (l1 != 0.0) {
                const double c2 = 1.0 / (1.0 - std::pow(P.beta_2, step_number));
                const double weight = P.sum_gradient ? static_cast<double>(last_batch_rows) : 1.0;
                for (index_t j = 0; j < kp; ++j) {
                    const double thr = effective_step(P.optimizer, lr, S.m1, S.m2, j, P.eps, c2) * l1 * weight;
                    double& v = theta[static_cast<std::size_t>(j)];
                    v = v > thr ? v - thr : (v < -thr ? v + thr : 0.0);
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
        if (status != status_ok) break;
        bool finite = true;
        for (double v : theta) finite = finite && std::isfinite(v);
        const double objective =
            full ? objective_full
                 : (weight_epoch > 0.0 ? loss_epoch / weight_epoch : 0.0) + penalty_value(P, theta.data(), kp);
        S.objectives.push_back(objective);
        S.epoch += 1.0;
        if (!finite || !std::isfinite(objective)) {
            status = status_nonfinite;
            break;
        }
        const bool blown_up = objective > P.divergence_threshold;
        if (blown_up) {
            if (mean_row_sq_norm < 0.0)
                mean_row_sq_norm =
                    row_sq_norm_stats(X, RowSet{order.data(), n_train}, mean, scale, P.n_threads).mean +
                    (P.fit_intercept ? 1.0 : 0.0);
            // Curvature along the update: a mean gradient over B rows has at least
            // trace / min(B, dimension); a summed one at least a row's.
            const double dims = static_cast<double>(p + (P.fit_intercept ? 1 : 0));
            const double curvature =
                P.loss.max_curvature() * mean_row_sq_norm /
                (P.sum_gradient ? 1.0 : std::max(1.0, std::min(static_cast<double>(B), dims)));
            const double epochs_left = static_cast<double>(std::max(0, P.divergence_horizon - epoch - 1));
            const double steps = P.sum_gradient ? static_cast<double>(n_train)
                                                : std::ceil(static_cast<double>(n_train) / static_cast<double>(B));
            if (step_hopeless(smallest_future_lr(P, S, base, epochs_left, steps), curvature)) {
                status = status_diverged;
                break;
            }
        }
        // A blown-up run that may still recover is not stopped for lack of
        // progress (the adaptive schedule still shrinks its step).
        const int count_stall = (!blown_up || P.schedule == sched_adaptive) ? 1 : 0;
        double score = 0.0;
        if (P.early_stopping && n_val > 0) {
            working_to_raw(theta.data(), theta.data() + kp, mean, scale, p, k, W.data(), b.data());
            score = validation_score(X, y, k, sample_weight, val_rows, n_val, W.data(), b.data(), ss_total);
            S.validation_scores.push_back(score);
            const double margin = P.tol_relative ? P.tol * std::max(std::fabs(best_score), 1e-300) : P.tol;
            if (P.tol > -inf && score < best_score + margin)
                no_improvement += count_stall;
            else
                no_improvement = 0;
            best_score = std::max(best_score, score);
        } else if (gradient_rule) {
            if (!(objective < best_objective))
                no_improvement += count_stall;
            else
                no_improvement = 0;
            best_objective = std::min(best_objective, objective);
        } else {
            const double margin = P.tol_relative ? P.tol * std::max(std::fabs(best_objective), 1e-300) : P.tol;
            if (P.tol > -inf && !(objective < best_objective - margin))
                no_improvement += count_stall;
            else
                no_improvement = 0;
            best_objective = std::min(best_objective, objective);
        }
        if (P.verbose) {
            EpochInfo info;
            info.epoch = epoch + 1;
            info.objective = objective;
            info.mean_loss = weight_epoch > 0.0 ? loss_epoch / weight_epoch : 0.0;
            double sq = 0.0;
            for (index_t j = 0; j < kp; ++j) {
                sq += theta[static_cast<std::size_t>(j)] * theta[static_cast<std::size_t>(j)];
                info.coef_nonzeros += theta[static_cast<std::size_t>(j)] != 0.0;
            }
            info.coef_norm = std::sqrt(sq);
            info.intercept = theta[static_cast<std::size_t>(kp)];
            info.updates = S.step;
            info.step_size = S.last_lr;
            info.has_validation = P.early_stopping;
            info.validation_score = score;
            cb.report(info);
        }
        if (converged) {
            ++epoch;
            break;
        }
        if (no_improvement >= (gradient_rule && !P.early_stopping ? 10 : 1) * P.n_iter_no_change) {
            if (P.schedule == sched_adaptive && S.lr_scale > P.min_lr_scale) {
                S.lr_scale /= 5.0;
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
    if (status == status_nonfinite || status == status_diverged) {
        S.failed_epoch = epoch + 1;
        S.failed_objective = S.objectives.empty() ? inf : S.objectives.back();
    }
    if (status == status_ok) {
        std::copy(theta.begin(), theta.begin() + kp, S.coef);
        std::copy(theta.begin() + kp, theta.end(), S.intercept);
    }
    return status;
}

}  // namespace gdfast
