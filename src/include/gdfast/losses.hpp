// Regression losses of the residual r = p - y, their derivative with respect to
// the prediction p, and their largest curvature (used to bound step sizes).
#pragma once

#include <cmath>

#include "common.hpp"

namespace gdfast {

#define GDFAST_LOSSES(X)                                                           \
    X(squared_error, 0)               /* r^2 / 2 */                                \
    X(huber, 1)                       /* r^2 / 2 if |r| <= eps, else eps |r| - eps^2 / 2 */ \
    X(epsilon_insensitive, 2)         /* max(0, |r| - eps) */                      \
    X(squared_epsilon_insensitive, 3) /* max(0, |r| - eps)^2 */

GDFAST_NAMED_ENUM(LossKind, loss_names, GDFAST_LOSSES)

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

    // Returns l(p, y) and stores dl/dp (capped at derivative_clip) in *derivative.
    GDFAST_INLINE double value_and_derivative(double p, double y, double* derivative) const {
        switch (kind) {
            case LossKind::squared_error:
                return evaluate<LossKind::squared_error>(p, y, derivative);
            case LossKind::huber:
                return evaluate<LossKind::huber>(p, y, derivative);
            case LossKind::epsilon_insensitive:
                return evaluate<LossKind::epsilon_insensitive>(p, y, derivative);
            case LossKind::squared_epsilon_insensitive:
                return evaluate<LossKind::squared_epsilon_insensitive>(p, y, derivative);
        }
        *derivative = 0.0;
        return 0.0;
    }

    // The same for a loss known at compile time (hot loops dispatch once per block).
    // At a kink the derivative takes scikit-learn's choice (0 where |r| == eps for
    // the insensitive losses).
    template <LossKind K>
    GDFAST_INLINE double evaluate(double p, double y, double* derivative) const {
        const double r = p - y;
        const double a = std::fabs(r);
        double v, d;
        if constexpr (K == LossKind::squared_error) {
            d = r;
            v = 0.5 * r * r;
        } else if constexpr (K == LossKind::huber) {
            const bool inside = a <= epsilon;
            d = inside ? r : (r > 0 ? epsilon : -epsilon);
            v = inside ? 0.5 * r * r : epsilon * (a - 0.5 * epsilon);
        } else if constexpr (K == LossKind::epsilon_insensitive) {
            const bool inside = a <= epsilon;
            d = inside ? 0.0 : (r > 0 ? 1.0 : -1.0);
            v = inside ? 0.0 : a - epsilon;
        } else {
            const bool inside = a <= epsilon;
            d = inside ? 0.0 : (r > 0 ? 2.0 * (a - epsilon) : -2.0 * (a - epsilon));
            v = inside ? 0.0 : (a - epsilon) * (a - epsilon);
        }
        if (d > derivative_clip) d = derivative_clip;
        if (d < -derivative_clip) d = -derivative_clip;
        *derivative = d;
        return v;
    }

    double derivative(double p, double y) const {
        double d;
        value_and_derivative(p, y, &d);
        return d;
    }

    // sup of d2l/dp2, or 0 for a loss that is not smooth (epsilon_insensitive).
    double max_curvature() const {
        switch (kind) {
            case LossKind::squared_error:
            case LossKind::huber:
                return 1.0;
            case LossKind::squared_epsilon_insensitive:
                return 2.0;
            case LossKind::epsilon_insensitive:
                return 0.0;
        }
        return 1.0;
    }
};

inline Loss make_loss(int kind, double epsilon, double derivative_clip = HUGE_VAL) {
    return Loss{static_cast<LossKind>(kind), epsilon, derivative_clip};
}

// mean over rows i and targets t of l(c_t, y_it), y row-major (n x k): the loss
// of a constant prediction, the yardstick of divergence detection.
inline double mean_constant_loss(const Loss& loss, const double* y, index_t n, index_t k, const double* c) {
    double total = 0.0, unused;
    for (index_t i = 0; i < n; ++i)
        for (index_t t = 0; t < k; ++t) total += loss.value_and_derivative(c[t], y[i * k + t], &unused);
    return n * k > 0 ? total / static_cast<double>(n * k) : 0.0;
}

}  // namespace gdfast
