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

// Each update is a template on Write: with Write=false it computes the new
// values without storing them and only reports whether they are all finite, so
// a caller can refuse an overflowing step and leave its arrays untouched (the
// public kernels do); the descent engine works on its own copies and writes
// directly. The return value says whether every new value is finite.

// theta -= lr * g
template <bool Write = true, class T>
GDFAST_INLINE bool apply_sgd(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, index_t n, double lr) {
    bool finite = true;
    for (index_t i = 0; i < n; ++i) {
        const T t = static_cast<T>(theta[i] - lr * g[i]);
        finite &= static_cast<bool>(std::isfinite(t));
        if constexpr (Write) theta[i] = t;
    }
    return finite;
}

// v = beta v + g;  theta -= lr v                 (heavy ball, PyTorch's convention)
// v = beta v + g;  theta -= lr (g + beta v)        (Nesterov: NesterovStep = true)
template <bool Write, bool NesterovStep, class T>
GDFAST_INLINE bool apply_momentum_rule(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT v,
                                       index_t n, double lr, double beta) {
    bool finite = true;
    for (index_t i = 0; i < n; ++i) {
        const double vi = beta * v[i] + g[i];
        const T nv = static_cast<T>(vi);
        const T t = static_cast<T>(theta[i] - lr * (NesterovStep ? g[i] + beta * vi : vi));
        finite &= static_cast<bool>(std::isfinite(nv)) & static_cast<bool>(std::isfinite(t));
        if constexpr (Write) {
            v[i] = nv;
            theta[i] = t;
        }
    }
    return finite;
}

template <bool Write = true, class T>
GDFAST_INLINE bool apply_momentum(T* theta, const T* g, T* v, index_t n, double lr, double beta) {
    return apply_momentum_rule<Write, false>(theta, g, v, n, lr, beta);
}

template <bool Write = true, class T>
GDFAST_INLINE bool apply_nesterov(T* theta, const T* g, T* v, index_t n, double lr, double beta) {
    return apply_momentum_rule<Write, true>(theta, g, v, n, lr, beta);
}

// G += g^2;  theta -= lr g / (sqrt(G) + eps)
template <bool Write = true, class T>
GDFAST_INLINE bool apply_adagrad(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT sum_sq,
                                 index_t n, double lr, double eps) {
    bool finite = true;
    for (index_t i = 0; i < n; ++i) {
        const double G = sum_sq[i] + static_cast<double>(g[i]) * g[i];
        const T nG = static_cast<T>(G);
        const T t = static_cast<T>(theta[i] - lr * g[i] / (std::sqrt(G) + eps));
        finite &= static_cast<bool>(std::isfinite(nG)) & static_cast<bool>(std::isfinite(t));
        if constexpr (Write) {
            sum_sq[i] = nG;
            theta[i] = t;
        }
    }
    return finite;
}

// E = rho E + (1 - rho) g^2;  theta -= lr g / (sqrt(E) + eps)
template <bool Write = true, class T>
GDFAST_INLINE bool apply_rmsprop(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT mean_sq,
                                 index_t n, double lr, double rho, double eps) {
    bool finite = true;
    for (index_t i = 0; i < n; ++i) {
        const double E = rho * mean_sq[i] + (1.0 - rho) * static_cast<double>(g[i]) * g[i];
        const T nE = static_cast<T>(E);
        const T t = static_cast<T>(theta[i] - lr * g[i] / (std::sqrt(E) + eps));
        finite &= static_cast<bool>(std::isfinite(nE)) & static_cast<bool>(std::isfinite(t));
        if constexpr (Write) {
            mean_sq[i] = nE;
            theta[i] = t;
        }
    }
    return finite;
}

// AdamW with decoupled decay (weight_decay = 0 gives Adam); step is the 1-based
// count of this update, for the bias corrections:
//   theta -= lr wd theta;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
template <bool Write = true, class T>
GDFAST_INLINE bool apply_adam(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT m,
                              T* GDFAST_RESTRICT v, index_t n, double lr, double beta_1, double beta_2, double eps,
                              double step, double weight_decay) {
    const double c1 = 1.0 / (1.0 - std::pow(beta_1, step));
    const double c2 = 1.0 / (1.0 - std::pow(beta_2, step));
    const double decay = 1.0 - lr * weight_decay;
    bool finite = true;
    for (index_t i = 0; i < n; ++i) {
        const double gi = g[i];
        const double mi = beta_1 * m[i] + (1.0 - beta_1) * gi;
        const double vi = beta_2 * v[i] + (1.0 - beta_2) * gi * gi;
        const T nm = static_cast<T>(mi), nv = static_cast<T>(vi);
        const T t = static_cast<T>(theta[i] * decay - lr * (mi * c1) / (std::sqrt(vi * c2) + eps));
        finite &= static_cast<bool>(std::isfinite(nm)) & static_cast<bool>(std::isfinite(nv)) &
                  static_cast<bool>(std::isfinite(t));
        if constexpr (Write) {
            m[i] = nm;
            v[i] = nv;
            theta[i] = t;
        }
    }
    return finite;
}

// The public steps: refuse (return false, arrays untouched) an update that would
// write a non-finite value; otherwise apply it.
template <class T>
bool checked_sgd(T* theta, const T* g, index_t n, double lr) {
    if (!apply_sgd<false>(theta, g, n, lr)) return false;
    return apply_sgd<true>(theta, g, n, lr);
}

template <class T>
bool checked_momentum(T* theta, const T* g, T* v, index_t n, double lr, double beta, bool nesterov) {
    if (nesterov) {
        if (!apply_nesterov<false>(theta, g, v, n, lr, beta)) return false;
        return apply_nesterov<true>(theta, g, v, n, lr, beta);
    }
    if (!apply_momentum<false>(theta, g, v, n, lr, beta)) return false;
    return apply_momentum<true>(theta, g, v, n, lr, beta);
}

template <class T>
bool checked_adagrad(T* theta, const T* g, T* sum_sq, index_t n, double lr, double eps) {
    if (!apply_adagrad<false>(theta, g, sum_sq, n, lr, eps)) return false;
    return apply_adagrad<true>(theta, g, sum_sq, n, lr, eps);
}

template <class T>
bool checked_rmsprop(T* theta, const T* g, T* mean_sq, index_t n, double lr, double rho, double eps) {
    if (!apply_rmsprop<false>(theta, g, mean_sq, n, lr, rho, eps)) return false;
    return apply_rmsprop<true>(theta, g, mean_sq, n, lr, rho, eps);
}

template <class T>
bool checked_adam(T* theta, const T* g, T* m, T* v, index_t n, double lr, double beta_1, double beta_2, double eps,
                  double step, double weight_decay) {
    if (!apply_adam<false>(theta, g, m, v, n, lr, beta_1, beta_2, eps, step, weight_decay)) return false;
    return apply_adam<true>(theta, g, m, v, n, lr, beta_1, beta_2, eps, step, weight_decay);
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
