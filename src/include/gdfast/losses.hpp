// The losses of a prediction p for a target y: the regression losses of the
// residual r = p - y and the margin losses of z = p y (labels y = +1/-1), their
// derivative with respect to p, and their largest curvature (used to bound step
// sizes); and the multinomial log-loss of a row's k predictions for its class.
#pragma once

#include <cmath>
#include <type_traits>

#include "common.hpp"

namespace gdfast {

#define GDFAST_REGRESSION_LOSSES(X) \
    X(squared_error, 0) X(huber, 1) X(epsilon_insensitive, 2) X(squared_epsilon_insensitive, 3)
#define GDFAST_MARGIN_LOSSES(X) X(hinge, 4) X(log_loss, 5) X(modified_huber, 6) X(squared_hinge, 7) X(perceptron, 8)
// Losses of one prediction and one target (elementwise over several outputs).
#define GDFAST_LOSSES(X) GDFAST_REGRESSION_LOSSES(X) GDFAST_MARGIN_LOSSES(X)
// Losses of a whole row of k predictions and one class index.
#define GDFAST_ROW_LOSSES(X) X(multinomial_log_loss, 9)
#define GDFAST_ALL_LOSSES(X) GDFAST_LOSSES(X) GDFAST_ROW_LOSSES(X)

GDFAST_NAMED_ENUM(LossKind, loss_names, GDFAST_ALL_LOSSES)

// Each loss is written here once: l(p, y) and dl/dp (eps: the width of huber and
// the insensitive losses; at a kink the derivative takes scikit-learn's choice,
// 0 where |r| == eps), and the largest curvature sup d2l/dp2 (0 for a loss that
// is not smooth), which bounds stable step sizes. The margin losses are
// scikit-learn's SGDClassifier losses, written as its code evaluates them so
// that the iterates agree to the bit.
template <LossKind K>
struct LossRule;

// A regression loss: a function of the residual r = p - y alone.
template <class Rule>
struct ResidualLoss {
    static GDFAST_INLINE double eval(double p, double y, double eps, double* d) {
        return Rule::of_residual(p - y, eps, d);
    }
};

template <>
struct LossRule<LossKind::squared_error> : ResidualLoss<LossRule<LossKind::squared_error>> {  // r^2 / 2
    static constexpr double curvature = 1.0;
    static GDFAST_INLINE double of_residual(double r, double, double* d) {
        *d = r;
        return 0.5 * r * r;
    }
};

template <>
struct LossRule<LossKind::huber> : ResidualLoss<LossRule<LossKind::huber>> {  // r^2 / 2 if |r| <= eps, else eps |r| - eps^2 / 2
    static constexpr double curvature = 1.0;
    static GDFAST_INLINE double of_residual(double r, double eps, double* d) {
        const double a = std::fabs(r);
        const bool inside = a <= eps;
        *d = inside ? r : (r > 0 ? eps : -eps);
        return inside ? 0.5 * r * r : eps * (a - 0.5 * eps);
    }
};

template <>
struct LossRule<LossKind::epsilon_insensitive> : ResidualLoss<LossRule<LossKind::epsilon_insensitive>> {  // max(0, |r| - eps)
    static constexpr double curvature = 0.0;
    static GDFAST_INLINE double of_residual(double r, double eps, double* d) {
        const double a = std::fabs(r);
        const bool inside = a <= eps;
        *d = inside ? 0.0 : (r > 0 ? 1.0 : -1.0);
        return inside ? 0.0 : a - eps;
    }
};

template <>
struct LossRule<LossKind::squared_epsilon_insensitive> : ResidualLoss<LossRule<LossKind::squared_epsilon_insensitive>> {  // max(0, |r| - eps)^2
    static constexpr double curvature = 2.0;
    static GDFAST_INLINE double of_residual(double r, double eps, double* d) {
        const double a = std::fabs(r);
        const bool inside = a <= eps;
        *d = inside ? 0.0 : (r > 0 ? 2.0 * (a - eps) : -2.0 * (a - eps));
        return inside ? 0.0 : (a - eps) * (a - eps);
    }
};

// max(0, threshold - z): hinge at 1, the perceptron's criterion at 0.
template <int Threshold>
struct HingeLoss {
    static constexpr double curvature = 0.0;
    static GDFAST_INLINE double eval(double p, double y, double, double* d) {
        const double z = p * y;
        const bool active = z <= Threshold;
        *d = active ? -y : 0.0;
        return active ? Threshold - z : 0.0;
    }
};

template <>
struct LossRule<LossKind::hinge> : HingeLoss<1> {};

template <>
struct LossRule<LossKind::perceptron> : HingeLoss<0> {};

template <>
struct LossRule<LossKind::squared_hinge> {  // max(0, 1 - z)^2
    static constexpr double curvature = 2.0;
    static GDFAST_INLINE double eval(double p, double y, double, double* d) {
        const double z = 1.0 - p * y;
        const bool active = z > 0;
        *d = active ? -2.0 * y * z : 0.0;
        return active ? z * z : 0.0;
    }
};

template <>
struct LossRule<LossKind::modified_huber> {  // 0 (z >= 1), (1 - z)^2 (z >= -1), -4 z
    static constexpr double curvature = 2.0;
    static GDFAST_INLINE double eval(double p, double y, double, double* d) {
        const double z = p * y;
        if (z >= 1.0) {
            *d = 0.0;
            return 0.0;
        }
        if (z >= -1.0) {
            *d = 2.0 * (1.0 - z) * -y;
            return (1.0 - z) * (1.0 - z);
        }
        *d = -4.0 * y;
        return -4.0 * z;
    }
};

// log(1 + exp(p)) - t p with t = 1 for y > 0 and 0 otherwise: the logistic loss
// of the label y = +1/-1 (scikit-learn's half binomial loss of the 0/1 label),
// with its cut-offs, so that no exp overflows.
template <>
struct LossRule<LossKind::log_loss> {
    static constexpr double curvature = 0.25;
    static GDFAST_INLINE double log1pexp(double x) {
        if (x <= -37) return std::exp(x);
        if (x <= -2) return std::log1p(std::exp(x));
        if (x <= 18) return std::log(1. + std::exp(x));
        if (x <= 33.3) return x + std::exp(-x);
        return x;
    }
    static GDFAST_INLINE double eval(double p, double y, double, double* d) {
        const double t = y > 0.0 ? 1.0 : 0.0;
        if (p > -37) {
            const double e = std::exp(-p);
            *d = ((1 - t) - t * e) / (1 + e);
        } else {
            *d = std::exp(p) - t;
        }
        return log1pexp(p) - t * p;
    }
};

// The multinomial (softmax) log-loss of the k predictions p_0, p_stride, ...
// of a row whose class is c:
//   l = log sum_t exp(p_t) - p_c,   dl/dp_t = softmax(p)_t - [t == c]
// (d receives the derivatives, `stride` apart). The Hessian diag(s) - s s' of
// the softmax s is at most 1/2 (Boehning's bound), whatever k.
struct MultinomialLogLoss {
    static constexpr double curvature = 0.5;
    static GDFAST_INLINE double eval(const double* p, index_t stride, index_t k, index_t c, double* d) {
        double top = p[0];
        for (index_t t = 1; t < k; ++t) top = std::max(top, p[t * stride]);
        double sum = 0.0;
        for (index_t t = 0; t < k; ++t) {
            d[t * stride] = std::exp(p[t * stride] - top);
            sum += d[t * stride];
        }
        const double inv = 1.0 / sum;
        for (index_t t = 0; t < k; ++t) d[t * stride] *= inv;
        d[c * stride] -= 1.0;
        return std::log(sum) + (top - p[c * stride]);
    }
};

// Whether `kind` is a loss of a whole row (y holds one class index per row).
inline bool is_row_loss(LossKind kind) { return kind == LossKind::multinomial_log_loss; }

// The columns of y for k outputs: k, or 1 (the class index) for a row loss.
inline index_t target_columns(LossKind kind, index_t k) { return is_row_loss(kind) ? 1 : k; }

// Whether `kind` is a margin loss (labels +1/-1) rather than a regression loss.
inline bool is_margin_loss(LossKind kind) {
#define GDFAST_MARGIN_CASE(name, code) kind == LossKind::name ||
    return GDFAST_MARGIN_LOSSES(GDFAST_MARGIN_CASE) false;
#undef GDFAST_MARGIN_CASE
}

// The one dispatch from a run-time loss to compile-time code: f(K) with K an
// std::integral_constant<LossKind, ...>. Hot loops dispatch once per block.
template <class F>
GDFAST_INLINE decltype(auto) with_loss(LossKind kind, F&& f) {
#define GDFAST_LOSS_CASE(name, code) \
    case LossKind::name:             \
        return f(std::integral_constant<LossKind, LossKind::name>{});
    switch (kind) {
        GDFAST_LOSSES(GDFAST_LOSS_CASE)
        default:  // a row loss has no elementwise rule
            break;
    }
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
        const double v = LossRule<K>::eval(p, y, epsilon, &d);
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
        if (is_row_loss(kind)) return MultinomialLogLoss::curvature;
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
                part += LossRule<decltype(K)::value>::eval(c[t], y[i * k + t], loss.epsilon, &unused);
            }
            sum += part;
        }
        return sum;
    });
    return n * k > 0 ? total / static_cast<double>(n * k) : 0.0;
}

}  // namespace gdfast
