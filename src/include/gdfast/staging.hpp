// Shuffled CSR mini-batches read their rows at random: on one core an epoch is
// bound by the misses that core keeps in flight (and the prefetches that keep
// them there compete with its arithmetic). With a core to spare, a stager
// thread copies each batch's rows, targets and weights into one of a few
// contiguous slots ahead of the epoch, which then reads them in order. Only
// copies: the epoch sees the same values in the same order, so the results do
// not depend on whether it staged.
#pragma once

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "common.hpp"
#include "rowops.hpp"

namespace gdfast {

// One batch's rows, contiguous: row r is values/idx [start[r], start[r + 1])
// (the vectors are longer: capacity kept between batches), its targets
// y[r * y_stride ...], its weight w[r] (w empty: unweighted).
template <class T, class I>
struct StagedBatch {
    std::vector<index_t> start{0};
    std::vector<T> values, y, w;
    std::vector<I> idx;
    index_t count = 0;

    GDFAST_INLINE SparseRow<T, I> row(index_t r) const {
        const index_t s = start[static_cast<std::size_t>(r)];
        return SparseRow<T, I>{values.data() + s, idx.data() + s, start[static_cast<std::size_t>(r) + 1] - s};
    }
};

// Index: the order's element type (the per-sample epoch's order is 32-bit
// when the rows allow).
template <class T, class I, class Index = index_t>
class BatchStager {
public:
    // The batches of B rows of order[0, n) (shuffled by `shuffle`, or final
    // when it is null), rows of X with y_stride targets each.
    BatchStager(const CsrMatrix<T, I>& X, const Index* order, index_t n, index_t B, const T* y, index_t y_stride,
                const T* sample_weight, const ShuffleAhead<Index>* shuffle)
        : X_(X), order_(order), n_(n), B_(B), y_(y), y_stride_(y_stride), w_(sample_weight), shuffle_(shuffle) {
        try {
            worker_ = std::thread([this] { run(); });
        } catch (...) {  // no thread to be had: the epoch reads X itself
            failed_.store(true, std::memory_order_relaxed);
        }
    }
    // Whether an epoch of n rows, with n_threads, stages batches of B rows:
    // it has a thread to spare (threaded_epoch), and a slot holds at most 4 MB
    // (on average), so that the slots stay a few MB; a batch that large takes
    // long enough for its own prefetches to keep the misses in flight.
    static bool worth_it(const CsrMatrix<T, I>& X, index_t B, int n_threads, index_t n) {
        if (!threaded_epoch(n_threads, n) || X.n_rows <= 0) return false;
        const double nnz_row = static_cast<double>(X.indptr[X.n_rows]) / static_cast<double>(X.n_rows);
        return nnz_row * static_cast<double>(B) * static_cast<double>(sizeof(T) + sizeof(I)) <= 4.0 * (1 << 20);
    }
    BatchStager(const BatchStager&) = delete;
    BatchStager& operator=(const BatchStager&) = delete;
    ~BatchStager() {
        stop_.store(true, std::memory_order_release);
        if (worker_.joinable()) worker_.join();
    }

    // Batch b (the one at order[b * B]), once staged; null if the stager
    // failed (out of memory), and the caller reads X itself from then on.
    const StagedBatch<T, I>* acquire(index_t b) {
        wait_until([&] { return staged_.load(std::memory_order_acquire) > b || failed_.load(std::memory_order_acquire); });
        if (staged_.load(std::memory_order_acquire) <= b) return nullptr;
        return &slots_[static_cast<std::size_t>(b % slots)];
    }
    // The caller is done with batch b: its slot may take another.
    void release(index_t b) { consumed_.store(b + 1, std::memory_order_release); }

private:
    // Slots in flight: a few batches ahead cover the latency of their rows,
    // and stay in cache between the stager's writes and the epoch's reads.
    static constexpr index_t slots = 4;
    // The stager prefetches rows this far ahead (and their extents twice as
    // far): 8 and 16 stage a 500,000-row epoch alike on Zen 4.
    static constexpr index_t ahead = 16;

    void run() {
        try {
            const index_t n_batches = (n_ + B_ - 1) / B_;
            index_t ready = shuffle_ ? 0 : n_;
            for (index_t b = 0; b < n_batches; ++b) {
                const index_t b0 = b * B_, count = std::min(B_, n_ - b0);
                if (ready < std::min(n_, b0 + count + 2 * ahead)) ready = shuffle_->wait_for(b0 + count + 2 * ahead);
                bool stopped = false;
                wait_until([&] {
                    stopped = stop_.load(std::memory_order_acquire);
                    return stopped || consumed_.load(std::memory_order_acquire) + slots > b;
                });
                if (stopped) return;
                fill(slots_[static_cast<std::size_t>(b % slots)], b0, count, ready);
                staged_.store(b + 1, std::memory_order_release);
            }
        } catch (...) {  // out of memory: the epoch goes on reading X
            failed_.store(true, std::memory_order_release);
        }
    }

    void fill(StagedBatch<T, I>& s, index_t b0, index_t count, index_t ready) {
        const Index* rows = order_ + b0;
        const index_t known = ready - b0;  // positions of rows final from b0 on
        s.count = count;
        s.start.resize(static_cast<std::size_t>(count) + 1);
        s.y.resize(static_cast<std::size_t>(count * y_stride_));
        s.w.resize(w_ ? static_cast<std::size_t>(count) : 0);
        index_t used = 0;
        for (index_t r = 0; r < count; ++r) {
            if (r + 2 * ahead < known) prefetch_row_extent(X_, static_cast<index_t>(rows[r + 2 * ahead]));
            if (r + ahead < known) {
                const index_t next = static_cast<index_t>(rows[r + ahead]);
                prefetch_row(X_, next);
                prefetch(y_ + next * y_stride_);
                if (w_) prefetch(w_ + next);
            }
            const index_t i = static_cast<index_t>(rows[r]);
            const SparseRow<T, I> x = row_of(X_, i);
            if (used + x.nnz > static_cast<index_t>(s.values.size())) {  // capacity kept from batch to batch
                const std::size_t grown = static_cast<std::size_t>(std::max(2 * (used + x.nnz), index_t{1024}));
                s.values.resize(grown);
                s.idx.resize(grown);
            }
            T* GDFAST_RESTRICT v = s.values.data() + used;
            I* GDFAST_RESTRICT c = s.idx.data() + used;
            for (index_t z = 0; z < x.nnz; ++z) v[z] = x.values[z];
            for (index_t z = 0; z < x.nnz; ++z) c[z] = x.idx[z];
            s.start[static_cast<std::size_t>(r)] = used;
            used += x.nnz;
            for (index_t t = 0; t < y_stride_; ++t) s.y[static_cast<std::size_t>(r * y_stride_ + t)] = y_[i * y_stride_ + t];
            if (w_) s.w[static_cast<std::size_t>(r)] = w_[i];
        }
        s.start[static_cast<std::size_t>(count)] = used;
    }

    const CsrMatrix<T, I>& X_;
    const Index* order_;
    index_t n_, B_;
    const T* y_;
    index_t y_stride_;
    const T* w_;
    const ShuffleAhead<Index>* shuffle_;
    StagedBatch<T, I> slots_[slots];
    std::atomic<index_t> staged_{0}, consumed_{0};
    std::atomic<bool> stop_{false}, failed_{false};
    std::thread worker_;
};

// The stager of a matrix type's epochs (an order of Index): none for dense
// matrices, whose rows are read in place.
template <class Matrix, class Index = index_t>
struct StagerFor {
    struct type {};
};
template <class T, class I, class Index>
struct StagerFor<CsrMatrix<T, I>, Index> {
    using type = BatchStager<T, I, Index>;
};

}  // namespace gdfast
