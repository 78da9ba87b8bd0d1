// What every driver is told: the loss, the penalty, the schedule, the stopping
// rule and the data handling, by field name for the binding.
#pragma once

#include <cstdint>

#include "losses.hpp"
#include "monitor.hpp"
#include "penalty.hpp"
#include "schedule.hpp"

namespace gdfast {

struct FitSettings {
    Loss loss;
    Penalty penalty;
    Schedule schedule;
    StopRule stop;
    bool fit_intercept = true;
    double intercept_decay = 1.0;  // scikit-learn damps sparse intercept updates (0.01)
    double average = 0.0;          // 0: off; else averaging starts at this update
    bool shuffle = true;
    std::uint32_t seed = 0;
    // Threads the fit may use (a mini-batch's pass; the shuffle of an epoch's order).
    int n_threads = 1;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        Loss::fields(s.loss, f), Penalty::fields(s.penalty, f), Schedule::fields(s.schedule, f);
        StopRule::fields(s.stop, f), f("fit_intercept", s.fit_intercept), f("intercept_decay", s.intercept_decay);
        f("average", s.average), f("shuffle", s.shuffle), f("seed", s.seed);
        f("n_threads", s.n_threads);
    }
};

}  // namespace gdfast
