// Compiled with -Wall -Wextra -Wpedantic -Werror (see CMakeLists.txt) and linked
// into nothing: it makes a warning in any kernel header fail the build. The
// binding's entry points (api.hpp) instantiate every kernel for both element
// types, dense and both CSR index types.
#include "gdfast/gdfast.hpp"
