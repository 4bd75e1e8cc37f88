#!/usr/bin/env python
"""GFLOP/s of pyinfer's sgemm against numpy.matmul (OpenBLAS) on the same shapes.

Columns: `pyinfer` = kernels.gemm(a, b) (B packed per call), `packed` = kernels.gemm(a, P)
with P = PackedMatrix(b) made once (how Gemm / MatMul ops with constant weights run).

Usage: python tools/bench_gemm.py [--threads 1 2] [--repeats 7] [--quick] [--isa avx2]

numpy's BLAS thread count is fixed when numpy is imported, so each thread count runs in a
fresh subprocess with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS set (or
threadpoolctl, when it is installed). Each shape: a warm-up, then `repeats` rounds that
alternate pyinfer and numpy (so frequency drift hits both alike); the median time counts.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SQUARES = [64, 128, 256, 384, 512, 768, 1024, 2048]
SKINNY_M = [1, 2, 4, 8, 16, 24, 32, 48, 64]  # batch-1..64 fully connected, N = K = 1024
# (label, M, N, K, trans_b): conv-as-GEMM (M = out channels, N = H*W, K = Cin*kh*kw),
# batch-1 / small-batch fully connected (weights stored (N, K): trans_b) and RNN steps.
SHAPES = [
    ("conv 3x3 64->64 @56x56", 64, 3136, 576, False),
    ("conv 1x1 256->64 @56x56", 64, 3136, 256, False),
    ("conv 3x3 128->128 @28x28", 128, 784, 1152, False),
    ("conv 3x3 512->512 @7x7", 512, 49, 4608, False),
    ("fc batch1 2048->1000 (B^T)", 1, 1000, 2048, True),
    ("fc batch8 4096->4096 (B^T)", 8, 4096, 4096, True),
    ("fc batch64 1024->1024 (B^T)", 64, 1024, 1024, True),
    ("rnn step b1 h512 x4 gates", 1, 2048, 512, False),
    ("rnn step b16 h256 x4 gates", 16, 1024, 256, False),
    ("matvec 2048x2048 @ v", 2048, 1, 2048, False),
]


def worker(threads: int, repeats: int, quick: bool, isa: str | None) -> list[dict]:
    import time

    import numpy as np

    from _checkout import use_checkout_if_built
    use_checkout_if_built()
    import pyinfer
    from pyinfer import kernels

    if isa:
        pyinfer._kernels.set_isa(isa)
    rng = np.random.default_rng(0)
    cases = [(f"square {n}", n, n, n, False) for n in SQUARES if not (quick and n > 1024)]
    cases += [(f"fc M={m} 1024->1024 (B^T)", m, 1024, 1024, True) for m in SKINNY_M]
    cases += SHAPES
    rows = []
    for label, m, n, k, tb in cases:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
        bt = b.T if tb else b  # numpy sees the same transposed view (no copy)
        flops = 2.0 * m * n * k
        inner = max(1, int(2e8 / flops))  # calls per timing: >= ~0.2 GFLOP per sample

        def run_ours():
            for _ in range(inner):
                kernels.gemm(a, b, trans_b=tb, num_threads=threads)

        packed = kernels.PackedMatrix(b, trans=tb)

        def run_packed():
            for _ in range(inner):
                kernels.gemm(a, packed, num_threads=threads)

        def run_numpy():
            for _ in range(inner):
                np.matmul(a, bt)

        ref = a.astype(np.float64) @ bt.astype(np.float64)
        err = 0.0
        for got in (kernels.gemm(a, b, trans_b=tb, num_threads=threads),
                    kernels.gemm(a, packed, num_threads=threads)):
            err = max(err, float(np.max(np.abs(got - ref)) / (np.max(np.abs(ref)) + 1e-30)))
        run_ours(), run_packed(), run_numpy()  # warm-up (page faults, pool start, buffers)
        t_ours, t_packed, t_np = [], [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run_ours()
            t_ours.append((time.perf_counter() - t0) / inner)
            t0 = time.perf_counter()
            run_packed()
            t_packed.append((time.perf_counter() - t0) / inner)
            t0 = time.perf_counter()
            run_numpy()
            t_np.append((time.perf_counter() - t0) / inner)
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        g_ours, g_np = flops / med(t_ours) / 1e9, flops / med(t_np) / 1e9
        g_packed = flops / med(t_packed) / 1e9
        # best-of ratio too: on a shared machine the median can be dominated by other load
        best_ratio = min(t_np) / min(t_ours)
        rows.append(dict(label=label, m=m, n=n, k=k, threads=threads, ours=g_ours, numpy=g_np,
                         ratio=g_ours / g_np, best_ratio=best_ratio, err=err, packed=g_packed,
                         packed_ratio=g_packed / g_np,
                         isa=pyinfer._kernels.active_isa()))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="skip the 2048 square")
    p.add_argument("--isa", default=None, help="force a SIMD tier (scalar, avx2, avx512)")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.repeats, args.quick, args.isa)))
        return
    all_rows = []
    for t in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--worker", str(t), "--repeats", str(args.repeats)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--isa", args.isa] if args.isa else []
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        all_rows += json.loads(out.strip().splitlines()[-1])
    print(f"isa: {all_rows[0]['isa']}   (GFLOP/s, median of {args.repeats}; ratio = pyinfer / numpy)")
    print(f"| {'shape':30} | {'M':>5} | {'N':>5} | {'K':>5} | thr | pyinfer | packed | numpy "
          f"| ratio | packed ratio | best ratio | rel.err |")
    print(f"|{'-' * 32}|{'-' * 7}|{'-' * 7}|{'-' * 7}|-----|---------|--------|-------|-------|"
          f"--------------|------------|---------|")
    for r in all_rows:
        print(f"| {r['label']:30} | {r['m']:5} | {r['n']:5} | {r['k']:5} | {r['threads']:3} | "
              f"{r['ours']:7.1f} | {r['packed']:6.1f} | {r['numpy']:5.1f} | {r['ratio']:5.2f} | "
              f"{r['packed_ratio']:12.2f} | {r['best_ratio']:10.2f} | {r['err']:.1e} |")


if __name__ == "__main__":
    main()
