#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer and run the kernel
# tests and the hostile-input tests under it. Any heap overflow, use-after-free or UB in the
# C++ kernels aborts the run with a report.
#
# Usage: tools/sanitize.sh [extra pytest args]      (PYTHON=... to pick the interpreter)
#   SANITIZE_TESTS="tests/kernels tests/hostile"    what to run (default shown)
#   SANITIZE_SKIP_BUILD=1                            reuse build/asan
#
# The instrumented module cannot replace the developer build in pyinfer/, so the Python
# sources and tests are copied into build/asan/tree and run from there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD=build/asan
TREE=$BUILD/tree
TESTS=${SANITIZE_TESTS:-tests/kernels tests/hostile}
start=$(date +%s)

if [[ -z "${SANITIZE_SKIP_BUILD:-}" ]]; then
  # RelWithDebInfo: -O2 keeps the run fast, -g gives file:line in reports.
  # -fno-sanitize-recover: UB aborts instead of printing and carrying on.
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPYINFER_SANITIZE=ON \
    -DCMAKE_CXX_FLAGS="-fno-sanitize-recover=undefined" \
    -DPython_EXECUTABLE="$(command -v "$PYTHON")" \
    -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" >/dev/null
  cmake --build "$BUILD"
fi
built=$(date +%s)

rm -rf "$TREE"
mkdir -p "$TREE"
cp -r pyinfer tests pyproject.toml "$TREE"/
rm -f "$TREE"/pyinfer/_kernels*.so
cp "$BUILD"/_kernels*.so "$TREE"/pyinfer/

# Python itself is not instrumented: the ASan runtime must be loaded first, and Python's
# own allocations "leak" at exit by design, so leak detection is off (tests/test_leaks.py
# checks growth instead).
CXX=${CXX:-c++}
ASAN_LIB=$("$CXX" -print-file-name=libasan.so)
export LD_PRELOAD="$ASAN_LIB"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The fuzz smoke test does not need its full budget here.
export PYINFER_FUZZ_SECONDS=${PYINFER_FUZZ_SECONDS:-20}
cd "$TREE"
# shellcheck disable=SC2086
status=0
"$PYTHON" -m pytest -q -p no:cacheprovider $TESTS "$@" || status=$?
end=$(date +%s)
echo "sanitize.sh: build $((built - start)) s, tests $((end - built)) s"
exit $status
