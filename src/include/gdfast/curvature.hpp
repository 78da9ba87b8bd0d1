// The curvature of the objective, for step sizes: the largest eigenvalue of the
// Hessian of the mean squared loss by power iteration (from the co-moments of
// [X, Y] when they are at hand, else with passes over X), the step size 'auto'
// derives from it, and the squared-error loss and gradient from the co-moments.
#pragma once

#include <vector>

#include "common.hpp"
#include "monitor.hpp"
#include "loss_grad.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "stats.hpp"

namespace gdfast {

// Full-batch squared error from the centered co-moments (zbar, C of [x, y] with
// row stride q, total weight S), in working coordinates theta = (V, c): the
// gradient of the mean loss plus l2/2 ||V||^2 and (loss_out) the loss sum. No
// detour through raw coefficients, whose intercept b = c - mu . W cancels
// catastrophically for features far from zero. With w_t = V_t / sigma,
// u = (xbar - mu) / sigma and r_t = u . V_t + c_t - ybar_t (the mean residual):
//   g_V = (C_xx w - C_xy) / (sigma S) + u r + l2 V,   g_c = r,
//   loss = 1/2 sum_t (w' C_xx w - 2 w' C_xy + C_yy + S r^2).
// targets=false drops the terms of y: H theta, the Hessian times theta.
// The intercept rows are 0 without an intercept.
inline void gram_working_gradient(const std::vector<double>& C, index_t q, const std::vector<double>& zbar,
                                  double S, index_t p, index_t k, const double* mean, const double* scale,
                                  bool fit_intercept, double l2, const double* theta, bool targets, double* out,
                                  double* loss_out = nullptr) {
    std::vector<double> u(static_cast<std::size_t>(p)), w(static_cast<std::size_t>(p));
    for (index_t j = 0; j < p; ++j) u[static_cast<std::size_t>(j)] = (zbar[static_cast<std::size_t>(j)] - mean[j]) / scale[j];
    double loss = 0.0;
    for (index_t t = 0; t < k; ++t) {
        const double* V = theta + t * p;
        double r = (fit_intercept ? theta[k * p + t] : 0.0) - (targets ? zbar[static_cast<std::size_t>(p + t)] : 0.0);
        for (index_t j = 0; j < p; ++j) {
            w[static_cast<std::size_t>(j)] = V[j] / scale[j];
            r += u[static_cast<std::size_t>(j)] * V[j];
        }
        double quad = 0.0, cross = 0.0;
        for (index_t a = 0; a < p; ++a) {
            const double* Ca = C.data() + a * q;
            const double Cw = dot_contiguous(Ca, w.data(), p);
            const double cxy = targets ? Ca[p + t] : 0.0;
            out[t * p + a] = (Cw - cxy) / scale[a] / S + u[static_cast<std::size_t>(a)] * r + l2 * V[a];
            quad += w[static_cast<std::size_t>(a)] * Cw;
            cross += w[static_cast<std::size_t>(a)] * cxy;
        }
        out[k * p + t] = fit_intercept ? r : 0.0;
        const double cyy = targets ? C[static_cast<std::size_t>((p + t) * q + p + t)] : 0.0;
        loss += 0.5 * (quad - 2.0 * cross + cyy + S * r * r);
    }
    if (loss_out != nullptr) *loss_out = loss;
}

// The matrix gram_working_gradient applies (targets=false), for one target:
// H = [Cs / S + u u' + l2 I, u; u', 1] of size (p + 1)^2 (the last row and
// column are the intercept's; without one they are left 0).
inline std::vector<double> gram_working_hessian(const std::vector<double>& C, index_t q,
                                                const std::vector<double>& zbar, double S, index_t p,
                                                const double* mean, const double* scale, bool fit_intercept,
                                                double l2) {
    const index_t h = p + 1;
    std::vector<double> H(static_cast<std::size_t>(h * h), 0.0), u(static_cast<std::size_t>(p));
    for (index_t j = 0; j < p; ++j) u[static_cast<std::size_t>(j)] = (zbar[static_cast<std::size_t>(j)] - mean[j]) / scale[j];
    for (index_t a = 0; a < p; ++a) {
        for (index_t b = 0; b < p; ++b)
            H[static_cast<std::size_t>(a * h + b)] = C[static_cast<std::size_t>(a * q + b)] / (scale[a] * scale[b] * S) +
                                                     u[static_cast<std::size_t>(a)] * u[static_cast<std::size_t>(b)] +
                                                     (a == b ? l2 : 0.0);
        if (fit_intercept) {
            H[static_cast<std::size_t>(a * h + p)] = u[static_cast<std::size_t>(a)];
            H[static_cast<std::size_t>(p * h + a)] = u[static_cast<std::size_t>(a)];
        }
    }
    if (fit_intercept) H[static_cast<std::size_t>(p * h + p)] = 1.0;
    return H;
}

// The lower Cholesky factor of M = c H + l2 I_coef (H as gram_working_hessian
// gives it, its intercept corner 1 without an intercept), a majorizer of the
// Hessian of the objective for a loss of curvature bound c. A tiny multiple of
// each diagonal entry (of the largest, where an entry is 0) is added first: it
// keeps a singular H (a constant or duplicated feature) factorable and M still
// above the Hessian, and, relative to each entry, it leaves coordinates of
// very different scales (raw features of 1e-12 beside the intercept's 1) the
// curvature they have.
inline std::vector<double> curvature_bound_factor(const std::vector<double>& C, index_t q,
                                                  const std::vector<double>& zbar, double S, index_t p,
                                                  const double* mean, const double* scale, bool fit_intercept,
                                                  double c, double l2) {
    const index_t h = p + 1;
    std::vector<double> M = gram_working_hessian(C, q, zbar, S, p, mean, scale, fit_intercept, 0.0);
    double top = 0.0;
    for (index_t a = 0; a < h; ++a) {
        for (index_t b = 0; b < h; ++b) M[static_cast<std::size_t>(a * h + b)] *= c;
        top = std::max(top, M[static_cast<std::size_t>(a * h + a)]);
    }
    if (!fit_intercept) M[static_cast<std::size_t>(p * h + p)] = 1.0;
    for (index_t a = 0; a < h; ++a) {
        double& diag = M[static_cast<std::size_t>(a * h + a)];
        diag += (a < p ? l2 : 0.0) + 1e-10 * (diag > 0.0 ? diag : top) + 1e-300;
    }
    for (index_t j = 0; j < h; ++j) {
        double d = M[static_cast<std::size_t>(j * h + j)];
        for (index_t r = 0; r < j; ++r) d -= M[static_cast<std::size_t>(j * h + r)] * M[static_cast<std::size_t>(j * h + r)];
        d = std::sqrt(std::max(d, 1e-300));
        M[static_cast<std::size_t>(j * h + j)] = d;
        for (index_t i = j + 1; i < h; ++i) {
            double v = M[static_cast<std::size_t>(i * h + j)];
            for (index_t r = 0; r < j; ++r) v -= M[static_cast<std::size_t>(i * h + r)] * M[static_cast<std::size_t>(j * h + r)];
            M[static_cast<std::size_t>(i * h + j)] = v / d;
        }
    }
    return M;
}

// v <- (L L')^-1 v for the lower factor L (h x h, row-major) of curvature_bound_factor.
inline void cholesky_solve(const std::vector<double>& L, index_t h, double* v) {
    for (index_t i = 0; i < h; ++i) {
        double s = v[i];
        for (index_t r = 0; r < i; ++r) s -= L[static_cast<std::size_t>(i * h + r)] * v[r];
        v[i] = s / L[static_cast<std::size_t>(i * h + i)];
    }
    for (index_t i = h - 1; i >= 0; --i) {
        double s = v[i];
        for (index_t r = i + 1; r < h; ++r) s -= L[static_cast<std::size_t>(r * h + i)] * v[r];
        v[i] = s / L[static_cast<std::size_t>(i * h + i)];
    }
}

// v <- M^-1 v for parameters laid out [k x p coefficients, k intercepts]: each
// class's block (its p coefficients and its intercept) by the factor L of M.
inline void precondition_blocks(const std::vector<double>& L, index_t h, index_t p, index_t k, double* v) {
    std::vector<double> block(static_cast<std::size_t>(h));
    for (index_t t = 0; t < k; ++t) {
        std::copy(v + t * p, v + (t + 1) * p, block.begin());
        block[static_cast<std::size_t>(p)] = v[k * p + t];
        cholesky_solve(L, h, block.data());
        std::copy(block.begin(), block.begin() + p, v + t * p);
        v[k * p + t] = block[static_cast<std::size_t>(p)];
    }
}

inline double dot_of(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0.0;
    for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
    return s;
}

// y += a x
inline void axpy_of(double a, const std::vector<double>& x, std::vector<double>& y) {
    for (std::size_t j = 0; j < x.size(); ++j) y[j] += a * x[j];
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

// Power iterations for the Hessian's norm: from the co-moments (2 q^2 flops
// each), or with passes over X (a loss/gradient pass each).
constexpr int moment_iterations = 100;
constexpr int pass_iterations = 12;

// Whether the step size is cheaper from the co-moments (their pass, then the
// iterations on them) than from passes over X (two flops per stored entry):
// dense X up to 1024 columns (its rank-4 update runs near peak), CSR by its
// count of nonzero pairs.
template <class Matrix>
bool moments_cheaper_for_step(const Matrix& X, const RowSet& rows, index_t k) {
    if constexpr (is_csr<Matrix>::value) {
        double stored = 0.0;
        for (index_t r = 0; r < rows.count; ++r)
            stored += static_cast<double>(X.indptr[rows[r] + 1] - X.indptr[rows[r]]);
        const double q = static_cast<double>(X.n_cols + k);
        return comoments_work(X, rows, k) + 2.0 * moment_iterations * q * q <=
               2.0 * pass_iterations * (stored + static_cast<double>(rows.count * k));
    } else {
        return X.n_cols <= 1024;
    }
}

// Largest eigenvalue of the Hessian of the mean squared loss in working
// coordinates, H = sum_i s_i [x~_i; 1][x~_i; 1]' / sum_i s_i, by power
// iteration: from the co-moments when available (cheap), else with passes over X
// (Ctrl-C is polled between them).
template <class Matrix, class T>
double hessian_norm(const Matrix& X, const RowSet& rows, const T* sample_weight, const double* mean,
                    const double* scale, bool fit_intercept, const std::vector<double>& C,
                    const std::vector<double>& zbar, double S, index_t q, int n_threads, int iterations,
                    PassPoll& poll, const Callbacks* remote = nullptr) {
    const index_t p = X.n_cols;
    // v = (V, c) with c = 0 throughout without an intercept.
    std::vector<double> v(static_cast<std::size_t>(p + 1), 0.0), Hv(static_cast<std::size_t>(p + 1), 0.0);
    for (index_t j = 0; j < p + (fit_intercept ? 1 : 0); ++j)
        v[static_cast<std::size_t>(j)] = 1.0 + 0.01 * static_cast<double>(j % 7);
    std::vector<double> W(static_cast<std::size_t>(p)), G(static_cast<std::size_t>(p));
    std::vector<T> zeros;
    LossGradWorkspace ws;
    Loss squared;
    double lambda = 0.0;
    for (int it = 0; it < iterations; ++it) {
        if (C.empty() && poll.check()) return lambda;
        double norm = 0.0;
        for (double a : v) norm += a * a;
        norm = std::sqrt(norm);
        if (norm == 0.0) return lambda;
        for (double& a : v) a /= norm;
        if (!C.empty()) {
            gram_working_gradient(C, q, zbar, S, p, 1, mean, scale, fit_intercept, 0.0, v.data(), false, Hv.data());
        } else {
            // H v with passes: the loss with y = 0 is quadratic, its gradient is H v.
            const double c = v[static_cast<std::size_t>(p)];
            double b, gb, loss;
            working_to_raw(v.data(), &c, mean, scale, p, 1, W.data(), &b);
            if (remote != nullptr) {
                if (!remote->remote_pass(remote->context, W.data(), &b, 1, 1, 1, &loss, G.data(), &gb)) return lambda;
            } else {
                if (zeros.empty()) zeros.assign(static_cast<std::size_t>(X.n_rows), T(0));
                loss_grad(X, rows, zeros.data(), sample_weight, W.data(), &b, 1, squared, n_threads, ws, &loss,
                          G.data(), &gb);
            }
            for (index_t j = 0; j < p; ++j)
                Hv[static_cast<std::size_t>(j)] = (G[static_cast<std::size_t>(j)] - mean[j] * gb) / scale[j] / S;
            Hv[static_cast<std::size_t>(p)] = fit_intercept ? gb / S : 0.0;
        }
        lambda = 0.0;
        for (index_t j = 0; j <= p; ++j) lambda += v[static_cast<std::size_t>(j)] * Hv[static_cast<std::size_t>(j)];
        v.swap(Hv);
    }
    return lambda;
}

// The step size 'auto' derives: 1 / L for full batches, with L the largest
// curvature of the mean loss (the loss's curvature bound times the Hessian's
// norm, plus the L2 strength, 2% margin); for batches of B rows, 1 / (2 L_B) with L_B the expected
// smoothness of a batch (Gower et al., 2019), shortened by 1 - momentum.
template <class Matrix, class T>
double auto_step_size(const Matrix& X, const RowSet& rows, const T* sample_weight, const double* mean,
                      const double* scale, bool fit_intercept, const Loss& loss, OptimizerKind optimizer,
                      double momentum, index_t batch, bool full, const std::vector<double>& C,
                      const std::vector<double>& zbar, double total_weight, index_t q, int n_threads,
                      double l2, PassPoll& poll, const Callbacks* remote = nullptr) {
    // A loss that is not smooth steps as if of curvature 1.
    const double curvature = loss.max_curvature() > 0.0 ? loss.max_curvature() : 1.0;
    // The L2 term adds l2 to the curvature of every coefficient.
    const double L = (curvature * hessian_norm(X, rows, sample_weight, mean, scale, fit_intercept, C, zbar,
                                               total_weight, q, n_threads,
                                               C.empty() ? pass_iterations : moment_iterations, poll, remote) +
                      l2) *
                     1.02;
    const index_t n_train = rows.count;
    if (full || n_train <= 1) return 1.0 / std::max(L, 1e-300);
    const double L_max =
        curvature * (row_sq_norm_stats(X, rows, mean, scale, n_threads).max + (fit_intercept ? 1.0 : 0.0)) + l2;
    const double n = static_cast<double>(n_train), bs = static_cast<double>(batch);
    const double L_B = n * (bs - 1.0) / (bs * (n - 1.0)) * L + (n - bs) / (bs * (n - 1.0)) * L_max;
    double lr = 1.0 / (2.0 * std::max(L_B, 1e-300));
    if (uses_momentum(optimizer)) lr *= 1.0 - momentum;
    return lr;
}

}  // namespace gdfast
