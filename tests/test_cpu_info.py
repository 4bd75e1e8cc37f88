"""pyinfer.cpu_info(): the caches and cores read at run time, and the blocking derived from them."""
import os
import platform
import subprocess
import sys

import pytest

import pyinfer

SYSFS = "/sys/devices/system/cpu/cpu0/cache"
ENV_SET = "PYINFER_CACHE_SIZES" in os.environ


def _sysfs_caches():
    """{level: bytes} of cpu0's data / unified caches as Linux reports them, or None."""
    if not os.path.isdir(SYSFS):
        return None
    out = {}
    for entry in sorted(os.listdir(SYSFS)):
        d = os.path.join(SYSFS, entry)
        try:
            level = int(open(os.path.join(d, "level")).read())
            kind = open(os.path.join(d, "type")).read().strip()
            size = open(os.path.join(d, "size")).read().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(size[-1:], 1)
        out[level] = int(size.rstrip("KMG")) * scale
    return out or None


def _run(code, **env):
    here = os.path.dirname(os.path.dirname(os.path.abspath(pyinfer.__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True, text=True,
                         cwd=here, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cache_sizes_are_plausible():
    info = pyinfer.cpu_info()
    c = info["cache"]
    assert c["source"] in ("sysfs", "cpuid", "default", "env")
    assert 4096 <= c["l1d_bytes"] <= 4 << 20
    assert c["l2_bytes"] >= c["l1d_bytes"]
    assert c["l3_bytes"] == 0 or c["l3_bytes"] >= c["l2_bytes"] // 8  # some CPUs have a larger L2 than L3/core
    assert 1 <= info["physical_cores"] <= info["logical_cpus"]
    assert info["threads_per_core"] >= 1
    assert c["l1d_per_core"] == c["l1d_bytes"] and c["l2_per_core"] == c["l2_bytes"]
    assert 0 <= c["l3_per_core"] <= c["l3_bytes"]


@pytest.mark.skipif(ENV_SET, reason="PYINFER_CACHE_SIZES overrides the detection")
@pytest.mark.skipif(_sysfs_caches() is None, reason="no sysfs cache files here")
def test_caches_match_sysfs():
    want = _sysfs_caches()
    c = pyinfer.cpu_info()["cache"]
    assert c["source"] == "sysfs"
    assert c["l1d_bytes"] == want[1]
    assert c["l2_bytes"] == want[2]
    assert c["l3_bytes"] == want.get(3, 0)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="cpuid is x86")
def test_cpuid_agrees_with_sysfs():
    cpuid = pyinfer._kernels._detect_caches("cpuid")
    assert cpuid is not None, "cpuid gave no cache sizes on an x86 CPU"
    sysfs = pyinfer._kernels._detect_caches("sysfs")
    if sysfs is None:
        pytest.skip("no sysfs cache files here")
    for level in ("l1d_bytes", "l2_bytes", "l3_bytes"):
        assert cpuid[level] == sysfs[level], (level, cpuid, sysfs)


@pytest.mark.skipif(ENV_SET, reason="PYINFER_CACHE_SIZES overrides the detection")
def test_gemm_blocking_is_whole_tiles_within_bounds():
    g = pyinfer.cpu_info()["cache"]["gemm_blocking"]
    assert 128 <= g["kc"] <= 256 and g["kc"] % 16 == 0
    assert g["mc"] >= g["mr"] and g["mc"] % g["mr"] == 0
    assert g["nc"] >= 16 * g["nr"] and g["nc"] % g["nr"] == 0


@pytest.mark.parametrize("sizes, isa, want", [
    # The Zen 5 the fixed blocks were measured on: the derivation gives them back.
    ("48K,1M,32M,8", "avx512", (256, 192, 4080)),
    ("48K,1M,32M,8", "avx2", (256, 192, 4096)),
    # Sapphire Rapids (2 MiB L2, 105 MiB L3 for 56 cores): A blocks twice as tall, B blocks narrower.
    ("48K,2M,105M,56", "avx512", (256, 384, 1920)),
    # A small L1d (16 KiB) halves kc; a small L2 (256 KiB) shortens mc.
    ("16K,512K,8M,4", "avx512", (128, 192, 4080)),
    ("32K,256K,8M,4", "avx2", (256, 48, 2048)),
])
def test_gemm_blocking_follows_the_caches(sizes, isa, want):
    if isa not in pyinfer.cpu_info()["supported_isas"]:
        pytest.skip(f"{isa} not supported here")
    code = "import pyinfer; g = pyinfer.cpu_info()['cache']['gemm_blocking']; print(g['kc'], g['mc'], g['nc'])"
    out = _run(code, PYINFER_CACHE_SIZES=sizes, PYINFER_ISA=isa)
    assert tuple(map(int, out.split())) == want


def test_bad_cache_override_falls_back_to_detection():
    code = "import pyinfer; print(pyinfer.cpu_info()['cache']['source'])"
    assert _run(code, PYINFER_CACHE_SIZES="lots").strip() in ("sysfs", "cpuid", "default")
