// Compiled with -Wall -Wextra -Wpedantic -Werror (see CMakeLists.txt) and linked
// into nothing: it makes a warning in any kernel header fail the build. The
// explicit instantiations cover both element types and both index types.
#include "gdfast/gdfast.hpp"

namespace gdfast {
template Status loss_grad(const DenseMatrix<float>&, const RowSet&, const float*, const float*, const double*,
                          const double*, index_t, const Loss&, int, LossGradWorkspace&, double*, double*, double*);
template Status loss_grad(const DenseMatrix<double>&, const RowSet&, const double*, const double*, const double*,
                          const double*, index_t, const Loss&, int, LossGradWorkspace&, double*, double*, double*);
template Status loss_grad(const CsrMatrix<float, int>&, const RowSet&, const float*, const float*, const double*,
                          const double*, index_t, const Loss&, int, LossGradWorkspace&, double*, double*, double*);
template Status loss_grad(const CsrMatrix<double, long long>&, const RowSet&, const double*, const double*,
                          const double*, const double*, index_t, const Loss&, int, LossGradWorkspace&, double*,
                          double*, double*);
template Status predict(const DenseMatrix<float>&, const double*, const double*, index_t, int, float*);
template Status predict(const CsrMatrix<double, int>&, const double*, const double*, index_t, int, double*);
}  // namespace gdfast
