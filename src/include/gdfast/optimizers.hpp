// Fused optimizer updates: each walks the parameters once, updating them and
// their optimizer state in place. theta, grad and the state share one element
// type T; step sizes and hyper-parameters are double.
#pragma once

#include <cmath>

#include "common.hpp"

namespace gdfast {

enum Optimizer : int {
    opt_sgd = 0,
    opt_momentum = 1,
    opt_nesterov = 2,
    opt_adagrad = 3,
    opt_rmsprop = 4,
    opt_adam = 5,
    opt_adamw = 6,
};

// theta -= lr * g
template <class T>
GDFAST_INLINE void apply_sgd(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, index_t n, double lr) {
    for (index_t i = 0; i < n; ++i) theta[i] = static_cast<T>(theta[i] - lr * g[i]);
}

// v = beta v + g;  theta -= lr v            (heavy ball, PyTorch's convention)
template <class T>
GDFAST_INLINE void apply_momentum(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT v,
                                  index_t n, double lr, double beta) {
    for (index_t i = 0; i < n; ++i) {
        const double vi = beta * v[i] + g[i];
        v[i] = static_cast<T>(vi);
        theta[i] = static_cast<T>(theta[i] - lr * vi);
    }
}

// v = beta v + g;  theta -= lr (g + beta v)   (Nesterov, PyTorch's convention)
template <class T>
GDFAST_INLINE void apply_nesterov(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT v,
                                  index_t n, double lr, double beta) {
    for (index_t i = 0; i < n; ++i) {
        const double vi = beta * v[i] + g[i];
        v[i] = static_cast<T>(vi);
        theta[i] = static_cast<T>(theta[i] - lr * (g[i] + beta * vi));
    }
}

// G += g^2;  theta -= lr g / (sqrt(G) + eps)
template <class T>
GDFAST_INLINE void apply_adagrad(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT sum_sq,
                                 index_t n, double lr, double eps) {
    for (index_t i = 0; i < n; ++i) {
        const double G = sum_sq[i] + static_cast<double>(g[i]) * g[i];
        sum_sq[i] = static_cast<T>(G);
        theta[i] = static_cast<T>(theta[i] - lr * g[i] / (std::sqrt(G) + eps));
    }
}

// E = rho E + (1 - rho) g^2;  theta -= lr g / (sqrt(E) + eps)
template <class T>
GDFAST_INLINE void apply_rmsprop(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT mean_sq,
                                 index_t n, double lr, double rho, double eps) {
    for (index_t i = 0; i < n; ++i) {
        const double E = rho * mean_sq[i] + (1.0 - rho) * static_cast<double>(g[i]) * g[i];
        mean_sq[i] = static_cast<T>(E);
        theta[i] = static_cast<T>(theta[i] - lr * g[i] / (std::sqrt(E) + eps));
    }
}

// AdamW with decoupled decay (weight_decay = 0 gives Adam); step is the 1-based
// count of this update, for the bias corrections:
//   theta -= lr wd theta;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
template <class T>
GDFAST_INLINE void apply_adam(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT m,
                              T* GDFAST_RESTRICT v, index_t n, double lr, double beta_1, double beta_2, double eps,
                              double step, double weight_decay) {
    const double c1 = 1.0 / (1.0 - std::pow(beta_1, step));
    const double c2 = 1.0 / (1.0 - std::pow(beta_2, step));
    const double decay = 1.0 - lr * weight_decay;
    for (index_t i = 0; i < n; ++i) {
        const double gi = g[i];
        const double mi = beta_1 * m[i] + (1.0 - beta_1) * gi;
        const double vi = beta_2 * v[i] + (1.0 - beta_2) * gi * gi;
        m[i] = static_cast<T>(mi);
        v[i] = static_cast<T>(vi);
        theta[i] = static_cast<T>(theta[i] * decay - lr * (mi * c1) / (std::sqrt(vi * c2) + eps));
    }
}

// The step coordinate i took per unit of gradient in the last update of an
// optimizer with state s1 (adagrad, rmsprop) or s2 (adam's second moment, with
// bias correction c2): the proximal L1 step soft-thresholds by it.
template <class T>
GDFAST_INLINE double effective_step(int kind, double lr, const T* s1, const T* s2, index_t i, double eps, double c2) {
    switch (kind) {
        case opt_adagrad:
        case opt_rmsprop:
            return lr / (std::sqrt(static_cast<double>(s1[i])) + eps);
        case opt_adam:
        case opt_adamw:
            return lr / (std::sqrt(static_cast<double>(s2[i]) * c2) + eps);
        default:
            return lr;
    }
}

}  // namespace gdfast
