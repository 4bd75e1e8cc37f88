#!/usr/bin/env bash
# Developer build: compile the extension with CMake into build/dev and copy it next to the
# Python sources, so `python -m pytest` works from the checkout without installing.
# Usage: tools/dev_build.sh [extra cmake args]   (PYTHON=... to pick the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD=${BUILD_DIR:-build/dev}
# ccache, when installed, shares compiled objects between checkouts (worktrees) of the project.
LAUNCHER=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(dirname "$PWD")}
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "${LAUNCHER[@]}" \
  -DPython_EXECUTABLE="$(command -v "$PYTHON")" \
  -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" "$@" >/dev/null
cmake --build "$BUILD"
cp "$BUILD"/_kernels*.so "$BUILD"/_runtime*.so "$BUILD"/_dynamic*.so pyinfer/
