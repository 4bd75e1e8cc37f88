// What this machine's caches and cores are, read at run time, and the cache budgets the kernels
// block for (docs/ARCHITECTURE.md, "Blocking from the caches").
//
// Sources, first that answers: Linux sysfs (/sys/devices/system/cpu/cpu0/cache/index*: level,
// type, size, shared_cpu_list), then cpuid (x86: leaf 4 on Intel, 0x8000001D on AMD, else
// 0x80000005/6), then defaults (32 KiB L1d, 1 MiB L2, 2 MiB of L3 per core): an aarch64 machine
// without sysfs cache files still builds and runs. PYINFER_CACHE_SIZES="l1d,l2,l3[,cores]"
// (bytes, K/M suffixes allowed; cores sharing the L3, default all) overrides the detection, to
// see the blocking another CPU would get on this one.
#pragma once
#include <cstdint>
#include <string>

namespace pyinfer {

struct CacheLevel {
  int64_t bytes = 0;    // size of one instance
  int shared_by = 0;    // logical CPUs sharing one instance (0: unknown)
};

struct CacheInfo {
  CacheLevel l1d, l2, l3;  // l3.bytes == 0: none
  std::string source;      // "sysfs", "cpuid", "default" or "env"
};

struct CpuInfo {
  int logical_cpus = 1;
  int physical_cores = 1;
  int threads_per_core = 1;  // SMT siblings per core
  CacheInfo cache;
};

// Detected once (thread-safe), then fixed for the process.
const CpuInfo& cpu_info();

// One source alone (for tests: sysfs and cpuid must agree where both answer); false if it gave
// nothing usable.
bool detect_caches_sysfs(CacheInfo& out);
bool detect_caches_cpuid(CacheInfo& out);

// What one thread (one per physical core: the default thread count) may plan to use of each
// level, in bytes: the L1d and L2 of its core, and its share of the L3 (L3 / the physical cores
// sharing it; 0 without an L3).
struct CacheBudget {
  int64_t l1d, l2, l3;
};
CacheBudget cache_budget();
// The same in floats (the unit the kernels' budgets are in); l3_floats falls back to the L2's
// when there is no L3.
int64_t l1d_floats();
int64_t l2_floats();
int64_t l3_floats();

// GEMM cache blocks (after BLIS: Low et al., "Analytical modeling is enough for high-performance
// BLIS", 2016) for an mr x nr micro-tile. kc: the mr x kc panel of packed A, which every
// micro-tile broadcasts from, within a quarter of the L1d, and 128..256 (our micro-tiles load
// 2-3 vectors of B per broadcast of A: B's kc x nr panel streams from L2 at no cost, so the
// BLIS rule "B's panel in L1" would only shrink kc; measured on Zen 4 with a 32 KiB L1d, kc 160
// (B's panel in L1) was 8-12% slower than 256 on 1024-wide products). mc: the packed mc x kc
// block of A takes about 3/16 of the L2. nc: the packed kc x nc block of B fits this core's
// share of the L3. On the Zen 5 the fixed blocks were measured on (48 KiB L1d, 1 MiB L2,
// 4 MiB of L3 per core) this gives them back: kc 256, mc 192, nc 4080 (AVX-512 8 x 48).
struct GemmBlocking {
  int64_t kc, mc, nc;
};
GemmBlocking gemm_blocking(int mr, int nr);
// Test hook: fixed blocks instead (kc <= 0: back to the derived ones).
void set_gemm_blocking_override(int64_t kc, int64_t mc, int64_t nc);

}  // namespace pyinfer
