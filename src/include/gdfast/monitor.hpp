// The end of an epoch, for every driver: the objective is recorded, a
// non-finite or hopelessly blown-up model is declared failed, the validation
// score and the tol / n_iter_no_change rule decide whether to go on, the
// progress line is printed and Ctrl-C is polled. The drivers (sgd.hpp, gd.hpp)
// hold only their own step; their different stopping conventions are settings
// of StopRule.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "common.hpp"
#include "row_norms.hpp"

#include <algorithm>
#include <utility>

namespace gdfast {

// What a training loop reports at the end of each epoch (for `verbose`).
struct EpochInfo {
    int epoch = 0;                  // 1-based
    double objective = 0.0;         // training objective (mean loss + penalty)
    double mean_loss = 0.0;         // mean loss without the penalty
    double coef_norm = 0.0;         // L2 norm of the coefficients
    index_t coef_nonzeros = 0;
    double intercept = 0.0;
    double updates = 0.0;           // parameter updates so far
    double step_size = 0.0;         // learning rate at the end of the epoch
    bool has_validation = false;
    double validation_score = 0.0;  // R^2 on the held-out rows
};

// Hooks the binding provides to long loops, so that the C++ core needs no
// Python: `interrupted` takes the GIL briefly and polls for Ctrl-C; `epoch_end`
// (optional) prints progress.
struct Callbacks {
    void* context = nullptr;
    int (*interrupted)(void* context) = nullptr;
    void (*epoch_end)(void* context, const EpochInfo& info) = nullptr;
    // A pass over training rows held elsewhere (the distributed layer): the
    // loss sum and the sums G (k x p), gb (k) of its gradient at raw (W, b)
    // of k outputs, for the targets (0 with zero_targets; k may then be 1) and the fit's loss (squared error
    // with squared). 0 when it failed (non-finite, or an error kept for Python).
    int (*remote_pass)(void* context, const double* W, const double* b, index_t k, int zero_targets, int squared,
                       double* loss_sum, double* G, double* gb) = nullptr;
    // The validation R^2 of raw (W, b) on held-out rows held elsewhere (NaN
    // when it failed).
    double (*remote_score)(void* context, const double* W, const double* b) = nullptr;

    bool poll_interrupt() const { return interrupted != nullptr && interrupted(context) != 0; }
    void report(const EpochInfo& info) const {
        if (epoch_end != nullptr) epoch_end(context, info);
    }
};

// What a fit reports besides its parameters.
struct FitRecord {
    std::vector<double> objectives;         // training objective of each epoch
    std::vector<double> validation_scores;  // with early stopping
    int n_iter = 0;                         // epochs completed
    int failed_epoch = 0;                   // epoch of a non-finite or diverged model
    double failed_objective = 0.0;
    // Mean training loss of the final parameters, when the driver has it for
    // free (full-batch squared error on the co-moments); NaN otherwise.
    double final_loss = std::numeric_limits<double>::quiet_NaN();
    // max ||x_i||^2 and max |y_i| over every row of X, when the call's first
    // epoch read them all (no held-out rows) and they were finite; NaN
    // otherwise. They bound the final parameters' loss without a pass.
    double row_sq_norm_max = std::numeric_limits<double>::quiet_NaN();
    double target_abs_max = std::numeric_limits<double>::quiet_NaN();

    void set_extent(const RowExtent& e) {
        if (!e.finite) return;
        row_sq_norm_max = e.row_sq_norm_max;
        target_abs_max = e.target_abs_max;
    }
};

// When a fit stops, and when it has failed.
struct StopRule {
    int max_iter = 1000;
    // Progress is an objective below best - margin (a validation score above
    // best + margin), with margin = tol, or tol * |best| when `relative`.
    // -inf: no stopping rule.
    double tol = -std::numeric_limits<double>::infinity();
    bool relative = false;
    // scikit-learn's SGD: an objective of exactly best - tol still counts as progress.
    bool ties_progress = false;
    // Full-batch GDRegressor: the driver stops on the gradient norm; any decrease
    // of the objective is progress, and it takes 10 n_iter_no_change epochs
    // without one to stop.
    bool gradient_rule = false;
    int n_iter_no_change = 5;
    bool early_stopping = false;
    // The held-out score: accuracy of the sign on labels +1/-1 (a classifier's
    // binary problem) rather than R^2.
    bool score_accuracy = false;
    // An objective above the threshold marks a blow-up; it is fatal when even the
    // smallest step the schedule reaches within `divergence_horizon` epochs is
    // hopeless for the data (see hopeless_step). The final model is judged by the caller.
    double divergence_threshold = std::numeric_limits<double>::infinity();
    int divergence_horizon = 1000;
    // scikit-learn's rule, for the drop-in: only non-finite parameters fail
    // during the fit, a blown-up epoch counts toward n_iter_no_change like any
    // other, and the caller judges the model it returns.
    bool judge_at_end = false;
    bool verbose = false;

    template <class Self, class F>
    static void fields(Self& s, F&& f) {
        f("max_iter", s.max_iter), f("tol", s.tol), f("tol_relative", s.relative);
        f("ties_progress", s.ties_progress), f("gradient_rule", s.gradient_rule);
        f("n_iter_no_change", s.n_iter_no_change), f("early_stopping", s.early_stopping);
        f("score_accuracy", s.score_accuracy);
        f("divergence_threshold", s.divergence_threshold), f("divergence_horizon", s.divergence_horizon);
        f("judge_at_end", s.judge_at_end), f("verbose", s.verbose);
    }
};

// Descent has diverged for good when, with the objective blown up, even the
// smallest step still to come is ten times the stability limit 2 / L of the
// data (L: the curvature along the update).
inline bool hopeless_step(double smallest_future_step, double curvature) {
    return smallest_future_step * curvature > 20.0;
}

// The held-out rows of early stopping and their score: the weighted R^2
// averaged over targets (scikit-learn's r2_score(multioutput="uniform_average"),
// NaN for a single row),
// or with `accuracy` a classifier's weighted accuracy: of sign(p) on labels
// +1/-1 for one output (p > 0 predicts +1), else of the output with the largest
// p, the class being the column where y is largest (one-vs-rest labels) or,
// with `labels`, y itself (one class index per row).
template <class T>
class ValidationSet {
   public:
    ValidationSet(std::vector<index_t> rows, const T* y, index_t k, const T* sample_weight, bool accuracy,
                  bool labels = false)
        : rows_(std::move(rows)), y_(y), k_(k), sample_weight_(sample_weight), accuracy_(accuracy),
          labels_(labels), ss_total_(static_cast<std::size_t>(k), 0.0) {
        for (index_t i : rows_) weight_total_ += weight(i);
        if (accuracy_) return;
        for (index_t t = 0; t < k; ++t) {
            const double sw = weight_total_;
            double swy = 0.0;
            for (index_t i : rows_) swy += weight(i) * target(i, t);
            const double mean = sw > 0.0 ? swy / sw : 0.0;
            for (index_t i : rows_) {
                const double e = target(i, t) - mean;
                ss_total_[static_cast<std::size_t>(t)] += weight(i) * e * e;
            }
        }
    }

    bool empty() const { return rows_.empty(); }
    const std::vector<index_t>& rows() const { return rows_; }

    // The score of p = scale * (x . W_t) + b_t (scale: SGD's weight scale, else 1).
    template <class Matrix>
    double score(const Matrix& X, const double* W, double scale, const double* b) const {
        const index_t p = X.n_cols;
        if (accuracy_) {
            double right = 0.0;
            for (index_t i : rows_) {
                const auto x = row_of(X, i);
                if (k_ == 1 && !labels_) {
                    const bool positive = scale * x.dot(W) + b[0] > 0.0;
                    if (positive == (target(i, 0) > 0.0)) right += weight(i);
                    continue;
                }
                index_t best = 0, truth = labels_ ? static_cast<index_t>(y_[i]) : 0;
                double top = -HUGE_VAL;
                for (index_t t = 0; t < k_; ++t) {
                    const double v = scale * x.dot(W + t * p) + b[t];
                    if (v > top) top = v, best = t;
                    if (!labels_ && target(i, t) > target(i, truth)) truth = t;
                }
                if (best == truth) right += weight(i);
            }
            return weight_total_ > 0.0 ? right / weight_total_ : 0.0;
        }
        // R^2 of a single row is undefined: NaN, as scikit-learn's r2_score
        // (no epoch then counts as progress or as a stall).
        if (rows_.size() < 2) return std::numeric_limits<double>::quiet_NaN();
        double total = 0.0;
        for (index_t t = 0; t < k_; ++t) {
            double ss_res = 0.0;
            for (index_t i : rows_) {
                const double e = target(i, t) - (scale * row_of(X, i).dot(W + t * p) + b[t]);
                ss_res += weight(i) * e * e;
            }
            const double sst = ss_total_[static_cast<std::size_t>(t)];
            total += sst == 0.0 ? (ss_res == 0.0 ? 1.0 : 0.0) : 1.0 - ss_res / sst;
        }
        return total / static_cast<double>(k_);
    }

   private:
    double weight(index_t i) const { return sample_weight_ ? static_cast<double>(sample_weight_[i]) : 1.0; }
    double target(index_t i, index_t t) const { return static_cast<double>(y_[i * k_ + t]); }

    std::vector<index_t> rows_;
    const T* y_;
    index_t k_;
    const T* sample_weight_;
    bool accuracy_;
    bool labels_;
    double weight_total_ = 0.0;
    std::vector<double> ss_total_;
};

// What the driver does after an epoch.
enum class EpochAction : int {
    proceed = 0,
    shrink_step = 1,  // the adaptive schedule: divide the step by 5, go on
    stop = 2,         // converged or no progress: this epoch was the last
    nonfinite = 3,    // a parameter or the objective is NaN/inf
    diverged = 4,     // blown up beyond recovery
    interrupted = 5,  // Ctrl-C
};

// The fit ends after this epoch: it stopped (status_ok) or failed.
inline bool ends_fit(EpochAction a) { return a != EpochAction::proceed && a != EpochAction::shrink_step; }

inline Status status_of(EpochAction a) {
    switch (a) {
        case EpochAction::nonfinite:
            return status_nonfinite;
        case EpochAction::diverged:
            return status_diverged;
        case EpochAction::interrupted:
            return status_interrupted;
        default:
            return status_ok;
    }
}

class EpochMonitor {
   public:
    // `adaptive`: the driver can shrink its step instead of stopping.
    EpochMonitor(const StopRule& rule, const Callbacks& cb, FitRecord& record, bool has_validation, bool adaptive)
        : rule_(rule), cb_(cb), record_(record), has_validation_(has_validation), adaptive_(adaptive) {
        record_.objectives.clear();
        record_.validation_scores.clear();
        record_.n_iter = 0;
        record_.final_loss = std::numeric_limits<double>::quiet_NaN();
        record_.row_sq_norm_max = record_.target_abs_max = std::numeric_limits<double>::quiet_NaN();
    }

    // Records epoch `epoch` (0-based); flags a non-finite model, or a blown-up
    // one for which hopeless() (the driver's divergence test) says it cannot recover.
    template <class Hopeless>
    EpochAction check(int epoch, double objective, bool finite, Hopeless&& hopeless) {
        record_.objectives.push_back(objective);
        if (!finite || (!std::isfinite(objective) && !rule_.judge_at_end))
            return fail(epoch, objective, EpochAction::nonfinite);
        blown_up_ = objective > rule_.divergence_threshold;
        if (blown_up_ && hopeless()) return fail(epoch, objective, EpochAction::diverged);
        return EpochAction::proceed;
    }

    // A failure in the middle of epoch `epoch`.
    EpochAction fail_within(int epoch) {
        const double last = record_.objectives.empty() ? std::numeric_limits<double>::infinity()
                                                       : record_.objectives.back();
        return fail(epoch, last, EpochAction::nonfinite);
    }

    // After check(): the stopping rule on the objective (or on `score`, the
    // validation R^2 with early stopping), the progress report (describe fills
    // the driver's fields of EpochInfo), then Ctrl-C. `can_shrink`: the adaptive
    // step is still above its floor; `converged`: the driver's own test passed.
    template <class Describe>
    EpochAction progress(int epoch, double objective, double score, bool can_shrink, bool converged,
                         Describe&& describe) {
        // A blown-up run that may still recover is not stopped for lack of
        // progress (the adaptive schedule still shrinks its step), unless the
        // rule is scikit-learn's.
        const int stall = (!blown_up_ || adaptive_ || rule_.judge_at_end) ? 1 : 0;
        const double inf = std::numeric_limits<double>::infinity();
        bool stalled;
        if (rule_.early_stopping && has_validation_) {
            record_.validation_scores.push_back(score);
            stalled = rule_.tol > -inf && score < best_score_ + margin(best_score_);
            best_score_ = std::max(best_score_, score);
        } else if (rule_.gradient_rule) {
            stalled = !(objective < best_objective_);
            best_objective_ = std::min(best_objective_, objective);
        } else {
            const double bar = best_objective_ - margin(best_objective_);
            stalled = rule_.tol > -inf && (rule_.ties_progress ? objective > bar : !(objective < bar));
            best_objective_ = std::min(best_objective_, objective);
        }
        no_improvement_ = stalled ? no_improvement_ + stall : 0;
        record_.n_iter = epoch + 1;
        if (rule_.verbose) {
            EpochInfo info;
            info.epoch = epoch + 1;
            info.objective = objective;
            info.has_validation = rule_.early_stopping;
            info.validation_score = score;
            describe(info);
            cb_.report(info);
        }
        if (converged) return EpochAction::stop;
        const int patience = (rule_.gradient_rule && !rule_.early_stopping ? 10 : 1) * rule_.n_iter_no_change;
        if (no_improvement_ >= patience) {
            if (!(adaptive_ && can_shrink)) return EpochAction::stop;
            no_improvement_ = 0;
            return cb_.poll_interrupt() ? EpochAction::interrupted : EpochAction::shrink_step;
        }
        return cb_.poll_interrupt() ? EpochAction::interrupted : EpochAction::proceed;
    }

   private:
    double margin(double best) const {
        return rule_.relative ? rule_.tol * std::max(std::fabs(best), 1e-300) : rule_.tol;
    }

    EpochAction fail(int epoch, double objective, EpochAction action) {
        record_.failed_epoch = epoch + 1;
        record_.failed_objective = objective;
        return action;
    }

    const StopRule& rule_;
    const Callbacks& cb_;
    FitRecord& record_;
    bool has_validation_;
    bool adaptive_;
    bool blown_up_ = false;
    double best_objective_ = std::numeric_limits<double>::infinity();
    double best_score_ = -std::numeric_limits<double>::infinity();
    int no_improvement_ = 0;
};

}  // namespace gdfast
