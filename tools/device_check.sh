#!/usr/bin/env bash
# One device run (see docs/BENCHMARKS.md "thread scaling"): build, check, time. Writes to $OUT.
set -u
OUT=${OUT:-/tmp/device_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
start=$(date +%s)
$PY -m pip install --no-build-isolation --no-deps -q . > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
echo "build $(( $(date +%s) - start )) s"
(cd /tmp && $PY -c "import pyinfer; print(pyinfer.cpu_info())")
# correctness on this CPU (AVX-512 Xeon): the kernel tests of the conv, pool and norm families
$PY -c "import pytest" 2>/dev/null && $PY -m pytest -q -x -p no:cacheprovider tests/kernels/test_conv_direct.py tests/kernels/test_depthwise.py \
    tests/kernels/test_pool.py tests/kernels/test_norm.py 2>&1 | tail -2 || echo "no pytest here: tests skipped"
echo "tests done $(( $(date +%s) - start )) s"
$PY tools/bench.py resnet18 mobilenetv2 squeezenet11 light:resnet50 --threads ${THREADS:-1,2,4,8,16} --peers ort \
    --repeats 15 --time-budget 4 --json "$OUT/bench.json" > "$OUT/bench.txt" 2>"$OUT/bench.err"
tail -30 "$OUT/bench.txt"
echo "bench done $(( $(date +%s) - start )) s"
