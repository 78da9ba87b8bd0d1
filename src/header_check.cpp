// Compiled with -Wall -Wextra -Wpedantic -Werror (see CMakeLists.txt) and linked
// into nothing: it makes a warning in any kernel header fail the build. The
// explicit instantiations cover every entry point for both element types and
// both CSR index types.
#include <cstdint>

#include "gdfast/gdfast.hpp"

namespace gdfast {

#define GDFAST_INSTANTIATE(M, T)                                                                           \
    template Status loss_grad(const M&, const RowSet&, const T*, const T*, const double*, const double*,   \
                              index_t, const Loss&, int, LossGradWorkspace&, double*, double*, double*);   \
    template Status predict(const M&, const double*, const double*, index_t, int, T*);                     \
    template Status sgd_fit(const M&, const T*, const T*, const std::uint8_t*, const SgdParams&, SgdState&, \
                            const Callbacks&);                                                             \
    template Status gd_fit(const M&, const T*, index_t, const T*, const index_t*, index_t, const index_t*, \
                           index_t, const double*, const double*, const GdParams&, GdState&,               \
                           const Callbacks&);                                                              \
    template void column_stats(const M&, const RowSet&, const T*, int, double*, double*);                  \
    template double centered_comoments(const M&, const RowSet&, const T*, index_t, const T*, int, double*, \
                                       double*);

GDFAST_INSTANTIATE(DenseMatrix<float>, float)
GDFAST_INSTANTIATE(DenseMatrix<double>, double)
using CsrFloat32 = CsrMatrix<float, std::int32_t>;
using CsrDouble64 = CsrMatrix<double, std::int64_t>;
GDFAST_INSTANTIATE(CsrFloat32, float)
GDFAST_INSTANTIATE(CsrDouble64, double)

template bool checked_sgd(float*, const float*, index_t, double);
template bool checked_momentum(double*, const double*, double*, index_t, double, double, bool);
template bool checked_adagrad(float*, const float*, float*, index_t, double, double);
template bool checked_rmsprop(double*, const double*, double*, index_t, double, double, double);
template bool checked_adam(float*, const float*, float*, float*, index_t, double, double, double, double, double,
                           double);
template double stream_sum(const float*, index_t, int);
}  // namespace gdfast
