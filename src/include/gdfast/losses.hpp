// Regression losses of the residual r = p - y, their derivative with respect to
// the prediction p, and their largest curvature (used to bound step sizes).
#pragma once

#include <cmath>
#include <type_traits>

#include "common.hpp"

namespace gdfast {

#define GDFAST_LOSSES(X) X(squared_error, 0) X(huber, 1) X(epsilon_insensitive, 2) X(squared_epsilon_insensitive, 3)

GDFAST_NAMED_ENUM(LossKind, loss_names, GDFAST_LOSSES)

// Each loss is written here once: l(r) and l'(r) for the residual r = p - y
// (eps: the width of huber and the insensitive losses; at a kink the derivative
// takes scikit-learn's choice, 0 where |r| == eps), and the largest curvature
// sup l'' (0 for a loss that is not smooth), which bounds stable step sizes.
template <LossKind K>
struct LossRule;

template <>
struct LossRule<LossKind::squared_error> {  // r^2 / 2
    static constexpr double curvature = 1.0;
    static GDFAST_INLINE double eval(double r, double, double* d) {
        *d = r;
        return 0.5 * r * r;
    }
};

template <>
struct LossRule<LossKind::huber> {  // r^2 / 2 if |r| <= eps, else eps |r| - eps^2 / 2
    static constexpr double curvature = 1.0;
    static GDFAST_INLINE double eval(double r, double eps, double* d) {
        const double a = std::fabs(r);
        const bool inside = a <= eps;
        *d = inside ? r : (r > 0 ? eps : -eps);
        return inside ? 0.5 * r * r : eps * (a - 0.5 * eps);
    }
};

template <>
struct LossRule<LossKind::epsilon_insensitive> {  // max(0, |r| - eps)
    static constexpr double curvature = 0.0;
    static GDFAST_INLINE double eval(double r, double eps, double* d) {
        const double a = std::fabs(r);
        const bool inside = a <= eps;
        *d = inside ? 0.0 : (r > 0 ? 1.0 : -1.0);
        return inside ? 0.0 : a - eps;
    }
};

template <>
struct LossRule<LossKind::squared_epsilon_insensitive> {  // max(0, |r| - eps)^2
    static constexpr double curvature = 2.0;
    static GDFAST_INLINE double eval(double r, double eps, double* d) {
        const double a = std::fabs(r);
        const bool inside = a <= eps;
        *d = inside ? 0.0 : (r > 0 ? 2.0 * (a - eps) : -2.0 * (a - eps));
        return inside ? 0.0 : (a - eps) * (a - eps);
    }
};

// The one dispatch from a run-time loss to compile-time code: f(K) with K an
// std::integral_constant<LossKind, ...>. Hot loops dispatch once per block.
template <class F>
GDFAST_INLINE decltype(auto) with_loss(LossKind kind, F&& f) {
#define GDFAST_LOSS_CASE(name, code) \
    case LossKind::name:             \
        return f(std::integral_constant<LossKind, LossKind::name>{});
    switch (kind) { GDFAST_LOSSES(GDFAST_LOSS_CASE) }
#undef GDFAST_LOSS_CASE
    return f(std::integral_constant<LossKind, LossKind::squared_error>{});
}

struct Loss {
    LossKind kind = LossKind::squared_error;
    double epsilon = 0.1;
    // |dl/dp| is capped here when finite: scikit-learn's SGD caps it at 1e12 so
    // that a blown-up step stays finite and can recover. Infinite by default.
    double derivative_clip = HUGE_VAL;

    // The parameters by name, for the binding (see api.hpp).
    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("loss", s.kind), f("epsilon", s.epsilon), f("derivative_clip", s.derivative_clip);
    }

    // l(p, y), with dl/dp (capped at derivative_clip) stored in *derivative, for
    // a loss known at compile time.
    template <LossKind K>
    GDFAST_INLINE double evaluate(double p, double y, double* derivative) const {
        double d;
        const double v = LossRule<K>::eval(p - y, epsilon, &d);
        if (d > derivative_clip) d = derivative_clip;
        if (d < -derivative_clip) d = -derivative_clip;
        *derivative = d;
        return v;
    }

    // The same for the loss of this object.
    GDFAST_INLINE double value_and_derivative(double p, double y, double* derivative) const {
        return with_loss(kind, [&](auto K) { return evaluate<decltype(K)::value>(p, y, derivative); });
    }

    double derivative(double p, double y) const {
        double d;
        value_and_derivative(p, y, &d);
        return d;
    }

    double max_curvature() const {
        return with_loss(kind, [](auto K) { return LossRule<decltype(K)::value>::curvature; });
    }
};

inline Loss make_loss(int kind, double epsilon, double derivative_clip = HUGE_VAL) {
    return Loss{static_cast<LossKind>(kind), epsilon, derivative_clip};
}

// mean over rows i and targets t of l(c_t, y_it), y row-major (n x k): the loss
// of a constant prediction, the yardstick of divergence detection.
inline double mean_constant_loss(const Loss& loss, const double* y, index_t n, index_t k, const double* c) {
    const double total = with_loss(loss.kind, [&](auto K) {
        double sum = 0.0;
        for (index_t t = 0; t < k; ++t) {
            double part = 0.0;
            GDFAST_SIMD_REDUCTION(part)
            for (index_t i = 0; i < n; ++i) {
                double unused;
                part += LossRule<decltype(K)::value>::eval(c[t] - y[i * k + t], loss.epsilon, &unused);
            }
            sum += part;
        }
        return sum;
    });
    return n * k > 0 ? total / static_cast<double>(n * k) : 0.0;
}

}  // namespace gdfast
