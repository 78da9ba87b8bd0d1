// A single read of every element of X (sum of all entries): the memory-bandwidth
// yardstick the benchmarks compare the loss_grad pass against.
#pragma once

#include "common.hpp"

namespace gdfast {

template <class T>
GDFAST_INLINE double block_sum_impl(const T* GDFAST_RESTRICT x, index_t n) {
    double s = 0.0;
    GDFAST_SIMD_REDUCTION(s)
    for (index_t i = 0; i < n; ++i) s += static_cast<double>(x[i]);
    return s;
}
GDFAST_MULTIVERSION(block_sum)

// sum of the n contiguous values at x, on n_threads threads.
template <class T>
double stream_sum(const T* x, index_t n, int n_threads) {
    const RowBlocks blocks = make_row_blocks(n, 1);
    std::vector<double> partial(static_cast<std::size_t>(blocks.n_blocks), 0.0);
    parallel_for(blocks.n_blocks, n_threads, [&](index_t b) {
        partial[static_cast<std::size_t>(b)] = block_sum(x + blocks.begin(b), blocks.end(b) - blocks.begin(b));
    });
    double s = 0.0;
    for (double v : partial) s += v;
    return s;
}

}  // namespace gdfast
