// Shared building blocks of the gdfast kernels: matrix views, status codes,
// the thread count and the fixed row partition that makes parallel sums
// independent of the number of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

// Hot loops are compiled three times from one always-inlined body: for the
// baseline ISA, for AVX2+FMA and for AVX-512, picked at run time (simd_level).
// Wheels thus run on any x86-64 and use the wider units where they exist.
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define GDFAST_X86_CLONES 1
#define GDFAST_AVX2 __attribute__((target("avx2,fma")))
#define GDFAST_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#else
#define GDFAST_X86_CLONES 0
#define GDFAST_AVX2
#define GDFAST_AVX512
#endif

#if defined(__GNUC__) || defined(__clang__)
#define GDFAST_INLINE inline __attribute__((always_inline))
#define GDFAST_INLINE_LAMBDA __attribute__((always_inline))  // after a lambda's parameters
#elif defined(_MSC_VER)
#define GDFAST_INLINE __forceinline
#define GDFAST_INLINE_LAMBDA
#else
#define GDFAST_INLINE inline
#define GDFAST_INLINE_LAMBDA
#endif

#if defined(_MSC_VER)
#define GDFAST_RESTRICT __restrict
#else
#define GDFAST_RESTRICT __restrict__
#endif

// Lets the compiler vectorize a sum (it may reorder it, the same way every run).
#if defined(_OPENMP) || defined(GDFAST_OPENMP_SIMD)
#define GDFAST_PRAGMA(x) _Pragma(#x)
#define GDFAST_SIMD_REDUCTION(...) GDFAST_PRAGMA(omp simd reduction(+ : __VA_ARGS__))
#else
#define GDFAST_SIMD_REDUCTION(...)
#endif

namespace gdfast {

using index_t = std::ptrdiff_t;

// The name -> code table of an enum, written next to the enum it names: the one
// place where a code gets its name. The binding exports every table to Python,
// which builds its parameter choices and messages from them.
struct NamedCode {
    const char* name;
    int code;
};

struct CodeTable {
    const NamedCode* items;
    int size;
};

template <std::size_t N>
constexpr CodeTable make_code_table(const NamedCode (&items)[N]) {
    return CodeTable{items, static_cast<int>(N)};
}

// An enum and its name table from one list of X(name, code) entries:
// GDFAST_NAMED_ENUM(Kind, kind_names, LIST) defines `enum class Kind` and
// `kind_names`, the table the binding exports.
#define GDFAST_ENUM_ENTRY(name, code) name = code,
#define GDFAST_NAME_ENTRY(name, code) NamedCode{#name, code},
#define GDFAST_NAMED_ENUM(Enum, table, LIST) \
    enum class Enum : int { LIST(GDFAST_ENUM_ENTRY) };  \
    inline constexpr NamedCode table[] = {LIST(GDFAST_NAME_ENTRY)};

// The instruction-set levels of the hot loops, lowest first. The binding
// exports the names (GDFAST_SIMD and show_config use them).
#define GDFAST_SIMD_LEVELS(X) X(baseline, 0) X(avx2, 1) X(avx512, 2)
GDFAST_NAMED_ENUM(SimdLevel, simd_level_names, GDFAST_SIMD_LEVELS)

// The best level this CPU (and its operating system) supports: AVX2 with FMA;
// AVX-512 F, VL, DQ and BW on top of that.
inline SimdLevel cpu_simd_level() {
#if GDFAST_X86_CLONES
    static const SimdLevel level = [] {
        if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return SimdLevel::baseline;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
            return SimdLevel::avx512;
        return SimdLevel::avx2;
    }();
    return level;
#else
    return SimdLevel::baseline;
#endif
}

// The highest level the kernels may use (GDFAST_SIMD, and the tests, lower it).
inline std::atomic<int>& simd_cap() {
    static std::atomic<int> cap{static_cast<int>(SimdLevel::avx512)};
    return cap;
}

inline void set_simd_cap(int level) { simd_cap().store(level, std::memory_order_relaxed); }

// The level the kernels run at: what the CPU supports, capped.
inline SimdLevel simd_level() {
    return static_cast<SimdLevel>(
        std::min(static_cast<int>(cpu_simd_level()), simd_cap().load(std::memory_order_relaxed)));
}

// a * b + c, fused (one rounding) in the AVX2+FMA build of a loop. Only where
// that build may round differently from the baseline: the loss/gradient pass.
template <bool Fma, class T>
GDFAST_INLINE T mul_add(T a, T b, T c) {
    static_assert(std::is_floating_point_v<T>, "mul_add takes float or double");
    if constexpr (Fma)
        return std::fma(a, b, c);
    else
        return a * b + c;
}

// From an always-inlined `name##_impl`, defines `name##_generic`, `name##_avx2`
// and `name##_avx512` (the same body compiled for each level) and `name`, which
// calls the one simd_level() names. The three argument lists, in parentheses,
// are the template arguments of name##_impl in each build: e.g. (<false>),
// (<true>) for whether to fuse multiply-adds (not in the baseline build); with
// _WIDE, that and the vector width in doubles (2, 4, 8).
#define GDFAST_CLONES_UP_TO_AVX2(name, generic_args, avx2_args)                        \
    template <class... Args>                                                            \
    auto name##_generic(Args&&... args) {                                               \
        return name##_impl GDFAST_STRIP generic_args(std::forward<Args>(args)...);      \
    }                                                                                   \
    template <class... Args>                                                            \
    GDFAST_AVX2 auto name##_avx2(Args&&... args) {                                      \
        return name##_impl GDFAST_STRIP avx2_args(std::forward<Args>(args)...);         \
    }
#define GDFAST_MULTIVERSION_AS(name, generic_args, avx2_args, avx512_args)            \
    GDFAST_CLONES_UP_TO_AVX2(name, generic_args, avx2_args)                             \
    template <class... Args>                                                            \
    GDFAST_AVX512 auto name##_avx512(Args&&... args) {                                  \
        return name##_impl GDFAST_STRIP avx512_args(std::forward<Args>(args)...);       \
    }                                                                                   \
    template <class... Args>                                                            \
    auto name(Args&&... args) {                                                         \
        switch (simd_level()) {                                                         \
            case SimdLevel::avx512:                                                     \
                return name##_avx512(std::forward<Args>(args)...);                      \
            case SimdLevel::avx2:                                                       \
                return name##_avx2(std::forward<Args>(args)...);                        \
            default:                                                                    \
                return name##_generic(std::forward<Args>(args)...);                     \
        }                                                                               \
    }
#define GDFAST_STRIP(...) __VA_ARGS__

// The same without an AVX-512 clone: the AVX2 build serves AVX-512 CPUs too,
// for loops whose AVX-512 build measured slower (the fused loss/gradient pass
// on an AMD Zen 5: float32 rows 7.5 against 5.5 ms per 1M x 32 on one core,
// float64 rows equal).
#define GDFAST_MULTIVERSION_AVX2_AS(name, generic_args, avx2_args)                      \
    GDFAST_CLONES_UP_TO_AVX2(name, generic_args, avx2_args)                             \
    template <class... Args>                                                            \
    auto name(Args&&... args) {                                                         \
        if (simd_level() == SimdLevel::baseline) return name##_generic(std::forward<Args>(args)...); \
        return name##_avx2(std::forward<Args>(args)...);                                \
    }
#define GDFAST_MULTIVERSION(name) GDFAST_MULTIVERSION_AS(name, (), (), ())
#define GDFAST_MULTIVERSION_WIDE(name) GDFAST_MULTIVERSION_AS(name, (<false, 2>), (<true, 4>), (<true, 8>))

// Outcome of a kernel call. Kernels never throw from inside a parallel region:
// they record one of these and the binding turns it into a Python exception.
enum Status : int {
    status_ok = 0,
    status_nonfinite = 1,    // a prediction, loss or parameter became NaN/inf
    status_interrupted = 2,  // the interrupt callback asked to stop (Ctrl-C)
    status_diverged = 3,     // the training objective blew up
    status_input_nonfinite = 4,  // the co-moments of the data are not finite (NaN/inf in X, or overflow)
};

// A dense matrix of T addressed with element strides, so that C-ordered,
// Fortran-ordered and sliced NumPy arrays are all read in place.
template <class T>
struct DenseMatrix {
    using value_type = T;
    const T* data;
    index_t n_rows;
    index_t n_cols;
    index_t row_stride;  // elements between X[i, j] and X[i + 1, j]
    index_t col_stride;  // elements between X[i, j] and X[i, j + 1]

    const T* row(index_t i) const { return data + i * row_stride; }
    const T* col(index_t j) const { return data + j * col_stride; }
    // Fortran order: kernels then sweep columns, which are contiguous.
    bool column_major() const { return row_stride == 1 && n_rows > 1 && (col_stride != 1 || n_cols == 1); }
};

// A CSR matrix (scipy.sparse layout); I is the index type of indices/indptr.
template <class T, class I>
struct CsrMatrix {
    using value_type = T;
    const T* data;
    const I* indices;
    const I* indptr;
    index_t n_rows;
    index_t n_cols;
};

template <class M>
struct is_csr : std::false_type {};
template <class T, class I>
struct is_csr<CsrMatrix<T, I>> : std::true_type {};

// Which rows a kernel reads: rows[0..count) when `rows` is set, else the
// range [0, count). Mini-batches pass the shuffled indices of the batch, and
// in `ahead` how many indices after it (the next batches' rows) can be read:
// a kernel prefetches through the end of the batch into them.
struct RowSet {
    const index_t* rows;
    index_t count;
    index_t ahead = 0;

    index_t operator[](index_t r) const { return rows ? rows[r] : r; }
};

// Whether OpenMP is compiled in; the threads n_jobs=None means (OpenMP's current
// limit, which follows OMP_NUM_THREADS and threadpoolctl); the processors OpenMP
// sees; the calling thread's number in a parallel region.
#ifdef _OPENMP
inline bool openmp_enabled() { return true; }
inline int default_threads() { return std::max(1, omp_get_max_threads()); }
inline int available_cores() { return std::max(1, omp_get_num_procs()); }
inline int current_thread() { return omp_get_thread_num(); }
#else
inline bool openmp_enabled() { return false; }
inline int default_threads() { return 1; }
inline int available_cores() { return 1; }
inline int current_thread() { return 0; }
#endif

// Ctrl-C inside one long parallel pass. Python delivers signals to its main
// thread, which is OpenMP's thread 0 of the region it starts, so only thread 0
// polls, and at most every 50 ms (polling takes the GIL); every thread sees the
// flag and leaves its rows early. Passes call stop(r) once per row.
class PassPoll {
   public:
    PassPoll() = default;
    PassPoll(int (*poll)(void*), void* context) : poll_(poll), context_(context) {}
    PassPoll(const PassPoll&) = delete;
    PassPoll& operator=(const PassPoll&) = delete;

    bool stop(index_t r) {
        if (stopped_.load(std::memory_order_relaxed)) return true;
        if (poll_ == nullptr || (r & 31) != 0 || current_thread() != 0) return false;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < std::chrono::milliseconds(50)) return false;
        last_ = now;
        if (poll_(context_) != 0) stopped_.store(true, std::memory_order_relaxed);
        return stopped();
    }
    bool stopped() const { return stopped_.load(std::memory_order_relaxed); }
    // Between passes, outside a parallel region: poll now.
    bool check() {
        if (!stopped() && poll_ != nullptr && poll_(context_) != 0) stopped_.store(true, std::memory_order_relaxed);
        return stopped();
    }

   private:
    int (*poll_)(void*) = nullptr;
    void* context_ = nullptr;
    std::atomic<bool> stopped_{false};
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// joblib's convention: 0 is invalid (checked in Python), -1 all cores,
// -2 all but one, and so on.
inline int resolve_threads(int n_jobs) {
    if (n_jobs > 0) return openmp_enabled() ? n_jobs : 1;
    if (n_jobs < 0) return std::max(1, available_cores() + 1 + n_jobs);
    return default_threads();
}

// Rows are split into blocks whose size depends only on the problem shape, never
// on the thread count; per-block partial sums are then added in block order.
// That is what makes every reduction bitwise identical for any n_jobs.
struct RowBlocks {
    index_t n_rows;
    index_t rows_per_block;
    index_t n_blocks;

    index_t begin(index_t b) const { return b * rows_per_block; }
    index_t end(index_t b) const { return std::min(n_rows, (b + 1) * rows_per_block); }
};

// `accumulator_width` is the number of doubles one block's partial sum holds;
// the block count is capped so that those partial sums stay under ~32 MiB.
inline RowBlocks make_row_blocks(index_t n_rows, index_t accumulator_width) {
    constexpr index_t min_rows = 1024;
    constexpr index_t max_blocks = 256;
    constexpr index_t budget_doubles = index_t(1) << 22;
    const index_t width = std::max<index_t>(1, accumulator_width);
    const index_t cap = std::max<index_t>(1, std::min(max_blocks, budget_doubles / width));
    index_t per_block = std::max(min_rows, (n_rows + cap - 1) / cap);
    if (n_rows == 0) return RowBlocks{0, per_block, 0};
    return RowBlocks{n_rows, per_block, (n_rows + per_block - 1) / per_block};
}

// Scratch doubles split into per-block (or per-thread) slots, each starting on
// its own 64-byte cache line: two threads writing neighbouring slots would
// otherwise share a line and bounce it between cores on every update.
class PaddedSlots {
   public:
    // n_slots slots of `width` doubles each, set to `value`.
    void assign(index_t n_slots, index_t width, double value) {
        stride_ = stride_for(width);
        buffer_.assign(static_cast<std::size_t>(n_slots * stride_ + 8), value);
        const auto address = reinterpret_cast<std::uintptr_t>(buffer_.data());
        offset_ = static_cast<index_t>(((64 - address % 64) % 64) / sizeof(double));
    }
    // As assign, the contents left as they are: for scratch written before it is
    // read (a loop calling a kernel once per mini-batch then fills nothing).
    void reserve(index_t n_slots, index_t width) {
        const index_t stride = stride_for(width);
        if (stride != stride_ || buffer_.size() < static_cast<std::size_t>(n_slots * stride + 8))
            assign(n_slots, width, 0.0);
    }
    double* slot(index_t i) { return buffer_.data() + offset_ + i * stride_; }
    const double* slot(index_t i) const { return buffer_.data() + offset_ + i * stride_; }

   private:
    // Slots start on cache lines: a whole number of 8 doubles.
    static index_t stride_for(index_t width) { return (std::max<index_t>(width, 1) + 7) / 8 * 8; }

    std::vector<double> buffer_;
    index_t stride_ = 8;
    index_t offset_ = 0;
};

// Threads worth starting for `work` multiply-adds: below ~64k the fork costs more
// than it saves. The result never changes a value, only the speed.
inline int threads_for_work(int n_threads, double work, index_t n_blocks) {
    if (work < 65536.0) return 1;
    return static_cast<int>(std::max<index_t>(1, std::min<index_t>(n_threads, n_blocks)));
}

// Runs body(i) for i in [0, n) on up to n_threads threads. Callers make the
// result independent of which thread ran which i (see RowBlocks).
template <class Body>
inline void parallel_for(index_t n, int n_threads, Body&& body) {
    if (n_threads <= 1 || n <= 1) {  // no OpenMP region: small mini-batches call this a lot
        for (index_t i = 0; i < n; ++i) body(i);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1)
#endif
    for (index_t i = 0; i < n; ++i) body(i);
}


// Random permutations: scikit-learn's 32-bit xorshift (Marsaglia) reduced to
// [0, 2^31), so that a seed gives the same sample order as scikit-learn.
inline std::uint32_t xorshift_next(std::uint32_t* state) {
    if (*state == 0) *state = 1;
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state % (static_cast<std::uint32_t>(0x7FFFFFFF) + 1u);
}

// Step i of the Fisher-Yates shuffle of idx[0..n) (i + 1 < n): swaps position i
// with one at or after it, so that position i is then final.
// scikit-learn's 32-bit arithmetic while n fits it (beyond, the same in 64 bits).
template <class Index>
GDFAST_INLINE void shuffle_step(Index* idx, index_t n, index_t i, std::uint32_t* state) {
    const std::uint32_t r = xorshift_next(state);
    const index_t j =
        n <= static_cast<index_t>(UINT32_MAX)
            ? static_cast<index_t>(static_cast<std::uint32_t>(i) +
                                   r % (static_cast<std::uint32_t>(n) - static_cast<std::uint32_t>(i)))
            : i + static_cast<index_t>(r % static_cast<std::uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
}

// Fisher-Yates shuffle of idx[0..n) driven by `seed` (passed by value: every
// epoch restarts the generator, the permutation carries over, as in scikit-learn).
template <class Index>
inline void shuffle_indices(Index* idx, index_t n, std::uint32_t seed) {
    for (index_t i = 0; i + 1 < n; ++i) shuffle_step(idx, n, i, &seed);
}

// Waits until ready() holds, spinning briefly, then yielding: with more threads
// than cores (one-vs-rest problems side by side) the thread it waits for needs
// the core.
template <class Ready>
inline void wait_until(Ready&& ready) {
    for (int spins = 0; !ready(); ++spins) {
        if (spins < 256) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        } else {
            std::this_thread::yield();
        }
    }
}

// Whether an epoch over n rows with n_threads gives a thread of its own to
// the shuffle (and the staging of CSR batches): below 65,536 rows they stay on
// the calling thread (starting a thread costs tens of microseconds).
inline bool threaded_epoch(int n_threads, index_t n) { return n_threads >= 2 && n >= 65536; }

// shuffle_indices, on a thread of its own when the fit may use n_threads > 1
// and the order is long enough to repay starting one: the epoch reading
// idx takes each position once it is final (ready()), while the rest is
// shuffled. The shuffle's 10 cycles a row of random swaps (2.8 ms of a
// 1,000,000-row epoch on Zen 4) then run on the other core; spread into the
// epoch's own loop they had competed with its row loads for the miss queues.
// The permutation is the same either way.
template <class Index>
class ShuffleAhead {
public:
    ShuffleAhead(Index* idx, index_t n, std::uint32_t seed, int n_threads) : n_(n) {
        if (!threaded_epoch(n_threads, n)) {
            shuffle_indices(idx, n, seed);
            ready_.store(n, std::memory_order_relaxed);
            return;
        }
        try {
            worker_ = std::thread([this, idx, n, seed] {
                std::uint32_t state = seed;
                for (index_t i = 0; i + 1 < n; ++i) {
                    shuffle_step(idx, n, i, &state);
                    if ((i & 1023) == 1023) ready_.store(i + 1, std::memory_order_release);
                }
                ready_.store(n, std::memory_order_release);
            });
        } catch (...) {  // no thread to be had (a process limit): shuffle here
            shuffle_indices(idx, n, seed);
            ready_.store(n, std::memory_order_relaxed);
        }
    }
    ShuffleAhead(const ShuffleAhead&) = delete;
    ShuffleAhead& operator=(const ShuffleAhead&) = delete;
    ~ShuffleAhead() { finish(); }

    // How many leading positions are final, at least min(end, n): waits for them.
    index_t wait_for(index_t end) const {
        end = std::min(end, n_);
        index_t r = ready_.load(std::memory_order_acquire);
        wait_until([&] { return r >= end || (r = ready_.load(std::memory_order_acquire)) >= end; });
        return r;
    }
    // Every position final.
    void finish() {
        if (worker_.joinable()) worker_.join();
    }

private:
    index_t n_;
    std::atomic<index_t> ready_{0};
    std::thread worker_;
};

// Where a prefetch puts a line. Rows read at random are prefetched twice: into
// L2 far ahead (the memory latency), then into L1 a few rows ahead (the L2
// latency). With the first stage alone each row's loads still missed L1 on the
// way to the dot product: a shuffled per-sample epoch on Zen 4 took twice as
// long as the same rows in L3 (56 against 27 ns a row); with both stages the
// same (27 ns), and a prefetch into L1 alone, from far ahead, was slower still.
enum class CacheLevel { l2, l1 };

// Always inlined: GCC's pure/const analysis would otherwise see a function
// without side effects and delete every call to it.
template <CacheLevel Level = CacheLevel::l2>
GDFAST_INLINE void prefetch(const void* address) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address, 0, Level == CacheLevel::l1 ? 3 : 1);
#else
    (void)address;
#endif
}

// Whether all n values are finite: a value is NaN or an infinity exactly when
// its exponent bits are all ones. Tested on the bits, branch-free over blocks
// (the compiler vectorizes the integer operations on any build), so that
// checking an array costs about as much as reading it.
template <class T>
inline bool all_finite(const T* v, index_t n) {
    static_assert(sizeof(T) == 8 || sizeof(T) == 4, "float or double");
    using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    constexpr Bits exponent = sizeof(T) == 8 ? Bits(0x7ff0000000000000ull) : Bits(0x7f800000u);
    constexpr int top = 8 * sizeof(T) - 1;
    constexpr index_t block = 512;
    for (index_t i0 = 0; i0 < n; i0 += block) {
        const index_t i1 = std::min(n, i0 + block);
        Bits bad = 0;
        for (index_t i = i0; i < i1; ++i) {
            Bits b;
            std::memcpy(&b, v + i, sizeof(T));
            // (b & exponent) ^ exponent is 0 only for all-ones exponents; 0 - 1
            // wraps to a set top bit, any other value (< 2^top) does not.
            bad |= (((b & exponent) ^ exponent) - 1) >> top;
        }
        if (bad) return false;
    }
    return true;
}

// Whether no value is below zero (NaN compares false, so it passes: test
// finiteness with all_finite).
template <class T>
inline bool none_negative(const T* v, index_t n) {
    bool negative = false;
    for (index_t i = 0; i < n; ++i) negative |= v[i] < T(0);
    return !negative;
}

}  // namespace gdfast
