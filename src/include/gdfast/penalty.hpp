// Penalties on the coefficients w (never on intercepts), with r the L1 share:
//   R(w) = alpha ((1 - r) / 2 ||w||_2^2 + r ||w||_1)
// r = 0 for l2, 1 for l1, l1_ratio for elasticnet. The L2 part is a gradient
// term (or a shrinkage), the L1 part a proximal step (soft-thresholding).
#pragma once

#include <cmath>

#include "common.hpp"

namespace gdfast {

#define GDFAST_PENALTIES(X) X(none, 0) X(l1, 1) X(l2, 2) X(elasticnet, 3)

GDFAST_NAMED_ENUM(PenaltyKind, penalty_names, GDFAST_PENALTIES)

struct Penalty {
    PenaltyKind kind = PenaltyKind::none;
    double alpha = 0.0;
    double l1_ratio = 0.15;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("penalty", s.kind), f("alpha", s.alpha), f("l1_ratio", s.l1_ratio);
    }

    bool active() const { return kind != PenaltyKind::none; }
    bool has_l1() const { return kind == PenaltyKind::l1 || kind == PenaltyKind::elasticnet; }
    bool has_l2() const { return kind == PenaltyKind::l2 || kind == PenaltyKind::elasticnet; }

    // r: the share of alpha on the L1 norm.
    double l1_share() const {
        if (kind == PenaltyKind::l1) return 1.0;
        if (kind == PenaltyKind::elasticnet) return l1_ratio;
        return 0.0;
    }
    double l1_strength() const { return active() ? alpha * l1_share() : 0.0; }
    double l2_strength() const { return active() ? alpha * (1.0 - l1_share()) : 0.0; }

    // R(w) from ||w||_2^2 and ||w||_1.
    double value(double sq_norm, double l1_norm) const {
        const double r = l1_share();
        return alpha * ((1.0 - r) * 0.5 * sq_norm + r * l1_norm);
    }

    // R(w) for the n coefficients at w.
    double value(const double* w, index_t n) const {
        if (!active() || alpha == 0.0) return 0.0;
        double sq = 0.0, l1 = 0.0;
        for (index_t j = 0; j < n; ++j) {
            sq += w[j] * w[j];
            l1 += std::fabs(w[j]);
        }
        return value(sq, l1);
    }
};

// The proximal step of threshold * |v|: sign(v) max(0, |v| - threshold).
GDFAST_INLINE double soft_threshold(double v, double threshold) {
    return v > threshold ? v - threshold : (v < -threshold ? v + threshold : 0.0);
}

}  // namespace gdfast
