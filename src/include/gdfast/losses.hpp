// Regression losses of the residual r = p - y, their derivative with respect to
// the prediction p, and their largest curvature (used to bound step sizes).
#pragma once

#include <cmath>

#include "common.hpp"

namespace gdfast {

enum class LossKind : int {
    squared_error = 0,                // r^2 / 2
    huber = 1,                        // r^2 / 2 if |r| <= eps else eps |r| - eps^2 / 2
    epsilon_insensitive = 2,          // max(0, |r| - eps)
    squared_epsilon_insensitive = 3,  // max(0, |r| - eps)^2
};

struct Loss {
    LossKind kind = LossKind::squared_error;
    double epsilon = 0.1;
    // |dl/dp| is capped here when finite: scikit-learn's SGD caps it at 1e12 so
    // that a blown-up step stays finite and can recover. Infinite by default.
    double derivative_clip = HUGE_VAL;

    // Returns l(p, y) and stores dl/dp (capped at derivative_clip) in *derivative.
    GDFAST_INLINE double value_and_derivative(double p, double y, double* derivative) const {
        const double v = unclipped(p, y, derivative);
        if (*derivative > derivative_clip) *derivative = derivative_clip;
        if (*derivative < -derivative_clip) *derivative = -derivative_clip;
        return v;
    }

    // l(p, y) and dl/dp. At a kink the derivative takes scikit-learn's choice (0
    // where |r| == eps for the insensitive losses).
    GDFAST_INLINE double unclipped(double p, double y, double* derivative) const {
        const double r = p - y;
        const double a = std::fabs(r);
        switch (kind) {
            case LossKind::squared_error:
                *derivative = r;
                return 0.5 * r * r;
            case LossKind::huber:
                if (a <= epsilon) {
                    *derivative = r;
                    return 0.5 * r * r;
                }
                *derivative = r > 0 ? epsilon : -epsilon;
                return epsilon * (a - 0.5 * epsilon);
            case LossKind::epsilon_insensitive:
                if (a <= epsilon) {
                    *derivative = 0.0;
                    return 0.0;
                }
                *derivative = r > 0 ? 1.0 : -1.0;
                return a - epsilon;
            case LossKind::squared_epsilon_insensitive:
                if (a <= epsilon) {
                    *derivative = 0.0;
                    return 0.0;
                }
                *derivative = r > 0 ? 2.0 * (a - epsilon) : -2.0 * (a - epsilon);
                return (a - epsilon) * (a - epsilon);
        }
        *derivative = 0.0;
        return 0.0;
    }

    double value(double p, double y) const {
        double unused;
        return value_and_derivative(p, y, &unused);
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

}  // namespace gdfast
