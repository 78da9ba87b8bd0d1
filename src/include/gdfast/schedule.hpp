// Learning-rate schedules: the step size of update t (1-based) in epoch e
// (0-based), from a base step (eta0, or the step 'auto' derived):
//   constant     base                      invscaling  base / t^power_t
//   optimal      1 / (alpha (t0 + t - 1))  step        base gamma^floor(e / step_size)
//   exponential  base gamma^e              cosine      base (1 + cos(pi min(e, T) / T)) / 2
//   adaptive     base, divided by 5 by the driver when progress stalls
//   pa1, pa2     passive-aggressive steps, computed per sample by the SGD driver
#pragma once

#include <algorithm>
#include <cmath>

#include "common.hpp"
#include "losses.hpp"

namespace gdfast {

#define GDFAST_SCHEDULES(X)                                                                       \
    X(constant, 1) X(optimal, 2) X(invscaling, 3) X(adaptive, 4) X(pa1, 5) X(pa2, 6) X(step, 7) \
        X(exponential, 8) X(cosine, 9)

GDFAST_NAMED_ENUM(ScheduleKind, schedule_names, GDFAST_SCHEDULES)

// t^power_t: pow() is a large share of a per-sample update, so the exponents in
// common use take exact shortcuts (sqrt is correctly rounded; sqrt(sqrt(t)) is
// within an ulp of pow(t, 0.25)).
GDFAST_INLINE double power_of_t(double t, double power_t) {
    if (power_t == 0.25) return std::sqrt(std::sqrt(t));
    if (power_t == 0.5) return std::sqrt(t);
    if (power_t == 1.0) return t;
    if (power_t == 0.0) return 1.0;
    return std::pow(t, power_t);
}

// scikit-learn's offset t0 of the 'optimal' schedule: its first step is
// sqrt(1 / sqrt(alpha)) / max(1, |l'(-typw, 1)|).
inline double optimal_offset(const Loss& loss, double alpha) {
    const double typw = std::sqrt(1.0 / std::sqrt(alpha));
    const double initial_eta0 = typw / std::max(1.0, loss.derivative(-typw, 1.0));
    return 1.0 / (initial_eta0 * alpha);
}

struct Schedule {
    ScheduleKind kind = ScheduleKind::constant;
    double eta0 = 0.01;
    double power_t = 0.25;
    double gamma = 0.9;
    int step_size = 10;
    int cosine_epochs = 100;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("schedule", s.kind), f("eta0", s.eta0), f("power_t", s.power_t), f("gamma", s.gamma);
        f("step_size", s.step_size), f("cosine_epochs", s.cosine_epochs);
    }

    bool passive_aggressive() const { return kind == ScheduleKind::pa1 || kind == ScheduleKind::pa2; }

    // The step of update t in epoch `epoch`; t0 is optimal_offset for 'optimal'.
    GDFAST_INLINE double at(double t, double epoch, double base, double alpha, double t0) const {
        switch (kind) {
            case ScheduleKind::optimal:
                return 1.0 / (alpha * (t0 + t - 1.0));
            case ScheduleKind::invscaling:
                return base / power_of_t(t, power_t);
            case ScheduleKind::step:
                return base * std::pow(gamma, std::floor(epoch / std::max(1, step_size)));
            case ScheduleKind::exponential:
                return base * std::pow(gamma, epoch);
            case ScheduleKind::cosine: {
                const double T = std::max(1, cosine_epochs);
                return base * 0.5 * (1.0 + std::cos(3.141592653589793 * std::min(epoch, T) / T));
            }
            default:
                return base;
        }
    }

    // The smallest step the schedule reaches up to update t_end in epoch
    // epoch_end: 0 when it may shrink without bound (adaptive, cosine) or is
    // self-normalizing (passive-aggressive).
    double smallest_until(double t_end, double epoch_end, double base, double alpha, double t0) const {
        if (kind == ScheduleKind::adaptive || kind == ScheduleKind::cosine || passive_aggressive()) return 0.0;
        return at(t_end, epoch_end, base, alpha, t0);
    }
};

}  // namespace gdfast
