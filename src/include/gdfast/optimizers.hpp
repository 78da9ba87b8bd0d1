// Fused optimizer updates: each walks the parameters once, updating them and
// their optimizer state in place. theta, grad and the state share one element
// type T; step sizes and hyper-parameters are double.
#pragma once

#include <algorithm>
#include <cmath>

#include "common.hpp"

namespace gdfast {

#define GDFAST_OPTIMIZERS(X) X(sgd, 0) X(momentum, 1) X(nesterov, 2) X(adagrad, 3) X(rmsprop, 4) X(adam, 5) X(adamw, 6)

GDFAST_NAMED_ENUM(OptimizerKind, optimizer_names, GDFAST_OPTIMIZERS)

// The hyper-parameters of every optimizer (each uses its own).
struct OptimizerHyper {
    double momentum = 0.9;
    double beta_1 = 0.9;
    double beta_2 = 0.999;
    double rho = 0.9;
    double eps = 1e-8;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("momentum", s.momentum), f("beta_1", s.beta_1), f("beta_2", s.beta_2), f("rho", s.rho);
        f("eps", s.eps);
    }
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

// A = decay A + gain g^2;  theta -= lr g / (sqrt(A) + eps)
//   Adagrad: decay = gain = 1 (A is the sum of squares);  RMSprop: decay = rho, gain = 1 - rho
template <bool Write = true, class T>
GDFAST_INLINE bool apply_scaled(T* GDFAST_RESTRICT theta, const T* GDFAST_RESTRICT g, T* GDFAST_RESTRICT acc,
                                index_t n, double lr, double decay, double gain, double eps) {
    bool finite = true;
    for (index_t i = 0; i < n; ++i) {
        const double A = decay * acc[i] + gain * static_cast<double>(g[i]) * g[i];
        const T nA = static_cast<T>(A);
        const T t = static_cast<T>(theta[i] - lr * g[i] / (std::sqrt(A) + eps));
        finite &= static_cast<bool>(std::isfinite(nA)) & static_cast<bool>(std::isfinite(t));
        if constexpr (Write) {
            acc[i] = nA;
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

// The one dispatch point: the update of `kind` on n parameters. s1 is the first
// state array (velocity, sum_sq, mean_sq or Adam's m), s2 the second (Adam's v);
// `beta` is the momentum of this step (the descent engine varies it), `step`
// the 1-based update count (Adam's bias corrections) and `weight_decay`
// AdamW's decoupled decay (0 otherwise).
template <bool Write = true, class T>
GDFAST_INLINE bool apply(OptimizerKind kind, T* theta, const T* g, T* s1, T* s2, index_t n, double lr,
                         const OptimizerHyper& h, double beta, double step, double weight_decay) {
    switch (kind) {
        case OptimizerKind::momentum:
            return apply_momentum<Write>(theta, g, s1, n, lr, beta);
        case OptimizerKind::nesterov:
            return apply_nesterov<Write>(theta, g, s1, n, lr, beta);
        case OptimizerKind::adagrad:
            return apply_scaled<Write>(theta, g, s1, n, lr, 1.0, 1.0, h.eps);
        case OptimizerKind::rmsprop:
            return apply_scaled<Write>(theta, g, s1, n, lr, h.rho, 1.0 - h.rho, h.eps);
        case OptimizerKind::adam:
        case OptimizerKind::adamw:
            return apply_adam<Write>(theta, g, s1, s2, n, lr, h.beta_1, h.beta_2, h.eps, step, weight_decay);
        default:
            return apply_sgd<Write>(theta, g, n, lr);
    }
}

// The public step: refuses (returns false, arrays untouched) an update that
// would write a non-finite value; otherwise applies it.
template <class T>
bool checked_apply(OptimizerKind kind, T* theta, const T* g, T* s1, T* s2, index_t n, double lr,
                   const OptimizerHyper& h, double step, double weight_decay) {
    if (!apply<false>(kind, theta, g, s1, s2, n, lr, h, h.momentum, step, weight_decay)) return false;
    return apply<true>(kind, theta, g, s1, s2, n, lr, h, h.momentum, step, weight_decay);
}

// sgd, momentum and Nesterov written as the linear maps they are. With the
// gradient g = lambda theta + e (an L2 term and the rest), the state
// s = (theta) or (theta, v) moves to s' = A s + f e:
//   sgd:       A = [1 - lr lambda],                        f = [-lr]
//   momentum:  A = [[1 - lr lambda, -lr beta], [lambda, beta]],       f = [-lr, 1]
//   Nesterov:  A = [[1 - lr (1 + beta) lambda, -lr beta^2], [lambda, beta]], f = [-lr (1 + beta), 1]
// (the updates above expanded). A map shared by every coordinate lets the
// sparse mini-batch steps move the coordinates a batch does not read all at once.
struct LinearStep {
    int dim = 1;  // 1: theta alone; 2: theta and v
    double A[2][2] = {{1.0, 0.0}, {0.0, 1.0}};
    double f[2] = {0.0, 0.0};
};

inline LinearStep linear_step(OptimizerKind kind, double lr, double lambda, double beta) {
    LinearStep L;
    if (kind == OptimizerKind::sgd) {
        L.A[0][0] = 1.0 - lr * lambda;
        L.f[0] = -lr;
        return L;
    }
    const bool nesterov = kind == OptimizerKind::nesterov;
    L.dim = 2;
    L.A[0][0] = 1.0 - lr * (nesterov ? 1.0 + beta : 1.0) * lambda;
    L.A[0][1] = -lr * (nesterov ? beta * beta : beta);
    L.A[1][0] = lambda;
    L.A[1][1] = beta;
    L.f[0] = -lr * (nesterov ? 1.0 + beta : 1.0);
    L.f[1] = 1.0;
    return L;
}

// How many state arrays (s1, s2) the update of `kind` reads and writes.
inline int state_arrays(OptimizerKind kind) {
    if (kind == OptimizerKind::sgd) return 0;
    return kind == OptimizerKind::adam || kind == OptimizerKind::adamw ? 2 : 1;
}

inline bool uses_momentum(OptimizerKind kind) {
    return kind == OptimizerKind::momentum || kind == OptimizerKind::nesterov;
}

inline bool has_linear_step(OptimizerKind kind) { return kind == OptimizerKind::sgd || uses_momentum(kind); }

// Per-coordinate normalized steps (Adagrad, RMSprop, Adam): a parameter moves
// by about the step size whatever the gradient's scale.
inline bool normalizes_steps(OptimizerKind kind) {
    return kind == OptimizerKind::adagrad || kind == OptimizerKind::rmsprop || kind == OptimizerKind::adam ||
           kind == OptimizerKind::adamw;
}

// How much longer than the step size a step along a constant gradient grows:
// 1 / (1 - momentum) with momentum, 0 for the normalized optimizers (their
// steps cannot blow up with the gradient), else 1.
inline double step_amplification(OptimizerKind kind, double momentum) {
    if (normalizes_steps(kind)) return 0.0;
    return uses_momentum(kind) ? 1.0 / (1.0 - std::min(momentum, 0.999)) : 1.0;
}

// The step coordinate i took per unit of gradient in the last update of an
// optimizer with state s1 (adagrad, rmsprop) or s2 (adam's second moment, with
// bias correction c2): the proximal L1 step soft-thresholds by it.
template <class T>
GDFAST_INLINE double effective_step(OptimizerKind kind, double lr, const T* s1, const T* s2, index_t i, double eps,
                                    double c2) {
    switch (kind) {
        case OptimizerKind::adagrad:
        case OptimizerKind::rmsprop:
            return lr / (std::sqrt(static_cast<double>(s1[i])) + eps);
        case OptimizerKind::adam:
        case OptimizerKind::adamw:
            return lr / (std::sqrt(static_cast<double>(s2[i]) * c2) + eps);
        default:
            return lr;
    }
}

}  // namespace gdfast
