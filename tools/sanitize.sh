#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer and run the kernel
# tests and the hostile-input tests under it. Any heap overflow, use-after-free or UB in the
# C++ kernels aborts the run with a report.
#
# Usage: tools/sanitize.sh [extra pytest args]      (PYTHON=... to pick the interpreter)
#   SANITIZE_TESTS="tests/kernels tests/hostile"    what to run (default: those + concurrency, fork,
#                                                    the model file's background reads)
#   SANITIZE_SKIP_BUILD=1                            reuse build/asan
#
# The instrumented module cannot replace the developer build in pyinfer/, so the Python
# sources and tests are copied into build/asan/tree and run from there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD=build/asan
TREE=$BUILD/tree
# test_model_file: the C++ thread that reads a model's weights while the graph is checked.
TESTS=${SANITIZE_TESTS:-tests/kernels tests/hostile tests/test_concurrency.py tests/test_fork.py tests/runtime/test_model_file.py}
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
cp -r pyinfer tests pyproject.toml "$TREE"/  # the tests need nothing from tools/
rm -f "$TREE"/pyinfer/_kernels*.so "$TREE"/pyinfer/_runtime*.so "$TREE"/pyinfer/_dynamic*.so
cp "$BUILD"/_kernels*.so "$BUILD"/_runtime*.so "$BUILD"/_dynamic*.so "$TREE"/pyinfer/

# Python itself is not instrumented: the ASan runtime must be loaded first, and Python's
# own allocations "leak" at exit by design, so leak detection is off (tests/test_leaks.py
# checks growth instead).
CXX=${CXX:-c++}
ASAN_LIB=$("$CXX" -print-file-name=libasan.so)
# libstdc++ preloaded too: python does not link it, and ASan's __cxa_throw interceptor must find
# the real one when the first C++ exception (a KernelArgumentError) is thrown.
STDCXX_LIB=$("$CXX" -print-file-name=libstdc++.so)
export LD_PRELOAD="$ASAN_LIB $STDCXX_LIB"
# pytest captures fd 2, so reports go to files (printed below) as well as to stderr.
REPORTS="$PWD/$BUILD/reports"
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$REPORTS/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$REPORTS/ubsan
# The fuzz run does fewer cases: everything is several times slower under ASan.
export PYINFER_FUZZ_CASES=${PYINFER_FUZZ_CASES:-15000}
cd "$TREE"
# shellcheck disable=SC2086
status=0
"$PYTHON" -m pytest -q -p no:cacheprovider $TESTS "$@" || status=$?
end=$(date +%s)
for r in "$REPORTS"/*; do
  [[ -e "$r" ]] || continue
  echo "=== sanitizer report $r"; cat "$r"; status=1
done
echo "sanitize.sh: build $((built - start)) s, tests $((end - built)) s"
exit $status
