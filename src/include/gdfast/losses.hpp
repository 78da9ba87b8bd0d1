// The losses of a prediction p for a target y: the regression losses of the
// residual r = p - y and the margin losses of z = p y (labels y = +1/-1), their
// derivative with respect to p, and their largest curvature (used to bound step
// sizes); and the multinomial log-loss of a row's k predictions for its class.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common.hpp"
#include "rowops.hpp"

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

// Branch-free exp and log1p for the log-loss of the fused pass, written once
// for a double or a GCC/Clang vector of doubles V (lane by lane; U: the
// matching unsigned 64-bit type): straight-line arithmetic that compiles to
// vector instructions, where libm's are scalar calls. Both are within a few
// ulp of the correctly rounded value.
template <class V>
struct lanes_of {
    using bits = std::uint64_t;
    static constexpr int width = 1;
    static GDFAST_INLINE V splat(double v) { return v; }
    static GDFAST_INLINE V load(const double* p) { return *p; }
    static GDFAST_INLINE void store(double* p, V v) { *p = v; }
};
template <>
struct lanes_of<vdouble4> {
    typedef std::uint64_t bits __attribute__((vector_size(32)));
    static constexpr int width = 4;
    static GDFAST_INLINE vdouble4 splat(double v) { return vdouble4{v, v, v, v}; }
    static GDFAST_INLINE vdouble4 load(const double* p) { return vload<vdouble4>(p); }
    static GDFAST_INLINE void store(double* p, vdouble4 v) { vstore(p, v); }
};

// e^x for x <= 0; x below -708 is taken as -708 (e^x < 3e-308 either way).
template <class V>
GDFAST_INLINE V exp_nonpositive(V x) {
    using L = lanes_of<V>;
    using U = typename L::bits;
    x = x < -708.0 ? L::splat(-708.0) : x;
    // k = round(x / ln 2) in the low mantissa bits of x / ln 2 + 1.5 * 2^52
    const double shifter = 0x1.8p52;
    V kd = x * 1.4426950408889634 + shifter;
    U bits;
    std::memcpy(&bits, &kd, sizeof bits);
    kd -= shifter;
    // r = x - k ln 2 in two parts (the high part times k is exact), |r| <= 0.35
    const V r = (x - kd * 6.93147180369123816490e-01) - kd * 1.90821492927058770002e-10;
    // The Taylor series to r^13 / 13!, by Estrin's scheme (short dependency
    // chains: the lanes' latency, not the adds, bounds this code).
    const V r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const V a0 = 1.0 + r, a1 = 0.5 + r * (1.0 / 6.0), a2 = 1.0 / 24.0 + r * (1.0 / 120.0);
    const V a3 = 1.0 / 720.0 + r * (1.0 / 5040.0), a4 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    const V a5 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0), a6 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    const V b0 = a0 + a1 * r2, b1 = a2 + a3 * r2, b2 = a4 + a5 * r2;
    const V e = (b0 + b1 * r4) + (b2 + a6 * r4) * r8;
    // 2^k: k + 1023 in the exponent field (k >= -1022: a normal number)
    const U scale_bits = (bits + static_cast<std::uint64_t>(1023 - 0x4338000000000000LL)) << 52;
    V scale;
    std::memcpy(&scale, &scale_bits, sizeof scale);
    return e * scale;
}

// log(1 + e) for 0 <= e <= 1, given inv_u = 1 / (1 + e): log(u) of u = 1 + e
// as j ln 2 + 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.172, plus the
// rounding error of 1 + e.
template <class V>
GDFAST_INLINE V log1p_unit(V e, V inv_u) {
    using L = lanes_of<V>;
    const V u = 1.0 + e;
    const V correction = (e - (u - 1.0)) * inv_u;
    const auto big = u > 1.4142135623730951;
    const V m = big ? 0.5 * u : u;
    const V s = (m - 1.0) / (m + 1.0);
    const V z = s * s, z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
    // atanh(s) / s = sum z^i / (2 i + 1) to z^10, by Estrin's scheme
    const V a0 = 1.0 + z * (1.0 / 3.0), a1 = 1.0 / 5.0 + z * (1.0 / 7.0), a2 = 1.0 / 9.0 + z * (1.0 / 11.0);
    const V a3 = 1.0 / 13.0 + z * (1.0 / 15.0), a4 = 1.0 / 17.0 + z * (1.0 / 19.0);
    const V a = (a0 + a1 * z2) + (a2 + a3 * z2) * z4 + (a4 + (1.0 / 21.0) * z2) * z8;
    return (big ? L::splat(0.6931471805599453) : L::splat(0.0)) + (2.0 * s * a + correction);
}

// log(x) for x >= 1 (finite): x = 2^j m with 1 <= m < 2, log(m) by log1p_unit.
template <class V>
GDFAST_INLINE V log_at_least_one(V x) {
    using U = typename lanes_of<V>::bits;
    U bits;
    std::memcpy(&bits, &x, sizeof bits);
    // j + 1023 as a double: 2^52 + (biased exponent), less 2^52
    const U j_bits = (bits >> 52) | 0x4330000000000000ULL;
    const U mantissa_bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
    V m, j;
    std::memcpy(&m, &mantissa_bits, sizeof m);
    std::memcpy(&j, &j_bits, sizeof j);
    j -= 0x1p52 + 1023.0;
    return log1p_unit<V>(m - 1.0, 1.0 / m) + j * 0.6931471805599453;
}

// log(1 + exp(p)) - t p with t = 1 for y > 0 and 0 otherwise: the logistic loss
// of the label y = +1/-1 (scikit-learn's half binomial loss of the 0/1 label),
// with its cut-offs, so that no exp overflows.
template <>
struct LossRule<LossKind::log_loss> {
    static constexpr double curvature = 0.25;
    // The loss and derivative with a branch-free exp and log1p, for the fused
    // pass (SGD's steps use eval's derivative: scikit-learn's, to the bit).
    // V: a double, or a vector of them (p, y lane by lane).
    template <class V>
    static GDFAST_INLINE V eval_pass(V p, V y, double, V* d) {
        using L = lanes_of<V>;
        // With q = p for t = 0 and -p for t = 1 the loss is log(1 + e^q) and its
        // derivative +-sigmoid(q): no cancellation however large |p| is.
        const auto positive = y > 0.0;
        const V q = positive ? -p : p;
        const V e = exp_nonpositive<V>(q < 0.0 ? q : -q);  // e^-|q|
        const V inv = 1.0 / (1.0 + e);
        const V sigmoid_q = q >= 0.0 ? inv : e * inv;
        *d = positive ? -sigmoid_q : sigmoid_q;
        return (q > 0.0 ? q : L::splat(0.0)) + log1p_unit<V>(e, inv);
    }
    // The derivative is scikit-learn's, to the bit (SGD's iterates follow it). The
    // value reuses its exp: max(q, 0) + log(1 + e^-|p|) as in eval_pass, within a
    // few ulps of scikit-learn's log1pexp(p) - t p (closer where that cancels),
    // without its second exp and its log.
    static GDFAST_INLINE double eval(double p, double y, double, double* d) {
        const double t = y > 0.0 ? 1.0 : 0.0;
        if (p > -37) {
            const double e = std::exp(-p);
            *d = ((1 - t) - t * e) / (1 + e);
            const double e_abs = p >= 0.0 ? e : 1.0 / e;  // e^-|p|
            const double q = t > 0.0 ? -p : p;
            return (q > 0.0 ? q : 0.0) + log1p_unit<double>(e_abs, 1.0 / (1.0 + e_abs));
        }
        const double e = std::exp(p);
        *d = e - t;
        return e - t * p;
    }
};

// The multinomial (softmax) log-loss of the k predictions of a row whose class
// is c:
//   l = log sum_t exp(p_t) - p_c,   dl/dp_t = softmax(p)_t - [t == c]
// The Hessian diag(s) - s s' of the softmax s is at most 1/2 (Boehning's
// bound), whatever k.
struct MultinomialLogLoss {
    static constexpr double curvature = 0.5;
    // The losses of the rows of V's lanes (one row for a double, four for a
    // vdouble4): prediction t of lane u at p[t * stride + u], class c[u]; d
    // (same layout) receives the derivatives.
    template <class V>
    static GDFAST_INLINE V eval(const double* p, index_t stride, index_t k, const index_t* c, double* d) {
        using L = lanes_of<V>;
        V top = L::load(p);
        for (index_t t = 1; t < k; ++t) {
            const V pt = L::load(p + t * stride);
            top = pt > top ? pt : top;
        }
        V sum = L::splat(0.0);
        for (index_t t = 0; t < k; ++t) {
            const V e = exp_nonpositive<V>(L::load(p + t * stride) - top);
            L::store(d + t * stride, e);
            sum += e;
        }
        const V inv = 1.0 / sum;
        for (index_t t = 0; t < k; ++t) L::store(d + t * stride, L::load(d + t * stride) * inv);
        double chosen[L::width];
        for (int u = 0; u < L::width; ++u) {
            chosen[u] = p[c[u] * stride + u];
            d[c[u] * stride + u] -= 1.0;
        }
        return log_at_least_one<V>(sum) + (top - L::load(chosen));
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

template <class Rule, class = void>
struct has_pass_rule : std::false_type {};
template <class Rule>
struct has_pass_rule<Rule, std::void_t<decltype(Rule::eval_pass(0.0, 0.0, 0.0, static_cast<double*>(nullptr)))>>
    : std::true_type {};

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

    // The same as the fused pass evaluates it: a rule's eval_pass where it has
    // one (the same function, arithmetic chosen for speed), else eval.
    template <LossKind K>
    GDFAST_INLINE double evaluate_pass(double p, double y, double* derivative) const {
        double d, v;
        if constexpr (has_pass_rule<LossRule<K>>::value)
            v = LossRule<K>::eval_pass(p, y, epsilon, &d);
        else
            v = LossRule<K>::eval(p, y, epsilon, &d);
        if (d > derivative_clip) d = derivative_clip;
        if (d < -derivative_clip) d = -derivative_clip;
        *derivative = d;
        return v;
    }

    // evaluate_pass for four predictions at once (vector lanes where the rule
    // has a branch-free eval_pass).
    template <LossKind K>
    GDFAST_INLINE void evaluate_pass4(const double* p, const double* y, double* value, double* derivative) const {
        if constexpr (has_pass_rule<LossRule<K>>::value) {
            vdouble4 d;
            vstore(value, LossRule<K>::eval_pass(vload<vdouble4>(p), vload<vdouble4>(y), epsilon, &d));
            vstore(derivative, d);
            for (int u = 0; u < 4; ++u)
                derivative[u] = std::min(derivative_clip, std::max(-derivative_clip, derivative[u]));
        } else {
            for (int u = 0; u < 4; ++u) value[u] = evaluate_pass<K>(p[u], y[u], derivative + u);
        }
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
