#!/usr/bin/env bash
# Run the test suite against an AddressSanitizer + UndefinedBehaviorSanitizer
# build of the extension (GCC or Clang on Linux).
#
#   scripts/sanitize.sh                 # extra pytest arguments are passed on
#
# The extension is built with -DGDFAST_SANITIZE=ON (see CMakeLists.txt) into a
# throw-away virtual environment. CPython itself is not instrumented, so the ASan
# runtime is preloaded; leak detection is off because the interpreter
# deliberately leaks at exit; any ASan report or UB finding aborts the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
py="${PYTHON:-python3}"

"$py" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$root[test]" \
  -C cmake.define.GDFAST_SANITIZE=ON -C cmake.build-type=RelWithDebInfo

cxx="${CXX:-g++}"
asan="$("$cxx" -print-file-name=libasan.so)"
ubsan="$("$cxx" -print-file-name=libubsan.so)"
export LD_PRELOAD="$asan $ubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_init_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd "$work"
export PATH="$work/venv/bin:$PATH"
"$work/venv/bin/python" -c "import gdfast; gdfast.show_config()"
# Refuse to report a pass for an extension that is not instrumented.
ext="$("$work/venv/bin/python" -c "import gdfast._core as c; print(c.__file__)")"
nm -D "$ext" | grep -q "__asan_" || { echo "the extension is not built with ASan" >&2; exit 1; }
nm -D "$ext" | grep -q "__ubsan_" || { echo "the extension is not built with UBSan" >&2; exit 1; }
echo "instrumented: $(nm -D "$ext" | grep -c "__asan_\|__ubsan_") sanitizer symbols in $(basename "$ext")"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$root/tests" --rootdir "$root" "$@"
echo "== sanitizer run passed"
